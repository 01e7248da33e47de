//! Time-windowed bandwidth policies (`/v1/policies`), e.g. "min 150 GB/s
//! 20:00–08:00" (RFC core primitive *Policy*).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ffm::MAX_FLOOR_GBS;
use crate::meta::ResourceMeta;
use crate::problem::FieldViolation;
use crate::units::GigabytesPerSecond;
use crate::validate::{Validate, Violations, pointer, rule};

/// Minutes in a day.
pub const MINUTES_PER_DAY: u16 = 24 * 60;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

/// Which bundles of the policy's security domain it applies to. An empty
/// selector selects all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicySelector {
    /// Every label must match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(schema_with = crate::schema::labels)]
    pub match_labels: BTreeMap<String, String>,
    /// Bundle ids; any of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = crate::schema::identifiers)]
    pub ids: Vec<String>,
}

impl PolicySelector {
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.ids.is_empty()
    }
}

/// A daily window in local time. `end` before `start` wraps past midnight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyWindow {
    /// `HH:MM`, 24-hour.
    #[schema(example = "20:00", pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub start: String,
    /// `HH:MM`, 24-hour, exclusive.
    #[schema(example = "08:00", pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub end: String,
    /// IANA zone name, e.g. `Europe/Paris` or `UTC`.
    #[schema(
        example = "UTC",
        pattern = "^(UTC|GMT|Etc/UTC|Etc/GMT|Etc/GMT\\+([0-9]|1[0-2])|Etc/GMT-([0-9]|1[0-4]))$"
    )]
    pub time_zone: String,
    /// Days on which the window *starts*; every day if empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = crate::schema::weekdays)]
    pub days: Vec<Weekday>,
}

/// Parses `HH:MM` (two digits each, 00:00..=23:59) into minutes after
/// midnight.
pub fn parse_hhmm(text: &str) -> Option<u16> {
    let bytes = text.as_bytes();
    if bytes.len() != 5 || bytes[2] != b':' {
        return None;
    }
    let two = |a: u8, b: u8| -> Option<u16> {
        (a.is_ascii_digit() && b.is_ascii_digit())
            .then(|| u16::from(a - b'0') * 10 + u16::from(b - b'0'))
    };
    let hours = two(bytes[0], bytes[1])?;
    let minutes = two(bytes[3], bytes[4])?;
    (hours < 24 && minutes < 60).then_some(hours * 60 + minutes)
}

/// Checks the shape of an IANA time zone name (`Area/Location[/Sub]`,
/// `UTC`, `Etc/GMT+5`). Whether the zone exists needs the tz database, which
/// this pure crate does not carry; the service checks that.
pub fn is_time_zone_shaped(name: &str) -> bool {
    fixed_offset_minutes(name).is_some()
}

/// The offset from UTC, in minutes east, of the zones a policy may name:
/// `UTC` (also `GMT`, `Etc/UTC`, `Etc/GMT`) and `Etc/GMT+N` (N = 0..=12) or
/// `Etc/GMT-N` (N = 0..=14), with POSIX's sign (`Etc/GMT+5` is UTC−5). No
/// other spelling is accepted, so the API document's pattern is exact.
pub fn fixed_offset_minutes(name: &str) -> Option<i16> {
    if matches!(name, "UTC" | "GMT" | "Etc/UTC" | "Etc/GMT") {
        return Some(0);
    }
    let rest = name.strip_prefix("Etc/GMT")?;
    let (sign, digits) = match rest.as_bytes().first()? {
        b'+' => (-1, &rest[1..]),
        b'-' => (1, &rest[1..]),
        _ => return None,
    };
    let canonical = match digits.len() {
        1 => true,
        2 => !digits.starts_with('0'),
        _ => false,
    };
    if !canonical || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i16 = digits.parse().ok()?;
    let limit = if sign < 0 { 12 } else { 14 };
    (hours <= limit).then_some(sign * hours * 60)
}

impl PolicyWindow {
    /// Whether local minute-of-day `minute` lies in the window (start
    /// inclusive, end exclusive), ignoring `days`. `None` if the window is
    /// malformed.
    pub fn contains_minute(&self, minute: u16) -> Option<bool> {
        let start = parse_hhmm(&self.start)?;
        let end = parse_hhmm(&self.end)?;
        Some(if start < end {
            (start..end).contains(&minute)
        } else {
            minute >= start || minute < end
        })
    }

    /// Length of the window in minutes (`None` if malformed).
    pub fn duration_minutes(&self) -> Option<u16> {
        let start = parse_hhmm(&self.start)?;
        let end = parse_hhmm(&self.end)?;
        Some((end + MINUTES_PER_DAY - start) % MINUTES_PER_DAY)
    }
}

impl Validate for PolicyWindow {
    fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        let start = parse_hhmm(&self.start);
        let end = parse_hhmm(&self.end);
        for (at, value, parsed) in [("/start", &self.start, start), ("/end", &self.end, end)] {
            if parsed.is_none() {
                v.add(
                    at,
                    rule::FORMAT,
                    format!("{value:?} is not a 24-hour time HH:MM (00:00 to 23:59)"),
                );
            }
        }
        if start.is_some() && start == end {
            // Equal bounds could mean "never" or "always"; make the client say.
            v.add(
                "/end",
                rule::COMPATIBLE,
                "end equals start; use 00:00 to 23:59 for a whole day",
            );
        }
        if !is_time_zone_shaped(&self.time_zone) {
            v.add(
                "/time_zone",
                rule::FORMAT,
                format!(
                    "{:?} is not a supported time zone: UTC, or a fixed offset Etc/GMT+N (0..=12) or Etc/GMT-N (0..=14); no tz database is loaded",
                    self.time_zone
                ),
            );
        }
        for (i, day) in self.days.iter().enumerate() {
            if self.days[..i].contains(day) {
                v.add(
                    pointer("/days", i),
                    rule::UNIQUE,
                    format!("{day:?} is listed twice"),
                );
            }
        }
        v.into_result()
    }
}

