//! Shared fixtures for the ticket tests: a valid claims set with two devices and the host.

#![allow(dead_code)]

use std::collections::BTreeMap;

use corridor_attest::ticket::{
    Appraisal, Nonce, PROFILE, PolicyHash, Status, TicketClaims, TrustVector, VerifierId, ar4si,
};

pub const IAT: u64 = 1_780_000_000;
pub const EXP: u64 = IAT + 600;

pub fn affirming_vector() -> TrustVector {
    TrustVector {
        instance_identity: Some(ar4si::TRUSTWORTHY_INSTANCE),
        configuration: Some(ar4si::APPROVED_CONFIG),
        executables: Some(ar4si::APPROVED_RUNTIME),
        hardware: Some(ar4si::GENUINE_HARDWARE),
        ..TrustVector::default()
    }
}

pub fn affirming() -> Appraisal {
    Appraisal {
        status: Status::Affirming,
        trust_vector: affirming_vector(),
        policy_id: Some("policy/spdm-reference-values/3".to_string()),
    }
}

pub fn claims() -> TicketClaims {
    let mut submods = BTreeMap::new();
    submods.insert("device:port-a".to_string(), affirming());
    submods.insert("device:port-b".to_string(), affirming());
    submods.insert(
        "host-tpm".to_string(),
        Appraisal {
            status: Status::Affirming,
            trust_vector: TrustVector {
                executables: Some(ar4si::APPROVED_BOOT),
                hardware: Some(ar4si::GENUINE_HARDWARE),
                ..TrustVector::default()
            },
            policy_id: None,
        },
    );
    TicketClaims {
        eat_profile: PROFILE.to_string(),
        iat: IAT,
        exp: EXP,
        eat_nonce: Nonce::new(vec![0x5a; 32]).unwrap(),
        verifier_id: VerifierId {
            developer: "https://corridoros.example/attestd".to_string(),
            build: "attestd 0.1.0".to_string(),
        },
        attestation_id: "attest-123456".to_string(),
        submods,
        corridor_ids: vec!["cor-7f3a".to_string()],
        bundle_ids: vec!["bund-0042".to_string()],
        path_ids: vec![],
        tenant: Some("acme".to_string()),
        security_domain: Some("sd-blue".to_string()),
        policy_hash: PolicyHash::of(b"policy v3"),
    }
}
