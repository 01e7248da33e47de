//! Signing and verification of tickets: both signatures are required, each with its key id,
//! within the validity window, unrevoked; nonces are single-use.

mod support;

use corridor_attest::ticket::envelope::{encode_untagged, key_id};
use corridor_attest::ticket::{
    ClaimsError, DecodeError, InMemoryNonceLedger, NonceError, NonceLedger, RevocationList,
    SignError, TicketId, TicketSigner, TicketVerifier, VerifyError, cbor,
};
use coset::iana;
use coset::{CoseSign, TaggedCborSerializable as _};
use support::{EXP, IAT, claims};

fn signer() -> TicketSigner {
    TicketSigner::generate().unwrap()
}

fn envelope(bytes: &[u8]) -> CoseSign {
    CoseSign::from_tagged_slice(bytes).unwrap()
}

fn reencode(envelope: CoseSign) -> Vec<u8> {
    envelope.to_tagged_vec().unwrap()
}

fn alg_of(sig: &coset::CoseSignature) -> Option<coset::Algorithm> {
    sig.protected.header.alg.clone()
}

fn is(alg: iana::Algorithm) -> impl Fn(&coset::CoseSignature) -> bool {
    move |sig| alg_of(sig) == Some(coset::Algorithm::Assigned(alg))
}

fn verify(verifier: &TicketVerifier, bytes: &[u8]) -> Result<(), VerifyError> {
    verifier
        .verify(bytes, IAT + 1, &RevocationList::new())
        .map(|_| ())
}

#[test]
fn a_signed_ticket_verifies_and_round_trips_its_claims() {
    let signer = signer();
    let ticket = signer.sign(&claims()).unwrap();
    let verified = signer
        .verifier()
        .unwrap()
        .verify(&ticket.bytes, IAT + 1, &RevocationList::new())
        .unwrap();
    assert_eq!(verified.claims, claims());
    assert_eq!(verified.id, ticket.id);
    assert_eq!(ticket.id, TicketId::of_envelope(&ticket.bytes));
    assert!(verified.claims.is_affirming());
}

#[test]
fn the_envelope_is_a_cose_sign_with_one_mldsa65_and_one_es384_signature() {
    let signer = signer();
    let ticket = signer.sign(&claims()).unwrap();
    // COSE_Sign_Tagged is CBOR tag 98 (0xd8 0x62).
    assert_eq!(&ticket.bytes[..2], &[0xd8, 0x62]);
    let envelope = envelope(&ticket.bytes);
    assert_eq!(envelope.signatures.len(), 2);
    assert_eq!(iana::Algorithm::ML_DSA_65 as i64, -49);
    assert_eq!(iana::Algorithm::ES384 as i64, -35);
    let mldsa = envelope
        .signatures
        .iter()
        .find(|s| is(iana::Algorithm::ML_DSA_65)(s))
        .unwrap();
    let ecdsa = envelope
        .signatures
        .iter()
        .find(|s| is(iana::Algorithm::ES384)(s))
        .unwrap();
    assert_eq!(mldsa.signature.len(), 3309);
    assert_eq!(ecdsa.signature.len(), 96);
    assert_eq!(
        mldsa.protected.header.key_id,
        key_id(signer.mldsa_public_key())
    );
    assert_eq!(
        ecdsa.protected.header.key_id,
        key_id(signer.ecdsa_public_key())
    );
}

#[test]
fn without_the_mldsa_signature_the_ticket_does_not_verify() {
    let signer = signer();
    let ticket = signer.sign(&claims()).unwrap();
    let mut env = envelope(&ticket.bytes);
    env.signatures
        .retain(|s| !is(iana::Algorithm::ML_DSA_65)(s));
    assert_eq!(
        verify(&signer.verifier().unwrap(), &reencode(env)),
        Err(VerifyError::MissingSignature { alg: "ML-DSA-65" })
    );
}