/// Body of `POST /v1/policies`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    /// 1..=63 characters, unique within the security domain.
    #[schema(example = "nightly-batch", pattern = "^[A-Za-z0-9._:-]{1,63}$")]
    pub name: String,
    #[schema(example = "tenantA", pattern = "^[A-Za-z0-9_-]{1,63}$")]
    pub security_domain: String,
    /// Reserved: this ledger admits whole-domain policies only, so the
    /// selector must be empty (or absent); a non-empty one is a 422.
    #[schema(schema_with = crate::schema::empty_selector)]
    #[serde(default)]
    pub target: PolicySelector,
    /// Bandwidth floor while the window is open, > 0.
    #[serde(rename = "min_GBs")]
    #[schema(example = 150, value_type = f64, exclusive_minimum = 0, maximum = 10000)]
    pub min_gbs: GigabytesPerSecond,
    pub window: PolicyWindow,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(schema_with = crate::schema::labels)]
    pub labels: BTreeMap<String, String>,
}

impl Validate for PolicyRequest {
    fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        v.identifier("/name", &self.name);
        v.security_domain("/security_domain", &self.security_domain);
        v.labels("/target/match_labels", &self.target.match_labels);
        for (i, id) in self.target.ids.iter().enumerate() {
            v.identifier(&pointer("/target/ids", i), id);
        }
        v.above("/min_GBs", self.min_gbs.get(), 0.0, MAX_FLOOR_GBS);
        v.nested("/window", self.window.validate());
        v.labels("/labels", &self.labels);
        v.into_result()
    }
}

/// A policy as the server returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Policy {
    #[schema(example = "pol-2b7d")]
    pub id: String,
    pub name: String,
    pub security_domain: String,
    #[serde(default)]
    pub target: PolicySelector,
    #[serde(rename = "min_GBs")]
    pub min_gbs: GigabytesPerSecond,
    pub window: PolicyWindow,
    pub created_at: DateTime<Utc>,
    #[serde(flatten)]
    pub meta: ResourceMeta,
}

impl Policy {
    pub fn request(&self) -> PolicyRequest {
        PolicyRequest {
            name: self.name.clone(),
            security_domain: self.security_domain.clone(),
            target: self.target.clone(),
            min_gbs: self.min_gbs,
            window: self.window.clone(),
            labels: self.meta.labels.clone(),
        }
    }

    pub fn new(id: impl Into<String>, request: PolicyRequest, now: DateTime<Utc>) -> Self {
        let PolicyRequest {
            name,
            security_domain,
            target,
            min_gbs,
            window,
            labels,
        } = request;
        Self {
            id: id.into(),
            name,
            security_domain,
            target,
            min_gbs,
            window,
            created_at: now,
            meta: ResourceMeta::new(now).with_labels(labels),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start: &str, end: &str) -> PolicyWindow {
        PolicyWindow {
            start: start.into(),
            end: end.into(),
            time_zone: "UTC".into(),
            days: vec![],
        }
    }

    #[test]
    fn hhmm() {
        assert_eq!(parse_hhmm("00:00"), Some(0));
        assert_eq!(parse_hhmm("20:00"), Some(1200));
        assert_eq!(parse_hhmm("23:59"), Some(1439));
        for bad in [
            "24:00", "8:00", "08:60", "0800", "08:00:00", "ab:cd", "", "+1:00",
        ] {
            assert_eq!(parse_hhmm(bad), None, "{bad}");
        }
    }

    #[test]
    fn windows_wrap_midnight() {
        let w = window("20:00", "08:00");
        assert_eq!(w.contains_minute(21 * 60), Some(true));
        assert_eq!(w.contains_minute(7 * 60 + 59), Some(true));
        assert_eq!(w.contains_minute(8 * 60), Some(false));
        assert_eq!(w.contains_minute(12 * 60), Some(false));
        assert_eq!(w.duration_minutes(), Some(12 * 60));
        let w = window("08:00", "20:00");
        assert_eq!(w.contains_minute(12 * 60), Some(true));
        assert_eq!(w.contains_minute(21 * 60), Some(false));
        assert_eq!(w.duration_minutes(), Some(12 * 60));
    }

    #[test]
    fn time_zone_shapes() {
        for ok in [
            "UTC",
            "GMT",
            "Etc/GMT+5",
            "Etc/GMT-14",
            "Etc/GMT+12",
            "Etc/GMT-0",
        ] {
            assert!(is_time_zone_shaped(ok), "{ok}");
        }
        assert_eq!(fixed_offset_minutes("Etc/GMT+5"), Some(-300));
        assert_eq!(fixed_offset_minutes("Etc/GMT-14"), Some(14 * 60));
        for bad in [
            "",
            "Europe/Paris",
            "Europe/",
            "Etc/GMT5",
            "Etc/GMT+05",
            "Etc/GMT+13",
            "Etc/GMT-15",
            "Etc/GMT++1",
            "../etc/passwd",
            "+01:00",
        ] {
            assert!(!is_time_zone_shaped(bad), "{bad}");
        }
    }
}
