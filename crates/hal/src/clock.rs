//! Wall-clock and simulated time.
//!
//! Two clocks, two jobs ([`Clocks`]): API metadata and leases read the **wall clock**
//! ([`WallClock`]: `created_at`, conditions, `lease_expires_at` must agree with the real-second
//! TTLs the store enforces and never jump back on restart), while the optical plant's physics
//! and calibration advance on the **plant clock**, which may be simulated: `make run` plays a
//! day of ambient drift in minutes ([`ScaledClock`]). Tests step either exactly
//! ([`ManualClock`]).
//!
//! **Determinism rule:** given the topology, its seed and the sequence of clock readings,
//! twin numbers are reproducible. A [`ScaledClock`]'s readings depend on real elapsed time,
//! so runs with it are reproducible only given the readings it produced; tests that compare
//! numbers use a [`ManualClock`].

use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use thiserror::Error;

use crate::topology::TwinSettings;

/// A source of (possibly simulated) UTC time.
pub trait Clock: Send + Sync + Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;

    /// The id a resource of kind `prefix` made now gets, when this clock
    /// numbers ids itself; `None` (every clock but a replay's) leaves the
    /// caller to draw a random one.
    ///
    /// Time and fresh ids are a control plane's two inputs that are not
    /// requests; a deterministic replay ([`ScenarioClock`]) must drive both.
    /// Every service that names a resource already holds its wall clock, so
    /// the clock is the seam that reaches them all without a second handle.
    fn next_id(&self, prefix: &str) -> Option<String> {
        let _ = prefix;
        None
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
    fn next_id(&self, prefix: &str) -> Option<String> {
        (**self).next_id(prefix)
    }
}

impl<C: Clock + ?Sized> Clock for Box<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
    fn next_id(&self, prefix: &str) -> Option<String> {
        (**self).next_id(prefix)
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
    fn next_id(&self, prefix: &str) -> Option<String> {
        (**self).next_id(prefix)
    }
}

/// The system's UTC time, read on every call (it follows NTP steps, as timestamps shown to
/// people and compared with other machines should).
#[derive(Debug, Clone, Copy, Default)]
pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The two clocks a control plane reads.
#[derive(Debug, Clone)]
pub struct Clocks {
    /// Metadata timestamps, conditions and leases: real time.
    pub wall: Arc<dyn Clock>,
    /// The optical plant's physics and calibration: simulated time on a twin run faster than
    /// real time, the wall clock on real hardware.
    pub plant: Arc<dyn Clock>,
}

impl Clocks {
    /// The wall clock for metadata and `plant` for the plant's physics.
    #[must_use]
    pub fn new(wall: Arc<dyn Clock>, plant: Arc<dyn Clock>) -> Self {
        Self { wall, plant }
    }

    /// One clock for both jobs (tests that step time with a [`ManualClock`], a deterministic
    /// replay, or real hardware on the wall clock).
    #[must_use]
    pub fn single(clock: Arc<dyn Clock>) -> Self {
        Self {
            wall: Arc::clone(&clock),
            plant: clock,
        }
    }
}

impl<C: Clock + ?Sized + 'static> From<Arc<C>> for Clocks {
    fn from(clock: Arc<C>) -> Self {
        Self::single(Arc::new(clock))
    }
}

/// Why a clock cannot be built.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ClockError {
    /// The time scale is not a finite number above zero.
    #[error("time scale must be a finite number above 0, got {0}")]
    InvalidScale(f64),
}

/// Simulated time running at `scale` × real time from `start`.
///
/// `now = start + (real time elapsed since construction) × scale`. Elapsed time comes from
/// [`Instant`], which is monotonic, so simulated time never runs backwards even if the wall
/// clock is stepped. With `scale = 1.0` and `start = Utc::now()` it is the wall clock.
#[derive(Debug, Clone)]
pub struct ScaledClock {
    start: DateTime<Utc>,
    origin: Instant,
    scale: f64,
}

