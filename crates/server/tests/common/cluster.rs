//! What the cluster-mode tests share: whether a replica leads, the port
//! lanes a corridor holds, and a replay of the store's history of corridor
//! objects that finds any port lane held by two corridors at once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use corridor_model::corridor::Corridor;
use corridor_store::{EventKind, StateStore};
use futures::StreamExt;

/// How long a replica may take to answer `/metrics` before it counts as
/// not answering (a paused or dead one never answers).
const METRICS_TIMEOUT: Duration = Duration::from_secs(2);

/// The scrape timeout announced to corridord, which spends at most 80% of
/// it reading resources (a replica cut off from its store leaves out what
/// it could not read by then).
const SCRAPE_TIMEOUT_S: &str = "1";

/// `corridor_leader` of the replica at `base` (`http://127.0.0.1:port`):
/// `Some(true)` while it runs the singleton work, `None` when it does not
/// answer in time.
pub async fn leader_gauge(http: &reqwest::Client, base: &str) -> Option<bool> {
    leader_gauge_within(http, base, METRICS_TIMEOUT).await
}

/// [`leader_gauge`], waiting up to `timeout` for the answer (a replica cut
/// off from its store answers `/metrics` only once its store reads give up).
pub async fn leader_gauge_within(
    http: &reqwest::Client,
    base: &str,
    timeout: Duration,
) -> Option<bool> {
    let url = format!("{}/metrics", base.trim_end_matches('/'));
    let answer = tokio::time::timeout(timeout, async {
        http.get(&url)
            .header("X-Prometheus-Scrape-Timeout-Seconds", SCRAPE_TIMEOUT_S)
            .send()
            .await?
            .text()
            .await
    })
    .await;
    let Ok(Ok(text)) = answer else {
        return None;
    };
    text.lines()
        .find_map(|line| line.strip_prefix("corridor_leader "))
        .map(|value| value.trim() == "1")
}

/// Whether the replica at `base` leads; false when it does not answer.
pub async fn leads(http: &reqwest::Client, base: &str) -> bool {
    leader_gauge(http, base).await.unwrap_or(false)
}

/// One (optical port, module lane): the unit no two corridors may hold.
pub type PortLane = (String, u8);

/// Every (port, module lane) a corridor holds.
pub fn port_lanes(corridor: &Corridor) -> Vec<PortLane> {
    corridor
        .assignment
        .iter()
        .flat_map(|a| {
            a.ports
                .iter()
                .flat_map(move |port| a.module_lanes.iter().map(move |lane| (port.clone(), *lane)))
        })
        .collect()
}

/// The store's history of corridor objects, replayed.
#[derive(Debug, Default)]
pub struct Replay {
    /// Corridors that exist at the end, with their port lanes.
    pub live: BTreeMap<String, Vec<PortLane>>,
    /// Every corridor that ever existed.
    pub seen: BTreeSet<String>,
    /// Every corridor's first version, by id.
    pub created: BTreeMap<String, Corridor>,
    /// Every moment two live corridors shared a port lane.
    pub double_holds: Vec<String>,
    /// The revision the replay ended at.
    pub end: corridor_store::Revision,
}

/// Replays every version of every corridor object in revision order, up to
/// the store's current revision, noting every revision at which two live
/// corridors share a port lane.
pub async fn replay_corridors(store: &dyn StateStore) -> Replay {
    let prefix = "/registry/corridors/";
    let now = store
        .range(corridor_store::RangeRequest::prefix(prefix))
        .await
        .unwrap();
    assert!(!now.more, "the corridor list came whole");
    let end = now.revision;
    let mut history = store.watch(prefix, 1).await.unwrap();
    let mut replay = Replay {
        end,
        ..Replay::default()
    };
    let mut holders: BTreeMap<PortLane, String> = BTreeMap::new();
    if end == 0 {
        return replay;
    }
    // The stream carries corridor events only, so the store's revision at
    // the start may belong to another object: the history is complete once
    // an event reaches it, or once the stream (which sends what is stored
    // at once) goes quiet.
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(3), history.next()).await {
        let event = event.unwrap();
        if event.kv.mod_revision > end {
            break;
        }
        let id = event.kv.key[prefix.len()..].to_owned();
        if let Some(previous) = replay.live.remove(&id) {
            for lane in previous {
                holders.remove(&lane);
            }
        }
        if event.kind == EventKind::Put {
            let corridor: Corridor = serde_json::from_slice(&event.kv.value).unwrap();
            let lanes = port_lanes(&corridor);
            for lane in &lanes {
                if let Some(other) = holders.insert(lane.clone(), id.clone()) {
                    replay.double_holds.push(format!(
                        "at revision {} {lane:?} is held by {other} and {id}",
                        event.kv.mod_revision
                    ));
                }
            }
            replay.live.insert(id.clone(), lanes);
            replay.seen.insert(id.clone());
            replay.created.entry(id).or_insert(corridor);
        }
        if event.kv.mod_revision >= end {
            break;
        }
    }
    // The replay ends where the list was read: the same corridors.
    let listed: BTreeSet<String> = now
        .kvs
        .iter()
        .map(|kv| kv.key[prefix.len()..].to_owned())
        .collect();
    let replayed: BTreeSet<String> = replay.live.keys().cloned().collect();
    assert_eq!(
        listed, replayed,
        "the replay of the history ends at the store's list at revision {end}"
    );
    replay
}
