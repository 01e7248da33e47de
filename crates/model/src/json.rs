//! Strict JSON decoding of request bodies into [`Problem`]s that name the
//! field at fault.
//!
//! Request types carry `#[serde(deny_unknown_fields)]`, so a misspelt field
//! (`"colour"` for `"priority"`) is an error instead of a silently ignored
//! value; `serde_path_to_error` records where in the document decoding
//! stopped, which becomes the JSON pointer of the violation.

use serde::de::DeserializeOwned;
use serde_path_to_error::{Path, Segment};

use crate::problem::{FieldViolation, Problem};

// LARGE_ERR: `Problem` is ~150 bytes, which trips `clippy::result_large_err`.
// Decoding errors are the cold path of a request that is about to be answered
// with that very `Problem`, so boxing would only add an allocation and a
// deref at every call site.
use crate::validate::{Validate, pointer, rule};

/// Decodes `body` as `T`, rejecting unknown fields.
///
/// * empty body, invalid JSON or trailing bytes → 400 with line and column;
/// * well-formed JSON of the wrong shape (type, missing or unknown field,
///   unknown enum value) → 422 with one [`FieldViolation`] whose pointer
///   names the field.
///
/// It does not run [`Validate`]; see [`from_slice_validated`].
///
/// Known leniency: serde's derived structs also accept a JSON array of the
/// fields in declaration order; [`from_body_strict`] refuses that for
/// request bodies.
#[allow(clippy::result_large_err)] // see LARGE_ERR below
pub fn from_slice_strict<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::bad_request(
            "the request body is empty; expected a JSON document",
        ));
    }
    // Most bodies are well formed: decode them without tracking the path,
    // which costs an allocation per key; only a failure is decoded again
    // to name the field at fault. (`from_slice` refuses trailing bytes,
    // as the tracking decode below does.)
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        // Decoding stops at the first shape error, possibly before a syntax
        // error further on. Malformed JSON is the more basic fault (400, not
        // 422), so look for one; this second parse only runs on failure.
        if let Err(syntax) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            return problem_from_error(String::new(), syntax);
        }
        problem_from_error(json_pointer(e.path()), e.into_inner())
    })?;
    // Trailing bytes after the document (`{...}{...}`) are a syntax error too.
    de.end().map_err(|e| problem_from_error(String::new(), e))?;
    Ok(value)
}

/// [`from_slice_strict`] for a request body, which in this API is always a
/// JSON object: a top-level array is a 422 even where serde's derived struct
/// would take it as the fields in declaration order
/// (`[4096,"T1",0,"none",false,"tenantA"]` would be an alloc). Known
/// leniency left: a *nested* struct (a corridor's `qos`) still accepts that
/// sequence form.
#[allow(clippy::result_large_err)] // see LARGE_ERR below
pub fn from_body_strict<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[')
        && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
    {
        return Err(Problem::validation(vec![FieldViolation {
            pointer: String::new(),
            rule: rule::TYPE.into(),
            message: "expected a JSON object, got an array".into(),
        }]));
    }
    from_slice_strict(body)
}

/// [`from_slice_strict`] followed by [`Validate::validate`]; rule violations
/// become one 422 problem listing all of them.
#[allow(clippy::result_large_err)] // see LARGE_ERR below
pub fn from_slice_validated<T: DeserializeOwned + Validate>(body: &[u8]) -> Result<T, Problem> {
    let value: T = from_slice_strict(body)?;
    value.validate().map_err(Problem::validation)?;
    Ok(value)
}

/// [`from_slice_strict`] for text.
#[allow(clippy::result_large_err)] // see LARGE_ERR below
pub fn from_str_strict<T: DeserializeOwned>(body: &str) -> Result<T, Problem> {
    from_slice_strict(body.as_bytes())
}

/// Turns a path (`qos.colour`, `lambda_nm[3]`) into an RFC 6901 pointer.
pub fn json_pointer(path: &Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        out = match segment {
            Segment::Seq { index } => pointer(&out, index),
            Segment::Map { key } => pointer(&out, key),
            Segment::Enum { variant } => pointer(&out, variant),
            // The position is unknown from here on; the parent is the best
            // we can name.
            Segment::Unknown => break,
        };
    }
    out
}

