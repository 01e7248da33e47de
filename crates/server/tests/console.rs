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
//! operator and the admin do. The memory pages: a policy's window is an arc
//! on its zone's 24 h dial (one crossing midnight goes through midnight), a
//! bundle's page shows its placement and a migration requested through the
//! API with its final state, its floor control changes the floor, its
//! domain's principal migrates it from the page, and a read-only identity
//! gets neither control. Screenshots of every page are
//! left in `<target>/console-screenshots/`.

mod common;

use std::time::Duration;

use common::browser::{Browser, screenshot_dir};
use common::forward::Forward;
use common::server::{Options, Server};
use corridor_pki::Principal;
use fantoccini::Locator;

/// Bound for a page to render and for a watch event to reach the page.
const PAGE: Duration = Duration::from_secs(30);
/// Bound for the RFC corridor to be attested, lit and read (telemetry).
const TELEMETRY: Duration = Duration::from_secs(90);

/// One test at a time drives a browser: each starts a corridord and a
/// Chromium, and two at once on a small machine only slow each other.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Every page of the console (name for the screenshot, hash route).
fn pages(corridor: &str) -> Vec<(&'static str, String)> {
    vec![
        ("overview", "#/overview".to_owned()),
        ("lambda-grid", "#/grid".to_owned()),
        ("corridors", "#/corridors".to_owned()),
        ("corridor", format!("#/corridors/{corridor}")),
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
    let _one = ONE_BROWSER.lock().await;
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

/// A JSON request as `principal`; answers status and body.
async fn call(
    server: &Server,
    principal: &Principal,
    method: reqwest::Method,
    path: &str,
    body: &str,
) -> (reqwest::StatusCode, serde_json::Value) {
    let response = server
        .http(principal)
        .request(method, server.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or_default())
}

/// Where on its dial the middle of a policy's arc lies, as hours of the
/// 24 h clock (0 at the top, clockwise), measured in the browser from the
/// drawn path.
async fn arc_middle_hour(browser: &Browser, policy: &str) -> f64 {
    let script = "const arc = document.querySelector(`path.policy-arc[data-policy='${arguments[0]}']`); \
                  const dial = arc.ownerSVGElement.viewBox.baseVal; \
                  const cx = dial.width / 2, cy = dial.height / 2; \
                  const middle = arc.getPointAtLength(arc.getTotalLength() / 2); \
                  const turn = Math.atan2(middle.x - cx, cy - middle.y) / (2 * Math.PI); \
                  return ((turn + 1) % 1) * 24;";
    let answer = browser
        .client
        .execute(script, vec![serde_json::json!(policy)])
        .await
        .unwrap();
    answer.as_f64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_pages_draw_policy_windows_and_follow_a_bundles_migration() {
    let _one = ONE_BROWSER.lock().await;
    let server = Options::default().domains(&["tenantA"]).start().await;
    let browser = Browser::start().await;
    let shots = screenshot_dir();
    let admin = Forward::start(server.http(&Principal::Admin), server.base()).await;
    let post = reqwest::Method::POST;

    // A small T2 bundle, and two policies for its domain: one crossing
    // midnight in UTC, one on weekdays in Berlin's office hours.
    let (status, bundle) = call(
        &server,
        &Principal::Admin,
        post.clone(),
        "/v1/ffm/alloc",
        r#"{"bytes":1073741824,"latency_class":"T2","bandwidth_floor_GBs":10,"persistence":"none","shareable":true,"security_domain":"tenantA"}"#,
    )
    .await;
    assert_eq!(status, 201, "{bundle}");
    let id = bundle["id"].as_str().unwrap().to_owned();
    let mut policies = Vec::new();
    for body in [
        r#"{"name":"night","security_domain":"tenantA","min_GBs":12,"window":{"start":"20:00","end":"08:00","time_zone":"UTC"}}"#,
        r#"{"name":"office","security_domain":"tenantA","min_GBs":8,"window":{"start":"09:00","end":"17:00","time_zone":"Europe/Berlin","days":["mon","tue","wed","thu","fri"]}}"#,
    ] {
        let (status, policy) = call(
            &server,
            &Principal::Admin,
            post.clone(),
            "/v1/policies",
            body,
        )
        .await;
        assert_eq!(status, 201, "{policy}");
        policies.push(policy["id"].as_str().unwrap().to_owned());
    }
    let (night, office) = (&policies[0], &policies[1]);

    // Each policy's window is an arc, titled, on its own zone's dial, and
    // its figures are in the table.
    show(&browser, &admin, "#/memory/policies").await;
    browser.wait_for("path.policy-arc", PAGE).await;
    assert_eq!(count(&browser, "path.policy-arc").await, 2);
    assert_eq!(
        count(&browser, "svg.policy-dial").await,
        2,
        "one dial per zone"
    );
    for (policy, zone, wraps) in [(night, "UTC", "true"), (office, "Europe/Berlin", "false")] {
        let arc = format!(
            "svg.policy-dial[data-zone='{zone}'] path.policy-arc[data-policy='{policy}'][data-wraps='{wraps}']"
        );
        assert_eq!(count(&browser, &arc).await, 1, "{arc}");
        assert_eq!(
            count(&browser, &format!("{arc} > title")).await,
            1,
            "{arc} has a title"
        );
        let row = format!("table.policy-table tr[data-policy='{policy}']");
        assert_eq!(count(&browser, &row).await, 1, "{row}");
    }
    assert_eq!(count(&browser, "svg.policy-dial line.clock-hand").await, 2);
    // 20:00-08:00 is drawn through midnight: its middle is at 02:00, not
    // at 14:00 (the other way round the dial); 09:00-17:00's at 13:00.
    let middle = arc_middle_hour(&browser, night).await;
    assert!(
        (middle - 2.0).abs() < 0.1,
        "night's arc is centred on {middle} h"
    );
    let middle = arc_middle_hour(&browser, office).await;
    assert!(
        (middle - 13.0).abs() < 0.1,
        "office's arc is centred on {middle} h"
    );
    browser.screenshot(&shots, "policies").await;

    // The memory page lists the bundle, linked to its page.
    show(&browser, &admin, "#/memory").await;
    browser
        .wait_for(
            &format!("tr[data-bundle='{id}'] a[href='#/memory/bundle/{id}']"),
            PAGE,
        )
        .await;
    browser.wait_for("tr[data-device]", PAGE).await;
    browser.wait_for("path.policy-arc", PAGE).await;
    browser.screenshot(&shots, "memory").await;

    // The bundle's page: its placement, and a migration requested through
    // the API while it is open, followed to its final state.
    let page = format!("#/memory/bundle/{id}");
    show(&browser, &admin, &page).await;
    browser
        .wait_for(
            "table.placement tr[data-placement-node][data-latency-class='T2']",
            PAGE,
        )
        .await;
    for action in ["migrate", "set-floor"] {
        assert_eq!(
            count(&browser, &format!("[data-action='{action}']")).await,
            1,
            "admin has {action}"
        );
    }
    let (status, operation) = call(
        &server,
        &Principal::Admin,
        reqwest::Method::PATCH,
        &format!("/v1/ffm/{id}/latency_class"),
        r#"{"latency_class":"T1"}"#,
    )
    .await;
    assert_eq!(status, 202, "{operation}");
    let op = operation["id"].as_str().unwrap();
    browser
        .wait_for(
            &format!("table.migrations tr[data-operation='{op}'][data-state='succeeded']"),
            PAGE,
        )
        .await;
    browser
        .wait_for("table.placement tr[data-latency-class='T1']", PAGE)
        .await;
    assert_eq!(
        count(&browser, "table.placement tr[data-latency-class='T2']").await,
        0,
        "the placement after the migration is T1 only"
    );

    // The floor control changes the floor (the page follows the bundle's
    // watch event).
    let input = browser
        .client
        .find(Locator::Css("#floor-GBs"))
        .await
        .unwrap();
    input.clear().await.unwrap();
    input.send_keys("12.5").await.unwrap();
    browser
        .client
        .find(Locator::Css("[data-action='set-floor']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait_for("td[data-floor='12.5']", PAGE).await;
    // Floor against achieved: a line of at least two readings.
    browser.wait_for(".chart polyline[points*=' ']", PAGE).await;
    browser.wait_for("[data-telemetry-source]", PAGE).await;
    browser.screenshot(&shots, "bundle").await;

    // A read-only identity sees the same pages, with the migration, and no
    // control at all.
    let reader = Forward::start(server.http(&Principal::ReadOnly), server.base()).await;
    for route in ["#/memory", "#/memory/policies", page.as_str()] {
        show(&browser, &reader, route).await;
        browser
            .wait_for("#whoami[data-principal='read-only']", PAGE)
            .await;
        assert_eq!(
            count(&browser, "[data-mutation], [data-action], form").await,
            0,
            "read-only sees a control on {route}"
        );
    }
    browser
        .wait_for(
            &format!("table.migrations tr[data-operation='{op}'][data-state='succeeded']"),
            PAGE,
        )
        .await;

    // The domain's own principal migrates it from the page. It may not
    // read operations (infrastructure scope), so the page marks the
    // migration it started succeeded from the bundle: not migrating, and
    // in the class asked for.
    let tenant = Forward::start(
        server.http(&Principal::Domain("tenantA".into())),
        server.base(),
    )
    .await;
    show(&browser, &tenant, &page).await;
    browser
        .wait_for("table.placement tr[data-latency-class='T1']", PAGE)
        .await;
    browser
        .client
        .execute(
            "document.getElementById('migrate-class').value = 'T0';",
            vec![],
        )
        .await
        .unwrap();
    browser
        .client
        .find(Locator::Css("[data-action='migrate']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_for(
            "table.migrations tr[data-operation][data-state='succeeded'][data-seen-on='bundle']",
            PAGE,
        )
        .await;
    browser
        .wait_for("table.placement tr[data-latency-class='T0']", PAGE)
        .await;

    browser.close().await;
    server.stop().await;
}
