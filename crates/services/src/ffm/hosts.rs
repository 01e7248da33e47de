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
    /// The hosts whose bundles this memqosd allocates (their memory lives here).
    served: BTreeSet<String>,
    default: String,
    /// The devices list hosts (a twin or fabric inventory every memqosd shares), so the
    /// grants of hosts served elsewhere are on devices this ledger knows too.
    shared_inventory: bool,
}

impl Hosts {
    /// `serve`: the hosts this memqosd allocates for (`None`: every known host).
    pub(super) fn of(
        devices: &[DeviceInfo],
        configured: Option<&str>,
        serve: Option<&[String]>,
    ) -> Result<Self, FfmError> {
        let mut known = BTreeSet::new();
        let mut first = None;
        for host in devices.iter().flat_map(|d| &d.device.hosts) {
            first.get_or_insert_with(|| host.clone());
            known.insert(host.clone());
        }
        let shared_inventory = !known.is_empty();
        let default = match (configured, serve.and_then(|s| s.first()), first) {
            (Some(h), _, _) => h.to_owned(),
            (None, Some(h), _) => h.clone(),
            (None, None, Some(h)) => h,
            (None, None, None) => machine_name(),
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
        let served: BTreeSet<String> = match serve {
            None => known.clone(),
            Some(hosts) => hosts.iter().cloned().collect(),
        };
        if let Some(unknown) = served.iter().find(|h| !known.contains(*h)) {
            return Err(FfmError::ServedHost {
                host: unknown.clone(),
                reason: format!("no discovered memory is reachable from it (hosts: {known:?})"),
            });
        }
        if !served.contains(&default) {
            return Err(FfmError::ServedHost {
                host: default,
                reason: format!("it is the default host but not among the served ones {served:?}"),
            });
        }
        Ok(Self {
            known,
            served,
            default,
            shared_inventory,
        })
    }

    /// Every host some device is reachable from.
    pub(super) fn known(&self) -> impl Iterator<Item = &str> {
        self.known.iter().map(String::as_str)
    }

    /// The hosts whose bundles this memqosd allocates.
    pub(super) fn served(&self) -> &BTreeSet<String> {
        &self.served
    }

    /// Whether this memqosd allocates the bundles of `host`.
    pub(super) fn serves(&self, host: &str) -> bool {
        self.served.contains(host)
    }

    /// Whether the grants of hosts served elsewhere are on devices this ledger knows
    /// (every memqosd discovers the same inventory): then it counts them.
    pub(super) fn records_others(&self) -> bool {
        self.shared_inventory && self.served.len() < self.known.len()
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
