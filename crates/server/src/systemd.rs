//! systemd's service notifications (`Type=notify`): `READY=1` once
//! corridord serves, `STOPPING=1` when it starts draining, and `WATCHDOG=1`
//! at half the unit's `WatchdogSec` for as long as the runtime runs and
//! the store answers — so a wedged runtime or store gets the process
//! restarted instead of a unit that looks alive.
//!
//! Outside systemd (`NOTIFY_SOCKET` unset) every call does nothing.

use std::sync::Arc;
use std::time::Duration;

use corridor_store::StateStore;
use sd_notify::NotifyState;

/// What the service manager asked for, read once from the environment at
/// start (the environment is never modified: corridord is multi-threaded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notifier {
    /// `WATCHDOG_USEC`, when it is set for this process.
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `WATCHDOG_USEC` and `WATCHDOG_PID`. As libsystemd's
    /// `sd_watchdog_enabled`, a watchdog whose `WATCHDOG_PID` names another
    /// process is not ours; one without `WATCHDOG_PID` is.
    pub fn from_env() -> Notifier {
        Notifier::from_vars(
            std::env::var("WATCHDOG_USEC").ok().as_deref(),
            std::env::var("WATCHDOG_PID").ok().as_deref(),
            std::process::id(),
        )
    }

    fn from_vars(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Notifier {
        let ours = pid.is_none_or(|pid| pid.trim().parse::<u32>() == Ok(own_pid));
        let watchdog = usec
            .and_then(|usec| usec.trim().parse::<u64>().ok())
            .filter(|&usec| usec > 0 && ours)
            .map(Duration::from_micros);
        Notifier { watchdog }
    }

    /// The watchdog interval systemd expects pings within, if any.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }

    /// `READY=1` with a status line.
    pub fn ready(&self, status: &str) {
        send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// `STOPPING=1`: draining has begun.
    pub fn stopping(&self) {
        send(&[NotifyState::Stopping, NotifyState::Status("draining")]);
    }

    /// Pings the watchdog at half its interval while `store` answers within
    /// that half; a store that does not answer skips the ping, so systemd
    /// restarts corridord once a whole interval has gone by without one.
    pub fn spawn_watchdog(
        &self,
        store: Arc<dyn StateStore>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let period = self.watchdog? / 2;
        Some(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            loop {
                ticker.tick().await;
                match tokio::time::timeout(period, store.current_revision()).await {
                    Ok(Ok(_)) => send(&[NotifyState::Watchdog]),
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "store does not answer; watchdog not pinged")
                    }
                    Err(_) => tracing::warn!(
                        period_ms = period.as_millis() as u64,
                        "store did not answer within the watchdog period; not pinged"
                    ),
                }
            }
        }))
    }
}

fn send(states: &[NotifyState]) {
    if let Err(error) = sd_notify::notify(false, states) {
        tracing::warn!(%error, "cannot notify the service manager");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_is_ours_unless_another_pid_is_named() {
        let ours = Notifier::from_vars(Some("2000000"), Some("42"), 42);
        assert_eq!(ours.watchdog(), Some(Duration::from_secs(2)));
        let no_pid = Notifier::from_vars(Some("500000"), None, 42);
        assert_eq!(no_pid.watchdog(), Some(Duration::from_millis(500)));
        assert_eq!(
            Notifier::from_vars(Some("2000000"), Some("7"), 42).watchdog(),
            None
        );
        assert_eq!(Notifier::from_vars(Some("0"), None, 42).watchdog(), None);
        assert_eq!(Notifier::from_vars(Some("soon"), None, 42).watchdog(), None);
        assert_eq!(Notifier::from_vars(None, Some("42"), 42).watchdog(), None);
    }
}
