//! A typed view of one resource kind in the state store: create, get, list
//! with pagination and label filters, conditional update and delete, leases
//! and watches.
//!
//! Every write is a single store transaction guarded by a compare on the
//! key's revision, so two writers can never both succeed on the same version
//! of an object.

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use corridor_store::{
    Compare, CompareOp, EventKind, KeyValue, LeaseId, NEW_LEASE, Op, OpResult, RangeRequest,
    Revision, StateStore, Txn, TxnResponse,
};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

use crate::labels::LabelSelector;
use crate::{Resource, ServiceError};

/// Upper bound on one page, so a single list cannot pin the server.
pub const MAX_PAGE_SIZE: usize = 1000;

/// How many times an unconditional update retries after losing a race.
const UPDATE_RETRIES: usize = 32;

/// Query options of a list call.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub limit: Option<usize>,
    /// Opaque token returned by the previous page.
    pub continue_token: Option<String>,
    pub label_selector: LabelSelector,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Present when more items follow; pass it back as `continue`.
    pub continue_token: Option<String>,
    /// Store revision the page was read at; a watch from `revision + 1`
    /// misses nothing that happened after the list.
    pub revision: Revision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ResourceEventType {
    Added,
    Modified,
    Deleted,
}

/// A change to one object, as sent on watch streams.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceEvent<T> {
    #[serde(rename = "type")]
    pub event_type: ResourceEventType,
    pub resource_version: String,
    pub object: T,
}

pub type ResourceEvents<T> =
    Pin<Box<dyn Stream<Item = Result<ResourceEvent<T>, ServiceError>> + Send>>;

/// Typed access to the objects of kind `T`.
pub struct Registry<T> {
    store: Arc<dyn StateStore>,
    /// Objects as lists last decoded them (shared by clones).
    decoded: Arc<DecodedCache<T>>,
    _kind: PhantomData<fn() -> T>,
}

impl<T> Clone for Registry<T> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            decoded: Arc::clone(&self.decoded),
            _kind: PhantomData,
        }
    }
}

/// The objects a list decoded, by key, each with the `mod_revision` it was
/// decoded at. A key's value at one revision never changes, so an object
/// whose record still has that revision is cloned instead of decoded again:
/// `/metrics` and the list endpoints read every bundle and corridor, which
/// rarely change between two reads, and decoding their JSON was the
/// largest cost of a loaded scrape. Nothing decides on a cached object that
/// the store did not just return at that same revision; the transactions
/// compare revisions as before. Each list drops the entries of the key
/// range it read that the store no longer holds, so the cache holds at most
/// what the last lists saw.
struct DecodedCache<T> {
    objects: std::sync::Mutex<std::collections::BTreeMap<String, (Revision, T)>>,
}

impl<T> Default for DecodedCache<T> {
    fn default() -> Self {
        Self {
            objects: std::sync::Mutex::default(),
        }
    }
}

