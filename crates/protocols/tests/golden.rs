//! Golden byte vectors, hand-built from the CMIS layout (photonics.md §1; OIF CMIS 5.x), and a
//! real module's lower page.

use corridor_protocols::cmis::addr::{PAGE_SIZE, linear_offset};
use corridor_protocols::cmis::map::fields;
use corridor_protocols::cmis::vdm::{VdmDescriptor, VdmType, decode_vdm};
use corridor_protocols::cmis::{
    ApplicationDescriptor, ConfigStatus, DataPathState, DpConfig, GridSpacing, Lane, MemoryMap,
    ModuleState, PageAddress, TuningStatus, f16,
};

fn lane(n: u8) -> Lane {
    Lane::new(n).unwrap()
}

fn golden_lower_page() -> [u8; 128] {
    let mut p = [0u8; 128];
    p[0] = 0x18; // identifier: QSFP-DD
    p[1] = 0x52; // CMIS 5.2
    p[2] = 0x00; // paged memory
    p[3] = 0x06; // bits 3-1 = 3: ModuleReady
    p[14] = 0x1A; // temperature 0x1A80 = 6784/256 = 26.5 degC
    p[15] = 0x80;
    p[16] = 0x80; // Vcc 0x80E8 = 33000 x 100 uV = 3.3 V
    p[17] = 0xE8;
    p[26] = 0x10; // LowPwrRequestSW
    p[85] = 0x02; // media type: SMF
    p[86..90].copy_from_slice(&[79, 28, 0x44, 0x11]); // ApSel 1: 400GAUI-4 / 400GBASE-DR4, 4+4 lanes, lanes 1|5
    p[90] = 0xFF; // end of application list
    p
}

#[test]
fn lower_page_golden_decodes() {
    let m = MemoryMap::from_lower_page(&golden_lower_page()).unwrap();
    assert_eq!(m.identifier(), 0x18);
    assert_eq!(m.revision(), (5, 2));
    assert!(!m.flat_memory());
    assert_eq!(m.module_state().unwrap(), ModuleState::Ready);
    assert_eq!(m.temperature_c().unwrap(), 26.5);
    assert!((m.vcc_v().unwrap() - 3.3).abs() < 1e-9);
    assert!(m.low_power_request_sw());
    assert_eq!(m.media_type(), 0x02);
    let apps = m.applications();
    assert_eq!(apps.len(), 1);
    assert_eq!(
        apps[0],
        (
            1,
            ApplicationDescriptor {
                host_interface_id: 79,
                media_interface_id: 28,
                host_lane_count: 4,
                media_lane_count: 4,
                host_lane_assignment: 0x11
            }
        )
    );
}

#[test]
fn lower_page_golden_encodes_byte_exact() {
    let mut m = MemoryMap::new();
    m.write_raw(0, &fields::IDENTIFIER, 0x18).unwrap();
    m.write_raw(0, &fields::REVISION, 0x52).unwrap();
    m.set_module_state(ModuleState::Ready).unwrap();
    m.write_value(0, &fields::MODULE_TEMPERATURE, 26.5).unwrap();
    m.write_value(0, &fields::SUPPLY_VOLTAGE, 3.3).unwrap();
    m.set_low_power_request_sw(true);
    m.write_raw(0, &fields::MEDIA_TYPE, 0x02).unwrap();
    let app = ApplicationDescriptor {
        host_interface_id: 79,
        media_interface_id: 28,
        host_lane_count: 4,
        media_lane_count: 4,
        host_lane_assignment: 0x11,
    };
    m.set_application(1, &app).unwrap();
    m.write_raw(0, &fields::IDENTIFIER, 0x18).unwrap();
    m.write_bytes(PageAddress::PAGE_00, 90, &[0xFF]).unwrap();
    assert_eq!(m.lower(), &golden_lower_page());
}

