//! Golden vectors: ELF headers of real cross-compiled programs, Debian's
//! binfmt_misc registrations and the kernel's entry files, and each
//! engine's rendering of one full profile. `UPDATE_GOLDEN=1` rewrites the
//! rendering files (review the diff).

use std::collections::BTreeMap;
use std::path::PathBuf;

use corridor_compat::binfmt::{Entry, Flags, Matcher, Registration};
use corridor_compat::elf::{ElfClass, ElfError, ElfHeader, Endianness};
use corridor_compat::render::{box64, fex, qemu};
use corridor_model::compat::{
    Box64Preset, EngineKind, EngineOptions, GuestArch, MemoryOrdering, ProfileMatch, ProfileSpec,
    SmcChecks,
};

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(actual, expected, "{name} differs from its golden file");
}

/// The first 20 bytes of `riscv64-linux-gnu-gcc -static hello.c`,
/// `aarch64-linux-gnu-gcc` (PIE), and x86-64 / i386 programs.
const RISCV64_EXEC: [u8; 20] = [
    0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x00, 0xf3, 0x00,
];
const AARCH64_DYN: [u8; 20] = [
    0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x03, 0x00, 0xb7, 0x00,
];
const X86_64_GNU: [u8; 20] = [
    0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x00, 0x3e, 0x00,
];
const I386: [u8; 20] = [
    0x7f, 0x45, 0x4c, 0x46, 0x01, 0x01, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x00, 0x03, 0x00,
];
/// A big-endian 64-bit PowerPC executable: parsed, but not served.
const PPC64_BE: [u8; 20] = [
    0x7f, 0x45, 0x4c, 0x46, 0x02, 0x02, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x02, 0x00, 0x15,
];

#[test]
fn elf_headers() {
    let h = ElfHeader::parse(&RISCV64_EXEC).unwrap();
    assert_eq!(
        h,
        ElfHeader {
            class: ElfClass::Elf64,
            endianness: Endianness::Little,
            object_type: 2,
            machine: 0xf3
        }
    );
    assert_eq!(h.guest_arch(), Some(GuestArch::Riscv64));
    assert_eq!(h.describe(), "ELF64 little-endian machine 0xf3");
    assert_eq!(
        ElfHeader::parse(&AARCH64_DYN).unwrap().guest_arch(),
        Some(GuestArch::Aarch64)
    );
    assert_eq!(
        ElfHeader::parse(&X86_64_GNU).unwrap().guest_arch(),
        Some(GuestArch::X86_64)
    );
    assert_eq!(
        ElfHeader::parse(&I386).unwrap().guest_arch(),
        Some(GuestArch::I386)
    );
    let ppc = ElfHeader::parse(&PPC64_BE).unwrap();
    assert_eq!(
        (ppc.machine, ppc.object_type, ppc.endianness),
        (0x15, 2, Endianness::Big)
    );
    assert_eq!(ppc.guest_arch(), None);

    assert_eq!(
        ElfHeader::parse(b"#!/bin/sh\necho hi\n"),
        Err(ElfError::NotElf)
    );
    assert_eq!(
        ElfHeader::parse(&RISCV64_EXEC[..10]),
        Err(ElfError::TooShort { len: 10 })
    );
    let mut bad = RISCV64_EXEC;
    bad[4] = 3;
    assert_eq!(ElfHeader::parse(&bad), Err(ElfError::Class(3)));
    bad = RISCV64_EXEC;
    bad[5] = 0;
    assert_eq!(ElfHeader::parse(&bad), Err(ElfError::Data(0)));
}

/// Debian 12's `/usr/lib/binfmt.d/qemu-riscv64.conf`.
const DEBIAN_RISCV64: &str = r":qemu-riscv64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/libexec/qemu-binfmt/riscv64-binfmt-P:OPF";

/// What the kernel shows for it in `/proc/sys/fs/binfmt_misc/qemu-riscv64`.
const DEBIAN_RISCV64_ENTRY: &str = "enabled
interpreter /usr/libexec/qemu-binfmt/riscv64-binfmt-P
flags: POF
offset 0
magic 7f454c460201010000000000000000000200f300
mask ffffffffffffff00fffffffffffffffffeffffff
";

#[test]
fn debian_registration_parses_and_matches_the_entry_file() {
    let r = Registration::parse(DEBIAN_RISCV64).unwrap();
    assert_eq!(r.name, "qemu-riscv64");
    assert_eq!(r.interpreter, "/usr/libexec/qemu-binfmt/riscv64-binfmt-P");
    assert_eq!(
        r.flags,
        Flags {
            preserve_argv0: true,
            open_binary: true,
            credentials: false,
            fix_binary: true
        }
    );
    let Matcher::Magic {
        offset,
        magic,
        mask,
    } = &r.matcher
    else {
        panic!("magic entry expected")
    };
    assert_eq!(
        (*offset, magic.len(), mask.as_ref().map(Vec::len)),
        (0, 20, Some(20))
    );
    let entry = Entry::parse(DEBIAN_RISCV64_ENTRY).unwrap();
    assert_eq!(entry, Entry::from(&r));
    assert_eq!(entry.render(), DEBIAN_RISCV64_ENTRY);
    // The kernel's check: a riscv64 executable and PIE match, aarch64 does not.
    assert!(entry.matches(&RISCV64_EXEC, "hello"));
    let mut pie = RISCV64_EXEC;
    pie[16] = 3;
    assert!(entry.matches(&pie, "hello"));
    assert!(!entry.matches(&AARCH64_DYN, "hello"));
    // compatd's own registration for riscv64 selects the same files.
    let ours = corridor_compat::registration_for(
        "riscv64-linux",
        GuestArch::Riscv64,
        "/usr/bin/qemu-riscv64-static",
        "F",
    )
    .unwrap();
    assert_eq!(ours.matcher, r.matcher);
    assert_eq!(
        ours.render().unwrap(),
        r":corridor-riscv64-linux:M:0:\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-riscv64-static:F"
    );
}

