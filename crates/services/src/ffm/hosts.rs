//! The hosts bundles are placed for: every host some discovered device is
//! reachable from, and the default host of requests that name none.
//!
//! A twin inventory lists, per device, the hosts that reach it (its own
//! host for local memory, every host with an upstream port on the switch
//! of a pooled device); the default host is the configured one, else the
//! first host listed (the topology's first). An inventory of this machine
//! lists no hosts: its one host is this machine, named by the configured
//! default or its host name.

use std::collections::BTreeSet;

use super::admission::DeviceInfo;
use super::error::FfmError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Hosts {
    known: BTreeSet<String>,
    default: String,
}

impl Hosts {
    pub(super) fn of(devices: &[DeviceInfo], configured: Option<&str>) -> Result<Self, FfmError> {
        let mut known = BTreeSet::new();
        let mut first = None;
        for host in devices.iter().flat_map(|d| &d.device.hosts) {
            first.get_or_insert_with(|| host.clone());
            known.insert(host.clone());
        }
        let default = match (configured, first) {
            (Some(h), _) => h.to_owned(),
            (None, Some(h)) => h,
            (None, None) => machine_name(),
        };
        if known.is_empty() {
            // This machine's memory alone: every device reaches its one host.
            known.insert(default.clone());
        } else if !known.contains(&default) {
            return Err(FfmError::DefaultHost {
                host: default,
                known: known.into_iter().collect(),
            });
        }
        Ok(Self { known, default })
    }

    /// The host of requests that name none: the host this daemon runs on.
    pub(super) fn default_host(&self) -> &str {
        &self.default
    }

    /// The host a request's bundle is for: the one it names, if known, or
    /// the default.
    pub(super) fn resolve(&self, requested: Option<&str>) -> Result<String, FfmError> {
        match requested {
            None => Ok(self.default.clone()),
            Some(h) if self.known.contains(h) => Ok(h.to_owned()),
            // A reference to the plant no schema can state, as an unknown
            // port or device is: rule `exists`.
            Some(h) => Err(FfmError::field(
                "/host",
                "exists",
                format!(
                    "unknown host {h:?}; bundles can be placed for {:?}",
                    self.known
                ),
            )),
        }
    }
}

/// This machine's host name (the kernel's, `/proc/sys/kernel/hostname`), or
/// `localhost` if it has none.
fn machine_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|n| n.trim().to_owned())
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