/// First 18 bytes of a real QSFP-DD lower page, as printed in jaredmauch/sfppi `read-optic.py`
/// (`optic_lower_page` hex dump): 18 40 04 07 00… 2f b8 81 1f.
#[test]
fn real_module_lower_page() {
    let mut p = [0u8; 128];
    let head = [
        0x18, 0x40, 0x04, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x2f, 0xb8, 0x81, 0x1f,
    ];
    p[..head.len()].copy_from_slice(&head);
    let m = MemoryMap::from_lower_page(&p).unwrap();
    assert_eq!(m.identifier(), 0x18);
    assert_eq!(m.revision(), (4, 0));
    assert_eq!(m.module_state().unwrap(), ModuleState::Ready); // 0x07: state 3, interrupt deasserted
    assert_eq!(m.temperature_c().unwrap(), 47.71875);
    assert!((m.vcc_v().unwrap() - 3.3055).abs() < 1e-9);
}

#[test]
fn negative_temperature() {
    let mut p = [0u8; 128];
    p[14] = 0xF6; // 0xF600 = -2560/256 = -10 degC
    assert_eq!(
        MemoryMap::from_lower_page(&p)
            .unwrap()
            .temperature_c()
            .unwrap(),
        -10.0
    );
}

fn golden_page11() -> [u8; 128] {
    let mut p = [0u8; 128];
    let at = |o: usize| o - 128;
    p[at(128)..at(132)].copy_from_slice(&[0x44, 0x44, 0x11, 0x71]); // lanes 1-4 Activated, 5-7 Deactivated, 8 Initialized
    p[at(154)..at(156)].copy_from_slice(&[0x1F, 0x40]); // Tx power lane 1: 8000 x 0.1 uW = 800 uW
    p[at(172)..at(174)].copy_from_slice(&[0x0B, 0xB8]); // bias lane 2: 3000 x 2 uA = 6 mA
    p[at(200)..at(202)].copy_from_slice(&[0x0F, 0xA0]); // Rx power lane 8: 4000 x 0.1 uW = 400 uW
    p[at(202)..at(206)].copy_from_slice(&[0x11, 0x11, 0x3C, 0x00]); // lanes 1-4 Success, 5 InProgress, 6 InvalidAppSel
    p[at(206)..at(210)].copy_from_slice(&[0x10, 0x10, 0x10, 0x10]); // active ApSel 1, first lane 0
    p
}

#[test]
fn page11_golden() {
    let mut m = MemoryMap::new();
    m.insert_page(PageAddress::new(0, 0x11).unwrap(), golden_page11());
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
    assert_eq!(m.dp_state(lane(5)).unwrap(), DataPathState::Deactivated);
    assert_eq!(m.dp_state(lane(7)).unwrap(), DataPathState::Deactivated);
    assert_eq!(m.dp_state(lane(8)).unwrap(), DataPathState::Initialized);
    assert_eq!(m.config_status(lane(5)).unwrap(), ConfigStatus::InProgress);
    assert_eq!(
        m.config_status(lane(6)).unwrap(),
        ConfigStatus::RejectedInvalidAppSel
    );
    assert_eq!(m.config_status(lane(7)).unwrap(), ConfigStatus::Undefined);
    assert!((m.tx_power_uw(lane(1)).unwrap() - 800.0).abs() < 1e-9);
    assert!((m.tx_bias_ma(lane(2)).unwrap() - 6.0).abs() < 1e-9);
    assert!((m.rx_power_uw(lane(8)).unwrap() - 400.0).abs() < 1e-9);
    // Bank 1 lanes read bank 1's page 11h, which is absent.
    assert!(m.dp_state(lane(9)).is_err());

    // Re-encode through the setters: byte-exact.
    let mut e = MemoryMap::new();
    for n in 1..=8 {
        let s = match n {
            1..=4 => DataPathState::Activated,
            8 => DataPathState::Initialized,
            _ => DataPathState::Deactivated,
        };
        e.set_dp_state(lane(n), s).unwrap();
    }
    e.write_value(0, &fields::tx_power(1).unwrap(), 800.0)
        .unwrap();
    e.write_value(0, &fields::tx_bias(2).unwrap(), 6.0).unwrap();
    e.write_value(0, &fields::rx_power(8).unwrap(), 400.0)
        .unwrap();
    for n in 1..=4 {
        e.set_config_status(lane(n), ConfigStatus::Success).unwrap();
        e.set_active_dp_config(
            lane(n),
            &DpConfig {
                ap_sel: 1,
                first_lane: 0,
                explicit_control: false,
            },
        )
        .unwrap();
    }
    e.set_config_status(lane(5), ConfigStatus::InProgress)
        .unwrap();
    e.set_config_status(lane(6), ConfigStatus::RejectedInvalidAppSel)
        .unwrap();
    assert_eq!(
        e.page(PageAddress::new(0, 0x11).unwrap()).unwrap(),
        &golden_page11()
    );
}

