//! What the memory service can answer besides the registry's errors, and
//! its problem+json.

use corridor_model::problem::{FieldViolation, Problem};
use corridor_planner::memory::{Rejection, Tier};

use super::memory::MemoryError;
use super::vault::VaultError;
use crate::ServiceError;
use crate::error::ToProblem;
use crate::error::error_chain;

#[derive(Debug, thiserror::Error)]
pub enum FfmError {
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    /// The ledger refused: capacity (bytes, a floor in a window, a policy)
    /// or a device class with no device.
    #[error("{0}")]
    Rejected(Rejection),
    /// The ledger refused a bundle placed for `host`, which reaches too
    /// little (or none) of the tier.
    #[error("host {host} cannot reach enough {class} memory: {rejection}")]
    HostCannotReach {
        host: String,
        class: Tier,
        rejection: Rejection,
    },
    #[error("the default host {host:?} reaches none of the discovered memory (hosts: {known:?})")]
    DefaultHost { host: String, known: Vec<String> },
    #[error("another memqosd opened this store and now serves this host's bundles")]
    Fenced,
    /// The request is for a host whose bundles another memqosd allocates (their memory
    /// lives in that process).
    #[error(
        "bundles of host {host} are allocated by the memqosd serving it ({served_by}), not this one; send the request there"
    )]
    HostServedElsewhere { host: String, served_by: String },
    /// A served host named in the configuration that cannot be served.
    #[error("memqosd cannot serve host {host:?}: {reason}")]
    ServedHost { host: String, reason: String },
    /// A device reachable from hosts some of which another memqosd serves.
    #[error(
        "devices shared with hosts this memqosd does not serve need one memqosd serving all their hosts (or fabric paths slicing them per host): {devices:?}"
    )]
    SharedDevices { devices: Vec<String> },
    /// The ledger kept changing under a decision (other memqosds granting or changing
    /// policies at the same moment).
    #[error("the capacity ledger changed under the decision {attempts} times; try again")]
    LedgerChanged { attempts: usize },
    /// A slice of a pooled device lost the path that gave its host reach while the write
    /// was being made.
    #[error(
        "no active fabric path gives host {host} reach to {device} any more (it is being released or changed); try again"
    )]
    ReachWithdrawn { device: String, host: String },
    /// The hugetlb pool has too few free 2 MiB pages for a bundle that asks for them.
    #[error(
        "the bundle needs {needed} free 2 MiB huge pages and the hugetlb pool has {}; an operator grows it through /proc/sys/vm/nr_hugepages (or hugepages= at boot)",
        available.map_or_else(|| "none".to_owned(), |n| format!("{n} free"))
    )]
    HugePagesUnavailable { needed: u64, available: Option<u64> },
    #[error("bundle {0:?} is migrating; try again when its operation ends")]
    MigrationInProgress(String),
    #[error("security domain {domain:?} already has a policy named {name:?}")]
    PolicyNameTaken { domain: String, name: String },
    #[error(transparent)]
    Memory(#[from] MemoryError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// A security domain's encrypted directory could not be unlocked (TPM, fscrypt).
    #[error("the encrypted directory of a persistent bundle could not be unlocked")]
    Vault(#[from] VaultError),
    #[error("the memory provider could not list the devices")]
    Provider(#[source] corridor_hal::memory::MemoryError),
    #[error("the memory-bandwidth counter could not be read")]
    Counter(#[source] corridor_hal::memory::MemoryError),
    #[error("the {0} task ended without an answer")]
    Task(&'static str, #[source] tokio::task::JoinError),
}

/// The ledger's refusals that are not about capacity become the service's
/// own errors here, once, so every `?` on a ledger call reports them right:
/// an id the ledger does not know is the `NotFound` of its kind, and a
/// bundle already migrating is its own conflict.
impl From<Rejection> for FfmError {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::UnknownBundle(id) => {
                FfmError::Service(ServiceError::NotFound { kind: "ffm", id })
            }
            Rejection::UnknownPolicy(id) => FfmError::Service(ServiceError::NotFound {
                kind: "policies",
                id,
            }),
            Rejection::Migrating(id) => FfmError::MigrationInProgress(id),
            other => FfmError::Rejected(other),
        }
    }
}

impl ToProblem for FfmError {
    fn to_problem(&self) -> Problem {
        match self {
            FfmError::Invalid(errors) => Problem::validation(errors.clone()),
            FfmError::Rejected(r) => Problem::insufficient_capacity(r.to_string()),
            FfmError::HostCannotReach { .. } => Problem::insufficient_capacity(self.to_string()),
            FfmError::Fenced => Problem::conflict("LedgerFenced", self.to_string()),
            FfmError::HostServedElsewhere { .. } => {
                Problem::conflict("HostServedElsewhere", self.to_string())
            }
            FfmError::LedgerChanged { .. } => Problem::conflict("LedgerChanged", self.to_string()),
            FfmError::ReachWithdrawn { .. } => {
                Problem::conflict("FabricPathWithdrawn", self.to_string())
            }
            FfmError::HugePagesUnavailable { .. } => {
                Problem::conflict("HugePagesUnavailable", self.to_string())
            }
            FfmError::MigrationInProgress(_) => {
                Problem::conflict("MigrationInProgress", self.to_string())
            }
            FfmError::PolicyNameTaken { .. } => {
                Problem::conflict("PolicyNameTaken", self.to_string())
            }
            FfmError::Service(e) => e.to_problem(),
            FfmError::Memory(_)
            | FfmError::Vault(_)
            | FfmError::Provider(_)
            | FfmError::Counter(_)
            | FfmError::Task(..)
            | FfmError::DefaultHost { .. }
            | FfmError::ServedHost { .. }
            | FfmError::SharedDevices { .. } => Problem::internal(error_chain(self)),
        }
    }
}

impl FfmError {
    /// A ledger refusal of a bundle placed for `host`: capacity refusals
    /// name the host and the tier (the host may reach too little of it);
    /// the others keep their own answers.
    pub(super) fn for_host(host: &str, class: Tier, rejection: Rejection) -> Self {
        match rejection {
            r
            @ (Rejection::Bandwidth { .. } | Rejection::Bytes { .. } | Rejection::NoDevice(_)) => {
                FfmError::HostCannotReach {
                    host: host.to_owned(),
                    class,
                    rejection: r,
                }
            }
            other => other.into(),
        }
    }

    /// Whether this is the server's fault (worth logging), not the client's.
    pub fn is_internal(&self) -> bool {
        self.to_problem().status >= 500
    }

    pub(super) fn field(pointer: &str, rule: &str, message: impl Into<String>) -> Self {
        FfmError::Invalid(vec![FieldViolation {
            pointer: pointer.to_owned(),
            rule: rule.to_owned(),
            message: message.into(),
        }])
    }
}

/// Maps a store failure to the service error naming what was being done.
pub(super) fn store_err(
    context: &'static str,
) -> impl FnOnce(corridor_store::StoreError) -> FfmError {
    move |source| FfmError::Service(ServiceError::Store { context, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_refusals_that_are_not_capacity_get_their_own_answers() {
        let p = FfmError::from(Rejection::UnknownPolicy("pol-1".into())).to_problem();
        assert_eq!(
            (p.status, p.detail.as_str()),
            (404, "policies \"pol-1\" not found")
        );
        let p = FfmError::from(Rejection::UnknownBundle("ffm-1".into())).to_problem();
        assert_eq!(
            (p.status, p.detail.as_str()),
            (404, "ffm \"ffm-1\" not found")
        );
        let p = FfmError::from(Rejection::Migrating("ffm-1".into())).to_problem();
        assert_eq!(
            (p.status, p.reason.as_deref()),
            (409, Some("MigrationInProgress"))
        );
        let p =
            FfmError::from(Rejection::NoDevice(corridor_planner::memory::Tier::T0)).to_problem();
        assert_eq!(
            (p.status, p.reason.as_deref()),
            (409, Some("InsufficientCapacity"))
        );
    }
}
