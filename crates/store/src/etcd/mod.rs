//! [`StateStore`] on an etcd v3 cluster, for control planes that span
//! machines.
//!
//! The trait was modelled on etcd's API, so this backend is a field-by-field
//! mapping: ranges are etcd ranges over `[prefix, prefix_end)`, transactions
//! are etcd transactions (the compares, puts, deletes and gets translate one
//! to one), leases and watches are etcd's own. What etcd reports as an error
//! string is turned back into the [`StoreError`] kinds the trait promises
//! (`LeaseNotFound`, `Compacted`, `FutureRevision`, `InvalidRequest`), and
//! the shared conformance suite runs against a real etcd in the tests.
//!
//! ## Several endpoints
//!
//! The store keeps one gRPC channel per endpoint, not etcd-client's
//! balanced channel (which keeps sending to a dead member), and sends each
//! request to the member that answered last. When that member fails the
//! request moves on to the next one, for up to `EtcdOptions::failover`
//! (long enough to wait out an election, which outlasts one request's
//! timeout), but only if repeating it is safe:
//!
//! - the request never left this process (the connection was refused, or
//!   the member said it has no leader before looking at the request, which
//!   is what `require_leader` makes it do): safe for every request;
//! - reads (ranges, read-only transactions, lease TTL lookups), keep-alives
//!   and compactions: safe whatever happened, they change nothing or
//!   change it to the same thing twice;
//! - lease grants: a grant whose answer was lost leaves a lease that holds
//!   no key and expires after its TTL, so granting again is safe;
//! - a revoke retried after one that may have landed and answered "not
//!   found" is reported as done (the lease is gone, as asked);
//! - a transaction that writes, after the request may have reached a member
//!   (a timeout, a reset connection, "request timed out", "leader changed"):
//!   **not retried**. It may have committed, so it fails with an error for
//!   which [`outcome_unknown`] is true; the caller reads back or repeats a
//!   transaction whose compares make a second run a no-op.
//!
//! Watches resume on another member from the revision after the last one
//! they delivered, and end with [`StoreError::Compacted`] if that history is
//! gone by then (the caller relists), as any watch does.
//!
//! Keys must be UTF-8 (the trait's keys are `String`s); a non-UTF-8 key
//! written by another etcd client under the same prefix is reported as
//! corrupt data rather than silently skipped.

#[cfg(feature = "conformance")]
pub mod testing;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use etcd_client::{
    Client, CompactionOptions, ConnectOptions, DeleteOptions, EventType, GetOptions,
    LeaseTimeToLiveOptions, PutOptions, TxnOp, TxnOpResponse, WatchOptions,
};
use futures::StreamExt;

use crate::{
    Compare, CompareOp, CompareTarget, EventKind, KeyValue, KvEvent, LeaseId, LeaseInfo, Op,
    OpResult, RangeRequest, RangeResponse, Revision, StateStore, StoreError, Txn, TxnResponse,
    WatchStream,
};

/// How to reach the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdOptions {
    /// Client URLs, e.g. `https://10.0.0.1:2379`.
    pub endpoints: Vec<String>,
    /// Connection and per-request timeout: how long one member may take
    /// to answer one attempt.
    pub timeout: Duration,
    /// How long a request keeps moving between members while none takes
    /// it (at least one attempt on each). An election outlasts `timeout`:
    /// etcd's followers campaign only after one to two election timeouts
    /// (1-2 s by default), and a loaded machine stretches that. When no
    /// member is up at all (every connection refused) there is no election
    /// to wait for, and a request gives up after `timeout`.
    pub failover: Duration,
    /// TLS (with `https://` endpoints): the CA that signed etcd's server
    /// certificate and, for etcd's `--client-cert-auth`, our certificate.
    pub tls: Option<EtcdTls>,
}

/// PEM files for a TLS (and optionally mutual TLS) connection to etcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdTls {
    pub ca: PathBuf,
    /// Client certificate and key, both or neither.
    pub identity: Option<(PathBuf, PathBuf)>,
}

impl EtcdOptions {
    pub fn new(endpoints: impl IntoIterator<Item = impl Into<String>>) -> Self {
        EtcdOptions {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            timeout: Duration::from_secs(5),
            failover: Duration::from_secs(15),
            tls: None,
        }
    }

