//! No input makes the `cxl list` decoder panic: arbitrary bytes, arbitrary JSON, and
//! listings whose fields hold values of any type.

use corridor_protocols::cxl_list::parse;
use proptest::prelude::*;
use serde_json::Value;

/// Arbitrary JSON, biased towards the keys the decoder looks for.
fn json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("memdev".to_string()),
        Just("region".to_string()),
        Just("decoder".to_string()),
        Just("endpoint".to_string()),
        Just("port".to_string()),
        Just("bus".to_string()),
        Just("ram_size".to_string()),
        Just("serial".to_string()),
        Just("numa_node".to_string()),
        Just("mappings".to_string()),
        Just("ports:root0".to_string()),
        "[a-z_:]{1,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z0-9. ()x]{0,24}".prop_map(Value::String),
        Just(Value::String("256.00 MiB (268.44 MB)".into())),
        Just(Value::String("0xffffffffffffffffff".into())),
    ];
    leaf.prop_recursive(6, 64, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(value in json()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        let _ = parse(&bytes);
    }

    /// Whatever memdevs decode are the ones whose names the input holds.
    #[test]
    fn every_decoded_memdev_is_named_in_the_input(value in json()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        if let Ok(listing) = parse(&bytes) {
            let text = String::from_utf8(bytes).unwrap();
            for m in &listing.memdevs {
                let named = format!("\"memdev\":{}", serde_json::to_string(&m.memdev).unwrap());
                prop_assert!(text.contains(&named), "{} not in {}", m.memdev, text);
            }
        }
    }
}

/// Nesting as deep as the JSON reader allows is an error, not a stack overflow.
#[test]
fn deep_nesting_is_refused() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse(deep.as_bytes()).is_err());
    let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert!(parse(ok.as_bytes()).unwrap().is_empty());
}
