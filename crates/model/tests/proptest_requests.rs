//! Generated requests within the documented bounds validate and round-trip
//! through JSON; a single out-of-range field is reported at its pointer.

use std::collections::BTreeMap;

use corridor_model::Validate;
use corridor_model::corridor::{
    CorridorMode, CorridorQos, CorridorRequest, CorridorType, LAMBDA_MAX_NM, LAMBDA_MIN_NM,
    MAX_GBPS, MAX_LANES, MAX_LATENCY_BUDGET_NS, MAX_LEASE_TTL_S, MAX_REACH_MM, QosPriority,
};
use corridor_model::ffm::{
    FfmAllocRequest, LatencyClass, MAX_BYTES, MAX_FLOOR_GBS, MIN_BYTES, PAGE_BYTES, Persistence,
};
use corridor_model::json::from_slice_validated;
use corridor_model::units::{
    Bytes, Gbps, GigabytesPerSecond, Millimeters, Nanometers, Nanoseconds, Seconds,
};
use proptest::prelude::*;

fn priority() -> impl Strategy<Value = QosPriority> {
    prop_oneof![
        Just(QosPriority::Gold),
        Just(QosPriority::Silver),
        Just(QosPriority::Bronze)
    ]
}

fn labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map("[a-z][a-z0-9./_-]{0,20}", "[A-Za-z0-9._-]{0,20}", 0..4)
}

/// Distinct wavelengths: a start and a spacing ≥ 0.1 nm (above the 0.05 nm
/// slot) that keep the top lane inside the L band, then shuffled.
fn lambdas(lanes: u32) -> impl Strategy<Value = Vec<Nanometers>> {
    let span = LAMBDA_MAX_NM - LAMBDA_MIN_NM;
    let max_spacing = if lanes > 1 {
        (span / f64::from(lanes - 1)).min(2.0)
    } else {
        2.0
    };
    (0.1..=max_spacing).prop_flat_map(move |spacing| {
        let used = spacing * f64::from(lanes.saturating_sub(1));
        (LAMBDA_MIN_NM..=LAMBDA_MAX_NM - used).prop_flat_map(move |start| {
            let set: Vec<Nanometers> = (0..lanes)
                .map(|i| Nanometers((start + spacing * f64::from(i)).min(LAMBDA_MAX_NM)))
                .collect();
            Just(set).prop_shuffle()
        })
    })
}

prop_compose! {
    fn corridor_request()(lanes in 1..=MAX_LANES)(
        lambda_nm in lambdas(lanes),
        lanes in Just(lanes),
        carbon in any::<bool>(),
        min_gbps in 0.001..=MAX_GBPS,
        latency in 1..=MAX_LATENCY_BUDGET_NS,
        reach in 0.001..=MAX_REACH_MM,
        fiber in any::<bool>(),
        pfc in any::<bool>(),
        priority in priority(),
        attestation_required in any::<bool>(),
        endpoints in prop::option::of(("[a-z]{1,8}-a", "[a-z]{1,8}-b")),
        security_domain in prop::option::of("[A-Za-z0-9_-]{1,63}"),
        labels in labels(),
        ttl in prop::option::of(1..=MAX_LEASE_TTL_S),
    ) -> CorridorRequest {
        CorridorRequest {
            corridor_type: if carbon { CorridorType::CarbonCorridor } else { CorridorType::SiCorridor },
            lanes,
            lambda_nm,
            min_gbps: Gbps(min_gbps),
            latency_budget_ns: Nanoseconds(latency),
            reach_mm: Millimeters(reach),
            mode: if fiber { CorridorMode::Fiber } else { CorridorMode::Waveguide },
            // A lossless bronze corridor is refused (bronze may be pre-empted).
            qos: CorridorQos { pfc: pfc && priority != QosPriority::Bronze, priority },
            attestation_required,
            endpoints: endpoints.map(|(a, b)| [a, b]),
            security_domain,
            labels,
            policy_lease_ttl_s: ttl.map(Seconds),
        }
    }
}

fn latency_class() -> impl Strategy<Value = LatencyClass> {
    prop::sample::select(LatencyClass::ALL.to_vec())
}

prop_compose! {
    fn ffm_request()(
        pages in (MIN_BYTES / PAGE_BYTES)..=(MAX_BYTES / PAGE_BYTES),
        latency_class in latency_class(),
        floor in 0.0..=MAX_FLOOR_GBS,
        persistent in prop::sample::select(vec![Persistence::Dax, Persistence::File]),
        persist in any::<bool>(),
        shareable in any::<bool>(),
        security_domain in "[A-Za-z0-9_-]{1,63}",
        ttl in prop::option::of(1..=MAX_LEASE_TTL_S),
        labels in labels(),
    ) -> FfmAllocRequest {
        // Only the tiers that can persist get a persistent mode.
        let persistence = if persist && latency_class.can_persist() { persistent } else { Persistence::None };
        FfmAllocRequest {
            bytes: Bytes(pages * PAGE_BYTES),
            latency_class,
            bandwidth_floor_gbs: GigabytesPerSecond(floor),
            persistence,
            shareable,
            security_domain,
            host: None,
            policy_lease_ttl_s: ttl.map(Seconds),
            labels,
        }
    }
}