#[test]
fn without_the_ecdsa_signature_the_ticket_does_not_verify() {
    let signer = signer();
    let ticket = signer.sign(&claims()).unwrap();
    let mut env = envelope(&ticket.bytes);
    env.signatures.retain(|s| !is(iana::Algorithm::ES384)(s));
    assert_eq!(
        verify(&signer.verifier().unwrap(), &reencode(env)),
        Err(VerifyError::MissingSignature { alg: "ES384" })
    );
}

#[test]
fn a_corrupted_mldsa_signature_does_not_verify() {
    let signer = signer();
    let ticket = signer.sign(&claims()).unwrap();
    let mut env = envelope(&ticket.bytes);
    let sig = env
        .signatures
        .iter_mut()
        .find(|s| is(iana::Algorithm::ML_DSA_65)(s))
        .unwrap();
    sig.signature[100] ^= 0x01;
    assert_eq!(
        verify(&signer.verifier().unwrap(), &reencode(env)),
        Err(VerifyError::BadSignature { alg: "ML-DSA-65" })
    );
}

#[test]
fn a_corrupted_ecdsa_signature_does_not_verify() {
    let signer = signer();
    let ticket = signer.sign(&claims()).unwrap();
    let mut env = envelope(&ticket.bytes);
    let sig = env
        .signatures
        .iter_mut()
        .find(|s| is(iana::Algorithm::ES384)(s))
        .unwrap();
    sig.signature[10] ^= 0x01;
    assert_eq!(
        verify(&signer.verifier().unwrap(), &reencode(env)),
        Err(VerifyError::BadSignature { alg: "ES384" })
    );
}

#[test]
fn a_changed_claim_breaks_the_signatures() {
    let signer = signer();
    let ticket = signer.sign(&claims()).unwrap();
    let mut env = envelope(&ticket.bytes);
    let mut other = claims();
    other.corridor_ids = vec!["cor-other".to_string()];
    env.payload = Some(cbor::encode_claims(&other).unwrap());
    assert_eq!(
        verify(&signer.verifier().unwrap(), &reencode(env)),
        Err(VerifyError::BadSignature { alg: "ML-DSA-65" })
    );
}

#[test]
fn swapped_key_ids_do_not_verify() {
    let signer = signer();
    let headers = signer.signature_headers(
        (iana::Algorithm::ML_DSA_65, signer.ecdsa_key_id().to_vec()),
        (iana::Algorithm::ES384, signer.mldsa_key_id().to_vec()),
    );
    let ticket = signer.sign_with_headers(&claims(), headers).unwrap();
    assert!(matches!(
        verify(&signer.verifier().unwrap(), &ticket.bytes),
        Err(VerifyError::WrongKeyId {
            alg: "ML-DSA-65",
            ..
        })
    ));
}

#[test]
fn a_ticket_from_another_issuer_does_not_verify() {
    let ours = signer();
    let theirs = signer();
    let ticket = theirs.sign(&claims()).unwrap();
    assert!(matches!(
        verify(&ours.verifier().unwrap(), &ticket.bytes),
        Err(VerifyError::WrongKeyId { .. })
    ));
}

#[test]
fn another_issuer_claiming_our_key_ids_is_caught_by_each_signature() {
    let ours = signer();
    let theirs = signer();
    let forged_headers = theirs.signature_headers(
        (iana::Algorithm::ML_DSA_65, ours.mldsa_key_id().to_vec()),
        (iana::Algorithm::ES384, ours.ecdsa_key_id().to_vec()),
    );
    let forged = theirs.sign_with_headers(&claims(), forged_headers).unwrap();
    let verifier = ours.verifier().unwrap();
    assert_eq!(
        verify(&verifier, &forged.bytes),
        Err(VerifyError::BadSignature { alg: "ML-DSA-65" })
    );
    // Graft our genuine ML-DSA signature onto the forgery: the ECDSA half still fails, so
    // breaking one algorithm is not enough.
    let genuine = envelope(&ours.sign(&claims()).unwrap().bytes);
    let mut hybrid = envelope(&forged.bytes);
    hybrid.payload = genuine.payload.clone();
    let genuine_mldsa = genuine
        .signatures
        .iter()
        .find(|s| is(iana::Algorithm::ML_DSA_65)(s))
        .unwrap()
        .clone();
    for s in hybrid.signatures.iter_mut() {
        if is(iana::Algorithm::ML_DSA_65)(s) {
            *s = genuine_mldsa.clone();
        }
    }
    assert_eq!(
        verify(&verifier, &reencode(hybrid)),
        Err(VerifyError::BadSignature { alg: "ES384" })
    );
}

