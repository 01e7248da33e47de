//! The corridor's lanes on the optical ports: CMIS provisioning, re-lock,
//! release, and telemetry read back through the CMIS codec.
//!
//! Every number here comes from the ports' memory maps (on the twin, the
//! physics model behind them) or from the technology's energy model; the
//! service never makes one up.
//!
//! The plant is an [`OpticalPlant`]: the twin or real modules, never named
//! here. Real modules block the calling thread (status polls sleep between
//! reads), so every operation goes through [`on_plant`], which runs it on
//! tokio's blocking pool when the plant [blocks](OpticalPlant::blocks) and
//! inline when it does not (the twin: a hop to another thread would only
//! add latency to every grant).

use std::sync::Arc;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use corridor_hal::optical::{OpticalPlant, OpticalPort, PortIdentity, PortMonitors};
use corridor_model::corridor::{
    Corridor, CorridorAssignment, DriftLevel, EyeMargin, LaneTelemetry,
};
use corridor_model::units::{Celsius, Nanometers};
use corridor_physics::Fec;
use corridor_physics::fec::KP4_PRE_FEC_BER_THRESHOLD;
use corridor_protocols::cmis::f16::MIN_STEP as F16_MIN_STEP;
use corridor_protocols::cmis::{LaneCapability, LaneModulation, ProvisionRequest};

use super::error::CorridorError;

/// What a port's module can carry: its advertised CMIS Applications whose
/// media interface has a known lane signal (the others carry nothing corrd
/// can plan).
pub fn capabilities(identity: &PortIdentity) -> Vec<LaneCapability> {
    identity
        .applications
        .iter()
        .filter_map(|(ap, d)| LaneCapability::of(*ap, d))
        .collect()
}

/// Reads every port's advertised applications from the plant, by port id.
pub async fn read_capabilities(
    plant: &Arc<dyn OpticalPlant>,
) -> Result<HashMap<String, Vec<LaneCapability>>, CorridorError> {
    on_plant(plant, |plant| {
        plant
            .inventory()
            .into_iter()
            .map(|p| {
                let caps = capabilities(&port(plant, &p.id)?.identity().map_err(optical(&p.id))?);
                Ok((p.id, caps))
            })
            .collect()
    })
    .await
}

/// Whether application `cap` carries the assignment's lane signal.
fn carries(cap: &LaneCapability, a: &CorridorAssignment) -> bool {
    let modulation = match cap.media.modulation {
        LaneModulation::Nrz => "nrz",
        LaneModulation::Pam4 => "pam4",
    };
    (cap.media.lane_gbps - a.lane_rate_gbps).abs() < 1e-9 && a.modulation == modulation
}

/// The CMIS provisioning requests that light the assignment's module lanes
/// on a port advertising `caps`: one data path of an application whose
/// media lanes are exactly the corridor's lanes (a whole bank's run, where
/// the application may start), else one single-lane data path per lane;
/// always an application carrying the granted lane signal.
pub fn select_applications(
    port: &str,
    caps: &[LaneCapability],
    a: &CorridorAssignment,
) -> Result<Vec<ProvisionRequest>, CorridorError> {
    let lanes = &a.module_lanes;
    let refuse = || CorridorError::PortApplication {
        port: port.to_owned(),
        wanted: format!(
            "{} × {} Gb/s {}",
            lanes.len(),
            a.lane_rate_gbps,
            a.modulation.to_uppercase()
        ),
        applications: describe(caps),
    };
    let first = *lanes.first().ok_or_else(refuse)?;
    let bank = (first - 1) / 8;
    let in_bank = (first - 1) % 8 + 1;
    let consecutive = lanes.windows(2).all(|w| w[1] == w[0] + 1);
    let same_bank = lanes.iter().all(|&l| (l - 1) / 8 == bank);
    if consecutive
        && same_bank
        && let Some(cap) = caps.iter().find(|c| {
            carries(c, a) && usize::from(c.media_lanes) == lanes.len() && c.may_start_at(in_bank)
        })
    {
        let count = u8::try_from(lanes.len()).map_err(|_| refuse())?;
        return Ok(vec![ProvisionRequest::new(
            cap.ap_sel, bank, in_bank, count,
        )]);
    }
    lanes
        .iter()
        .map(|&lane| {
            let (bank, first) = ((lane - 1) / 8, (lane - 1) % 8 + 1);
            caps.iter()
                .find(|c| carries(c, a) && c.media_lanes == 1 && c.may_start_at(first))
                .map(|c| ProvisionRequest::new(c.ap_sel, bank, first, 1))
                .ok_or_else(refuse)
        })
        .collect()
}