#[test]
fn extension_entries_and_refusals() {
    let r = Registration::parse("|dosexe|E||EXE||/usr/bin/wine|\n").unwrap();
    assert_eq!(r.matcher, Matcher::Extension("EXE".into()));
    assert_eq!(r.render().unwrap(), ":dosexe:E::EXE::/usr/bin/wine:");
    let entry =
        Entry::parse("disabled\ninterpreter /usr/bin/wine\nflags: \nextension .EXE\n").unwrap();
    assert!(!entry.enabled);
    assert_eq!(entry.matcher, r.matcher);
    for bad in [
        ":a:X::m::/i:",             // type
        ":a/b:M::m::/i:",           // name with a slash
        ":a:M::::/i:",              // empty magic
        r":a:M::\x01\x02:\xff:/i:", // mask shorter than magic
        ":a:M:250:abcdefgh::/i:",   // past the 256 bytes read
        ":a:E:1:exe::/i:",          // offset on an extension
        ":a:M::m:::",               // no interpreter
        ":a:M::m::/i:Z",            // unknown flag
        ":a:M::m::/i",              // six fields
        ":a:M:x:m::/i:",            // offset not decimal
    ] {
        assert!(Registration::parse(bad).is_err(), "{bad} accepted");
    }
}

fn full_spec() -> ProfileSpec {
    ProfileSpec {
        guest_arch: GuestArch::X86_64,
        engine: EngineKind::Qemu,
        matcher: ProfileMatch {
            exe: Some("game.bin".into()),
        },
        options: EngineOptions {
            cpu: Some("max".into()),
            sysroot: Some("/srv/x86_64-root".into()),
            env: BTreeMap::from([
                ("LANG".into(), "C.UTF-8".into()),
                ("LIST".into(), "a,b".into()),
            ]),
            unset_env: vec!["LD_PRELOAD".into()],
            argv0: Some("game".into()),
            uname_release: Some("6.1.0".into()),
            memory_ordering: Some(MemoryOrdering::Strong),
            max_block_instructions: Some(1),
            big_blocks: Some(false),
            call_ret: Some(true),
            x87_reduced_precision: Some(true),
            smc_checks: Some(SmcChecks::Mtrack),
            box64_preset: Some(Box64Preset::Safe),
            strace: true,
        },
        binfmt_flags: "F".into(),
        launch_domains: vec![],
        description: "golden: every option set".into(),
    }
}

fn with_notes(text: String, notes: &[String]) -> String {
    let mut out = text;
    for note in notes {
        out.push_str("# note: ");
        out.push_str(note);
        out.push('\n');
    }
    out
}

#[test]
fn qemu_rendering() {
    let spec = full_spec();
    let cmd = qemu::command(
        &spec,
        "/usr/bin/qemu-x86_64",
        "/srv/game.bin",
        &["--level".into(), "two words".into()],
        Some(qemu::Plugin {
            path: "/usr/lib/corridor/libinsn.so",
            args: &["inline=on".into()],
        }),
    );
    golden(
        "qemu_command.txt",
        &with_notes(qemu::shell_line(&cmd) + "\n", &cmd.notes),
    );
    let (env, notes) = qemu::binfmt_env(&spec);
    let text: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    golden("qemu_binfmt_env.txt", &with_notes(text, &notes));
}

#[test]
fn box64_rendering() {
    let mut spec = full_spec();
    spec.engine = EngineKind::Box64;
    let file = box64::section("game-box64", &spec);
    assert_eq!(file.path, ".box64rc");
    golden("box64rc.txt", &with_notes(file.text, &file.notes));
}

#[test]
fn fex_rendering() {
    let mut spec = full_spec();
    spec.engine = EngineKind::Fex;
    let file = fex::app_config(&spec);
    assert_eq!(file.path, "AppConfig/game.bin.json");
    golden("fex_appconfig.json", &file.text);
    golden(
        "fex_appconfig.notes",
        &with_notes(String::new(), &file.notes),
    );
    // A glob cannot name a FEX file: the global config, with a note.
    spec.matcher.exe = Some("game*".into());
    let file = fex::app_config(&spec);
    assert_eq!(file.path, "Config.json");
    assert!(file.notes.iter().any(|n| n.contains("exact file name")));
}