impl ScaledClock {
    /// A clock that reads `start` now and runs `scale` times faster than real time.
    ///
    /// # Errors
    /// [`ClockError::InvalidScale`] unless `scale` is finite and positive.
    pub fn new(start: DateTime<Utc>, scale: f64) -> Result<Self, ClockError> {
        Self::with_origin(start, scale, Instant::now())
    }

    /// Like [`Self::new`], with an explicit real-time origin (for tests and for aligning
    /// several clocks).
    ///
    /// # Errors
    /// [`ClockError::InvalidScale`] unless `scale` is finite and positive.
    pub fn with_origin(
        start: DateTime<Utc>,
        scale: f64,
        origin: Instant,
    ) -> Result<Self, ClockError> {
        if scale.is_finite() && scale > 0.0 {
            Ok(Self {
                start,
                origin,
                scale,
            })
        } else {
            Err(ClockError::InvalidScale(scale))
        }
    }

    /// The clock a topology asks for: `start_time` and `time_scale` from `[twin]`.
    ///
    /// # Errors
    /// [`ClockError::InvalidScale`] for a bad scale (impossible for a validated topology).
    pub fn from_twin(twin: &TwinSettings) -> Result<Self, ClockError> {
        Self::new(twin.start_time, twin.time_scale)
    }

    /// Simulated seconds per real second.
    #[must_use]
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Simulated time at start.
    #[must_use]
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// Simulated time corresponding to the real instant `at` (instants before the origin map
    /// to `start`). Saturates at chrono's maximum date instead of overflowing.
    #[must_use]
    pub fn at(&self, at: Instant) -> DateTime<Utc> {
        let real = at.saturating_duration_since(self.origin);
        // f64 nanoseconds keep sub-µs precision for ~100 days of simulated time, far more
        // than twin models need; conversion saturates rather than panics on overflow.
        let simulated_ns = real.as_nanos() as f64 * self.scale;
        let delta = if simulated_ns < i64::MAX as f64 {
            TimeDelta::nanoseconds(simulated_ns as i64)
        } else {
            TimeDelta::MAX
        };
        self.start
            .checked_add_signed(delta)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> DateTime<Utc> {
        self.at(Instant::now())
    }
}

/// A clock that moves only when told to, for tests. Shareable across threads (wrap it in an
/// [`Arc`] and hand clones to the code under test).
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock reading `start`.
    #[must_use]
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// A clock reading the topology's `start_time`.
    #[must_use]
    pub fn from_twin(twin: &TwinSettings) -> Self {
        Self::new(twin.start_time)
    }

    /// Sets the time (it may go backwards: tests of clock-skew handling need that).
    pub fn set(&self, t: DateTime<Utc>) {
        *self.lock() = t;
    }

    /// Moves time forward by `by` and returns the new time (saturating at chrono's maximum).
    pub fn advance(&self, by: Duration) -> DateTime<Utc> {
        let mut now = self.lock();
        let delta = TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
        *now = now
            .checked_add_signed(delta)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        *now
    }

    // A DateTime is always whole, so a panic elsewhere while holding the lock leaves nothing
    // half-written: recovering from poisoning is safe.
    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }
}

/// A replay's clock: a [`ManualClock`] that also numbers ids from a seed,
/// so that a scenario run twice makes the same ids at the same times.
///
/// Ids are `<prefix>-<12 hex digits>` (the daemon's own have 20, time
/// first: `corridor_services::ids`), drawn from a SplitMix64 sequence (one step per id, whatever its kind): the n-th id of
/// a run is a function of the seed and n alone.
#[derive(Debug)]
pub struct ScenarioClock {
    time: ManualClock,
    ids: Mutex<u64>,
}

impl ScenarioClock {
    /// A clock reading `start`, numbering ids from `seed`.
    #[must_use]
    pub fn new(start: DateTime<Utc>, seed: u64) -> Self {
        Self {
            time: ManualClock::new(start),
            ids: Mutex::new(seed),
        }
    }

    /// Sets the time.
    pub fn set(&self, t: DateTime<Utc>) {
        self.time.set(t);
    }

