//! compatd's API types: translation engines, per-program profiles and the
//! processes launched under them (`/v1/compat/*`).
//!
//! compatd translates nothing itself: a profile tells an existing
//! translator (QEMU user mode, box64, FEX-Emu) how to run one program, the
//! way box64's rc sections and FEX's `AppConfig` files do.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::meta::ResourceMeta;
use crate::problem::FieldViolation;
use crate::validate::{Validate, Violations, pointer, rule};

/// Pattern of a profile name (also its id): box64 section names and FEX
/// file names are derived from it, so no path separators.
pub const PROFILE_NAME_PATTERN: &str = "^[A-Za-z0-9._-]{1,63}$";
/// Pattern of an environment variable name.
pub const ENV_NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]{0,127}$";
/// Pattern of an executable-name match: a file name with `*` and `?`
/// wildcards (box64's section names allow the same).
pub const EXE_GLOB_PATTERN: &str = "^[A-Za-z0-9._+*?-]{1,128}$";
/// Most environment entries a profile or launch may set.
pub const MAX_ENV: usize = 64;
/// Most arguments a launch may pass.
pub const MAX_ARGS: usize = 256;
/// Longest argument, environment value or path, in bytes.
pub const MAX_VALUE_LEN: usize = 4096;
/// Longest wall-clock limit of a launch, seconds.
pub const MAX_TIMEOUT_S: u32 = 3600;

/// The instruction set a program was built for, as its ELF header says.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum GuestArch {
    X86_64,
    I386,
    Aarch64,
    Arm,
    Riscv64,
}

impl GuestArch {
    pub const ALL: [GuestArch; 5] = [
        GuestArch::X86_64,
        GuestArch::I386,
        GuestArch::Aarch64,
        GuestArch::Arm,
        GuestArch::Riscv64,
    ];

    /// The wire name, which is also QEMU's target name (`qemu-<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            GuestArch::X86_64 => "x86_64",
            GuestArch::I386 => "i386",
            GuestArch::Aarch64 => "aarch64",
            GuestArch::Arm => "arm",
            GuestArch::Riscv64 => "riscv64",
        }
    }
}

impl std::fmt::Display for GuestArch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A translator compatd knows how to drive.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// QEMU user mode (`qemu-<arch>`, `qemu-<arch>-static`).
    Qemu,
    /// box64: x86-64 on aarch64/riscv64/loongarch64 hosts.
    Box64,
    /// FEX-Emu: x86/x86-64 on aarch64 hosts.
    Fex,
}

impl EngineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Qemu => "qemu",
            EngineKind::Box64 => "box64",
            EngineKind::Fex => "fex",
        }
    }

    /// Guest architectures the engine translates.
    pub fn guests(self) -> &'static [GuestArch] {
        match self {
            EngineKind::Qemu => &GuestArch::ALL,
            EngineKind::Box64 => &[GuestArch::X86_64],
            EngineKind::Fex => &[GuestArch::X86_64, GuestArch::I386],
        }
    }
}

impl std::fmt::Display for EngineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How strictly x86's total store order is emulated on a weakly ordered
/// host: box64's `BOX64_DYNAREC_STRONGMEM` 0–4, FEX's TSO switches.
/// Stronger is more correct for threaded programs and slower.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemoryOrdering {
    Off,
    Weak,
    Medium,
    Strong,
    Full,
}

/// box64's `BOX64_PROFILE` presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Box64Preset {
    Safest,
    Safe,
    Default,
    Fast,
    Fastest,
}

/// FEX's self-modifying-code detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmcChecks {
    None,
    Mtrack,
    Full,
}

/// Which programs a profile applies to when a launch names none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileMatch {
    /// The executable's file name, `*` and `?` as wildcards; absent
    /// matches every program of the profile's guest architecture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "hello*", pattern = "^[A-Za-z0-9._+*?-]{1,128}$")]
    pub exe: Option<String>,
}

