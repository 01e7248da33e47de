//! FEX-Emu: a per-application JSON file, `AppConfig/<exe>.json` beside the
//! global `Config.json`, whose `Config` object holds option names with
//! string values (FEX stores every option as a string).

use std::collections::BTreeMap;

use corridor_model::compat::{MemoryOrdering, ProfileSpec, SmcChecks};
use serde_json::{Value, json};

use super::{RenderedFile, not_expressible};

fn flag(on: bool) -> Value {
    Value::String(if on { "1" } else { "0" }.to_owned())
}

/// The `AppConfig` file for the spec (or the global `Config.json`
/// fragment when the profile matches every program).
pub fn app_config(spec: &ProfileSpec) -> RenderedFile {
    let o = &spec.options;
    let engine = "FEX-Emu";
    let mut notes = Vec::new();
    let mut config: BTreeMap<&str, Value> = BTreeMap::new();
    if let Some(ordering) = o.memory_ordering {
        // Off drops TSO emulation entirely (fast, breaks most threaded
        // programs); each step up adds vector and memcpy/memset ordering.
        config.insert("TSOEnabled", flag(ordering != MemoryOrdering::Off));
        config.insert(
            "VectorTSOEnabled",
            flag(matches!(
                ordering,
                MemoryOrdering::Strong | MemoryOrdering::Full
            )),
        );
        config.insert(
            "MemcpySetTSOEnabled",
            flag(ordering == MemoryOrdering::Full),
        );
    }
    if let Some(big) = o.big_blocks {
        config.insert("Multiblock", flag(big));
    }
    if let Some(n) = o.max_block_instructions {
        config.insert("MaxInst", Value::String(n.to_string()));
    }
    if let Some(smc) = o.smc_checks {
        let name = match smc {
            SmcChecks::None => "none",
            SmcChecks::Mtrack => "mtrack",
            SmcChecks::Full => "full",
        };
        config.insert("SMCChecks", Value::String(name.to_owned()));
    }
    if let Some(x87) = o.x87_reduced_precision {
        config.insert("X87ReducedPrecision", flag(x87));
    }
    if let Some(root) = &o.sysroot {
        config.insert("RootFS", Value::String(root.clone()));
    }
    if !o.env.is_empty() {
        let env: Vec<Value> = o
            .env
            .iter()
            .map(|(k, v)| Value::String(format!("{k}={v}")))
            .collect();
        config.insert("Env", Value::Array(env));
    }
    for (set, setting) in [
        (o.cpu.is_some(), "cpu"),
        (!o.unset_env.is_empty(), "unset_env"),
        (o.argv0.is_some(), "argv0"),
        (o.uname_release.is_some(), "uname_release"),
        (o.call_ret.is_some(), "call_ret"),
        (o.box64_preset.is_some(), "box64_preset"),
        (o.strace, "strace"),
    ] {
        if set {
            notes.push(not_expressible(engine, setting));
        }
    }
    let path = match spec.matcher.exe.as_deref() {
        Some(exe) if !exe.contains(['*', '?']) => format!("AppConfig/{exe}.json"),
        Some(glob) => {
            notes.push(format!(
                "FEX-Emu names application configs by exact file name; the glob {glob:?} is rendered as the global Config.json"
            ));
            "Config.json".to_owned()
        }
        None => "Config.json".to_owned(),
    };
    let mut text = serde_json::to_string_pretty(&json!({ "Config": config }))
        .unwrap_or_else(|e| unreachable!("a map of strings always serialises: {e}"));
    text.push('\n');
    RenderedFile { path, text, notes }
}
