//! Feeds arbitrary bytes to the attestation-ticket decoders: the whole envelope
//! (`decode_unverified`, and `TicketVerifier::verify` with a fixed key pair), the claims
//! decoder on its own, and the claims decoder behind a well-formed COSE_Sign envelope (so the
//! fuzzer reaches the claims parser without having to discover COSE first). Any panic is a bug.
#![no_main]

use std::sync::OnceLock;

use corridor_attest::ticket::cbor::decode_claims;
use corridor_attest::ticket::envelope::CONTENT_TYPE;
use corridor_attest::ticket::{RevocationList, TicketSigner, TicketVerifier, decode_unverified};
use coset::{CoseSignBuilder, HeaderBuilder, TaggedCborSerializable as _};
use libfuzzer_sys::fuzz_target;

fn verifier() -> &'static TicketVerifier {
    static VERIFIER: OnceLock<TicketVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        TicketSigner::generate()
            .and_then(|s| s.verifier())
            .expect("aws-lc-rs generates and parses its own keys")
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = decode_unverified(data);
    let _ = verifier().verify(data, 1_780_000_000, &RevocationList::new());
    let _ = decode_claims(data);
    let wrapped = CoseSignBuilder::new()
        .protected(HeaderBuilder::new().content_type(CONTENT_TYPE.to_string()).build())
        .payload(data.to_vec())
        .build()
        .to_tagged_vec();
    if let Ok(bytes) = wrapped {
        let _ = decode_unverified(&bytes);
    }
});