/// Engine settings. Each engine honours the ones it has; the renderer
/// reports the others as notes rather than dropping them silently.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EngineOptions {
    /// CPU model (QEMU `-cpu`, e.g. `rv64`, `sifive-u54`, `cortex-a72`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "rv64", pattern = "^[A-Za-z0-9._,=+-]{1,64}$")]
    pub cpu: Option<String>,
    /// Guest root for the dynamic loader and libraries (QEMU `-L`, FEX
    /// `RootFS`, box64 `BOX64_LD_LIBRARY_PATH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "/usr/riscv64-linux-gnu", pattern = "^/[^\\x00]{0,4095}$")]
    pub sysroot: Option<String>,
    /// Environment the guest program sees in addition to the launch's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(schema_with = env_schema)]
    pub env: BTreeMap<String, String>,
    /// Variables removed from the guest's environment (QEMU `-U`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = env_names_schema)]
    pub unset_env: Vec<String>,
    /// `argv[0]` the guest sees (QEMU `-0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[^\\x00]{1,255}$")]
    pub argv0: Option<String>,
    /// Kernel release `uname` reports to the guest (QEMU `-r`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "6.1.0", pattern = "^[A-Za-z0-9._+-]{1,64}$")]
    pub uname_release: Option<String>,
    /// x86 memory-ordering strength (box64, FEX).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_ordering: Option<MemoryOrdering>,
    /// Most guest instructions per translated block: FEX `MaxInst`; 1 is
    /// QEMU's `-singlestep` (one instruction per block, ~38× slower here).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::units::integral_option"
    )]
    #[schema(minimum = 1, maximum = 65535)]
    pub max_block_instructions: Option<u32>,
    /// Translate across branches into larger blocks: FEX `Multiblock`,
    /// box64 `BOX64_DYNAREC_BIGBLOCK` (on = 2, off = 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub big_blocks: Option<bool>,
    /// box64 `BOX64_DYNAREC_CALLRET`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_ret: Option<bool>,
    /// x87 in 64-bit doubles (box64 `BOX64_X87_NO80BITS`, FEX
    /// `X87ReducedPrecision`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x87_reduced_precision: Option<bool>,
    /// FEX `SMCChecks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smc_checks: Option<SmcChecks>,
    /// box64 `BOX64_PROFILE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub box64_preset: Option<Box64Preset>,
    /// Log the guest's system calls (QEMU `-strace`) into the output log.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strace: bool,
}

fn env_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(ENV_NAME_PATTERN)),
        ))
        .additional_properties(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[^\\x00]{0,4096}$")),
        ))
        .max_properties(Some(MAX_ENV))
        .into()
}

fn env_names_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(ENV_NAME_PATTERN)),
        )
        .max_items(Some(MAX_ENV))
        .into()
}

fn args_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[^\\x00]{0,4096}$")),
        )
        .max_items(Some(MAX_ARGS))
        .into()
}

fn domains_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(crate::schema::SECURITY_DOMAIN_PATTERN)),
        )
        .max_items(Some(64))
        .unique_items(true)
        .into()
}

/// What a profile says, without its name: the body of
/// `PUT /v1/compat/profiles/{name}` and the `spec` of a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    pub guest_arch: GuestArch,
    pub engine: EngineKind,
    #[serde(default, rename = "match")]
    pub matcher: ProfileMatch,
    #[serde(default)]
    pub options: EngineOptions,
    /// binfmt_misc flags for a registration of this profile: `P`
    /// (preserve argv[0]), `O` (open binary), `C` (credentials; implies
    /// `O`), `F` (fix binary).
    #[serde(default = "default_binfmt_flags")]
    #[schema(example = "F", pattern = "^P?O?C?F?$")]
    pub binfmt_flags: String,
    /// Security domains that may launch programs with this profile
    /// (launching is otherwise an operator's or admin's action).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = domains_schema)]
    pub launch_domains: Vec<String>,
    /// Free text: what the profile is for, where it came from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schema(max_length = 512)]
    pub description: String,
}

fn default_binfmt_flags() -> String {
    "F".to_owned()
}

/// Body of `POST /v1/compat/profiles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileRequest {
    /// Unique; the profile's id.
    #[schema(example = "riscv64-default", pattern = "^[A-Za-z0-9._-]{1,63}$")]
    pub name: String,
    pub spec: ProfileSpec,
}

