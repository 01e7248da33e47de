//! The provisioning plan driven against the simulated module until DPActivated.

use corridor_protocols::cmis::map::fields;
use corridor_protocols::cmis::{
    ByteAddr, CmisError, ConfigStatus, DataPathState, DpConfig, GridSpacing, Lane, ModuleSim,
    ModuleState, PageAddress, ProvisionRequest, SimProfile, Step, TuningStatus, VdmType,
    plan_provisioning, run_plan,
};

fn lane(n: u8) -> Lane {
    Lane::new(n).unwrap()
}

#[test]
fn plan_has_the_cmis_sequence() {
    let sim = ModuleSim::default();
    let steps = plan_provisioning(sim.map(), &ProvisionRequest::new(1, 0, 1, 4)).unwrap();
    let notes: Vec<&str> = steps
        .iter()
        .map(|s| match s {
            Step::Write { note, .. } | Step::Poll { note, .. } => *note,
        })
        .collect();
    assert_eq!(
        notes,
        [
            "clear LowPwrRequestSW",
            "ModuleReady",
            "disable Tx on the lanes",
            "DPDeinit the lanes",
            "DPDeactivated",
            "staged set 0 DPConfig (ApSel)",
            "staged set 0 DPConfig (ApSel)",
            "staged set 0 DPConfig (ApSel)",
            "staged set 0 DPConfig (ApSel)",
            "ApplyDPInit staged set 0",
            "ConfigSuccess",
            "release DPDeinit (DPInit)",
            "enable Tx on the lanes",
            "DPActivated",
        ]
    );
    let p10 = PageAddress::new(0, 0x10).unwrap();
    assert_eq!(
        steps[0],
        Step::Write {
            at: ByteAddr::lower(26).unwrap(),
            value: 0x00,
            note: "clear LowPwrRequestSW"
        }
    );
    assert_eq!(
        steps[5],
        Step::Write {
            at: ByteAddr::new(p10, 145),
            value: 0x10,
            note: "staged set 0 DPConfig (ApSel)"
        }
    );
    assert_eq!(
        steps[9],
        Step::Write {
            at: ByteAddr::new(p10, 143),
            value: 0x0F,
            note: "ApplyDPInit staged set 0"
        }
    );
    // Timeouts come from page 01h: power-up code 5 = 500 ms.
    assert!(matches!(
        steps[1],
        Step::Poll {
            timeout_ms: 500,
            ..
        }
    ));
}

#[test]
fn provisioning_reaches_activated() {
    let mut sim = ModuleSim::default();
    sim.set_tx_power_uw(lane(1), 900.0).unwrap();
    assert_eq!(
        sim.map().tx_power_uw(lane(1)).unwrap(),
        0.0,
        "no light before activation"
    );
    let steps = plan_provisioning(sim.map(), &ProvisionRequest::new(1, 0, 1, 4)).unwrap();
    let polls = run_plan(&steps, &mut sim, 20).unwrap();
    assert!(polls > 4);
    let m = sim.map();
    assert_eq!(m.module_state().unwrap(), ModuleState::Ready);
    for n in 1..=4 {
        assert_eq!(m.dp_state(lane(n)).unwrap(), DataPathState::Activated);
        assert_eq!(m.config_status(lane(n)).unwrap(), ConfigStatus::Success);
        assert_eq!(
            m.active_dp_config(lane(n)).unwrap(),
            DpConfig {
                ap_sel: 1,
                first_lane: 0,
                explicit_control: false
            }
        );
    }
    for n in 5..=8 {
        assert_eq!(m.dp_state(lane(n)).unwrap(), DataPathState::Deactivated);
    }
    assert!((m.tx_power_uw(lane(1)).unwrap() - 900.0).abs() < 0.05);

    // Second data path on lanes 5-8: module already Ready, no power-up steps.
    let steps = plan_provisioning(sim.map(), &ProvisionRequest::new(1, 0, 5, 4)).unwrap();
    assert!(matches!(
        steps[0],
        Step::Write {
            note: "disable Tx on the lanes",
            ..
        }
    ));
    run_plan(&steps, &mut sim, 20).unwrap();
    for n in 1..=8 {
        assert_eq!(
            sim.map().dp_state(lane(n)).unwrap(),
            DataPathState::Activated,
            "lane {n}"
        );
    }
    // Re-provisioning an active data path takes it down and back up.
    let steps = plan_provisioning(sim.map(), &ProvisionRequest::new(1, 0, 1, 4)).unwrap();
    run_plan(&steps, &mut sim, 20).unwrap();
    assert_eq!(
        sim.map().dp_state(lane(2)).unwrap(),
        DataPathState::Activated
    );
}

