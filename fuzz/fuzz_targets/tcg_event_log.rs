//! Feeds arbitrary bytes to the TCG crypto-agile event-log parser (and replay, with a
//! non-cryptographic stand-in hasher that exercises the same control flow), and to the
//! TPMS_ATTEST, TPMT_SIGNATURE and TPMT_PUBLIC decoders. Any panic is a bug; a log that
//! parses must re-encode to a log that parses to the same value.
#![no_main]

use corridor_protocols::tcg::{
    EventLog, HashAlg, Hasher, QuoteAttest, TpmPublic, TpmSignature, replay,
};
use libfuzzer_sys::fuzz_target;

struct Fold;

impl Hasher for Fold {
    fn digest(&self, alg: HashAlg, parts: &[&[u8]]) -> Option<Vec<u8>> {
        let n = alg.digest_len();
        let mut out = vec![0u8; n];
        for (i, b) in parts.iter().flat_map(|p| p.iter()).enumerate() {
            out[i % n] = out[i % n].wrapping_mul(31).wrapping_add(*b);
        }
        Some(out)
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(log) = EventLog::parse(data) {
        let _ = replay(&log, &Fold);
        assert_eq!(EventLog::parse(&log.to_bytes()).as_ref(), Ok(&log));
    }
    if let Ok(q) = QuoteAttest::parse(data) {
        assert_eq!(QuoteAttest::parse(&q.to_bytes()).as_ref(), Ok(&q));
    }
    if let Ok(s) = TpmSignature::parse(data) {
        assert_eq!(TpmSignature::parse(&s.to_bytes()).as_ref(), Ok(&s));
    }
    let _ = TpmPublic::parse(data);
});