impl<T: Resource> DecodedCache<T> {
    /// The objects of one range response, decoded or from the cache; the
    /// cache then holds exactly the response's objects in the key range it
    /// covered: after `after` (or from `prefix`), up to its last key, or to
    /// the end of `prefix` when `exhausted`.
    fn decode_range(
        &self,
        prefix: &str,
        after: Option<&str>,
        kvs: &[KeyValue],
        exhausted: bool,
    ) -> Result<Vec<T>, ServiceError> {
        let lock = || {
            self.objects
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let cached: Vec<Option<T>> = {
            let objects = lock();
            kvs.iter()
                .map(|kv| match objects.get(&kv.key) {
                    Some((revision, object)) if *revision == kv.mod_revision => {
                        Some(object.clone())
                    }
                    _ => None,
                })
                .collect()
        };
        // Misses are decoded without the lock, so one list's decoding does
        // not hold up another's hits.
        let mut decoded = Vec::new();
        let mut out = Vec::with_capacity(kvs.len());
        for (kv, hit) in kvs.iter().zip(cached) {
            match hit {
                Some(object) => out.push(object),
                None => {
                    let object = decode::<T>(kv)?;
                    decoded.push((kv.key.clone(), kv.mod_revision, object.clone()));
                    out.push(object);
                }
            }
        }
        let mut objects = lock();
        for (key, revision, object) in decoded {
            objects.insert(key, (revision, object));
        }
        // Entries in the covered range that the response did not hold are
        // gone from the store.
        use std::ops::Bound;
        let start = match after {
            Some(after) => Bound::Excluded(after.to_owned()),
            None => Bound::Included(prefix.to_owned()),
        };
        let end = match kvs.last() {
            Some(last) if !exhausted => Bound::Included(last.key.clone()),
            _ => Bound::Unbounded,
        };
        let gone: Vec<String> = objects
            .range((start, end))
            .map(|(key, _)| key)
            .take_while(|key| key.starts_with(prefix))
            .filter(|key| kvs.binary_search_by(|kv| kv.key.as_str().cmp(key)).is_err())
            .cloned()
            .collect();
        for key in gone {
            objects.remove(&key);
        }
        Ok(out)
    }
}

impl<T> std::fmt::Debug for Registry<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("kind", &std::any::type_name::<T>())
            .finish()
    }
}

