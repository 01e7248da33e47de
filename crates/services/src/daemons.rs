//! Which of the RFC's daemons one corridord process runs.
//!
//! `corridord all` runs every one of them in one process (the embedded,
//! single-machine story); `corridord corrd`, `corridord memqosd`, … or
//! `corridord all --only corrd,memqosd` run a subset, the RFC's deployment
//! with one systemd unit per daemon, all of them sharing one etcd.
//!
//! Two of the RFC's names are not processes of their own, and saying so is
//! better than pretending:
//!
//! - **heliopassd** runs in corrd's process. Ring tracking is a closed loop
//!   on the very modules corrd provisions (heater writes between reads of
//!   the same lanes, every few milliseconds); the twin's modules live in
//!   the memory of the process that drives them, and a real plant is one
//!   i2c bus per host. Splitting them would need a remote plant API on the
//!   tracking loop's path. Naming `heliopassd` selects corrd.
//! - **metricsd** is every process's `/metrics`: each process exports the
//!   figures of the daemons it runs, and Prometheus scrapes them all.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// One RFC daemon that can run as a process of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RfcDaemon {
    /// Corridors, the optical plant and HELIOPASS calibration and tracking.
    Corrd,
    /// Free-form memory: bundles, policies, the memory backend and the fd
    /// hand-off socket.
    Memqosd,
    /// CXL fabric: switches (FM API transport), paths and the device
    /// inventory.
    Fabmand,
    /// Device attestation, tickets and the platform TPM.
    Attestd,
    /// Translation profiles and the programs launched under them.
    Compatd,
}

impl RfcDaemon {
    pub const ALL: [RfcDaemon; 5] = [
        RfcDaemon::Corrd,
        RfcDaemon::Memqosd,
        RfcDaemon::Fabmand,
        RfcDaemon::Attestd,
        RfcDaemon::Compatd,
    ];

    /// The name the RFC gives it (also its unit's and config file's name).
    pub fn name(self) -> &'static str {
        match self {
            RfcDaemon::Corrd => "corrd",
            RfcDaemon::Memqosd => "memqosd",
            RfcDaemon::Fabmand => "fabmand",
            RfcDaemon::Attestd => "attestd",
            RfcDaemon::Compatd => "compatd",
        }
    }

    /// The daemon that serves the API routes tagged `tag` in the OpenAPI
    /// document; `None` for routes every process serves (probes, the
    /// document, metrics, operations, CorridorLabs).
    pub fn serving_tag(tag: &str) -> Option<RfcDaemon> {
        match tag {
            "corrd" | "heliopassd" => Some(RfcDaemon::Corrd),
            "memqosd" => Some(RfcDaemon::Memqosd),
            "fabmand" => Some(RfcDaemon::Fabmand),
            "attestd" => Some(RfcDaemon::Attestd),
            "compatd" => Some(RfcDaemon::Compatd),
            _ => None,
        }
    }
}

impl fmt::Display for RfcDaemon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DaemonNameError {
    #[error(
        "{0:?} is not a daemon corridord runs (one of corrd, memqosd, fabmand, heliopassd, attestd, compatd)"
    )]
    Unknown(String),
    #[error(
        "metricsd is not a process of its own: every corridord serves /metrics for the daemons it runs"
    )]
    Metricsd,
}

impl FromStr for RfcDaemon {
    type Err = DaemonNameError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.trim() {
            // heliopassd drives corrd's plant: it runs in corrd's process
            // (see the module documentation).
            "heliopassd" => Ok(RfcDaemon::Corrd),
            "metricsd" => Err(DaemonNameError::Metricsd),
            other => RfcDaemon::ALL
                .into_iter()
                .find(|daemon| daemon.name() == other)
                .ok_or_else(|| DaemonNameError::Unknown(other.to_owned())),
        }
    }
}

/// The daemons one process runs; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daemons(BTreeSet<RfcDaemon>);

impl Default for Daemons {
    fn default() -> Self {
        Self::all()
    }
}

impl Daemons {
    /// Every daemon: `corridord all`.
    pub fn all() -> Self {
        Self(RfcDaemon::ALL.into_iter().collect())
    }

    /// Exactly these; `None` when `daemons` is empty (a process that runs
    /// nothing is a configuration mistake, not a daemon).
    pub fn only(daemons: impl IntoIterator<Item = RfcDaemon>) -> Option<Self> {
        let set: BTreeSet<RfcDaemon> = daemons.into_iter().collect();
        (!set.is_empty()).then_some(Self(set))
    }

    pub fn runs(&self, daemon: RfcDaemon) -> bool {
        self.0.contains(&daemon)
    }

    /// Whether this process runs every daemon (the embedded story).
    pub fn is_all(&self) -> bool {
        self.0.len() == RfcDaemon::ALL.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = RfcDaemon> + '_ {
        self.0.iter().copied()
    }
}

impl fmt::Display for Daemons {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|d| d.name()).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_heliopassd_is_corrd_and_metricsd_is_refused() {
        for daemon in RfcDaemon::ALL {
            assert_eq!(daemon.name().parse::<RfcDaemon>(), Ok(daemon));
        }
        assert_eq!("heliopassd".parse::<RfcDaemon>(), Ok(RfcDaemon::Corrd));
        assert_eq!(
            "metricsd".parse::<RfcDaemon>(),
            Err(DaemonNameError::Metricsd)
        );
        assert!(matches!(
            "corridord".parse::<RfcDaemon>(),
            Err(DaemonNameError::Unknown(_))
        ));
    }

    #[test]
    fn a_subset_is_not_all_and_nothing_is_no_set() {
        let two = Daemons::only([RfcDaemon::Memqosd, RfcDaemon::Corrd]).unwrap();
        assert!(two.runs(RfcDaemon::Corrd) && !two.runs(RfcDaemon::Fabmand));
        assert!(!two.is_all());
        assert_eq!(two.to_string(), "corrd,memqosd");
        assert!(Daemons::all().is_all());
        assert_eq!(Daemons::only([]), None);
    }
}
