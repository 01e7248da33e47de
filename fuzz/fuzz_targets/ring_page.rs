//! Feeds arbitrary bytes to the HELIOPASS ring-page decoder (pages B0h–B3h): any panic is a
//! bug, and every page it accepts must re-encode to the same bytes.
#![no_main]

use corridor_protocols::cmis::RingPage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut page = [0u8; 128];
    let n = data.len().min(128);
    page[..n].copy_from_slice(&data[..n]);
    if let Ok(p) = RingPage::decode(&page, 0xB0) {
        assert_eq!(p.encode(), page);
        for lane in &p.lanes {
            let _ = (p.header.heater_mw(lane.heater_code), p.header.pd_ua(lane.pd_code));
            let _ = (lane.bias_v(), lane.pre_fec_ber(), lane.temperature_c());
        }
    }
});
