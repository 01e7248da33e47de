//! Feeds arbitrary bytes to the CMIS memory-map parser, the typed accessors, the VDM decoder,
//! the F16 decoder and the provisioning planner. Any panic is a bug.
#![no_main]

use corridor_protocols::cmis::{Lane, MemoryMap, ProvisionRequest, f16, plan_provisioning};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for pair in data.chunks_exact(2) {
        let v = f16::decode(u16::from_be_bytes([pair[0], pair[1]]));
        assert!(v.is_finite() && v >= 0.0);
        let _ = f16::encode(v);
    }
    let _ = MemoryMap::from_lower_page(data);
    let mut padded = data.to_vec();
    padded.resize(data.len().div_ceil(128).max(1) * 128, 0);
    for m in [MemoryMap::from_linear(data), MemoryMap::from_linear(&padded)].into_iter().flatten() {
        let _ = (m.module_state(), m.temperature_c(), m.vcc_v(), m.applications(), m.durations());
        for n in 1..=32 {
            let l = Lane::new(n).expect("1..=32 are lanes");
            let _ = (m.dp_state(l), m.config_status(l), m.active_dp_config(l), m.tx_power_uw(l));
            let _ = (m.grid_spacing(l), m.channel(l), m.current_frequency_mhz(l), m.tuning_status(l));
        }
        for bank in 0..4 {
            for (i, _) in m.vdm_items(bank) {
                let _ = m.vdm_value(bank, i);
            }
        }
        let b = |i: usize| data.get(i).copied().unwrap_or(0);
        let req = ProvisionRequest::new(b(0) & 0x1F, b(1) & 7, b(2) & 0x0F, b(3) & 0x0F);
        let _ = plan_provisioning(&m, &req);
        let _ = m.to_linear();
    }
});
