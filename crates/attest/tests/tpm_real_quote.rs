//! A real quote from a cloud vTPM (see `tests/data/gcp_vtpm_quote.txt`): the decoders read
//! what a TPM produced, the quote's pcrDigest matches the PCR values read from that TPM, the
//! decoded RSA key verifies its signature — and `verify_quote` still refuses it, because it is
//! signed with SHA-1.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY, RsaPublicKeyComponents};
use corridor_attest::tpm::{AwsLcHasher, QuoteCheck, QuoteError, QuoteEvidence, verify_quote};
use corridor_protocols::tcg::public::attributes;
use corridor_protocols::tcg::{
    EventLog, HashAlg, PcrSelection, PublicKey, QuoteAttest, TpmPublic, TpmSignature, replay,
};

struct Fixture {
    ak_public: Vec<u8>,
    attest: Vec<u8>,
    signature: Vec<u8>,
    pcrs: Vec<Vec<u8>>,
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn fixture() -> Fixture {
    let text = include_str!("data/gcp_vtpm_quote.txt");
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
            .map(unhex)
            .unwrap_or_else(|| panic!("{name} in the fixture"))
    };
    Fixture {
        ak_public: field("ak_public"),
        attest: field("attest"),
        signature: field("signature"),
        pcrs: (0..24).map(|i| field(&format!("pcr{i}"))).collect(),
    }
}

#[test]
fn a_real_vtpm_quote_decodes_and_its_pcr_digest_matches_its_pcrs() {
    let f = fixture();
    let q = QuoteAttest::parse(&f.attest).expect("a TPM's TPMS_ATTEST");
    assert!(
        q.extra_data.is_empty(),
        "go-attestation quoted with an empty nonce"
    );
    let all: Vec<u8> = (0..24).collect();
    assert_eq!(q.selections, vec![PcrSelection::new(HashAlg::Sha1, &all)]);
    assert_eq!(q.to_bytes(), f.attest, "re-encoding is byte-identical");

    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    for v in &f.pcrs {
        ctx.update(v);
    }
    assert_eq!(ctx.finish().as_ref(), q.pcr_digest.as_slice());

    let ak = TpmPublic::parse(&f.ak_public).expect("a TPM's TPMT_PUBLIC");
    assert!(ak.has(attributes::RESTRICTED | attributes::SIGN | attributes::FIXED_TPM));
    assert_eq!(ak.scheme, Some((0x0014, HashAlg::Sha1)));
    let PublicKey::Rsa { modulus, exponent } = &ak.key else {
        panic!("an RSA AK")
    };
    assert_eq!((modulus.len(), *exponent), (256, 65_537));

    let sig = TpmSignature::parse(&f.signature).expect("a TPM's TPMT_SIGNATURE");
    let TpmSignature::RsaSsa {
        hash: HashAlg::Sha1,
        sig,
    } = &sig
    else {
        panic!("RSASSA/SHA-1")
    };
    RsaPublicKeyComponents {
        n: modulus.as_slice(),
        e: &[1u8, 0, 1][..],
    }
    .verify(
        &RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        &f.attest,
        sig,
    )
    .expect("the decoded key verifies the TPM's signature");
}

#[test]
fn the_verifier_refuses_sha1_signed_quotes() {
    let f = fixture();
    let replayed = replay(&EventLog::new(&[HashAlg::Sha1]), &AwsLcHasher).unwrap();
    let e = QuoteEvidence {
        attest: &f.attest,
        signature: &f.signature,
        ak_public: &f.ak_public,
    };
    let c = QuoteCheck {
        nonce: &[],
        bank: HashAlg::Sha1,
        policy_pcrs: &[],
        pinned_ak: None,
    };
    assert!(matches!(
        verify_quote(&e, &c, &replayed),
        Err(QuoteError::Unsupported(_))
    ));
}