    #[must_use]
    pub fn with_tls(mut self, tls: EtcdTls) -> Self {
        self.tls = Some(tls);
        self
    }
}

fn read_pem(path: &Path) -> Result<Vec<u8>, StoreError> {
    std::fs::read(path).map_err(|source| StoreError::Backend {
        context: "read a PEM file for the etcd connection",
        source: format!("{}: {source}", path.display()).into(),
    })
}

impl EtcdTls {
    fn options(&self) -> Result<etcd_client::TlsOptions, StoreError> {
        let mut tls = etcd_client::TlsOptions::new()
            .ca_certificate(etcd_client::Certificate::from_pem(read_pem(&self.ca)?));
        if let Some((cert, key)) = &self.identity {
            tls = tls.identity(etcd_client::Identity::from_pem(
                read_pem(cert)?,
                read_pem(key)?,
            ));
        }
        Ok(tls)
    }
}

/// The etcd-backed store. Cheap to clone: clones share the channels.
#[derive(Clone)]
pub struct EtcdStore {
    /// One client per endpoint, each with its own channel, in endpoint order.
    clients: Arc<[Client]>,
    /// The index of the member that answered last: requests go there first.
    current: Arc<AtomicUsize>,
    endpoints: Vec<String>,
    /// How long to keep moving between members before giving up, when at
    /// least one is up (`failover`) and when none is (`timeout`).
    failover: Duration,
    timeout: Duration,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.endpoints)
            .field("current", &self.current.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A transaction that writes was sent to a member that then failed to
/// answer: it may or may not have committed. See [`outcome_unknown`].
#[derive(Debug, thiserror::Error)]
#[error(
    "etcd member {endpoint} failed before answering a transaction that writes; it may have committed"
)]
pub struct OutcomeUnknown {
    pub endpoint: String,
    #[source]
    source: etcd_client::Error,
}

/// Whether `error` is a write transaction's unknown outcome on etcd: the
/// transaction may have committed, so the caller must read back (or repeat
/// it only if its compares make a second run harmless) rather than assume
/// it did nothing.
pub fn outcome_unknown(error: &StoreError) -> bool {
    match error {
        StoreError::Backend { source, .. } => source.downcast_ref::<OutcomeUnknown>().is_some(),
        _ => false,
    }
}

/// What a failed request tells about its effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The member answered: the error is about the request, not the member
    /// (not found, compacted, invalid...). Another member would say the same.
    Answered,
    /// The request never reached etcd's consensus: safe to send elsewhere.
    NotSent,
    /// The member failed after the request may have reached it.
    Unknown,
}

/// Whether a request may be sent again after an [`Outcome::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
    /// Reads, keep-alives, grants, revokes, compactions, watch creations.
    Safe,
    /// A transaction that writes.
    OnlyIfNotSent,
}

/// gRPC status codes (`tonic::Code`'s discriminants; tonic itself is not a
/// dependency of this crate).
mod code {
    pub const CANCELLED: i32 = 1;
    pub const UNKNOWN: i32 = 2;
    pub const DEADLINE_EXCEEDED: i32 = 4;
    pub const ABORTED: i32 = 10;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
}

/// Messages of `Unavailable` errors raised before a request is handed to
/// etcd's consensus: tonic's failure to connect (the member is down), and
/// etcd's `require_leader` check, which refuses before reading the request.
const NOT_SENT: &[&str] = &[
    "tcp connect error",
    "Connection refused",
    "error trying to connect",
    "etcdserver: no leader",
];

/// Of [`NOT_SENT`], the messages that say nothing listens at a member's
/// address. A request that meets only these, on every member, has no
/// election to wait for: it gives up after one `timeout`, not `failover`.
const UNREACHABLE: &[&str] = &[
    "tcp connect error",
    "Connection refused",
    "error trying to connect",
];

fn unreachable(error: &etcd_client::Error) -> bool {
    matches!(error, etcd_client::Error::GRpcStatus(status)
        if UNREACHABLE.iter().any(|m| status.message().contains(m)))
}

