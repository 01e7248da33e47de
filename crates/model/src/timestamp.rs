//! API timestamps written straight into a byte buffer: the text chrono's
//! own `Serialize` writes (RFC 3339, UTC as `Z`, the fraction in 0, 3, 6
//! or 9 digits, the fewest that hold it), without its formatting
//! machinery. Every corridor answer and stored object carries four to six
//! timestamps, and chrono's `collect_str` through `core::fmt` was about
//! 1.5 % of corridord's CPU per corridor grant. Dates chrono writes in
//! another shape (years outside 0..=9999, leap seconds) are handed to
//! chrono. Deserialisation is chrono's, unchanged.
//!
//! Use with `#[serde(serialize_with = "crate::timestamp::serialize")]`
//! (or `timestamp::option::serialize` for an `Option`).

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Serializer;

/// Longest text of the fast path: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
const MAX_LEN: usize = 30;

/// Serialises `t` as chrono does.
///
/// # Errors
/// The serializer's.
pub fn serialize<S: Serializer>(t: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; MAX_LEN];
    match write(t, &mut buf) {
        // The bytes are ASCII digits and separators.
        Some(len) => serializer.serialize_str(std::str::from_utf8(&buf[..len]).unwrap_or_default()),
        None => serde::Serialize::serialize(t, serializer),
    }
}

/// [`serialize`] for an optional timestamp.
pub mod option {
    use chrono::{DateTime, Utc};
    use serde::Serializer;

    /// Serialises `t` as chrono's `Option<DateTime<Utc>>` does.
    ///
    /// # Errors
    /// The serializer's.
    pub fn serialize<S: Serializer>(
        t: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => serializer.serialize_some(&Timestamp(t)),
            None => serializer.serialize_none(),
        }
    }

    struct Timestamp<'a>(&'a DateTime<Utc>);

    impl serde::Serialize for Timestamp<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            super::serialize(self.0, serializer)
        }
    }
}

/// Writes `t` into `buf` and answers its length, or `None` when chrono
/// writes it in a shape this does not (a year outside 0..=9999, a leap
/// second).
fn write(t: &DateTime<Utc>, buf: &mut [u8; MAX_LEN]) -> Option<usize> {
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = t.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    let digits = |buf: &mut [u8], at: usize, value: u32, width: usize| {
        let mut v = value;
        for i in (0..width).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    digits(buf, 0, year, 4);
    buf[4] = b'-';
    digits(buf, 5, t.month(), 2);
    buf[7] = b'-';
    digits(buf, 8, t.day(), 2);
    buf[10] = b'T';
    digits(buf, 11, t.hour(), 2);
    buf[13] = b':';
    digits(buf, 14, t.minute(), 2);
    buf[16] = b':';
    digits(buf, 17, t.second(), 2);
    let mut len = 19;
    let (fraction, width) = if nanos == 0 {
        (0, 0)
    } else if nanos.is_multiple_of(1_000_000) {
        (nanos / 1_000_000, 3)
    } else if nanos.is_multiple_of(1_000) {
        (nanos / 1_000, 6)
    } else {
        (nanos, 9)
    };
    if width > 0 {
        buf[len] = b'.';
        digits(buf, len + 1, fraction, width);
        len += 1 + width;
    }
    buf[len] = b'Z';
    Some(len + 1)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    #[derive(serde::Serialize)]
    struct Ours {
        #[serde(serialize_with = "serialize")]
        t: DateTime<Utc>,
        #[serde(serialize_with = "option::serialize")]
        maybe: Option<DateTime<Utc>>,
    }

    #[derive(serde::Serialize)]
    struct Chronos {
        t: DateTime<Utc>,
        maybe: Option<DateTime<Utc>>,
    }

    fn both(t: DateTime<Utc>, maybe: Option<DateTime<Utc>>) -> (String, String) {
        (
            serde_json::to_string(&Ours { t, maybe }).unwrap(),
            serde_json::to_string(&Chronos { t, maybe }).unwrap(),
        )
    }

    /// Golden vectors: each fraction width, the year bounds, and the shapes
    /// handed to chrono.
    #[test]
    fn writes_what_chrono_writes() {
        let at = |s: i64, ns: u32| Utc.timestamp_opt(s, ns).unwrap();
        for (t, text) in [
            (at(0, 0), "1970-01-01T00:00:00Z"),
            (at(1_764_979_200, 500_000_000), "2025-12-06T00:00:00.500Z"),
            (at(1_764_979_200, 1_000), "2025-12-06T00:00:00.000001Z"),
            (
                at(1_764_979_200, 380_052_355),
                "2025-12-06T00:00:00.380052355Z",
            ),
            (
                at(253_402_300_799, 999_999_999),
                "9999-12-31T23:59:59.999999999Z",
            ),
            (at(-62_167_219_200, 0), "0000-01-01T00:00:00Z"),
            (at(-62_167_219_201, 0), "-0001-12-31T23:59:59Z"),
            (at(253_402_300_800, 0), "+10000-01-01T00:00:00Z"),
            (at(1_483_228_799, 1_500_000_000), "2016-12-31T23:59:60.500Z"),
        ] {
            let (ours, chronos) = both(t, Some(t));
            assert_eq!(ours, chronos);
            assert_eq!(ours, format!(r#"{{"t":"{text}","maybe":"{text}"}}"#));
        }
        let (ours, chronos) = both(at(0, 0), None);
        assert_eq!(ours, chronos);
    }

    proptest! {
        #[test]
        fn any_instant_is_written_as_chrono_writes_it(
            secs in -70_000_000_000i64..300_000_000_000,
            nanos in prop_oneof![
                Just(0u32),
                (0u32..1_000).prop_map(|ms| ms * 1_000_000),
                (0u32..1_000_000).prop_map(|us| us * 1_000),
                0u32..2_000_000_000,
            ],
        ) {
            if let Some(t) = Utc.timestamp_opt(secs, nanos).single() {
                let (ours, chronos) = both(t, Some(t));
                prop_assert_eq!(ours, chronos);
            }
        }
    }
}