impl<T: Resource> Registry<T> {
    pub fn new(store: Arc<dyn StateStore>) -> Self {
        Self {
            store,
            decoded: Arc::default(),
            _kind: PhantomData,
        }
    }

    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.store
    }

    pub fn prefix() -> String {
        format!("/registry/{}/", T::KIND)
    }

    pub fn key(id: &str) -> String {
        format!("/registry/{}/{id}", T::KIND)
    }

    /// Creates the object; fails with `AlreadyExists` if the id is taken.
    pub async fn create(&self, object: &T) -> Result<T, ServiceError> {
        self.create_with(object, None, Vec::new(), Vec::new()).await
    }

    /// Creates the object under a new store lease of `ttl`; when the lease
    /// expires the store deletes the object and watchers see `DELETED`.
    pub async fn create_leased(
        &self,
        object: &T,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<T, ServiceError> {
        let mut object = object.clone();
        object.set_lease_expires_at(Some(expiry(now, ttl)));
        self.create_with_new_lease(&object, ttl, Vec::new(), Vec::new())
            .await
            .map(|(created, _)| created)
    }

    /// Creates the object together with other compares and writes in one
    /// transaction; services use this to claim capacity atomically with the
    /// grant that consumes it.
    pub async fn create_with(
        &self,
        object: &T,
        lease: Option<LeaseId>,
        compares: Vec<Compare>,
        ops: Vec<Op>,
    ) -> Result<T, ServiceError> {
        let response = self
            .store
            .txn(Self::create_txn(object, lease, compares, ops))
            .await
            .map_err(ServiceError::store("create an object"))?;
        Self::created(object, response)
    }

    /// [`create_with`](Self::create_with) under a lease of `ttl` that the
    /// same transaction grants (one durable write on the embedded store):
    /// the object is attached to it, and so is every op of `ops` naming
    /// [`NEW_LEASE`]. Returns the object and its lease; a refused create
    /// leaves no lease behind.
    pub async fn create_with_new_lease(
        &self,
        object: &T,
        ttl: Duration,
        compares: Vec<Compare>,
        ops: Vec<Op>,
    ) -> Result<(T, LeaseId), ServiceError> {
        let txn = Self::create_txn(object, Some(NEW_LEASE), compares, ops);
        let leased = self
            .store
            .txn_with_new_lease(ttl, txn)
            .await
            .map_err(ServiceError::store("create an object"))?;
        let created = Self::created(object, leased.response)?;
        let lease = leased
            .lease
            .expect("a store grants the lease of a transaction that succeeded");
        Ok((created, lease))
    }

    fn create_txn(
        object: &T,
        lease: Option<LeaseId>,
        mut compares: Vec<Compare>,
        mut ops: Vec<Op>,
    ) -> Txn {
        let key = Self::key(object.id());
        compares.insert(0, Compare::absent(&key));
        ops.insert(
            0,
            Op::Put {
                key: key.clone(),
                value: encode(object),
                lease,
            },
        );
        Txn {
            compares,
            success: ops,
            failure: vec![Op::Get { key }],
        }
    }

    /// The object as created, or why the create's transaction lost.
    fn created(object: &T, response: TxnResponse) -> Result<T, ServiceError> {
        if !response.succeeded {
            return match response.results.first() {
                Some(OpResult::Get { kv: Some(_) }) => Err(ServiceError::AlreadyExists {
                    kind: T::KIND,
                    id: object.id().to_string(),
                }),
                // The key is free, so one of the caller's own compares
                // (e.g. on a capacity ledger's revision) failed.
                _ => Err(ServiceError::ConditionFailed {
                    kind: T::KIND,
                    id: object.id().to_string(),
                }),
            };
        }
        let mut created = object.clone();
        created.set_resource_version(response.revision.to_string());
        Ok(created)
    }

    pub async fn get(&self, id: &str) -> Result<T, ServiceError> {
        self.get_kv(id).await.map(|(object, _)| object)
    }

    /// The object and its raw store record (revision, lease).
    pub async fn get_kv(&self, id: &str) -> Result<(T, KeyValue), ServiceError> {
        let kv = self.get_stored(id).await?;
        Ok((decode::<T>(&kv)?, kv))
    }

    /// The store record of object `id`, undecoded.
    pub async fn get_stored(&self, id: &str) -> Result<KeyValue, ServiceError> {
        self.store
            .get(&Self::key(id))
            .await
            .map_err(ServiceError::store("read an object"))?
            .ok_or_else(|| ServiceError::NotFound {
                kind: T::KIND,
                id: id.to_string(),
            })
    }

    /// One page of objects in key order, filtered by labels.
    ///
    /// Filtering happens before the limit is applied, so a page holds up to
    /// `limit` matching objects; scanning continues in store-sized chunks
    /// until the page is full or the kind is exhausted.
    pub async fn list(&self, options: &ListOptions) -> Result<Page<T>, ServiceError> {
        self.list_visible(options, |_| true).await
    }

    /// Every object of the kind, across pages, and the revision the first
    /// page was read at: a watch from that revision + 1 misses nothing that
    /// changed after the list began (it may replay what a later page
    /// already showed).
    pub async fn list_all(&self) -> Result<(Vec<T>, Revision), ServiceError> {
        let mut out = Vec::new();
        let mut options = ListOptions::default();
        let mut first = None;
        loop {
            let page = self.list(&options).await?;
            first.get_or_insert(page.revision);
            out.extend(page.items);
            match page.continue_token {
                Some(token) => options.continue_token = Some(token),
                None => return Ok((out, first.unwrap_or(page.revision))),
            }
        }
    }

    /// [`list`](Self::list) of the objects `visible` accepts (a security
    /// domain's own, say). The predicate is applied with the label
    /// selector, before the limit, so a page is short only at the end of
    /// the kind and the continue token resumes after the last object
    /// returned, never skipping a visible one.
    pub async fn list_visible(
        &self,
        options: &ListOptions,
        visible: impl Fn(&T) -> bool,
    ) -> Result<Page<T>, ServiceError> {
        let limit = options
            .limit
            .unwrap_or(MAX_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE);
        let mut after = match &options.continue_token {
            Some(token) => Some(decode_continue(token)?),
            None => None,
        };
        let mut items = Vec::new();
        let mut first_revision = None;
        loop {
            let mut request = RangeRequest::prefix(Self::prefix()).limit(limit + 1);
            if let Some(after) = &after {
                request = request.after(after.clone());
            }
            let response = self
                .store
                .range(request)
                .await
                .map_err(ServiceError::store("list objects"))?;
            first_revision.get_or_insert(response.revision);
            let exhausted = !response.more;
            let prefix = Self::prefix();
            let objects =
                self.decoded
                    .decode_range(&prefix, after.as_deref(), &response.kvs, exhausted)?;
            for (kv, object) in response.kvs.iter().zip(objects) {
                after = Some(kv.key.clone());
                if !options.label_selector.matches(object.labels()) || !visible(&object) {
                    continue;
                }
                if items.len() == limit {
                    // One more match exists: the page is full and a next
                    // page starts after the last returned item.
                    let last = Self::key(items.last().map(T::id).unwrap_or_default());
                    return Ok(Page {
                        items,
                        continue_token: Some(encode_continue(&last)),
                        revision: first_revision.unwrap_or_default(),
                    });
                }
                items.push(object);
            }
            if exhausted || response.kvs.is_empty() {
                return Ok(Page {
                    items,
                    continue_token: None,
                    revision: first_revision.unwrap_or_default(),
                });
            }
        }
    }

    /// Applies `mutate` to the current object and writes it back.
    ///
    /// With `precondition` (the client's `If-Match`), the write happens only
    /// if the object is still at that version, else `StaleVersion`. Without
    /// it, a lost race is retried on the fresh object, so concurrent
    /// mutations compose instead of overwriting each other.
    pub async fn update<F>(
        &self,
        id: &str,
        precondition: Option<Revision>,
        mut mutate: F,
    ) -> Result<T, ServiceError>
    where
        F: FnMut(&mut T) -> Result<(), ServiceError> + Send,
    {
        for _ in 0..UPDATE_RETRIES {
            let (mut object, kv) = self.get_kv(id).await?;
            check_precondition::<T>(id, precondition, &kv)?;
            mutate(&mut object)?;
            let put = Op::Put {
                key: kv.key.clone(),
                value: encode(&object),
                lease: kv.lease,
            };
            let response = self
                .write_if_unchanged(&kv, put, "update an object")
                .await?;
            if response.succeeded {
                object.set_resource_version(response.revision.to_string());
                return Ok(object);
            }
            if precondition.is_some() {
                let actual = self.get_kv(id).await?.1.mod_revision;
                return Err(stale::<T>(id, precondition, actual));
            }
        }
        Err(ServiceError::StaleVersion {
            kind: T::KIND,
            id: id.to_string(),
            expected: "any version".into(),
            actual: format!("one still changing after {UPDATE_RETRIES} attempts"),
        })
    }

    /// Writes the object whatever its current version (used for inventory
    /// that the twin or hardware owns). Unchanged objects are not rewritten,
    /// so restarts do not churn revisions or wake watchers.
    pub async fn upsert(&self, object: &T) -> Result<T, ServiceError> {
        let key = Self::key(object.id());
        let value = encode(object);
        let current = self
            .store
            .get(&key)
            .await
            .map_err(ServiceError::store("read an object"))?;
        if let Some(kv) = &current
            && kv.value == value
        {
            let mut same = object.clone();
            same.set_resource_version(kv.mod_revision.to_string());
            return Ok(same);
        }
        let revision = self
            .store
            .put(&key, value, None)
            .await
            .map_err(ServiceError::store("write an object"))?;
        let mut written = object.clone();
        written.set_resource_version(revision.to_string());
        Ok(written)
    }

    /// Deletes the object (and so frees its lease's hold on it).
    pub async fn delete(
        &self,
        id: &str,
        precondition: Option<Revision>,
    ) -> Result<T, ServiceError> {
        let (object, kv) = self.get_kv(id).await?;
        check_precondition::<T>(id, precondition, &kv)?;
        let key = Self::key(id);
        let delete = Op::Delete { key: key.clone() };
        let response = self
            .write_if_unchanged(&kv, delete, "delete an object")
            .await?;
        if !response.succeeded {
            let actual = match self.store.get(&key).await {
                Ok(Some(kv)) => kv.mod_revision,
                _ => {
                    return Err(ServiceError::NotFound {
                        kind: T::KIND,
                        id: id.to_string(),
                    });
                }
            };
            return Err(stale::<T>(
                id,
                precondition.or(Some(kv.mod_revision)),
                actual,
            ));
        }
        if let Some(lease) = kv.lease {
            // The lease only held this object; revoking it keeps the lease
            // table from filling with orphans.
            let _ = self.store.lease_revoke(lease).await;
        }
        let mut deleted = object;
        deleted.set_resource_version(response.revision.to_string());
        Ok(deleted)
    }

    /// Applies `op` only if the key is still at the revision `kv` was read
    /// at: the compare-and-swap under every update and delete.
    async fn write_if_unchanged(
        &self,
        kv: &KeyValue,
        op: Op,
        context: &'static str,
    ) -> Result<corridor_store::TxnResponse, ServiceError> {
        self.store
            .txn(Txn {
                compares: vec![Compare::mod_revision(
                    &kv.key,
                    CompareOp::Equal,
                    kv.mod_revision,
                )],
                success: vec![op],
                failure: Vec::new(),
            })
            .await
            .map_err(ServiceError::store(context))
    }

    /// Renews the object's lease for another full TTL.
    pub async fn renew_lease(&self, id: &str, now: DateTime<Utc>) -> Result<T, ServiceError> {
        let (_, kv) = self.get_kv(id).await?;
        let lease = kv.lease.ok_or_else(|| ServiceError::NotLeased {
            kind: T::KIND,
            id: id.to_string(),
        })?;
        let ttl = self
            .store
            .lease_keep_alive(lease)
            .await
            .map_err(|e| match e {
                corridor_store::StoreError::LeaseNotFound(_) => ServiceError::LeaseExpired {
                    kind: T::KIND,
                    id: id.to_string(),
                },
                other => ServiceError::store("renew a lease")(other),
            })?;
        self.update(id, None, |object| {
            object.set_lease_expires_at(Some(expiry(now, ttl)));
            Ok(())
        })
        .await
    }

    /// Changes to objects of this kind from `from_revision` on (0 = from
    /// now), filtered by labels as they are at the event.
    pub async fn watch(
        &self,
        from_revision: Revision,
        selector: LabelSelector,
    ) -> Result<ResourceEvents<T>, ServiceError> {
        let events = self.watch_stored(from_revision).await?;
        let events = events.filter_map(move |event| {
            let selector = selector.clone();
            async move {
                let event = match event {
                    Ok(event) => event,
                    Err(error) => return Some(Err(error)),
                };
                let object: T =
                    match decode_value(Self::key(&event.id), &event.value, event.revision) {
                        Ok(object) => object,
                        Err(error) => return Some(Err(error)),
                    };
                if !selector.matches(object.labels()) {
                    return None;
                }
                Some(Ok(ResourceEvent {
                    event_type: event.event_type,
                    resource_version: event.revision.to_string(),
                    object,
                }))
            }
        });
        Ok(Box::pin(events))
    }
}