fn outcome_of(error: &etcd_client::Error) -> Outcome {
    match error {
        etcd_client::Error::GRpcStatus(status) => {
            let message = status.message();
            match status.code() as i32 {
                code::UNAVAILABLE if NOT_SENT.iter().any(|m| message.contains(m)) => {
                    Outcome::NotSent
                }
                code::CANCELLED
                | code::UNKNOWN
                | code::DEADLINE_EXCEEDED
                | code::ABORTED
                | code::INTERNAL
                | code::UNAVAILABLE => Outcome::Unknown,
                _ => Outcome::Answered,
            }
        }
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => Outcome::Unknown,
        // The keep-alive stream's own errors ("lease not found") and the
        // like are answers.
        _ => Outcome::Answered,
    }
}

/// A request that failed on every member it was sent to, or was answered
/// with an error, or may have committed.
#[derive(Debug)]
struct Failure {
    error: etcd_client::Error,
    endpoint: String,
    outcome: Outcome,
    /// Whether an earlier attempt on another member may have taken effect.
    repeated_after_unknown: bool,
}

/// The error of the member that failed last, naming it.
#[derive(Debug, thiserror::Error)]
#[error("etcd member {endpoint}")]
struct MemberError {
    endpoint: String,
    #[source]
    source: etcd_client::Error,
}

impl Failure {
    fn into_store_error(self, context: &'static str) -> StoreError {
        StoreError::backend(
            context,
            MemberError {
                endpoint: self.endpoint,
                source: self.error,
            },
        )
    }
}