#[test]
fn a_second_signature_of_one_algorithm_is_refused() {
    let signer = signer();
    let mut env = envelope(&signer.sign(&claims()).unwrap().bytes);
    let extra = env.signatures[0].clone();
    env.signatures.push(extra);
    assert!(matches!(
        verify(&signer.verifier().unwrap(), &reencode(env)),
        Err(VerifyError::DuplicateSignature { .. })
    ));
}

#[test]
fn an_unexpected_algorithm_is_refused() {
    let signer = signer();
    let mut env = envelope(&signer.sign(&claims()).unwrap().bytes);
    for s in env.signatures.iter_mut() {
        if is(iana::Algorithm::ES384)(s) {
            s.protected.header.alg = Some(coset::Algorithm::Assigned(iana::Algorithm::ES256));
            s.protected.original_data = None;
        }
    }
    assert!(matches!(
        verify(&signer.verifier().unwrap(), &reencode(env)),
        Err(VerifyError::UnexpectedAlgorithm { .. })
    ));
}

#[test]
fn an_algorithm_outside_the_protected_header_is_refused() {
    let signer = signer();
    let mut env = envelope(&signer.sign(&claims()).unwrap().bytes);
    let sig = &mut env.signatures[1];
    sig.unprotected.alg = sig.protected.header.alg.take();
    sig.protected.original_data = None;
    assert_eq!(
        verify(&signer.verifier().unwrap(), &reencode(env)),
        Err(VerifyError::UnprotectedAlgorithm { index: 1 })
    );
}

#[test]
fn expiry_is_strict_and_issue_time_allows_the_clock_skew() {
    let signer = signer();
    let verifier = signer.verifier().unwrap().with_clock_skew(5);
    let ticket = signer.sign(&claims()).unwrap();
    let none = RevocationList::new();
    assert!(verifier.verify(&ticket.bytes, EXP - 1, &none).is_ok());
    assert_eq!(
        verifier.verify(&ticket.bytes, EXP, &none),
        Err(VerifyError::Expired { exp: EXP, now: EXP })
    );
    assert!(verifier.verify(&ticket.bytes, IAT - 5, &none).is_ok());
    assert_eq!(
        verifier.verify(&ticket.bytes, IAT - 6, &none),
        Err(VerifyError::NotYetValid {
            iat: IAT,
            now: IAT - 6
        })
    );
}

#[test]
fn a_revoked_ticket_does_not_verify() {
    let signer = signer();
    let ticket = signer.sign(&claims()).unwrap();
    let mut revocations = RevocationList::new();
    revocations.revoke(TicketId::of_envelope(b"another ticket"), "unrelated", IAT);
    let verifier = signer.verifier().unwrap();
    assert!(
        verifier
            .verify(&ticket.bytes, IAT + 1, &revocations)
            .is_ok()
    );
    revocations.revoke(
        ticket.id.clone(),
        "device:port-a re-attested contraindicated",
        IAT + 1,
    );
    assert_eq!(
        verifier.verify(&ticket.bytes, IAT + 2, &revocations),
        Err(VerifyError::Revoked {
            ticket_id: ticket.id.to_string(),
            reason: "device:port-a re-attested contraindicated".to_string(),
            revoked_at: IAT + 1,
        })
    );
}