impl<T: Resource> Registry<T> {
    /// Every change to the objects of kind `T` from `from_revision` on, as
    /// the store holds them: no object is decoded. For a follower that only
    /// keeps what changed (the history), decoding each version to encode it
    /// again cost more than writing it down.
    pub async fn watch_stored(
        &self,
        from_revision: Revision,
    ) -> Result<StoredEvents, ServiceError> {
        let prefix = Self::prefix();
        let stream = self
            .store
            .watch(&prefix, from_revision)
            .await
            .map_err(ServiceError::store("start a watch"))?;
        let events = stream.filter_map(move |event| {
            let prefix = prefix.clone();
            async move {
                let event = match event {
                    Ok(event) => event,
                    Err(source) => return Some(Err(ServiceError::store("follow a watch")(source))),
                };
                let revision = event.kv.mod_revision;
                let (event_type, kv) = match event.kind {
                    EventKind::Put if event.kv.create_revision == event.kv.mod_revision => {
                        (ResourceEventType::Added, event.kv)
                    }
                    EventKind::Put => (ResourceEventType::Modified, event.kv),
                    // The last version is the deleted object; every backend
                    // is asked for prev_kv.
                    EventKind::Delete => (ResourceEventType::Deleted, event.prev_kv?),
                };
                let id = kv.key.strip_prefix(&prefix)?.to_owned();
                Some(Ok(StoredEvent {
                    event_type,
                    revision,
                    id,
                    value: kv.value,
                }))
            }
        });
        Ok(Box::pin(events))
    }
}