impl EtcdStore {
    /// Sends a request to the current member and, when it fails in a way
    /// `repeat` allows, to the next ones, for up to the store's failover
    /// budget (every member is tried at least once).
    async fn call<T, F, Fut>(&self, repeat: Repeat, mut request: F) -> Result<T, Failure>
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let started = Instant::now();
        let members = self.clients.len();
        let first = self.current.load(Ordering::Relaxed) % members;
        let mut repeated_after_unknown = false;
        // Per member, whether its latest failure shows it up (it timed out,
        // reset the connection or said it has no leader) rather than not
        // listening: only then is there an election worth waiting for. The
        // latest, because a member killed under an open connection first
        // resets it and then refuses the next one.
        let mut up = vec![false; members];
        let mut attempt = 0;
        loop {
            let i = (first + attempt) % members;
            let error = match request(self.clients[i].clone()).await {
                Ok(answer) => {
                    self.current.store(i, Ordering::Relaxed);
                    return Ok(answer);
                }
                Err(error) => error,
            };
            let outcome = outcome_of(&error);
            up[i] = !unreachable(&error);
            let failure = Failure {
                error,
                endpoint: self.endpoints[i].clone(),
                outcome,
                repeated_after_unknown,
            };
            if outcome != Outcome::Answered {
                // Whatever the caller does next, this member is suspect:
                // the next request starts on the next one.
                let _ = self.current.compare_exchange(
                    i,
                    (i + 1) % members,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
            let again = match (outcome, repeat) {
                (Outcome::Answered, _) => false,
                (Outcome::NotSent, _) | (Outcome::Unknown, Repeat::Safe) => true,
                (Outcome::Unknown, Repeat::OnlyIfNotSent) => false,
            };
            attempt += 1;
            let budget = if up.contains(&true) {
                self.failover
            } else {
                self.timeout
            };
            if !again || (attempt >= members && started.elapsed() >= budget) {
                return Err(failure);
            }
            repeated_after_unknown |= outcome == Outcome::Unknown;
            tracing::debug!(
                endpoint = %failure.endpoint,
                error = %failure.error,
                "etcd member failed; trying the next one"
            );
            if attempt % members == 0 {
                // Every member failed: an election is likely under way.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// Whether history before `revision` is gone (etcd refuses to read at it).
    async fn compacted_before(&self, revision: Revision) -> Result<bool, StoreError> {
        let read = self
            .call(Repeat::Safe, |mut client| async move {
                client
                    .get(
                        vec![0],
                        Some(GetOptions::new().with_count_only().with_revision(revision)),
                    )
                    .await
            })
            .await;
        match read {
            Ok(_) => Ok(false),
            Err(f) if status_message(&f.error).is_some_and(|m| m.contains("compacted")) => Ok(true),
            // A future revision is fine: the watch waits for it.
            Err(f) if status_message(&f.error).is_some_and(|m| m.contains("future")) => Ok(false),
            Err(f) => Err(f.into_store_error("check etcd's compaction")),
        }
    }

    /// Connects and checks that the cluster answers (through any member).
    pub async fn connect(options: EtcdOptions) -> Result<Self, StoreError> {
        if options.endpoints.is_empty() {
            return Err(StoreError::InvalidRequest("no etcd endpoints".into()));
        }
        let mut connect = ConnectOptions::new()
            .with_connect_timeout(options.timeout)
            .with_timeout(options.timeout)
            // A member cut off from the others refuses at once rather than
            // stalling until the timeout: the request can go elsewhere.
            .with_require_leader(true)
            // HTTP/2 pings on open streams, so a watch on a member that
            // stopped answering (paused, cut off) ends and resumes
            // elsewhere. etcd turns away clients that ping more often than
            // every 5 s (`--grpc-keepalive-min-time`), or while no stream
            // is open, hence the interval and no pings while idle.
            .with_keep_alive(
                Duration::from_secs(6),
                options.timeout.min(KEEP_ALIVE_TIMEOUT),
            )
            .with_keep_alive_while_idle(false);
        if let Some(tls) = &options.tls {
            connect = connect.with_tls(tls.options()?);
        }
        let mut clients = Vec::with_capacity(options.endpoints.len());
        for endpoint in &options.endpoints {
            // Lazy: a member that is down now is only skipped, not fatal.
            clients.push(
                Client::connect([endpoint], Some(connect.clone()))
                    .await
                    .map_err(|e| StoreError::backend("connect to etcd", e))?,
            );
        }
        let store = EtcdStore {
            clients: clients.into(),
            current: Arc::new(AtomicUsize::new(0)),
            endpoints: options.endpoints,
            failover: options.failover,
            timeout: options.timeout,
        };
        store.current_revision().await?;
        Ok(store)
    }

    /// The endpoint requests go to first (the one that answered last).
    pub fn current_endpoint(&self) -> &str {
        &self.endpoints[self.current.load(Ordering::Relaxed) % self.endpoints.len()]
    }
}

/// How long an unanswered HTTP/2 ping may wait at most before the
/// connection is given up.
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(3);

/// The first key after every key that starts with `prefix`, in etcd's
/// sense: `"\0"` (with an empty or all-`0xff` prefix) means "to the end".
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// The `[start, end)` etcd range of a prefix; the empty prefix is every key.
fn prefix_range(prefix: &str) -> (Vec<u8>, Vec<u8>) {
    if prefix.is_empty() {
        (vec![0], vec![0])
    } else {
        (prefix.as_bytes().to_vec(), prefix_end(prefix.as_bytes()))
    }
}

fn key_value(kv: &etcd_client::KeyValue) -> Result<KeyValue, StoreError> {
    let key = std::str::from_utf8(kv.key()).map_err(|_| StoreError::Corrupt {
        context: "an etcd key",
        detail: format!("{:?} is not UTF-8", String::from_utf8_lossy(kv.key())),
    })?;
    Ok(KeyValue {
        key: key.to_owned(),
        value: kv.value().to_vec(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
        lease: (kv.lease() != 0).then_some(kv.lease()),
    })
}

fn key_values(kvs: &[etcd_client::KeyValue]) -> Result<Vec<KeyValue>, StoreError> {
    kvs.iter().map(key_value).collect()
}

/// The gRPC status message of an etcd error, if it is one.
fn status_message(error: &etcd_client::Error) -> Option<&str> {
    match error {
        etcd_client::Error::GRpcStatus(status) => Some(status.message()),
        _ => None,
    }
}

fn is_lease_not_found(error: &etcd_client::Error) -> bool {
    match error {
        // The keep-alive stream reports it on its own, without a gRPC status.
        etcd_client::Error::LeaseKeepAliveError(message) => message.contains("not found"),
        _ => status_message(error).is_some_and(|m| m.contains("requested lease not found")),
    }
}

fn revision_of(header: Option<&etcd_client::ResponseHeader>) -> Result<Revision, StoreError> {
    header
        .map(etcd_client::ResponseHeader::revision)
        .ok_or_else(|| StoreError::Corrupt {
            context: "an etcd response",
            detail: "no header".into(),
        })
}

fn compare_op(op: CompareOp) -> etcd_client::CompareOp {
    match op {
        CompareOp::Equal => etcd_client::CompareOp::Equal,
        CompareOp::NotEqual => etcd_client::CompareOp::NotEqual,
        CompareOp::Less => etcd_client::CompareOp::Less,
        CompareOp::Greater => etcd_client::CompareOp::Greater,
    }
}

fn compare(c: &Compare) -> etcd_client::Compare {
    let key = c.key.as_bytes();
    let op = compare_op(c.op);
    match &c.target {
        CompareTarget::ModRevision(r) => etcd_client::Compare::mod_revision(key, op, *r),
        CompareTarget::CreateRevision(r) => etcd_client::Compare::create_revision(key, op, *r),
        CompareTarget::Version(v) => etcd_client::Compare::version(key, op, *v),
        CompareTarget::Value(v) => etcd_client::Compare::value(key, op, v.clone()),
    }
}

fn txn_op(op: &Op) -> TxnOp {
    match op {
        Op::Put { key, value, lease } => {
            let mut options = PutOptions::new().with_prev_key();
            if let Some(lease) = lease {
                options = options.with_lease(*lease);
            }
            TxnOp::put(key.as_bytes(), value.clone(), Some(options))
        }
        Op::Delete { key } => {
            TxnOp::delete(key.as_bytes(), Some(DeleteOptions::new().with_prev_key()))
        }
        Op::DeletePrefix { prefix } => {
            let (start, end) = prefix_range(prefix);
            TxnOp::delete(
                start,
                Some(DeleteOptions::new().with_range(end).with_prev_key()),
            )
        }
        Op::Get { key } => TxnOp::get(key.as_bytes(), None),
    }
}

fn op_result(op: &Op, response: &TxnOpResponse) -> Result<OpResult, StoreError> {
    Ok(match response {
        TxnOpResponse::Put(put) => OpResult::Put {
            prev: put.prev_key().map(key_value).transpose()?,
        },
        TxnOpResponse::Delete(delete) => OpResult::Delete {
            deleted: key_values(delete.prev_kvs())?,
        },
        TxnOpResponse::Get(get) => {
            let wanted = match op {
                Op::Get { key } => key.as_str(),
                _ => "",
            };
            OpResult::Get {
                kv: key_values(get.kvs())?
                    .into_iter()
                    .find(|kv| kv.key == wanted),
            }
        }
        TxnOpResponse::Txn(_) => {
            return Err(StoreError::Corrupt {
                context: "an etcd transaction response",
                detail: "a nested transaction nobody asked for".into(),
            });
        }
    })
}

/// The lease a failed transaction most likely named: the first one it uses.
fn first_lease(txn: &Txn) -> LeaseId {
    txn.success
        .iter()
        .chain(&txn.failure)
        .find_map(|op| match op {
            Op::Put {
                lease: Some(lease), ..
            } => Some(*lease),
            _ => None,
        })
        .unwrap_or(0)
}

/// Whether a transaction only reads, so running it twice is harmless.
fn read_only(txn: &Txn) -> bool {
    txn.success
        .iter()
        .chain(&txn.failure)
        .all(|op| !op.is_write())
}

#[async_trait]
impl StateStore for EtcdStore {
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse, StoreError> {
        let (prefix_start, end) = prefix_range(request.prefix_str());
        let start = match request.start_after() {
            Some(after) => {
                let mut key = after.as_bytes().to_vec();
                key.push(0);
                key.max(prefix_start)
            }
            None => prefix_start,
        };
        let mut options = GetOptions::new().with_range(end);
        if let Some(limit) = request.limit_value() {
            options = options.with_limit(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        if request.is_keys_only() {
            options = options.with_keys_only();
        }
        let response = self
            .call(Repeat::Safe, |mut client| {
                let (start, options) = (start.clone(), options.clone());
                async move { client.get(start, Some(options)).await }
            })
            .await
            .map_err(|f| f.into_store_error("read a range from etcd"))?;
        Ok(RangeResponse {
            kvs: key_values(response.kvs())?,
            revision: revision_of(response.header())?,
            more: response.more(),
        })
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        let request = etcd_client::Txn::new()
            .when(txn.compares.iter().map(compare).collect::<Vec<_>>())
            .and_then(txn.success.iter().map(txn_op).collect::<Vec<_>>())
            .or_else(txn.failure.iter().map(txn_op).collect::<Vec<_>>());
        let repeat = if read_only(&txn) {
            Repeat::Safe
        } else {
            Repeat::OnlyIfNotSent
        };
        let response = self
            .call(repeat, |mut client| {
                let request = request.clone();
                async move { client.txn(request).await }
            })
            .await;
        let response = match response {
            Ok(response) => response,
            Err(f) if f.outcome == Outcome::Unknown && repeat == Repeat::OnlyIfNotSent => {
                return Err(StoreError::backend(
                    "run a transaction on etcd",
                    OutcomeUnknown {
                        endpoint: f.endpoint,
                        source: f.error,
                    },
                ));
            }
            Err(f) if is_lease_not_found(&f.error) => {
                return Err(StoreError::LeaseNotFound(first_lease(&txn)));
            }
            Err(f) if status_message(&f.error).is_some_and(|m| m.contains("duplicate key")) => {
                return Err(StoreError::InvalidRequest(
                    "a transaction branch writes the same key twice".into(),
                ));
            }
            Err(f) => return Err(f.into_store_error("run a transaction on etcd")),
        };
        let branch = if response.succeeded() {
            &txn.success
        } else {
            &txn.failure
        };
        let results = branch
            .iter()
            .zip(response.op_responses().iter())
            .map(|(op, result)| op_result(op, result))
            .collect::<Result<_, _>>()?;
        Ok(TxnResponse {
            succeeded: response.succeeded(),
            revision: revision_of(response.header())?,
            results,
        })
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        let response = self
            .call(Repeat::Safe, |mut client| async move {
                client
                    .get(vec![0], Some(GetOptions::new().with_count_only()))
                    .await
            })
            .await
            .map_err(|f| f.into_store_error("read etcd's revision"))?;
        revision_of(response.header())
    }

    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId, StoreError> {
        // etcd grants whole seconds; round up so a lease never lives less
        // than asked.
        let seconds = i64::try_from(ttl.as_millis().div_ceil(1000))
            .unwrap_or(i64::MAX)
            .max(1);
        // Safe to repeat: a grant whose answer was lost leaves a lease with
        // no keys that expires after `seconds`.
        let response = self
            .call(Repeat::Safe, |mut client| async move {
                client.lease_grant(seconds, None).await
            })
            .await
            .map_err(|f| f.into_store_error("grant an etcd lease"))?;
        Ok(response.id())
    }

    async fn lease_keep_alive(&self, id: LeaseId) -> Result<Duration, StoreError> {
        let ttl = self
            .call(Repeat::Safe, |mut client| async move {
                let (mut keeper, mut responses) = client.lease_keep_alive(id).await?;
                keeper.keep_alive().await?;
                let response = responses.message().await?;
                // etcd answers a keep-alive for an unknown lease with TTL 0.
                Ok(response.map_or(0, |r| r.ttl()))
            })
            .await
            .map_err(|f| {
                if is_lease_not_found(&f.error) {
                    StoreError::LeaseNotFound(id)
                } else {
                    f.into_store_error("keep an etcd lease alive")
                }
            })?;
        if ttl > 0 {
            Ok(Duration::from_secs(ttl.unsigned_abs()))
        } else {
            Err(StoreError::LeaseNotFound(id))
        }
    }

    async fn lease_revoke(&self, id: LeaseId) -> Result<(), StoreError> {
        match self
            .call(Repeat::Safe, |mut client| async move {
                client.lease_revoke(id).await
            })
            .await
        {
            Ok(_) => Ok(()),
            // An earlier attempt may have revoked it: it is gone, as asked.
            Err(f) if is_lease_not_found(&f.error) && f.repeated_after_unknown => Ok(()),
            Err(f) if is_lease_not_found(&f.error) => Err(StoreError::LeaseNotFound(id)),
            Err(f) => Err(f.into_store_error("revoke an etcd lease")),
        }
    }

    async fn lease_time_to_live(&self, id: LeaseId) -> Result<Option<LeaseInfo>, StoreError> {
        let response = self
            .call(Repeat::Safe, |mut client| async move {
                client
                    .lease_time_to_live(id, Some(LeaseTimeToLiveOptions::new().with_keys()))
                    .await
            })
            .await
            .map_err(|f| f.into_store_error("read an etcd lease"))?;
        if response.ttl() < 0 {
            return Ok(None);
        }
        let mut keys = response
            .keys()
            .iter()
            .map(|key| String::from_utf8_lossy(key).into_owned())
            .collect::<Vec<_>>();
        keys.sort();
        Ok(Some(LeaseInfo {
            id,
            granted_ttl: Duration::from_secs(response.granted_ttl().unsigned_abs()),
            remaining: Duration::from_secs(response.ttl().unsigned_abs()),
            keys,
        }))
    }

    async fn watch(
        &self,
        prefix: &str,
        from_revision: Revision,
    ) -> Result<WatchStream, StoreError> {
        // A watch that has to move to another member resumes from a known
        // revision, so "from now" is pinned to the revision after the
        // current one here.
        let from_revision = if from_revision > 0 {
            from_revision
        } else {
            self.current_revision().await? + 1
        };
        let (start, end) = prefix_range(prefix);
        let mut stream = self.open_watch(&start, &end, from_revision).await?;
        // etcd reports a compacted start revision inside the stream; the
        // trait reports it from `watch` itself, so check first by reading
        // at that revision, and on a refusal take the compaction revision
        // from the stream's cancellation.
        if self.compacted_before(from_revision).await? {
            return Err(compaction_of(&mut stream, from_revision).await);
        }
        let state = WatchState {
            store: self.clone(),
            start,
            end,
            next: from_revision,
            stream: Some(stream),
        };
        let events = futures::stream::unfold(Some(state), |state| async move {
            let mut state = state?;
            let batch = state.next_batch().await;
            let ended = batch.last().is_some_and(Result::is_err);
            Some((batch, (!ended).then_some(state)))
        })
        .flat_map(futures::stream::iter);
        Ok(Box::pin(events))
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        match self
            .call(Repeat::Safe, |mut client| async move {
                client
                    .compact(revision, Some(CompactionOptions::new()))
                    .await
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(f)
                if status_message(&f.error)
                    .is_some_and(|m| m.contains("required revision has been compacted")) =>
            {
                Ok(())
            }
            Err(f) if status_message(&f.error).is_some_and(|m| m.contains("future revision")) => {
                Err(StoreError::FutureRevision {
                    requested: revision,
                    current: self.current_revision().await?,
                })
            }
            Err(f) => Err(f.into_store_error("compact etcd's history")),
        }
    }
}

impl EtcdStore {
    /// Opens a watch stream over `[start, end)` from `from_revision` on the
    /// first member that accepts it.
    async fn open_watch(
        &self,
        start: &[u8],
        end: &[u8],
        from_revision: Revision,
    ) -> Result<etcd_client::WatchStream, StoreError> {
        let options = WatchOptions::new()
            .with_range(end.to_vec())
            .with_start_revision(from_revision)
            .with_prev_key();
        self.call(Repeat::Safe, |mut client| {
            let (start, options) = (start.to_vec(), options.clone());
            async move { client.watch(start, Some(options)).await }
        })
        .await
        .map_err(|f| f.into_store_error("start an etcd watch"))
    }
}

/// A watch that moves to another member when its member fails.
struct WatchState {
    store: EtcdStore,
    start: Vec<u8>,
    end: Vec<u8>,
    /// The revision after the last one delivered: where a resumed watch
    /// starts. etcd never splits one revision's events across responses
    /// (without the `fragment` option), so a response boundary is a
    /// revision boundary.
    next: Revision,
    /// `None` after the member it was on failed. The stream owns the
    /// request sender too: dropping it would cancel the watch.
    stream: Option<etcd_client::WatchStream>,
}

/// How long a watch keeps trying to reopen on some member before it ends
/// with an error.
const WATCH_RESUME_FOR: Duration = Duration::from_secs(30);

impl WatchState {
    /// The next events, or a final error.
    async fn next_batch(&mut self) -> Vec<Result<KvEvent, StoreError>> {
        let mut failing_since: Option<Instant> = None;
        loop {
            let stream = match &mut self.stream {
                Some(stream) => stream,
                None => match self
                    .store
                    .open_watch(&self.start, &self.end, self.next)
                    .await
                {
                    Ok(stream) => self.stream.insert(stream),
                    Err(error) => {
                        let since = *failing_since.get_or_insert_with(Instant::now);
                        if since.elapsed() >= WATCH_RESUME_FOR {
                            return vec![Err(error)];
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                },
            };
            let failure = match stream.message().await {
                Ok(Some(response)) if response.compact_revision() > 0 => {
                    // The history from `next` on is gone: the caller relists.
                    return vec![Err(StoreError::Compacted {
                        requested: self.next,
                        compacted: response.compact_revision(),
                    })];
                }
                Ok(Some(response)) if response.canceled() => {
                    // e.g. the member lost its leader (`require_leader`).
                    format!("etcd cancelled the watch: {}", response.cancel_reason())
                }
                Ok(Some(response)) => {
                    let events: Vec<_> = response.events().iter().map(watch_event).collect();
                    if events.is_empty() {
                        // The creation answer or a progress report.
                        continue;
                    }
                    if let Some(last) = response.events().last().and_then(|e| e.kv()) {
                        self.next = last.mod_revision() + 1;
                    }
                    return events;
                }
                Ok(None) => "the member closed the watch stream".to_string(),
                Err(error) => error.to_string(),
            };
            tracing::debug!(
                next = self.next,
                %failure,
                "etcd watch failed; resuming on another member"
            );
            self.stream = None;
            // Whatever member it was on, the next attempt starts elsewhere.
            let members = self.store.clients.len();
            let _ = self
                .store
                .current
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |i| {
                    Some((i + 1) % members)
                });
            failing_since.get_or_insert_with(Instant::now);
        }
    }
}

/// The compaction revision a watch from a compacted revision is cancelled
/// with (etcd sends it right after creating the watch).
async fn compaction_of(stream: &mut etcd_client::WatchStream, requested: Revision) -> StoreError {
    let wait = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.message().await {
                Ok(Some(response)) if response.compact_revision() > 0 => {
                    return Ok(response.compact_revision());
                }
                Ok(Some(_)) => continue,
                Ok(None) => return Err(StoreError::Closed),
                Err(error) => return Err(StoreError::backend("read an etcd watch", error)),
            }
        }
    });
    match wait.await {
        Ok(Ok(compacted)) => StoreError::Compacted {
            requested,
            compacted,
        },
        Ok(Err(error)) => error,
        Err(_) => StoreError::backend(
            "learn etcd's compaction revision",
            "etcd refused to read the revision but did not cancel the watch",
        ),
    }
}

fn watch_event(event: &etcd_client::Event) -> Result<KvEvent, StoreError> {
    let kv = event.kv().ok_or_else(|| StoreError::Corrupt {
        context: "an etcd watch event",
        detail: "no key-value".into(),
    })?;
    Ok(KvEvent {
        kind: match event.event_type() {
            EventType::Put => EventKind::Put,
            EventType::Delete => EventKind::Delete,
        },
        kv: key_value(kv)?,
        prev_kv: event.prev_kv().map(key_value).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends_follow_etcd() {
        assert_eq!(prefix_end(b"/a/"), b"/a0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), b"\0");
        assert_eq!(prefix_range(""), (vec![0], vec![0]));
    }

    #[test]
    fn the_first_lease_named_is_reported() {
        let txn = Txn::new().and_then([
            Op::put("/a", b"1".to_vec()),
            Op::put_with_lease("/b", b"2".to_vec(), 9),
        ]);
        assert_eq!(first_lease(&txn), 9);
        assert_eq!(first_lease(&Txn::new()), 0);
    }
}
