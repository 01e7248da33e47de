//! Ticket sign + verify per second: the hybrid envelope (ML-DSA-65 and ES384 together, what
//! attestd issues) against ES384 alone, in the same run, on the same claims.
//!
//! Both sides do the same work around the signatures — encode the claims to CBOR, build and
//! encode a tagged COSE_Sign, then parse it, check every signature and decode and validate
//! the claims — so the difference is the cost of the post-quantum half. The ES384-only
//! envelope is built here with coset and aws-lc-rs directly (the library deliberately has no
//! single-algorithm mode).
//!
//! Run: `cargo bench -p corridor-attest --bench tickets`. Criterion prints each case's time
//! per operation and, as `thrpt`, operations per second.

use std::hint::black_box;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P384_SHA384_FIXED, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    ParsedPublicKey, UnparsedPublicKey,
};
use corridor_attest::ticket::cbor::{decode_claims, encode_claims};
use corridor_attest::ticket::envelope::{CONTENT_TYPE, EXTERNAL_AAD, key_id, parse_envelope};
use corridor_attest::ticket::{
    Appraisal, Nonce, PROFILE, PolicyHash, RevocationList, Status, TicketClaims, TicketSigner,
    TrustVector, VerifierId, ar4si,
};
use coset::iana;
use coset::{
    CoseSign, CoseSignBuilder, CoseSignatureBuilder, HeaderBuilder, TaggedCborSerializable as _,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const IAT: u64 = 1_780_000_000;

/// Two devices and the host, bound to one corridor and one bundle: the RFC's example corridor.
fn claims() -> TicketClaims {
    let vector = TrustVector {
        instance_identity: Some(ar4si::TRUSTWORTHY_INSTANCE),
        configuration: Some(ar4si::APPROVED_CONFIG),
        executables: Some(ar4si::APPROVED_RUNTIME),
        hardware: Some(ar4si::GENUINE_HARDWARE),
        ..TrustVector::default()
    };
    let appraisal = Appraisal {
        status: Status::Affirming,
        trust_vector: vector,
        policy_id: Some("policy/spdm-reference-values/3".to_string()),
    };
    TicketClaims {
        eat_profile: PROFILE.to_string(),
        iat: IAT,
        exp: IAT + 600,
        eat_nonce: Nonce::new(vec![0x5a; 32]).unwrap(),
        verifier_id: VerifierId {
            developer: "https://corridoros.example/attestd".to_string(),
            build: "attestd 0.1.0".to_string(),
        },
        attestation_id: "attest-123456".to_string(),
        submods: [
            ("device:port-a".to_string(), appraisal.clone()),
            ("device:port-b".to_string(), appraisal.clone()),
            ("host-tpm".to_string(), appraisal),
        ]
        .into_iter()
        .collect(),
        corridor_ids: vec!["cor-7f3a".to_string()],
        bundle_ids: vec!["bund-0042".to_string()],
        path_ids: vec![],
        tenant: Some("acme".to_string()),
        security_domain: Some("sd-blue".to_string()),
        policy_hash: PolicyHash::of(b"policy v3"),
    }
}

/// The classical-only baseline: the same envelope with one ES384 signature.
struct Es384Only {
    key: EcdsaKeyPair,
    public: ParsedPublicKey,
    kid: Vec<u8>,
    rng: SystemRandom,
}

impl Es384Only {
    fn new() -> Self {
        let key = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
        let public = UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, key.public_key().as_ref())
            .parse()
            .unwrap();
        let kid = key_id(key.public_key().as_ref());
        Es384Only {
            key,
            public,
            kid,
            rng: SystemRandom::new(),
        }
    }

    fn sign(&self, claims: &TicketClaims) -> Vec<u8> {
        claims.validate().unwrap();
        let payload = encode_claims(claims).unwrap();
        let header = HeaderBuilder::new()
            .algorithm(iana::Algorithm::ES384)
            .key_id(self.kid.clone())
            .build();
        CoseSignBuilder::new()
            .protected(
                HeaderBuilder::new()
                    .content_type(CONTENT_TYPE.to_string())
                    .build(),
            )
            .payload(payload)
            .add_created_signature(
                CoseSignatureBuilder::new().protected(header).build(),
                EXTERNAL_AAD,
                |tbs| self.key.sign(&self.rng, tbs).unwrap().as_ref().to_vec(),
            )
            .build()
            .to_tagged_vec()
            .unwrap()
    }

    fn verify(&self, bytes: &[u8], now: u64) -> TicketClaims {
        let envelope: CoseSign = parse_envelope(bytes).unwrap();
        assert_eq!(envelope.signatures.len(), 1);
        assert_eq!(envelope.signatures[0].protected.header.key_id, self.kid);
        envelope
            .verify_signature(0, EXTERNAL_AAD, |sig, tbs| self.public.verify_sig(tbs, sig))
            .unwrap();
        let claims = decode_claims(envelope.payload.as_deref().unwrap()).unwrap();
        assert!(now < claims.exp && now >= claims.iat);
        claims
    }
}

fn tickets(c: &mut Criterion) {
    let claims = claims();
    let hybrid = TicketSigner::generate().unwrap();
    let hybrid_verifier = hybrid.verifier().unwrap();
    let classical = Es384Only::new();
    let none = RevocationList::new();
    let now = IAT + 1;

    let hybrid_ticket = hybrid.sign(&claims).unwrap().bytes;
    let classical_ticket = classical.sign(&claims);
    eprintln!(
        "ticket size: ML-DSA-65 + ES384 {} bytes, ES384 alone {} bytes",
        hybrid_ticket.len(),
        classical_ticket.len()
    );

    let mut group = c.benchmark_group("tickets");
    group.throughput(Throughput::Elements(1));
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(4));

    group.bench_function("sign+verify/ML-DSA-65+ES384", |b| {
        b.iter(|| {
            let ticket = hybrid.sign(black_box(&claims)).unwrap();
            hybrid_verifier.verify(&ticket.bytes, now, &none).unwrap()
        })
    });
    group.bench_function("sign+verify/ES384", |b| {
        b.iter(|| {
            let bytes = classical.sign(black_box(&claims));
            classical.verify(&bytes, now)
        })
    });
    group.bench_function("sign/ML-DSA-65+ES384", |b| {
        b.iter(|| hybrid.sign(black_box(&claims)).unwrap())
    });
    group.bench_function("sign/ES384", |b| {
        b.iter(|| classical.sign(black_box(&claims)))
    });
    group.bench_function("verify/ML-DSA-65+ES384", |b| {
        b.iter(|| {
            hybrid_verifier
                .verify(black_box(&hybrid_ticket), now, &none)
                .unwrap()
        })
    });
    group.bench_function("verify/ES384", |b| {
        b.iter(|| classical.verify(black_box(&classical_ticket), now))
    });
    group.finish();
}

criterion_group!(benches, tickets);
criterion_main!(benches);
