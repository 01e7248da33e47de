//! The operator console at `/ui/`, in a real headless Chromium (Debian's
//! `chromium` over WebDriver through `chromedriver`) against an in-process
//! corridord.
//!
//! The browser reaches corridord through [`common::forward::Forward`], a
//! loopback proxy that presents one principal's client certificate over
//! mTLS: a headless Chromium would pick a certificate from its NSS store
//! without a prompt only under a managed policy in `/etc`, which a test
//! must not write. The proxy forwards every request unchanged to the same
//! authorisation a browser holding that certificate would meet (the README
//! says how a person imports the certificate instead).
//!
//! Checks: the console loads; the RFC corridor, created through the API
//! while the λ-grid is open, appears on its link's grid once its watch
//! event has arrived (the DOM is polled, no timing is asserted); a
//! read-only identity finds no mutation control on any page, while an
//! operator and the admin do. Screenshots of every page are left in
//! `<target>/console-screenshots/`.

mod common;

use std::time::Duration;

use common::browser::{Browser, screenshot_dir};
use common::forward::Forward;
use common::server::Server;
use corridor_pki::Principal;

/// Bound for a page to render and for a watch event to reach the page.
const PAGE: Duration = Duration::from_secs(30);
/// Bound for the RFC corridor to be attested, lit and read (telemetry).
const TELEMETRY: Duration = Duration::from_secs(90);

/// Every page of the console (name for the screenshot, hash route).
fn pages(corridor: &str) -> Vec<(&'static str, String)> {
    vec![
        ("overview", "#/overview".to_owned()),
        ("lambda-grid", "#/grid".to_owned()),
        ("corridors", "#/corridors".to_owned()),
        ("corridor", format!("#/corridors/{corridor}")),
        ("memory", "#/memory".to_owned()),
        ("fabric", "#/fabric".to_owned()),
        ("faults", "#/faults".to_owned()),
    ]
}

/// Opens `route` and waits until its view has rendered.
async fn show(browser: &Browser, proxy: &Forward, route: &str) {
    browser
        .open(
            &proxy.url(&format!("/ui/{route}")),
            "#view[data-ready]",
            PAGE,
        )
        .await;
}

async fn count(browser: &Browser, css: &str) -> usize {
    browser.all(css).await.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_live_corridors_and_offers_only_what_the_caller_may_do() {
    let server = Server::start().await;
    let browser = Browser::start().await;
    let shots = screenshot_dir();
    let admin = Forward::start(server.http(&Principal::Admin), server.base()).await;

    // The console loads and knows who it is talking to.
    show(&browser, &admin, "#/grid").await;
    browser
        .wait_for("#whoami[data-principal='admin']", PAGE)
        .await;
    assert!(count(&browser, ".lambda-cell").await > 0, "no λ-grid drawn");
    assert_eq!(count(&browser, ".lambda-cell[data-corridor]").await, 0);

    // The RFC corridor, created through the API while the grid is open,
    // reaches the page by its watch event: no reload happens here.
    let created = server
        .admin()
        .post(server.url("/v1/corridors"))
        .header("content-type", "application/json")
        .body(common::rfc::CORRIDOR)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let corridor: serde_json::Value = created.json().await.unwrap();
    let id = corridor["id"].as_str().unwrap().to_owned();
    let link = corridor["path"][0].as_str().unwrap().to_owned();
    let channels: Vec<i64> = corridor["assignment"]["grid_channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_i64().unwrap())
        .collect();
    let held = format!(".lambda-cell[data-link='{link}'][data-corridor='{id}']");
    browser.wait_for(&held, PAGE).await;
    assert_eq!(
        count(&browser, &held).await,
        channels.len(),
        "{id}'s channels on {link}"
    );
    for n in &channels {
        let cell = format!("{held}[data-itu-n='{n}'][data-priority='gold']");
        assert_eq!(
            count(&browser, &cell).await,
            1,
            "channel {n} is the RFC corridor's (gold)"
        );
    }

    // Its page plots telemetry once the corridor is lit (after attestation).
    show(&browser, &admin, &format!("#/corridors/{id}")).await;
    browser.wait_for(".chart polyline", TELEMETRY).await;

    // The admin sees every control; screenshots of every page.
    for (name, route) in pages(&id) {
        show(&browser, &admin, &route).await;
        if name == "corridor" {
            // A line, not a dot: at least two telemetry readings plotted.
            browser
                .wait_for(".chart polyline[points*=' ']", TELEMETRY)
                .await;
        }
        browser.screenshot(&shots, name).await;
    }
    for (route, action) in [
        ("#/corridors".to_owned(), "create-corridor"),
        (format!("#/corridors/{id}"), "release"),
        (format!("#/corridors/{id}"), "recalibrate"),
        ("#/faults".to_owned(), "inject-fault"),
    ] {
        show(&browser, &admin, &route).await;
        assert_eq!(
            count(&browser, &format!("[data-action='{action}']")).await,
            1,
            "admin has {action} on {route}"
        );
    }
    assert_eq!(count(&browser, "[data-simulation]").await, 1);

    // An operator changes corridors but cannot reach the plant itself.
    let operator = Forward::start(server.http(&Principal::Operator), server.base()).await;
    show(&browser, &operator, "#/corridors").await;
    assert_eq!(count(&browser, "[data-action='create-corridor']").await, 1);
    show(&browser, &operator, "#/faults").await;
    assert_eq!(count(&browser, "[data-mutation]").await, 0);

    // A read-only identity sees every page and no control that changes
    // anything: not disabled, absent.
    let reader = Forward::start(server.http(&Principal::ReadOnly), server.base()).await;
    for (name, route) in pages(&id) {
        show(&browser, &reader, &route).await;
        browser
            .wait_for("#whoami[data-principal='read-only']", PAGE)
            .await;
        assert_eq!(
            count(&browser, "[data-mutation], [data-action], form").await,
            0,
            "read-only sees a control on {route}"
        );
        if name == "corridor" || name == "faults" {
            browser
                .screenshot(&shots, &format!("read-only-{name}"))
                .await;
        }
    }
    // The grid it sees is the live one too.
    show(&browser, &reader, "#/grid").await;
    browser.wait_for(&held, PAGE).await;

    browser.close().await;
    server.stop().await;
}