/// One change of an object as the store holds it: its id, the revision of
/// the change and the object's encoded version (the last one, for a delete).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub event_type: ResourceEventType,
    pub revision: Revision,
    pub id: String,
    pub value: Vec<u8>,
}

pub type StoredEvents = Pin<Box<dyn Stream<Item = Result<StoredEvent, ServiceError>> + Send>>;

fn expiry(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX)
}

/// `If-Match`: the object read (`kv`) must still be at the expected
/// revision, else [`ServiceError::StaleVersion`].
pub fn check_precondition<T: Resource>(
    id: &str,
    precondition: Option<Revision>,
    kv: &KeyValue,
) -> Result<(), ServiceError> {
    match precondition {
        Some(expected) if expected != kv.mod_revision => {
            Err(stale::<T>(id, Some(expected), kv.mod_revision))
        }
        _ => Ok(()),
    }
}

fn stale<T: Resource>(id: &str, expected: Option<Revision>, actual: Revision) -> ServiceError {
    ServiceError::StaleVersion {
        kind: T::KIND,
        id: id.to_string(),
        expected: expected.map(|e| e.to_string()).unwrap_or_default(),
        actual: actual.to_string(),
    }
}

fn encode<T: Serialize>(object: &T) -> Vec<u8> {
    // Serialising our own API types cannot fail: they hold no maps with
    // non-string keys and no foreign Serialize impls that error.
    serde_json::to_vec(object).expect("API types always serialise to JSON")
}

