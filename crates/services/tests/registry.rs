//! The resource machinery against the real redb store: versions and
//! preconditions, pagination with label filters, watches, leases and
//! long-running operations.

use corridor_services::error::ToProblem;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use corridor_hal::{Clock, ManualClock};
use corridor_model::meta::{OperationKind, OperationState, ResourceKind, ResourceRef};
use corridor_services::labels::LabelSelector;
use corridor_services::operations::Operations;
use corridor_services::{ListOptions, Registry, Resource, ResourceEventType, ServiceError};
use corridor_store::{RedbOptions, RedbStore, StateStore};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Widget {
    id: String,
    size: u32,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    resource_version: String,
    #[serde(default)]
    lease_expires_at: Option<chrono::DateTime<Utc>>,
}

impl Resource for Widget {
    const KIND: &'static str = "widgets";

    fn id(&self) -> &str {
        &self.id
    }

    fn set_resource_version(&mut self, resource_version: String) {
        self.resource_version = resource_version;
    }

    fn set_lease_expires_at(&mut self, at: Option<chrono::DateTime<Utc>>) {
        self.lease_expires_at = at;
    }

    fn labels(&self) -> Option<&BTreeMap<String, String>> {
        Some(&self.labels)
    }
}

fn widget(id: &str, size: u32, color: &str) -> Widget {
    Widget {
        id: id.into(),
        size,
        labels: BTreeMap::from([("color".to_string(), color.to_string())]),
        resource_version: String::new(),
        lease_expires_at: None,
    }
}

struct Fixture {
    store: Arc<dyn StateStore>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("store.redb"), RedbOptions::default()).unwrap();
    Fixture {
        store: Arc::new(store),
        _dir: dir,
    }
}

#[tokio::test]
async fn create_get_and_duplicate() {
    let f = fixture();
    let widgets = Registry::<Widget>::new(f.store.clone());
    let created = widgets.create(&widget("w1", 3, "red")).await.unwrap();
    assert!(!created.resource_version.is_empty());
    let read = widgets.get("w1").await.unwrap();
    assert_eq!(read, created);
    let err = widgets.create(&widget("w1", 4, "red")).await.unwrap_err();
    assert!(matches!(err, ServiceError::AlreadyExists { .. }), "{err}");
    assert_eq!(
        widgets.get("w1").await.unwrap().size,
        3,
        "the duplicate changed nothing"
    );
    let err = widgets.get("nope").await.unwrap_err();
    assert!(matches!(err, ServiceError::NotFound { .. }));
    assert_eq!(err.to_problem().status, 404);
}

#[tokio::test]
async fn stale_if_match_is_refused_and_changes_nothing() {
    let f = fixture();
    let widgets = Registry::<Widget>::new(f.store.clone());
    let v1 = widgets.create(&widget("w1", 1, "red")).await.unwrap();
    let v1_rev: i64 = v1.resource_version.parse().unwrap();
    let v2 = widgets
        .update("w1", Some(v1_rev), |w| {
            w.size = 2;
            Ok(())
        })
        .await
        .unwrap();
    assert_ne!(v2.resource_version, v1.resource_version);
    let err = widgets
        .update("w1", Some(v1_rev), |w| {
            w.size = 99;
            Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::StaleVersion { .. }), "{err}");
    assert_eq!(err.to_problem().status, 409);
    assert_eq!(widgets.get("w1").await.unwrap().size, 2);
    let err = widgets.delete("w1", Some(v1_rev)).await.unwrap_err();
    assert!(matches!(err, ServiceError::StaleVersion { .. }));
    widgets
        .delete("w1", Some(v2.resource_version.parse().unwrap()))
        .await
        .unwrap();
    assert!(widgets.get("w1").await.is_err());
}