/// A translation profile (`/v1/compat/profiles/{name}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CompatProfile {
    /// The profile's name.
    #[schema(example = "riscv64-default")]
    pub id: String,
    pub spec: ProfileSpec,
    /// Came from the built-in catalogue. The catalogue is loaded at start
    /// only into an empty profile store, so a deleted built-in stays
    /// deleted.
    #[serde(default)]
    pub builtin: bool,
    #[serde(flatten)]
    pub meta: ResourceMeta,
}

/// Whether `name` is a valid profile name.
pub fn is_profile_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn is_env_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=128).contains(&bytes.len())
        && (bytes[0].is_ascii_alphabetic() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

fn is_exe_glob(glob: &str) -> bool {
    (1..=128).contains(&glob.len())
        && glob.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'*' | b'?' | b'-')
        })
}

fn simple_token(value: &str, extra: &[u8], max: usize) -> bool {
    (1..=max).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b) || extra.contains(&b))
}

/// Checks a map of environment variables (names, sizes, no NUL).
pub fn validate_env(v: &mut Violations, at: &str, env: &BTreeMap<String, String>) {
    if env.len() > MAX_ENV {
        v.add(at, rule::LENGTH, format!("at most {MAX_ENV} variables"));
    }
    for (name, value) in env {
        if !is_env_name(name) {
            v.add(
                pointer(at, name),
                rule::FORMAT,
                format!("{name:?} is not a variable name ({ENV_NAME_PATTERN})"),
            );
        }
        if too_long(value, MAX_VALUE_LEN) {
            v.add(
                pointer(at, name),
                rule::FORMAT,
                format!("at most {MAX_VALUE_LEN} characters and no NUL"),
            );
        }
    }
}

/// Longer than `max` characters (the unit of the schema's patterns), or
/// holding a NUL.
fn too_long(value: &str, max: usize) -> bool {
    value.chars().count() > max || value.contains('\0')
}

fn absolute_path(v: &mut Violations, at: &str, path: &str) {
    if !path.starts_with('/') || too_long(path, MAX_VALUE_LEN) {
        v.add(
            at,
            rule::FORMAT,
            format!("{path:?} is not an absolute path of at most {MAX_VALUE_LEN} characters"),
        );
    }
}

impl Validate for EngineOptions {
    fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        if let Some(cpu) = &self.cpu
            && !simple_token(cpu, b",=", 64)
        {
            v.add(
                "/cpu",
                rule::FORMAT,
                format!("{cpu:?} is not a CPU model name"),
            );
        }
        if let Some(root) = &self.sysroot {
            absolute_path(&mut v, "/sysroot", root);
        }
        validate_env(&mut v, "/env", &self.env);
        if self.unset_env.len() > MAX_ENV {
            v.add(
                "/unset_env",
                rule::LENGTH,
                format!("at most {MAX_ENV} names"),
            );
        }
        for (i, name) in self.unset_env.iter().enumerate() {
            if !is_env_name(name) {
                v.add(
                    pointer("/unset_env", i),
                    rule::FORMAT,
                    format!("{name:?} is not a variable name"),
                );
            }
        }
        if let Some(argv0) = &self.argv0
            && (argv0.is_empty() || too_long(argv0, 255))
        {
            v.add("/argv0", rule::FORMAT, "1 to 255 bytes, no NUL");
        }
        if let Some(release) = &self.uname_release
            && !simple_token(release, b"", 64)
        {
            v.add(
                "/uname_release",
                rule::FORMAT,
                format!("{release:?} is not a kernel release string"),
            );
        }
        if let Some(n) = self.max_block_instructions {
            v.range("/max_block_instructions", n, 1, 65535);
        }
        v.into_result()
    }
}

/// Whether `flags` are binfmt_misc flag letters in the kernel's order
/// (`POCF`, each at most once).
pub fn binfmt_flags_valid(flags: &str) -> bool {
    let mut rest = flags;
    for letter in ["P", "O", "C", "F"] {
        rest = rest.strip_prefix(letter).unwrap_or(rest);
    }
    rest.is_empty()
}