pub(crate) fn decode<T: Resource>(kv: &KeyValue) -> Result<T, ServiceError> {
    decode_value(kv.key.clone(), &kv.value, kv.mod_revision)
}

/// The object stored under `key` as `value`, at `revision` (its
/// `resource_version`).
fn decode_value<T: Resource>(
    key: String,
    value: &[u8],
    revision: Revision,
) -> Result<T, ServiceError> {
    let mut object: T = serde_json::from_slice(value).map_err(|source| ServiceError::Corrupt {
        kind: T::KIND,
        key,
        source,
    })?;
    object.set_resource_version(revision.to_string());
    Ok(object)
}

/// A continue token is the last key returned, hex-encoded: opaque to
/// clients, and every string of the documented shape
/// ([`CONTINUE_PATTERN`]) is a cursor (the next page starts after that
/// key), so the server never has to refuse a well-formed token.
fn encode_continue(after: &str) -> String {
    after.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_continue(token: &str) -> Result<String, ServiceError> {
    let invalid = || ServiceError::InvalidParameter {
        parameter: "continue",
        message: "not a token returned by a previous list (pairs of hex digits, 1 to 512 bytes)"
            .into(),
    };
    let digits = token.as_bytes();
    if digits.is_empty() || !digits.len().is_multiple_of(2) || digits.len() > 1024 {
        return Err(invalid());
    }
    let mut key = String::with_capacity(digits.len() / 2);
    if !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(invalid());
    }
    for pair in digits.chunks(2) {
        let text = std::str::from_utf8(pair).map_err(|_| invalid())?;
        let byte = u8::from_str_radix(text, 16).map_err(|_| invalid())?;
        if !byte.is_ascii() {
            return Err(invalid());
        }
        key.push(char::from(byte));
    }
    Ok(key)
}

