//! Garbage evidence never panics the quote verifier: it is a typed [`QuoteError`].

use corridor_attest::tpm::{AwsLcHasher, QuoteCheck, QuoteEvidence, verify_quote};
use corridor_protocols::tcg::{EventLog, HashAlg, replay};
use proptest::prelude::*;

proptest! {
    #[test]
    fn random_evidence_is_an_error_not_a_panic(
        attest in proptest::collection::vec(any::<u8>(), 0..200),
        signature in proptest::collection::vec(any::<u8>(), 0..120),
        ak in proptest::collection::vec(any::<u8>(), 0..160),
        ak_prefix in any::<bool>(),
    ) {
        // Half the cases start the key with a plausible restricted ECC P-256 header so the
        // verifier gets past the key into signature and point handling.
        let mut ak_public = if ak_prefix {
            let mut p = vec![0x00, 0x23, 0x00, 0x0B, 0x00, 0x05, 0x00, 0x72, 0x00, 0x00, 0x00, 0x10,
                             0x00, 0x18, 0x00, 0x0B, 0x00, 0x03, 0x00, 0x10];
            p.extend_from_slice(&ak);
            p
        } else {
            ak
        };
        ak_public.truncate(200);
        let log = EventLog::new(&[HashAlg::Sha256]);
        let replayed = replay(&log, &AwsLcHasher).unwrap();
        let e = QuoteEvidence { attest: &attest, signature: &signature, ak_public: &ak_public };
        let c = QuoteCheck { nonce: &[1; 32], bank: HashAlg::Sha256, policy_pcrs: &[0], pinned_ak: None };
        prop_assert!(verify_quote(&e, &c, &replayed).is_err());
    }
}
