//! The claims profile: validation rules, the CBOR codec's fail-closed decoding, the JSON view.

mod support;

use ciborium::Value;
use corridor_attest::ticket::cbor::{decode_claims, encode_claims};
use corridor_attest::ticket::{
    Appraisal, ClaimsError, DecodeError, Status, TicketClaims, TrustTier, TrustVector, ar4si,
};
use support::claims;

fn rejects(mutate: impl FnOnce(&mut TicketClaims)) -> ClaimsError {
    let mut c = claims();
    mutate(&mut c);
    c.validate().unwrap_err()
}

#[test]
fn the_fixture_is_valid() {
    assert_eq!(claims().validate(), Ok(()));
}

#[test]
fn exp_must_be_after_iat() {
    assert!(matches!(
        rejects(|c| c.exp = c.iat),
        ClaimsError::ExpiryNotAfterIssue { .. }
    ));
    assert!(matches!(
        rejects(|c| c.exp = c.iat - 1),
        ClaimsError::ExpiryNotAfterIssue { .. }
    ));
}

#[test]
fn submods_must_not_be_empty() {
    assert_eq!(rejects(|c| c.submods.clear()), ClaimsError::NoSubmods);
}

#[test]
fn another_profile_is_refused() {
    assert!(matches!(
        rejects(|c| c.eat_profile = "tag:ietf.org,2026:rats/ear#04".to_string()),
        ClaimsError::WrongProfile { .. }
    ));
}

#[test]
fn submod_names_are_host_tpm_device_or_corridor() {
    for good in ["host-tpm", "device:x", "corridor:cor-1"] {
        let mut c = claims();
        c.submods.insert(good.to_string(), support::affirming());
        assert_eq!(c.validate(), Ok(()), "{good}");
    }
    for bad in ["", "device:", "tpm", "device:a b", "Device:x"] {
        assert!(
            matches!(
                rejects(|c| {
                    c.submods.insert(bad.to_string(), support::affirming());
                }),
                ClaimsError::BadSubmodName(_)
            ),
            "{bad}"
        );
    }
}

#[test]
fn an_appraisal_cannot_affirm_what_its_vector_contraindicates() {
    let err = rejects(|c| {
        let a = c.submods.get_mut("device:port-a").unwrap();
        a.trust_vector.hardware = Some(ar4si::CONTRAINDICATED_HARDWARE);
    });
    assert_eq!(
        err,
        ClaimsError::StatusBetterThanVector {
            submod: "device:port-a".to_string(),
            status: "affirming",
            worst: "contraindicated",
        }
    );
    // Saying warning over a warning claim is consistent; so is contraindicated over anything.
    let mut c = claims();
    let a = c.submods.get_mut("device:port-a").unwrap();
    a.trust_vector.configuration = Some(ar4si::UNSAFE_CONFIG);
    a.status = Status::Warning;
    assert_eq!(c.validate(), Ok(()));
    assert_eq!(c.status(), Status::Warning);
    assert!(!c.is_affirming());
}

#[test]
fn an_empty_trust_vector_is_refused() {
    assert!(matches!(
        rejects(|c| {
            c.submods.get_mut("host-tpm").unwrap().trust_vector = TrustVector::default();
        }),
        ClaimsError::EmptyTrustVector { .. }
    ));
}

#[test]
fn attestation_ids_have_the_rfc_shape() {
    for bad in ["", "attest-", "123456", "attest-ABC", "attest-1 2", "tkt-1"] {
        assert!(
            matches!(
                rejects(|c| c.attestation_id = bad.to_string()),
                ClaimsError::BadAttestationId(_)
            ),
            "{bad}"
        );
    }
}

#[test]
fn bound_ids_are_printable_and_bounded() {
    assert!(matches!(
        rejects(|c| c.corridor_ids.push("a\nb".to_string())),
        ClaimsError::BadId { .. }
    ));
    assert!(matches!(
        rejects(|c| c.bundle_ids.push(String::new())),
        ClaimsError::EmptyField { .. }
    ));
    assert!(matches!(
        rejects(|c| c.tenant = Some("x".repeat(300))),
        ClaimsError::FieldTooLong { .. }
    ));
    assert!(matches!(
        rejects(|c| c.path_ids = (0..300).map(|i| format!("p{i}")).collect()),
        ClaimsError::TooManyEntries { .. }
    ));
}

#[test]
fn trust_tiers_follow_ar4si_ranges() {
    for (value, tier) in [
        (-128, TrustTier::Contraindicated),
        (-97, TrustTier::Contraindicated),
        (-96, TrustTier::Warning),
        (-33, TrustTier::Warning),
        (-32, TrustTier::Affirming),
        (-2, TrustTier::Affirming),
        (-1, TrustTier::None),
        (0, TrustTier::None),
        (1, TrustTier::None),
        (2, TrustTier::Affirming),
        (31, TrustTier::Affirming),
        (32, TrustTier::Warning),
        (95, TrustTier::Warning),
        (96, TrustTier::Contraindicated),
        (127, TrustTier::Contraindicated),
    ] {
        assert_eq!(TrustTier::of(value), tier, "{value}");
    }
    assert_eq!(Status::Affirming.code(), 2);
    assert_eq!(Status::Warning.code(), 32);
    assert_eq!(Status::Contraindicated.code(), 96);
}

