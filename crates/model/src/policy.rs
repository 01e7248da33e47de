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
    /// A zone of the IANA tz database, e.g. `Europe/Berlin`,
    /// `America/New_York`, `UTC` or `Etc/GMT+5` (the database is compiled
    /// into corridord; a name it does not have is a 422, rule `exists`). The
    /// window follows the zone's wall clock, daylight saving time included:
    /// a local time the clock skips is passed when the clock jumps over it,
    /// and a repeated local time counts once, at its first occurrence.
    /// Admission counts a window in a zone with daylight saving time at
    /// every offset the zone takes.
    #[schema(example = "Europe/Berlin", min_length = 1, max_length = 64)]
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

/// The zone `name` names in the IANA tz database compiled into this crate
/// (jiff's bundled copy: every host decides alike, whatever its own
/// `/usr/share/zoneinfo` holds). `None` for a name the database does not
/// have.
pub fn time_zone(name: &str) -> Option<jiff::tz::TimeZone> {
    // The database looks names up case-insensitively; a policy keeps the
    // spelling it was given.
    jiff::tz::TimeZone::get(name).ok()
}

/// Whether `name` is a zone of the IANA tz database (`Europe/Berlin`,
/// `America/New_York`, `UTC`, `Etc/GMT+5`, …).
pub fn is_known_time_zone(name: &str) -> bool {
    time_zone(name).is_some()
}

