//! The client crate (and so corridorctl) given several addresses: a request
//! that cannot connect to one goes to the next, writes included (the server
//! never saw them), watches too, and the address that answered is kept.

mod common;

use common::clients::tls_options;
use common::server::Server;
use corridor_pki::Principal;
use futures::StreamExt;

/// An address nothing listens on (bound, then closed).
fn dead_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("https://127.0.0.1:{port}")
}

#[tokio::test]
async fn requests_fail_over_to_the_next_address() {
    let server = Server::start().await;
    let tls = tls_options(server.state_dir(), Some(&Principal::Admin));
    let live = server.base().to_owned();
    let both = format!("{},{live}", dead_address());

    // A read: the dead address first, then the live one, which is kept.
    let client = corridor_client::Client::with_tls(&both, &tls).unwrap();
    assert!(!client.devices().await.unwrap().is_empty());
    assert_eq!(client.base_url(), live);

    // A write from a fresh client: its connection to the dead address was
    // never made, so it goes to the next.
    let client = corridor_client::Client::with_tls(&both, &tls).unwrap();
    let request: corridor_model::corridor::CorridorRequest = serde_json::from_str(
        r#"{"corridor_type": "SiCorridor", "lanes": 2, "lambda_nm": [1550, 1551],
            "min_gbps": 100, "latency_budget_ns": 250, "reach_mm": 75,
            "mode": "waveguide", "qos": {"pfc": true, "priority": "gold"},
            "attestation_required": false}"#,
    )
    .unwrap();
    let corridor = client.create_corridor(&request).await.unwrap();
    assert_eq!(client.base_url(), live);

    // A watch from a fresh client.
    let client = corridor_client::Client::with_tls(&both, &tls).unwrap();
    let mut events = client
        .watch::<serde_json::Value>("/v1/corridors", Some("0"))
        .await
        .unwrap();
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), events.next())
        .await
        .expect("an event")
        .expect("stream open")
        .unwrap();
    assert_eq!(first.object["id"], corridor.id.as_str());

    // An answer, even a problem, is final: no failover on a 404.
    let missing = client.corridor("cor-missing").await.unwrap_err();
    assert_eq!(missing.problem().map(|p| p.status), Some(404));

    // Nothing reachable: the transport error of the last address tried.
    let none = format!("{},{}", dead_address(), dead_address());
    let client = corridor_client::Client::with_tls(&none, &tls).unwrap();
    let error = client.devices().await.unwrap_err();
    assert!(
        matches!(error, corridor_client::ClientError::Transport { .. }),
        "{error}"
    );
    server.stop().await;
}
