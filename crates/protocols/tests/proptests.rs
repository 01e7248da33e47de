//! Property tests: round trips for every field type, and parsers that never panic.

use corridor_protocols::cmis::addr::{ByteAddr, PageAddress, is_banked_page, is_valid_page};
use corridor_protocols::cmis::map::{Encoding, Field, fields};
use corridor_protocols::cmis::vdm::{VdmDescriptor, VdmType, decode_vdm, value_field};
use corridor_protocols::cmis::{
    ApplicationDescriptor, ConfigStatus, DataPathState, DpConfig, GridSpacing, Lane, MemoryMap,
    ModuleState, ProvisionRequest, TuningStatus, f16, plan_provisioning,
};
use proptest::prelude::*;

/// Every field descriptor of the codec, all lanes of a bank.
fn all_fields() -> Vec<Field> {
    let mut v = vec![
        fields::IDENTIFIER,
        fields::REVISION,
        fields::FLAT_MEMORY,
        fields::MODULE_STATE,
        fields::MODULE_TEMPERATURE,
        fields::SUPPLY_VOLTAGE,
        fields::MODULE_CONTROL,
        fields::LOW_PWR_REQUEST_SW,
        fields::LOW_PWR_ALLOW_REQUEST_HW,
        fields::MEDIA_TYPE,
        fields::BANK_SELECT,
        fields::PAGE_SELECT,
        fields::DP_INIT_DURATION,
        fields::DP_DEINIT_DURATION,
        fields::MODULE_PWRUP_DURATION,
        fields::MODULE_PWRDN_DURATION,
        fields::DP_TX_TURNON_DURATION,
        fields::SUPPORTED_GRIDS,
        fields::LOW_CHANNEL,
        fields::HIGH_CHANNEL,
        fields::DP_DEINIT,
        fields::TX_DISABLE,
        fields::APPLY_DP_INIT,
        fields::APPLY_IMMEDIATE,
        fields::VDM_GROUPS_SUPPORTED,
        fields::VDM_FREEZE_REQUEST,
    ];
    for app in 1..=15 {
        v.push(fields::media_lane_assignment(app).unwrap());
    }
    for l in 1..=8 {
        v.extend([
            fields::staged_dp_config(l).unwrap(),
            fields::dp_state(l).unwrap(),
            fields::tx_power(l).unwrap(),
            fields::tx_bias(l).unwrap(),
            fields::rx_power(l).unwrap(),
            fields::config_status(l).unwrap(),
            fields::active_dp_config(l).unwrap(),
            fields::grid_spacing(l).unwrap(),
            fields::channel(l).unwrap(),
            fields::current_frequency(l).unwrap(),
            fields::target_power(l).unwrap(),
            fields::tuning_status(l).unwrap(),
        ]);
    }
    for t in 1..=24u8 {
        v.push(value_field(usize::from(t) * 3, VdmType(t)).unwrap());
    }
    v
}

