//! The corridors this replica wrote last, as it wrote them. A release
//! reads the stored object anyway (for its revision, which the release
//! transaction compares); when that revision is the one written here, the
//! object is taken from here instead of decoded from its stored JSON again
//! (the decode was about 4 % of corridord's CPU per corridor grant).
//!
//! A corridor changed since, by this replica or another, has another
//! revision and is decoded as before: an entry is only ever a shortcut to
//! the same bytes' meaning.

use std::collections::HashMap;

use corridor_model::corridor::Corridor;
use corridor_store::KeyValue;

/// How many corridors are kept at most; past that, an arbitrary one is
/// forgotten for each new one (a release of a forgotten corridor decodes
/// it, as it would anyway).
const CAPACITY: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct Written {
    by_id: HashMap<String, Corridor>,
}

impl Written {
    /// Keeps `corridor` as stored at its `resource_version`.
    pub(crate) fn keep(&mut self, corridor: &Corridor) {
        if self.by_id.len() >= CAPACITY
            && !self.by_id.contains_key(&corridor.id)
            && let Some(victim) = self.by_id.keys().next().cloned()
        {
            self.by_id.remove(&victim);
        }
        self.by_id.insert(corridor.id.clone(), corridor.clone());
    }

    /// The corridor `id` as stored in `kv`, if it was kept at that
    /// revision; forgotten either way.
    pub(crate) fn take(&mut self, id: &str, kv: &KeyValue) -> Option<Corridor> {
        let kept = self.by_id.remove(id)?;
        (kept.meta.resource_version == kv.mod_revision.to_string()).then_some(kept)
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

    fn stored(id: &str, revision: i64) -> KeyValue {
        KeyValue {
            key: format!("/corridors/{id}"),
            value: Vec::new(),
            create_revision: revision,
            mod_revision: revision,
            version: 1,
            lease: None,
        }
    }

    #[test]
    fn a_kept_corridor_serves_only_its_own_revision_and_once() {
        let mut written = Written::default();
        written.keep(&corridor("cor-a", 7));
        // Changed since (another revision): not served, and forgotten.
        assert!(written.take("cor-a", &stored("cor-a", 9)).is_none());
        assert!(written.take("cor-a", &stored("cor-a", 7)).is_none());
        written.keep(&corridor("cor-a", 7));
        assert_eq!(
            written.take("cor-a", &stored("cor-a", 7)).unwrap().id,
            "cor-a"
        );
        assert!(written.take("cor-a", &stored("cor-a", 7)).is_none());
        written.keep(&corridor("cor-b", 3));
        written.forget("cor-b");
        assert!(written.take("cor-b", &stored("cor-b", 3)).is_none());
    }

    #[test]
    fn it_keeps_at_most_its_capacity() {
        let mut written = Written::default();
        for n in 0..CAPACITY + 100 {
            written.keep(&corridor(&format!("cor-{n}"), 1));
        }
        assert_eq!(written.by_id.len(), CAPACITY);
        // The newest is always kept.
        let last = format!("cor-{}", CAPACITY + 99);
        assert!(written.take(&last, &stored(&last, 1)).is_some());
    }
}
