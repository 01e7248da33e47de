//! Lane evaluation: ties the models together into one pure, deterministic function.

use serde::{Deserialize, Serialize};

use crate::ber::Modulation;
use crate::budget::{Couplers, LossBreakdown, LossItem, Medium, received_power};
use crate::energy::EnergySplit;
use crate::error::{PhysicsError, Result, check_range};
use crate::fec::Fec;
use crate::latency::hop_latency;
use crate::ring::LockState;
use crate::technology::CorridorTechnology;
use crate::units::{
    Dbm, Decibels, Gbaud, Gbps, Kelvin, Millimeters, Milliwatts, Nanometers, Nanoseconds,
};

/// The RFC's BER target (`ber: 1.0e-12`), read as post-FEC (reference/photonics.md §2 BER).
pub const DEFAULT_TARGET_BER: f64 = 1e-12;

/// Wavelength at which ring line shapes are evaluated: mid C band. Assumption: the few-nm
/// spread of a corridor's lanes changes linewidths by < 0.5 %.
pub const REFERENCE_WAVELENGTH: Nanometers = Nanometers(1550.0);

/// How the lane's ring heaters are driven.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum HeaterState {
    /// Closed loop: the heater follows the drift from `bias` (its power at the lock point),
    /// within `[0, heater_max]`.
    Locked {
        /// Heater power per ring at the lock point.
        bias: Milliwatts,
    },
    /// Open loop: the heater stays at `bias`, drift is not corrected.
    Open {
        /// Heater power per ring.
        bias: Milliwatts,
    },
}

/// Everything that determines one lane's performance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LaneParams {
    /// Propagation medium.
    pub medium: Medium,
    /// Corridor length.
    pub length: Millimeters,
    /// Couplers on the path.
    pub couplers: Couplers,
    /// Off-resonance rings (other lanes' modulators and filters) passed on the way.
    pub rings_passed: u32,
    /// Line rate.
    pub rate: Gbps,
    /// Modulation.
    pub modulation: Modulation,
    /// FEC.
    pub fec: Fec,
    /// Ring temperature minus its lock-point temperature (both the Tx and the Rx ring).
    pub ring_delta_t: Kelvin,
    /// Laser temperature change since lock (0 with a TEC-stabilised laser).
    pub laser_delta_t: Kelvin,
    /// Heater drive.
    pub heater: HeaterState,
    /// Post-FEC BER the lane must reach.
    pub target_ber: f64,
}

impl LaneParams {
    /// A locked lane at its lock point, with the technology's default heater bias, KP4 FEC and
    /// the RFC's 1e-12 target; the remaining fields are the caller's.
    #[must_use]
    pub fn new(
        tech: &dyn CorridorTechnology,
        medium: Medium,
        length: Millimeters,
        couplers: Couplers,
        rings_passed: u32,
        rate: Gbps,
        modulation: Modulation,
    ) -> Self {
        Self {
            medium,
            length,
            couplers,
            rings_passed,
            rate,
            modulation,
            fec: Fec::Kp4,
            ring_delta_t: Kelvin(0.0),
            laser_delta_t: Kelvin(0.0),
            heater: HeaterState::Locked {
                bias: tech.microring().default_bias,
            },
            target_ber: DEFAULT_TARGET_BER,
        }
    }
}

/// The receiver-side requirement for a (modulation, FEC, target BER): the largest pre-FEC BER
/// the FEC can bring to the target and the per-eye Q that gives it. Computing it takes two
/// bisections (~tens of µs); callers evaluating many lanes with the same combination build it
/// once and use [`evaluate_lane_with`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LaneRequirement {
    /// Modulation.
    pub modulation: Modulation,
    /// FEC.
    pub fec: Fec,
    /// Post-FEC BER target.
    pub target_ber: f64,
    /// Largest pre-FEC BER meeting the target.
    pub max_pre_fec_ber: f64,
    /// Per-eye Q giving `max_pre_fec_ber`.
    pub q_eye: f64,
}

