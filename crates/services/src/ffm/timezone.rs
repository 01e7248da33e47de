//! Policy windows in IANA time zones (the tz database compiled into
//! `corridor-model`): the offsets admission counts a window at, and whether
//! a window is in force at an instant.
//!
//! Admission works on a cyclic week in UTC, which cannot tell summer from
//! winter, so a window in a zone with daylight saving time is counted at
//! both of the offsets the zone takes over the next two years (see
//! `corridor_planner::memory::time`): its floor holds whichever is in force.
//! Whether a window is in force *now* (the telemetry's floor in force) is
//! decided on the zone's wall clock instead, exactly.

use chrono::{DateTime, Duration, Utc};
use corridor_model::policy::{Weekday, utc_offset_range, window_in_force};
use corridor_planner::memory::{self as planner, WindowedFloor};

/// How far ahead the offsets a zone takes are looked up when a policy is
/// admitted (at creation and at every start): two years cover both sides of
/// any zone's yearly daylight saving time.
const OFFSET_HORIZON_DAYS: i64 = 2 * 366;

/// The smallest and the largest UTC offset (minutes east) `zone` takes from
/// `now` over the next two years, or `None` if the zone is unknown.
pub(super) fn offset_range(zone: &str, now: DateTime<Utc>) -> Option<(i16, i16)> {
    utc_offset_range(zone, now, now + Duration::days(OFFSET_HORIZON_DAYS))
}

/// The ledger's day bits: Monday is bit 0.
pub(super) fn day_bit(day: Weekday) -> u8 {
    match day {
        Weekday::Mon => 0,
        Weekday::Tue => 1,
        Weekday::Wed => 2,
        Weekday::Thu => 3,
        Weekday::Fri => 4,
        Weekday::Sat => 5,
        Weekday::Sun => 6,
    }
}

/// Whether a ledger policy's window is in force at `now`, on its zone's wall
/// clock; a policy without a zone (none are made so) at its fixed offset.
pub(super) fn in_force(policy: &WindowedFloor, now: DateTime<Utc>) -> bool {
    let w = &policy.window;
    match &policy.time_zone {
        Some(zone) => window_in_force(
            w.start_min,
            w.end_min,
            |d| w.days & (1 << day_bit(d)) != 0,
            zone,
            now,
        )
        .unwrap_or(false),
        None => w.covers(planner::week_minute(now.timestamp().div_euclid(60))),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn berlin_takes_winter_and_summer_time_fixed_zones_one_offset() {
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 0, 0, 0).unwrap();
        assert_eq!(offset_range("Europe/Berlin", now), Some((60, 120)));
        assert_eq!(offset_range("America/New_York", now), Some((-300, -240)));
        assert_eq!(offset_range("UTC", now), Some((0, 0)));
        assert_eq!(offset_range("Etc/GMT+5", now), Some((-300, -300)));
        assert_eq!(offset_range("Asia/Kolkata", now), Some((330, 330)));
        assert_eq!(offset_range("Mars/Olympus_Mons", now), None);
    }
}
