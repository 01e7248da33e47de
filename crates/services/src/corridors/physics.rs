//! The physics decoder (`GET /v1/corridors/{id}/physics`): why a corridor
//! has the BER, margin and pJ/bit it has, term by term, from what the twin
//! evaluated for each of its receiving lanes at its latest step
//! ([`corridor_hal::optical::LaneChain`]). Each term carries its basis and
//! the source the physics crate cites for its numbers (a paper, a standard,
//! a datasheet, or a stated assumption).

use corridor_hal::optical::LaneChain;
use corridor_model::corridor::{
    CorridorPhysics, CorridorTelemetrySource, LanePhysics, PhysicsTerm,
};
use corridor_physics::{Medium, Modulation};

use super::error::CorridorError;
use super::{CorridorService, lit_assignment, optics};
use crate::Caller;

/// Where the propagation loss per millimetre of `medium` comes from.
fn medium_source(medium: Medium) -> &'static str {
    match medium {
        Medium::SoiStrip => {
            "SOI strip 3 dB/cm, the middle of 2–4 dB/cm (reference/photonics.md §2; Sun et al., Nature 528:534, 2015, measured 4.3)"
        }
        Medium::SiliconNitride => {
            "SiN 0.1 dB/cm, within 0.05–0.2 dB/cm (reference/photonics.md §2)"
        }
        Medium::Fiber => "single-mode fibre 0.2 dB/km at 1550 nm (ITU-T G.652)",
        Medium::Custom { .. } => "the link's own loss per cm in the topology file",
    }
}

fn medium_name(medium: Medium) -> &'static str {
    match medium {
        Medium::SoiStrip => "SOI strip waveguide",
        Medium::SiliconNitride => "SiN waveguide",
        Medium::Fiber => "single-mode fibre",
        Medium::Custom { .. } => "the link's medium",
    }
}

/// What limits a lane, as the API names it: `unsupported_rate`,
/// `heater_range`, or `loss:` and the largest term's (snake_case) name.
pub(super) fn limiting_factor_name(factor: corridor_physics::LimitingFactor) -> String {
    match factor {
        corridor_physics::LimitingFactor::UnsupportedRate => "unsupported_rate".to_owned(),
        corridor_physics::LimitingFactor::HeaterRange => "heater_range".to_owned(),
        corridor_physics::LimitingFactor::Loss(item) => format!(
            "loss: {}",
            serde_json::to_value(item)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ),
    }
}

fn term(name: &str, value: f64, unit: &str, basis: String, source: &str) -> PhysicsTerm {
    PhysicsTerm {
        name: name.to_owned(),
        value,
        unit: unit.to_owned(),
        basis,
        source: source.to_owned(),
    }
}