/// Pointers of the violations `request` has after a trip through JSON.
fn violated_pointers<T: serde::Serialize + serde::de::DeserializeOwned + Validate>(
    request: &T,
) -> Vec<String> {
    match from_slice_validated::<T>(&serde_json::to_vec(request).unwrap()) {
        Ok(_) => vec![],
        Err(p) => p.errors.into_iter().map(|v| v.pointer).collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn valid_corridor_requests_validate_and_round_trip(request in corridor_request()) {
        prop_assert_eq!(request.validate(), Ok(()));
        let text = serde_json::to_vec(&request).unwrap();
        let back: CorridorRequest = from_slice_validated(&text).unwrap();
        prop_assert_eq!(back, request);
    }

    #[test]
    fn valid_ffm_requests_validate_and_round_trip(request in ffm_request()) {
        prop_assert_eq!(request.validate(), Ok(()));
        let text = serde_json::to_vec(&request).unwrap();
        let back: FfmAllocRequest = from_slice_validated(&text).unwrap();
        prop_assert_eq!(back, request);
    }

    #[test]
    fn corridor_lambda_out_of_band_is_reported_at_its_index(
        mut request in corridor_request(),
        pick in any::<prop::sample::Index>(),
        below in any::<bool>(),
        by in 0.001..1000.0_f64,
    ) {
        let i = pick.index(request.lambda_nm.len());
        request.lambda_nm[i] = Nanometers(if below { LAMBDA_MIN_NM - by } else { LAMBDA_MAX_NM + by });
        let pointers = violated_pointers(&request);
        let expected = format!("/lambda_nm/{i}");
        prop_assert!(pointers.contains(&expected), "{:?}", pointers);
        // Only the moved lane is out of band (it may also now clash).
        prop_assert!(pointers.iter().all(|p| p.starts_with("/lambda_nm/")), "{:?}", pointers);
    }

    #[test]
    fn corridor_scalar_out_of_range_is_reported_at_its_pointer(
        mut request in corridor_request(),
        field in 0..5_usize,
        low in any::<bool>(),
    ) {
        let pointer = match field {
            0 => {
                request.min_gbps = Gbps(if low { -1.0 } else { MAX_GBPS * 2.0 });
                "/min_gbps"
            }
            1 => {
                request.latency_budget_ns = Nanoseconds(if low { 0 } else { MAX_LATENCY_BUDGET_NS + 1 });
                "/latency_budget_ns"
            }
            2 => {
                request.reach_mm = Millimeters(if low { 0.0 } else { MAX_REACH_MM + 1.0 });
                "/reach_mm"
            }
            3 => {
                request.policy_lease_ttl_s = Some(Seconds(if low { 0 } else { MAX_LEASE_TTL_S + 1 }));
                "/policy_lease_ttl_s"
            }
            _ => {
                request.lanes = if low { 0 } else { MAX_LANES + 1 };
                "/lanes"
            }
        };
        let pointers = violated_pointers(&request);
        prop_assert!(pointers.iter().any(|p| p == pointer), "{:?}", pointers);
        // A lane count change also breaks the one-wavelength-per-lane rule;
        // nothing else may be reported.
        prop_assert!(
            pointers.iter().all(|p| p == pointer || (pointer == "/lanes" && p == "/lambda_nm")),
            "{:?}", pointers
        );
    }

    #[test]
    fn ffm_out_of_range_is_reported_at_its_pointer(
        mut request in ffm_request(),
        field in 0..4_usize,
        low in any::<bool>(),
    ) {
        let pointer = match field {
            0 => {
                request.bytes = Bytes(if low { MIN_BYTES - 1 } else { MAX_BYTES + 1 });
                "/bytes"
            }
            1 => {
                request.bandwidth_floor_gbs = GigabytesPerSecond(if low { -0.5 } else { MAX_FLOOR_GBS + 0.5 });
                "/bandwidth_floor_GBs"
            }
            2 => {
                request.security_domain = if low { String::new() } else { "bad domain".to_string() };
                "/security_domain"
            }
            _ => {
                request.policy_lease_ttl_s = Some(Seconds(if low { 0 } else { MAX_LEASE_TTL_S + 1 }));
                "/policy_lease_ttl_s"
            }
        };
        let pointers = violated_pointers(&request);
        prop_assert_eq!(pointers, vec![pointer.to_string()]);
    }
}