impl Validate for ProfileSpec {
    fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        if !self.engine.guests().contains(&self.guest_arch) {
            v.add(
                "/engine",
                rule::COMPATIBLE,
                format!(
                    "{} does not translate {} programs (it serves {})",
                    self.engine,
                    self.guest_arch,
                    self.engine
                        .guests()
                        .iter()
                        .map(|g| g.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        if let Some(glob) = &self.matcher.exe
            && !is_exe_glob(glob)
        {
            v.add(
                "/match/exe",
                rule::FORMAT,
                format!("{glob:?} is not a file-name glob ({EXE_GLOB_PATTERN})"),
            );
        }
        v.nested("/options", self.options.validate());
        if !binfmt_flags_valid(&self.binfmt_flags) {
            v.add(
                "/binfmt_flags",
                rule::FORMAT,
                format!(
                    "{:?} is not binfmt_misc flags: P, O, C, F, each at most once, in that order",
                    self.binfmt_flags
                ),
            );
        }
        if self.launch_domains.len() > 64 {
            v.add("/launch_domains", rule::LENGTH, "at most 64 domains");
        }
        for (i, domain) in self.launch_domains.iter().enumerate() {
            let at = pointer("/launch_domains", i);
            if v.security_domain(&at, domain) && self.launch_domains[..i].contains(domain) {
                v.add(at, rule::UNIQUE, format!("{domain:?} is listed twice"));
            }
        }
        if self.description.chars().count() > 512 {
            v.add("/description", rule::LENGTH, "at most 512 characters");
        }
        v.into_result()
    }
}

impl Validate for ProfileRequest {
    fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        if !is_profile_name(&self.name) {
            v.add(
                "/name",
                rule::FORMAT,
                format!(
                    "{:?} is not a profile name ({PROFILE_NAME_PATTERN})",
                    self.name
                ),
            );
        }
        v.nested("/spec", self.spec.validate());
        v.into_result()
    }
}

/// One installed engine binary, or an engine that is not installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EngineReport {
    pub engine: EngineKind,
    /// Guest architectures it serves here (empty when not installed).
    pub guests: Vec<GuestArch>,
    pub installed: bool,
    /// What `--version` printed, first line (QEMU), when installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// One binary per guest architecture and build.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binaries: Vec<EngineBinary>,
    /// Why it is unavailable, or what is special about it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// One translator binary found on this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EngineBinary {
    pub guest_arch: GuestArch,
    pub path: String,
    /// The statically linked build (`qemu-<arch>-static`), which refuses
    /// TCG plugins.
    pub static_build: bool,
    /// Accepts `-plugin` (the dynamic build).
    pub plugins: bool,
}

/// One engine's rendering of a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RenderedConfig {
    pub engine: EngineKind,
    /// Where the engine reads it (`.box64rc`, `AppConfig/<exe>.json`), or
    /// `argv` / `binfmt environment` for QEMU.
    pub path: String,
    pub text: String,
    /// Settings of the profile this engine cannot express.
    pub notes: Vec<String>,
}

/// Body of `POST /v1/compat/processes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LaunchRequest {
    /// Absolute path of the guest program. What no schema can state is a
    /// 422 on `/exe` with its rule: `allowed_roots` (it resolves outside
    /// the directories the operator allowed, or inside corridord's state
    /// directory), `exists` (no such file, or no profile serves it),
    /// `readable`, `elf` (not an ELF file, or an architecture no engine
    /// here serves).
    #[schema(example = "/srv/compat/hello.riscv64", pattern = "^/[^\\x00]{0,4095}$")]
    pub exe: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = args_schema)]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(schema_with = env_schema)]
    pub env: BTreeMap<String, String>,
    /// The profile to run under; absent picks one by the program's ELF
    /// header and file name. A 422 on `/profile` says why one cannot be
    /// used: `exists` (none of that name is available to the caller),
    /// `compatible` (another guest architecture), `installed` (its engine
    /// is not installed here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,63}$")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "tenantA", pattern = "^[A-Za-z0-9_-]{1,63}$")]
    pub security_domain: Option<String>,
    /// Wall-clock limit; the process is killed after it (default 60).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::units::integral_option"
    )]
    #[schema(minimum = 1, maximum = 3600)]
    pub timeout_s: Option<u32>,
    /// Start the program as the kernel would through binfmt_misc: in a user
    /// and mount namespace of its own whose private binfmt_misc instance
    /// (Linux 6.7 and later) holds only this profile's registration, the
    /// program is executed directly and the kernel picks the interpreter.
    /// The host's table is never touched. The profile's options reach QEMU
    /// as their environment twins (`QEMU_CPU`, …). A 422 on `/binfmt`
    /// (rule `supported`) when this kernel has no private instances.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub binfmt: bool,
}

