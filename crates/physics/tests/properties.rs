//! Property tests of the physics invariants.

use corridor_physics::ber::{ber_nrz, ber_pam4, erfc};
use corridor_physics::budget::{Couplers, Medium};
use corridor_physics::fec::Fec;
use corridor_physics::grid::{Grid, assign_distinct, snap};
use corridor_physics::lane::{HeaterState, LaneParams, evaluate_lane};
use corridor_physics::technology::DeviceTechnology;
use corridor_physics::units::{Dbm, Gbps, Kelvin, Millimeters, Milliwatts, Nanometers, Terahertz};
use corridor_physics::{Modulation, PhysicsError};
use proptest::prelude::*;

fn any_grid() -> impl Strategy<Value = Grid> {
    prop_oneof![
        Just(Grid::Fixed100),
        Just(Grid::Fixed50),
        Just(Grid::Fixed25),
        Just(Grid::Fixed12_5),
        (1u16..=8).prop_map(|slot_m| Grid::Flex { slot_m }),
    ]
}

fn any_medium() -> impl Strategy<Value = Medium> {
    prop_oneof![
        Just(Medium::SoiStrip),
        Just(Medium::SiliconNitride),
        Just(Medium::Fiber),
        (0.0f64..1.0, 1.0f64..5.0).prop_map(|(loss_db_per_mm, group_index)| Medium::Custom {
            loss_db_per_mm,
            group_index
        }),
    ]
}

fn any_type() -> impl Strategy<Value = DeviceTechnology> {
    prop_oneof![
        Just(DeviceTechnology::SiCorridor),
        Just(DeviceTechnology::CarbonCorridor)
    ]
}