fn field_page(f: &Field, bank: u8) -> PageAddress {
    if f.is_lower() {
        PageAddress::PAGE_00
    } else {
        PageAddress::new(if is_banked_page(f.page) { bank } else { 0 }, f.page).unwrap()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn f16_decode_encode_is_stable(raw in any::<u16>()) {
        let v = f16::decode(raw);
        prop_assert!(v.is_finite() && v >= 0.0);
        let back = f16::decode(f16::encode(v).unwrap());
        prop_assert!((back - v).abs() <= v * 1e-12, "{raw:#06x}: {v} -> {back}");
    }

    #[test]
    fn f16_encode_precision(exp in -24.0f64..10.3, frac in 1.0f64..10.0) {
        let v = frac * 10f64.powf(exp.floor());
        prop_assume!(v <= f16::MAX_VALUE);
        let back = f16::decode(f16::encode(v).unwrap());
        // Subnormal-like range (e = 0) is absolute; elsewhere m >= 205 bounds the error.
        let tol = (v * 2.5e-3).max(0.5e-24);
        prop_assert!((back - v).abs() <= tol, "{v} -> {back}");
    }

    #[test]
    fn field_raw_round_trip(idx in 0usize..400, seed in any::<u64>(), bank in 0u8..4, fill in any::<u8>()) {
        let all = all_fields();
        let f = all[idx % all.len()];
        let (lo, hi) = f.raw_range();
        let raw = lo + (seed % ((hi - lo) as u64 + 1)) as i64;
        let page = field_page(&f, bank);
        let bank = page.bank();
        let mut m = MemoryMap::new();
        m.insert_page(page, [fill; 128]);
        m.write_bytes(PageAddress::PAGE_00, 0, &[fill; 128]).unwrap();
        let before = m.clone();
        m.write_raw(bank, &f, raw).unwrap();
        prop_assert_eq!(m.read_raw(bank, &f).unwrap(), raw, "{}", f.name);
        // Nothing outside the field changed.
        let mut restored = m.clone();
        restored.write_raw(bank, &f, before.read_raw(bank, &f).unwrap()).unwrap();
        prop_assert_eq!(restored, before);
        // Physical value round trip.
        let v = m.read_value(bank, &f).unwrap();
        let mut m2 = m.clone();
        m2.write_value(bank, &f, v).unwrap();
        let v2 = m2.read_value(bank, &f).unwrap();
        if f.encoding == Encoding::F16 {
            // Non-canonical F16 words re-encode canonically: same value up to rounding.
            prop_assert!((v2 - v).abs() <= v.abs() * 1e-12, "{} {} {}", f.name, v, v2);
        } else {
            prop_assert_eq!(v2, v);
            prop_assert_eq!(m2, m);
        }
    }

    #[test]
    fn out_of_range_raw_is_rejected(idx in 0usize..400, over in 1i64..1000) {
        let all = all_fields();
        let f = all[idx % all.len()];
        let (lo, hi) = f.raw_range();
        let mut m = MemoryMap::new();
        prop_assert!(m.write_raw(0, &f, hi + over).is_err());
        prop_assert!(m.write_raw(0, &f, lo - over).is_err());
    }

    #[test]
    fn byte_codecs_round_trip(b in any::<u8>(), w in any::<[u8; 4]>(), d in any::<[u8; 2]>()) {
        prop_assert_eq!(DpConfig::decode(b).encode().unwrap(), b);
        prop_assert_eq!(ApplicationDescriptor::decode(w).encode(), w);
        prop_assert_eq!(VdmDescriptor::decode(d).encode().unwrap(), d);
        let ts = TuningStatus::decode(b);
        prop_assert_eq!(TuningStatus::decode(ts.encode()), ts);
        prop_assert_eq!(ConfigStatus::from_code(b).code(), b & 0x0F);
        if let Some(s) = ModuleState::from_code(b) { prop_assert_eq!(s.code(), b); }
        if let Some(s) = DataPathState::from_code(b) { prop_assert_eq!(s.code(), b); }
        if let Some(g) = GridSpacing::from_code(b) { prop_assert_eq!(g.code(), b); }
    }

    #[test]
    fn channel_frequency_round_trip(code in 0u8..16, n in any::<i16>()) {
        if let Some(g) = GridSpacing::from_code(code) {
            prop_assert_eq!(g.mhz_to_channel(g.channel_to_mhz(n)), Some(n));
        }
    }

    #[test]
    fn addressing_round_trip(bank in 0u8..=255, page in 0u8..=255, offset in 128u8..=255) {
        match PageAddress::new(bank, page) {
            Ok(p) => {
                prop_assert!(is_valid_page(page) && bank <= 3 && (bank == 0 || is_banked_page(page)));
                let at = ByteAddr::new(p, offset);
                prop_assert_eq!(at.linear(), (usize::from(bank) * 256 + usize::from(page)) * 128 + usize::from(offset));
                prop_assert_eq!(ByteAddr::from_linear(at.linear()).unwrap(), at);
            }
            Err(_) => prop_assert!(!is_valid_page(page) || bank > 3 || (bank != 0 && !is_banked_page(page))),
        }
    }

    /// Pages written in any order are held, found and listed as an ordered map of them would
    /// be: the last bytes written to each, every page present and no other, in (bank, page)
    /// order.
    #[test]
    fn upper_pages_behave_as_an_ordered_map(writes in proptest::collection::vec((0u8..4, any::<u8>(), 128u8..=255, any::<u8>()), 0..80)) {
        let mut m = MemoryMap::new();
        let mut model = std::collections::BTreeMap::new();
        for (bank, page, offset, value) in writes {
            let Ok(p) = PageAddress::new(bank, page) else { continue };
            m.write_bytes(p, offset, &[value]).unwrap();
            model.entry(p).or_insert([0u8; 128])[usize::from(offset) - 128] = value;
        }
        let listed: Vec<_> = m.pages().map(|(p, b)| (p, *b)).collect();
        let expected: Vec<_> = model.iter().map(|(p, b)| (*p, *b)).collect();
        prop_assert_eq!(listed, expected);
        for bank in 0..4 {
            for page in 0..=255u8 {
                let Ok(p) = PageAddress::new(bank, page) else { continue };
                prop_assert_eq!(m.has_page(p), model.contains_key(&p));
                prop_assert_eq!(m.page(p), model.get(&p));
            }
        }
    }

    #[test]
    fn linear_image_round_trip(pages in proptest::collection::vec((0u8..4, any::<u8>(), any::<[u8; 16]>()), 0..6), lower in any::<[u8; 16]>()) {
        let mut m = MemoryMap::new();
        m.write_bytes(PageAddress::PAGE_00, 0, &lower).unwrap();
        for (bank, page, bytes) in pages {
            if let Ok(p) = PageAddress::new(bank, page) {
                m.write_bytes(p, 128, &bytes).unwrap();
            }
        }
        let img = m.to_linear();
        let parsed = MemoryMap::from_linear(&img).unwrap();
        prop_assert_eq!(parsed.to_linear(), img);
        for (p, bytes) in m.pages() {
            prop_assert_eq!(parsed.page(p).unwrap(), bytes);
        }
    }

    #[test]
    fn parsers_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..1200),
        bank in any::<u8>(), page in any::<u8>(), offset in any::<u8>(), len in 0usize..300,
        linear in any::<usize>(), raw in any::<u16>(), idx in 0usize..300, lane_no in any::<u8>(),
    ) {
        let _ = f16::decode(raw);
        let _ = ByteAddr::from_linear(linear);
        let _ = ByteAddr::at(bank, page, offset);
        let _ = MemoryMap::from_lower_page(&bytes);
        let mut padded = bytes.clone();
        padded.resize(bytes.len().div_ceil(128).max(1) * 128, 0);
        let maps = [MemoryMap::from_linear(&bytes), MemoryMap::from_linear(&padded)];
        for m in maps.into_iter().flatten() {
            if let Ok(p) = PageAddress::new(bank & 3, page) {
                let _ = m.read_bytes(p, offset, len);
            }
            let _ = m.read_i2c(offset, len);
            let mut buf = vec![0u8; len.min(64)];
            let _ = m.read_linear(linear % 70_000, &mut buf);
            let _ = (m.identifier(), m.revision(), m.flat_memory(), m.module_state(), m.temperature_c(), m.vcc_v());
            let _ = (m.applications(), m.durations(), m.laser_capabilities(), m.media_lane_assignment(lane_no));
            if let Ok(l) = Lane::new(lane_no) {
                let _ = (m.dp_state(l), m.config_status(l), m.active_dp_config(l), m.staged_dp_config(l));
                let _ = (m.tx_power_uw(l), m.tx_bias_ma(l), m.rx_power_uw(l));
                let _ = (m.grid_spacing(l), m.channel(l), m.current_frequency_mhz(l), m.target_power_dbm(l), m.tuning_status(l));
            }
            let _ = m.vdm_items(bank & 3);
            let _ = m.vdm_value(bank & 3, idx);
            let _ = decode_vdm(VdmType(page), raw);
            for f in all_fields() {
                let _ = m.read_value(bank, &f);
            }
            let req = ProvisionRequest::new(page & 0x1F, bank & 7, offset & 0x0F, lane_no & 0x0F);
            let _ = plan_provisioning(&m, &req);
        }
    }
}
