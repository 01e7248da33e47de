//! The quote verifier's RSA and P-384 paths, which swtpm's ECC P-256 AK does not reach:
//! quotes built by hand from the TPM 2.0 layouts and signed with aws-lc-rs keys.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use corridor_attest::tpm::{AwsLcHasher, QuoteCheck, QuoteError, QuoteEvidence, verify_quote};
use corridor_protocols::tcg::{
    ClockInfo, EventLog, EventType, HashAlg, Hasher, PcrSelection, QuoteAttest, ReplayedPcrs,
    TpmSignature, replay,
};

/// restricted | sign | fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth
const AK_ATTRIBUTES: u32 = 0x0005_0072;

fn replayed() -> ReplayedPcrs {
    let mut log = EventLog::new(&[HashAlg::Sha256, HashAlg::Sha384]);
    for pcr in [0u8, 7] {
        let digests = [HashAlg::Sha256, HashAlg::Sha384]
            .into_iter()
            .map(|a| (a, AwsLcHasher.digest(a, &[b"measured"]).unwrap()))
            .collect();
        log.push(pcr, EventType::EV_SEPARATOR, digests, vec![0; 4]);
    }
    replay(&log, &AwsLcHasher).unwrap()
}

fn attest(nonce: &[u8], hash: HashAlg, replayed: &ReplayedPcrs) -> Vec<u8> {
    let bank = HashAlg::Sha256;
    let values: Vec<&[u8]> = [0u8, 7]
        .iter()
        .map(|p| replayed.value(bank, *p).unwrap())
        .collect();
    QuoteAttest {
        qualified_signer: vec![0, 0x0B, 1, 2, 3],
        extra_data: nonce.to_vec(),
        clock_info: ClockInfo {
            clock: 1000,
            reset_count: 3,
            restart_count: 0,
            safe: true,
        },
        firmware_version: 1,
        selections: vec![PcrSelection::new(bank, &[0, 7])],
        pcr_digest: AwsLcHasher.digest(hash, &values).unwrap(),
    }
    .to_bytes()
}

fn tpm2b(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&u16::try_from(b.len()).unwrap().to_be_bytes());
    out.extend_from_slice(b);
}

fn check(nonce: &[u8]) -> QuoteCheck<'_> {
    QuoteCheck {
        nonce,
        bank: HashAlg::Sha256,
        policy_pcrs: &[0, 7],
        pinned_ak: None,
    }
}

#[test]
fn rsassa_sha256_quote_verifies() {
    let key = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let mut public = vec![0x00, 0x01, 0x00, 0x0B];
    public.extend_from_slice(&AK_ATTRIBUTES.to_be_bytes());
    tpm2b(&mut public, &[]); // authPolicy
    public.extend_from_slice(&[0x00, 0x10]); // symmetric NULL
    public.extend_from_slice(&[0x00, 0x14, 0x00, 0x0B]); // RSASSA / SHA-256
    public.extend_from_slice(&2048u16.to_be_bytes());
    public.extend_from_slice(&0u32.to_be_bytes()); // exponent 0 = 65537
    tpm2b(
        &mut public,
        key.public_key().modulus().big_endian_without_leading_zero(),
    );

    let r = replayed();
    let nonce = [9u8; 32];
    let msg = attest(&nonce, HashAlg::Sha256, &r);
    let mut sig = vec![0; key.public_modulus_len()];
    key.sign(
        &signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        &msg,
        &mut sig,
    )
    .unwrap();
    let sig = TpmSignature::RsaSsa {
        hash: HashAlg::Sha256,
        sig,
    }
    .to_bytes();

    let e = QuoteEvidence {
        attest: &msg,
        signature: &sig,
        ak_public: &public,
    };
    let v = verify_quote(&e, &check(&nonce), &r).expect("RSASSA quote verifies");
    assert_eq!(v.clock_info.reset_count, 3);
    assert_eq!(
        verify_quote(&e, &check(&[8; 32]), &r),
        Err(QuoteError::NonceMismatch)
    );

    let mut bad = sig.clone();
    bad[10] ^= 0x40;
    let e = QuoteEvidence {
        signature: &bad,
        ..e
    };
    assert_eq!(
        verify_quote(&e, &check(&nonce), &r),
        Err(QuoteError::SignatureInvalid)
    );
}

