//! compatd's costs, side by side in one run:
//!
//! 1. Translation: the shipped CPU mix (`crates/compat/programs/cpumix.c`:
//!    sieve, FNV hashing, qsort with a callback, matrix multiply, CRC-32),
//!    built native and cross-compiled for riscv64 and aarch64, run native,
//!    under `qemu-riscv64` and under `qemu-aarch64`; user CPU from `wait4`,
//!    minimum of N runs; the checksums must be equal.
//! 2. Launch overhead: a riscv64 hello through compatd's launch path
//!    (`CompatService::launch`: resolve and open the program, ELF header,
//!    profile match over the store, working directory, confined spawn,
//!    until reaped) against `qemu-riscv64 hello` spawned directly, wall
//!    time to exit, median of M runs. HTTP and TLS are not included.
//!    Target: ≤ 5 ms added per launch. The service path runs three ways:
//!    with compatd's TCG counting plugin (the default under the dynamic
//!    QEMU), without it, and through a private binfmt_misc registration
//!    (`binfmt`: unshare, a user namespace, a binfmt_misc mount). The counting
//!    paths are measured against the same QEMU command with the plugin
//!    spawned directly; the plugin's own cost shows in both tables.
//!
//! The translation table also runs the riscv64 mix with the counting
//! plugin loaded, to show what counting costs, and prints its counts.
//!
//! `COMPAT_RUNS=N` (default 3) and `COMPAT_LAUNCHES=M` (default 30).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corridor_hal::compat::cross;
use corridor_hal::compat::{LaunchSpec, Limits, ProcessLauncher, SpawnLauncher};
use corridor_model::compat::{LaunchRequest, ProcessState};
use corridor_services::Caller;
use corridor_services::compat::{CompatConfig, CompatService};
use corridor_store::{RedbOptions, RedbStore, StateStore};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn out_dir() -> PathBuf {
    cross::program_dir()
}

fn build(name: &str, target: &str) -> PathBuf {
    cross::shipped_program(name, target).unwrap_or_else(|e| panic!("{e}"))
}

