//! A real Linux kernel with real memory tiers, for memqosd's Linux backend:
//! Debian's cloud kernel booted under QEMU (TCG only: the machines' nested
//! KVM cannot run a stock kernel, ../shared/reference/kvm-tiers.md §2) with
//! two NUMA nodes described by HMAT, and optionally an emulated CXL Type-3
//! device onlined as a third, memory-only node.
//!
//! The initramfs holds busybox, `tests/vm/init.sh` as PID 1, the real
//! `corridord` this test run built, this very test binary as the guest's
//! agent (it runs the ignored `guest_agent` test inside the guest), the
//! shared libraries `ldd` names for each, and for CXL the kernel's CXL/DAX
//! modules and Debian's `cxl`/`ndctl`/`daxctl`. `scripts/install-vm.sh`
//! (run by `make test`) installs QEMU and caches the kernel under
//! `target/vm/`.

// The guest-kernel test and the guest benchmark each use a part of this
// module (the test's checks, the benchmark's timings).
#![allow(dead_code)]

pub mod agent;
pub mod bench;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The line the agent prints when every check inside the guest passed.
pub const PASSED: &str = "corridor-guest-agent: PASSED";
/// The agent prints one of these per finding the host test reports.
pub const FINDING: &str = "corridor-guest-agent: finding ";

/// How long one boot may take, start to power-off (a CXL run takes 30–40 s
/// of TCG on an idle machine; a loaded one is several times slower).
const BOOT_TIMEOUT: Duration = Duration::from_secs(600);

/// Which machine the guest is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Node 0: CPUs and 1 GiB at 80 ns / 20 GiB/s; node 1: 1 GiB, no CPUs,
    /// 250 ns / 5 GiB/s (HMAT).
    Hmat,
    /// The same two nodes plus a 256 MiB persistent CXL Type-3 device behind
    /// two root ports, onlined as system RAM (node 2, 128 MiB usable).
    Cxl,
    /// The two HMAT nodes on Debian 12's own 6.1 kernel, whose memory tiers
    /// ignore HMAT: both nodes are in kernel tier 4.
    HmatLts,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Hmat => "hmat",
            Scenario::Cxl => "cxl",
            Scenario::HmatLts => "hmatlts",
        }
    }

    /// The guest's `transparent_hugepage/shmem_enabled`: `advise` on the
    /// 6.12 two-node machine (memfds get 2 MiB pages where a mapping asks),
    /// the kernel's default `never` elsewhere.
    fn shmem_huge_pages(self) -> &'static str {
        match self {
            Scenario::Hmat => "advise",
            Scenario::Cxl | Scenario::HmatLts => "never",
        }
    }

    /// 2 MiB hugetlb pages the guest's init puts in each node's pool, and then memqosd
    /// makes T2 bundles of them (`--ffm-hugetlb-class T2`): on Debian 12's 6.1 two-node
    /// machine, so its live T2 → T1 migration moves huge pages between nodes; none
    /// elsewhere.
    pub fn hugetlb_pages_per_node(self) -> u32 {
        match self {
            Scenario::HmatLts => 24,
            Scenario::Hmat | Scenario::Cxl => 0,
        }
    }

    /// Which cached kernel it boots (`target/vm/kernel/<name>`).
    fn kernel(self) -> &'static str {
        match self {
            Scenario::Hmat | Scenario::Cxl => "current",
            Scenario::HmatLts => "lts",
        }
    }

    pub fn from_name(name: &str) -> Option<Scenario> {
        match name {
            "hmat" => Some(Scenario::Hmat),
            "cxl" => Some(Scenario::Cxl),
            "hmatlts" => Some(Scenario::HmatLts),
            _ => None,
        }
    }
}

/// The workspace root (crates/server is two levels below it).
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/server is two levels below the workspace")
        .to_path_buf()
}

/// The kernel cached by `scripts/install-vm.sh`.
#[derive(Debug)]
pub struct Kernel {
    pub version: String,
    pub vmlinuz: PathBuf,
    pub modules: PathBuf,
}

impl Kernel {
    /// The kernel `scripts/install-vm.sh` recorded as `name` (`current`:
    /// 6.12; `lts`: Debian 12's 6.1).
    pub fn cached(name: &str) -> Kernel {
        let cache = std::env::var_os("CORRIDOR_VM_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("target/vm"));
        let current = cache.join("kernel").join(name);
        let version = std::fs::read_to_string(&current)
            .unwrap_or_else(|e| {
                panic!(
                    "no guest kernel cached ({}: {e}); `make test` runs scripts/install-vm.sh, \
                     which downloads it",
                    current.display()
                )
            })
            .trim()
            .to_owned();
        let dir = cache.join("kernel").join(&version);
        Kernel {
            vmlinuz: dir.join("vmlinuz"),
            modules: dir.join("modules"),
            version,
        }
    }
}

/// A root filesystem being assembled in a directory, then packed as a
/// `newc` cpio archive (uncompressed: the kernel unpacks it as is, and QEMU
/// loads it faster than the guest could decompress it).
pub struct Initramfs {
    root: tempfile::TempDir,
}

impl Initramfs {
    pub fn new() -> Initramfs {
        let root = tempfile::tempdir().unwrap();
        for dir in [
            "bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "modules",
        ] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        Initramfs { root }
    }

