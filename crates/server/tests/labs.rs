//! CorridorLabs reports served to the console: what `corridorctl labs run`
//! wrote under the state directory is listed, and each report's JSON and
//! self-contained page come back as written.

mod common;

use common::clients::domain;
use common::problem::{Reply, assert_problem};
use common::server::Options;
use corridor_pki::Principal;
use corridor_services::labs;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_under_the_state_dir_are_listed_and_served_as_written() {
    let server = Options::default().domains(&["tenantA"]).start().await;
    let reader = server.http(&Principal::ReadOnly);
    let empty: serde_json::Value = reader
        .get(server.url("/v1/labs/reports"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(empty, serde_json::json!([]));

    // What `corridorctl labs run` does, in process: the fastest scenario.
    let path = common::workspace().join("scenarios/memory-crunch-2000.toml");
    let scenario =
        labs::Scenario::from_toml_str(&std::fs::read_to_string(&path).unwrap(), "crunch").unwrap();
    let report = labs::run(&scenario).await.unwrap();
    let dir = labs::library::reports_dir(server.state_dir()).join("memory-crunch-2000");
    let written = labs::write_report(&report, &dir).unwrap();

    let list = Reply::read(
        reader
            .get(server.url("/v1/labs/reports"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body[0]["name"], "memory-crunch-2000");
    assert_eq!(list.body[0]["seed"], 2000);
    assert!(
        list.body[0]["bundles_blocked"].as_u64().unwrap() > 0,
        "{:?}",
        list.body
    );

    let json = reader
        .get(server.url("/v1/labs/reports/memory-crunch-2000"))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 200);
    assert_eq!(json.headers()["content-type"], "application/json");
    assert_eq!(
        json.bytes().await.unwrap(),
        std::fs::read(&written.json).unwrap()
    );

    let html = reader
        .get(server.url("/v1/labs/reports/memory-crunch-2000/html"))
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), 200);
    assert!(
        html.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let policy = html.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("default-src 'none'") && policy.contains("frame-ancestors 'self'"));
    assert_eq!(
        html.bytes().await.unwrap(),
        std::fs::read(&written.html).unwrap()
    );

    // No such report, or a name that would leave the directory: 404.
    for name in ["nothing-here", "..", "a.b"] {
        let missing = Reply::read(
            reader
                .get(server.url(&format!("/v1/labs/reports/{name}")))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_problem(&missing, 404);
    }
    // Cluster infrastructure: a security domain may not read them.
    let tenant = server.http(&domain("tenantA"));
    let refused = Reply::read(
        tenant
            .get(server.url("/v1/labs/reports"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(&refused, 403);
}