proptest! {
    #[test]
    fn ber_decreases_with_q(a in 0.0f64..30.0, b in 0.0f64..30.0) {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        prop_assert!(ber_nrz(hi) <= ber_nrz(lo));
        prop_assert!(ber_pam4(hi) <= ber_pam4(lo));
        if hi > lo + 1e-9 && hi < 26.0 {
            // Strictly, while representable.
            prop_assert!(ber_nrz(hi) < ber_nrz(lo));
        }
    }

    #[test]
    fn erfc_stays_in_range(x in -30.0f64..30.0) {
        let v = erfc(x);
        prop_assert!((0.0..=2.0).contains(&v));
        prop_assert!((erfc(-x) + v - 2.0).abs() < 1e-14);
    }

    #[test]
    fn q_inverse_round_trips(log_ber in -300.0f64..-0.31, pam4 in any::<bool>()) {
        let m = if pam4 { Modulation::Pam4 } else { Modulation::Nrz };
        let target = 10f64.powf(log_ber).min(m.ber_from_q(0.0));
        let q = m.q_for_ber(target).unwrap();
        let back = m.ber_from_q(q);
        prop_assert!(((back - target) / target).abs() < 1e-9, "{target} -> {q} -> {back}");
    }

    #[test]
    fn fec_never_hurts_and_is_monotone(a in -12.0f64..-0.31, b in -12.0f64..-0.31) {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let (pl, ph) = (10f64.powf(lo), 10f64.powf(hi));
        for fec in [Fec::Kp4, Fec::Kr4] {
            prop_assert!(fec.post_fec_ber(pl) <= pl);
            prop_assert!(fec.post_fec_ber(pl) <= fec.post_fec_ber(ph));
        }
    }

    #[test]
    fn thz_nm_round_trip(f in 150.0f64..250.0) {
        let back = Terahertz(f).to_wavelength().to_frequency();
        prop_assert!((back.0 - f).abs() < 1e-12 * f);
    }

    #[test]
    fn dbm_mw_round_trip(p in -60.0f64..30.0) {
        prop_assert!((Dbm(p).to_milliwatts().to_dbm().0 - p).abs() < 1e-12);
    }

    /// Snapping never returns an occupied channel nor one whose passband misses the request.
    #[test]
    fn snap_returns_free_in_range_channels(
        lambda in 1500.0f64..1620.0,
        grid in any_grid(),
        occupied in proptest::collection::hash_set(-400i32..400, 0..200),
    ) {
        let free = |n: i32| !occupied.contains(&n);
        match snap(Nanometers(lambda), grid, free) {
            Ok(ch) => {
                prop_assert!(free(ch.n));
                prop_assert_eq!(ch.grid, grid);
                let off = (ch.frequency() - Nanometers(lambda).to_frequency()).to_gigahertz().0.abs();
                prop_assert!(off <= grid.channel_width().0 / 2.0 + 1e-6, "{} GHz off", off);
            }
            Err(PhysicsError::NoFreeChannel { lambda_nm, .. }) => {
                prop_assert_eq!(lambda_nm, lambda);
                // Every channel in reach was occupied.
                let x = grid.index_of(Nanometers(lambda).to_frequency());
                let n = x.round() as i32;
                prop_assert!(occupied.contains(&n));
            }
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
    }

    /// A successful multi-lane assignment gives pairwise non-overlapping free channels in reach.
    #[test]
    fn assignment_is_distinct(
        lambdas in proptest::collection::vec(1530.0f64..1565.0, 1..16),
        grid in any_grid(),
        occupied in proptest::collection::hash_set(-300i32..300, 0..50),
    ) {
        let req: Vec<Nanometers> = lambdas.iter().copied().map(Nanometers).collect();
        if let Ok(chs) = assign_distinct(&req, grid, |n| !occupied.contains(&n)) {
            prop_assert_eq!(chs.len(), req.len());
            for (i, a) in chs.iter().enumerate() {
                prop_assert!(!occupied.contains(&a.n));
                let off = (a.frequency() - req[i].to_frequency()).to_gigahertz().0.abs();
                prop_assert!(off <= grid.channel_width().0 / 2.0 + 1e-6);
                for b in &chs[i + 1..] {
                    prop_assert!(!a.overlaps(*b), "{a} overlaps {b}");
                }
            }
        }
    }

    /// Longer links never have lower loss or latency (nor higher received power or Q).
    #[test]
    fn longer_is_never_better(
        t in any_type(),
        medium in any_medium(),
        a in 0.0f64..2000.0,
        b in 0.0f64..2000.0,
        dt in -20.0f64..20.0,
        open in any::<bool>(),
    ) {
        let tech = t.technology();
        let (short, long) = if a < b { (a, b) } else { (b, a) };
        let mut p = LaneParams::new(
            tech,
            medium,
            Millimeters(short),
            Couplers { grating: 1, edge: 1 },
            3,
            Gbps(25.0),
            Modulation::Nrz,
        );
        p.ring_delta_t = Kelvin(dt);
        if open {
            p.heater = HeaterState::Open { bias: Milliwatts(1.0) };
        }
        let rs = evaluate_lane(tech, &p).unwrap();
        p.length = Millimeters(long);
        let rl = evaluate_lane(tech, &p).unwrap();
        prop_assert!(rl.losses.total() >= rs.losses.total());
        prop_assert!(rl.latency_ns >= rs.latency_ns);
        prop_assert!(rl.received_dbm <= rs.received_dbm);
        prop_assert!(rl.q <= rs.q);
        prop_assert!(rl.pre_fec_ber >= rs.pre_fec_ber);
        prop_assert!(rl.margin_db <= rs.margin_db);
    }

    /// The energy split sums to its total, every part is non-negative.
    #[test]
    fn energy_split_sums_to_total(
        t in any_type(),
        opt in 0usize..5,
        dt in -30.0f64..30.0,
        len in 0.0f64..500.0,
    ) {
        let tech = t.technology();
        let o = tech.lane_rates()[opt % tech.lane_rates().len()];
        let mut p = LaneParams::new(
            tech,
            Medium::SiliconNitride,
            Millimeters(len),
            Couplers::default(),
            0,
            o.rate,
            o.modulation,
        );
        p.ring_delta_t = Kelvin(dt);
        let r = evaluate_lane(tech, &p).unwrap();
        let e = r.energy;
        for part in [e.tx, e.rx, e.tuning, e.laser] {
            prop_assert!(part.0 >= 0.0);
        }
        let sum = e.tx.0 + e.rx.0 + e.tuning.0 + e.laser.0;
        prop_assert!((e.total().0 - sum).abs() < 1e-12);
        prop_assert!((e.total().0 - e.total_without_laser().0 - e.laser.0).abs() < 1e-12);
        // Feasible implies the BER target is met.
        if r.feasible {
            prop_assert!(r.post_fec_ber <= p.target_ber);
        }
    }
}
