//! The corridors this replica granted, as it wrote them, with the
//! revision and lease of that write. A release of such a corridor compares
//! on that revision instead of reading the stored object (the read and the
//! JSON decode were about 4 % of corridord's CPU per corridor grant, and
//! the read a store round trip): if the compare holds, the object kept is
//! the object stored. A corridor changed since, by this replica or
//! another, fails the compare, and the release reads it as before. An
//! entry is only ever a shortcut to the same bytes' meaning.

use std::collections::HashMap;

use corridor_model::corridor::Corridor;
use corridor_store::{LeaseId, Revision};

/// How many corridors are kept at most; past that, an arbitrary one is
/// forgotten for each new one (a release of a forgotten corridor reads
/// it, as it would anyway).
const CAPACITY: usize = 4096;

/// A corridor as this replica's grant stored it.
#[derive(Debug)]
pub(crate) struct Kept {
    pub corridor: Corridor,
    /// The revision of that write (its `resource_version`).
    pub revision: Revision,
    /// The lease the object is attached to.
    pub lease: Option<LeaseId>,
}

#[derive(Debug, Default)]
pub(crate) struct Written {
    by_id: HashMap<String, Kept>,
}

impl Written {
    /// Keeps `corridor` as stored at its `resource_version`, under `lease`.
    /// A corridor without a numeric version is not kept.
    pub(crate) fn keep(&mut self, corridor: &Corridor, lease: Option<LeaseId>) {
        let Ok(revision) = corridor.meta.resource_version.parse() else {
            return;
        };
        if self.by_id.len() >= CAPACITY
            && !self.by_id.contains_key(&corridor.id)
            && let Some(victim) = self.by_id.keys().next().cloned()
        {
            self.by_id.remove(&victim);
        }
        self.by_id.insert(
            corridor.id.clone(),
            Kept {
                corridor: corridor.clone(),
                revision,
                lease,
            },
        );
    }

    /// The corridor `id` as kept, whatever is stored now (the caller's
    /// transaction compares `revision`); forgotten.
    pub(crate) fn take(&mut self, id: &str) -> Option<Kept> {
        self.by_id.remove(id)
    }

    /// Keeps again what [`Self::take`] took and could not use.
    pub(crate) fn put_back(&mut self, kept: Kept) {
        self.by_id.entry(kept.corridor.id.clone()).or_insert(kept);
    }

    /// Forgets `id` (its corridor was released or changed elsewhere).
    pub(crate) fn forget(&mut self, id: &str) {
        self.by_id.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corridor(id: &str, revision: i64) -> Corridor {
        let request: corridor_model::corridor::CorridorRequest =
            serde_json::from_value(serde_json::json!({
                "corridor_type": "SiCorridor",
                "lanes": 1,
                "lambda_nm": [1550.0],
                "min_gbps": 100,
                "latency_budget_ns": 1000,
                "reach_mm": 5000,
                "mode": "waveguide",
                "qos": {"pfc": false, "priority": "silver"},
                "attestation_required": false
            }))
            .unwrap();
        let mut c = Corridor::pending(id.to_owned(), request, chrono::Utc::now());
        c.meta.resource_version = revision.to_string();
        c
    }

    #[test]
    fn a_kept_corridor_is_taken_once_with_its_revision_and_lease() {
        let mut written = Written::default();
        written.keep(&corridor("cor-a", 7), Some(5));
        let kept = written.take("cor-a").unwrap();
        assert_eq!(
            (kept.corridor.id.as_str(), kept.revision, kept.lease),
            ("cor-a", 7, Some(5))
        );
        assert!(written.take("cor-a").is_none());
        // Put back, it serves again; forgotten, it does not.
        written.put_back(kept);
        assert!(written.take("cor-a").is_some());
        written.keep(&corridor("cor-b", 3), None);
        written.forget("cor-b");
        assert!(written.take("cor-b").is_none());
        // A version that is not a revision is never kept.
        let mut unversioned = corridor("cor-c", 1);
        unversioned.meta.resource_version = String::new();
        written.keep(&unversioned, None);
        assert!(written.take("cor-c").is_none());
    }

    #[test]
    fn it_keeps_at_most_its_capacity() {
        let mut written = Written::default();
        for n in 0..CAPACITY + 100 {
            written.keep(&corridor(&format!("cor-{n}"), 1), None);
        }
        assert_eq!(written.by_id.len(), CAPACITY);
        // The newest is always kept.
        let last = format!("cor-{}", CAPACITY + 99);
        assert!(written.take(&last).is_some());
    }
}