/// Refuses a continue token that does not have the documented shape.
pub fn check_continue(token: &str) -> Result<(), ServiceError> {
    decode_continue(token).map(drop)
}

/// The grammar of continue tokens, for the API document.
pub const CONTINUE_PATTERN: &str = "^([0-7][0-9a-fA-F]){1,512}$";

/// Parses an `If-Match` / `resource_version` value: a decimal revision,
/// optionally quoted as an HTTP entity tag.
pub fn parse_resource_version(text: &str) -> Result<Revision, ServiceError> {
    let invalid = || ServiceError::InvalidParameter {
        parameter: "resource_version",
        message: format!(
            "{text:?} is not a resource_version returned by the server (1-18 digits, optionally as an ETag \"N\" or W/\"N\")"
        ),
    };
    let unwrapped = text.strip_prefix("W/").unwrap_or(text);
    let digits = match unwrapped.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"').ok_or_else(invalid)?,
        None => unwrapped,
    };
    // At most 18 digits: every such number fits an i64 with room for the
    // `+ 1` a watch adds, and no store reaches 10^18 revisions.
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    digits.parse::<Revision>().map_err(|_| invalid())
}

/// The grammar [`parse_resource_version`] accepts, for the API document.
pub const RESOURCE_VERSION_PATTERN: &str = r#"^(W/)?("[0-9]{1,18}"|[0-9]{1,18})$"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Serialize, Deserialize)]
    struct Thing {
        id: String,
        #[serde(default)]
        resource_version: String,
    }

    impl Resource for Thing {
        const KIND: &'static str = "things";
        fn id(&self) -> &str {
            &self.id
        }
        fn set_resource_version(&mut self, resource_version: String) {
            self.resource_version = resource_version;
        }
    }

    fn kv(id: &str, mod_revision: Revision) -> KeyValue {
        KeyValue {
            key: Registry::<Thing>::key(id),
            value: format!(r#"{{"id":"{id}"}}"#).into_bytes(),
            create_revision: 1,
            mod_revision,
            version: 1,
            lease: None,
        }
    }

    fn cached(cache: &DecodedCache<Thing>) -> Vec<(String, Revision)> {
        cache
            .objects
            .lock()
            .unwrap()
            .iter()
            .map(|(k, (r, _))| (k.clone(), *r))
            .collect()
    }

    /// The cache keeps exactly what the store holds in each range a list
    /// read: keys deleted since are dropped there, and only there.
    #[test]
    fn a_range_read_drops_the_keys_the_store_no_longer_holds() {
        let prefix = Registry::<Thing>::prefix();
        let cache = DecodedCache::<Thing>::default();
        cache
            .decode_range(
                &prefix,
                None,
                &[kv("a", 2), kv("b", 3), kv("c", 4), kv("d", 5)],
                true,
            )
            .unwrap();
        assert_eq!(cached(&cache).len(), 4);
        // A first page of two ("a", "c"): "b" is gone, "d" is beyond the page.
        let page = cache
            .decode_range(&prefix, None, &[kv("a", 2), kv("c", 6)], false)
            .unwrap();
        assert_eq!(
            page[1].resource_version, "6",
            "a changed record is decoded again"
        );
        assert_eq!(
            cached(&cache),
            [
                (Registry::<Thing>::key("a"), 2),
                (Registry::<Thing>::key("c"), 6),
                (Registry::<Thing>::key("d"), 5),
            ]
        );
        // The last page, after "c": empty, so "d" is gone too.
        let after = Registry::<Thing>::key("c");
        cache
            .decode_range(&prefix, Some(&after), &[], true)
            .unwrap();
        assert_eq!(cached(&cache).len(), 2);
    }
}