#[test]
fn provisioning_in_bank_1() {
    let profile = SimProfile {
        lanes: 16,
        ..SimProfile::default()
    };
    let mut sim = ModuleSim::new(profile).unwrap();
    let steps = plan_provisioning(sim.map(), &ProvisionRequest::new(1, 1, 5, 4)).unwrap();
    run_plan(&steps, &mut sim, 20).unwrap();
    for n in 13..=16 {
        assert_eq!(
            sim.map().dp_state(lane(n)).unwrap(),
            DataPathState::Activated
        );
    }
    assert_eq!(
        sim.map().dp_state(lane(5)).unwrap(),
        DataPathState::Deactivated
    );
}

#[test]
fn planner_rejects_bad_requests() {
    let sim = ModuleSim::default();
    let bad = |r: ProvisionRequest| plan_provisioning(sim.map(), &r).unwrap_err();
    assert!(matches!(
        bad(ProvisionRequest::new(0, 0, 1, 4)),
        CmisError::InvalidRequest { .. }
    ));
    assert!(matches!(
        bad(ProvisionRequest::new(2, 0, 1, 4)),
        CmisError::InvalidRequest { .. }
    )); // not advertised
    assert!(matches!(
        bad(ProvisionRequest::new(1, 0, 1, 2)),
        CmisError::InvalidRequest { .. }
    )); // lane count
    assert!(matches!(
        bad(ProvisionRequest::new(1, 0, 2, 4)),
        CmisError::InvalidRequest { .. }
    )); // first lane
    assert!(matches!(
        bad(ProvisionRequest::new(1, 0, 7, 4)),
        CmisError::InvalidRequest { .. }
    )); // past lane 8
    assert!(matches!(
        bad(ProvisionRequest::new(1, 4, 1, 4)),
        CmisError::InvalidBank { .. }
    ));
}

#[test]
fn module_rejects_unadvertised_apsel() {
    let mut sim = ModuleSim::default();
    let mut steps = plan_provisioning(sim.map(), &ProvisionRequest::new(1, 0, 1, 4)).unwrap();
    // Tamper with the plan as a buggy host would: stage ApSel 3.
    for s in &mut steps {
        if let Step::Write {
            note: "staged set 0 DPConfig (ApSel)",
            value,
            ..
        } = s
        {
            *value = 0x30;
        }
    }
    let err = run_plan(&steps, &mut sim, 20).unwrap_err();
    assert_eq!(
        err,
        CmisError::ConfigRejected {
            bank: 0,
            lane: 1,
            code: 3,
            name: "ConfigRejectedInvalidAppSel"
        }
    );
}

