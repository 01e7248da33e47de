//! The expiry reconciler: frees what the store deleted behind memqosd's
//! back (lease expiry) and what a DELETE already removed (freeing is
//! idempotent).

use std::sync::{Arc, Weak};
use std::time::Duration;

use corridor_model::ffm::{FfmBundle, Persistence};
use corridor_store::EventKind;
use futures::StreamExt;

use super::{FfmService, lock};
use crate::{Registry, ServiceError};

/// Watches the bundle prefix from `from` and releases every deleted bundle.
///
/// Holds the service (and so the store) only weakly between events, so
/// dropping the control plane closes the store.
pub(super) async fn run(service: Weak<FfmService>, from: i64) {
    let prefix = Registry::<FfmBundle>::prefix();
    let mut from = from;
    loop {
        let Some(store) = service.upgrade().map(|s| Arc::clone(&s.store)) else {
            return;
        };
        let watched = store.watch(&prefix, from).await;
        drop(store);
        let mut events = match watched {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "memqosd reconciler cannot watch; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                from = 0;
                continue;
            }
        };
        while let Some(event) = events.next().await {
            let Some(service) = service.upgrade() else {
                return;
            };
            match event {
                Ok(event) => {
                    from = event.revision() + 1;
                    if event.kind == EventKind::Delete {
                        let id = event.kv.key.trim_start_matches(&prefix).to_owned();
                        let previous = event
                            .prev_kv
                            .as_ref()
                            .and_then(|kv| serde_json::from_slice::<FfmBundle>(&kv.value).ok());
                        // Another host's bundle: its memory is in the memqosd serving that
                        // host, and its grant leaves this ledger through `cluster`.
                        if previous
                            .as_ref()
                            .is_some_and(|b| !service.hosts.serves(&b.host))
                        {
                            continue;
                        }
                        service.release(
                            &id,
                            previous
                                .as_ref()
                                .map_or(Persistence::None, |b| b.persistence),
                            previous.as_ref().map(|b| b.security_domain.as_str()),
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "memqosd reconciler watch ended; resyncing");
                    service.resync().await;
                    from = 0;
                    break;
                }
            }
        }
        if service.upgrade().is_none() {
            return;
        }
    }
}

impl FfmService {
    /// After a lost watch: frees every live bundle whose object is gone.
    async fn resync(&self) {
        let ids: Vec<String> = lock(&self.live).keys().cloned().collect();
        for id in ids {
            if let Err(ServiceError::NotFound { .. }) = self.bundles.get(&id).await {
                // Persistent or not is unknown now; a missing file is no
                // error, so try to remove one.
                self.release(&id, Persistence::File, None);
            }
        }
    }
}
