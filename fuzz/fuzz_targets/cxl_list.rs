//! Feeds arbitrary bytes to the `cxl list` JSON decoder as if ndctl had printed them. Any
//! panic is a bug; whatever decodes must name every region's memdevs once each.
#![no_main]

use corridor_protocols::cxl_list::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(listing) = parse(data) {
        for region in &listing.regions {
            let memdevs = region.memdevs();
            for (i, m) in memdevs.iter().enumerate() {
                assert!(!memdevs[i + 1..].contains(m), "{m} twice in {}", region.region);
            }
        }
        for memdev in &listing.memdevs {
            let _ = memdev.capacity();
        }
    }
});
