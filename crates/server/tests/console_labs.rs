//! The console's Labs page in a real headless Chromium (as `console.rs`):
//! a report `corridorctl labs run` left under the state directory is
//! listed, and its own page opens inside the console with its plots.

mod common;

use std::time::Duration;

use common::browser::{Browser, screenshot_dir};
use common::forward::Forward;
use common::server::Server;
use corridor_pki::Principal;
use corridor_services::labs;

const PAGE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipped_scenarios_report_opens_in_the_console() {
    let server = Server::start().await;
    let path = common::workspace().join("scenarios/memory-crunch-2000.toml");
    let scenario =
        labs::Scenario::from_toml_str(&std::fs::read_to_string(&path).unwrap(), "crunch").unwrap();
    let report = labs::run(&scenario).await.unwrap();
    labs::write_report(
        &report,
        &labs::library::reports_dir(server.state_dir()).join("memory-crunch-2000"),
    )
    .unwrap();

    let browser = Browser::start().await;
    let reader = Forward::start(server.http(&Principal::ReadOnly), server.base()).await;
    browser
        .open(&reader.url("/ui/#/labs"), "#view[data-ready]", PAGE)
        .await;
    browser
        .wait_for("a[data-report='memory-crunch-2000']", PAGE)
        .await;
    browser
        .open(
            &reader.url("/ui/#/labs/memory-crunch-2000"),
            "#view[data-ready]",
            PAGE,
        )
        .await;
    browser
        .wait_for("iframe[data-report-frame='memory-crunch-2000']", PAGE)
        .await;
    browser.screenshot(&screenshot_dir(), "labs").await;
    // Inside the frame: the report's own page, drawn (its plots are SVG).
    browser.client.enter_frame(0).await.unwrap();
    browser.wait_for("svg polyline", PAGE).await;
    let title = browser
        .client
        .find(fantoccini::Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(title.contains("memory-crunch-2000"), "{title}");
    browser.close().await;
}
