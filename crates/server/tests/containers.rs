//! The compose stack of `deploy/compose.yaml` on this machine's podman,
//! through the Makefile targets the README documents: `make images` builds
//! both images `FROM scratch` from the binaries cargo built for this test
//! run, `make compose-up` starts corridord and Prometheus under a project
//! name of this test's own with ports it chose on 127.0.0.1; corridord
//! answers over mutual TLS with the PKI it keeps in its state volume, the
//! image's health check passes, and Prometheus has scraped a corridord
//! series. `make compose-down VOLUMES=1` and the removal of the images undo
//! it all, also when an assertion fails (the guard's `Drop`).
//!
//! A second test runs the RFC daemons' stack (`docker-compose.yml` at the
//! root, `make daemons-up`): corrd, memqosd, fabmand, attestd and compatd
//! each in a container of its own on an etcd container, one PKI in the
//! state volume; a corridor through corrd, a bundle through memqosd, and
//! memqosd's 503 naming corrd for a corridor route.
//!
//! podman, buildah and podman-compose come from `scripts/install-containers.sh`
//! (run by `make test`); without them the test fails. It skips, saying why
//! on stderr, only when podman is there but cannot run a container on this
//! machine (a probe image holding `/usr/bin/true` does not run).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod common;

use common::clients::{http_client, tls_options};
use common::process::{BINARY, free_port};
use common::workspace;
use corridor_pki::Principal;
use serde_json::Value;

/// Bound on each make/podman command (an image build, starting the stack).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// Bound on corridord answering, and on Prometheus having a sample.
const WAIT: Duration = Duration::from_secs(60);
/// A corridord series Prometheus must have scraped (the default twin's devices).
const SERIES: &str = "corridor_fabric_device_capacity_bytes{job=\"corridord\"}";

fn containers_conf() -> PathBuf {
    workspace().join("deploy/containers/containers.conf")
}

