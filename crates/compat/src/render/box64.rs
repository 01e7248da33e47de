//! box64: one `[name]` section of a box64rc file. box64 reads
//! `/etc/box64.box64rc`, then `~/.box64rc` (which wins); a section names
//! the executable (case-insensitive, wildcards allowed; `[*]` is global)
//! and holds `BOX64_*` settings.

use std::fmt::Write as _;

use corridor_model::compat::{Box64Preset, MemoryOrdering, ProfileSpec};

use super::{RenderedFile, not_expressible};

fn strongmem(ordering: MemoryOrdering) -> u8 {
    match ordering {
        MemoryOrdering::Off => 0,
        MemoryOrdering::Weak => 1,
        MemoryOrdering::Medium => 2,
        MemoryOrdering::Strong => 3,
        MemoryOrdering::Full => 4,
    }
}

fn preset(p: Box64Preset) -> &'static str {
    match p {
        Box64Preset::Safest => "safest",
        Box64Preset::Safe => "safe",
        Box64Preset::Default => "default",
        Box64Preset::Fast => "fast",
        Box64Preset::Fastest => "fastest",
    }
}

/// The section for `profile_name`'s spec.
pub fn section(profile_name: &str, spec: &ProfileSpec) -> RenderedFile {
    let o = &spec.options;
    let engine = "box64";
    let mut notes = Vec::new();
    let name = spec.matcher.exe.as_deref().unwrap_or("*");
    let mut text = format!("[{name}]\n");
    let _ = writeln!(text, "# corridor profile {profile_name}");
    for line in spec.description.lines() {
        let _ = writeln!(text, "# {line}");
    }
    let mut set = |key: &str, value: String| {
        let _ = writeln!(text, "{key}={value}");
    };
    if let Some(p) = o.box64_preset {
        set("BOX64_PROFILE", preset(p).to_owned());
    }
    if let Some(ordering) = o.memory_ordering {
        set("BOX64_DYNAREC_STRONGMEM", strongmem(ordering).to_string());
    }
    if let Some(big) = o.big_blocks {
        set(
            "BOX64_DYNAREC_BIGBLOCK",
            if big { "2" } else { "0" }.to_owned(),
        );
    }
    if let Some(callret) = o.call_ret {
        set("BOX64_DYNAREC_CALLRET", u8::from(callret).to_string());
    }
    if let Some(x87) = o.x87_reduced_precision {
        set("BOX64_X87_NO80BITS", u8::from(x87).to_string());
    }
    if let Some(root) = &o.sysroot {
        set(
            "BOX64_LD_LIBRARY_PATH",
            format!("{root}/lib/x86_64-linux-gnu:{root}/usr/lib/x86_64-linux-gnu"),
        );
    }
    for (set_, setting) in [
        (o.cpu.is_some(), "cpu"),
        (!o.env.is_empty(), "env"),
        (!o.unset_env.is_empty(), "unset_env"),
        (o.argv0.is_some(), "argv0"),
        (o.uname_release.is_some(), "uname_release"),
        (o.max_block_instructions.is_some(), "max_block_instructions"),
        (o.smc_checks.is_some(), "smc_checks"),
        (o.strace, "strace"),
    ] {
        if set_ {
            notes.push(not_expressible(engine, setting));
        }
    }
    RenderedFile {
        path: ".box64rc".to_owned(),
        text,
        notes,
    }
}