#[test]
fn page10_staged_set_golden() {
    // ApSel 1 on lanes 5-8: 1<<4 | 4<<1 | 0 = 0x18; with ExplicitControl 0x19.
    assert_eq!(
        DpConfig {
            ap_sel: 1,
            first_lane: 4,
            explicit_control: false
        }
        .encode()
        .unwrap(),
        0x18
    );
    assert_eq!(
        DpConfig {
            ap_sel: 1,
            first_lane: 4,
            explicit_control: true
        }
        .encode()
        .unwrap(),
        0x19
    );
    assert_eq!(
        DpConfig {
            ap_sel: 15,
            first_lane: 7,
            explicit_control: true
        }
        .encode()
        .unwrap(),
        0xFF
    );
    assert!(
        DpConfig {
            ap_sel: 16,
            first_lane: 0,
            explicit_control: false
        }
        .encode()
        .is_err()
    );
    let mut m = MemoryMap::new();
    m.set_staged_dp_config(
        lane(13),
        &DpConfig {
            ap_sel: 2,
            first_lane: 4,
            explicit_control: false,
        },
    )
    .unwrap();
    let p = m.page(PageAddress::new(1, 0x10).unwrap()).unwrap();
    assert_eq!(p[149 - 128], 0x28); // bank 1, lane 5 → byte 149
    assert_eq!(fields::DP_DEINIT.offset, 128);
    assert_eq!(fields::TX_DISABLE.offset, 130);
    assert_eq!(fields::APPLY_DP_INIT.offset, 143);
    assert_eq!(fields::staged_dp_config(1).unwrap().offset, 145);
    assert_eq!(fields::staged_dp_config(8).unwrap().offset, 152);
    assert_eq!(fields::active_dp_config(8).unwrap().offset, 213);
}

#[test]
fn page12_tunable_golden() {
    let mut p = [0u8; 128];
    p[0] = 0x50; // lane 1 grid code 5 = 100 GHz
    p[1] = 0x80; // lane 2 grid code 8 = 150 GHz
    p[136 - 128..138 - 128].copy_from_slice(&[0xFF, 0xFD]); // lane 1 channel -3
    p[168 - 128..172 - 128].copy_from_slice(&[0x0B, 0x7D, 0xE5, 0x00]); // 192_800_000 MHz
    p[200 - 128..202 - 128].copy_from_slice(&[0xFF, 0x38]); // -200 x 0.01 dBm = -2 dBm
    p[222 - 128] = 0x02; // lane 1 tuning in progress
    let mut m = MemoryMap::new();
    m.insert_page(PageAddress::new(0, 0x12).unwrap(), p);
    assert_eq!(m.grid_spacing(lane(1)).unwrap(), GridSpacing::Ghz100);
    assert_eq!(m.grid_spacing(lane(2)).unwrap(), GridSpacing::Ghz150);
    assert!(m.grid_spacing(lane(3)).is_err()); // code 0 is not a grid we know
    assert_eq!(m.channel(lane(1)).unwrap(), -3);
    assert_eq!(m.current_frequency_mhz(lane(1)).unwrap(), 192_800_000);
    assert_eq!(GridSpacing::Ghz100.channel_to_mhz(-3), 192_800_000);
    assert!((m.target_power_dbm(lane(1)).unwrap() + 2.0).abs() < 1e-9);
    assert_eq!(
        m.tuning_status(lane(1)).unwrap(),
        TuningStatus {
            tuning_in_progress: true,
            wavelength_unlocked: false
        }
    );
}