#[test]
fn fault_and_timeouts() {
    let mut sim = ModuleSim::default();
    sim.set_fault(true);
    let steps = plan_provisioning(sim.map(), &ProvisionRequest::new(1, 0, 1, 4)).unwrap();
    assert_eq!(
        run_plan(&steps, &mut sim, 20).unwrap_err(),
        CmisError::ModuleFault
    );
    assert!(matches!(
        plan_provisioning(sim.map(), &ProvisionRequest::new(1, 0, 1, 4)),
        Err(CmisError::ModuleFault)
    ));
    sim.set_fault(false);
    sim.tick();
    assert_eq!(sim.map().module_state().unwrap(), ModuleState::LowPwr);
    // One poll is not enough to power up.
    let mut sim = ModuleSim::default();
    let steps = plan_provisioning(sim.map(), &ProvisionRequest::new(1, 0, 1, 4)).unwrap();
    assert!(matches!(
        run_plan(&steps, &mut sim, 1).unwrap_err(),
        CmisError::PollTimeout { step: 1, .. }
    ));
}

#[test]
fn low_power_request_powers_down() {
    let mut sim = ModuleSim::default();
    let steps = plan_provisioning(sim.map(), &ProvisionRequest::new(1, 0, 1, 4)).unwrap();
    run_plan(&steps, &mut sim, 20).unwrap();
    sim.write(ByteAddr::lower(26).unwrap(), &[0x10]).unwrap();
    sim.tick();
    assert_eq!(sim.map().module_state().unwrap(), ModuleState::PwrDn);
    assert_eq!(
        sim.map().dp_state(lane(1)).unwrap(),
        DataPathState::Deactivated
    );
    sim.tick();
    assert_eq!(sim.map().module_state().unwrap(), ModuleState::LowPwr);
}

#[test]
fn host_writes_are_checked() {
    let mut sim = ModuleSim::default();
    assert!(matches!(
        sim.write(ByteAddr::lower(14).unwrap(), &[1]),
        Err(CmisError::ReadOnly { .. })
    ));
    let p11 = PageAddress::new(0, 0x11).unwrap();
    assert!(matches!(
        sim.write(ByteAddr::new(p11, 128), &[0x44]),
        Err(CmisError::ReadOnly { .. })
    ));
    // Page select through I2C, then read page 11h through the window.
    sim.i2c_write(127, &[0x11]).unwrap();
    assert_eq!(sim.i2c_read(128, 1).unwrap(), vec![0x11]); // lanes 1,2 Deactivated
    sim.i2c_write(127, &[0x10]).unwrap();
    sim.i2c_write(130, &[0xFF]).unwrap();
    assert_eq!(sim.map().tx_disable_mask(0).unwrap(), 0xFF);
}