/// The applications as messages name them.
pub fn describe(caps: &[LaneCapability]) -> String {
    if caps.is_empty() {
        return "none with a known lane signal".into();
    }
    caps.iter()
        .map(LaneCapability::describe)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A BER as corrd reports it: below the measurement floor (the smallest
/// step of CMIS F16, the format modules report BER in) it is the floor,
/// flagged as an upper bound — never 0, never a model's 1e-300.
pub fn reported_ber(ber: f64) -> (f64, bool) {
    if ber.is_nan() || ber < F16_MIN_STEP {
        (F16_MIN_STEP, true)
    } else {
        (ber, false)
    }
}

/// The FEC an assignment names (`kp4`, `kr4`, `none`).
pub fn fec_of(a: &CorridorAssignment) -> Fec {
    match a.fec.as_str() {
        "none" => Fec::None,
        "kr4" => Fec::Kr4,
        _ => Fec::Kp4,
    }
}

/// Speed of light, m/s (exact, SI).
const C_M_PER_S: f64 = 299_792_458.0;

fn optical(port: &str) -> impl FnOnce(corridor_hal::OpticalError) -> CorridorError + '_ {
    move |source| CorridorError::Optical {
        port: port.to_owned(),
        source,
    }
}

fn port<'a>(plant: &'a dyn OpticalPlant, id: &str) -> Result<&'a dyn OpticalPort, CorridorError> {
    plant.port(id).ok_or_else(|| {
        CorridorError::Topology(format!(
            "no optical port {id} in the {} plant",
            plant.backend()
        ))
    })
}

/// Runs `job` against the plant: on tokio's blocking pool when the plant's
/// operations block on device I/O, inline otherwise.
pub async fn on_plant<T, F>(plant: &Arc<dyn OpticalPlant>, job: F) -> Result<T, CorridorError>
where
    T: Send + 'static,
    F: FnOnce(&dyn OpticalPlant) -> Result<T, CorridorError> + Send + 'static,
{
    if !plant.blocks() {
        return job(plant.as_ref());
    }
    let plant = Arc::clone(plant);
    // The plant's device I/O belongs to the caller's span (a request's or a
    // reconcile pass's).
    let span = tracing::Span::current();
    match tokio::task::spawn_blocking(move || span.in_scope(|| job(plant.as_ref()))).await {
        Ok(outcome) => outcome,
        // A panic in the job is a bug: let it surface as it would inline.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(CorridorError::PlantJobCancelled),
    }
}

/// Runs the CMIS provisioning sequence (leave low power, deinit, ApSel,
/// ApplyDPInit, poll until DPActivated) for the corridor's module lanes on
/// both ends, then tunes each lane's laser to its grid channel.
pub async fn provision(
    plant: &Arc<dyn OpticalPlant>,
    a: &CorridorAssignment,
) -> Result<(), CorridorError> {
    let a = a.clone();
    on_plant(plant, move |plant| provision_now(plant, &a)).await
}

fn provision_now(plant: &dyn OpticalPlant, a: &CorridorAssignment) -> Result<(), CorridorError> {
    for id in &a.ports {
        let p = port(plant, id)?;
        // The module's own advertisements say which ApSel carries the
        // granted lane signal.
        let caps = capabilities(&p.identity().map_err(optical(id))?);
        for request in select_applications(id, &caps, a)? {
            p.provision(&request).map_err(optical(id))?;
        }
        tune(p, a, id)?;
    }
    Ok(())
}

/// Brings both ends' receivers up to date after provisioning: the first
/// port was provisioned before the far end lit its lasers, so it computes
/// the corridor's lanes' receivers again (one port and its lanes only, not
/// the whole plant).
pub async fn settle(
    plant: &Arc<dyn OpticalPlant>,
    a: &CorridorAssignment,
    now: DateTime<Utc>,
) -> Result<(), CorridorError> {
    let first = a.ports[..1].to_vec();
    let lanes = a.module_lanes.clone();
    on_plant(plant, move |plant| {
        plant
            .settle(&first, &lanes, now)
            .map_err(optical(&first[0]))
    })
    .await
}

