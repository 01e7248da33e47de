//! Label selectors: `key=value`, `key!=value` and bare `key` (exists),
//! comma-separated and all required, as in Kubernetes' equality selectors.

use std::collections::BTreeMap;

use crate::ServiceError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
}

/// A parsed `label_selector` query parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses `term(,term)*`, where a term is `key`, `key=value`,
    /// `key==value` or `key!=value`; keys are 1-63 and values 0-63
    /// characters of `[A-Za-z0-9._/-]` (the label alphabet), with no
    /// spaces. The empty string selects everything. The grammar is exactly
    /// [`SELECTOR_PATTERN`], which the API document publishes.
    pub fn parse(text: &str) -> Result<Self, ServiceError> {
        let mut requirements = Vec::new();
        if text.is_empty() {
            return Ok(Self { requirements });
        }
        for term in text.split(',') {
            let requirement = if let Some((key, value)) = term.split_once("!=") {
                Requirement::NotEquals(checked_key(key)?, checked_value(value)?)
            } else if let Some((key, value)) = term.split_once('=') {
                let value = value.strip_prefix('=').unwrap_or(value);
                Requirement::Equals(checked_key(key)?, checked_value(value)?)
            } else {
                Requirement::Exists(checked_key(term)?)
            };
            requirements.push(requirement);
        }
        Ok(Self { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        let empty = BTreeMap::new();
        let labels = labels.unwrap_or(&empty);
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::Exists(k) => labels.contains_key(k),
        })
    }
}

/// The selector grammar of [`LabelSelector::parse`], for the API document.
pub const SELECTOR_PATTERN: &str = "^([A-Za-z0-9._/-]{1,63}((!=|==?)[A-Za-z0-9._/-]{0,63})?(,[A-Za-z0-9._/-]{1,63}((!=|==?)[A-Za-z0-9._/-]{0,63})?)*)?$";

fn label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')
}

fn checked_key(key: &str) -> Result<String, ServiceError> {
    if (1..=63).contains(&key.len()) && key.chars().all(label_char) {
        Ok(key.to_string())
    } else {
        Err(ServiceError::InvalidParameter {
            parameter: "label_selector",
            message: format!(
                "label key {key:?} must be 1-63 characters of letters, digits, '-', '_', '.', '/' (terms are key, key=value, key==value or key!=value, separated by commas without spaces)"
            ),
        })
    }
}

fn checked_value(value: &str) -> Result<String, ServiceError> {
    if value.len() <= 63 && value.chars().all(label_char) {
        Ok(value.to_string())
    } else {
        Err(ServiceError::InvalidParameter {
            parameter: "label_selector",
            message: format!(
                "label value {value:?} must be at most 63 characters of letters, digits, '-', '_', '.', '/'"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn equality_inequality_and_existence() {
        let selector = LabelSelector::parse("rack=r1,tier!=t3,team").unwrap();
        assert!(selector.matches(Some(&labels(&[("rack", "r1"), ("team", "x")]))));
        assert!(!selector.matches(Some(&labels(&[
            ("rack", "r1"),
            ("tier", "t3"),
            ("team", "x")
        ]))));
        assert!(!selector.matches(Some(&labels(&[("rack", "r2"), ("team", "x")]))));
        assert!(!selector.matches(None));
    }

    #[test]
    fn double_equals_is_equality() {
        let selector = LabelSelector::parse("rack==r1").unwrap();
        assert!(selector.matches(Some(&labels(&[("rack", "r1")]))));
    }

    #[test]
    fn empty_selector_matches_everything() {
        assert!(LabelSelector::parse("").unwrap().matches(None));
    }

    #[test]
    fn bad_key_is_rejected_naming_the_parameter() {
        for bad in ["bad key=1", "a=b c", "a,,b", "a=b,", " a", "k=é", "a!=b!=c"] {
            let err = LabelSelector::parse(bad).unwrap_err();
            assert!(err.to_string().contains("label_selector"), "{bad}: {err}");
        }
    }
}