#[test]
fn laser_tuning_and_monitors() {
    let mut sim = ModuleSim::default();
    let p12 = PageAddress::new(0, 0x12).unwrap();
    // Lane 2: 50 GHz grid (code 4), channel 8 → 193.5 THz.
    sim.write(ByteAddr::new(p12, 129), &[0x40]).unwrap();
    sim.write(ByteAddr::new(p12, 138), &8i16.to_be_bytes())
        .unwrap();
    assert!(sim.map().tuning_status(lane(2)).unwrap().tuning_in_progress);
    sim.tick();
    assert_eq!(
        sim.map().tuning_status(lane(2)).unwrap(),
        TuningStatus::default()
    );
    assert_eq!(sim.map().grid_spacing(lane(2)).unwrap(), GridSpacing::Ghz50);
    assert_eq!(
        sim.map().current_frequency_mhz(lane(2)).unwrap(),
        193_500_000
    );
    sim.set_laser_freq_error_mhz(lane(2), -120.0).unwrap();
    assert_eq!(
        sim.map().current_frequency_mhz(lane(2)).unwrap(),
        193_499_880
    );
    let idx = sim.map().find_vdm(0, VdmType::LASER_FREQ_ERROR, 2).unwrap();
    assert_eq!(sim.map().vdm_value(0, idx).unwrap(), -120.0);
    // Out-of-range channel: unlocked.
    sim.write(ByteAddr::new(p12, 138), &500i16.to_be_bytes())
        .unwrap();
    sim.tick();
    assert!(
        sim.map()
            .tuning_status(lane(2))
            .unwrap()
            .wavelength_unlocked
    );

    sim.set_temperature_c(41.3).unwrap();
    assert!((sim.map().temperature_c().unwrap() - 41.3).abs() <= 1.0 / 512.0);
    sim.set_vcc_v(3.29).unwrap();
    assert!((sim.map().vcc_v().unwrap() - 3.29).abs() < 1e-4);
    sim.set_rx_power_uw(lane(3), 512.34).unwrap();
    assert!((sim.map().rx_power_uw(lane(3)).unwrap() - 512.3).abs() < 0.051);
    sim.set_rx_power_uw(lane(3), 1e9).unwrap(); // saturates at 6553.5 uW
    assert!((sim.map().rx_power_uw(lane(3)).unwrap() - 6553.5).abs() < 1e-9);
    sim.set_bias_ma(lane(3), 45.0).unwrap();
    assert!((sim.map().tx_bias_ma(lane(3)).unwrap() - 45.0).abs() < 1e-9);
    sim.set_laser_temperature_c(lane(3), 45.5).unwrap();
    sim.set_esnr_db(lane(3), 21.25).unwrap();
    sim.set_errored_frames(lane(3), 12.0).unwrap();
    for ber in [2.4e-4, 1.0e-5, 3.3e-3] {
        sim.set_pre_fec_ber(lane(3), ber).unwrap();
    }
    let m = sim.map();
    let v = |t| m.vdm_value(0, m.find_vdm(0, t, 3).unwrap()).unwrap();
    assert_eq!(v(VdmType::LASER_TEMPERATURE), 45.5);
    assert_eq!(v(VdmType::ESNR_MEDIA), 21.25);
    assert_eq!(v(VdmType::ERRORED_FRAMES_CUR_MEDIA), 12.0);
    let close = |a: f64, b: f64| (a - b).abs() <= b * 5e-3;
    assert!(close(v(VdmType::PRE_FEC_BER_CUR_MEDIA), 3.3e-3));
    assert!(close(v(VdmType::PRE_FEC_BER_MIN_MEDIA), 1.0e-5));
    assert!(close(v(VdmType::PRE_FEC_BER_MAX_MEDIA), 3.3e-3));
    assert!(close(
        v(VdmType::PRE_FEC_BER_AVG_MEDIA),
        (2.4e-4 + 1.0e-5 + 3.3e-3) / 3.0
    ));
    assert!(sim.set_bias_ma(lane(9), 1.0).is_err()); // the default module has 8 lanes
    let _ = fields::VDM_GROUPS_SUPPORTED;
}

/// One thing a host or the twin does to a module.
#[derive(Debug, Clone)]
enum SimOp {
    /// A host write of `value` to page 10h byte `offset` (bank 0).
    Control {
        offset: u8,
        value: u8,
    },
    LowPower(bool),
    Fault(bool),
    TxPower {
        lane: u8,
        uw: f64,
    },
    Ticks(u8),
    /// What a provisioning writes for the data path of four lanes from
    /// lane `first + 1` (ApSel 1), without waiting for it.
    Provision {
        first: u8,
    },
}

fn sim_op() -> impl proptest::strategy::Strategy<Value = SimOp> {
    use proptest::prelude::*;
    // The control bytes a provisioning touches: DPDeinit, OutputDisableTx,
    // ApplyDPInit, and the staged DPConfig of each lane (ApSel 0 or 1, the
    // advertised one, with any first lane).
    let control = prop_oneof![
        (Just(fields::DP_DEINIT.offset), any::<u8>()),
        (Just(fields::TX_DISABLE.offset), any::<u8>()),
        (Just(fields::APPLY_DP_INIT.offset), any::<u8>()),
        (
            145u8..=152,
            (0u8..=1, 0u8..=7).prop_map(|(ap, first)| ap << 4 | first << 1)
        ),
    ]
    .prop_map(|(offset, value)| SimOp::Control { offset, value });
    prop_oneof![
        4 => control,
        1 => any::<bool>().prop_map(SimOp::LowPower),
        1 => any::<bool>().prop_map(SimOp::Fault),
        2 => (1u8..=8, 0.0f64..2000.0).prop_map(|(lane, uw)| SimOp::TxPower { lane, uw }),
        4 => (1u8..=6).prop_map(SimOp::Ticks),
        2 => prop_oneof![Just(0u8), Just(4u8)].prop_map(|first| SimOp::Provision { first }),
    ]
}

