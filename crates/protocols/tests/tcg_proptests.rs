//! Random and mutated input never panics the TCG codecs (the fuzz target `tcg_event_log`
//! runs the same properties unbounded).

use corridor_protocols::tcg::{
    EventLog, EventType, HashAlg, Hasher, QuoteAttest, TpmPublic, TpmSignature, replay,
};
use proptest::prelude::*;

/// A fake hasher (not a hash): enough to drive replay's control flow on arbitrary logs.
struct Xor;

impl Hasher for Xor {
    fn digest(&self, alg: HashAlg, parts: &[&[u8]]) -> Option<Vec<u8>> {
        let n = alg.digest_len();
        let mut out = vec![0u8; n];
        for (i, b) in parts.iter().flat_map(|p| p.iter()).enumerate() {
            out[i % n] ^= b;
        }
        Some(out)
    }
}

fn valid_log(events: &[(u8, u32, Vec<u8>)]) -> Vec<u8> {
    let mut log = EventLog::new(&[HashAlg::Sha1, HashAlg::Sha256]);
    for (pcr, ty, data) in events {
        let d = |a: HashAlg| Xor.digest(a, &[data]).unwrap();
        log.push(
            pcr % 24,
            EventType(*ty),
            vec![
                (HashAlg::Sha1, d(HashAlg::Sha1)),
                (HashAlg::Sha256, d(HashAlg::Sha256)),
            ],
            data.clone(),
        );
    }
    log.to_bytes()
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(log) = EventLog::parse(&bytes) {
            let _ = replay(&log, &Xor);
        }
        let _ = QuoteAttest::parse(&bytes);
        let _ = TpmSignature::parse(&bytes);
        let _ = TpmPublic::parse(&bytes);
    }

    #[test]
    fn mutated_valid_logs_never_panic(
        events in proptest::collection::vec((any::<u8>(), any::<u32>(), proptest::collection::vec(any::<u8>(), 0..24)), 0..6),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        cut in any::<usize>(),
    ) {
        let mut bytes = valid_log(&events);
        let parsed = EventLog::parse(&bytes).expect("encoder output parses");
        prop_assert_eq!(parsed.events.len(), events.len());
        for (at, v) in flips {
            let n = bytes.len();
            bytes[at % n] ^= v;
        }
        let cut = cut % (bytes.len() + 1);
        for b in [&bytes[..], &bytes[..cut]] {
            if let Ok(log) = EventLog::parse(b) {
                let _ = replay(&log, &Xor);
                let again = EventLog::parse(&log.to_bytes());
                prop_assert_eq!(again, Ok(log));
            }
        }
    }
}
