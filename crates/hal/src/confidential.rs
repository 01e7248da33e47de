//! Which confidential-computing technology the platform runs under or can offer, read from
//! `/proc` and `/sys` under an injectable root (tests pass a fixture tree).
//!
//! # What is detected, and how far to trust it
//! * **Guest** (this OS runs inside a confidential VM):
//!   - Intel TDX: the `tdx_guest` CPU flag in `/proc/cpuinfo` (Linux ≥ 5.19 sets it when it
//!     boots as a TD) or the `/dev/tdx_guest` device (the TDX guest driver, which fetches TD
//!     reports);
//!   - AMD SEV-SNP: the `/dev/sev-guest` device (the SNP guest driver binds only in an SNP
//!     guest; it is how an attestation report is requested from the AMD secure processor).
//!     Plain SEV / SEV-ES guests expose no such device and are reported as no guest
//!     technology: the kernel says so only in its boot log, which is not a stable interface.
//! * **Host** (KVM here can launch confidential guests): the KVM module parameters
//!   `/sys/module/kvm_amd/parameters/sev_snp` (SEV-SNP), `.../sev` (SEV), and
//!   `/sys/module/kvm_intel/parameters/tdx` (TDX) reading `Y` or `1`. CPU flags (`sev_snp`,
//!   `tdx_host_platform`) alone say the processor could, not that firmware and KVM enabled it;
//!   they are listed in the evidence only.
//!
//! This is what the operating system claims about itself, not attested evidence: a
//! verifier should only *believe* a guest technology after checking an SNP attestation report
//! or a TDX quote, which is not implemented here. A host with none of the above is
//! reported as `none`, honestly, with the files that were looked at.

use std::path::Path;

/// A confidential-computing technology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CcTechnology {
    /// AMD SEV-SNP.
    SevSnp,
    /// AMD SEV or SEV-ES (no integrity protection, no SNP attestation report).
    Sev,
    /// Intel TDX.
    Tdx,
}

impl CcTechnology {
    /// Lower-case name for reports: `sev-snp`, `sev`, `tdx`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            CcTechnology::SevSnp => "sev-snp",
            CcTechnology::Sev => "sev",
            CcTechnology::Tdx => "tdx",
        }
    }
}

/// What [`detect`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfidentialComputing {
    /// The technology this OS runs under as a confidential guest, if any.
    pub guest: Option<CcTechnology>,
    /// Technologies KVM on this host has enabled for guests, strongest first.
    pub host: Vec<CcTechnology>,
    /// Whether `/proc/cpuinfo` has the `hypervisor` flag (this OS is a VM of some kind).
    pub virtualised: bool,
    /// What was found, one line each (file or flag and what it says), for the report.
    pub evidence: Vec<String>,
}

impl ConfidentialComputing {
    /// `sev-snp`, `tdx`, `sev` or `none`: the guest technology, else the strongest host one.
    #[must_use]
    pub fn summary(&self) -> &'static str {
        self.guest
            .or_else(|| self.host.first().copied())
            .map_or("none", CcTechnology::name)
    }
}