/// `program args…` with this repository's podman settings, killed after
/// [`COMMAND_TIMEOUT`] (coreutils' `timeout`).
fn run(program: &str, args: &[&str]) -> Output {
    Command::new("timeout")
        .args(["--kill-after=10", &COMMAND_TIMEOUT.as_secs().to_string()])
        .arg(program)
        .args(args)
        .env("CONTAINERS_CONF", containers_conf())
        .current_dir(workspace())
        .output()
        .unwrap_or_else(|e| panic!("{program} {args:?}: {e}"))
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `program args…`, which must succeed; its stdout.
fn must(program: &str, args: &[&str]) -> String {
    let output = run(program, args);
    assert!(
        output.status.success(),
        "{program} {args:?} ({}): {}",
        output.status,
        said(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What the test made: the stack of `project`, the images tagged `tag`, the
/// probe image. Dropping it stops and removes them all.
struct Stack {
    project: String,
    tag: String,
    make_args: Vec<String>,
    probe: String,
    /// The Makefile target that takes the stack down.
    down: &'static str,
    /// The services whose logs a failure shows.
    services: &'static [&'static str],
}

/// Every image `make images` builds.
const IMAGES: [&str; 3] = ["corridord", "prometheus", "etcd"];

impl Stack {
    fn make(&self, target: &str, more: &[&str]) -> Output {
        let mut args = vec!["-s", target];
        args.extend(self.make_args.iter().map(String::as_str));
        args.extend(more);
        run("make", &args)
    }

    fn label(&self) -> String {
        format!("label=io.podman.compose.project={}", self.project)
    }

    /// Containers and volumes of the project still present.
    fn leftovers(&self) -> String {
        let containers = run("podman", &["ps", "-aq", "--filter", &self.label()]);
        let volumes = run("podman", &["volume", "ls", "-q", "--filter", &self.label()]);
        format!("{}{}", said(&containers), said(&volumes))
            .trim()
            .to_string()
    }

    /// The path of the project's corridord state volume on this machine.
    fn state_dir(&self) -> PathBuf {
        let volume = format!("{}_state", self.project);
        let path = must(
            "podman",
            &["volume", "inspect", "--format", "{{.Mountpoint}}", &volume],
        );
        PathBuf::from(path.trim())
    }

    /// What podman says of the stack and its services' logs, for a failure.
    fn diagnostics(&self) -> String {
        let ps = run("podman", &["ps", "-a", "--filter", &self.label()]);
        let mut text = format!("podman ps:\n{}", said(&ps));
        for service in self.services {
            let log = run(
                "podman",
                &["logs", "--tail", "30", &self.container(service)],
            );
            text.push_str(&format!("\n{service}:\n{}", said(&log)));
        }
        text
    }

    /// podman-compose's name for `service`'s container.
    fn container(&self, service: &str) -> String {
        format!("{}_{service}_1", self.project)
    }

    /// Stops and removes the containers, volumes and network of the
    /// project (make compose-down or daemons-down), then anything of it
    /// podman-compose left, then the images.
    fn remove(&self) {
        self.make(self.down, &["VOLUMES=1"]);
        let label = self.label();
        let left = run("podman", &["ps", "-aq", "--filter", &label]);
        for id in String::from_utf8_lossy(&left.stdout).split_whitespace() {
            run("podman", &["rm", "-f", "-t", "1", id]);
        }
        let left = run("podman", &["volume", "ls", "-q", "--filter", &label]);
        for name in String::from_utf8_lossy(&left.stdout).split_whitespace() {
            run("podman", &["volume", "rm", "-f", name]);
        }
        run(
            "podman",
            &["network", "rm", "-f", &format!("{}_default", self.project)],
        );
        for image in IMAGES {
            run(
                "podman",
                &[
                    "rmi",
                    "-f",
                    &format!("localhost/corridoros/{image}:{}", self.tag),
                ],
            );
        }
        run("podman", &["rmi", "-f", &self.probe]);
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Writes past libtest's capture, so that a skip shows in `make test`.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Whether podman runs a container here: an image `FROM scratch` holding
/// `/usr/bin/true` and its libraries (assembled like the real images), run
/// without a network. `Err` carries podman's reason.
fn podman_runs_containers(probe: &str) -> Result<(), String> {
    let context = tempfile::tempdir().unwrap();
    let rootfs = context.path().join("rootfs");
    must(
        workspace()
            .join("scripts/container-rootfs.sh")
            .to_str()
            .unwrap(),
        &[rootfs.to_str().unwrap(), "/usr/bin/true"],
    );
    std::fs::write(
        context.path().join("Containerfile"),
        "FROM scratch\nCOPY rootfs/ /\nENTRYPOINT [\"/usr/bin/true\"]\n",
    )
    .unwrap();
    must(
        "buildah",
        &[
            "bud",
            "--quiet",
            "--layers=false",
            "-t",
            probe,
            context.path().to_str().unwrap(),
        ],
    );
    let output = run("podman", &["run", "--rm", "--network", "none", probe]);
    if output.status.success() {
        Ok(())
    } else {
        Err(said(&output))
    }
}

/// The directory holding the corridord and corridorctl cargo built for this
/// run (`make images` takes it as BUILT).
fn built() -> PathBuf {
    let dir = Path::new(BINARY).parent().unwrap().to_path_buf();
    assert!(
        dir.join("corridorctl").exists(),
        "{} missing: run the workspace's tests (make test) or `cargo build --bins` first",
        dir.join("corridorctl").display()
    );
    dir
}

/// Fails the test unless podman, buildah and podman-compose are installed.
fn container_tools() {
    for tool in ["podman", "buildah", "podman-compose"] {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .output()
            .unwrap();
        assert!(
            found.status.success(),
            "{tool} is not installed: run scripts/install-containers.sh (make test does)"
        );
    }
}

/// A name no other run uses, for the project and the images' tag: the process
/// id and the clock tell runs apart, and a counter tells apart the tests of one
/// run, which start in parallel threads and can read the same microsecond (CI
/// once saw both tests build their images in one directory).
fn unique_id() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "{}{}n{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_micros(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

#[test]
fn compose_stack_serves_mtls_and_prometheus_scrapes_it() {
    container_tools();
    let id = unique_id();
    let (port, prometheus_port) = (free_port(), free_port());
    let (project, tag) = (format!("corridortest{id}"), format!("test{id}"));
    let stack = Stack {
        make_args: vec![
            format!("IMAGE_TAG={tag}"),
            format!("COMPOSE_PROJECT={project}"),
            format!("CORRIDOR_PORT={port}"),
            format!("PROMETHEUS_PORT={prometheus_port}"),
        ],
        probe: format!("localhost/corridoros/probe:{tag}"),
        project,
        tag,
        down: "compose-down",
        services: &["corridord", "prometheus"],
    };

    if let Err(why) = podman_runs_containers(&stack.probe) {
        say(&format!(
            "SKIPPED compose_stack_serves_mtls_and_prometheus_scrapes_it: podman cannot run a \
             container on this machine: {}",
            why.trim()
        ));
        return;
    }

    let built = built();
    let output = stack.make("images", &[&format!("BUILT={}", built.display())]);
    assert!(output.status.success(), "make images: {}", said(&output));

    let output = stack.make("compose-up", &[]);
    assert!(
        output.status.success(),
        "make compose-up: {}\n{}",
        said(&output),
        stack.diagnostics()
    );

    // corridord over mutual TLS on the published port, with the read-only
    // principal's certificate from the PKI in its state volume.
    let state_dir = stack.state_dir();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let tls = tls_options(&state_dir, Some(&Principal::ReadOnly));
    let base = format!("https://127.0.0.1:{port}");
    let client = corridor_client::Client::with_tls(&base, &tls).unwrap();
    let deadline = Instant::now() + WAIT;
    while !runtime.block_on(client.ready()).unwrap_or(false) {
        assert!(
            Instant::now() < deadline,
            "corridord in the stack not ready on {base} within {WAIT:?}\n{}",
            stack.diagnostics()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let http = http_client(&tls);
    let devices: Value = runtime.block_on(async {
        let response = http
            .get(format!("{base}/v1/fabman/devices"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    });
    assert!(
        devices.as_array().is_some_and(|d| !d.is_empty()),
        "{devices}"
    );
    // Without a client certificate the API refuses (the probes do not).
    let anonymous = http_client(&tls_options(&state_dir, None));
    let status = runtime.block_on(async {
        anonymous
            .get(format!("{base}/v1/fabman/devices"))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    assert!(
        !matches!(status, Ok(200)),
        "an anonymous caller listed devices"
    );

    // The image's health check (corridorctl status inside the container).
    let health = run(
        "podman",
        &["healthcheck", "run", &stack.container("corridord")],
    );
    assert!(
        health.status.success(),
        "corridord's health check: {}",
        said(&health)
    );
    // The state and the process belong to the unprivileged user.
    let user = must(
        "podman",
        &[
            "inspect",
            "--format",
            "{{.Config.User}}",
            &stack.container("corridord"),
        ],
    );
    assert_eq!(user.trim(), "65532:65532");

    // Prometheus scraped corridord over mutual TLS.
    let plain = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{prometheus_port}/api/v1/query");
    let deadline = Instant::now() + WAIT;
    let result = loop {
        let answer: Option<Value> = runtime.block_on(async {
            let response = plain
                .get(&url)
                .query(&[("query", SERIES)])
                .send()
                .await
                .ok()?;
            response.json().await.ok()
        });
        if let Some(result) = answer
            .as_ref()
            .and_then(|a| a["data"]["result"].as_array())
            .filter(|r| !r.is_empty())
        {
            break result.clone();
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus has no {SERIES} within {WAIT:?} (last answer {answer:?})\n{}",
            stack.diagnostics()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(
        result[0]["metric"]["instance"], "corridord:7070",
        "{result:?}"
    );

    // compose-down takes everything away.
    stack.make("compose-down", &["VOLUMES=1"]);
    let left = stack.leftovers();
    assert!(left.is_empty(), "left after compose-down: {left}");
}

#[test]
fn rfc_daemons_stack_runs_each_daemon_in_its_own_container_on_etcd() {
    container_tools();
    let id = unique_id();
    let ports: Vec<(&str, u16)> = ["CORRD", "MEMQOSD", "FABMAND", "ATTESTD", "COMPATD"]
        .into_iter()
        .map(|daemon| (daemon, free_port()))
        .collect();
    let (project, tag) = (format!("corridordaemons{id}"), format!("test{id}"));
    let mut make_args = vec![
        format!("IMAGE_TAG={tag}"),
        format!("DAEMONS_PROJECT={project}"),
    ];
    make_args.extend(
        ports
            .iter()
            .map(|(daemon, port)| format!("{daemon}_PORT={port}")),
    );
    let stack = Stack {
        make_args,
        probe: format!("localhost/corridoros/probe:{tag}"),
        project,
        tag,
        down: "daemons-down",
        services: &["etcd", "corrd", "memqosd"],
    };
    if let Err(why) = podman_runs_containers(&stack.probe) {
        say(&format!(
            "SKIPPED rfc_daemons_stack_runs_each_daemon_in_its_own_container_on_etcd: podman \
             cannot run a container on this machine: {}",
            why.trim()
        ));
        return;
    }
    let built = built();
    let output = stack.make("images", &[&format!("BUILT={}", built.display())]);
    assert!(output.status.success(), "make images: {}", said(&output));
    let output = stack.make("daemons-up", &[]);
    assert!(
        output.status.success(),
        "make daemons-up: {}\n{}",
        said(&output),
        stack.diagnostics()
    );

    // One PKI for every daemon, in the state volume; each daemon its own
    // directory beside it.
    let state_dir = stack.state_dir();
    let tls = tls_options(&state_dir, Some(&Principal::Admin));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let base = |daemon: &str| {
        let port = ports.iter().find(|(d, _)| *d == daemon).unwrap().1;
        format!("https://127.0.0.1:{port}")
    };
    for (daemon, _) in &ports {
        let client = corridor_client::Client::with_tls(&base(daemon), &tls).unwrap();
        let deadline = Instant::now() + WAIT;
        while !runtime.block_on(client.ready()).unwrap_or(false) {
            assert!(
                Instant::now() < deadline,
                "{daemon} in the stack not ready within {WAIT:?}\n{}",
                stack.diagnostics()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        assert!(
            state_dir.join(daemon.to_ascii_lowercase()).is_dir(),
            "{daemon} keeps its files in its own directory"
        );
    }
    let http = http_client(&tls);
    let send = |method: reqwest::Method, url: String, body: Option<&str>| {
        runtime.block_on(async {
            let mut request = http.request(method, url);
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/json")
                    .body(body.to_owned());
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        })
    };
    let corridor = r#"{"corridor_type": "SiCorridor", "lanes": 1, "lambda_nm": [1550.12],
        "min_gbps": 20, "latency_budget_ns": 1000, "reach_mm": 5000, "mode": "waveguide",
        "qos": {"pfc": false, "priority": "gold"}, "attestation_required": false}"#;
    let (status, body) = send(
        reqwest::Method::POST,
        format!("{}/v1/corridors", base("CORRD")),
        Some(corridor),
    );
    assert_eq!(status, 201, "{body}\n{}", stack.diagnostics());
    let bundle = r#"{"bytes": 1048576, "latency_class": "T0", "bandwidth_floor_GBs": 1,
        "persistence": "none", "shareable": false, "security_domain": "tenantA"}"#;
    let (status, body) = send(
        reqwest::Method::POST,
        format!("{}/v1/ffm/alloc", base("MEMQOSD")),
        Some(bundle),
    );
    assert_eq!(status, 201, "{body}\n{}", stack.diagnostics());
    // memqosd's container does not run corrd, and says so.
    let (status, body) = send(
        reqwest::Method::GET,
        format!("{}/v1/corridors", base("MEMQOSD")),
        None,
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["reason"], "DaemonNotRunHere", "{body}");
    // fabmand's container publishes the devices; the corridor lives in etcd,
    // so corrd lists it.
    let (status, devices) = send(
        reqwest::Method::GET,
        format!("{}/v1/fabman/devices", base("FABMAND")),
        None,
    );
    assert_eq!(status, 200, "{devices}");
    assert!(
        devices.as_array().is_some_and(|d| !d.is_empty()),
        "{devices}"
    );
    let health = run("podman", &["healthcheck", "run", &stack.container("corrd")]);
    assert!(
        health.status.success(),
        "corrd's health check: {}",
        said(&health)
    );
    let ps = stack.make("daemons-ps", &[]);
    for service in ["etcd", "corrd", "memqosd", "fabmand", "attestd", "compatd"] {
        assert!(
            said(&ps).contains(&stack.container(service)),
            "{service} in daemons-ps: {}",
            said(&ps)
        );
    }

    stack.make("daemons-down", &["VOLUMES=1"]);
    let left = stack.leftovers();
    assert!(left.is_empty(), "left after daemons-down: {left}");
}
