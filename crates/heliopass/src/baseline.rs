//! The naive baseline the benchmarks hold HELIOPASS against: a per-ring hill climb on the
//! monitor current. Each period it moves the heater one fixed step in its current direction
//! and reverses when the current fell. No dither demodulation, no temperature feed-forward,
//! no crosstalk decoupling, no search window.

use corridor_hal::optical::RingBank;

use crate::error::Result;

/// One ring's hill climber.
#[derive(Debug, Clone, PartialEq)]
pub struct HillClimb {
    /// Heater setpoint, mW.
    pub heater_mw: f64,
    /// Step, mW.
    pub step_mw: f64,
    dir: f64,
    last_ua: f64,
}

impl HillClimb {
    /// Starts at `heater_mw` with a step of `step_mw`.
    #[must_use]
    pub fn new(heater_mw: f64, step_mw: f64) -> Self {
        Self {
            heater_mw,
            step_mw,
            dir: 1.0,
            last_ua: 0.0,
        }
    }

    /// The pure update from one monitor sample.
    pub fn update(&mut self, ua: f64, full_scale_mw: f64) {
        if ua < self.last_ua {
            self.dir = -self.dir;
        }
        self.last_ua = ua;
        self.heater_mw = (self.heater_mw + self.dir * self.step_mw).clamp(0.0, full_scale_mw);
    }
}

/// Steps every climber once: write, wait one period, read, update.
///
/// # Errors
/// The bank's.
pub fn step_all(bank: &mut dyn RingBank, climbers: &mut [HillClimb], period_us: f64) -> Result<()> {
    let h = bank.header();
    for (i, c) in climbers.iter().enumerate() {
        bank.set_heater_code(i, h.heater_code(c.heater_mw))?;
    }
    bank.wait_us(period_us);
    for (i, c) in climbers.iter_mut().enumerate() {
        let ua = h.pd_ua(bank.read(i)?.pd_code);
        c.update(ua, h.heater_full_scale_mw());
    }
    Ok(())
}