    /// Moves time forward by `by` and returns the new time.
    pub fn advance(&self, by: Duration) -> DateTime<Utc> {
        self.time.advance(by)
    }
}

impl Clock for ScenarioClock {
    fn now(&self) -> DateTime<Utc> {
        self.time.now()
    }

    fn next_id(&self, prefix: &str) -> Option<String> {
        let mut state = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        let value = splitmix64(&mut state) & 0xffff_ffff_ffff;
        Some(format!("{prefix}-{value:012x}"))
    }
}

/// One step of SplitMix64 (Steele, Lea and Flood 2014): a full-period,
/// well-mixed 64-bit sequence from any seed, in three lines and no crate.
/// Its output is fixed by the algorithm, not by a crate's version, so a
/// seeded replay stays the same across upgrades.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        "2025-06-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn scaled_clock_multiplies_elapsed_time() {
        let origin = Instant::now();
        let clock = ScaledClock::with_origin(t0(), 60.0, origin).unwrap();
        assert_eq!(clock.at(origin), t0());
        let later = origin + Duration::from_millis(1500);
        assert_eq!(clock.at(later), t0() + TimeDelta::seconds(90));
    }

    #[test]
    fn scaled_clock_at_unit_scale_tracks_real_time() {
        let origin = Instant::now();
        let clock = ScaledClock::with_origin(t0(), 1.0, origin).unwrap();
        let later = origin + Duration::from_secs(7);
        assert_eq!(clock.at(later), t0() + TimeDelta::seconds(7));
    }

    #[test]
    fn scaled_clock_is_monotonic_and_saturates() {
        let origin = Instant::now();
        let clock = ScaledClock::with_origin(t0(), 1.0, origin).unwrap();
        let a = clock.now();
        let b = clock.now();
        assert!(b >= a && a >= t0());
        // Instants before the origin read as the start, never earlier.
        assert_eq!(
            clock.at(origin.checked_sub(Duration::from_secs(1)).unwrap_or(origin)),
            t0()
        );
        // Absurd scales saturate at chrono's maximum instead of panicking.
        let fast = ScaledClock::with_origin(t0(), 1e300, origin).unwrap();
        assert_eq!(
            fast.at(origin + Duration::from_secs(1)),
            DateTime::<Utc>::MAX_UTC
        );
    }

    #[test]
    fn scaled_clock_rejects_bad_scales() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(ScaledClock::new(t0(), bad).is_err(), "scale {bad}");
        }
    }

    #[test]
    fn a_scenario_clock_numbers_ids_from_its_seed() {
        let a = ScenarioClock::new(t0(), 7);
        let b = ScenarioClock::new(t0(), 7);
        let first = a.next_id("cor").unwrap();
        assert_eq!(Some(first.clone()), b.next_id("cor"));
        assert_eq!(first.len(), "cor-".len() + 12);
        assert_ne!(Some(first), a.next_id("cor"));
        assert_ne!(
            ScenarioClock::new(t0(), 8).next_id("cor"),
            ScenarioClock::new(t0(), 7).next_id("cor")
        );
        assert_eq!(WallClock.next_id("cor"), None);
    }

    #[test]
    fn manual_clock_sets_and_advances() {
        let clock = ManualClock::new(t0());
        assert_eq!(clock.now(), t0());
        assert_eq!(
            clock.advance(Duration::from_secs(3600)),
            t0() + TimeDelta::hours(1)
        );
        clock.set(t0() - TimeDelta::days(1));
        assert_eq!(clock.now(), t0() - TimeDelta::days(1));
        clock.advance(Duration::MAX);
        assert_eq!(clock.now(), DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn manual_clock_is_shared_across_threads() {
        let clock = Arc::new(ManualClock::new(t0()));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let c = Arc::clone(&clock);
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        c.advance(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(clock.now(), t0() + TimeDelta::milliseconds(800));
        // Arc<ManualClock> is itself a Clock, usable as a trait object.
        let dyn_clock: Arc<dyn Clock> = clock;
        assert_eq!(dyn_clock.now(), t0() + TimeDelta::milliseconds(800));
    }
}