/// The decoded chain of one receiving lane.
fn lane_physics(port: &str, lane: u32, module_lane: u8, chain: &LaneChain) -> LanePhysics {
    let p = &chain.params;
    let r = &chain.report;
    let l = &r.losses;
    let modulation = match p.modulation {
        Modulation::Nrz => "NRZ",
        Modulation::Pam4 => "PAM4",
    };
    let signal = format!(
        "{:.3} Gb/s {modulation} ({:.4} GBd), {} FEC, target post-FEC BER {:e}",
        p.rate.0,
        r.baud.0,
        format!("{:?}", p.fec).to_uppercase(),
        p.target_ber
    );
    let budget = vec![
        term(
            "launch",
            chain.launch_dbm,
            "dBm",
            "the far end's laser for this lane: the port's nominal launch power with its seeded unit spread and any injected ageing".into(),
            &format!(
                "topology (launch power per port); unit spread ±{} dB (assumption, hal LAUNCH_SPREAD_DB)",
                corridor_hal::optical::twin::LAUNCH_SPREAD_DB
            ),
        ),
        term(
            "propagation",
            -l.propagation.0,
            "dB",
            format!(
                "{:.1} mm of {} × {:.4} dB/mm",
                p.length.0,
                medium_name(p.medium),
                p.medium.loss_per_mm().0
            ),
            medium_source(p.medium),
        ),
        term(
            "couplers",
            -l.couplers.0,
            "dB",
            format!(
                "{} edge coupler(s) × {} dB + {} grating coupler(s) × {} dB",
                p.couplers.edge,
                corridor_physics::budget::EDGE_COUPLER_LOSS.0,
                p.couplers.grating,
                corridor_physics::budget::GRATING_COUPLER_LOSS.0
            ),
            "edge 1.5 dB (assumption inside ~1–2 dB) and grating 3 dB (assumption inside 1.5–5 dB), reference/photonics.md §2 Link budget",
        ),
        term(
            "modulator",
            -l.modulator.0,
            "dB",
            format!(
                "Tx ring modulator insertion loss, plus {:.2} dB of the topology's coupler losses beyond the two {} dB edge couplers",
                chain.coupler_excess_db,
                corridor_physics::budget::EDGE_COUPLER_LOSS.0
            ),
            "~1 dB through-port loss of a biased depletion ring modulator (assumption, SiCorridor); coupler losses from the topology",
        ),
        term(
            "rings_through",
            -l.rings_through.0,
            "dB",
            format!(
                "{} off-resonance rings on the bus × {} dB",
                p.rings_passed,
                corridor_physics::SiCorridor::DEFAULT.losses.ring_through.0
            ),
            "0.05 dB per off-resonance ring passed (assumption, SiCorridor)",
        ),
        term(
            "ring_drop",
            -l.ring_drop.0,
            "dB",
            "drop port of the Rx demultiplexing ring on resonance".into(),
            "~1 dB drop loss of a critically coupled Si demux ring (assumption, SiCorridor)",
        ),
        term(
            "detuning",
            -l.detuning.0,
            "dB",
            format!(
                "Lorentzian penalty 10·log10(1 + (2δ/FWHM)²) on the Tx and Rx rings, δ = {:.1} pm (residual after the heaters)",
                r.residual_detuning.0.abs() * 1e3
            ),
            "microring Lorentzian line shape, FWHM = λ/Q (reference/photonics.md §2 Microring)",
        ),
        term(
            "received",
            r.received_dbm.0,
            "dBm",
            "launch minus every loss above".into(),
            "the sum of the terms above",
        ),
        term(
            "required",
            r.required_dbm.0,
            "dBm",
            format!(
                "receiver sensitivity at {:.4} GBd for post-FEC BER {:e} with {modulation}",
                r.baud.0, p.target_ber
            ),
            "thermal-noise-limited receiver: Q ∝ received power, sensitivity worsening 5·log10(baud ratio) dB (corridor-physics ReceiverModel; reference/photonics.md §2)",
        ),
        term(
            "margin",
            r.margin_db.0,
            "dB",
            "received − required".into(),
            "the two terms above",
        ),
    ];
    let energy = vec![
        term(
            "tx",
            r.energy.tx.0,
            "pJ/b",
            "modulator driver and serializer".into(),
            "Sun et al., Nature 528:534 (2015): 0.02 pJ/b",
        ),
        term(
            "rx",
            r.energy.rx.0,
            "pJ/b",
            "photodetector, front end, deserializer".into(),
            "Sun et al. (2015): 0.50 pJ/b",
        ),
        term(
            "tuning",
            r.energy.tuning.0,
            "pJ/b",
            format!(
                "ring heaters {:.2} mW / {:.3} Gb/s",
                r.heater_power.0, p.rate.0
            ),
            "heater power of the lane's two rings over its bit rate (corridor-physics energy)",
        ),
        term(
            "laser",
            r.energy.laser.0,
            "pJ/b",
            "laser wall-plug power (I·V_f of the DFB drive) / bit rate".into(),
            "DFB diode model (corridor-physics ring::DFB_DIODE)",
        ),
    ];
    let (post_fec_ber, upper) = optics::reported_ber(r.post_fec_ber);
    let limiting_factor = limiting_factor_name(r.limiting_factor);
    LanePhysics {
        port: port.to_owned(),
        lane,
        module_lane,
        signal,
        budget,
        q: r.q,
        pre_fec_ber: r.pre_fec_ber,
        post_fec_ber,
        post_fec_ber_is_upper_bound: upper,
        required_margin_db: r.required_margin_db.0,
        limiting_factor,
        energy,
        latency_ns: r.latency_ns.0,
    }
}

impl CorridorService {
    /// The physics decoder of corridor `id` (see the module documentation):
    /// `NotLit` for a corridor whose lanes are dark (a dark lane has no
    /// BER to explain), `NotATwin` on real optics.
    pub async fn physics(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<CorridorPhysics, CorridorError> {
        let corridor = self.get(caller, id).await?;
        self.plant_here().await?;
        let a = lit_assignment(&corridor)?;
        if !self.optics.readings_are_modelled() {
            return Err(CorridorError::NotATwin {
                backend: self.optics.backend(),
                what: "real modules measure their light; there is no model to decode (see the telemetry)",
            });
        }
        self.advance().await?;
        let mut lanes = Vec::new();
        let mut dark = Vec::new();
        for port in &a.ports {
            for (k, &module_lane) in a.module_lanes.iter().enumerate() {
                let chain = self
                    .optics
                    .lane_model(port, module_lane)
                    .map_err(|source| CorridorError::Optical {
                        port: port.clone(),
                        source,
                    })?;
                match chain {
                    Some(chain) => lanes.push(lane_physics(port, k as u32, module_lane, &chain)),
                    None => dark.push(format!("{port} lane {module_lane} receives no light")),
                }
            }
        }
        if !dark.is_empty() {
            return Err(CorridorError::NotLit {
                id: corridor.id.clone(),
                why: dark.join("; "),
            });
        }
        Ok(CorridorPhysics {
            id: corridor.id,
            source: CorridorTelemetrySource::Model,
            lanes,
        })
    }
}
