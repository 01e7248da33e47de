//! `/docs`: the API reference served from the binary. Every file the page
//! loads comes from this server, and no served page names an external URL
//! (the viewer's assets are vendored; its online validator is off).

mod common;

use common::clients::{http_client, tls_options};
use common::server::Server;
use corridor_pki::Principal;

/// The `src`/`href` values of an HTML page.
fn references(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attr) {
            rest = &rest[at + attr.len()..];
            if let Some(end) = rest.find('"') {
                out.push(rest[..end].to_owned());
                rest = &rest[end..];
            }
        }
    }
    out
}

fn names_external_url(text: &str) -> bool {
    text.contains("http://") || text.contains("https://") || text.contains("//cdn")
}

#[tokio::test]
async fn the_api_reference_is_served_from_the_binary() {
    let server = Server::start().await;
    let reader = server.http(&Principal::ReadOnly);

    // `/docs` is the page, its files relative to `/docs/`.
    let (_, html) = html_page(&server, &reader, "/docs").await;
    assert!(!names_external_url(&html), "{html}");
    assert!(html.contains("<base href=\"/docs/\" />"), "{html}");
    let same = reader
        .get(server.url("/docs/index.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 200);
    assert!(!names_external_url(&same.text().await.unwrap()));

    // Everything the page loads is a file of this server, relative to it.
    let files = references(&html.replace("<base href=\"/docs/\" />", ""));
    assert!(
        files.iter().any(|f| f.ends_with("swagger-ui-bundle.js")),
        "{files:?}"
    );
    for file in &files {
        assert!(
            !file.contains("//") && !file.starts_with('/'),
            "{file} is not a file next to the page"
        );
        let url = server.url(&format!("/docs/{}", file.trim_start_matches("./")));
        let response = reader.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let body = response.bytes().await.unwrap();
        assert!(!body.is_empty(), "{url}");
    }

    // The viewer's settings: this server's document, no online validator.
    let init = reader
        .get(server.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 200);
    assert!(
        init.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let init = init.text().await.unwrap();
    assert!(init.contains("\"/openapi.json\""), "{init}");
    assert!(init.contains("\"validatorUrl\": \"none\""), "{init}");
    assert!(!names_external_url(&init), "{init}");

    // The OAuth redirect page is a page too.
    let oauth = reader
        .get(server.url("/docs/oauth2-redirect.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(oauth.status(), 200);
    assert!(!names_external_url(&oauth.text().await.unwrap()));

    // Unknown files are a problem, never a path outside the viewer.
    unknown_files_are_problems(
        &server,
        &reader,
        &[
            "/docs/nope.js",
            "/docs/..%2Fstate.redb",
            "/docs/%2Fetc%2Fpasswd",
        ],
    )
    .await;
    // Without a certificate: refused like the document itself.
    refused_without_a_certificate(&server, "/docs/index.html").await;
    server.stop().await;
}

/// GETs the HTML page at `path`: a 200 `text/html`; its headers and text.
async fn html_page(
    server: &Server,
    reader: &reqwest::Client,
    path: &str,
) -> (reqwest::header::HeaderMap, String) {
    let page = reader.get(server.url(path)).send().await.unwrap();
    assert_eq!(page.status(), 200, "{path}");
    let headers = page.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{path}"
    );
    (headers, page.text().await.unwrap())
}

/// Each of `paths` is a 404 problem, whatever it tries to reach.
async fn unknown_files_are_problems(server: &Server, reader: &reqwest::Client, paths: &[&str]) {
    for missing in paths {
        let response = reader.get(server.url(missing)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{missing}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{missing}"
        );
    }
}

/// A caller with no certificate cannot read `path`.
async fn refused_without_a_certificate(server: &Server, path: &str) {
    let anonymous = http_client(&tls_options(server.state_dir(), None));
    let refused = anonymous.get(server.url(path)).send().await;
    assert!(
        refused.is_err() || refused.unwrap().status() == 401,
        "an anonymous caller read {path}"
    );
}

/// `/ui/`: the operator console. Its page and every file it names come
/// from this server, none names an external URL, and unknown files are a
/// problem.
#[tokio::test]
async fn the_console_is_served_from_the_binary() {
    let server = Server::start().await;
    let reader = server.http(&Principal::ReadOnly);

    let (headers, html) = html_page(&server, &reader, "/ui/").await;
    assert_eq!(headers["cache-control"], "no-cache");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("default-src 'self'"), "{policy}");
    assert!(html.contains("<base href=\"/ui/\" />"), "{html}");
    let files = references(&html.replace("<base href=\"/ui/\" />", ""));
    assert!(files.iter().any(|f| f == "app.js"), "{files:?}");
    for file in files
        .iter()
        .filter(|f| !f.starts_with('#') && *f != "/docs")
    {
        assert!(!file.contains("//"), "{file} names another origin");
        let response = reader
            .get(server.url(&format!("/ui/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{file}");
    }

    // Every embedded file, scripts included (their imports are relative).
    for asset in corridor_server::http::console::ASSETS {
        let response = reader
            .get(server.url(&format!("/ui/{}", asset.name)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", asset.name);
        assert_eq!(
            response.headers()["content-type"],
            asset.content_type,
            "{}",
            asset.name
        );
        let text = response.text().await.unwrap();
        assert!(!names_external_url(&text), "{} names a URL", asset.name);
        for import in text.lines().filter_map(|l| l.split(" from '").nth(1)) {
            let name = import.trim_end_matches("';").trim_start_matches("./");
            assert!(
                corridor_server::http::console::ASSETS
                    .iter()
                    .any(|a| a.name == name),
                "{} imports {name}, which is not served",
                asset.name
            );
        }
    }

    unknown_files_are_problems(
        &server,
        &reader,
        &["/ui/nope.js", "/ui/..%2FCargo.toml", "/ui/%2Fetc%2Fpasswd"],
    )
    .await;
    refused_without_a_certificate(&server, "/ui/").await;
    server.stop().await;
}