#[test]
fn page01_and_04_golden() {
    let mut p01 = [0u8; 128];
    p01[144 - 128] = 0x54; // DPDeinit code 5 (500 ms), DPInit code 4 (100 ms)
    p01[167 - 128] = 0x37; // power-down code 3 (50 ms), power-up code 7 (5 s)
    p01[176 - 128] = 0x11; // media lane assignment of ApSel 1
    let mut p04 = [0u8; 128];
    p04[158 - 128..162 - 128].copy_from_slice(&[0xFF, 0xB8, 0x00, 0x3C]); // channels -72..60
    let mut m = MemoryMap::new();
    m.insert_page(PageAddress::new(0, 0x01).unwrap(), p01);
    m.insert_page(PageAddress::new(0, 0x04).unwrap(), p04);
    let d = m.durations().unwrap();
    assert_eq!(
        (
            d.dp_init_ms,
            d.dp_deinit_ms,
            d.module_pwr_up_ms,
            d.module_pwr_dn_ms
        ),
        (100, 500, 5000, 50)
    );
    assert_eq!(m.media_lane_assignment(1).unwrap(), 0x11);
    assert_eq!(m.laser_capabilities().unwrap(), (0, -72, 60));
}

#[test]
fn f16_golden() {
    let table: [(u16, f64); 5] = [
        (0x0000, 0.0),
        (0x90F0, 2.4e-4),   // e = 18, m = 240
        (0x07FF, 2047e-24), // e = 0, m = 2047
        (0xFFFF, 2.047e10), // e = 31, m = 2047
        (0x6B39, 8.25e-9),  // e = 13, m = 825
    ];
    for (raw, v) in table {
        let d = f16::decode(raw);
        assert!((d - v).abs() <= v * 1e-12, "{raw:#06x}: {d} != {v}");
        assert_eq!(f16::encode(v).unwrap(), raw, "{v}");
    }
    // Non-canonical words decode too; encode picks the smallest exponent (most digits).
    assert_eq!(f16::decode(0xC001), 1.0); // e = 24, m = 1
    assert_eq!(f16::encode(1.0).unwrap(), 0xABE8); // e = 21, m = 1000
    // 2.4e-4 decodes within its precision (3 significant digits).
    let d = f16::decode(f16::encode(2.4e-4).unwrap());
    assert!((d - 2.4e-4).abs() / 2.4e-4 < 5e-3);
}