#[test]
fn a_replayed_ticket_nonce_is_refused() {
    let signer = signer();
    let verifier = signer.verifier().unwrap();
    let ledger = InMemoryNonceLedger::default();
    let mut c = claims();
    c.eat_nonce = ledger.issue(IAT, 60).unwrap();
    let ticket = signer.sign(&c).unwrap();
    let none = RevocationList::new();
    assert!(
        verifier
            .verify_presentation(&ticket.bytes, IAT + 1, &none, &ledger)
            .is_ok()
    );
    assert_eq!(
        verifier.verify_presentation(&ticket.bytes, IAT + 2, &none, &ledger),
        Err(VerifyError::Nonce(NonceError::Replayed))
    );
}

#[test]
fn a_ticket_whose_nonce_the_ledger_never_issued_is_refused_on_presentation() {
    let signer = signer();
    let ticket = signer.sign(&claims()).unwrap();
    let ledger = InMemoryNonceLedger::default();
    assert_eq!(
        signer.verifier().unwrap().verify_presentation(
            &ticket.bytes,
            IAT + 1,
            &RevocationList::new(),
            &ledger
        ),
        Err(VerifyError::Nonce(NonceError::Unknown))
    );
}

#[test]
fn the_signer_refuses_invalid_claims() {
    let signer = signer();
    let mut c = claims();
    c.exp = c.iat;
    assert!(matches!(
        signer.sign(&c),
        Err(SignError::Claims(ClaimsError::ExpiryNotAfterIssue { .. }))
    ));
    let mut c = claims();
    c.submods.clear();
    assert!(matches!(
        signer.sign(&c),
        Err(SignError::Claims(ClaimsError::NoSubmods))
    ));
}

#[test]
fn an_untagged_cose_sign_is_refused() {
    let signer = signer();
    let ticket = signer.sign(&claims()).unwrap();
    let untagged = encode_untagged(envelope(&ticket.bytes)).unwrap();
    assert!(matches!(
        verify(&signer.verifier().unwrap(), &untagged),
        Err(VerifyError::Decode(DecodeError::Cose(_)))
    ));
}

#[test]
fn keys_survive_a_pkcs8_round_trip_through_files() {
    let signer = signer();
    let (mldsa, ecdsa) = signer.to_pkcs8().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mldsa_path, ecdsa_path) = (dir.path().join("mldsa.p8"), dir.path().join("ecdsa.p8"));
    std::fs::write(&mldsa_path, &mldsa).unwrap();
    std::fs::write(&ecdsa_path, &ecdsa).unwrap();
    let loaded = TicketSigner::from_pkcs8_files(&mldsa_path, &ecdsa_path).unwrap();
    assert_eq!(loaded.mldsa_public_key(), signer.mldsa_public_key());
    assert_eq!(loaded.ecdsa_public_key(), signer.ecdsa_public_key());
    let ticket = loaded.sign(&claims()).unwrap();
    assert!(verify(&signer.verifier().unwrap(), &ticket.bytes).is_ok());
    // The two documents are not interchangeable.
    assert!(TicketSigner::from_pkcs8(&ecdsa, &mldsa).is_err());
}

#[test]
fn expiry_is_announced_before_it_happens() {
    let c = claims();
    assert!(!c.expires_within(IAT, 60));
    assert!(c.expires_within(EXP - 60, 60));
    assert!(c.expires_within(EXP, 0));
}

#[test]
fn the_ticket_id_names_exactly_one_envelope() {
    let signer = signer();
    let a = signer.sign(&claims()).unwrap();
    let b = signer.sign(&claims()).unwrap();
    // ECDSA signatures are randomised: the same claims signed twice are two tickets.
    assert_ne!(a.bytes, b.bytes);
    assert_ne!(a.id, b.id);
    assert!(a.id.as_str().starts_with("tkt-"));
    assert_eq!(TicketId::parse(a.id.as_str()), Some(a.id.clone()));
}
