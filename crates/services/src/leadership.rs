//! Leader election for the work one replica does for the whole cluster:
//! corrd's reconciler, heliopassd's tracking, fabmand's path reconciler and
//! attestd's renewals.
//!
//! The leader holds a key (`/leader/corridord`) on a store lease it keeps
//! alive; the key's create revision is its fencing token
//! ([`corridor_store::fencing`]), carried by every write the singleton work
//! makes. Replicas that lose the race watch the key and campaign again when
//! it is deleted (resignation, or the lease lapsing: a crashed or paused
//! leader is replaced within one TTL).
//!
//! A leader that cannot renew its lease stops leading once the lease could
//! have lapsed at the store (one TTL after its last renewal), whether or not
//! it heard so; a paused leader that resumes may still try a write before it
//! notices, and the fence refuses it.
//!
//! On the embedded store exactly one process can open the file, so that
//! process leads for as long as it runs ([`Leadership::sole`]) and its writes
//! need no fence.

use std::sync::Arc;
use std::time::{Duration, Instant};

use corridor_store::fencing::FencingToken;
use corridor_store::{
    Compare, EventKind, LeaseId, Op, OpResult, Revision, StateStore, StoreError, Txn,
};
use futures::StreamExt;
use tokio::sync::watch;

/// The key the leader holds.
pub const LEADER_KEY: &str = "/leader/corridord";

/// The key whose holder runs `daemon`'s work for the cluster, for the
/// daemons that have such work: corrd (its reconciler and heliopassd's ring
/// tracking, on the plant it owns — the historic key, kept so operators and
/// older replicas agree on it), fabmand (the path reconciler) and attestd
/// (renewals). memqosd has none (each host's memqosd serves its own
/// hosts, fenced per host), nor has compatd.
pub fn leader_key(daemon: crate::daemons::RfcDaemon) -> Option<&'static str> {
    use crate::daemons::RfcDaemon;
    match daemon {
        RfcDaemon::Corrd => Some(LEADER_KEY),
        RfcDaemon::Fabmand => Some("/leader/fabmand"),
        RfcDaemon::Attestd => Some("/leader/attestd"),
        RfcDaemon::Memqosd | RfcDaemon::Compatd => None,
    }
}

/// How long a leader's lease lives without renewal: the longest the cluster
/// goes without a leader after one dies.
pub const DEFAULT_LEADER_TTL: Duration = Duration::from_secs(5);

/// Leading, and what its writes must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leader {
    /// `None` for the sole process of an embedded store.
    pub token: Option<FencingToken>,
}

/// This replica's part in the election.
#[derive(Debug)]
pub struct Leadership {
    state: watch::Receiver<Option<Leader>>,
    campaign: Option<tokio::task::JoinHandle<()>>,
    /// The lease held while leading, to resign with.
    held: Arc<std::sync::Mutex<Option<LeaseId>>>,
    store: Option<Arc<dyn StateStore>>,
    /// The sole leader's sender, kept so the state never reads as closed.
    _sole: Option<watch::Sender<Option<Leader>>>,
}

impl Leadership {
    /// The only process that can use the store: it leads from the start.
    pub fn sole() -> Self {
        let (sole, state) = watch::channel(Some(Leader { token: None }));
        Self {
            state,
            campaign: None,
            held: Arc::default(),
            store: None,
            _sole: Some(sole),
        }
    }

    /// Campaigns for [`LEADER_KEY`] on `store` as `identity` (written as the
    /// key's value, for operators), for as long as this lives.
    pub fn campaign(store: Arc<dyn StateStore>, identity: String, ttl: Duration) -> Self {
        Self::campaign_for(LEADER_KEY, store, identity, ttl)
    }

    /// Campaigns for `key` (one of [`leader_key`]'s) on `store` as `identity`.
    pub fn campaign_for(
        key: &str,
        store: Arc<dyn StateStore>,
        identity: String,
        ttl: Duration,
    ) -> Self {
        let (tx, state) = watch::channel(None);
        let held = Arc::new(std::sync::Mutex::new(None));
        let campaign = tokio::spawn(campaign(
            Arc::clone(&store),
            Candidate {
                key: key.to_owned(),
                identity,
                ttl,
            },
            tx,
            Arc::clone(&held),
        ));
        Self {
            state,
            campaign: Some(campaign),
            held,
            store: Some(store),
            _sole: None,
        }
    }

    /// Whether this replica leads now, and with which token.
    pub fn current(&self) -> Option<Leader> {
        self.state.borrow().clone()
    }

    /// Follows the leadership: `Some` while leading.
    pub fn subscribe(&self) -> watch::Receiver<Option<Leader>> {
        self.state.clone()
    }