impl LaneRequirement {
    /// Computes the requirement.
    ///
    /// # Errors
    /// `InvalidParameter` unless 0 < `target_ber` < 0.375.
    pub fn new(modulation: Modulation, fec: Fec, target_ber: f64) -> Result<Self> {
        check_range(
            "target BER",
            target_ber,
            f64::MIN_POSITIVE,
            0.374,
            "0 < BER < 0.375",
        )?;
        let max_pre_fec_ber = fec
            .max_pre_fec_ber(target_ber)?
            .min(modulation.ber_from_q(0.0));
        let q_eye = modulation.q_for_ber(max_pre_fec_ber)?;
        Ok(Self {
            modulation,
            fec,
            target_ber,
            max_pre_fec_ber,
            q_eye,
        })
    }

    /// The requirement of a lane's parameters.
    ///
    /// # Errors
    /// As [`LaneRequirement::new`].
    pub fn for_lane(p: &LaneParams) -> Result<Self> {
        Self::new(p.modulation, p.fec, p.target_ber)
    }
}

/// What limits a lane (or, for a feasible lane, what to improve first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "item")]
pub enum LimitingFactor {
    /// The technology does not offer this rate with this modulation.
    UnsupportedRate,
    /// The heaters could not hold the rings on the laser line (hit 0 mW or their maximum).
    HeaterRange,
    /// The largest term of the loss budget.
    Loss(LossItem),
}

/// The evaluation of one lane.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LaneReport {
    /// Received average optical power.
    pub received_dbm: Dbm,
    /// Power needed for the target BER at this rate, modulation and FEC.
    pub required_dbm: Dbm,
    /// `received − required`.
    pub margin_db: Decibels,
    /// Margin the technology requires (system + maturity).
    pub required_margin_db: Decibels,
    /// Decision Q of one eye (NRZ: the Q; PAM4: each of the three eyes).
    pub q: f64,
    /// BER before FEC.
    pub pre_fec_ber: f64,
    /// BER after FEC.
    pub post_fec_ber: f64,
    /// One-hop latency: time of flight, SerDes, FEC (codeword filled at the lane rate).
    pub latency_ns: Nanoseconds,
    /// Energy per bit.
    pub energy: EnergySplit,
    /// Whether the lane meets the target BER with the required margin at a supported rate.
    pub feasible: bool,
    /// What limits it.
    pub limiting_factor: LimitingFactor,
    /// Loss budget.
    pub losses: LossBreakdown,
    /// Net (payload) rate after FEC overhead.
    pub net_gbps: Gbps,
    /// Symbol rate.
    pub baud: Gbaud,
    /// Total heater power of the lane's two rings.
    pub heater_power: Milliwatts,
    /// Ring resonance minus laser wavelength after tuning.
    pub residual_detuning: Nanometers,
    /// Whether the heaters held the lock (always false in open loop).
    pub lock_held: bool,
}

/// Rings a lane tunes: its Tx modulator and its Rx drop filter. Both see the same temperature
/// change and residual detuning (assumption), and each costs the Lorentzian drop-port penalty
/// (for the modulator, a first-order stand-in for its loss of modulation amplitude).
pub const TUNED_RINGS_PER_LANE: u32 = 2;

/// Evaluates one lane of technology `tech` under `p`. Pure and deterministic.
///
/// Steps: ring lock (heater power, residual detuning) → loss budget → received power →
/// Q (∝ received power, see [`crate::budget::ReceiverModel`]) → pre-/post-FEC BER → required power and
/// margin → latency → energy split → feasibility and limiting factor.
///
/// # Errors
/// `InvalidParameter` for non-finite or unphysical inputs (negative length, rate ≤ 0, target
/// BER outside (0, 0.375), heater bias outside `[0, heater_max]`, invalid technology data).
pub fn evaluate_lane(tech: &dyn CorridorTechnology, p: &LaneParams) -> Result<LaneReport> {
    evaluate_lane_with(tech, p, &LaneRequirement::for_lane(p)?)
}