fn problem_from_error(at: String, inner: serde_json::Error) -> Problem {
    let message = message_without_position(&inner);
    match inner.classify() {
        serde_json::error::Category::Data => {
            Problem::validation(vec![violation_from_message(at, message)])
        }
        serde_json::error::Category::Eof | serde_json::error::Category::Syntax => {
            Problem::bad_request(format!(
                "malformed JSON at line {} column {}: {message}",
                inner.line(),
                inner.column()
            ))
        }
        serde_json::error::Category::Io => {
            Problem::bad_request(format!("the request body could not be read: {message}"))
        }
    }
}

/// serde_json appends " at line L column C"; the pointer says it better.
fn message_without_position(error: &serde_json::Error) -> String {
    let full = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    full.strip_suffix(&suffix).unwrap_or(&full).to_string()
}

/// Classifies serde's (stable, documented) data-error messages into rules.
fn violation_from_message(at: String, message: String) -> FieldViolation {
    // `missing field` and `duplicate field` are reported at the parent
    // object; point at the field itself.
    let field_in_parent = |prefix: &str| -> Option<String> {
        let rest = message.strip_prefix(prefix)?;
        let name = rest.strip_prefix('`')?.split('`').next()?;
        Some(pointer(&at, name))
    };
    if let Some(p) = field_in_parent("missing field ") {
        return FieldViolation::new(p, rule::REQUIRED, message);
    }
    if let Some(p) = field_in_parent("duplicate field ") {
        return FieldViolation::new(p, rule::DUPLICATE, message);
    }
    let rule = if message.starts_with("unknown field") {
        rule::UNKNOWN_FIELD
    } else if message.starts_with("unknown variant") {
        rule::ENUM
    } else if message.starts_with("invalid type") {
        rule::TYPE
    } else if message.starts_with("invalid length") {
        rule::LENGTH
    } else if message.starts_with("invalid value: integer") {
        // e.g. -1 for an unsigned field, or 300 for a u8.
        rule::RANGE
    } else {
        // Custom errors (timestamps, …) are parse failures of a string.
        rule::FORMAT
    };
    FieldViolation::new(at, rule, message)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::problem::ProblemKind;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // fields exist to be decoded, not read
    struct Inner {
        a: u8,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
        list: Vec<u32>,
    }

    fn violation(body: &str) -> FieldViolation {
        let p = from_str_strict::<Outer>(body).unwrap_err();
        assert_eq!(p.kind(), Some(ProblemKind::Validation), "{p:?}");
        assert_eq!(p.errors.len(), 1);
        p.errors[0].clone()
    }

    #[test]
    fn data_errors_name_the_field() {
        let v = violation(r#"{"inner":{"a":1,"b":2},"list":[]}"#);
        assert_eq!(
            (v.pointer.as_str(), v.rule.as_str()),
            ("/inner/b", "unknown_field")
        );
        assert!(v.message.contains("expected `a`"), "{}", v.message);

        let v = violation(r#"{"inner":{},"list":[]}"#);
        assert_eq!(
            (v.pointer.as_str(), v.rule.as_str()),
            ("/inner/a", "required")
        );

        let v = violation(r#"{"inner":{"a":1},"list":[1,"x"]}"#);
        assert_eq!((v.pointer.as_str(), v.rule.as_str()), ("/list/1", "type"));

        let v = violation(r#"{"inner":{"a":300},"list":[]}"#);
        assert_eq!((v.pointer.as_str(), v.rule.as_str()), ("/inner/a", "range"));

        let v = violation(r#"{"inner":{"a":1},"inner":{"a":1},"list":[]}"#);
        assert_eq!(
            (v.pointer.as_str(), v.rule.as_str()),
            ("/inner", "duplicate")
        );
        assert!(!v.message.contains("line"));
    }

    #[test]
    fn syntax_errors_are_bad_requests_with_position() {
        for body in [
            "",
            "  \n",
            "{",
            "{\"inner\":}",
            r#"{"inner":{"a":1},"list":[]} {}"#,
            "{\"inner\":{\"a\":1},\"list\":[]} x",
        ] {
            let p = from_str_strict::<Outer>(body).unwrap_err();
            assert_eq!(p.status, 400, "{body:?}: {p:?}");
            assert!(p.errors.is_empty());
        }
        let p = from_str_strict::<Outer>("{\n  \"inner\": ,").unwrap_err();
        assert!(p.detail.contains("line 2 column 12"), "{}", p.detail);
    }

    #[test]
    fn escaped_keys_in_pointers() {
        let v = violation(r#"{"inner":{"a":1,"x/y~":2},"list":[]}"#);
        assert_eq!(v.pointer, "/inner/x~1y~0");
    }
}