/// Brings every port up to `now` (the twin's physics; nothing on real
/// modules).
pub async fn advance(
    plant: &Arc<dyn OpticalPlant>,
    now: DateTime<Utc>,
) -> Result<(), CorridorError> {
    on_plant(plant, move |plant| plant.advance(now).map_err(optical("*"))).await
}

/// Re-centres every laser on its channel (a CMIS tune, which re-locks the
/// laser at the current case temperature).
fn tune(p: &dyn OpticalPort, a: &CorridorAssignment, id: &str) -> Result<(), CorridorError> {
    for (&lane, &n) in a.module_lanes.iter().zip(&a.grid_channels) {
        let channel = i16::try_from(n)
            .map_err(|_| CorridorError::Topology(format!("grid channel {n} does not fit CMIS")))?;
        p.tune(lane, channel).map_err(optical(id))?;
    }
    Ok(())
}

/// A re-lock: cycle the data path (DPDeinit, ApplyDPInit re-centres the
/// rings at the current temperature) and re-tune the lasers.
pub async fn relock(
    plant: &Arc<dyn OpticalPlant>,
    a: &CorridorAssignment,
) -> Result<(), CorridorError> {
    let a = a.clone();
    on_plant(plant, move |plant| {
        release_now(plant, &a)?;
        provision_now(plant, &a)
    })
    .await
}

/// Re-tunes the lasers only (the cheapest repair).
pub async fn retune(
    plant: &Arc<dyn OpticalPlant>,
    a: &CorridorAssignment,
) -> Result<(), CorridorError> {
    let a = a.clone();
    on_plant(plant, move |plant| {
        for id in &a.ports {
            tune(port(plant, id)?, &a, id)?;
        }
        Ok(())
    })
    .await
}

/// Takes the lanes down (Tx disable, DPDeinit) on both ends.
pub async fn release(
    plant: &Arc<dyn OpticalPlant>,
    a: &CorridorAssignment,
) -> Result<(), CorridorError> {
    let a = a.clone();
    on_plant(plant, move |plant| release_now(plant, &a)).await
}

fn release_now(plant: &dyn OpticalPlant, a: &CorridorAssignment) -> Result<(), CorridorError> {
    for id in &a.ports {
        port(plant, id)?
            .deprovision(&a.module_lanes)
            .map_err(optical(id))?;
    }
    Ok(())
}

/// What the two ends' memory maps say about the corridor's lanes.
#[derive(Debug, Clone)]
pub struct Readback {
    pub lanes: Vec<LaneTelemetry>,
    /// Worst lane, pre-FEC, worse end.
    pub worst_ber: f64,
    /// Worst lane, post-FEC (the assignment's FEC), as reported: at least
    /// the measurement floor.
    pub worst_post_fec_ber: f64,
    /// Whether `worst_post_fec_ber` is the floor, i.e. an upper bound.
    pub post_fec_is_upper_bound: bool,
    /// Hotter module case, °C.
    pub temp_c: f64,
    /// Largest laser frequency error as a share of the channel spacing.
    pub worst_drift_share: f64,
    /// Drive current of every lit laser (both ends), mA: the energy model
    /// turns it into electrical power.
    pub laser_bias_ma: Vec<f64>,
    /// Every lane DPActivated and receiving light at both ends.
    pub all_up: bool,
    /// Each lane end that is not lit, and why ("lane 2 at sled1-p0: data
    /// path Deactivated"); empty when every lane is lit at both ends.
    pub dark: Vec<String>,
}

/// Reads the corridor's lanes back from both ends' memory maps.
pub async fn read(
    plant: &Arc<dyn OpticalPlant>,
    _corridor: &Corridor,
    a: &CorridorAssignment,
) -> Result<Readback, CorridorError> {
    let a = a.clone();
    on_plant(plant, move |plant| read_now(plant, &a)).await
}

