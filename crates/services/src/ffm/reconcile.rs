//! The expiry reconciler: frees what the store deleted behind memqosd's
//! back (lease expiry) and what a DELETE already removed (freeing is
//! idempotent).

use std::borrow::Cow;
use std::sync::{Arc, Weak};
use std::time::Duration;

use corridor_model::ffm::{FfmBundle, Persistence};
use corridor_store::EventKind;
use futures::StreamExt;

use super::{FfmService, lock};
use crate::{Registry, ServiceError};

/// What releasing a deleted bundle needs of its last object: the rest of
/// the object is only scanned, nothing of it built (every DELETE comes through here, after
/// the request has released the bundle already).
#[derive(serde::Deserialize)]
struct Deleted<'a> {
    #[serde(default, borrow)]
    host: Cow<'a, str>,
    persistence: Persistence,
    #[serde(borrow)]
    security_domain: Cow<'a, str>,
}

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
                            .and_then(|kv| serde_json::from_slice::<Deleted>(&kv.value).ok());
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
                            previous.as_ref().map(|b| &*b.security_domain),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A bundle object as memqosd stores it (escapes and nested objects
    /// included), read both ways: the partial decode must agree with the
    /// whole object's.
    const STORED: &str = r#"{"id":"ffm-9c2e","bytes":1048576,"latency_class":"T2",
        "bandwidth_floor_GBs":150.0,"persistence":"file","shareable":false,
        "security_domain":"tenant\"A\\b","host":"h\u00e91","created_at":"2026-12-06T21:00:00Z",
        "policy_lease_ttl_s":60,"fds":["/proc/7/fd/9"],"achieved_GBs":150.0,
        "moved_pages":0,"page_size":"base","tail_p99_ms":0.4,"telemetry_source":"model",
        "placement":[{"latency_class":"T2","node":"1","bytes":1048576}],
        "resource_version":"42","conditions":[],"updated_at":"2026-12-06T21:00:00Z"}"#;

    #[test]
    fn a_deleted_bundle_is_read_as_the_whole_object_says() {
        let whole: FfmBundle = serde_json::from_str(STORED).unwrap();
        let deleted: Deleted = serde_json::from_str(STORED).unwrap();
        assert_eq!(deleted.host, whole.host);
        assert_eq!(deleted.persistence, whole.persistence);
        assert_eq!(deleted.security_domain, whole.security_domain);
        assert_eq!(whole.security_domain, "tenant\"A\\b");
        assert_eq!(whole.host, "h\u{e9}1");
        // An object stored before bundles named their host.
        let older = STORED.replace(r#""host":"h\u00e91","#, "");
        let deleted: Deleted = serde_json::from_str(&older).unwrap();
        assert_eq!(deleted.host, "");
        assert_eq!(serde_json::from_str::<FfmBundle>(&older).unwrap().host, "");
    }
}
