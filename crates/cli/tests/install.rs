//! `make install` lays out what the README and the units promise, and the
//! installed systemd units verify (`systemd-analyze verify` prints
//! nothing for a valid unit; it warns and still exits 0 on an unknown
//! value, so any output fails the test): corridord.service (every daemon
//! in one process) and one unit per RFC daemon, each with its
//! /etc/corridoros/<daemon>.conf.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The RFC's daemons that are units of their own, with the capabilities
/// each keeps (heliopassd.service is an alias of corrd.service).
const DAEMON_UNITS: [(&str, &str); 5] = [
    ("corrd", ""),
    ("memqosd", "CAP_SYS_NICE"),
    ("fabmand", ""),
    ("attestd", ""),
    ("compatd", "CAP_SETUID CAP_SETGID CAP_KILL"),
];

/// Every unit file install lays out.
fn units() -> Vec<String> {
    let mut units: Vec<String> = DAEMON_UNITS
        .iter()
        .map(|(daemon, _)| format!("{daemon}.service"))
        .collect();
    units.extend(
        ["corridord", "heliopassd", "corridoros-pki"]
            .iter()
            .map(|name| format!("{name}.service")),
    );
    units
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A directory holding the binaries cargo built for this test run, as
/// `make install` expects them in `BUILT`.
fn built(scratch: &Path) -> PathBuf {
    let corridorctl = PathBuf::from(env!("CARGO_BIN_EXE_corridorctl"));
    // corridord is built beside corridorctl by `cargo test --workspace`
    // (corridor-server's own tests need it).
    let corridord = corridorctl.with_file_name("corridord");
    assert!(
        corridord.exists(),
        "{} missing: run the workspace's tests (make test) or `cargo build --bins` first",
        corridord.display()
    );
    let dir = scratch.join("built");
    std::fs::create_dir_all(&dir).unwrap();
    for binary in [&corridord, &corridorctl] {
        std::os::unix::fs::symlink(binary, dir.join(binary.file_name().unwrap())).unwrap();
    }
    dir
}

fn make(args: &[String]) -> String {
    let output = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(repo_root())
        .args(args)
        .output()
        .expect("make runs");
    assert!(
        output.status.success(),
        "make {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn make_install_lays_out_binaries_config_and_a_unit_that_verifies() {
    let scratch = tempfile::tempdir().unwrap();
    let built = built(scratch.path());

    // A DESTDIR staging install with the default prefix, as a package
    // build does it.
    let stage = scratch.path().join("stage");
    make(&[
        "install".into(),
        format!("DESTDIR={}", stage.display()),
        format!("BUILT={}", built.display()),
    ]);
    for file in [
        "usr/local/bin/corridord",
        "usr/local/bin/corridorctl",
        "etc/corridoros/corridord.toml",
        "usr/local/lib/systemd/system/corridord.service",
        "usr/local/lib/sysusers.d/corridoros.conf",
        "usr/local/share/man/man8/corridord.8",
        "usr/local/share/man/man1/corridorctl.1",
        "usr/local/share/bash-completion/completions/corridorctl",
        "usr/local/share/zsh/vendor-completions/_corridorctl",
        "usr/local/share/fish/vendor_completions.d/corridorctl.fish",
    ] {
        assert!(stage.join(file).is_file(), "{file} not installed");
    }
    // One unit and one configuration file per RFC daemon (heliopassd's
    // settings are read by corrd's process, its unit is corrd's alias).
    for daemon in [
        "corrd",
        "memqosd",
        "fabmand",
        "heliopassd",
        "attestd",
        "compatd",
    ] {
        let conf = stage.join(format!("etc/corridoros/{daemon}.conf"));
        let text = std::fs::read_to_string(&conf).unwrap_or_else(|e| panic!("{daemon}.conf: {e}"));
        assert!(
            text.starts_with(&format!("# /etc/corridoros/{daemon}.conf")),
            "{text}"
        );
    }
    let unit_dir = stage.join("usr/local/lib/systemd/system");
    for (daemon, capabilities) in DAEMON_UNITS {
        let unit = std::fs::read_to_string(unit_dir.join(format!("{daemon}.service"))).unwrap();
        for line in [
            "Type=notify".to_owned(),
            "WatchdogSec=30".to_owned(),
            "NoNewPrivileges=yes".to_owned(),
            "ProtectSystem=strict".to_owned(),
            format!("StateDirectory=corridoros/{daemon}"),
            format!(
                "ExecStart=/usr/local/bin/corridord {daemon} --config /etc/corridoros/{daemon}.conf"
            ),
            format!("CapabilityBoundingSet={capabilities}"),
            format!("AmbientCapabilities={capabilities}"),
        ] {
            assert!(
                unit.lines().any(|l| l == line),
                "{daemon}.service lacks {line:?}: {unit}"
            );
        }
        assert!(!unit.contains('@'), "unfilled placeholder: {unit}");
    }
    assert_eq!(
        std::fs::read_link(unit_dir.join("heliopassd.service")).unwrap(),
        Path::new("corrd.service"),
        "heliopassd.service is an alias of corrd.service"
    );
    // The man pages describe the binaries' real flags (generated from the
    // clap definitions).
    let page = std::fs::read_to_string(stage.join("usr/local/share/man/man8/corridord.8")).unwrap();
    assert!(
        page.starts_with(".ie") && page.contains(".TH corridord 8"),
        "{page}"
    );
    assert!(page.contains("\\-\\-listen"), "{page}");
    let page =
        std::fs::read_to_string(stage.join("usr/local/share/man/man1/corridorctl.1")).unwrap();
    assert!(
        page.contains(".TH corridorctl 1") && page.contains("compat"),
        "{page}"
    );
    // bash loads the completion and binds it to corridorctl.
    let bash = Command::new("bash")
        .arg("-c")
        .arg("source \"$1\" && complete -p corridorctl")
        .arg("bash")
        .arg(stage.join("usr/local/share/bash-completion/completions/corridorctl"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&bash.stdout);
    assert!(
        bash.status.success() && said.contains("-F _corridorctl corridorctl"),
        "{said}{}",
        String::from_utf8_lossy(&bash.stderr)
    );
    let unit =
        std::fs::read_to_string(stage.join("usr/local/lib/systemd/system/corridord.service"))
            .unwrap();
    assert!(unit.contains("Type=notify"), "{unit}");
    assert!(
        unit.contains("ExecStart=/usr/local/bin/corridord --config /etc/corridoros/corridord.toml"),
        "{unit}"
    );
    assert!(!unit.contains('@'), "unfilled placeholder: {unit}");

    // A second install keeps an edited configuration.
    let config = stage.join("etc/corridoros/corridord.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:9\"\n").unwrap();
    make(&[
        "install".into(),
        format!("DESTDIR={}", stage.display()),
        format!("BUILT={}", built.display()),
    ]);
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        "listen = \"127.0.0.1:9\"\n"
    );

    // uninstall removes what install laid out, keeping the configuration.
    make(&["uninstall".into(), format!("DESTDIR={}", stage.display())]);
    for unit in units() {
        assert!(
            std::fs::symlink_metadata(unit_dir.join(&unit)).is_err(),
            "{unit} left behind"
        );
    }
    assert!(stage.join("etc/corridoros/corrd.conf").exists());
    assert!(!stage.join("usr/local/bin/corridord").exists());
    assert!(!stage.join("usr/local/share/man/man8/corridord.8").exists());
    assert!(
        !stage
            .join("usr/local/share/bash-completion/completions/corridorctl")
            .exists()
    );
    assert!(
        !stage
            .join("usr/local/lib/systemd/system/corridord.service")
            .exists()
    );
    assert!(config.exists());

    // systemd-analyze checks that ExecStart is executable on this machine:
    // install into a prefix inside the scratch directory and verify there.
    let prefix = scratch.path().join("root/usr");
    make(&[
        "install".into(),
        format!("PREFIX={}", prefix.display()),
        format!("SYSCONFDIR={}", scratch.path().join("root/etc").display()),
        format!("BUILT={}", built.display()),
    ]);
    for unit in units() {
        let unit = prefix.join("lib/systemd/system").join(unit);
        let output = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&unit)
            .output()
            .expect("systemd-analyze runs (scripts/install-ops.sh installs it)");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.status.success() && said.trim().is_empty(),
            "{}: {said}",
            unit.display()
        );
    }
}