fn read_now(plant: &dyn OpticalPlant, a: &CorridorAssignment) -> Result<Readback, CorridorError> {
    let monitors: Vec<(String, PortMonitors)> = a
        .ports
        .iter()
        .map(|id| {
            port(plant, id)?
                .read_lane_monitors(&a.module_lanes)
                .map(|m| (id.clone(), m))
                .map_err(optical(id))
        })
        .collect::<Result<_, _>>()?;
    let spacing_mhz = a.grid_spacing_ghz * 1000.0;
    let mut lanes = Vec::with_capacity(a.module_lanes.len());
    let (mut worst_ber, mut worst_drift) = (0.0f64, 0.0f64);
    let mut laser_bias_ma = Vec::new();
    let mut dark = Vec::new();
    let fec = fec_of(a);
    let temp_c = monitors
        .iter()
        .map(|(_, m)| m.temperature_c)
        .fold(f64::NEG_INFINITY, f64::max);
    for (i, &lane) in a.module_lanes.iter().enumerate() {
        let mut ber = 0.0f64;
        let mut freq_error = 0.0f64;
        let mut laser_t = f64::NEG_INFINITY;
        for (port, m) in &monitors {
            let Some(l) = m.lane(lane) else {
                dark.push(format!("lane {i} at {port}: module lane {lane} absent"));
                continue;
            };
            // No light or no data path: the receiver sees a coin toss.
            let lane_ber = l.pre_fec_ber.unwrap_or(0.5);
            match l.data_path {
                Some(corridor_protocols::cmis::DataPathState::Activated) => {}
                Some(state) => dark.push(format!("lane {i} at {port}: data path {state:?}")),
                None => dark.push(format!("lane {i} at {port}: data path state unknown")),
            }
            if l.rx_power_uw <= 0.0 {
                dark.push(format!("lane {i} at {port}: no light received"));
            }
            ber = ber.max(lane_ber);
            if let Some(e) = l.laser_freq_error_mhz
                && e.abs() > freq_error.abs()
            {
                freq_error = e;
            }
            laser_t = laser_t.max(l.laser_temperature_c.unwrap_or(m.temperature_c));
            if l.bias_ma > 0.0 {
                laser_bias_ma.push(l.bias_ma);
            }
        }
        worst_ber = worst_ber.max(ber);
        worst_drift = worst_drift.max(freq_error.abs() / spacing_mhz);
        let f_hz = (193_100.0 + f64::from(a.grid_channels[i]) * a.grid_spacing_ghz) * 1e9;
        // Δλ = −Δf·λ²/c, in picometres.
        let lambda_m = C_M_PER_S / f_hz;
        let drift_pm = -(freq_error * 1e6) * lambda_m * lambda_m / C_M_PER_S * 1e12;
        let (pre_fec_ber, _) = reported_ber(ber);
        let (post_fec_ber, ber_is_upper_bound) = reported_ber(fec.post_fec_ber(ber));
        lanes.push(LaneTelemetry {
            lane: i as u32,
            lambda_nm: Nanometers(lambda_m * 1e9),
            ber: post_fec_ber,
            pre_fec_ber,
            ber_is_upper_bound,
            temp_c: Celsius(laser_t),
            drift_pm,
            heater_mw: None,
            bias_v: None,
        });
    }
    let (worst_post_fec_ber, post_fec_is_upper_bound) = reported_ber(fec.post_fec_ber(worst_ber));
    Ok(Readback {
        lanes,
        worst_ber,
        worst_post_fec_ber,
        post_fec_is_upper_bound,
        temp_c,
        worst_drift_share: worst_drift,
        laser_bias_ma,
        all_up: dark.is_empty(),
        dark,
    })
}

/// Eye quality from the pre-FEC BER against the KP4 correction limit: a
/// decade of headroom is `ok`, under the limit `marginal`, above it `fail`.
pub fn eye_margin(pre_fec_ber: f64, all_up: bool) -> EyeMargin {
    if !all_up || pre_fec_ber > KP4_PRE_FEC_BER_THRESHOLD {
        EyeMargin::Fail
    } else if pre_fec_ber > KP4_PRE_FEC_BER_THRESHOLD / 10.0 {
        EyeMargin::Marginal
    } else {
        EyeMargin::Ok
    }
}

