//! Time for the memory ledger, kept pure: no clock, no time-zone database.
//!
//! The ledger works on a **cyclic week** measured in minutes from Monday 00:00 UTC
//! (`0..WEEK_MIN`). Policies are daily windows in local time given as UTC offsets in minutes:
//! one for a fixed-offset zone, two for a zone with daylight saving time (its standard and its
//! summer offset). Converting an IANA zone name to those offsets is the service's job, done when
//! the policy is written. A week in UTC cannot say which of the two offsets is in force, so a
//! window with two offsets is counted **conservatively**: it may cover every minute between its
//! earliest possible start and its latest possible end (its *hull*), and surely covers only the
//! minutes between its latest start and its earliest end (its *core*). Where it only may cover a
//! segment, the floor counted there is the larger of the policy's and the one it would replace,
//! so admission holds whichever offset is in force, transition nights included. A bundle's lifetime (`start_s`, optional `end_s`, both Unix
//! seconds) is projected onto the week: a bundle that lives a week or longer (or has no end)
//! occupies every segment; a shorter one occupies the segments its interval touches, modulo the
//! week. That projection is conservative: two bundles in the same weekday slot of different
//! weeks are counted together.

use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};

/// Minutes in a day.
pub const DAY_MIN: u32 = 1440;
/// Minutes in the cyclic week the ledger accounts over.
pub const WEEK_MIN: u32 = 7 * DAY_MIN;

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Minute of the week (Monday 00:00 UTC = 0) of a Unix minute. 1970-01-01 was a Thursday.
#[must_use]
pub fn week_minute(unix_min: i64) -> u32 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let m = (unix_min + 3 * i64::from(DAY_MIN)).rem_euclid(i64::from(WEEK_MIN)) as u32;
    m
}

/// A daily window in local time: `start..end` minutes of the local day; `end <= start` wraps past
/// midnight (`20:00–08:00`), `end == start` means the whole day. `days` is a bitmask of the
/// local days on which the window *starts* (bit 0 = Monday … bit 6 = Sunday).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DailyWindow {
    pub start_min: u16,
    pub end_min: u16,
    /// Local time = UTC + `utc_offset_min` (e.g. +60 for CET, -300 for EST).
    pub utc_offset_min: i16,
    /// The zone's other offset, if it has one (daylight saving time: +120 for CEST beside
    /// CET's +60): the window is then counted over both (see the module's notes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utc_offset_alt_min: Option<i16>,
    pub days: u8,
}

/// Every day of the week, for [`DailyWindow::days`].
pub const EVERY_DAY: u8 = 0x7f;

/// A window that cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid time window {0:?}: expected HH:MM–HH:MM with HH < 24, MM < 60")]
pub struct WindowError(pub String);

impl DailyWindow {
    /// `start`–`end` every day, in UTC.
    ///
    /// # Errors
    /// Minutes outside the day.
    pub fn new(start_min: u16, end_min: u16) -> Result<Self, WindowError> {
        if u32::from(start_min) >= DAY_MIN || u32::from(end_min) >= DAY_MIN {
            return Err(WindowError(format!("{start_min}-{end_min}")));
        }
        Ok(Self {
            start_min,
            end_min,
            utc_offset_min: 0,
            utc_offset_alt_min: None,
            days: EVERY_DAY,
        })
    }

    /// Parses `"20:00-08:00"` or `"20:00–08:00"` (en dash), every day, UTC.
    ///
    /// # Errors
    /// Anything but two `HH:MM` separated by `-` or `–`.
    pub fn parse(s: &str) -> Result<Self, WindowError> {
        let err = || WindowError(s.to_string());
        let (a, b) = s
            .split_once('–')
            .or_else(|| s.split_once('-'))
            .ok_or_else(err)?;
        let hm = |t: &str| -> Result<u16, WindowError> {
            let (h, m) = t.trim().split_once(':').ok_or_else(err)?;
            let h: u16 = h.parse().map_err(|_| err())?;
            let m: u16 = m.parse().map_err(|_| err())?;
            if h >= 24 || m >= 60 {
                return Err(err());
            }
            Ok(h * 60 + m)
        };
        Self::new(hm(a)?, hm(b)?)
    }

    /// The same window at another UTC offset (minutes, local = UTC + offset).
    #[must_use]
    pub fn with_offset(mut self, utc_offset_min: i16) -> Self {
        self.utc_offset_min = utc_offset_min;
        self.utc_offset_alt_min = None;
        self
    }

    /// The same window in a zone that takes both offsets in turn (daylight saving time); equal
    /// offsets are one fixed offset.
    #[must_use]
    pub fn with_offsets(mut self, a: i16, b: i16) -> Self {
        self.utc_offset_min = a.min(b);
        self.utc_offset_alt_min = (a != b).then_some(a.max(b));
        self
    }

