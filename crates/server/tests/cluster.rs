//! Three corridord replicas on a three-member etcd, under clients granting
//! and releasing corridors through every replica, while the etcd leader is
//! killed and then the corridord leader stops: no optical port lane is ever
//! held by two corridors (checked by replaying the store's history of
//! corridor objects), no acknowledged grant or release is lost, and another
//! replica leads within 10 s.
//!
//! The replicas are daemons in this test process (each with its own
//! services, twin and listener), so "stops" is a drain, not a `kill -9`;
//! the etcd members are real processes and are killed by pid.
//!
//! Only the leader drives the optical plant: a corridor granted through
//! another replica answers `provisioning` and the leader lights it, and
//! darkens it when another replica releases it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster::replay_corridors;
use common::server::{Options, Server};
use corridor_model::corridor::{CorridorRequest, CorridorStatus};
use corridor_server::config::StoreBackend;
use corridor_store::etcd::testing::{ThrowawayCluster, ThrowawayEtcd};
use tokio::sync::Mutex;

mod common;

const CLIENTS: usize = 12;
const RUN: Duration = Duration::from_secs(16);
/// Every request is answered (or refused) within this.
const REQUEST_BOUND: Duration = Duration::from_secs(30);

fn request() -> CorridorRequest {
    serde_json::from_str(
        r#"{"corridor_type": "SiCorridor", "lanes": 2, "lambda_nm": [1550, 1551],
            "min_gbps": 100, "latency_budget_ns": 250, "reach_mm": 75,
            "mode": "waveguide", "qos": {"pfc": true, "priority": "gold"},
            "attestation_required": false}"#,
    )
    .unwrap()
}

/// `corridor_leader` of a replica's `/metrics` (false when it does not
/// answer).
async fn leads(replica: &Server) -> bool {
    common::cluster::leads(replica.admin(), replica.base()).await
}

#[derive(Debug, Default)]
struct Acknowledged {
    /// Created (201) and not acknowledged as released.
    held: BTreeSet<String>,
    /// Released (the DELETE answered 2xx).
    released: BTreeSet<String>,
    /// Released with an unknown outcome (a 5xx, or a connection broken
    /// after the DELETE was sent, which the client reports rather than
    /// repeats): the corridor may or may not exist at the end.
    release_unknown: BTreeSet<String>,
    grants: usize,
    refusals: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_grant_without_overlap_while_etcd_and_corridord_leaders_fail() {
    let mut etcd = ThrowawayCluster::start().await.unwrap();
    let on_etcd = || {
        Options::default().insecure_dev().store(StoreBackend::Etcd {
            endpoints: etcd.endpoints(),
            tls: None,
        })
    };
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(Some(on_etcd().start().await));
    }
    let bases: Vec<String> = replicas
        .iter()
        .map(|r| r.as_ref().unwrap().base().to_owned())
        .collect();

