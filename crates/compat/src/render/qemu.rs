//! QEMU user mode: command-line flags for a direct launch, and their
//! environment twins (`QEMU_CPU`, …) for a launch through binfmt_misc,
//! where the kernel passes no flags.

use corridor_model::compat::{EngineOptions, ProfileSpec};

use super::not_expressible;

/// How to start one program under QEMU user mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuCommand {
    /// The translator binary (`/usr/bin/qemu-riscv64`).
    pub program: String,
    /// Arguments after the program: QEMU's flags, the guest program, its
    /// arguments.
    pub args: Vec<String>,
    /// Environment the guest needs that `-E` cannot carry (values with a
    /// comma: QEMU splits `-E` on commas); QEMU passes its own
    /// environment on to the guest.
    pub env: Vec<(String, String)>,
    pub notes: Vec<String>,
}

/// Where to start a TCG plugin, for the dynamic QEMU build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plugin<'a> {
    pub path: &'a str,
    /// `name=value` arguments.
    pub args: &'a [String],
}

impl Plugin<'_> {
    /// The value of `-plugin` (or of `QEMU_PLUGIN` for a launch through
    /// binfmt_misc). QEMU reads it as an option list: a comma inside the
    /// path or an argument is written twice.
    pub fn option(&self) -> String {
        let mut option = self.path.replace(',', ",,");
        for arg in self.args {
            option.push(',');
            option.push_str(&arg.replace(',', ",,"));
        }
        option
    }
}

fn ignored(options: &EngineOptions) -> Vec<String> {
    let mut notes = Vec::new();
    let engine = "QEMU user mode";
    if options.memory_ordering.is_some() {
        notes.push(format!(
            "{engine} orders guest memory itself (TCG inserts the guest's fences); `memory_ordering` is not applied"
        ));
    }
    if let Some(n) = options.max_block_instructions
        && n != 1
    {
        notes.push(format!(
            "{engine} can only limit blocks to one instruction (-singlestep); `max_block_instructions = {n}` is not applied"
        ));
    }
    for (set, name) in [
        (options.big_blocks.is_some(), "big_blocks"),
        (options.call_ret.is_some(), "call_ret"),
        (
            options.x87_reduced_precision.is_some(),
            "x87_reduced_precision",
        ),
        (options.smc_checks.is_some(), "smc_checks"),
        (options.box64_preset.is_some(), "box64_preset"),
    ] {
        if set {
            notes.push(not_expressible(engine, name));
        }
    }
    notes
}

/// The command that runs `exe` (a path QEMU can open) with `args` under
/// `interpreter`.
pub fn command(
    spec: &ProfileSpec,
    interpreter: &str,
    exe: &str,
    args: &[String],
    plugin: Option<Plugin<'_>>,
) -> QemuCommand {
    let o = &spec.options;
    let mut argv = Vec::new();
    let mut env = Vec::new();
    if let Some(cpu) = &o.cpu {
        argv.extend(["-cpu".to_owned(), cpu.clone()]);
    }
    if let Some(root) = &o.sysroot {
        argv.extend(["-L".to_owned(), root.clone()]);
    }
    for (name, value) in &o.env {
        if value.contains(',') {
            env.push((name.clone(), value.clone()));
        } else {
            argv.extend(["-E".to_owned(), format!("{name}={value}")]);
        }
    }
    for name in &o.unset_env {
        argv.extend(["-U".to_owned(), name.clone()]);
    }
    if let Some(argv0) = &o.argv0 {
        argv.extend(["-0".to_owned(), argv0.clone()]);
    }
    if let Some(release) = &o.uname_release {
        argv.extend(["-r".to_owned(), release.clone()]);
    }
    if o.max_block_instructions == Some(1) {
        // QEMU 7.2's name; 8.1 renamed it -one-insn-per-tb.
        argv.push("-singlestep".to_owned());
    }
    if o.strace {
        argv.push("-strace".to_owned());
    }
    if let Some(plugin) = plugin {
        argv.extend(["-plugin".to_owned(), plugin.option()]);
    }
    argv.push(exe.to_owned());
    argv.extend(args.iter().cloned());
    QemuCommand {
        program: interpreter.to_owned(),
        args: argv,
        env,
        notes: ignored(o),
    }
}

/// The environment twins of the profile's flags, for an interpreter the
/// kernel starts through binfmt_misc (`QEMU_CPU=rv64`, …).
pub fn binfmt_env(spec: &ProfileSpec) -> (Vec<(String, String)>, Vec<String>) {
    let o = &spec.options;
    let mut env = Vec::new();
    let mut notes = ignored(o);
    let mut set = |name: &str, value: &str| env.push((name.to_owned(), value.to_owned()));
    if let Some(cpu) = &o.cpu {
        set("QEMU_CPU", cpu);
    }
    if let Some(root) = &o.sysroot {
        set("QEMU_LD_PREFIX", root);
    }
    let (plain, commas): (Vec<_>, Vec<_>) = o.env.iter().partition(|(_, v)| !v.contains(','));
    if !plain.is_empty() {
        let joined: Vec<String> = plain.iter().map(|(k, v)| format!("{k}={v}")).collect();
        set("QEMU_SET_ENV", &joined.join(","));
    }
    for (name, _) in commas {
        notes.push(format!(
            "QEMU_SET_ENV splits on commas; `env.{name}` holds one and must be set in the environment directly"
        ));
    }
    if !o.unset_env.is_empty() {
        set("QEMU_UNSET_ENV", &o.unset_env.join(","));
    }
    if let Some(argv0) = &o.argv0 {
        set("QEMU_ARGV0", argv0);
    }
    if let Some(release) = &o.uname_release {
        set("QEMU_UNAME", release);
    }
    if o.max_block_instructions == Some(1) {
        set("QEMU_SINGLESTEP", "1");
    }
    if o.strace {
        set("QEMU_STRACE", "1");
    }
    (env, notes)
}

/// A shell-quoted one-line rendering of a command, for golden files and
/// humans.
pub fn shell_line(command: &QemuCommand) -> String {
    let quote = |s: &str| {
        if !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._-=,+:".contains(&b))
        {
            s.to_owned()
        } else {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
    };
    let mut words: Vec<String> = command
        .env
        .iter()
        .map(|(k, v)| format!("{k}={}", quote(v)))
        .collect();
    words.push(quote(&command.program));
    words.extend(command.args.iter().map(|a| quote(a)));
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use corridor_model::compat::{EngineKind, GuestArch};

    #[test]
    fn commas_in_a_plugin_path_or_argument_are_doubled() {
        let spec = ProfileSpec {
            guest_arch: GuestArch::Riscv64,
            engine: EngineKind::Qemu,
            matcher: Default::default(),
            options: Default::default(),
            binfmt_flags: String::new(),
            launch_domains: Vec::new(),
            description: String::new(),
        };
        let cmd = command(
            &spec,
            "/usr/bin/qemu-riscv64",
            "/p",
            &[],
            Some(Plugin {
                path: "/a,b/counter.so",
                args: &["out=/w/x,y".into()],
            }),
        );
        assert_eq!(
            cmd.args,
            ["-plugin", "/a,,b/counter.so,out=/w/x,,y", "/p"].map(String::from)
        );
    }
}
