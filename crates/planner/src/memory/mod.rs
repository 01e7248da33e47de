//! Free-form memory admission: placement of bundles on memory devices and a time-windowed
//! capacity ledger of bandwidth floors. Pure like the rest of the crate: no I/O, no clock
//! (times are Unix seconds passed in), no global state.
//!
//! - [`Device`]: id, [`Tier`] (T0–T3), bytes, peak bandwidth; floors are admitted up to an
//!   admission share of peak, [`DEFAULT_ADMISSION_SHARE`] = 0.75 (memory-cxl.md §5: keep
//!   Σfloors ≤ ~65–75 % of peak, where latency turns exponential).
//! - [`WindowedFloor`]: "min 150 GB/s 20:00–08:00" — a [`DailyWindow`] in local time at a fixed UTC
//!   offset (the service turns IANA zone names into offsets), selecting bundles by security
//!   domain, that sets (raises or lowers) their floor inside the window.
//! - [`Segments`]: the cyclic week cut at every policy-window edge; a bundle's lifetime is
//!   projected onto it ([`Span`]) and admission checks every segment the bundle lives in.
//! - [`Ledger`]: per (device, segment) Σ granted floors and per device bytes; [`Ledger::admit`]
//!   (search, read-only) and [`Ledger::apply`] (claim, compare-and-swap on the revision),
//!   [`Ledger::allocate`], [`Ledger::resize`], [`Ledger::renew`], [`Ledger::migrate_begin`] /
//!   [`Ledger::migrate_commit`] / [`Ledger::migrate_abort`], [`Ledger::set_policy`] /
//!   [`Ledger::remove_policy`], [`Ledger::expire`], [`Ledger::free`]. Serializable with serde.
//!
//! ```
//! use corridor_planner::memory::*;
//!
//! let devices = vec![
//!     Device::new("cxl-dev-001", Tier::T2, 256 << 30, 288.0),
//!     Device::new("cxl-dev-002", Tier::T2, 256 << 30, 288.0),
//! ];
//! let mut ledger = Ledger::new(LedgerConfig::default(), devices).unwrap();
//! assert_eq!(ledger.capacity(0), MBps::from_gbps(216.0)); // 0.75 × 288
//!
//! // 150 GB/s fits on one device.
//! let p = ledger.allocate("ffm-1", BundleDemand::new(1 << 30, Tier::T2, 150.0, 0)).unwrap();
//! assert_eq!(p.shares.len(), 1);
//! // 220 GB/s fits on neither alone: weighted interleave, weights = free bandwidth.
//! let p = ledger.allocate("ffm-2", BundleDemand::new(1 << 30, Tier::T2, 220.0, 0)).unwrap();
//! assert_eq!(p.shares.len(), 2);
//! assert_eq!(p.shares.iter().map(|s| s.floor).map(|f| f.0).sum::<u64>(), 220_000);
//! // A night policy raising every floor to 220 GB/s would over-commit (440 > 432): refused,
//! // nothing changes.
//! let night = WindowedFloor {
//!     id: "night".into(),
//!     floor: MBps::from_gbps(220.0),
//!     window: DailyWindow::parse("20:00–08:00").unwrap(),
//!     security_domain: None,
//!     time_zone: None,
//! };
//! let before = ledger.clone();
//! assert!(ledger.set_policy(night).is_err());
//! assert_eq!(ledger, before);
//! ```

mod ledger;
mod time;

pub use ledger::{
    Bundle, BundleDemand, DEFAULT_ADMISSION_SHARE, Device, Ledger, LedgerConfig, MBps, Placement,
    Rejection, Share, Tier, WindowedFloor, apportion,
};
pub use time::{
    DAY_MIN, DailyWindow, EVERY_DAY, Segments, Span, WEEK_MIN, WindowError, week_minute,
};

#[cfg(test)]
mod tests;
