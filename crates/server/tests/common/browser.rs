//! A real headless Chromium driven over WebDriver: Debian's `chromium`
//! behind `chromedriver` (both installed by `scripts/install-browser.sh`,
//! which `make test` runs), on a free loopback port, with a temporary HOME
//! and profile. chromedriver runs in its own process group, and the whole
//! group (chromedriver and the browser it started) is killed by that id
//! when the test ends, however it ends.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use super::process::free_port;

/// How long chromedriver may take to answer, and a page to render.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The window every screenshot has.
const WINDOW: &str = "--window-size=1280,900";

/// A program on PATH, or a failure saying how to install it.
fn required(program: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "{program} is not installed: run scripts/install-browser.sh \
             (make test runs it) to install Debian's chromium and chromium-driver"
        )
    })
}

/// chromedriver, a browser session, and the temporary home they use.
#[derive(Debug)]
pub struct Browser {
    pub client: Client,
    driver: Child,
    _home: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Browser {
        let chromium = required("chromium");
        let chromedriver = required("chromedriver");
        let home = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut command = Command::new(chromedriver);
        command
            .arg(format!("--port={port}"))
            .env("HOME", home.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Its own process group, so that drop can end the browser with it.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver = command.spawn().expect("chromedriver starts");

        let profile = home.path().join("profile");
        let capabilities = serde_json::json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-extensions", WINDOW,
                    format!("--user-data-dir={}", profile.display()),
                ],
            }
        });
        let capabilities = match capabilities {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("a JSON object"),
        };
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let attempt = ClientBuilder::rustls()
                .expect("a WebDriver client")
                .capabilities(capabilities.clone())
                .connect(&url)
                .await;
            match attempt {
                Ok(client) => break client,
                Err(error) if started.elapsed() < START_TIMEOUT => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => panic!("no browser session from chromedriver at {url}: {error}"),
            }
        };
        Browser {
            client,
            driver,
            _home: home,
        }
    }

    /// Loads `url` afresh (through about:blank, so that a hash route is a
    /// new page, not a hash change racing the old view) and waits, bounded,
    /// until `ready` (a CSS selector) matches.
    ///
    /// Chromium abandons a load with ERR_NETWORK_CHANGED when the host's
    /// interfaces change (other tests on this machine create and remove
    /// network namespaces and bridges); it shows its error page then, and
    /// the load is tried again, a bounded number of times, saying so.
    pub async fn open(&self, url: &str, ready: &str, timeout: Duration) {
        const ATTEMPTS: usize = 3;
        for attempt in 1..=ATTEMPTS {
            self.client.goto("about:blank").await.unwrap();
            self.client.goto(url).await.unwrap();
            let started = Instant::now();
            loop {
                if !self.all(ready).await.is_empty() {
                    return;
                }
                if self.shows_load_error().await && attempt < ATTEMPTS {
                    eprintln!("chromium could not load {url} (attempt {attempt}); loading again");
                    break;
                }
                assert!(
                    started.elapsed() < timeout,
                    "{url}: no element matched {ready} within {timeout:?}; the page was:\n{}",
                    self.client.source().await.unwrap_or_default()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// Whether the window holds Chromium's own "could not load" page
    /// (served from `chrome-error://chromewebdata/`, its frame
    /// `#main-frame-error`) instead of the page asked for.
    async fn shows_load_error(&self) -> bool {
        let script = "return location.protocol === 'chrome-error:' \
                      || document.getElementById('main-frame-error') !== null;";
        matches!(
            self.client.execute(script, vec![]).await,
            Ok(serde_json::Value::Bool(true))
        )
    }

    /// Waits (bounded) until `css` matches an element.
    pub async fn wait_for(&self, css: &str, timeout: Duration) {
        let started = Instant::now();
        loop {
            if !self.all(css).await.is_empty() {
                return;
            }
            assert!(
                started.elapsed() < timeout,
                "no element matched {css} within {timeout:?}; the page was:\n{}",
                self.client.source().await.unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every element `css` matches now.
    pub async fn all(&self, css: &str) -> Vec<fantoccini::elements::Element> {
        self.client.find_all(Locator::Css(css)).await.unwrap()
    }

    /// Saves a PNG of the window as `dir/name.png`.
    pub async fn screenshot(&self, dir: &Path, name: &str) {
        std::fs::create_dir_all(dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Ends the session (chromedriver closes the browser); drop kills
    /// what is left.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The group id is chromedriver's pid (process_group(0)).
        if let Ok(group) = i32::try_from(self.driver.id()) {
            // SAFETY: kill(2) on the process group of our own child, which
            // is not reaped before the wait below, so the id names no other
            // process group.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
        let _ = self.driver.wait();
    }
}

/// Where screenshots go: `console-screenshots/` in cargo's target dir.
pub fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target tmp dir is inside the target dir")
        .join("console-screenshots")
}
