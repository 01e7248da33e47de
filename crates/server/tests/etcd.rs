//! corridord on an etcd cluster: two daemons on one etcd share one state.
//!
//! `make test` installs etcd first (scripts/install-etcd.sh); without an
//! `etcd` on PATH this test fails and says so.

use common::server::{Options, Server};
use corridor_pki::Principal;
use corridor_server::config::StoreBackend;
use corridor_store::StateStore;
use corridor_store::etcd::testing::ThrowawayEtcd;

mod common;

async fn daemon_on(etcd: &ThrowawayEtcd) -> Server {
    Options::default().insecure_dev().etcd(etcd).start().await
}

#[tokio::test]
async fn two_daemons_on_one_etcd_serve_the_same_state() {
    let etcd = ThrowawayEtcd::start().await.unwrap();
    let a = daemon_on(&etcd).await;
    let b = daemon_on(&etcd).await;
    assert!(
        !a.state_dir().join(corridor_server::STORE_FILE).exists(),
        "no embedded store is opened when etcd is configured"
    );
    // --insecure-dev: every caller is the admin.
    let client_a = a.client(&Principal::Admin);
    let client_b = b.client(&Principal::Admin);

    let versions = |devices: &[corridor_model::fabric::FabricDevice]| {
        devices
            .iter()
            .map(|d| {
                (
                    d.id.clone(),
                    d.meta.resource_version.clone(),
                    d.attestation_ticket.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    // Both daemons serve one inventory: once attestd has vouched for every
    // device (each record then names its attestation), both list the same
    // objects at the same revisions.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let seen_by_a = versions(&client_a.devices().await.unwrap());
        let seen_by_b = versions(&client_b.devices().await.unwrap());
        assert_eq!(seen_by_a.len(), 4);
        let attested = seen_by_a.iter().all(|(_, _, ticket)| ticket.is_some());
        if attested && seen_by_a == seen_by_b {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the daemons never agreed on an attested inventory: {seen_by_a:?} vs {seen_by_b:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // A change made in etcd behind both daemons' backs is what both serve.
    // (A policy, because nothing reconciles it back: a device deleted from
    // the store reappears as soon as the inventory polls the switches that
    // still answer for it.)
    // (Created through the last-started daemon: the memory ledger is fenced
    // to the newest memqosd on a store.)
    let created = client_b.policy_create(&night_policy()).await.unwrap();
    assert_eq!(client_a.policy(&created.id).await.unwrap().id, created.id);
    let direct = etcd.store().await.unwrap();
    let keys = direct
        .range(corridor_store::RangeRequest::prefix("/registry/"))
        .await
        .unwrap();
    let policy_key = keys
        .kvs
        .iter()
        .find(|kv| kv.key.ends_with(&format!("/{}", created.id)))
        .expect("the policy lives in etcd")
        .key
        .clone();
    direct.delete(&policy_key).await.unwrap();
    assert!(client_a.policies().await.unwrap().is_empty());
    assert!(client_b.policies().await.unwrap().is_empty());

    a.stop().await;
    b.stop().await;
}

fn night_policy() -> corridor_model::policy::PolicyRequest {
    corridor_model::policy::PolicyRequest {
        name: "night".into(),
        security_domain: "tenantA".into(),
        target: Default::default(),
        min_gbs: corridor_model::units::GigabytesPerSecond(10.0),
        window: corridor_model::policy::PolicyWindow {
            start: "20:00".into(),
            end: "08:00".into(),
            time_zone: "UTC".into(),
            days: vec![],
        },
        labels: Default::default(),
    }
}

#[tokio::test]
async fn an_unreachable_etcd_fails_the_start_with_the_endpoint_named() {
    let error = Options::default()
        .insecure_dev()
        .store(StoreBackend::Etcd {
            endpoints: vec!["http://127.0.0.1:9".into()],
            tls: None,
        })
        .try_start()
        .await
        .err()
        .expect("the start fails");
    assert!(error.to_string().contains("127.0.0.1:9"), "{error}");
}

/// corridord and etcd talk mutual TLS: etcd serves only TLS and requires a
/// client certificate from the CA it trusts. Here both ends use the local
/// PKI corridord creates (its server certificate, with a 127.0.0.1 SAN,
/// for etcd; its admin client certificate for corridord).
#[tokio::test]
async fn corridord_reaches_etcd_over_mutual_tls_only_with_its_certificate() {
    use corridor_pki::PkiPaths;
    use corridor_store::EtcdTls;
    use corridor_store::etcd::testing::ServerTls;

    let pki_dir = tempfile::tempdir().unwrap();
    corridor_pki::ensure(pki_dir.path(), &[]).unwrap();
    let pki = PkiPaths::in_state_dir(pki_dir.path());
    let client = EtcdTls {
        ca: pki.ca_cert(),
        identity: Some((
            pki.client_cert(&Principal::Admin),
            pki.client_key(&Principal::Admin),
        )),
    };
    let etcd = ThrowawayEtcd::start_mtls(
        ServerTls {
            cert: pki.server_cert(),
            key: pki.server_key(),
            client_ca: pki.ca_cert(),
        },
        client.clone(),
    )
    .await
    .unwrap();
    assert!(etcd.endpoint().starts_with("https://"));

    let daemon = daemon_on(&etcd).await;
    let http = daemon.client(&Principal::Admin);
    assert_eq!(http.devices().await.unwrap().len(), 4);
    daemon.stop().await;

    // Without a client certificate, or without TLS, etcd refuses.
    let mut anonymous = etcd.options();
    anonymous.timeout = std::time::Duration::from_secs(2);
    anonymous.tls = Some(EtcdTls {
        identity: None,
        ..client
    });
    assert!(corridor_store::EtcdStore::connect(anonymous).await.is_err());
    let mut plain = etcd.options();
    plain.timeout = std::time::Duration::from_secs(2);
    plain.tls = None;
    plain.endpoints = vec![etcd.endpoint().replace("https://", "http://")];
    assert!(corridor_store::EtcdStore::connect(plain).await.is_err());
}

/// `corridor_leader` of a daemon's `/metrics`: 1 while it runs the
/// singleton work (false when it does not answer).
async fn leads(daemon: &Server) -> bool {
    common::cluster::leads(daemon.admin(), daemon.base()).await
}

/// Of two daemons on one etcd exactly one runs the reconcilers; when it
/// stops (resigning), the other takes over well within its lease.
#[tokio::test]
async fn one_daemon_leads_and_the_other_takes_over_when_it_stops() {
    let etcd = ThrowawayEtcd::start().await.unwrap();
    let a = daemon_on(&etcd).await;
    let b = daemon_on(&etcd).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let first_is_a = loop {
        let (la, lb) = (leads(&a).await, leads(&b).await);
        assert!(!(la && lb), "both daemons lead");
        if la || lb {
            break la;
        }
        assert!(std::time::Instant::now() < deadline, "nobody leads");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let holder = etcd
        .store()
        .await
        .unwrap()
        .get(corridor_services::leadership::LEADER_KEY)
        .await
        .unwrap()
        .expect("the leader key is in etcd");
    let (leader, follower) = if first_is_a { (a, b) } else { (b, a) };
    assert!(
        String::from_utf8_lossy(&holder.value).contains(&leader.addr().to_string()),
        "the key names the leader"
    );
    let stopped = std::time::Instant::now();
    leader.stop().await;
    while !leads(&follower).await {
        assert!(
            stopped.elapsed() < std::time::Duration::from_secs(10),
            "the follower did not take over"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    follower.stop().await;
}