/// Whatever the host does, every lane's reported Tx power is the laser's
/// power while the lane is Activated and zero otherwise (a tick that left a
/// lane's state alone must not leave a stale figure behind).
#[test]
fn tx_power_follows_the_data_path_state() {
    use proptest::test_runner::{TestCaseError, TestRunner};
    use std::sync::atomic::{AtomicUsize, Ordering};
    // Lane checks made while the lane was Activated, over all cases: a walk
    // that never lit a lane would check nothing.
    let activated = AtomicUsize::new(0);
    let ops = proptest::collection::vec(sim_op(), 1..60);
    TestRunner::default()
        .run(&ops, |ops| {
            let mut sim = ModuleSim::default();
            let mut laser = [0.0f64; 8];
            for op in ops {
                apply(&mut sim, &mut laser, op);
                for n in 1..=8u8 {
                    let on = sim.map().dp_state(lane(n)).unwrap() == DataPathState::Activated;
                    activated.fetch_add(usize::from(on), Ordering::Relaxed);
                    let reported = sim.map().tx_power_uw(lane(n)).unwrap();
                    let expected = if on { laser[usize::from(n - 1)] } else { 0.0 };
                    // OpticalPowerTx is a U16 in 0.1 µW steps.
                    if (reported - expected).abs() > 0.05 + 1e-9 {
                        return Err(TestCaseError::fail(format!(
                            "lane {n}: reports {reported} µW, laser {expected} µW, Activated: {on}"
                        )));
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    assert!(
        activated.load(Ordering::Relaxed) > 1000,
        "the walks lit lanes for only {} checks",
        activated.load(Ordering::Relaxed)
    );
}

fn apply(sim: &mut ModuleSim, laser: &mut [f64; 8], op: SimOp) {
    let page = PageAddress::new(0, 0x10).unwrap();
    match op {
        SimOp::Control { offset, value } => {
            sim.write(ByteAddr::new(page, offset), &[value]).unwrap()
        }
        SimOp::LowPower(on) => {
            let byte = sim.map().read_byte(ByteAddr::lower(26).unwrap()).unwrap();
            let byte = if on { byte | 0x10 } else { byte & !0x10 };
            sim.write(ByteAddr::lower(26).unwrap(), &[byte]).unwrap();
        }
        SimOp::Fault(on) => sim.set_fault(on),
        SimOp::TxPower { lane: n, uw } => {
            sim.set_tx_power_uw(lane(n), uw).unwrap();
            laser[usize::from(n - 1)] = uw;
        }
        SimOp::Ticks(n) => sim.tick_n(usize::from(n)),
        SimOp::Provision { first } => {
            let mask = 0x0fu8 << first;
            sim.write(ByteAddr::lower(26).unwrap(), &[0]).unwrap();
            for n in first + 1..=first + 4 {
                sim.write(ByteAddr::new(page, 144 + n), &[1 << 4 | first << 1])
                    .unwrap();
            }
            for field in [fields::DP_DEINIT, fields::TX_DISABLE] {
                let at = ByteAddr::new(page, field.offset);
                let byte = sim.map().read_byte(at).unwrap();
                sim.write(at, &[byte & !mask]).unwrap();
            }
            sim.write(ByteAddr::new(page, fields::APPLY_DP_INIT.offset), &[mask])
                .unwrap();
        }
    }
}