    let acknowledged = Arc::new(Mutex::new(Acknowledged::default()));
    let started = Instant::now();
    let mut clients = Vec::new();
    for client_index in 0..CLIENTS {
        // Each client starts at its own replica and fails over to the others.
        let first = client_index % bases.len();
        let addresses: Vec<&str> = (0..bases.len())
            .map(|i| bases[(first + i) % bases.len()].as_str())
            .collect();
        let client = corridor_client::Client::new(&addresses.join(",")).unwrap();
        let acknowledged = Arc::clone(&acknowledged);
        clients.push(tokio::spawn(async move {
            while started.elapsed() < RUN {
                let created =
                    tokio::time::timeout(REQUEST_BOUND, client.create_corridor(&request()))
                        .await
                        .expect("a grant is answered in time");
                let corridor = match created {
                    Ok(corridor) => corridor,
                    Err(_) => {
                        // Refused or unknown (the store was failing over):
                        // not acknowledged, so nothing is promised.
                        acknowledged.lock().await.refusals += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                {
                    let mut ack = acknowledged.lock().await;
                    ack.grants += 1;
                    ack.held.insert(corridor.id.clone());
                }
                let deleted =
                    tokio::time::timeout(REQUEST_BOUND, client.delete_corridor(&corridor.id))
                        .await
                        .expect("a release is answered in time");
                match deleted {
                    Ok(_) => {
                        let mut ack = acknowledged.lock().await;
                        ack.held.remove(&corridor.id);
                        ack.released.insert(corridor.id);
                    }
                    // Refused (4xx) or never sent: nothing happened, the
                    // corridor is still held.
                    Err(corridor_client::ClientError::Api { problem }) if problem.status < 500 => {}
                    Err(corridor_client::ClientError::Transport { source, .. })
                        if source.is_connect() => {}
                    Err(_) => {
                        let mut ack = acknowledged.lock().await;
                        ack.held.remove(&corridor.id);
                        ack.release_unknown.insert(corridor.id);
                    }
                }
            }
        }));
    }

    // The etcd leader dies a quarter into the run; a replica leads again
    // within 10 s (its lease may lapse while etcd elects).
    tokio::time::sleep(RUN / 4).await;
    let etcd_leader = etcd.leader().await.unwrap();
    etcd.kill(etcd_leader);
    let killed = Instant::now();
    single_leader(&replicas, "the etcd leader died").await;

    // Half-way, the corridord leader stops; another must lead within 10 s.
    tokio::time::sleep((RUN / 4).saturating_sub(killed.elapsed())).await;
    let leader = single_leader(&replicas, "before the corridord leader stops").await;
    replicas[leader].take().unwrap().stop().await;
    single_leader(&replicas, "the corridord leader stopped").await;

    for client in clients {
        client.await.unwrap();
    }
    let acknowledged = acknowledged.lock().await;
    assert!(
        acknowledged.grants > 0,
        "no grant succeeded: {acknowledged:?}"
    );

    // Replay every version of every corridor object in revision order: at
    // no revision do two live corridors share a port lane.
    let store = etcd.store().await.unwrap();
    let replay = replay_corridors(&store).await;
    assert!(
        replay.double_holds.is_empty(),
        "{} double holds, the first: {}",
        replay.double_holds.len(),
        replay.double_holds[0]
    );
    let (live, seen) = (replay.live, replay.seen);

    // Nothing acknowledged is lost: every corridor a client holds is in the
    // store, and none it released is.
    let now: BTreeSet<String> = live.keys().cloned().collect();
    for id in &acknowledged.held {
        assert!(now.contains(id), "acknowledged grant {id} is gone");
    }
    for id in &acknowledged.released {
        assert!(
            seen.contains(id),
            "acknowledged grant {id} never reached the store"
        );
        assert!(!now.contains(id), "released corridor {id} is still there");
    }
    eprintln!(
        "{} grants, {} refusals or unknown outcomes, {} releases with unknown outcome, {} corridors held at the end",
        acknowledged.grants,
        acknowledged.refusals,
        acknowledged.release_unknown.len(),
        now.len()
    );
    drop(acknowledged);

    for replica in replicas.into_iter().flatten() {
        replica.stop().await;
    }
}

/// Waits up to 10 s for exactly one running replica to lead and returns its
/// index; fails if two ever lead at once, or if none leads in time (`after`
/// names the event the wait follows).
async fn single_leader(replicas: &[Option<Server>], after: &str) -> usize {
    let start = Instant::now();
    loop {
        let mut leading = Vec::new();
        for (i, replica) in replicas.iter().enumerate() {
            if let Some(replica) = replica
                && leads(replica).await
            {
                leading.push(i);
            }
        }
        assert!(leading.len() <= 1, "two replicas lead: {leading:?}");
        if let Some(&leader) = leading.first() {
            return leader;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no replica led within 10 s after {after}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `done` every 20 ms for at most `limit`; how long it took.
async fn within<F: std::future::Future<Output = bool>>(
    limit: Duration,
    mut done: impl FnMut() -> F,
) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn corridors_granted_through_followers_are_lit_and_darkened_by_the_leader() {
    let etcd = ThrowawayEtcd::start().await.unwrap();
    let mut started = Vec::new();
    for _ in 0..3 {
        started.push(Some(
            Options::default().insecure_dev().etcd(&etcd).start().await,
        ));
    }
    let leader = single_leader(&started, "the replicas started").await;
    let replicas: Vec<Server> = started.into_iter().flatten().collect();
    let plant_owner = &replicas[leader];

    for (i, follower) in replicas.iter().enumerate() {
        let client = corridor_client::Client::new(follower.base()).unwrap();
        let granted = client.create_corridor(&request()).await.unwrap();
        let id = granted.id.clone();
        if i == leader {
            assert_eq!(granted.status, CorridorStatus::Active, "{granted:#?}");
        } else {
            assert_eq!(granted.status, CorridorStatus::Provisioning, "{granted:#?}");
            let provisioned = granted.meta.condition("Provisioned").unwrap();
            assert_eq!(provisioned.reason, "AwaitingPlantOwner", "{granted:#?}");
            assert!(
                follower.plane().corridors.lit().is_empty(),
                "a follower lit lanes on its own plant"
            );
            let active = within(Duration::from_secs(10), || {
                let client = &client;
                let id = &id;
                async move {
                    client
                        .corridor(id)
                        .await
                        .is_ok_and(|c| c.status == CorridorStatus::Active)
                }
            })
            .await;
            assert!(
                active.is_some(),
                "{id} granted through replica {i} never went active"
            );
        }
        assert!(plant_owner.plane().corridors.lit().contains(&id));

        client.delete_corridor(&id).await.unwrap();
        let dark = within(Duration::from_secs(10), || {
            let id = &id;
            async move { !plant_owner.plane().corridors.lit().contains(id) }
        })
        .await;
        assert!(
            dark.is_some(),
            "{id} released through replica {i} stayed lit on the leader's plant"
        );
    }

    for replica in replicas {
        replica.stop().await;
    }
}