/// Drift from the laser frequency error: under 10 % of the channel spacing
/// is `low`, under 25 % `medium` (the ring filter starts cutting into the
/// signal), else `high`.
pub fn drift_level(share: f64) -> DriftLevel {
    if share < 0.10 {
        DriftLevel::Low
    } else if share < 0.25 {
        DriftLevel::Medium
    } else {
        DriftLevel::High
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corridor_hal::optical::PlantPort;

    /// A plant with no ports that says whether it blocks.
    #[derive(Debug)]
    struct Plant(bool);

    impl OpticalPlant for Plant {
        fn backend(&self) -> &'static str {
            "test"
        }
        fn readings_are_modelled(&self) -> bool {
            true
        }
        fn port(&self, _id: &str) -> Option<&dyn OpticalPort> {
            None
        }
        fn inventory(&self) -> Vec<PlantPort> {
            Vec::new()
        }
        fn advance(&self, _now: DateTime<Utc>) -> corridor_hal::optical::Result<()> {
            Ok(())
        }
        fn settle(
            &self,
            _: &[String],
            _: &[u8],
            _: DateTime<Utc>,
        ) -> corridor_hal::optical::Result<()> {
            Ok(())
        }
        fn blocks(&self) -> bool {
            self.0
        }
    }

    #[tokio::test]
    async fn a_blocking_plant_runs_off_the_runtime_thread_and_the_twin_inline() {
        // A current-thread runtime: its only worker is this test's thread.
        let here = std::thread::current().id();
        let blocking: Arc<dyn OpticalPlant> = Arc::new(Plant(true));
        let inline: Arc<dyn OpticalPlant> = Arc::new(Plant(false));
        let ran_on = |plant| on_plant(plant, |_| Ok(std::thread::current().id()));
        assert_ne!(ran_on(&blocking).await.unwrap(), here);
        assert_eq!(ran_on(&inline).await.unwrap(), here);
        // An operation on a port the plant lacks names the port and the backend.
        assert!(matches!(
            provision(&blocking, &assignment()).await,
            Err(CorridorError::Topology(m)) if m.contains("port a") && m.contains("test plant")
        ));
    }

    fn caps(lane_gbps: f64, modulation: LaneModulation) -> Vec<LaneCapability> {
        let [bank, single] =
            corridor_protocols::cmis::application::advertisements(lane_gbps, modulation, 8)
                .unwrap();
        // Advertised single lane first: the ApSel is read, not assumed.
        vec![
            LaneCapability::of(1, &single).unwrap(),
            LaneCapability::of(2, &bank).unwrap(),
        ]
    }

    fn rfc_assignment(module_lanes: Vec<u8>) -> CorridorAssignment {
        let mut a = assignment();
        a.lane_rate_gbps = 53.125;
        a.modulation = "pam4".into();
        a.grid_channels = vec![0; module_lanes.len()];
        a.module_lanes = module_lanes;
        a
    }

    #[test]
    fn provisioning_selects_the_application_carrying_the_granted_lane() {
        let pam4 = caps(53.125, LaneModulation::Pam4);
        // A whole bank: the 8-lane application, wherever it is advertised.
        let all = select_applications("p", &pam4, &rfc_assignment((1..=8).collect())).unwrap();
        assert_eq!(all, vec![ProvisionRequest::new(2, 0, 1, 8)]);
        // Lanes the bank application cannot start at: one single-lane path each.
        let some = select_applications("p", &pam4, &rfc_assignment(vec![10, 11])).unwrap();
        assert_eq!(
            some,
            vec![
                ProvisionRequest::new(1, 1, 2, 1),
                ProvisionRequest::new(1, 1, 3, 1)
            ]
        );
        // A module whose applications carry another lane signal is refused,
        // naming the port and what it advertises.
        let nrz = caps(32.0, LaneModulation::Nrz);
        match select_applications("op-x", &nrz, &rfc_assignment((1..=8).collect())) {
            Err(e @ CorridorError::PortApplication { .. }) => {
                let m = e.to_string();
                assert!(m.contains("op-x") && m.contains("32 Gb/s NRZ"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_ber_below_the_f16_floor_is_the_floor_as_an_upper_bound() {
        assert_eq!(reported_ber(0.0), (1e-24, true));
        assert_eq!(reported_ber(f64::MIN_POSITIVE), (1e-24, true));
        assert_eq!(reported_ber(f64::NAN), (1e-24, true));
        assert_eq!(reported_ber(3e-13), (3e-13, false));
        assert_eq!(reported_ber(1e-24), (1e-24, false));
    }

    fn assignment() -> CorridorAssignment {
        serde_json::from_value(serde_json::json!({
            "ports": ["a", "b"], "module_lanes": [1], "grid_channels": [3],
            "grid_spacing_ghz": 100.0, "lane_rate_gbps": 25.0, "modulation": "NRZ",
            "fec": "KP4", "latency_ns": 1.0, "margin_db": 3.0, "energy_pj_per_bit": 1.0
        }))
        .unwrap()
    }
}
