//! Semantic validation of request bodies, run after strict deserialization.
//!
//! Validation collects *every* violation rather than stopping at the first,
//! so that a client fixes its request in one round trip. Each violation names
//! its field by JSON pointer and its rule by a stable name from [`rule`].

use std::collections::BTreeMap;
use std::fmt::{self, Display};

use crate::problem::FieldViolation;

/// Semantic checks on a deserialized value.
pub trait Validate {
    /// `Ok(())`, or every violated rule (never an empty `Err`).
    fn validate(&self) -> Result<(), Vec<FieldViolation>>;
}

/// Stable rule names used in [`FieldViolation::rule`].
pub mod rule {
    /// A number outside its allowed bounds.
    pub const RANGE: &str = "range";
    /// A string that is not one of the allowed values.
    pub const ENUM: &str = "enum";
    /// A field that must be present is missing.
    pub const REQUIRED: &str = "required";
    /// A field the schema does not know.
    pub const UNKNOWN_FIELD: &str = "unknown_field";
    /// A value of the wrong JSON type.
    pub const TYPE: &str = "type";
    /// A string or array of the wrong length.
    pub const LENGTH: &str = "length";
    /// A string whose characters or shape are wrong.
    pub const FORMAT: &str = "format";
    /// A value repeated where values must be distinct.
    pub const UNIQUE: &str = "unique";
    /// A field given twice in the same object.
    pub const DUPLICATE: &str = "duplicate";
    /// Two fields whose values cannot go together.
    pub const COMPATIBLE: &str = "compatible";
    /// A reference to something that does not exist (an unknown time zone).
    pub const EXISTS: &str = "exists";
}

/// Appends one reference token to a JSON pointer, escaping `~` and `/` as
/// RFC 6901 requires.
pub fn pointer(base: &str, token: impl Display) -> String {
    let token = token.to_string();
    let mut out = String::with_capacity(base.len() + token.len() + 1);
    out.push_str(base);
    out.push('/');
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}