    /// The smallest and the largest offset the window's zone takes.
    #[must_use]
    pub fn offset_range(&self) -> (i16, i16) {
        let alt = self.utc_offset_alt_min.unwrap_or(self.utc_offset_min);
        (self.utc_offset_min.min(alt), self.utc_offset_min.max(alt))
    }

    /// The same window on other local days (bit 0 = Monday).
    #[must_use]
    pub fn on_days(mut self, days: u8) -> Self {
        self.days = days & EVERY_DAY;
        self
    }

    /// Length of one occurrence in minutes.
    #[must_use]
    pub fn len_min(&self) -> u32 {
        let (s, e) = (u32::from(self.start_min), u32::from(self.end_min));
        if e > s { e - s } else { e + DAY_MIN - s }
    }

    /// The minutes the window's occurrences may cover, whichever of its offsets is in force,
    /// as non-wrapping UTC intervals `[a, b)` of the week: from the start at the largest offset
    /// to the end at the smallest. With one offset, exactly its occurrences.
    #[must_use]
    pub fn utc_intervals(&self) -> Vec<(u32, u32)> {
        let (lo, hi) = self.offset_range();
        let spread = u32::from(hi.abs_diff(lo));
        self.intervals(hi, self.len_min() + spread)
    }

    /// The minutes the window's occurrences surely cover, whichever of its offsets is in
    /// force: from the start at the smallest offset to the end at the largest (empty for a
    /// window shorter than the offsets' difference). With one offset, the same as
    /// [`Self::utc_intervals`].
    #[must_use]
    pub fn core_intervals(&self) -> Vec<(u32, u32)> {
        let (lo, hi) = self.offset_range();
        let spread = u32::from(hi.abs_diff(lo));
        match self.len_min().checked_sub(spread) {
            Some(len) if len > 0 => self.intervals(lo, len),
            _ => Vec::new(),
        }
    }

    /// Occurrences starting at the local start minus `offset`, `len` minutes long.
    fn intervals(&self, offset: i16, len: u32) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        let week = i64::from(WEEK_MIN);
        for d in 0..7u32 {
            if self.days & (1 << d) == 0 {
                continue;
            }
            let local = i64::from(d * DAY_MIN + u32::from(self.start_min));
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let a = (local - i64::from(offset)).rem_euclid(week) as u32;
            let b = a + len;
            if b <= WEEK_MIN {
                out.push((a, b));
            } else {
                out.push((a, WEEK_MIN));
                out.push((0, b - WEEK_MIN));
            }
        }
        out
    }

    /// Whether the window may cover week minute `m` (UTC); see [`Self::utc_intervals`].
    #[must_use]
    pub fn covers(&self, m: u32) -> bool {
        self.utc_intervals().iter().any(|&(a, b)| a <= m && m < b)
    }

    /// Whether the window surely covers week minute `m` (UTC); see [`Self::core_intervals`].
    #[must_use]
    pub fn surely_covers(&self, m: u32) -> bool {
        self.core_intervals().iter().any(|&(a, b)| a <= m && m < b)
    }
}

fn hhmm(f: &mut fmt::Formatter<'_>, m: u32) -> fmt::Result {
    write!(f, "{:02}:{:02}", m / 60, m % 60)
}

impl fmt::Display for DailyWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hhmm(f, u32::from(self.start_min))?;
        f.write_str("–")?;
        hhmm(f, u32::from(self.end_min))?;
        let offset = |f: &mut fmt::Formatter<'_>, o: i16| {
            let o = i32::from(o);
            let sign = if o < 0 { '-' } else { '+' };
            write!(f, "{sign}{:02}:{:02}", o.abs() / 60, o.abs() % 60)
        };
        match self.offset_range() {
            (0, 0) => {}
            (lo, hi) if lo == hi => {
                f.write_str(" UTC")?;
                offset(f, lo)?;
            }
            (lo, hi) => {
                f.write_str(" UTC")?;
                offset(f, lo)?;
                f.write_str("/")?;
                offset(f, hi)?;
            }
        }
        if self.days != EVERY_DAY {
            let names: Vec<&str> = (0..7)
                .filter(|d| self.days & (1 << d) != 0)
                .map(|d| DAY_NAMES[d])
                .collect();
            write!(f, " {}", names.join(","))?;
        }
        Ok(())
    }
}

/// The part of the week a bundle lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Span {
    /// A week or longer, or no end: every segment.
    Always,
    /// `[start, end)` in week minutes; `end <= start` wraps past Sunday 24:00.
    Cyclic { start: u32, end: u32 },
}

impl Span {
    /// Projects `[start_s, end_s)` (Unix seconds) onto the week, rounding outwards to minutes.
    /// `None` if `end_s <= start_s`.
    #[must_use]
    pub fn of_lifetime(start_s: i64, end_s: Option<i64>) -> Option<Self> {
        let Some(end_s) = end_s else {
            return Some(Self::Always);
        };
        if end_s <= start_s {
            return None;
        }
        let a = start_s.div_euclid(60);
        let b = -(-end_s).div_euclid(60);
        if b - a >= i64::from(WEEK_MIN) {
            return Some(Self::Always);
        }
        Some(Self::Cyclic {
            start: week_minute(a),
            end: week_minute(b),
        })
    }

