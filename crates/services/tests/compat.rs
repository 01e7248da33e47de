//! compatd end to end below HTTP: the built-in catalogue, engine
//! discovery, launching cross-compiled riscv64 and aarch64 programs under
//! QEMU user mode as their own user, every bad input as a field problem,
//! crashes and never-ending programs as recorded exits.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use corridor_hal::compat::cross;
use corridor_model::compat::{
    CompatProcess, EngineKind, GuestArch, LaunchRequest, ProcessState, ProfileMatch,
    ProfileRequest, ProfileSpec,
};
use corridor_pki::Principal;
use corridor_services::Caller;
use corridor_services::compat::{CompatConfig, CompatError, CompatService};
use corridor_store::StateStore;
use corridor_store::{RedbOptions, RedbStore};

fn program_dir() -> PathBuf {
    cross::program_dir()
}

fn program(name: &str, target: &str) -> PathBuf {
    cross::shipped_program(name, target).unwrap()
}

struct Fixture {
    service: CompatService,
    state: tempfile::TempDir,
    /// An allowed root for files the tests write.
    roots: PathBuf,
    _work: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let state = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(RedbStore::open(state.path().join("state.redb"), RedbOptions::default()).unwrap());
    // corridord's PKI as it lays it out: a 0700 directory, 0600 keys.
    let pki = state.path().join("pki");
    std::fs::create_dir(&pki).unwrap();
    std::fs::write(pki.join("server.key"), "-----BEGIN PRIVATE KEY-----\n").unwrap();
    std::fs::set_permissions(
        pki.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::set_permissions(&pki, std::fs::Permissions::from_mode(0o700)).unwrap();
    let work = tempfile::tempdir().unwrap();
    // The launched user must reach its own directory below this one.
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let service = CompatService::start(store).await.unwrap();
    service.configure(CompatConfig {
        allowed_roots: vec![program_dir(), work.path().join("roots")],
        state_dir: Some(state.path().to_path_buf()),
        work_root: work.path().join("work"),
        ..CompatConfig::default()
    });
    std::fs::create_dir(work.path().join("roots")).unwrap();
    Fixture {
        service,
        state,
        roots: work.path().join("roots"),
        _work: work,
    }
}

fn launch(exe: &Path, args: &[&str]) -> LaunchRequest {
    LaunchRequest {
        exe: exe.display().to_string(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        env: BTreeMap::new(),
        profile: None,
        security_domain: None,
        timeout_s: Some(30),
        binfmt: false,
    }
}

async fn ended(service: &CompatService, caller: &Caller, id: &str) -> CompatProcess {
    for _ in 0..600 {
        let p = service.process(caller, id).unwrap();
        if p.state != ProcessState::Running {
            // The output reader may trail the exit by a moment.
            tokio::time::sleep(Duration::from_millis(50)).await;
            return service.process(caller, id).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{id} did not end");
}

fn field(e: CompatError) -> (String, String, String) {
    match e {
        CompatError::Field {
            pointer,
            rule,
            message,
        } => (pointer.to_owned(), rule.to_owned(), message),
        other => panic!("expected a field problem, got {other:?}"),
    }
}

#[tokio::test]
async fn catalogue_and_engines() {
    let f = fixture().await;
    let riscv = f.service.get_profile("riscv64-linux").await.unwrap();
    assert!(riscv.builtin);
    assert_eq!(riscv.spec.guest_arch, GuestArch::Riscv64);
    let engines = f.service.engines();
    let qemu = engines
        .iter()
        .find(|e| e.engine == EngineKind::Qemu)
        .unwrap();
    assert!(qemu.installed, "{qemu:?}");
    assert!(
        qemu.version.as_deref().unwrap().starts_with("qemu-"),
        "{qemu:?}"
    );
    assert!(qemu.guests.contains(&GuestArch::Riscv64) && qemu.guests.contains(&GuestArch::Aarch64));
    for other in [EngineKind::Box64, EngineKind::Fex] {
        let e = engines.iter().find(|e| e.engine == other).unwrap();
        assert!(!e.installed && e.binaries.is_empty());
    }
    let rendered = f.service.render_profile("x86_64-box64").await.unwrap();
    let box64 = rendered
        .iter()
        .find(|r| r.engine == EngineKind::Box64)
        .unwrap();
    assert!(
        box64.text.contains("BOX64_DYNAREC_STRONGMEM=2"),
        "{}",
        box64.text
    );
}

#[tokio::test]
async fn riscv64_and_aarch64_programs_run_under_their_profiles() {
    let f = fixture().await;
    let admin = Caller::system();
    for (target, profile) in [("riscv64", "riscv64-linux"), ("aarch64", "aarch64-linux")] {
        let exe = program("hello", target);
        let p = f
            .service
            .launch(&admin, launch(&exe, &["exit:7"]))
            .await
            .unwrap();
        assert_eq!((p.profile.as_str(), p.engine), (profile, EngineKind::Qemu));
        assert!(p.interpreter.contains(&format!("qemu-{target}")));
        let p = ended(&f.service, &admin, &p.id).await;
        assert_eq!(p.state, ProcessState::Exited);
        assert_eq!(p.exit.as_ref().unwrap().code, Some(7), "{p:?}");
        assert_eq!(p.output, format!("hello from hello.{target}\n"));
        assert!(p.usage.peak_rss_bytes > 1 << 20, "{:?}", p.usage);
        assert!(p.finished_at.is_some());
        // Its working directory is gone with it, and was never under the state dir.
        assert!(!Path::new(&p.working_dir).starts_with(f.state.path()));
    }
}

#[tokio::test]
async fn a_launched_program_cannot_read_corridords_keys() {
    let f = fixture().await;
    let admin = Caller::system();
    let exe = program("hello", "riscv64");
    let key = f.state.path().join("pki/server.key");
    let p = f
        .service
        .launch(
            &admin,
            launch(
                &exe,
                &[&format!("read:{}", key.display()), "read:/etc/hostname"],
            ),
        )
        .await
        .unwrap();
    let p = ended(&f.service, &admin, &p.id).await;
    if !p.run_as.isolated {
        eprintln!("corridord's tests are not root: the program runs as the same user; skipping");
        return;
    }
    assert_eq!((p.run_as.uid, p.run_as.gid), (65534, 65534));
    assert!(
        p.output.contains(&format!(
            "read {}: denied (Permission denied)",
            key.display()
        )),
        "{}",
        p.output
    );
    // The read path itself works: a world-readable file is read.
    assert!(p.output.contains("read /etc/hostname: ok"), "{}", p.output);
}

#[tokio::test]
async fn bad_inputs_are_field_problems() {
    let f = fixture().await;
    let admin = Caller::system();
    let roots = f.roots.clone();
    // The state directory is never a launch root, even listed as one.
    let mut config = (*f.service.config()).clone();
    config.allowed_roots.push(f.state.path().to_path_buf());
    f.service.configure(config);
    // Outside the allowed roots (and the state directory never is one).
    let e = f
        .service
        .launch(&admin, launch(Path::new("/bin/true"), &[]))
        .await
        .unwrap_err();
    assert_eq!(field(e).0, "/exe");
    let e = f
        .service
        .launch(&admin, launch(&f.state.path().join("pki/server.key"), &[]))
        .await
        .unwrap_err();
    assert_eq!(field(e).1, "allowed_roots");
    // Not an ELF file.
    std::fs::write(roots.join("script"), "#!/bin/sh\necho hi\n").unwrap();
    let (pointer, rule, message) = field(
        f.service
            .launch(&admin, launch(&roots.join("script"), &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!((pointer.as_str(), rule.as_str()), ("/exe", "elf"));
    assert!(message.contains("not an ELF"), "{message}");
    // An ELF for an architecture nothing serves (big-endian PowerPC).
    let mut ppc = vec![
        0x7f, b'E', b'L', b'F', 2, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0x15,
    ];
    ppc.resize(64, 0);
    std::fs::write(roots.join("ppc"), &ppc).unwrap();
    let (pointer, _, message) = field(
        f.service
            .launch(&admin, launch(&roots.join("ppc"), &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(pointer, "/exe");
    assert!(message.contains("no engine here serves"), "{message}");
    // An x86-64 program: its profiles' engines (box64, FEX) are not installed.
    std::fs::copy("/bin/true", roots.join("true")).unwrap();
    let (pointer, rule, message) = field(
        f.service
            .launch(&admin, launch(&roots.join("true"), &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (pointer.as_str(), rule.as_str()),
        ("/profile", "installed"),
        "{message}"
    );
    // A named profile of the wrong architecture.
    let mut request = launch(&program("hello", "riscv64"), &[]);
    request.profile = Some("aarch64-linux".into());
    let (pointer, _, _) = field(f.service.launch(&admin, request).await.unwrap_err());
    assert_eq!(pointer, "/profile");
    // A missing file.
    let (pointer, rule, _) = field(
        f.service
            .launch(&admin, launch(&roots.join("nothing"), &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!((pointer.as_str(), rule.as_str()), ("/exe", "exists"));
}

#[tokio::test]
async fn crashes_and_endless_programs_are_recorded_exits() {
    let f = fixture().await;
    let admin = Caller::system();
    let exe = program("hello", "riscv64");
    let crash = f
        .service
        .launch(&admin, launch(&exe, &["crash"]))
        .await
        .unwrap();
    let mut spin = launch(&exe, &["spin"]);
    spin.timeout_s = Some(1);
    let timed_out = f.service.launch(&admin, spin).await.unwrap();
    let endless = f
        .service
        .launch(&admin, launch(&exe, &["spin"]))
        .await
        .unwrap();

    let crash = ended(&f.service, &admin, &crash.id).await;
    assert_eq!(crash.state, ProcessState::Exited);
    assert_eq!(
        crash.exit.as_ref().unwrap().signal,
        Some(libc_sigsegv()),
        "{crash:?}"
    );

    let timed_out = ended(&f.service, &admin, &timed_out.id).await;
    assert_eq!(timed_out.state, ProcessState::Killed);
    assert!(timed_out.usage.utime_s > 0.3, "{:?}", timed_out.usage);

    let running = f.service.process(&admin, &endless.id).unwrap();
    assert_eq!(running.state, ProcessState::Running);
    let stopped = f.service.stop(&admin, &endless.id).await.unwrap();
    assert_eq!(stopped.state, ProcessState::Killed);
    assert_eq!(stopped.exit.as_ref().unwrap().signal, Some(9));
    // Reaped: no zombie left under our pid.
    assert!(std::fs::metadata(format!("/proc/{}", stopped.pid)).is_err());
    assert_eq!(f.service.processes(&admin).len(), 3);
}

fn libc_sigsegv() -> i32 {
    11
}

#[tokio::test]
async fn domains_launch_only_with_granting_profiles_and_see_their_own() {
    let f = fixture().await;
    let a = Caller::new(Principal::Domain("a".into()));
    let b = Caller::new(Principal::Domain("b".into()));
    let exe = program("hello", "riscv64");
    // No built-in profile grants a domain.
    let (pointer, _, _) = field(f.service.launch(&a, launch(&exe, &[])).await.unwrap_err());
    assert_eq!(pointer, "/exe");
    f.service
        .create_profile(ProfileRequest {
            name: "riscv64-for-a".into(),
            spec: ProfileSpec {
                guest_arch: GuestArch::Riscv64,
                engine: EngineKind::Qemu,
                matcher: ProfileMatch {
                    exe: Some("hello*".into()),
                },
                options: Default::default(),
                binfmt_flags: "F".into(),
                launch_domains: vec!["a".into()],
                description: String::new(),
            },
        })
        .await
        .unwrap();
    let p = f.service.launch(&a, launch(&exe, &[])).await.unwrap();
    assert_eq!(
        (p.profile.as_str(), p.security_domain.as_deref()),
        ("riscv64-for-a", Some("a"))
    );
    assert_eq!(f.service.processes(&a).len(), 1);
    assert!(f.service.processes(&b).is_empty());
    assert!(matches!(
        f.service.process(&b, &p.id),
        Err(CompatError::ProcessNotFound(_))
    ));
    assert!(f.service.stop(&b, &p.id).await.is_err());
    assert_eq!(f.service.processes(&Caller::system()).len(), 1);
    let mut request = launch(&exe, &[]);
    request.profile = Some("riscv64-linux".into());
    let (pointer, _, _) = field(f.service.launch(&b, request).await.unwrap_err());
    assert_eq!(pointer, "/profile");
}

#[tokio::test]
async fn the_tcg_plugin_counts_guest_instructions_deterministically() {
    let f = fixture().await;
    let admin = Caller::system();
    let exe = program("cpumix", "riscv64");
    let mut runs = Vec::new();
    for rounds in ["1", "1", "3"] {
        let p = f
            .service
            .launch(&admin, launch(&exe, &[rounds]))
            .await
            .unwrap();
        assert!(p.tcg_plugin, "Debian's qemu-user is a dynamic build");
        let p = ended(&f.service, &admin, &p.id).await;
        assert_eq!(p.exit.as_ref().unwrap().code, Some(0), "{p:?}");
        runs.push((
            p.usage.guest_instructions.expect("counted"),
            p.usage.blocks_translated.expect("counted"),
        ));
    }
    // The same program with the same input executes the same instructions.
    assert_eq!(runs[0], runs[1]);
    let (one, blocks) = runs[0];
    assert!(one > 1_000_000 && blocks > 100 && one > blocks, "{runs:?}");
    // Three rounds execute about three times the work, through mostly the
    // same blocks.
    let (three, blocks_three) = runs[2];
    assert!(three > 2 * one && three < 4 * one, "{runs:?}");
    assert!(blocks_three < 2 * blocks, "{runs:?}");

    // A program killed before QEMU's exit hook reports no counts.
    let p = f
        .service
        .launch(&admin, launch(&program("hello", "riscv64"), &["spin"]))
        .await
        .unwrap();
    let p = f.service.stop(&admin, &p.id).await.unwrap();
    assert_eq!(p.state, ProcessState::Killed);
    assert_eq!(
        (p.usage.guest_instructions, p.usage.blocks_translated),
        (None, None)
    );

    // With counting off, QEMU runs without the plugin.
    f.service.configure(CompatConfig {
        count_instructions: false,
        ..(*f.service.config()).clone()
    });
    let p = f
        .service
        .launch(&admin, launch(&exe, &["1"]))
        .await
        .unwrap();
    assert!(!p.tcg_plugin);
    let p = ended(&f.service, &admin, &p.id).await;
    assert_eq!(p.usage.guest_instructions, None);
}

#[tokio::test]
async fn a_binfmt_launch_runs_the_program_directly_through_a_private_registration() {
    let f = fixture().await;
    let admin = Caller::system();
    let host_before = std::fs::read_dir("/proc/sys/fs/binfmt_misc")
        .map(|d| d.count())
        .unwrap_or(0);
    let exe = program("hello", "riscv64");
    let mut request = launch(&exe, &["exit:3"]);
    request.binfmt = true;
    let p = f.service.launch(&admin, request).await.unwrap();
    assert!(p.binfmt);
    let p = ended(&f.service, &admin, &p.id).await;
    assert_eq!(p.exit.as_ref().unwrap().code, Some(3), "{p:?}");
    // The kernel started QEMU with the program's path, as binfmt_misc does
    // (a direct launch hands QEMU an fd and names the program with -0).
    let canonical = std::fs::canonicalize(&exe).unwrap();
    assert_eq!(p.output, format!("hello from {}\n", canonical.display()));
    // The plugin rode along in QEMU_PLUGIN.
    assert!(p.tcg_plugin);
    assert!(p.usage.guest_instructions.unwrap() > 1000, "{:?}", p.usage);
    // The host's table is as it was.
    let host_after = std::fs::read_dir("/proc/sys/fs/binfmt_misc")
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(host_before, host_after);

    // The report lists each profile's registration.
    let status = f.service.binfmt().await.unwrap();
    assert!(status.private_instances, "{}", status.kernel_release);
    let riscv = status
        .profiles
        .iter()
        .find(|r| r.profile == "riscv64-linux")
        .unwrap();
    let line = riscv.registration.as_deref().unwrap();
    assert!(line.starts_with(":corridor-riscv64-linux:M:0:"), "{line}");
    assert!(line.contains("qemu-riscv64"), "{line}");
    let box64 = status
        .profiles
        .iter()
        .find(|r| r.engine == EngineKind::Box64);
    if let Some(box64) = box64 {
        assert!(box64.registration.is_none() && !box64.note.is_empty());
    }
}