#[test]
fn vdm_golden() {
    let mut desc = [0u8; 128];
    // item 0: threshold set 1, lane 1, type 15 (pre-FEC BER current, media)
    // item 1: threshold set 1, lane 1, type 3 (laser frequency error)
    // item 2: threshold set 2, lane 2, type 4 (laser temperature)
    // item 3: threshold set 0, lane 1, type 5 (eSNR)
    desc[..8].copy_from_slice(&[0x10, 15, 0x10, 3, 0x21, 4, 0x00, 5]);
    let mut vals = [0u8; 128];
    vals[..8].copy_from_slice(&[0x90, 0xF0, 0xFF, 0xFE, 0x0A, 0x80, 0x11, 0x00]);
    let mut m = MemoryMap::new();
    m.insert_page(PageAddress::new(0, 0x20).unwrap(), desc);
    m.insert_page(PageAddress::new(0, 0x24).unwrap(), vals);
    let items = m.vdm_items(0);
    assert_eq!(items.len(), 4);
    assert_eq!(
        items[2].1,
        VdmDescriptor {
            threshold_set: 2,
            lane: 2,
            type_id: VdmType::LASER_TEMPERATURE
        }
    );
    assert!((m.vdm_value(0, 0).unwrap() - 2.4e-4).abs() < 1e-15);
    assert_eq!(m.vdm_value(0, 1).unwrap(), -20.0); // 0xFFFE = -2 x 10 MHz
    assert_eq!(m.vdm_value(0, 2).unwrap(), 10.5); // 0x0A80 / 256
    assert_eq!(m.vdm_value(0, 3).unwrap(), 17.0); // 0x1100 / 256 dB
    assert_eq!(m.find_vdm(0, VdmType::LASER_FREQ_ERROR, 1), Some(1));
    assert_eq!(m.find_vdm(0, VdmType::LASER_FREQ_ERROR, 2), None);
    assert_eq!(decode_vdm(VdmType(200), 0x1234), f64::from(0x1234u16));
    // Group 1 (page 21h/25h) starts at item 64.
    let d = VdmDescriptor {
        threshold_set: 0,
        lane: 3,
        type_id: VdmType::PRE_FEC_BER_CUR_MEDIA,
    };
    m.set_vdm_descriptor(0, 64, &d).unwrap();
    m.set_vdm_value(0, 64, 1.5e-3).unwrap();
    assert_eq!(
        m.page(PageAddress::new(0, 0x21).unwrap()).unwrap()[..2],
        [0x02, 15]
    );
    assert_eq!(m.vdm_raw(0, 64).unwrap(), f16::encode(1.5e-3).unwrap());
}

#[test]
fn linear_image_golden() {
    // lower page + pages 00h..11h of bank 0.
    let mut img = vec![0u8; PAGE_SIZE * (0x11 + 2)];
    img[..128].copy_from_slice(&golden_lower_page());
    let base = linear_offset(0, 0x11, 128).unwrap();
    assert_eq!(base, 128 * 0x12);
    img[base..base + 128].copy_from_slice(&golden_page11());
    img[128 * (0x06 + 1)] = 0xAA; // page 06h is not a CMIS page: skipped
    let m = MemoryMap::from_linear(&img).unwrap();
    assert_eq!(m.module_state().unwrap(), ModuleState::Ready);
    assert_eq!(m.dp_state(lane(1)).unwrap(), DataPathState::Activated);
    assert!(
        !m.has_page(PageAddress::new(0, 0x10).unwrap())
            || m.page(PageAddress::new(0, 0x10).unwrap()).is_some()
    );
    let mut buf = [0u8; 4];
    m.read_linear(base, &mut buf).unwrap();
    assert_eq!(buf, [0x44, 0x44, 0x11, 0x71]);
    let mut back = m.to_linear();
    back.truncate(img.len());
    img[128 * (0x06 + 1)] = 0;
    assert_eq!(back, img);
    assert!(MemoryMap::from_linear(&img[..100]).is_err());
    assert!(MemoryMap::from_linear(&img[..200]).is_err());
}

#[test]
fn i2c_view_follows_select_bytes() {
    let mut m = MemoryMap::new();
    m.insert_page(PageAddress::new(0, 0x11).unwrap(), golden_page11());
    m.write_bytes(PageAddress::PAGE_00, 127, &[0x11]).unwrap();
    assert_eq!(m.read_i2c(128, 2).unwrap(), &[0x44, 0x44]);
    m.write_bytes(PageAddress::PAGE_00, 126, &[1]).unwrap(); // bank 1 page 11h: absent
    assert!(m.read_i2c(128, 1).is_err());
    m.write_bytes(PageAddress::PAGE_00, 127, &[0x01]).unwrap(); // bank 1 page 01h: invalid
    assert!(m.selected_page().is_err());
    assert_eq!(m.read_i2c(0, 1).unwrap(), &[0]);
}