/// Reads `root/proc/cpuinfo`, `root/dev/{sev-guest,tdx_guest}` and the KVM module parameters
/// under `root/sys/module`. `root` is `/` on a live system. Missing files mean "not present";
/// this never fails.
#[must_use]
pub fn detect(root: &Path) -> ConfidentialComputing {
    let mut cc = ConfidentialComputing::default();
    let cpuinfo = std::fs::read_to_string(root.join("proc/cpuinfo")).unwrap_or_default();
    let flags: Vec<&str> = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("flags")
                .and_then(|r| r.trim_start().strip_prefix(':'))
        })
        .map(|f| f.split_whitespace().collect())
        .unwrap_or_default();
    let has_flag = |f: &str| flags.contains(&f);
    cc.virtualised = has_flag("hypervisor");

    if has_flag("tdx_guest") {
        cc.evidence.push("/proc/cpuinfo: tdx_guest flag".into());
        cc.guest = Some(CcTechnology::Tdx);
    }
    if root.join("dev/tdx_guest").exists() {
        cc.evidence.push("/dev/tdx_guest present".into());
        cc.guest = Some(CcTechnology::Tdx);
    }
    if root.join("dev/sev-guest").exists() {
        cc.evidence.push("/dev/sev-guest present".into());
        cc.guest = Some(CcTechnology::SevSnp);
    }

    let enabled = |p: &str| {
        std::fs::read_to_string(root.join(p))
            .ok()
            .is_some_and(|v| matches!(v.trim(), "Y" | "y" | "1"))
    };
    for (param, tech) in [
        (
            "sys/module/kvm_amd/parameters/sev_snp",
            CcTechnology::SevSnp,
        ),
        ("sys/module/kvm_intel/parameters/tdx", CcTechnology::Tdx),
        ("sys/module/kvm_amd/parameters/sev", CcTechnology::Sev),
    ] {
        if enabled(param) {
            cc.evidence.push(format!("/{param} = Y"));
            cc.host.push(tech);
        }
    }
    for flag in ["sev", "sev_es", "sev_snp", "tdx_host_platform"] {
        if has_flag(flag) {
            cc.evidence
                .push(format!("/proc/cpuinfo: {flag} flag (CPU capability only)"));
        }
    }
    if cc.evidence.is_empty() {
        cc.evidence.push(format!(
            "none of /dev/sev-guest, /dev/tdx_guest, the tdx_guest flag or KVM's sev/sev_snp/tdx \
             parameters found{}",
            if cc.virtualised {
                " (a VM without a confidential-computing technology)"
            } else {
                ""
            }
        ));
    }
    cc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        dir
    }

    const PLAIN_VM: &str = "processor\t: 0\nflags\t\t: fpu vme sse2 hypervisor\n";

    #[test]
    fn plain_vm_is_none() {
        let t = tree(&[("proc/cpuinfo", PLAIN_VM)]);
        let cc = detect(t.path());
        assert_eq!(
            (cc.guest, cc.host.clone(), cc.virtualised),
            (None, vec![], true)
        );
        assert_eq!(cc.summary(), "none");
        assert!(cc.evidence[0].contains("a VM without"));
    }

    #[test]
    fn snp_guest_is_found_by_its_device() {
        let t = tree(&[("proc/cpuinfo", PLAIN_VM), ("dev/sev-guest", "")]);
        let cc = detect(t.path());
        assert_eq!(cc.guest, Some(CcTechnology::SevSnp));
        assert_eq!(cc.summary(), "sev-snp");
    }

    #[test]
    fn tdx_guest_is_found_by_flag_or_device() {
        let flag = tree(&[("proc/cpuinfo", "flags : fpu tdx_guest hypervisor\n")]);
        assert_eq!(detect(flag.path()).guest, Some(CcTechnology::Tdx));
        let dev = tree(&[("proc/cpuinfo", PLAIN_VM), ("dev/tdx_guest", "")]);
        assert_eq!(detect(dev.path()).summary(), "tdx");
    }

    #[test]
    fn host_needs_kvm_enabled_not_only_the_cpu_flag() {
        let cpu_only = tree(&[("proc/cpuinfo", "flags : fpu sev sev_es sev_snp\n")]);
        let cc = detect(cpu_only.path());
        assert_eq!((cc.guest, cc.host.len()), (None, 0));
        assert_eq!(cc.summary(), "none");
        assert!(
            cc.evidence
                .iter()
                .any(|e| e.contains("sev_snp flag (CPU capability only)"))
        );

        let host = tree(&[
            ("proc/cpuinfo", "flags : fpu sev sev_es sev_snp\n"),
            ("sys/module/kvm_amd/parameters/sev", "Y\n"),
            ("sys/module/kvm_amd/parameters/sev_snp", "Y\n"),
        ]);
        let cc = detect(host.path());
        assert_eq!(cc.host, vec![CcTechnology::SevSnp, CcTechnology::Sev]);
        assert_eq!(cc.summary(), "sev-snp");

        let disabled = tree(&[("sys/module/kvm_intel/parameters/tdx", "N\n")]);
        assert_eq!(detect(disabled.path()).summary(), "none");
    }
}