#[test]
fn ecdsa_p384_sha384_quote_verifies_and_pcr_digest_uses_the_signing_hash() {
    let rng = SystemRandom::new();
    let key = EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
    let point = key.public_key().as_ref(); // 0x04 || x || y
    let mut public = vec![0x00, 0x23, 0x00, 0x0C];
    public.extend_from_slice(&AK_ATTRIBUTES.to_be_bytes());
    tpm2b(&mut public, &[]);
    public.extend_from_slice(&[0x00, 0x10]); // symmetric NULL
    public.extend_from_slice(&[0x00, 0x18, 0x00, 0x0C]); // ECDSA / SHA-384
    public.extend_from_slice(&[0x00, 0x04]); // NIST P-384
    public.extend_from_slice(&[0x00, 0x10]); // kdf NULL
    tpm2b(&mut public, &point[1..49]);
    tpm2b(&mut public, &point[49..97]);

    let r = replayed();
    let nonce = [1u8; 32];
    let sign = |msg: &[u8]| {
        let rs = key.sign(&rng, msg).unwrap();
        let rs = rs.as_ref();
        TpmSignature::Ecdsa {
            hash: HashAlg::Sha384,
            r: rs[..48].to_vec(),
            s: rs[48..].to_vec(),
        }
        .to_bytes()
    };
    let msg = attest(&nonce, HashAlg::Sha384, &r);
    let sig = sign(&msg);
    let e = QuoteEvidence {
        attest: &msg,
        signature: &sig,
        ak_public: &public,
    };
    verify_quote(&e, &check(&nonce), &r).expect("P-384 quote verifies");

    // A pcrDigest computed with another hash than the signature's does not match.
    let msg = attest(&nonce, HashAlg::Sha256, &r);
    let sig = sign(&msg);
    let e = QuoteEvidence {
        attest: &msg,
        signature: &sig,
        ak_public: &public,
    };
    assert_eq!(
        verify_quote(&e, &check(&nonce), &r),
        Err(QuoteError::PcrDigestMismatch)
    );
}

#[test]
fn a_signed_non_quote_is_refused_after_the_signature() {
    // A restricted key never signs this, but the verifier must not rely on that alone.
    let rng = SystemRandom::new();
    let key = EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
    let point = key.public_key().as_ref();
    let mut public = vec![0x00, 0x23, 0x00, 0x0C];
    public.extend_from_slice(&AK_ATTRIBUTES.to_be_bytes());
    tpm2b(&mut public, &[]);
    public.extend_from_slice(&[0x00, 0x10, 0x00, 0x18, 0x00, 0x0C, 0x00, 0x04, 0x00, 0x10]);
    tpm2b(&mut public, &point[1..49]);
    tpm2b(&mut public, &point[49..97]);
    let r = replayed();
    let mut msg = attest(&[1; 32], HashAlg::Sha384, &r);
    msg[0] = 0x00; // not TPM_GENERATED_VALUE
    let rs = key.sign(&rng, &msg).unwrap();
    let sig = TpmSignature::Ecdsa {
        hash: HashAlg::Sha384,
        r: rs.as_ref()[..48].to_vec(),
        s: rs.as_ref()[48..].to_vec(),
    }
    .to_bytes();
    let e = QuoteEvidence {
        attest: &msg,
        signature: &sig,
        ak_public: &public,
    };
    assert!(matches!(
        verify_quote(&e, &check(&[1; 32]), &r),
        Err(QuoteError::NotAQuote(_))
    ));
}