#[tokio::test]
async fn concurrent_unconditional_updates_all_apply() {
    let f = fixture();
    let widgets = Registry::<Widget>::new(f.store.clone());
    widgets.create(&widget("w", 0, "red")).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let widgets = widgets.clone();
        tasks.push(tokio::spawn(async move {
            widgets
                .update("w", None, |w| {
                    w.size += 1;
                    Ok(())
                })
                .await
                .unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(widgets.get("w").await.unwrap().size, 16);
}

#[tokio::test]
async fn pages_cover_every_match_once_in_order() {
    let f = fixture();
    let widgets = Registry::<Widget>::new(f.store.clone());
    for i in 0..25 {
        let color = if i % 3 == 0 { "blue" } else { "red" };
        widgets
            .create(&widget(&format!("w{i:02}"), i, color))
            .await
            .unwrap();
    }
    for (selector, expected) in [("", 25), ("color=blue", 9), ("color!=blue", 16)] {
        let mut seen = Vec::new();
        let mut token = None;
        loop {
            let page = widgets
                .list(&ListOptions {
                    limit: Some(4),
                    continue_token: token.clone(),
                    label_selector: LabelSelector::parse(selector).unwrap(),
                })
                .await
                .unwrap();
            assert!(page.items.len() <= 4);
            seen.extend(page.items.into_iter().map(|w| w.id));
            match page.continue_token {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(seen, sorted, "in key order without duplicates ({selector})");
        assert_eq!(seen.len(), expected, "selector {selector:?}");
    }
    let err = widgets
        .list(&ListOptions {
            continue_token: Some("not-a-token".into()),
            ..ListOptions::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.to_problem().status, 422);
}

/// The next event of a watch, within 5 s.
async fn next_event<E>(
    events: &mut (impl futures::Stream<Item = Result<E, ServiceError>> + Unpin),
) -> E {
    tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("event in time")
        .expect("stream open")
        .expect("no error")
}

#[tokio::test]
async fn watch_from_a_list_revision_sees_every_later_change() {
    let f = fixture();
    let widgets = Registry::<Widget>::new(f.store.clone());
    widgets.create(&widget("a", 1, "red")).await.unwrap();
    let page = widgets.list(&ListOptions::default()).await.unwrap();
    // Changes made before the watch starts but after the list must arrive.
    widgets
        .update("a", None, |w| {
            w.size = 2;
            Ok(())
        })
        .await
        .unwrap();
    let mut events = widgets
        .watch(page.revision + 1, LabelSelector::default())
        .await
        .unwrap();
    widgets.create(&widget("b", 1, "blue")).await.unwrap();
    widgets.delete("a", None).await.unwrap();
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let event = next_event(&mut events).await;
        kinds.push((event.event_type, event.object.id.clone()));
    }
    assert_eq!(
        kinds,
        vec![
            (ResourceEventType::Modified, "a".to_string()),
            (ResourceEventType::Added, "b".to_string()),
            (ResourceEventType::Deleted, "a".to_string()),
        ]
    );
}

/// The undecoded watch (the history's): the same changes, each with its
/// id, revision and the version the store holds (the last one for a delete).
#[tokio::test]
async fn a_stored_watch_gives_each_change_with_the_stored_version() {
    let f = fixture();
    let widgets = Registry::<Widget>::new(f.store.clone());
    let first = widgets.create(&widget("a", 1, "red")).await.unwrap();
    let from: corridor_store::Revision = first.resource_version.parse().unwrap();
    let mut events = widgets.watch_stored(from).await.unwrap();
    widgets
        .update("a", None, |w| {
            w.size = 2;
            Ok(())
        })
        .await
        .unwrap();
    widgets.delete("a", None).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = next_event(&mut events).await;
        let stored: Widget = serde_json::from_slice(&event.value).unwrap();
        seen.push((event.event_type, event.id, stored.size, event.revision));
    }
    assert_eq!(
        seen.iter()
            .map(|s| (s.0, s.1.as_str(), s.2))
            .collect::<Vec<_>>(),
        [
            (ResourceEventType::Added, "a", 1),
            (ResourceEventType::Modified, "a", 2),
            (ResourceEventType::Deleted, "a", 2),
        ]
    );
    assert_eq!(seen[0].3, from);
    assert!(seen.windows(2).all(|w| w[0].3 < w[1].3), "{seen:?}");
}

#[tokio::test]
async fn leased_objects_expire_and_renewal_extends_them() {
    let f = fixture();
    let widgets = Registry::<Widget>::new(f.store.clone());
    let mut events = widgets.watch(0, LabelSelector::default()).await.unwrap();
    let created = widgets
        .create_leased(
            &widget("short", 1, "red"),
            Duration::from_secs(1),
            Utc::now(),
        )
        .await
        .unwrap();
    assert!(created.lease_expires_at.is_some());
    widgets
        .create_leased(
            &widget("renewed", 1, "red"),
            Duration::from_secs(2),
            Utc::now(),
        )
        .await
        .unwrap();
    let err = widgets.create(&widget("plain", 1, "red")).await.map(|_| ());
    assert!(err.is_ok());
    assert!(matches!(
        widgets.renew_lease("plain", Utc::now()).await,
        Err(ServiceError::NotLeased { .. })
    ));
    // Renew "renewed" every 500 ms while "short" runs out.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    let mut deleted = None;
    while deleted.is_none() && tokio::time::Instant::now() < deadline {
        widgets.renew_lease("renewed", Utc::now()).await.unwrap();
        if let Ok(Some(Ok(event))) =
            tokio::time::timeout(Duration::from_millis(500), events.next()).await
            && event.event_type == ResourceEventType::Deleted
        {
            deleted = Some(event.object.id);
        }
    }
    assert_eq!(deleted.as_deref(), Some("short"));
    assert!(widgets.get("short").await.is_err());
    assert!(widgets.get("renewed").await.is_ok());
}

#[tokio::test]
async fn operations_report_progress_and_finish() {
    let f = fixture();
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(Utc::now()));
    let operations = Operations::new(Registry::new(f.store.clone()), clock);
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let op = operations
        .start(
            OperationKind::Calibration,
            ResourceRef::new(ResourceKind::Corridor, "cor-1"),
            move |progress| async move {
                progress.report(40, "locking rings").await.ok();
                let _ = go_rx.await;
                Ok(Some(serde_json::json!({"locked": 8})))
            },
        )
        .await
        .unwrap();
    assert_eq!(op.state, OperationState::Pending);
    let registry = operations.registry().clone();
    let wait_for = |state: OperationState| {
        let registry = registry.clone();
        let id = op.id.clone();
        async move {
            for _ in 0..500 {
                let current = registry.get(&id).await.unwrap();
                if current.state == state {
                    return current;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("operation never reached {state:?}");
        }
    };
    let running = wait_for(OperationState::Running).await;
    assert_eq!(running.progress_percent, 40);
    go_tx.send(()).unwrap();
    let done = wait_for(OperationState::Succeeded).await;
    assert_eq!(done.progress_percent, 100);
    assert_eq!(done.result, Some(serde_json::json!({"locked": 8})));
}

#[tokio::test]
async fn create_with_a_failing_extra_compare_writes_nothing() {
    let f = fixture();
    let widgets = Registry::<Widget>::new(f.store.clone());
    // A ledger key at a revision the caller no longer holds.
    let stale = f.store.put("/ledger/x", b"1".to_vec(), None).await.unwrap();
    f.store.put("/ledger/x", b"2".to_vec(), None).await.unwrap();
    let err = widgets
        .create_with(
            &widget("w", 1, "red"),
            None,
            vec![corridor_store::Compare::mod_revision(
                "/ledger/x",
                corridor_store::CompareOp::Equal,
                stale,
            )],
            Vec::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::ConditionFailed { .. }), "{err}");
    assert_eq!(err.to_problem().status, 409);
    assert!(widgets.get("w").await.is_err(), "nothing was written");
}

/// Lists reuse the objects they decoded while a record keeps its revision;
/// a list after another writer's update, delete and create (through a
/// registry of its own, so the lister's cache sees none of it) shows each
/// change, page by page as in one page.
#[tokio::test]
async fn repeated_lists_show_every_change_made_in_between() {
    let f = fixture();
    let writer = Registry::<Widget>::new(f.store.clone());
    let lister = Registry::<Widget>::new(f.store.clone());
    for (id, size) in [("w1", 1), ("w2", 2), ("w4", 4)] {
        writer.create(&widget(id, size, "red")).await.unwrap();
    }
    let everything = |page_size: usize| {
        let lister = lister.clone();
        async move {
            let mut seen = Vec::new();
            let mut options = ListOptions {
                limit: Some(page_size),
                ..ListOptions::default()
            };
            loop {
                let page = lister.list(&options).await.unwrap();
                seen.extend(
                    page.items
                        .into_iter()
                        .map(|w| (w.id, w.size, w.resource_version)),
                );
                match page.continue_token {
                    Some(token) => options.continue_token = Some(token),
                    None => return seen,
                }
            }
        }
    };
    for page_size in [1, 2, 1000] {
        assert_eq!(everything(page_size).await.len(), 3);
    }
    let updated = writer
        .update("w1", None, |w| {
            w.size = 10;
            Ok(())
        })
        .await
        .unwrap();
    writer.delete("w2", None).await.unwrap();
    let created = writer.create(&widget("w3", 3, "red")).await.unwrap();
    for page_size in [1, 2, 1000] {
        let seen = everything(page_size).await;
        let ids: Vec<(&str, u32)> = seen
            .iter()
            .map(|(id, size, _)| (id.as_str(), *size))
            .collect();
        assert_eq!(
            ids,
            [("w1", 10), ("w3", 3), ("w4", 4)],
            "pages of {page_size}"
        );
        assert_eq!(seen[0].2, updated.resource_version);
        assert_eq!(seen[1].2, created.resource_version);
    }
}
