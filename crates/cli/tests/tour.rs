//! The README's "A first tour", run verbatim against a live corridord, so
//! the tour cannot drift from the CLI and the API again.
//!
//! Every command of the tour's shell block is run by bash in order, as
//! written, with three substitutions a test needs: the server's free port
//! for 7070, the built corridorctl for `./target/release/corridorctl`, and
//! a temporary `XDG_STATE_HOME`/`HOME`/working directory. Shell variables
//! the tour sets (`pki=…`, `id=$(…)`) carry over to later commands. Each
//! command must exit 0 (a `timeout N` watch: end by the timeout with
//! output) and no answer may be a 5xx problem.

use std::process::Command;

use corridor_server::Daemon;
use corridor_server::config::Config;

/// The shell block under "## A first tour", split into commands (a
/// command spans lines while a single quote is open).
fn tour_commands(readme: &str) -> Vec<String> {
    let section = readme.find("## A first tour").expect("README has a tour");
    let open = section
        + readme[section..]
            .find("```sh\n")
            .expect("the tour's shell block")
        + 6;
    let close = open + readme[open..].find("```").expect("the block ends");
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in readme[open..close].lines() {
        let bare = line.trim_start();
        if current.is_empty() && (bare.is_empty() || bare.starts_with('#')) {
            continue;
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
        if current.matches('\'').count().is_multiple_of(2) {
            commands.push(std::mem::take(&mut current));
        }
    }
    assert!(
        current.is_empty(),
        "unbalanced quote in the tour: {current}"
    );
    commands
}

/// `name=$(command)`: the variable and the command.
fn capture(command: &str) -> Option<(&str, &str)> {
    let (name, rest) = command.split_once("=$(")?;
    let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let inner = rest.trim_end().strip_suffix(')')?;
    valid.then_some((name, inner))
}

/// `name=value` with no command substitution: kept as shell prelude.
fn is_assignment(command: &str) -> bool {
    command.split_once('=').is_some_and(|(name, value)| {
        !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !value.starts_with("$(")
    })
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

#[test]
fn the_readme_tour_runs_verbatim() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let commands = tour_commands(&readme);
    assert!(commands.len() > 20, "{commands:#?}");

    let home = tempfile::tempdir().unwrap();
    let xdg = home.path().join("state");
    let work = home.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // corridord's default state dir under XDG_STATE_HOME, where the tour's
    // `pki=` line looks for the certificates.
    let mut config = Config::local(&xdg.join("corridoros"));
    // As `make run` starts it (scripts/run.sh): measured boot on swtpm.
    config.tpm = corridor_server::config::TpmKind::Swtpm;
    let daemon = runtime.block_on(Daemon::start(&config)).unwrap();
    let base = daemon.base_url();
    assert!(base.starts_with("https://"), "{base}");
    let port = base
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    runtime.spawn(daemon.serve(std::future::pending()));

    let local = |text: &str| {
        text.replace("127.0.0.1:7070", &format!("127.0.0.1:{port}"))
            .replace(
                "./target/release/corridorctl",
                env!("CARGO_BIN_EXE_corridorctl"),
            )
    };
    let run = |prelude: &str, command: &str| -> Outcome {
        let output = Command::new("bash")
            .arg("-c")
            .arg(format!("{prelude}\n{command}"))
            .current_dir(&work)
            .env("HOME", home.path())
            .env("XDG_STATE_HOME", &xdg)
            .env("CORRIDOR_SERVER", &base)
            .env_remove("CORRIDOR_STATE_DIR")
            .env_remove("CORRIDOR_CA")
            .env_remove("CORRIDOR_CERT")
            .env_remove("CORRIDOR_KEY")
            .output()
            .expect("bash runs");
        Outcome {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    };

    let mut prelude = String::new();
    let mut transcript: Vec<(String, String)> = Vec::new();
    for written in &commands {
        let command = local(written);
        if is_assignment(&command) {
            prelude.push_str(&command);
            prelude.push('\n');
            continue;
        }
        let (variable, body) = match capture(&command) {
            Some((name, inner)) => (Some(name.to_owned()), inner.to_owned()),
            None => (None, command.clone()),
        };
        let out = run(&prelude, &body);
        let watched = body.trim_start().starts_with("timeout ");
        let ended = if watched {
            out.code == Some(124) && !out.stdout.trim().is_empty()
        } else {
            out.code == Some(0)
        };
        assert!(
            ended,
            "tour command failed (exit {:?}):\n{written}\n--- stdout\n{}\n--- stderr\n{}",
            out.code, out.stdout, out.stderr
        );
        // A 5xx is a server fault.
        let server_fault = (500..600).any(|status| {
            out.stdout.contains(&format!("\"status\":{status}"))
                || out.stdout.contains(&format!("\"status\": {status}"))
        });
        assert!(
            !server_fault,
            "a 5xx answer in the tour:\n{written}\n{}",
            out.stdout
        );
        if let Some(name) = variable {
            let value = out.stdout.trim();
            assert!(
                !value.is_empty() && value != "null" && !value.contains('\n'),
                "{written} gave {name} = {value:?}"
            );
            prelude.push_str(&format!("{name}='{value}'\n"));
        }
        transcript.push((written.clone(), out.stdout));
    }

    let answer = |needle: &str| -> &str {
        &transcript
            .iter()
            .find(|(command, _)| command.contains(needle))
            .unwrap_or_else(|| panic!("no tour command contains {needle}"))
            .1
    };
    // What the tour's comments promise.
    let rfc = answer("| tee rfc-corridor.json");
    assert!(rfc.contains("assigned_lambda_nm"), "{rfc}");
    let attested = answer("jq '{status, attestations}'");
    assert!(
        attested.contains("\"active\"") && attested.contains("attest-"),
        "{attested}"
    );
    let telemetry = answer("/v1/corridors/$rfc/telemetry");
    assert!(telemetry.contains("\"source\""), "{telemetry}");
    let attestation = answer("/v1/attest/$att");
    assert!(attestation.contains("\"affirming\""), "{attestation}");
    let verified = answer("/v1/fabman/attest/$ticket");
    assert!(verified.contains("\"valid\":true"), "{verified}");
    let lit = answer("corridor telemetry $id");
    for field in ["ber", "temp_c", "power_pj_per_bit", "drift", "error_count"] {
        assert!(lit.contains(&format!("\"{field}\"")), "{field}: {lit}");
    }
    assert!(answer("limit=0").contains("422"));
    let rfc_path = answer("/v1/fabman/paths");
    assert!(rfc_path.contains("\"status\":\"active\""), "{rfc_path}");
    let programming = answer("jq .programming");
    assert!(
        programming.contains("qos_shares") && programming.contains("\"congestion_control\": true"),
        "{programming}"
    );
    assert!(answer("ffm map $bundle --read").contains("hello"));
}