impl Validate for LaunchRequest {
    fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        absolute_path(&mut v, "/exe", &self.exe);
        if self.args.len() > MAX_ARGS {
            v.add(
                "/args",
                rule::LENGTH,
                format!("at most {MAX_ARGS} arguments"),
            );
        }
        for (i, arg) in self.args.iter().enumerate() {
            if too_long(arg, MAX_VALUE_LEN) {
                v.add(
                    pointer("/args", i),
                    rule::FORMAT,
                    format!("at most {MAX_VALUE_LEN} characters and no NUL"),
                );
            }
        }
        validate_env(&mut v, "/env", &self.env);
        if let Some(profile) = &self.profile
            && !is_profile_name(profile)
        {
            v.add(
                "/profile",
                rule::FORMAT,
                format!("{profile:?} is not a profile name"),
            );
        }
        if let Some(domain) = &self.security_domain {
            v.security_domain("/security_domain", domain);
        }
        if let Some(t) = self.timeout_s {
            v.range("/timeout_s", t, 1, MAX_TIMEOUT_S);
        }
        v.into_result()
    }
}

/// Where a launched process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProcessState {
    Running,
    /// Ended by itself (exit or a signal it caused).
    Exited,
    /// Stopped by `DELETE` or its wall-clock limit.
    Killed,
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExitStatus {
    /// Exit code, when it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    /// Terminating signal number, when a signal ended it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    pub core_dumped: bool,
}

/// What a process cost, from the kernel (`/proc/<pid>` while it runs,
/// `wait4`'s rusage once it ended).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProcessUsage {
    pub utime_s: f64,
    pub stime_s: f64,
    pub peak_rss_bytes: u64,
    /// Threads now (running) or the most seen (ended).
    pub threads: u32,
    /// Guest instructions QEMU executed, counted by compatd's TCG plugin
    /// and reported when the program exits. Absent while it runs, without
    /// the plugin (see `tcg_plugin`), or when it was killed before QEMU's
    /// exit hook ran. Counted per translation block entered: exact for a
    /// single-threaded guest; concurrent guest threads can lose increments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_instructions: Option<u64>,
    /// Translation blocks QEMU translated (the same plugin and conditions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks_translated: Option<u64>,
}

/// Who a launched program runs as, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
    /// False when corridord is not root and the program runs as
    /// corridord's own user (it can then read what corridord can).
    pub isolated: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// A program launched under an engine (`/v1/compat/processes/{id}`).
/// Kept in corridord's memory: processes are its children and end with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CompatProcess {
    #[schema(example = "proc-3f2a9c1b7d04")]
    pub id: String,
    pub pid: u32,
    pub profile: String,
    pub engine: EngineKind,
    pub guest_arch: GuestArch,
    /// The translator binary that runs the program.
    pub interpreter: String,
    pub exe: String,
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_domain: Option<String>,
    pub run_as: RunAs,
    pub working_dir: String,
    /// Whether compatd's TCG counting plugin runs inside this QEMU: only
    /// a dynamic QEMU build loads plugins, and counting can be switched
    /// off (`[compat] count_instructions`).
    pub tcg_plugin: bool,
    /// Whether it was started through a private binfmt_misc registration
    /// (`binfmt` in the launch) rather than by naming the interpreter.
    pub binfmt: bool,
    pub state: ProcessState,
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitStatus>,
    pub usage: ProcessUsage,
    /// The last bytes of stdout and stderr, interleaved (lossy UTF-8).
    pub output: String,
    /// Bytes of output dropped from the front to keep the log bounded.
    pub output_dropped_bytes: u64,
}