/// [`evaluate_lane`] with a precomputed [`LaneRequirement`] (a few µs instead of tens).
///
/// # Errors
/// As [`evaluate_lane`], plus `InvalidParameter` if `req` was built for another modulation,
/// FEC or target than `p`'s.
pub fn evaluate_lane_with(
    tech: &dyn CorridorTechnology,
    p: &LaneParams,
    req: &LaneRequirement,
) -> Result<LaneReport> {
    if (req.modulation, req.fec) != (p.modulation, p.fec) || req.target_ber != p.target_ber {
        return Err(PhysicsError::InvalidParameter {
            name: "lane requirement (built for another modulation, FEC or target BER)",
            value: req.target_ber,
            expected: "LaneRequirement::for_lane(params)",
        });
    }
    check_range("length (mm)", p.length.0, 0.0, 1e9, "0..=1e9 mm")?;
    check_range("rate (Gb/s)", p.rate.0, 1e-3, 1e4, "0 < rate <= 10000 Gb/s")?;
    check_range(
        "ring ΔT (K)",
        p.ring_delta_t.0,
        -300.0,
        300.0,
        "-300..=300 K",
    )?;
    check_range(
        "laser ΔT (K)",
        p.laser_delta_t.0,
        -300.0,
        300.0,
        "-300..=300 K",
    )?;
    check_range(
        "target BER",
        p.target_ber,
        f64::MIN_POSITIVE,
        0.374,
        "0 < BER < 0.375",
    )?;
    p.medium.validate()?;
    let ring = tech.microring();
    ring.validate()?;
    let laser = tech.laser();
    laser.validate()?;
    let rx = tech.receiver();
    check_range(
        "receiver reference Q",
        rx.reference_q,
        1e-3,
        100.0,
        "0 < Q <= 100",
    )?;
    check_range(
        "receiver reference baud",
        rx.reference_baud.0,
        1e-3,
        1e4,
        "> 0 GBd",
    )?;

    // 1. Ring lock.
    let laser_shift = laser.drift(p.laser_delta_t);
    let lock: LockState = match p.heater {
        HeaterState::Locked { bias } | HeaterState::Open { bias } => {
            check_range(
                "heater bias (mW)",
                bias.0,
                0.0,
                ring.heater_max.0,
                "0..=heater max",
            )?;
            if matches!(p.heater, HeaterState::Locked { .. }) {
                ring.hold_lock(p.ring_delta_t, laser_shift, bias)
            } else {
                ring.open_loop(p.ring_delta_t, laser_shift, bias)
            }
        }
    };
    let rings = f64::from(TUNED_RINGS_PER_LANE);
    let per_ring_penalty = ring.detuning_penalty(lock.residual, REFERENCE_WAVELENGTH);

    // 2. Loss budget and received power.
    let il = tech.insertion_losses();
    let losses = LossBreakdown {
        propagation: p.medium.propagation_loss(p.length),
        couplers: p.couplers.loss(),
        modulator: il.modulator,
        rings_through: il.ring_through * f64::from(p.rings_passed),
        ring_drop: il.ring_drop,
        detuning: per_ring_penalty * rings,
    };
    let received = received_power(laser.launch_power, &losses);

    // 3. Q and BER.
    let baud = Gbaud(p.rate.0 / f64::from(p.modulation.bits_per_symbol()));
    let eyes = f64::from(p.modulation.eyes());
    let q = rx.q_nrz(received, baud) / eyes;
    let pre_fec_ber = p.modulation.ber_from_q(q);
    let post_fec_ber = p.fec.post_fec_ber(pre_fec_ber);

    // 4. Required power and margin.
    let required = rx.power_for_q(req.q_eye * eyes, baud);
    let margin = received - required;
    let required_margin = tech.required_margin();

    // 5. Latency and energy.
    let latency = hop_latency(p.medium, p.length, p.fec, p.rate);
    let heater_power = lock.heater * rings;
    let e = tech.energy();
    let energy = EnergySplit::new(e.tx, e.rx, heater_power, laser.electrical_power(), p.rate);

    // 6. Verdict.
    let supported = tech.supports(p.rate, p.modulation);
    let feasible = supported && margin >= required_margin && post_fec_ber <= p.target_ber;
    let lock_lost = matches!(p.heater, HeaterState::Locked { .. }) && !lock.held;
    let limiting_factor = if !supported {
        LimitingFactor::UnsupportedRate
    } else if lock_lost && losses.detuning.0 > 0.1 {
        LimitingFactor::HeaterRange
    } else {
        LimitingFactor::Loss(losses.largest())
    };

    if !(received.0.is_finite() && q.is_finite()) {
        return Err(PhysicsError::InvalidParameter {
            name: "lane (received power not finite)",
            value: received.0,
            expected: "finite losses and launch power",
        });
    }

    Ok(LaneReport {
        received_dbm: received,
        required_dbm: required,
        margin_db: margin,
        required_margin_db: required_margin,
        q,
        pre_fec_ber,
        post_fec_ber,
        latency_ns: latency,
        energy,
        feasible,
        limiting_factor,
        losses,
        net_gbps: p.rate * p.fec.rate(),
        baud,
        heater_power,
        residual_detuning: lock.residual,
        lock_held: lock.held,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::technology::DeviceTechnology;

    fn rfc_lane(t: DeviceTechnology) -> LaneParams {
        // The RFC corridor: 75 mm, 8 lanes → 7 other rings passed, 50G-class PAM4 lanes,
        // in SiN with two edge couplers.
        LaneParams::new(
            t.technology(),
            Medium::SiliconNitride,
            Millimeters(75.0),
            Couplers {
                grating: 0,
                edge: 2,
            },
            7,
            Gbps(53.125),
            Modulation::Pam4,
        )
    }

    #[test]
    fn si_rfc_lane_is_feasible() {
        let tech = DeviceTechnology::SiCorridor.technology();
        let r = evaluate_lane(tech, &rfc_lane(DeviceTechnology::SiCorridor)).unwrap();
        assert!(r.feasible, "{r:#?}");
        assert!(r.post_fec_ber <= 1e-12);
        assert!((r.losses.total().0 - (0.75 + 3.0 + 1.0 + 0.35 + 1.0)).abs() < 1e-9);
        assert!((r.received_dbm.0 + 6.1).abs() < 1e-9);
        assert_eq!(r.limiting_factor, LimitingFactor::Loss(LossItem::Couplers));
        assert!(r.lock_held);
        // Energy: 0.02 + 0.50 + 2 mW/53.125 + the DFB's 1.5 V × 24.92 mA/53.125 ≈ 1.26 pJ/b.
        let laser_mw = 1.5 * (10.0 * 0.4f64.exp() + 10.0);
        assert!(
            (r.energy.total().0 - (0.52 + (2.0 + laser_mw) / 53.125)).abs() < 1e-9,
            "{:?}",
            r.energy
        );
        // Latency: 0.525 ns of SiN + 15 ns SerDes + 102.4 + 20 ns KP4.
        assert!(
            (r.latency_ns.0 - (0.5254 + 15.0 + 102.4 + 20.0)).abs() < 0.01,
            "{}",
            r.latency_ns
        );
        assert!((r.net_gbps.0 - 53.125 * 514.0 / 544.0).abs() < 1e-9);
    }

    #[test]
    fn soi_75mm_is_not_viable() {
        // reference/photonics.md §2: 75 mm of SOI wire costs 15–30 dB.
        let tech = DeviceTechnology::SiCorridor.technology();
        let mut p = rfc_lane(DeviceTechnology::SiCorridor);
        p.medium = Medium::SoiStrip;
        let r = evaluate_lane(tech, &p).unwrap();
        assert!(!r.feasible);
        assert_eq!(
            r.limiting_factor,
            LimitingFactor::Loss(LossItem::Propagation)
        );
        assert!(r.post_fec_ber > 1e-12);
    }

    #[test]
    fn unsupported_rate() {
        let tech = DeviceTechnology::CarbonCorridor.technology();
        let mut p = rfc_lane(DeviceTechnology::CarbonCorridor);
        p.rate = Gbps(106.25);
        let r = evaluate_lane(tech, &p).unwrap();
        assert!(!r.feasible);
        assert_eq!(r.limiting_factor, LimitingFactor::UnsupportedRate);
    }

    #[test]
    fn open_loop_drift_costs_margin_and_lock_recovers_it() {
        let tech = DeviceTechnology::SiCorridor.technology();
        let mut p = rfc_lane(DeviceTechnology::SiCorridor);
        p.ring_delta_t = Kelvin(1.0);
        let locked = evaluate_lane(tech, &p).unwrap();
        p.heater = HeaterState::Open {
            bias: Milliwatts(1.0),
        };
        let open = evaluate_lane(tech, &p).unwrap();
        // 1 K ≈ half a linewidth → ≈ 3.1 dB per ring, two rings.
        assert!(
            (open.losses.detuning.0 - 6.2).abs() < 0.2,
            "{:?}",
            open.losses
        );
        assert!(!open.feasible);
        assert_eq!(
            open.limiting_factor,
            LimitingFactor::Loss(LossItem::Detuning)
        );
        assert!(locked.feasible && locked.losses.detuning.0 < 1e-9);
        // Warming lets the locked heaters back off.
        assert!(locked.heater_power < open.heater_power);
    }

    #[test]
    fn heater_out_of_range() {
        let tech = DeviceTechnology::SiCorridor.technology();
        let mut p = rfc_lane(DeviceTechnology::SiCorridor);
        p.ring_delta_t = Kelvin(40.0); // needs 1.76 mW of cooling from a 1 mW bias
        let r = evaluate_lane(tech, &p).unwrap();
        assert!(!r.lock_held && !r.feasible);
        assert_eq!(r.limiting_factor, LimitingFactor::HeaterRange);
        assert_eq!(r.heater_power, Milliwatts(0.0));
    }

    #[test]
    fn carbon_drifts_less_but_needs_more_margin() {
        let c = DeviceTechnology::CarbonCorridor.technology();
        let si = DeviceTechnology::SiCorridor.technology();
        let mut pc = rfc_lane(DeviceTechnology::CarbonCorridor);
        let mut ps = rfc_lane(DeviceTechnology::SiCorridor);
        for p in [&mut pc, &mut ps] {
            p.ring_delta_t = Kelvin(1.0);
            p.heater = HeaterState::Open {
                bias: Milliwatts(1.0),
            };
        }
        let rc = evaluate_lane(c, &pc).unwrap();
        let rs = evaluate_lane(si, &ps).unwrap();
        assert!(rc.losses.detuning < rs.losses.detuning);
        assert!(rc.required_margin_db > rs.required_margin_db);
    }

    #[test]
    fn invalid_inputs_are_rejected() {
        let tech = DeviceTechnology::SiCorridor.technology();
        let base = rfc_lane(DeviceTechnology::SiCorridor);
        let mut bad = Vec::new();
        let mut p = base;
        p.length = Millimeters(-1.0);
        bad.push(p);
        let mut p = base;
        p.rate = Gbps(f64::NAN);
        bad.push(p);
        let mut p = base;
        p.target_ber = 0.0;
        bad.push(p);
        let mut p = base;
        p.heater = HeaterState::Locked {
            bias: Milliwatts(1e3),
        };
        bad.push(p);
        let mut p = base;
        p.medium = Medium::Custom {
            loss_db_per_mm: f64::INFINITY,
            group_index: 2.0,
        };
        bad.push(p);
        for p in bad {
            assert!(evaluate_lane(tech, &p).is_err(), "{p:?}");
        }
    }

    #[test]
    fn requirement_reuse() {
        let tech = DeviceTechnology::SiCorridor.technology();
        let p = rfc_lane(DeviceTechnology::SiCorridor);
        let req = LaneRequirement::for_lane(&p).unwrap();
        assert_eq!(
            evaluate_lane_with(tech, &p, &req).unwrap(),
            evaluate_lane(tech, &p).unwrap()
        );
        // KP4 + PAM4 at 1e-12 post-FEC: pre-FEC threshold 3.6352e-4 (mpmath), per-eye Q ≈ 3.3.
        assert!(
            ((req.max_pre_fec_ber - 3.635_217_861e-4) / 3.635e-4).abs() < 1e-6,
            "{req:?}"
        );
        let other = LaneRequirement::new(Modulation::Nrz, Fec::Kp4, 1e-12).unwrap();
        assert!(evaluate_lane_with(tech, &p, &other).is_err());
    }

    #[test]
    fn deterministic() {
        let tech = DeviceTechnology::SiCorridor.technology();
        let p = rfc_lane(DeviceTechnology::SiCorridor);
        assert_eq!(
            evaluate_lane(tech, &p).unwrap(),
            evaluate_lane(tech, &p).unwrap()
        );
    }
}