/// User CPU seconds and output of one run, from `wait4`'s rusage.
fn run_once(program: &Path, args: &[&Path]) -> (f64, String) {
    let launched = SpawnLauncher
        .launch(LaunchSpec {
            program: program.to_path_buf(),
            args: args.iter().map(|a| OsString::from(a.as_os_str())).collect(),
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            working_dir: std::env::temp_dir(),
            exe_fd: None,
            credentials: None,
            limits: Limits {
                cpu_s: 600,
                ..Limits::default()
            },
            output_limit: 4096,
        })
        .unwrap();
    let exit = launched
        .wait_timeout(Duration::from_secs(600))
        .expect("the CPU mix ended");
    assert_eq!(exit.code, Some(0), "{program:?} {args:?}");
    std::thread::sleep(Duration::from_millis(20));
    (exit.utime_s, launched.output().0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let runs = env_usize("COMPAT_RUNS", 3);
    let launches = env_usize("COMPAT_LAUNCHES", 30);
    let qemu_riscv64 = Path::new("/usr/bin/qemu-riscv64");
    let qemu_aarch64 = Path::new("/usr/bin/qemu-aarch64");

    println!("translation cost: CPU mix, user CPU, min of {runs} runs");
    let native = build("cpumix", "native");
    let riscv64 = build("cpumix", "riscv64");
    let aarch64 = build("cpumix", "aarch64");
    let cases: [(&str, &Path, Vec<&Path>); 3] = [
        ("native", &native, vec![]),
        ("qemu-riscv64", qemu_riscv64, vec![&riscv64]),
        ("qemu-aarch64", qemu_aarch64, vec![&aarch64]),
    ];
    let plugin_dir = tempfile::tempdir().unwrap();
    let plugin = corridor_hal::compat::tcg::install_plugin(plugin_dir.path()).unwrap();
    let counted = corridor_compat::render::qemu::Plugin {
        path: &plugin.display().to_string(),
        args: &[corridor_hal::compat::tcg::counts_argument(
            plugin_dir.path(),
        )],
    }
    .option();
    let plugin_flag = PathBuf::from("-plugin");
    let counted = PathBuf::from(counted);
    let cases: [(&str, &Path, Vec<&Path>); 4] = [
        cases[0].clone(),
        cases[1].clone(),
        (
            "qemu-riscv64 + TCG counter",
            qemu_riscv64,
            vec![&plugin_flag, &counted, &riscv64],
        ),
        cases[2].clone(),
    ];
    let mut baseline = None;
    let mut checksum = None;
    println!("| run | user CPU s (min) | × native | checksum |");
    println!("|---|---|---|---|");
    for (name, program, args) in cases {
        let mut best = f64::INFINITY;
        for _ in 0..runs {
            let (user, output) = run_once(program, &args);
            best = best.min(user);
            let sum = output.trim().to_owned();
            match &checksum {
                None => checksum = Some(sum),
                Some(expected) => assert_eq!(&sum, expected, "{name} computed another checksum"),
            }
        }
        let base = *baseline.get_or_insert(best);
        println!(
            "| {name} | {best:.3} | {:.2} | {} |",
            best / base,
            checksum.as_deref().unwrap_or("")
        );
    }
    if let Some(counts) = corridor_hal::compat::tcg::read_counts(plugin_dir.path()) {
        println!(
            "TCG counter, riscv64 mix: {} guest instructions, {} blocks translated",
            counts.instructions, counts.blocks
        );
    }

    println!();
    println!(
        "launch overhead: riscv64 hello, wall time to exit, {launches} rounds, each running every path once in turn"
    );
    let hello = build("hello", "riscv64");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // (counting, binfmt) for the three service paths.
    const PATHS: [(&str, bool, bool); 3] = [
        (
            "compatd launch path, TCG counter (the default)",
            true,
            false,
        ),
        ("compatd launch path, counting off", false, false),
        (
            "compatd launch through a private binfmt_misc registration, TCG counter",
            true,
            true,
        ),
    ];
    let (direct, direct_counted, through_service) = runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn StateStore> = Arc::new(
            RedbStore::open(dir.path().join("state.redb"), RedbOptions::default()).unwrap(),
        );
        let service = CompatService::start(store).await.unwrap();
        let work = tempfile::tempdir().unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        }
        let base = CompatConfig {
            allowed_roots: vec![out_dir()],
            state_dir: Some(dir.path().to_path_buf()),
            work_root: work.path().join("work"),
            ..CompatConfig::default()
        };
        let admin = Caller::system();
        // The same QEMU invocation compatd makes with the counter, spawned
        // directly: the baseline of the counting paths, so the plugin's
        // own cost (in the translation table) is not counted as compatd's.
        let counter_dir = tempfile::tempdir().unwrap();
        let counter = corridor_hal::compat::tcg::install_plugin(counter_dir.path()).unwrap();
        let counter_option = corridor_compat::render::qemu::Plugin {
            path: &counter.display().to_string(),
            args: &[corridor_hal::compat::tcg::counts_argument(
                counter_dir.path(),
            )],
        }
        .option();
        let mut direct = Vec::new();
        let mut direct_counted = Vec::new();
        let mut paths = vec![Vec::new(); PATHS.len()];
        // Interleaved, so a change of machine load over the run falls on
        // every path alike (the other engineers' builds share the cores).
        for _ in 0..launches {
            let start = Instant::now();
            let status = Command::new(qemu_riscv64).arg(&hello).output().unwrap();
            assert!(status.status.success());
            direct.push(start.elapsed().as_secs_f64() * 1e3);
            let start = Instant::now();
            let status = Command::new(qemu_riscv64)
                .args(["-plugin", &counter_option])
                .arg(&hello)
                .output()
                .unwrap();
            assert!(status.status.success());
            direct_counted.push(start.elapsed().as_secs_f64() * 1e3);
            for (times, (_, counting, binfmt)) in paths.iter_mut().zip(PATHS) {
                service.configure(CompatConfig {
                    count_instructions: counting,
                    ..base.clone()
                });
                let start = Instant::now();
                let p = service
                    .launch(
                        &admin,
                        LaunchRequest {
                            exe: hello.display().to_string(),
                            args: vec![],
                            env: Default::default(),
                            profile: None,
                            security_domain: None,
                            timeout_s: Some(30),
                            binfmt,
                        },
                    )
                    .await
                    .unwrap();
                let p = service
                    .wait(&admin, &p.id, Duration::from_secs(30))
                    .await
                    .unwrap();
                times.push(start.elapsed().as_secs_f64() * 1e3);
                assert_eq!(p.state, ProcessState::Exited);
                assert_eq!(p.exit.unwrap().code, Some(0));
                assert_eq!(p.tcg_plugin, counting);
            }
        }
        (direct, direct_counted, paths)
    });
    println!(
        "| path | median ms | added by compatd over the same QEMU command spawned directly, median of the rounds' differences (target ≤ 5) |"
    );
    println!("|---|---|---|");
    println!(
        "| qemu-riscv64 hello spawned directly | {:.2} | |",
        median(direct.clone())
    );
    println!(
        "| qemu-riscv64 -plugin <counter> hello spawned directly | {:.2} | |",
        median(direct_counted.clone())
    );
    for ((name, counting, _), times) in PATHS.into_iter().zip(through_service) {
        let baseline = if counting { &direct_counted } else { &direct };
        let added: Vec<f64> = times.iter().zip(baseline).map(|(s, d)| s - d).collect();
        println!("| {name} | {:.2} | {:.2} |", median(times), median(added));
    }
}
