//! Cross-check of aws-lc-rs's ML-DSA-65 against an independent implementation, RustCrypto's
//! `ml-dsa` (pure Rust, FIPS 204 final): the same seed gives the same public key, a ticket
//! signature made by aws-lc-rs verifies under RustCrypto over the COSE Sig_structure, and a
//! signature made by RustCrypto verifies in our ticket verifier.

mod support;

use aws_lc_rs::signature::{
    ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, ML_DSA_65_SIGNING, PqdsaKeyPair,
};
use corridor_attest::ticket::envelope::EXTERNAL_AAD;
use corridor_attest::ticket::{RevocationList, TicketSigner};
use coset::iana;
use coset::{CoseSign, TaggedCborSerializable as _};
use ml_dsa::signature::{Signer as _, Verifier as _};
use ml_dsa::{
    EncodedVerifyingKey, KeyExport as _, Keypair as _, MlDsa65, Signature, SigningKey, VerifyingKey,
};
use support::{IAT, claims};

const SEED: [u8; 32] = *b"corridoros ml-dsa cross-check 01";

fn mldsa_index(envelope: &CoseSign) -> usize {
    envelope
        .signatures
        .iter()
        .position(|s| {
            s.protected.header.alg == Some(coset::Algorithm::Assigned(iana::Algorithm::ML_DSA_65))
        })
        .unwrap()
}

fn rustcrypto_verifying_key(raw: &[u8]) -> VerifyingKey<MlDsa65> {
    let encoded = EncodedVerifyingKey::<MlDsa65>::try_from(raw).unwrap();
    VerifyingKey::<MlDsa65>::decode(&encoded)
}

/// A ticket signer whose ML-DSA key comes from `SEED` (through aws-lc-rs's PKCS#8 seed form).
fn seeded_signer() -> TicketSigner {
    let mldsa = PqdsaKeyPair::from_seed(&ML_DSA_65_SIGNING, &SEED).unwrap();
    let ecdsa = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
    TicketSigner::from_pkcs8(
        mldsa.to_pkcs8v1().unwrap().as_ref(),
        ecdsa.to_pkcs8v1().unwrap().as_ref(),
    )
    .unwrap()
}

#[test]
fn the_same_seed_gives_the_same_public_key_in_both_implementations() {
    let aws = PqdsaKeyPair::from_seed(&ML_DSA_65_SIGNING, &SEED).unwrap();
    let rc = SigningKey::<MlDsa65>::from_seed(&SEED.into());
    let rc_public = rc.verifying_key().to_bytes();
    assert_eq!(aws.public_key().as_ref().len(), 1952);
    assert_eq!(aws.public_key().as_ref(), rc_public.as_slice());
}

#[test]
fn rustcrypto_verifies_the_aws_lc_signature_over_the_sig_structure() {
    let signer = TicketSigner::generate().unwrap();
    let ticket = signer.sign(&claims()).unwrap();
    let envelope = CoseSign::from_tagged_slice(&ticket.bytes).unwrap();
    let index = mldsa_index(&envelope);
    let sig = &envelope.signatures[index];
    let tbs = envelope.tbs_data(EXTERNAL_AAD, sig);
    let vk = rustcrypto_verifying_key(signer.mldsa_public_key());
    let signature = Signature::<MlDsa65>::try_from(sig.signature.as_slice()).unwrap();
    assert!(vk.verify(&tbs, &signature).is_ok());
    // And it is the Sig_structure that is signed, not something else: another AAD fails.
    let other_tbs = envelope.tbs_data(b"some other protocol", sig);
    assert!(vk.verify(&other_tbs, &signature).is_err());
}

#[test]
fn the_ticket_verifier_accepts_an_mldsa_signature_made_by_rustcrypto() {
    let signer = seeded_signer();
    let ticket = signer.sign(&claims()).unwrap();
    let mut envelope = CoseSign::from_tagged_slice(&ticket.bytes).unwrap();
    let index = mldsa_index(&envelope);
    let tbs = envelope.tbs_data(EXTERNAL_AAD, &envelope.signatures[index]);
    let rc = SigningKey::<MlDsa65>::from_seed(&SEED.into());
    let rc_signature: Signature<MlDsa65> = rc.sign(&tbs);
    let rc_bytes = rc_signature.encode().to_vec();
    // RustCrypto signs deterministically, aws-lc-rs with hedged randomness: the bytes differ.
    assert_ne!(rc_bytes, envelope.signatures[index].signature);
    envelope.signatures[index].signature = rc_bytes;
    let bytes = envelope.to_tagged_vec().unwrap();
    let verified = signer
        .verifier()
        .unwrap()
        .verify(&bytes, IAT + 1, &RevocationList::new())
        .unwrap();
    assert_eq!(verified.claims, claims());

    // A RustCrypto signature by another seed's key is refused by aws-lc-rs.
    let mut envelope = CoseSign::from_tagged_slice(&ticket.bytes).unwrap();
    let stranger = SigningKey::<MlDsa65>::from_seed(&[9u8; 32].into());
    envelope.signatures[index].signature = stranger.sign(&tbs).encode().to_vec();
    assert!(
        signer
            .verifier()
            .unwrap()
            .verify(
                &envelope.to_tagged_vec().unwrap(),
                IAT + 1,
                &RevocationList::new()
            )
            .is_err()
    );
}