/// binfmt_misc as compatd sees it (`GET /v1/compat/binfmt`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BinfmtStatus {
    /// The host's table, read now. compatd never writes it.
    pub host: BinfmtHostTable,
    /// This kernel's release (`uname -r`).
    pub kernel_release: String,
    /// Whether this kernel gives a user namespace a binfmt_misc instance of
    /// its own (Linux 6.7 and later): what launches with `binfmt` use.
    pub private_instances: bool,
    /// Each profile's registration, as compatd writes it into a private
    /// instance.
    pub profiles: Vec<BinfmtProfileRegistration>,
}

/// The host's binfmt_misc table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BinfmtHostTable {
    /// Where it is read (`/proc/sys/fs/binfmt_misc`).
    pub path: String,
    /// Whether binfmt_misc is mounted there.
    pub mounted: bool,
    /// Whether the table is enabled (its `status`).
    pub enabled: bool,
    pub entries: Vec<BinfmtHostEntry>,
}

/// One entry of the host's table, or why its file did not parse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BinfmtHostEntry {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<String>,
    /// The entry's flags (`P`, `O`, `C`, `F`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<String>,
    /// Magic entries: byte offset of the magic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u32>,
    /// Magic entries: the magic bytes, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub magic_hex: Option<String>,
    /// Magic entries: the mask, hex (absent: every bit compared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask_hex: Option<String>,
    /// Extension entries: the file-name extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    /// Why the entry file did not parse (the other fields are then absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A profile's binfmt_misc registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BinfmtProfileRegistration {
    pub profile: String,
    pub guest_arch: GuestArch,
    pub engine: EngineKind,
    /// The string written to `register`; absent when the profile's engine
    /// is not installed here (`note` says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<String>,
    /// Entries of the host's table that already claim this architecture's
    /// programs (enabled or not).
    pub host_entries: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ProfileSpec {
        ProfileSpec {
            guest_arch: GuestArch::Riscv64,
            engine: EngineKind::Qemu,
            matcher: ProfileMatch::default(),
            options: EngineOptions::default(),
            binfmt_flags: "F".into(),
            launch_domains: vec![],
            description: String::new(),
        }
    }

    /// JSON Schema's `integer` includes 2.0 (found by the contract fuzzer:
    /// a profile with `max_block_instructions: 2.0` was refused).
    #[test]
    fn integer_options_accept_integral_floats() {
        let options: EngineOptions =
            serde_json::from_value(serde_json::json!({"max_block_instructions": 2.0})).unwrap();
        assert_eq!(options.max_block_instructions, Some(2));
        assert!(
            serde_json::from_value::<EngineOptions>(
                serde_json::json!({"max_block_instructions": 2.5})
            )
            .is_err()
        );
        let launch: LaunchRequest =
            serde_json::from_value(serde_json::json!({"exe": "/x", "timeout_s": 30.0})).unwrap();
        assert_eq!(launch.timeout_s, Some(30));
    }

    #[test]
    fn engine_must_serve_the_guest() {
        let mut s = spec();
        assert!(s.validate().is_ok());
        s.engine = EngineKind::Box64;
        let errors = s.validate().unwrap_err();
        assert_eq!(errors[0].pointer, "/engine");
    }

    #[test]
    fn binfmt_flags_in_kernel_order() {
        for ok in ["", "F", "POCF", "OC", "P"] {
            assert!(binfmt_flags_valid(ok), "{ok}");
        }
        for bad in ["FP", "PP", "X", "CO"] {
            assert!(!binfmt_flags_valid(bad), "{bad}");
        }
    }

    #[test]
    fn launch_paths_must_be_absolute() {
        let r = LaunchRequest {
            exe: "hello".into(),
            args: vec![],
            env: BTreeMap::from([("1BAD".into(), "x".into())]),
            profile: Some("a/b".into()),
            security_domain: None,
            timeout_s: Some(0),
            binfmt: false,
        };
        let pointers: Vec<_> = r
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.pointer)
            .collect();
        assert_eq!(pointers, ["/exe", "/env/1BAD", "/profile", "/timeout_s"]);
    }
}
