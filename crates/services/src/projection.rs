//! What a reader derives from every object of a kind (the metrics
//! exporter's sample lines, say), kept by the revision it was derived at,
//! so that reading the whole kind again costs a keys-only range plus the
//! objects that changed.
//!
//! A list decodes and clones every object on every call; a reader that
//! only needs a projection of each object, and calls often (a scrape every
//! few seconds over 10,000 bundles), pays that for objects that have not
//! changed since its last call. [`Registry::project`] asks the store for
//! the kind's keys and revisions only, derives a row from each object whose
//! revision it has not seen, and answers every row in key order. Reads stay
//! linearisable: every write acknowledged before the call is in its answer.

use std::sync::Arc;

use corridor_store::{KeyValue, RangeRequest, Revision};

use crate::error::ServiceError;
use crate::registry::{MAX_PAGE_SIZE, Registry, decode};
use crate::resource::Resource;

/// Keys read per keys-only range: a page stays small on etcd's wire
/// (about 60 bytes a key) however large the kind grows.
const KEYS_PER_PAGE: usize = 5_000;

/// Fewer changed objects than this are read one by one; more, by one range
/// of their values (a first call, or a burst of changes).
const READ_ONE_BY_ONE: usize = 64;

/// Rows derived from a kind's objects, each with the revision of the
/// object it was derived from. One per reader: rows are whatever that
/// reader's `derive` made.
#[derive(Debug)]
pub struct Projection<R> {
    /// In key order, as the store lists keys, so that a call compares them
    /// with the store's by one merge instead of a lookup per key.
    rows: Vec<Kept<R>>,
    /// The store's revision when the rows' keys were last listed: while the
    /// store is still there, nothing of any kind has changed, and the rows
    /// are answered without listing the keys again.
    listed_at: Option<Revision>,
}

/// One object's row (`None`: the object has none, which is remembered too,
/// so it is not read again) and the revision it was derived at.
#[derive(Debug)]
struct Kept<R> {
    key: String,
    revision: Revision,
    row: Option<Arc<R>>,
}

impl<R> Default for Projection<R> {
    fn default() -> Self {
        Self {
            rows: Vec::new(),
            listed_at: None,
        }
    }
}

impl<R> Projection<R> {
    fn answer(&self) -> Vec<Arc<R>> {
        self.rows
            .iter()
            .filter_map(|kept| kept.row.clone())
            .collect()
    }

    /// Objects the projection holds a row for.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.rows.iter().filter(|kept| kept.row.is_some()).count()
    }
}

impl<T: Resource> Registry<T> {
    /// Every object's row, in key order: kept from `projection` where the
    /// object is at the revision its row was derived at, else derived now
    /// by `derive` (`None`: the object has no row, e.g. one the caller may
    /// not see). Rows of deleted objects are dropped from `projection`.
    pub async fn project<R>(
        &self,
        projection: &mut Projection<R>,
        derive: impl Fn(&T) -> Option<R>,
    ) -> Result<Vec<Arc<R>>, ServiceError> {
        if let Some(listed_at) = projection.listed_at {
            let now = self
                .store()
                .current_revision()
                .await
                .map_err(ServiceError::store("read the store's revision"))?;
            if now == listed_at {
                return Ok(projection.answer());
            }
        }
        let (keys, listed_at) = self.keys_and_revisions().await?;
        let mut changed: Vec<&KeyValue> = Vec::new();
        let mut kept = projection.rows.iter().peekable();
        for kv in &keys {
            while kept.next_if(|k| k.key < kv.key).is_some() {}
            if kept
                .next_if(|k| k.key == kv.key && k.revision == kv.mod_revision)
                .is_none()
            {
                changed.push(kv);
            }
        }
        // Read (and so derived) after their keys: an object written again
        // since carries its newer revision, one deleted since is absent.
        let derived = self
            .read_changed(&changed)
            .await?
            .into_iter()
            .map(|kv| {
                let row = derive(&decode::<T>(&kv)?).map(Arc::new);
                Ok(Kept {
                    revision: kv.mod_revision,
                    key: kv.key,
                    row,
                })
            })
            .collect::<Result<Vec<_>, ServiceError>>()?;
        // The rows of the keys listed: derived now, else kept at the listed
        // revision. Both lists are in key order, as the keys are.
        let mut kept = std::mem::take(&mut projection.rows).into_iter().peekable();
        let mut derived = derived.into_iter().peekable();
        let mut rows = Vec::with_capacity(keys.len());
        for kv in &keys {
            while kept.next_if(|k| k.key < kv.key).is_some() {}
            while derived.next_if(|k| k.key < kv.key).is_some() {}
            if let Some(fresh) = derived.next_if(|k| k.key == kv.key) {
                rows.push(fresh);
            } else if let Some(same) =
                kept.next_if(|k| k.key == kv.key && k.revision == kv.mod_revision)
            {
                rows.push(same);
            }
        }
        projection.rows = rows;
        projection.listed_at = Some(listed_at);
        Ok(projection.answer())
    }

    /// The kind's keys with their revisions, no values, and the store's
    /// revision at the first page (a change after it moves the store past
    /// it, whichever page it fell in).
    async fn keys_and_revisions(&self) -> Result<(Vec<KeyValue>, Revision), ServiceError> {
        let prefix = Self::prefix();
        let mut keys: Vec<KeyValue> = Vec::new();
        let mut first = None;
        loop {
            let mut request = RangeRequest::prefix(prefix.clone())
                .limit(KEYS_PER_PAGE)
                .keys_only();
            if let Some(last) = keys.last() {
                request = request.after(last.key.clone());
            }
            let page = self
                .store()
                .range(request)
                .await
                .map_err(ServiceError::store("list the keys of objects"))?;
            let first = *first.get_or_insert(page.revision);
            keys.extend(page.kvs);
            if !page.more {
                return Ok((keys, first));
            }
        }
    }

