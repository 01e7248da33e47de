//! The launcher: exit codes and rusage, bounded output, killing a program
//! that never ends (and what it forked), no zombie left behind, and the
//! uid switch when running as root.

use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

use corridor_hal::compat::{LaunchSpec, Launched, Limits, ProcessLauncher, SpawnLauncher};

fn sh(script: &str, output_limit: usize) -> Arc<Launched> {
    SpawnLauncher
        .launch(LaunchSpec {
            program: "/bin/sh".into(),
            args: vec![OsString::from("-c"), OsString::from(script)],
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            working_dir: std::env::temp_dir(),
            exe_fd: None,
            credentials: None,
            limits: Limits::default(),
            output_limit,
        })
        .unwrap()
}

fn is_zombie_or_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat[stat.rfind(')').unwrap() + 2..].starts_with('Z'),
    }
}

#[test]
fn exit_code_output_and_usage() {
    let p = sh(
        "echo out; echo err >&2; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exit 3",
        1 << 16,
    );
    let exit = p.wait_timeout(Duration::from_secs(20)).expect("ended");
    assert_eq!((exit.code, exit.signal), (Some(3), None));
    assert!(exit.utime_s + exit.stime_s > 0.0, "{exit:?}");
    assert!(exit.peak_rss_bytes > 0);
    // The reader may still be draining the pipe's last bytes.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !p.output().0.contains("err") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(p.output(), ("out\nerr\n".to_owned(), 0));
    assert!(is_zombie_or_gone(p.pid()) && std::fs::metadata(format!("/proc/{}", p.pid())).is_err());
}

#[test]
fn output_is_bounded() {
    let p = sh(
        "i=0; while [ $i -lt 100 ]; do echo 0123456789; i=$((i+1)); done",
        64,
    );
    p.wait_timeout(Duration::from_secs(20)).expect("ended");
    std::thread::sleep(Duration::from_millis(100));
    let (text, dropped) = p.output();
    assert_eq!(text.len(), 64);
    assert_eq!(dropped, 1100 - 64);
}

#[test]
fn a_program_that_never_ends_is_killed_with_its_group() {
    let p = sh("sleep 300 & echo $! ; wait", 4096);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let child: u32 = loop {
        if let Ok(pid) = p.output().0.trim().parse() {
            break pid;
        }
        assert!(std::time::Instant::now() < deadline, "no child pid");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(p.sample().is_some());
    assert!(p.kill());
    let exit = p.wait_timeout(Duration::from_secs(10)).expect("reaped");
    assert_eq!(exit.signal, Some(libc::SIGKILL));
    assert!(p.was_killed());
    assert!(!p.kill(), "no signal after the leader exited");
    // The forked sleep died with the group (it is reaped by init).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !is_zombie_or_gone(child) {
        assert!(
            std::time::Instant::now() < deadline,
            "sleep {child} survived"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn runs_as_the_configured_user_when_root() {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        eprintln!("not root: the uid switch cannot be tested");
        return;
    }
    let p = SpawnLauncher
        .launch(LaunchSpec {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), "id -u; id -g; id -G".into()],
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            working_dir: "/".into(),
            exe_fd: None,
            credentials: Some((65534, 65534)),
            limits: Limits::default(),
            output_limit: 4096,
        })
        .unwrap();
    let exit = p.wait_timeout(Duration::from_secs(20)).expect("ended");
    assert_eq!(exit.code, Some(0));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(p.output().0, "65534\n65534\n65534\n");
}