#[test]
fn cbor_round_trips_with_ear_integer_labels() {
    let bytes = encode_claims(&claims()).unwrap();
    assert_eq!(decode_claims(&bytes), Ok(claims()));
    let value: Value = ciborium::de::from_reader(&bytes[..]).unwrap();
    let labels: Vec<Value> = value
        .as_map()
        .unwrap()
        .iter()
        .map(|(k, _)| k.clone())
        .collect();
    for label in [4, 6, 10, 265, 266, 1000, 1004] {
        assert!(labels.contains(&Value::Integer(label.into())), "{label}");
    }
}

/// Re-encodes the claims map after `edit` changed its entries.
fn edited(edit: impl FnOnce(&mut Vec<(Value, Value)>)) -> Vec<u8> {
    let bytes = encode_claims(&claims()).unwrap();
    let Value::Map(mut entries) = ciborium::de::from_reader(&bytes[..]).unwrap() else {
        panic!("claims encode to a map")
    };
    edit(&mut entries);
    let mut out = Vec::new();
    ciborium::ser::into_writer(&Value::Map(entries), &mut out).unwrap();
    out
}

fn label(v: i64) -> Value {
    Value::Integer(v.into())
}

#[test]
fn decoding_refuses_a_duplicate_claim() {
    let bytes = edited(|e| e.push((label(6), label(1))));
    assert_eq!(
        decode_claims(&bytes),
        Err(DecodeError::DuplicateClaim("6".to_string()))
    );
}

#[test]
fn decoding_refuses_an_unknown_claim() {
    let bytes = edited(|e| e.push((label(99), label(1))));
    assert_eq!(
        decode_claims(&bytes),
        Err(DecodeError::UnknownClaim("99".to_string()))
    );
}

#[test]
fn decoding_refuses_a_missing_claim() {
    let bytes = edited(|e| e.retain(|(k, _)| *k != label(4)));
    assert_eq!(decode_claims(&bytes), Err(DecodeError::MissingClaim("exp")));
}

#[test]
fn decoding_refuses_a_wrongly_typed_claim() {
    let bytes = edited(|e| {
        for (k, v) in e.iter_mut() {
            if *k == label(6) {
                *v = Value::Text("yesterday".to_string());
            }
        }
    });
    assert!(matches!(
        decode_claims(&bytes),
        Err(DecodeError::WrongType { claim: "iat", .. })
    ));
}

#[test]
fn decoding_refuses_an_overall_status_that_disagrees_with_the_submods() {
    let bytes = edited(|e| {
        for (k, v) in e.iter_mut() {
            if *k == label(1000) {
                *v = label(96);
            }
        }
    });
    assert!(matches!(
        decode_claims(&bytes),
        Err(DecodeError::Claims(
            ClaimsError::InconsistentOverallStatus { .. }
        ))
    ));
}

#[test]
fn decoding_refuses_trust_claims_outside_a_signed_byte() {
    let mut c = claims();
    c.submods.insert(
        "device:x".to_string(),
        Appraisal {
            status: Status::Affirming,
            trust_vector: TrustVector {
                hardware: Some(2),
                ..TrustVector::default()
            },
            policy_id: None,
        },
    );
    let bytes = encode_claims(&c).unwrap();
    // Set device:x's hardware claim (AR4SI key 4) to 200, which no i8 holds.
    let Value::Map(mut entries) = ciborium::de::from_reader(&bytes[..]).unwrap() else {
        panic!()
    };
    for (k, v) in entries.iter_mut() {
        if *k == label(266) {
            for (name, appraisal) in v.as_map_mut().unwrap().iter_mut() {
                if name.as_text() == Some("device:x") {
                    for (k, tv) in appraisal.as_map_mut().unwrap().iter_mut() {
                        if *k == label(1001) {
                            *tv = Value::Map(vec![(label(4), label(200))]);
                        }
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    ciborium::ser::into_writer(&Value::Map(entries), &mut out).unwrap();
    assert_eq!(
        decode_claims(&out),
        Err(DecodeError::OutOfRange {
            claim: "trustworthiness claim"
        })
    );
}

#[test]
fn decoding_refuses_trailing_bytes_and_non_maps() {
    let mut bytes = encode_claims(&claims()).unwrap();
    bytes.push(0x00);
    assert!(matches!(
        decode_claims(&bytes),
        Err(DecodeError::PayloadCbor(_))
    ));
    assert_eq!(decode_claims(&[0x80]), Err(DecodeError::PayloadNotMap));
}

#[test]
fn json_shows_the_ear_names_and_the_overall_status() {
    let json = serde_json::to_value(claims()).unwrap();
    assert_eq!(json["eat_profile"], "tag:corridoros.example,2026:ear/1");
    assert_eq!(json["ear.status"], "affirming");
    assert_eq!(
        json["ear.verifier-id"]["developer"],
        "https://corridoros.example/attestd"
    );
    let device = &json["submods"]["device:port-a"];
    assert_eq!(device["ear.status"], "affirming");
    assert_eq!(device["ear.trustworthiness-vector"]["instance-identity"], 2);
    assert_eq!(json["attestation_id"], "attest-123456");
    assert_eq!(json["corridor_ids"][0], "cor-7f3a");
    let back: TicketClaims = serde_json::from_value(json).unwrap();
    assert_eq!(back, claims());
}

#[test]
fn json_deserialising_validates() {
    let mut json = serde_json::to_value(claims()).unwrap();
    json["ear.status"] = "warning".into();
    assert!(serde_json::from_value::<TicketClaims>(json).is_err());
    let mut json = serde_json::to_value(claims()).unwrap();
    json["exp"] = json["iat"].clone();
    let err = serde_json::from_value::<TicketClaims>(json).unwrap_err();
    assert!(err.to_string().contains("must be after iat"), "{err}");
}
