//! The ticket decoder on hostile bytes: random input, every truncation, single-byte
//! corruption and oversized input end in a typed error (or, for a corruption that leaves a
//! well-formed ticket, in a verification failure), never a panic.

mod support;

use std::sync::OnceLock;

use corridor_attest::ticket::{
    DecodeError, MAX_TICKET_BYTES, RevocationList, SignedTicket, TicketSigner, TicketVerifier,
    decode_unverified,
};
use proptest::prelude::*;
use support::{IAT, claims};

fn fixture() -> &'static (SignedTicket, TicketVerifier) {
    static FIXTURE: OnceLock<(SignedTicket, TicketVerifier)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let signer = TicketSigner::generate().unwrap();
        (signer.sign(&claims()).unwrap(), signer.verifier().unwrap())
    })
}

#[test]
fn the_fixture_decodes() {
    let (ticket, _) = fixture();
    let decoded = decode_unverified(&ticket.bytes).unwrap();
    assert_eq!(decoded.claims, claims());
    assert_eq!(decoded.id, ticket.id);
}

#[test]
fn empty_and_oversized_input_is_refused_before_parsing() {
    assert_eq!(decode_unverified(&[]), Err(DecodeError::Empty));
    let (ticket, _) = fixture();
    let mut big = ticket.bytes.clone();
    big.resize(MAX_TICKET_BYTES + 1, 0);
    assert_eq!(
        decode_unverified(&big),
        Err(DecodeError::TooLarge {
            len: MAX_TICKET_BYTES + 1,
            max: MAX_TICKET_BYTES
        })
    );
}

#[test]
fn every_truncation_is_a_typed_error() {
    let (ticket, verifier) = fixture();
    for len in 0..ticket.bytes.len() {
        let prefix = &ticket.bytes[..len];
        assert!(decode_unverified(prefix).is_err(), "prefix of {len} bytes");
        assert!(
            verifier
                .verify(prefix, IAT + 1, &RevocationList::new())
                .is_err()
        );
    }
}

#[test]
fn a_huge_declared_length_does_not_allocate_it() {
    // Tag 98, array(4), bstr whose header claims 2^63 bytes: must fail on the missing data.
    let bytes = [
        0xd8, 0x62, 0x84, 0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ];
    assert!(decode_unverified(&bytes).is_err());
    // An array claiming 2^32 items.
    let bytes = [0xd8, 0x62, 0x9a, 0xff, 0xff, 0xff, 0xff, 0x00];
    assert!(decode_unverified(&bytes).is_err());
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let mut bytes = vec![0xd8, 0x62];
    bytes.extend(std::iter::repeat_n(0x81, 10_000));
    bytes.push(0x00);
    assert!(decode_unverified(&bytes).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode_unverified(&bytes);
    }

    #[test]
    fn random_bytes_behind_the_cose_sign_tag_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..512)
    ) {
        let mut tagged = vec![0xd8, 0x62, 0x84];
        tagged.extend(bytes);
        let _ = decode_unverified(&tagged);
    }

    #[test]
    fn a_flipped_byte_never_verifies(index in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (ticket, verifier) = fixture();
        let mut bytes = ticket.bytes.clone();
        let i = index.index(bytes.len());
        bytes[i] ^= 1 << bit;
        // Decoding may succeed (a flip inside a signature leaves the structure intact), but
        // verification must not.
        let _ = decode_unverified(&bytes);
        prop_assert!(verifier.verify(&bytes, IAT + 1, &RevocationList::new()).is_err());
    }
}
