//! Pure time arithmetic of the history: which window a request asks for,
//! which segment a record belongs to, which segments a window reads and
//! which retention removes. No I/O, no clock: callers pass `now`.

use chrono::{DateTime, Duration, Utc};
use corridor_model::history::{DEFAULT_HISTORY_WINDOW_S, MAX_HISTORY_WINDOW_S};

/// A resolved query window, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Window {
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && at <= self.to
    }
}

/// Why a requested window cannot be answered; `parameter` is the query
/// parameter at fault (`from` or `to`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("?{parameter}: {message}")]
pub struct WindowError {
    pub parameter: &'static str,
    pub message: String,
}

/// The window of `from`/`to` as given: `to` defaults to `now`, `from` to an
/// hour before `to`. Refused: a `from` after `to`, a window longer than a
/// day (both relations between the two parameters, or with `now`).
pub fn resolve(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Window, WindowError> {
    let to_given = to.is_some();
    let to = to.unwrap_or(now);
    let from = from.unwrap_or(to - Duration::seconds(DEFAULT_HISTORY_WINDOW_S));
    // Name the parameter the caller gave: with `to` defaulted to now, a
    // `from` in the future is the one at fault.
    let culprit = if to_given { "to" } else { "from" };
    if from > to {
        return Err(WindowError {
            parameter: culprit,
            message: format!(
                "the window ends ({to}) before it starts ({from}){}",
                if to_given { "" } else { "; to defaults to now" }
            ),
        });
    }
    if to - from > Duration::seconds(MAX_HISTORY_WINDOW_S) {
        return Err(WindowError {
            parameter: culprit,
            message: format!(
                "the window from {from} to {to} is longer than {MAX_HISTORY_WINDOW_S} s (one day){}",
                if to_given { "" } else { "; to defaults to now" }
            ),
        });
    }
    Ok(Window { from, to })
}

/// A span directory's time span: records with `start <= at < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// Unix milliseconds.
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Span {
    /// The span of length `span_ms` (aligned on multiples of it) holding
    /// `at_ms`.
    pub fn holding(at_ms: i64, span_ms: i64) -> Span {
        let span_ms = span_ms.max(1);
        let start_ms = at_ms.div_euclid(span_ms) * span_ms;
        Span {
            start_ms,
            end_ms: start_ms + span_ms,
        }
    }

    /// Whether the instant `at_ms` falls in the span.
    pub fn holds(&self, at_ms: i64) -> bool {
        self.start_ms <= at_ms && at_ms < self.end_ms
    }

    /// Whether any instant of the window falls in the span.
    pub fn overlaps(&self, window: &Window) -> bool {
        self.start_ms <= window.to.timestamp_millis()
            && window.from.timestamp_millis() < self.end_ms
    }

    /// Whether retention removes the segment: every record it can hold is
    /// older than `retention` at `now`.
    pub fn expired(&self, now: DateTime<Utc>, retention: std::time::Duration) -> bool {
        let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        self.end_ms <= now.timestamp_millis().saturating_sub(retention_ms)
    }
}

/// A segment's span for a retention: a seventh of it (a day for the
/// default week), at least 100 ms and at most a day, so a corridor has
/// about eight files and retention removes at most a seventh too late.
pub fn segment_span_ms(retention: std::time::Duration) -> i64 {
    let seventh = i64::try_from(retention.as_millis() / 7).unwrap_or(i64::MAX);
    seventh.clamp(100, 86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn defaults_are_the_last_hour_to_now() {
        let w = resolve(None, None, at(10_000)).unwrap();
        assert_eq!((w.from, w.to), (at(10_000 - 3_600), at(10_000)));
        let w = resolve(None, Some(at(5_000)), at(10_000)).unwrap();
        assert_eq!((w.from, w.to), (at(5_000 - 3_600), at(5_000)));
        let w = resolve(Some(at(9_000)), None, at(10_000)).unwrap();
        assert_eq!((w.from, w.to), (at(9_000), at(10_000)));
    }

    #[test]
    fn reversed_and_overlong_windows_name_the_parameter_given() {
        let e = resolve(Some(at(20)), Some(at(10)), at(100)).unwrap_err();
        assert_eq!(e.parameter, "to");
        // `to` defaulted to now: the future `from` is at fault.
        let e = resolve(Some(at(200)), None, at(100)).unwrap_err();
        assert_eq!(e.parameter, "from");
        let e = resolve(Some(at(0)), Some(at(86_401)), at(0)).unwrap_err();
        assert_eq!(e.parameter, "to");
        let e = resolve(Some(at(0)), None, at(86_401)).unwrap_err();
        assert_eq!(e.parameter, "from");
        // Exactly a day, and an empty window, are fine.
        assert!(resolve(Some(at(0)), Some(at(86_400)), at(0)).is_ok());
        assert!(resolve(Some(at(5)), Some(at(5)), at(0)).is_ok());
    }

    #[test]
    fn spans_align_and_select_by_overlap() {
        let s = Span::holding(12_345, 1_000);
        assert_eq!((s.start_ms, s.end_ms), (12_000, 13_000));
        assert_eq!(Span::holding(-1, 1_000).start_ms, -1_000);
        let ms = |m: i64| Utc.timestamp_millis_opt(m).unwrap();
        let window = |a, b| Window {
            from: ms(a),
            to: ms(b),
        };
        assert!(s.overlaps(&window(12_999, 20_000)));
        assert!(s.overlaps(&window(0, 12_000)));
        assert!(!s.overlaps(&window(13_000, 20_000)));
        assert!(!s.overlaps(&window(0, 11_999)));
    }

    #[test]
    fn retention_expires_whole_spans_only_once_all_their_records_are_old() {
        let retention = std::time::Duration::from_secs(7 * 86_400);
        let span_ms = segment_span_ms(retention);
        assert_eq!(span_ms, 86_400_000);
        let ms = |m: i64| Utc.timestamp_millis_opt(m).unwrap();
        let s = Span::holding(10 * 86_400_000 + 5, span_ms);
        // Its newest possible record is 7 days old only at end + 7 days.
        assert!(!s.expired(ms(s.end_ms + 7 * 86_400_000 - 1), retention));
        assert!(s.expired(ms(s.end_ms + 7 * 86_400_000), retention));
        // Short retentions (tests) get short spans, never below 100 ms.
        assert_eq!(segment_span_ms(std::time::Duration::from_secs(7)), 1_000);
        assert_eq!(segment_span_ms(std::time::Duration::from_millis(7)), 100);
    }
}