    fn dest(&self, path: &str) -> PathBuf {
        self.root.path().join(path.trim_start_matches('/'))
    }

    /// Copies `source` to `path` inside the image, executable.
    pub fn file(&mut self, source: &Path, path: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        let dest = self.dest(path);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(source, &dest)
            .unwrap_or_else(|e| panic!("copy {} into the guest: {e}", source.display()));
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Copies an executable without its debug sections (the guest's memory
    /// holds the whole image) plus every shared library `ldd` names, at the
    /// paths the dynamic loader looks for them.
    pub fn executable(&mut self, source: &Path, path: &str) {
        let dest = self.dest(path);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let status = Command::new("strip")
            .arg("--strip-debug")
            .arg("-o")
            .arg(&dest)
            .arg(source)
            .status()
            .expect("strip (binutils) runs");
        assert!(status.success(), "strip {}", source.display());
        for library in shared_libraries(source) {
            let inside = library.to_str().unwrap().to_owned();
            if !self.dest(&inside).exists() {
                self.file(&library, &inside, 0o755);
            }
        }
    }

    /// Busybox as `/bin/busybox` (with its libraries, should it not be the
    /// static build); `init.sh` installs its applets.
    pub fn busybox(&mut self) {
        self.executable(Path::new("/bin/busybox"), "/bin/busybox");
    }

    /// Packs the image into `out`.
    pub fn pack(&self, out: &Path) {
        let file = std::fs::File::create(out).unwrap();
        let status = Command::new("sh")
            .arg("-c")
            .arg("find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet")
            .current_dir(self.root.path())
            .stdout(file)
            .status()
            .expect("cpio runs");
        assert!(status.success(), "cpio");
    }
}

/// The shared libraries (absolute paths, the loader included) `ldd` lists
/// for `binary`.
fn shared_libraries(binary: &Path) -> Vec<PathBuf> {
    let output = Command::new("ldd").arg(binary).output().expect("ldd runs");
    if !output.status.success() {
        // "not a dynamic executable": a static binary needs nothing.
        return Vec::new();
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            // "libx.so.1 => /lib/…/libx.so.1 (0x…)" or "/lib64/ld-linux….so.2 (0x…)";
            // the vDSO has no file.
            let path = match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// QEMU's arguments for `scenario` (the machine of kvm-tiers.md §3 and §4).
fn machine(scenario: Scenario, state: &Path) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    let mut push = |s: &str| args.push(s.to_owned());
    push("-accel");
    push("tcg");
    // hypervisor=off: with it, 6.12's CXL region commit fails to synchronise
    // the CPU caches (kvm-tiers.md §4, workaround 3).
    push("-cpu");
    push("max,hypervisor=off");
    push("-smp");
    push("2");
    match scenario {
        Scenario::Hmat | Scenario::HmatLts => {
            push("-machine");
            push("q35,hmat=on");
            push("-m");
            push("2G");
        }
        Scenario::Cxl => {
            push("-machine");
            push("q35,cxl=on,hmat=on");
            push("-m");
            push("2G,maxmem=4G,slots=4");
        }
    }
    for arg in [
        "-object memory-backend-ram,id=m0,size=1G",
        "-object memory-backend-ram,id=m1,size=1G",
        "-numa node,nodeid=0,cpus=0-1,memdev=m0,initiator=0",
        "-numa node,nodeid=1,memdev=m1,initiator=0",
        "-numa dist,src=0,dst=1,val=20",
        "-numa hmat-lb,initiator=0,target=0,hierarchy=memory,data-type=access-latency,latency=80",
        "-numa hmat-lb,initiator=0,target=0,hierarchy=memory,data-type=access-bandwidth,bandwidth=20G",
        "-numa hmat-lb,initiator=0,target=1,hierarchy=memory,data-type=access-latency,latency=250",
        "-numa hmat-lb,initiator=0,target=1,hierarchy=memory,data-type=access-bandwidth,bandwidth=5G",
    ] {
        let (flag, value) = arg.split_once(' ').unwrap();
        push(flag);
        push(value);
    }
    if scenario == Scenario::Cxl {
        let cxl = state.join("cxl0.raw");
        let lsa = state.join("lsa0.raw");
        for (flag, value) in [
            (
                "-object",
                format!(
                    "memory-backend-file,id=cm,share=on,mem-path={},size=256M",
                    cxl.display()
                ),
            ),
            (
                "-object",
                format!(
                    "memory-backend-file,id=cl,share=on,mem-path={},size=256M",
                    lsa.display()
                ),
            ),
            (
                "-device",
                "pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1".to_owned(),
            ),
            // Two root ports: with one, Linux programs a passthrough decoder
            // that QEMU 7.2 does not honour (reads return 0; §4 workaround 1).
            (
                "-device",
                "cxl-rp,port=0,bus=cxl.1,id=rp0,chassis=0,slot=2".to_owned(),
            ),
            (
                "-device",
                "cxl-rp,port=1,bus=cxl.1,id=rp1,chassis=0,slot=3".to_owned(),
            ),
            (
                "-device",
                "cxl-type3,bus=rp0,memdev=cm,lsa=cl,id=cxl-pmem0".to_owned(),
            ),
            (
                "-M",
                "cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G".to_owned(),
            ),
        ] {
            args.push(flag.to_owned());
            args.push(value);
        }
    }
    args
}

/// What one boot printed on its serial console.
#[derive(Debug)]
pub struct Boot {
    pub kernel: String,
    pub console: String,
    pub elapsed: Duration,
}

impl Boot {
    /// The guest's own lines (init and agent), without the kernel's log.
    pub fn report(&self) -> String {
        self.console
            .lines()
            .filter(|line| line.starts_with("corridor-guest"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn passed(&self) -> bool {
        self.console.lines().any(|line| line.trim_end() == PASSED)
    }

    /// Whether the guest's kernel oopsed or panicked before `/init` printed
    /// its first line: nothing of ours had run yet (seen once: an `int3`
    /// oops in `sched_clock_cpu` 2.2 s into a 6.12 boot under TCG with two
    /// vCPUs, a fault of the emulated machine, not of corridord).
    pub fn kernel_died_before_init(&self) -> bool {
        !self
            .console
            .lines()
            .any(|line| line.starts_with("corridor-guest"))
            && (self.console.contains("Oops:") || self.console.contains("Kernel panic"))
    }
}

/// Boots `scenario` with an initramfs holding corridord and this test
/// binary, and returns the console once the guest powered off.
pub fn boot(scenario: Scenario) -> Boot {
    let kernel = Kernel::cached(scenario.kernel());
    let work = tempfile::tempdir().unwrap();
    let mut image = Initramfs::new();
    image.busybox();
    let init = workspace().join("tests/vm/init.sh");
    image.file(&init, "/init", 0o755);
    image.executable(Path::new(env!("CARGO_BIN_EXE_corridord")), "/bin/corridord");
    image.executable(&std::env::current_exe().unwrap(), "/bin/agent");
    if scenario == Scenario::Cxl {
        for tool in ["cxl", "ndctl", "daxctl"] {
            image.executable(&Path::new("/usr/bin").join(tool), &format!("/bin/{tool}"));
        }
        image.file(
            &kernel.modules.join("load-order"),
            "/modules/load-order",
            0o644,
        );
        for module in std::fs::read_to_string(kernel.modules.join("load-order"))
            .unwrap()
            .lines()
        {
            let name = format!("{module}.ko");
            image.file(
                &kernel.modules.join(&name),
                &format!("/modules/{name}"),
                0o644,
            );
        }
    }
    let initrd = work.path().join("initrd.cpio");
    image.pack(&initrd);

    let console = work.path().join("console.log");
    let started = Instant::now();
    let mut qemu = Command::new("qemu-system-x86_64")
        .args(machine(scenario, work.path()))
        .arg("-kernel")
        .arg(&kernel.vmlinuz)
        .arg("-initrd")
        .arg(&initrd)
        .arg("-append")
        .arg(format!(
            // pci=nomsi: 6.12's cxl_pci needs it under QEMU 7.2 (§4
            // workaround 2); harmless without CXL.
            "console=ttyS0 panic=-1 pci=nomsi loglevel=4 corridor.scenario={} corridor.shmem={} corridor.hugetlb={}",
            scenario.name(),
            scenario.shmem_huge_pages(),
            scenario.hugetlb_pages_per_node()
        ))
        .args(["-display", "none", "-monitor", "none", "-no-reboot"])
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu-system-x86_64 starts (scripts/install-vm.sh installs it)");
    let status = loop {
        if let Some(status) = qemu.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > BOOT_TIMEOUT {
            let _ = qemu.kill();
            let _ = qemu.wait();
            let console = std::fs::read_to_string(&console).unwrap_or_default();
            panic!(
                "the {} guest did not power off within {BOOT_TIMEOUT:?}; console:\n{console}",
                scenario.name()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let elapsed = started.elapsed();
    let mut stderr = String::new();
    use std::io::Read;
    qemu.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let console = std::fs::read_to_string(&console).unwrap_or_default();
    assert!(
        status.success(),
        "qemu exited {status}: {stderr}\nconsole:\n{console}"
    );
    Boot {
        kernel: kernel.version,
        console,
        elapsed,
    }
}