    /// Stops campaigning and, if leading, gives the leadership up now (the
    /// next replica need not wait for the lease to lapse).
    pub async fn resign(mut self) {
        if let Some(campaign) = self.campaign.take() {
            campaign.abort();
            let _ = campaign.await;
        }
        let lease = self.held.lock().map(|mut held| held.take()).unwrap_or(None);
        if let (Some(store), Some(lease)) = (&self.store, lease)
            && let Err(error) = store.lease_revoke(lease).await
        {
            tracing::warn!(%error, "could not resign the leadership; it lapses with its lease");
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        if let Some(campaign) = &self.campaign {
            campaign.abort();
        }
    }
}

#[derive(Debug, Clone)]
struct Candidate {
    key: String,
    identity: String,
    ttl: Duration,
}

/// After a store error, the pause before trying again.
const RETRY: Duration = Duration::from_millis(250);

async fn campaign(
    store: Arc<dyn StateStore>,
    candidate: Candidate,
    state: watch::Sender<Option<Leader>>,
    held: Arc<std::sync::Mutex<Option<LeaseId>>>,
) {
    loop {
        match try_lead(store.as_ref(), &candidate).await {
            Ok(Attempt::Won {
                token,
                lease,
                granted,
            }) => {
                tracing::info!(key = %candidate.key, revision = token.create_revision, "leading");
                if let Ok(mut held) = held.lock() {
                    *held = Some(lease);
                }
                let _ = state.send(Some(Leader {
                    token: Some(token.clone()),
                }));
                hold(store.as_ref(), &candidate, &token, lease, granted).await;
                let _ = state.send(None);
                if let Ok(mut held) = held.lock() {
                    *held = None;
                }
                tracing::warn!(key = %candidate.key, "no longer leading");
            }
            Ok(Attempt::Lost { observed }) => {
                wait_for_vacancy(store.as_ref(), &candidate, observed).await;
            }
            Err(error) => {
                tracing::warn!(%error, key = %candidate.key, "campaign failed; trying again");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

enum Attempt {
    Won {
        token: FencingToken,
        lease: LeaseId,
        /// When the lease was asked for: it lapses one TTL after at the
        /// earliest.
        granted: Instant,
    },
    Lost {
        observed: Revision,
    },
}

/// One try: a fresh lease, and the key on it if nobody holds it.
async fn try_lead(store: &dyn StateStore, candidate: &Candidate) -> Result<Attempt, StoreError> {
    let granted = Instant::now();
    let lease = store.lease_grant(candidate.ttl).await?;
    let response = store
        .txn(
            Txn::new()
                .when([Compare::absent(&candidate.key)])
                .and_then([Op::put_with_lease(
                    &candidate.key,
                    candidate.identity.clone().into_bytes(),
                    lease,
                )])
                .or_else([Op::get(&candidate.key)]),
        )
        .await;
    match response {
        Ok(response) if response.succeeded => Ok(Attempt::Won {
            token: FencingToken {
                key: candidate.key.clone(),
                create_revision: response.revision,
            },
            lease,
            granted,
        }),
        other => {
            let _ = store.lease_revoke(lease).await;
            let response = other?;
            let holder = match response.results.first() {
                Some(OpResult::Get { kv: Some(kv) }) => {
                    String::from_utf8_lossy(&kv.value).into_owned()
                }
                _ => "nobody (deleted since)".to_owned(),
            };
            tracing::debug!(key = %candidate.key, %holder, "another replica leads");
            Ok(Attempt::Lost {
                observed: response.revision,
            })
        }
    }
}

/// Keeps the lease alive while the key is still this leader's. Returns
/// when the leadership is lost, or could have been: the lease is gone, the
/// key changed hands, or no renewal succeeded for a whole TTL. `renewed` is
/// when the lease was granted (a lower bound of its start at the store).
///
/// A store call that hangs (the store cut off, its connections blackholed)
/// is given up once the TTL since the last renewal has passed: waiting for
/// it would keep this replica leading, running the singleton work beside
/// its successor, for as long as the store client's own timeouts allow.
async fn hold(
    store: &dyn StateStore,
    candidate: &Candidate,
    token: &FencingToken,
    lease: LeaseId,
    mut renewed: Instant,
) {
    let left = |renewed: Instant| candidate.ttl.saturating_sub(renewed.elapsed());
    loop {
        // Expiry is measured from the renewal's start at the store's end
        // at best; a third of the TTL leaves two tries before it.
        tokio::time::sleep((candidate.ttl / 3).min(left(renewed))).await;
        if renewed.elapsed() >= candidate.ttl {
            return;
        }
        let attempt = Instant::now();
        match tokio::time::timeout(left(renewed), store.lease_keep_alive(lease)).await {
            Err(_) => {
                tracing::warn!("no renewal of the leader's lease for a whole TTL");
                return;
            }
            Ok(Ok(_)) => {}
            Ok(Err(StoreError::LeaseNotFound(_))) => return,
            Ok(Err(error)) => {
                tracing::warn!(%error, "could not renew the leader's lease");
                continue;
            }
        }
        match tokio::time::timeout(left(renewed), store.get(&candidate.key)).await {
            Err(_) => {
                tracing::warn!("the leader key could not be read back within the TTL");
                return;
            }
            Ok(Ok(Some(kv))) if kv.create_revision == token.create_revision => renewed = attempt,
            Ok(Ok(_)) => return,
            Ok(Err(error)) => tracing::warn!(%error, "could not read the leader key"),
        }
    }
}

/// Waits until the key is deleted after `observed` (or a TTL passes, in
/// case the watch missed it), then returns to campaign again.
async fn wait_for_vacancy(store: &dyn StateStore, candidate: &Candidate, observed: Revision) {
    let deleted = async {
        let mut events = match store.watch(&candidate.key, observed + 1).await {
            Ok(events) => events,
            Err(error) => {
                tracing::debug!(%error, "cannot watch the leader key");
                tokio::time::sleep(RETRY).await;
                return;
            }
        };
        while let Some(event) = events.next().await {
            match event {
                Ok(event) if event.kv.key == candidate.key && event.kind == EventKind::Delete => {
                    return;
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    };
    let _ = tokio::time::timeout(candidate.ttl, deleted).await;
}