/// The smallest and the largest UTC offset, in minutes east, that zone
/// `name` takes from `from` to `until` (both offsets equal for a zone with
/// no daylight saving time then). `None` for an unknown zone.
pub fn utc_offset_range(
    name: &str,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Option<(i16, i16)> {
    let tz = time_zone(name)?;
    let from = jiff::Timestamp::from_second(from.timestamp()).ok()?;
    let until = jiff::Timestamp::from_second(until.timestamp()).ok()?;
    let minutes = |o: jiff::tz::Offset| i16::try_from(o.seconds().div_euclid(60)).ok();
    let first = minutes(tz.to_offset(from))?;
    let mut range = (first, first);
    for transition in tz.following(from) {
        if transition.timestamp() > until {
            break;
        }
        let m = minutes(transition.offset())?;
        range = (range.0.min(m), range.1.max(m));
    }
    Some(range)
}

fn weekday(day: jiff::civil::Weekday) -> Weekday {
    use jiff::civil::Weekday as J;
    match day {
        J::Monday => Weekday::Mon,
        J::Tuesday => Weekday::Tue,
        J::Wednesday => Weekday::Wed,
        J::Thursday => Weekday::Thu,
        J::Friday => Weekday::Fri,
        J::Saturday => Weekday::Sat,
        J::Sunday => Weekday::Sun,
    }
}

impl Weekday {
    /// The day before.
    pub fn previous(self) -> Self {
        match self {
            Self::Mon => Self::Sun,
            Self::Tue => Self::Mon,
            Self::Wed => Self::Tue,
            Self::Thu => Self::Wed,
            Self::Fri => Self::Thu,
            Self::Sat => Self::Fri,
            Self::Sun => Self::Sat,
        }
    }
}

/// Whether a daily window `start`–`end` (minutes of the local day; `end`
/// before `start` wraps past midnight) that starts on the days `starts_on`
/// accepts is in force at `instant` in zone `zone`. `None` for an unknown
/// zone.
///
/// The instant is converted to the zone's wall-clock time, and the window
/// holds while the wall clock is inside it. Daylight saving time:
///
/// - a **skipped** local time (Europe/Berlin 2026-03-29 02:00–03:00 does not
///   exist) is passed when the clock jumps over it: a window starting or
///   ending at 02:30 that night starts or ends at 03:00 CEST (01:00 UTC),
///   and a window lying wholly inside the gap does not occur that night;
/// - a **repeated** local time (2026-10-25 02:00–03:00 happens in CEST and
///   again in CET) counts once, at its first occurrence: a window starting
///   or ending at 02:30 starts or ends at 02:30 CEST (00:30 UTC), and while
///   the clock repeats the hour the window stays as it was at the end of the
///   first pass (open for 02:30–06:00, which thus lasts an hour longer that
///   night; closed for 20:00–02:30, which is not reopened).
///
/// A window therefore occurs at most once a day and is never cut in two.
pub fn window_in_force(
    start: u16,
    end: u16,
    starts_on: impl Fn(Weekday) -> bool,
    zone: &str,
    instant: DateTime<Utc>,
) -> Option<bool> {
    let tz = time_zone(zone)?;
    let ts = jiff::Timestamp::from_second(instant.timestamp()).ok()?;
    let mut at = ts;
    // In the second pass of a repeated hour, hold the state of the first
    // pass's last second.
    let next = ts.checked_add(jiff::SignedDuration::from_secs(1)).ok()?;
    if let Some(transition) = tz.preceding(next).next() {
        let changed = transition.timestamp();
        let before = changed
            .checked_sub(jiff::SignedDuration::from_secs(1))
            .ok()
            .map(|t| tz.to_offset(t).seconds())?;
        let repeated = i64::from(before) - i64::from(transition.offset().seconds());
        if repeated > 0 && ts.as_second() < changed.as_second() + repeated {
            at = changed
                .checked_sub(jiff::SignedDuration::from_secs(1))
                .ok()?;
        }
    }
    let local = tz.to_datetime(at);
    let minute = u16::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute())).ok()?;
    let day = weekday(local.weekday());
    Some(if start < end {
        (start..end).contains(&minute) && starts_on(day)
    } else {
        (minute >= start && starts_on(day)) || (minute < end && starts_on(day.previous()))
    })
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

    /// Whether the window is in force at `instant` (its days included), in
    /// its own time zone: see [`window_in_force`] for what daylight saving
    /// time does to it. `None` if the window is malformed.
    pub fn in_force_at(&self, instant: DateTime<Utc>) -> Option<bool> {
        let start = parse_hhmm(&self.start)?;
        let end = parse_hhmm(&self.end)?;
        window_in_force(
            start,
            end,
            |d| self.days.is_empty() || self.days.contains(&d),
            &self.time_zone,
            instant,
        )
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
        if !is_known_time_zone(&self.time_zone) {
            v.add(
                "/time_zone",
                rule::EXISTS,
                format!(
                    "{:?} is not a time zone of the IANA tz database (e.g. Europe/Berlin, America/New_York, UTC, Etc/GMT+5)",
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
    fn any_iana_zone_is_accepted_and_unknown_ones_refused_on_the_field() {
        for ok in [
            "UTC",
            "GMT",
            "Etc/UTC",
            "Etc/GMT+5",
            "Etc/GMT-14",
            "Europe/Berlin",
            "Europe/Paris",
            "America/New_York",
            "Asia/Kolkata",
            "Australia/Lord_Howe",
        ] {
            assert!(is_known_time_zone(ok), "{ok}");
            let mut w = window("20:00", "08:00");
            w.time_zone = ok.into();
            assert_eq!(w.validate(), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "Europe/",
            "Mars/Olympus_Mons",
            "Etc/GMT+13",
            "../etc/passwd",
            "/usr/share/zoneinfo/Europe/Berlin",
            "+01:00",
        ] {
            assert!(!is_known_time_zone(bad), "{bad}");
            let mut w = window("20:00", "08:00");
            w.time_zone = bad.into();
            let errors = w.validate().unwrap_err();
            assert_eq!(errors.len(), 1, "{bad}: {errors:?}");
            assert_eq!(errors[0].pointer, "/time_zone");
            assert_eq!(errors[0].rule, rule::EXISTS);
        }
    }

    fn berlin(start: &str, end: &str) -> PolicyWindow {
        PolicyWindow {
            time_zone: "Europe/Berlin".into(),
            ..window(start, end)
        }
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    /// Minutes (UTC, one per minute) from `from` for `minutes` in which
    /// the window is in force, as `(first, last + 1)` runs.
    fn runs(w: &PolicyWindow, from: DateTime<Utc>, minutes: i64) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut open: Option<DateTime<Utc>> = None;
        for m in 0..=minutes {
            let t = from + chrono::Duration::minutes(m);
            let inside = m < minutes && w.in_force_at(t).unwrap();
            match (inside, open) {
                (true, None) => open = Some(t),
                (false, Some(a)) => {
                    out.push((
                        a.format("%d %H:%M").to_string(),
                        t.format("%d %H:%M").to_string(),
                    ));
                    open = None;
                }
                _ => {}
            }
        }
        out
    }

    #[test]
    fn a_berlin_window_follows_winter_and_summer_time() {
        let w = berlin("20:00", "08:00");
        // Winter (CET, UTC+1): 20:00 local is 19:00 UTC.
        assert_eq!(w.in_force_at(utc(2026, 1, 15, 18, 59)), Some(false));
        assert_eq!(w.in_force_at(utc(2026, 1, 15, 19, 0)), Some(true));
        assert_eq!(w.in_force_at(utc(2026, 1, 16, 6, 59)), Some(true));
        assert_eq!(w.in_force_at(utc(2026, 1, 16, 7, 0)), Some(false));
        // Summer (CEST, UTC+2): 20:00 local is 18:00 UTC.
        assert_eq!(w.in_force_at(utc(2026, 7, 15, 17, 59)), Some(false));
        assert_eq!(w.in_force_at(utc(2026, 7, 15, 18, 0)), Some(true));
        assert_eq!(w.in_force_at(utc(2026, 7, 16, 5, 59)), Some(true));
        assert_eq!(w.in_force_at(utc(2026, 7, 16, 6, 0)), Some(false));
        // Days are local days: a Friday-only night window (2026-07-17 is a
        // Friday) holds from Friday 20:00 to Saturday 08:00 local.
        let fri = PolicyWindow {
            days: vec![Weekday::Fri],
            ..w.clone()
        };
        assert_eq!(fri.in_force_at(utc(2026, 7, 16, 18, 0)), Some(false));
        assert_eq!(fri.in_force_at(utc(2026, 7, 17, 18, 0)), Some(true));
        assert_eq!(fri.in_force_at(utc(2026, 7, 18, 5, 59)), Some(true));
        assert_eq!(fri.in_force_at(utc(2026, 7, 18, 6, 0)), Some(false));
        let unknown = PolicyWindow {
            time_zone: "Mars/Olympus_Mons".into(),
            ..w
        };
        assert_eq!(unknown.in_force_at(utc(2026, 7, 15, 18, 0)), None);
    }

    /// 2026-03-29 in Berlin: 02:00 CET jumps to 03:00 CEST at 01:00 UTC, so
    /// 02:30 does not exist. A bound at 02:30 is passed when the clock jumps
    /// over it (03:00 CEST, 01:00 UTC); a window inside the gap does not occur.
    #[test]
    fn spring_forward_skipped_times_are_passed_when_the_clock_jumps() {
        let from = utc(2026, 3, 28, 12, 0);
        let day = 24 * 60;
        // Starting at 02:30: opens at 03:00 CEST = 01:00 UTC, closes at
        // 06:00 CEST = 04:00 UTC (a day before: 01:30–05:00 UTC in CET).
        assert_eq!(
            runs(&berlin("02:30", "06:00"), from, day),
            vec![("29 01:00".into(), "29 04:00".into())]
        );
        // Ending at 02:30: the night that began at 20:00 CET (19:00 UTC)
        // ends at the jump, 01:00 UTC.
        assert_eq!(
            runs(&berlin("20:00", "02:30"), from, day),
            vec![("28 19:00".into(), "29 01:00".into())]
        );
        // Wholly inside the gap: not that night.
        assert_eq!(runs(&berlin("02:10", "02:50"), from, day), vec![]);
        // The same window the night before and after, for contrast.
        assert_eq!(
            runs(&berlin("02:10", "02:50"), utc(2026, 3, 27, 12, 0), day),
            vec![("28 01:10".into(), "28 01:50".into())]
        );
        assert_eq!(
            runs(&berlin("02:10", "02:50"), utc(2026, 3, 29, 12, 0), day),
            vec![("30 00:10".into(), "30 00:50".into())]
        );
    }

    /// 2026-10-25 in Berlin: 03:00 CEST turns back to 02:00 CET at 01:00
    /// UTC, so 02:00–03:00 happens twice. A bound at 02:30 means its first
    /// occurrence (02:30 CEST, 00:30 UTC), and while the hour repeats the
    /// window stays as it was at the end of the first pass.
    #[test]
    fn fall_back_repeated_times_count_once_at_their_first_occurrence() {
        let from = utc(2026, 10, 24, 12, 0);
        let day = 24 * 60;
        // Starting at 02:30: opens at 02:30 CEST (00:30 UTC), stays open
        // through the repeated hour, closes at 06:00 CET (05:00 UTC): an hour
        // longer than other nights.
        assert_eq!(
            runs(&berlin("02:30", "06:00"), from, day),
            vec![("25 00:30".into(), "25 05:00".into())]
        );
        // Ending at 02:30: closes at 02:30 CEST and is not reopened when
        // the clock shows 02:00–02:30 again.
        assert_eq!(
            runs(&berlin("20:00", "02:30"), from, day),
            vec![("24 18:00".into(), "25 00:30".into())]
        );
        // Both bounds inside the repeated hour: once, in its first pass.
        assert_eq!(
            runs(&berlin("02:10", "02:50"), from, day),
            vec![("25 00:10".into(), "25 00:50".into())]
        );
        // Around the clock but for 02:15–02:45: closed in the first pass
        // only, open through the second.
        assert_eq!(
            runs(&berlin("02:45", "02:15"), utc(2026, 10, 24, 23, 0), 4 * 60),
            vec![
                ("24 23:00".into(), "25 00:15".into()),
                ("25 00:45".into(), "25 03:00".into())
            ]
        );
    }

    #[test]
    fn offset_ranges_over_a_year() {
        let (a, b) = (utc(2026, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0));
        assert_eq!(utc_offset_range("Europe/Berlin", a, b), Some((60, 120)));
        assert_eq!(
            utc_offset_range("Europe/Berlin", a, utc(2026, 2, 1, 0, 0)),
            Some((60, 60))
        );
        assert_eq!(utc_offset_range("Etc/GMT+5", a, b), Some((-300, -300)));
        assert_eq!(utc_offset_range("Nowhere/Atall", a, b), None);
    }
}
