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
//! Keys must be UTF-8 (the trait's keys are `String`s); a non-UTF-8 key
//! written by another etcd client under the same prefix is reported as
//! corrupt data rather than silently skipped.

#[cfg(feature = "conformance")]
pub mod testing;

use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// Connection and per-request timeout.
    pub timeout: Duration,
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

/// The etcd-backed store. Cheap to clone: clones share one gRPC channel.
#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
    endpoints: Vec<String>,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

impl EtcdStore {
    /// Whether history before `revision` is gone (etcd refuses to read at it).
    async fn compacted_before(&self, revision: Revision) -> Result<bool, StoreError> {
        let read = self
            .client
            .clone()
            .get(
                vec![0],
                Some(GetOptions::new().with_count_only().with_revision(revision)),
            )
            .await;
        match read {
            Ok(_) => Ok(false),
            Err(error) if status_message(&error).is_some_and(|m| m.contains("compacted")) => {
                Ok(true)
            }
            // A future revision is fine: the watch waits for it.
            Err(error) if status_message(&error).is_some_and(|m| m.contains("future")) => Ok(false),
            Err(error) => Err(StoreError::backend("check etcd's compaction", error)),
        }
    }

    /// Connects and checks that the cluster answers.
    pub async fn connect(options: EtcdOptions) -> Result<Self, StoreError> {
        let mut connect = ConnectOptions::new()
            .with_connect_timeout(options.timeout)
            .with_timeout(options.timeout);
        if let Some(tls) = &options.tls {
            connect = connect.with_tls(tls.options()?);
        }
        let client = Client::connect(&options.endpoints, Some(connect))
            .await
            .map_err(|e| StoreError::backend("connect to etcd", e))?;
        let store = EtcdStore {
            client,
            endpoints: options.endpoints,
        };
        store.current_revision().await?;
        Ok(store)
    }
}

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

fn backend(context: &'static str) -> impl FnOnce(etcd_client::Error) -> StoreError {
    move |error| StoreError::backend(context, error)
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
        let response = self
            .client
            .clone()
            .get(start, Some(options))
            .await
            .map_err(backend("read a range from etcd"))?;
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
        let response = match self.client.clone().txn(request).await {
            Ok(response) => response,
            Err(error) if is_lease_not_found(&error) => {
                return Err(StoreError::LeaseNotFound(first_lease(&txn)));
            }
            Err(error) if status_message(&error).is_some_and(|m| m.contains("duplicate key")) => {
                return Err(StoreError::InvalidRequest(
                    "a transaction branch writes the same key twice".into(),
                ));
            }
            Err(error) => return Err(StoreError::backend("run a transaction on etcd", error)),
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
            .client
            .clone()
            .get(vec![0], Some(GetOptions::new().with_count_only()))
            .await
            .map_err(backend("read etcd's revision"))?;
        revision_of(response.header())
    }

    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId, StoreError> {
        // etcd grants whole seconds; round up so a lease never lives less
        // than asked.
        let seconds = i64::try_from(ttl.as_millis().div_ceil(1000))
            .unwrap_or(i64::MAX)
            .max(1);
        let response = self
            .client
            .clone()
            .lease_grant(seconds, None)
            .await
            .map_err(backend("grant an etcd lease"))?;
        Ok(response.id())
    }

    async fn lease_keep_alive(&self, id: LeaseId) -> Result<Duration, StoreError> {
        let not_found_or = |context: &'static str| {
            move |error: etcd_client::Error| {
                if is_lease_not_found(&error) {
                    StoreError::LeaseNotFound(id)
                } else {
                    StoreError::backend(context, error)
                }
            }
        };
        let (mut keeper, mut responses) = self
            .client
            .clone()
            .lease_keep_alive(id)
            .await
            .map_err(not_found_or("open an etcd keep-alive stream"))?;
        keeper
            .keep_alive()
            .await
            .map_err(not_found_or("send an etcd keep-alive"))?;
        let response = responses
            .message()
            .await
            .map_err(not_found_or("read an etcd keep-alive answer"))?;
        // etcd answers a keep-alive for an unknown lease with TTL 0.
        match response {
            Some(response) if response.ttl() > 0 => {
                Ok(Duration::from_secs(response.ttl().unsigned_abs()))
            }
            _ => Err(StoreError::LeaseNotFound(id)),
        }
    }

    async fn lease_revoke(&self, id: LeaseId) -> Result<(), StoreError> {
        match self.client.clone().lease_revoke(id).await {
            Ok(_) => Ok(()),
            Err(error) if is_lease_not_found(&error) => Err(StoreError::LeaseNotFound(id)),
            Err(error) => Err(StoreError::backend("revoke an etcd lease", error)),
        }
    }

    async fn lease_time_to_live(&self, id: LeaseId) -> Result<Option<LeaseInfo>, StoreError> {
        let response = self
            .client
            .clone()
            .lease_time_to_live(id, Some(LeaseTimeToLiveOptions::new().with_keys()))
            .await
            .map_err(backend("read an etcd lease"))?;
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
        let (start, end) = prefix_range(prefix);
        let options = WatchOptions::new()
            .with_range(end)
            .with_start_revision(from_revision.max(0))
            .with_prev_key();
        let mut stream = self
            .client
            .clone()
            .watch(start, Some(options))
            .await
            .map_err(backend("start an etcd watch"))?;
        // etcd reports a compacted start revision inside the stream; the
        // trait reports it from `watch` itself, so check first by reading
        // at that revision, and on a refusal take the compaction revision
        // from the stream's cancellation.
        if from_revision > 0 && self.compacted_before(from_revision).await? {
            return Err(compaction_of(&mut stream, from_revision).await);
        }
        // The stream owns the request sender too: dropping it would cancel
        // the watch on the server.
        let events = futures::stream::unfold(Some(stream), move |state| async move {
            let mut stream = state?;
            let batch: Vec<Result<KvEvent, StoreError>> = match stream.message().await {
                Ok(Some(response)) if response.compact_revision() > 0 => {
                    vec![Err(StoreError::Compacted {
                        requested: from_revision,
                        compacted: response.compact_revision(),
                    })]
                }
                Ok(Some(response)) if response.canceled() => {
                    vec![Err(StoreError::backend(
                        "keep an etcd watch open",
                        format!("etcd cancelled the watch: {}", response.cancel_reason()),
                    ))]
                }
                Ok(Some(response)) => {
                    let events = response.events().iter().map(watch_event).collect();
                    return Some((events, Some(stream)));
                }
                Ok(None) => vec![Err(StoreError::Closed)],
                Err(error) => vec![Err(StoreError::backend("read an etcd watch", error))],
            };
            // An error ends the stream, as the trait promises.
            Some((batch, None))
        })
        .flat_map(futures::stream::iter);
        Ok(Box::pin(events))
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        match self
            .client
            .clone()
            .compact(revision, Some(CompactionOptions::new()))
            .await
        {
            Ok(_) => Ok(()),
            Err(error)
                if status_message(&error)
                    .is_some_and(|m| m.contains("required revision has been compacted")) =>
            {
                Ok(())
            }
            Err(error) if status_message(&error).is_some_and(|m| m.contains("future revision")) => {
                Err(StoreError::FutureRevision {
                    requested: revision,
                    current: self.current_revision().await?,
                })
            }
            Err(error) => Err(StoreError::backend("compact etcd's history", error)),
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