/// Collects violations while a validator walks a value.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Violations {
    items: Vec<FieldViolation>,
}

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, pointer: impl Into<String>, rule: &str, message: impl Into<String>) {
        self.items
            .push(FieldViolation::new(pointer, rule, message.into()));
    }

    /// Checks `min <= value <= max`; NaN fails. Returns whether it held.
    pub fn range<T: PartialOrd + Display>(
        &mut self,
        pointer: &str,
        value: T,
        min: T,
        max: T,
    ) -> bool {
        let ok = value >= min && value <= max;
        if !ok {
            self.add(
                pointer,
                rule::RANGE,
                format!("must be between {min} and {max}, got {value}"),
            );
        }
        ok
    }

    /// Checks `lower < value <= max` (a strictly positive quantity when
    /// `lower` is zero). NaN fails. Returns whether it held.
    pub fn above<T: PartialOrd + Display>(
        &mut self,
        pointer: &str,
        value: T,
        lower: T,
        max: T,
    ) -> bool {
        let ok = value > lower && value <= max;
        if !ok {
            self.add(
                pointer,
                rule::RANGE,
                format!("must be greater than {lower} and at most {max}, got {value}"),
            );
        }
        ok
    }

    /// Checks `min <= len <= max` for a string (in characters) or a list.
    pub fn length(&mut self, pointer: &str, len: usize, min: usize, max: usize) -> bool {
        let ok = (min..=max).contains(&len);
        if !ok {
            let bounds = if min == max {
                format!("exactly {min}")
            } else {
                format!("between {min} and {max}")
            };
            self.add(
                pointer,
                rule::LENGTH,
                format!("length must be {bounds}, got {len}"),
            );
        }
        ok
    }

    /// Checks a resource or device id: 1..=63 characters of `[A-Za-z0-9._:-]`,
    /// so that ids are safe in store keys, URLs and label values.
    pub fn identifier(&mut self, pointer: &str, value: &str) -> bool {
        if !self.length(pointer, value.chars().count(), 1, 63) {
            return false;
        }
        let ok = value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
        if !ok {
            self.add(
                pointer,
                rule::FORMAT,
                format!("{value:?} may only contain ASCII letters, digits, '.', '_', ':' and '-'"),
            );
        }
        ok
    }

    /// Checks a security domain: 1..=63 characters of `[A-Za-z0-9_-]`, the
    /// same alphabet as a certificate's domain label, so that a domain can
    /// always be matched against the client identity.
    pub fn security_domain(&mut self, pointer: &str, value: &str) -> bool {
        if !self.length(pointer, value.chars().count(), 1, 63) {
            return false;
        }
        let ok = value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
        if !ok {
            self.add(
                pointer,
                rule::FORMAT,
                format!("{value:?} may only contain ASCII letters, digits, '_' and '-'"),
            );
        }
        ok
    }

    /// Checks a label map: keys 1..=63 and values 0..=63 characters of
    /// `[A-Za-z0-9._/-]`, at most 64 labels. Kubernetes-like bounds keep
    /// selectors (`key=value,…` in a query string) unambiguous.
    pub fn labels(&mut self, pointer_base: &str, labels: &BTreeMap<String, String>) {
        const MAX_LABELS: usize = 64;
        if labels.len() > MAX_LABELS {
            self.add(
                pointer_base,
                rule::LENGTH,
                format!("at most {MAX_LABELS} labels, got {}", labels.len()),
            );
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-');
        for (key, value) in labels {
            let at = pointer(pointer_base, key);
            if !(1..=63).contains(&key.chars().count()) || !key.chars().all(allowed) {
                self.add(
                    &at,
                    rule::FORMAT,
                    "label keys must be 1 to 63 characters of ASCII letters, digits, '.', '_', '/' and '-'",
                );
            }
            if value.chars().count() > 63 || !value.chars().all(allowed) {
                self.add(
                    &at,
                    rule::FORMAT,
                    "label values must be at most 63 characters of ASCII letters, digits, '.', '_', '/' and '-'",
                );
            }
        }
    }

    /// Checks an even-length hexadecimal string of `min_bytes..=max_bytes`
    /// bytes (nonces, digests).
    pub fn hex(&mut self, pointer: &str, value: &str, min_bytes: usize, max_bytes: usize) -> bool {
        if !value.chars().all(|c| c.is_ascii_hexdigit()) || !value.len().is_multiple_of(2) {
            self.add(
                pointer,
                rule::FORMAT,
                "must be an even number of hexadecimal digits",
            );
            return false;
        }
        let bytes = value.len() / 2;
        let ok = (min_bytes..=max_bytes).contains(&bytes);
        if !ok {
            self.add(
                pointer,
                rule::LENGTH,
                format!("must encode between {min_bytes} and {max_bytes} bytes, got {bytes}"),
            );
        }
        ok
    }

    /// Adds the violations of a nested value; their pointers are relative to
    /// `prefix`.
    pub fn nested(&mut self, prefix: &str, result: Result<(), Vec<FieldViolation>>) {
        if let Err(items) = result {
            self.items.extend(items.into_iter().map(|mut v| {
                v.pointer = format!("{prefix}{}", v.pointer);
                v
            }));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn into_result(self) -> Result<(), Vec<FieldViolation>> {
        if self.items.is_empty() {
            Ok(())
        } else {
            Err(self.items)
        }
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_escapes_reference_tokens() {
        assert_eq!(pointer("", "qos"), "/qos");
        assert_eq!(pointer("/labels", "a/b~c"), "/labels/a~1b~0c");
        assert_eq!(pointer("/lambda_nm", 3), "/lambda_nm/3");
    }

    #[test]
    fn range_rejects_nan_and_bounds() {
        let mut v = Violations::new();
        assert!(v.range("/a", 1.0, 0.0, 2.0));
        assert!(!v.range("/b", f64::NAN, 0.0, 2.0));
        assert!(!v.above("/c", 0.0, 0.0, 2.0));
        assert!(v.above("/d", 2.0, 0.0, 2.0));
        let errs = v.into_result().unwrap_err();
        let pointers: Vec<_> = errs.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/b", "/c"]);
        assert!(errs.iter().all(|e| e.rule == rule::RANGE));
    }

    #[test]
    fn nested_prefixes_pointers() {
        let mut v = Violations::new();
        v.nested(
            "/qos",
            Err(vec![FieldViolation::new("/priority", rule::ENUM, "x")]),
        );
        assert_eq!(v.into_result().unwrap_err()[0].pointer, "/qos/priority");
    }

    #[test]
    fn identifiers_and_domains() {
        let mut v = Violations::new();
        assert!(v.identifier("/id", "cxl-dev-001"));
        assert!(!v.identifier("/id", ""));
        assert!(!v.identifier("/id", "a b"));
        assert!(v.security_domain("/d", "tenantA"));
        assert!(!v.security_domain("/d", "tenant.A"));
        assert!(!v.security_domain("/d", &"x".repeat(64)));
        assert!(v.hex("/n", "00ff", 2, 2));
        assert!(!v.hex("/n", "0f0", 1, 2));
        assert!(!v.hex("/n", "zz", 1, 2));
        assert!(!v.hex("/n", "00", 2, 2));
    }

    #[test]
    fn labels_are_checked_per_key() {
        let mut v = Violations::new();
        let labels = BTreeMap::from([
            ("team".to_string(), "photonics".to_string()),
            ("bad key".to_string(), "ok".to_string()),
            ("k".to_string(), "x".repeat(64)),
        ]);
        v.labels("/labels", &labels);
        let errs = v.into_result().unwrap_err();
        let pointers: Vec<_> = errs.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/labels/bad key", "/labels/k"]);
    }
}