    /// Whether week minute `m` is inside.
    #[must_use]
    pub fn covers(&self, m: u32) -> bool {
        match *self {
            Self::Always => true,
            Self::Cyclic { start, end } if start < end => start <= m && m < end,
            Self::Cyclic { start, end } => m >= start || m < end,
        }
    }
}

/// The week cut into segments at every policy-window edge. Inside a segment, every policy
/// either covers all of it or none of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segments {
    /// Segment starts, ascending, `starts[0] == 0`; segment `i` ends at `starts[i+1]` or the
    /// end of the week.
    starts: Vec<u32>,
    /// Indices (into the ledger's policy list) of the policies that may cover each segment.
    cover: Vec<Vec<u16>>,
    /// Those of `cover` that only may cover it (a window with two offsets, outside its core).
    #[serde(default)]
    partial: Vec<Vec<u16>>,
}

impl Segments {
    /// Segments for these windows (index `i` of the slice is policy `i`).
    #[must_use]
    pub fn build(windows: &[DailyWindow]) -> Self {
        let intervals: Vec<Vec<(u32, u32)>> =
            windows.iter().map(DailyWindow::utc_intervals).collect();
        let cores: Vec<Vec<(u32, u32)>> = windows.iter().map(DailyWindow::core_intervals).collect();
        let mut starts = vec![0u32];
        for iv in intervals.iter().chain(&cores) {
            for &(a, b) in iv {
                starts.push(a);
                if b < WEEK_MIN {
                    starts.push(b);
                }
            }
        }
        starts.sort_unstable();
        starts.dedup();
        let inside = |iv: &[(u32, u32)], s: u32| iv.iter().any(|&(a, b)| a <= s && s < b);
        #[allow(clippy::cast_possible_truncation)]
        let index = |i: usize| i as u16;
        let cover = starts
            .iter()
            .map(|&s| {
                (0..windows.len())
                    .filter(|&i| inside(&intervals[i], s))
                    .map(index)
                    .collect()
            })
            .collect();
        let partial = starts
            .iter()
            .map(|&s| {
                (0..windows.len())
                    .filter(|&i| inside(&intervals[i], s) && !inside(&cores[i], s))
                    .map(index)
                    .collect()
            })
            .collect();
        Self {
            starts,
            cover,
            partial,
        }
    }

    /// Number of segments (at least one).
    #[must_use]
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Never true: there is always at least one segment.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// `[start, end)` of segment `i` in week minutes.
    #[must_use]
    pub fn span(&self, i: usize) -> (u32, u32) {
        (
            self.starts[i],
            self.starts.get(i + 1).copied().unwrap_or(WEEK_MIN),
        )
    }

    /// Policies that may cover segment `i` (surely, unless also in [`Self::partial`]).
    #[must_use]
    pub fn cover(&self, i: usize) -> &[u16] {
        &self.cover[i]
    }

    /// Policies that only may cover segment `i`: windows with two offsets whose occurrence
    /// covers it under one of them and not the other.
    #[must_use]
    pub fn partial(&self, i: usize) -> &[u16] {
        self.partial.get(i).map_or(&[], Vec::as_slice)
    }

    /// Segment holding week minute `m`.
    #[must_use]
    pub fn at(&self, m: u32) -> usize {
        self.starts.partition_point(|&s| s <= m) - 1
    }

    /// Index ranges of the segments a span overlaps (the second is empty unless it wraps).
    #[must_use]
    pub fn overlapping(&self, span: Span) -> [Range<usize>; 2] {
        let n = self.len();
        match span {
            Span::Always => [0..n, 0..0],
            Span::Cyclic { start, end } => {
                let i0 = self.at(start);
                if start < end {
                    [i0..self.starts.partition_point(|&s| s < end), 0..0]
                } else {
                    let i1 = self.starts.partition_point(|&s| s < end);
                    if i1 > i0 {
                        [0..n, 0..0]
                    } else {
                        [i0..n, 0..i1]
                    }
                }
            }
        }
    }

    /// Human label of segment `i` in UTC, e.g. `Mon 08:00–Mon 20:00 UTC`.
    #[must_use]
    pub fn utc_label(&self, i: usize) -> String {
        let (a, b) = self.span(i);
        if (a, b) == (0, WEEK_MIN) {
            return "the whole week".to_string();
        }
        let p = |m: u32| {
            let d = (m / DAY_MIN) as usize % 7;
            let r = m % DAY_MIN;
            format!("{} {:02}:{:02}", DAY_NAMES[d], r / 60, r % 60)
        };
        format!("{}–{} UTC", p(a), p(b % WEEK_MIN))
    }
}
