//! Feeds arbitrary bytes to every SPDM decoder: requests, responses under each negotiated
//! algorithm set and context, measurement records, certificate chains and spdm-emu frames.
//! Whatever decodes must re-encode and decode to the same value. Any panic is a bug.
#![no_main]

use corridor_protocols::spdm::emu::{self, EmuTransport};
use corridor_protocols::spdm::measurement::decode_record;
use corridor_protocols::spdm::{
    AsymAlgo, CertChain, HashAlgo, MeasurementHash, Negotiated, Request, Response,
    ResponseContext,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    if let Ok(r) = Request::decode(bytes) {
        let again = r.encode().expect("a decoded request encodes");
        assert_eq!(Request::decode(&again).expect("and decodes again"), r);
    }
    let asym = AsymAlgo::ALL[usize::from(selector & 1)];
    let hash = HashAlgo::ALL[usize::from((selector >> 1) % 3)];
    let meas = HashAlgo::ALL[usize::from((selector >> 3) % 3)];
    let negotiated = Negotiated { asym, hash, measurement_hash: MeasurementHash::Hash(meas) };
    for n in [None, Some(negotiated)] {
        let ctx = ResponseContext {
            negotiated: n,
            challenge_summary: selector & 0x40 != 0,
            measurements_signed: selector & 0x80 != 0,
        };
        if let Ok(r) = Response::decode(bytes, &ctx) {
            let again = r.encode().expect("a decoded response encodes");
            assert_eq!(Response::decode(&again, &ctx).expect("and decodes again"), r);
        }
    }
    let _ = decode_record(bytes, selector);
    if let Ok(chain) = CertChain::decode(bytes, hash.size()) {
        let _ = chain.der_certificates();
    }
    let _ = emu::decode_frame(bytes, EmuTransport::None);
    let _ = emu::decode_frame(bytes, EmuTransport::Mctp);
});