    /// The current values of `changed` (read after their keys: an object
    /// written again since is read at its newer revision, one deleted
    /// since is left out).
    async fn read_changed(&self, changed: &[&KeyValue]) -> Result<Vec<KeyValue>, ServiceError> {
        if changed.len() < READ_ONE_BY_ONE {
            let mut fresh = Vec::with_capacity(changed.len());
            for kv in changed {
                if let Some(current) = self
                    .store()
                    .get(&kv.key)
                    .await
                    .map_err(ServiceError::store("read an object"))?
                {
                    fresh.push(current);
                }
            }
            return Ok(fresh);
        }
        let wanted: std::collections::HashSet<&str> =
            changed.iter().map(|kv| kv.key.as_str()).collect();
        let mut fresh = Vec::with_capacity(changed.len());
        let mut after: Option<String> = None;
        loop {
            let mut request = RangeRequest::prefix(Self::prefix()).limit(MAX_PAGE_SIZE);
            if let Some(after) = &after {
                request = request.after(after.clone());
            }
            let page = self
                .store()
                .range(request)
                .await
                .map_err(ServiceError::store("list objects"))?;
            after = page.kvs.last().map(|kv| kv.key.clone());
            fresh.extend(
                page.kvs
                    .into_iter()
                    .filter(|kv| wanted.contains(kv.key.as_str())),
            );
            if !page.more {
                return Ok(fresh);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use corridor_store::{RedbOptions, RedbStore, StateStore};
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, Clone, Serialize, Deserialize)]
    struct Thing {
        id: String,
        colour: String,
        #[serde(default)]
        resource_version: String,
    }

    impl Resource for Thing {
        const KIND: &'static str = "projected-things";
        fn id(&self) -> &str {
            &self.id
        }
        fn set_resource_version(&mut self, resource_version: String) {
            self.resource_version = resource_version;
        }
    }

    fn thing(id: usize, colour: &str) -> Thing {
        Thing {
            id: format!("t{id:04}"),
            colour: colour.to_owned(),
            resource_version: String::new(),
        }
    }

    /// Projects `registry`, counting the objects derived; rows are
    /// `id=colour`, blue things have none.
    async fn project(
        registry: &Registry<Thing>,
        projection: &mut Projection<String>,
    ) -> (Vec<String>, usize) {
        let derived = AtomicUsize::new(0);
        let rows = registry
            .project(projection, |t| {
                derived.fetch_add(1, Ordering::Relaxed);
                (t.colour != "blue").then(|| format!("{}={}", t.id, t.colour))
            })
            .await
            .unwrap();
        let rows = rows.iter().map(|row| row.as_str().to_owned()).collect();
        (rows, derived.into_inner())
    }

    /// Each case of a projection: a first call, nothing changed, a few
    /// changes (read one by one) and many (read by range), deletions, and
    /// objects without a row; the answer is always what a fresh projection
    /// would give, and only changed objects are derived again.
    #[tokio::test]
    async fn only_changed_objects_are_derived_again_and_rows_match_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn StateStore> = Arc::new(
            RedbStore::open(dir.path().join("state.redb"), RedbOptions::default()).unwrap(),
        );
        let registry = Registry::<Thing>::new(Arc::clone(&store));
        for i in 0..200 {
            registry.create(&thing(i, "red")).await.unwrap();
        }
        let mut projection = Projection::default();
        let fresh = |registry: &Registry<Thing>| {
            let registry = registry.clone();
            async move { project(&registry, &mut Projection::default()).await.0 }
        };

        let (rows, derived) = project(&registry, &mut projection).await;
        assert_eq!((rows.len(), derived), (200, 200));
        assert_eq!(rows[7], "t0007=red");

        let (rows, derived) = project(&registry, &mut projection).await;
        assert_eq!((rows.len(), derived), (200, 0), "nothing changed");
        // Another kind's write moves the store on: the keys are listed
        // again, and nothing of this kind is derived again.
        store.put("/elsewhere", b"x".to_vec(), None).await.unwrap();
        let (again, derived) = project(&registry, &mut projection).await;
        assert_eq!((again, derived), (rows, 0));

        // A few changes: one recoloured, one deleted, one added, one blue.
        registry.upsert(&thing(3, "green")).await.unwrap();
        registry.delete("t0004", None).await.unwrap();
        registry.create(&thing(500, "red")).await.unwrap();
        registry.upsert(&thing(5, "blue")).await.unwrap();
        let (rows, derived) = project(&registry, &mut projection).await;
        assert_eq!(derived, 3);
        assert_eq!(rows, fresh(&registry).await);
        assert_eq!(rows.len(), 199);
        assert!(rows.contains(&"t0003=green".to_owned()));
        assert!(
            !rows
                .iter()
                .any(|r| r.starts_with("t0004") || r.starts_with("t0005"))
        );
        assert_eq!(projection.len(), 199);

        // A blue thing is not derived again while it stays blue.
        let (_, derived) = project(&registry, &mut projection).await;
        assert_eq!(derived, 0);

        // Many changes: read through one range of values.
        for i in 100..200 {
            registry.upsert(&thing(i, "yellow")).await.unwrap();
        }
        for i in 10..20 {
            registry.delete(&format!("t{i:04}"), None).await.unwrap();
        }
        let (rows, derived) = project(&registry, &mut projection).await;
        assert_eq!(derived, 100);
        assert_eq!(rows, fresh(&registry).await);
        assert_eq!(rows.len(), 189);
        assert_eq!(projection.len(), 189);
    }
}
