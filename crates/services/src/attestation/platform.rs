//! The host's platform TPM and its measured boot: what
//! `GET /v1/attest/measured-boot/{device_id}` quotes and appraises.
//!
//! Two origins, one verifier ([`corridor_attest::tpm::appraise`]):
//!
//! * **kernel**: a TPM the kernel exposes (`/dev/tpmrm0`) and the firmware's
//!   event log as the kernel publishes it. The PCRs hold what firmware and
//!   boot loader measured.
//! * **modelled** (the twin): swtpm, into which corridord extends a boot it
//!   writes itself at start: a modelled firmware (S-CRTM version, firmware
//!   volume, Secure Boot state) and two real measurements of this machine,
//!   the running kernel's `/proc/version` and corridord's own executable. The
//!   TPM arithmetic, the quote and its signature are real; the firmware
//!   events are not, and every report says `origin: modelled` and
//!   `software: true`.
//!
//! The policy is enrolled when corridord starts, from the log the host
//! booted with (trust on first use, `source: enrolled_at_start`): it allows
//! exactly the events of that boot in the policy PCRs, so a later boot, a
//! logged extra event, or an unlogged extension is caught. Enrolling a
//! reference log the operator supplies is not built yet.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use corridor_attest::tpm::{AwsLcHasher, MeasuredBootPolicy};
use corridor_hal::confidential::ConfidentialComputing;
use corridor_hal::tpm::{Tpm, TpmError, TssTpm};
use corridor_protocols::tcg::{EventLog, EventType, HashAlg, Hasher};

/// The bank policies are written and quotes are checked in.
pub const POLICY_BANK: HashAlg = HashAlg::Sha256;

/// PCRs a kernel-origin policy may judge: the firmware's (0–7), of which
/// those the log extends are taken.
const FIRMWARE_PCRS: std::ops::RangeInclusive<u8> = 0..=7;

/// The twin boot's PCRs: firmware (0), boot applications (4), Secure Boot
/// state (7).
const TWIN_PCRS: [u8; 3] = [0, 4, 7];

/// Where an event log comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootOrigin {
    /// The firmware's log, from the kernel.
    Kernel,
    /// The twin's boot, written by corridord into a software TPM.
    Modelled,
}

impl BootOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            BootOrigin::Kernel => "kernel",
            BootOrigin::Modelled => "modelled",
        }
    }
}

/// How the twin's boot can be tampered with, to show what the verifier
/// catches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootTamper {
    /// An extra boot application, logged honestly: the quote still
    /// verifies, the policy rejects the event.
    LoggedApplication,
    /// An extension of PCR 4 that the log does not show (what a rootkit
    /// hiding itself would do): the log no longer replays to the quote.
    UnloggedExtension,
}

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("the TPM: {0}")]
    Tpm(#[from] TpmError),
    #[error("the TPM's event log: {0}")]
    EventLog(String),
    #[error("writing the twin's event log to {path}: {source}")]
    WriteLog {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the TPM has no event log, so nothing explains its PCRs")]
    NoEventLog,
    #[error("boot tampering is a twin fault; this TPM is not the twin's")]
    NotTwin,
}

/// The twin's boot, measured into a fresh software TPM: done before
/// anything seals a secret to the TPM's PCRs, so that a restart (which
/// measures the same boot again) unseals it.
#[derive(Debug)]
pub struct MeasuredTwinBoot {
    tpm: Arc<TssTpm>,
    log_path: PathBuf,
    log: EventLog,
}

impl MeasuredTwinBoot {
    /// Writes the twin's boot log to `log_path` (the file `tpm` was opened
    /// with) and extends its events into the TPM.
    ///
    /// # Errors
    /// The TPM refuses, or the log cannot be written.
    pub fn measure(tpm: Arc<TssTpm>, log_path: &Path) -> Result<Self, PlatformError> {
        let log = twin_boot_log();
        write_log(log_path, &log)?;
        tpm.measure_log(&log)?;
        Ok(Self {
            tpm,
            log_path: log_path.to_owned(),
            log,
        })
    }
}

/// The twin's writable side: its TPM (to extend) and its log file.
#[derive(Debug)]
struct TwinBoot {
    tpm: Arc<TssTpm>,
    log_path: PathBuf,
    log: Mutex<EventLog>,
}

/// The platform TPM of the host corridord runs on, with what the verifier
/// enrolled about it.
#[derive(Debug)]
pub struct PlatformTpm {
    pub host: String,
    pub tpm: Arc<dyn Tpm>,
    /// The attestation key enrolled at start (`TPMT_PUBLIC`): a quote by
    /// any other key fails.
    pub pinned_ak: Vec<u8>,
    pub policy: MeasuredBootPolicy,
    pub origin: BootOrigin,
    pub confidential: ConfidentialComputing,
    twin: Option<TwinBoot>,
}

impl PlatformTpm {
    /// The twin host `host` on the software TPM its boot was measured
    /// into: enrols that boot and the TPM's attestation key.
    ///
    /// # Errors
    /// The TPM refuses.
    pub fn twin(
        host: &str,
        boot: MeasuredTwinBoot,
        confidential: ConfidentialComputing,
    ) -> Result<Self, PlatformError> {
        let pinned_ak = boot.tpm.attestation_key()?;
        let policy = MeasuredBootPolicy::from_reference_log(&boot.log, POLICY_BANK, &TWIN_PCRS);
        Ok(Self {
            host: host.to_owned(),
            tpm: boot.tpm.clone(),
            pinned_ak,
            policy,
            origin: BootOrigin::Modelled,
            confidential,
            twin: Some(TwinBoot {
                tpm: boot.tpm,
                log_path: boot.log_path,
                log: Mutex::new(boot.log),
            }),
        })
    }

    /// A TPM the firmware measured into, with its event log: enrols the
    /// boot it finds (every firmware PCR the log extends).
    ///
    /// # Errors
    /// The TPM refuses, it has no event log, or the log does not parse.
    pub fn kernel(
        host: &str,
        tpm: Arc<dyn Tpm>,
        confidential: ConfidentialComputing,
    ) -> Result<Self, PlatformError> {
        let raw = tpm.event_log()?.ok_or(PlatformError::NoEventLog)?;
        let log = EventLog::parse(&raw).map_err(|e| PlatformError::EventLog(e.to_string()))?;
        let pcrs: Vec<u8> = FIRMWARE_PCRS
            .filter(|pcr| {
                log.events.iter().any(|e| {
                    e.pcr == *pcr
                        && e.event_type != EventType::EV_NO_ACTION
                        && e.digest(POLICY_BANK).is_some()
                })
            })
            .collect();
        let pinned_ak = tpm.attestation_key()?;
        let policy = MeasuredBootPolicy::from_reference_log(&log, POLICY_BANK, &pcrs);
        Ok(Self {
            host: host.to_owned(),
            tpm,
            pinned_ak,
            policy,
            origin: BootOrigin::Kernel,
            confidential,
            twin: None,
        })
    }

    /// Tampers with the twin's boot (a twin fault, for demonstrations and
    /// tests).
    ///
    /// # Errors
    /// Not the twin's TPM, or the TPM or log write fails.
    pub fn tamper(&self, how: BootTamper) -> Result<(), PlatformError> {
        let twin = self.twin.as_ref().ok_or(PlatformError::NotTwin)?;
        let digest = digests_of(b"an application nobody enrolled");
        match how {
            BootTamper::LoggedApplication => {
                let mut log = twin.log.lock().unwrap_or_else(PoisonError::into_inner);
                twin.tpm.extend_pcr(4, &digest)?;
                log.push(
                    4,
                    EventType::EV_EFI_BOOT_SERVICES_APPLICATION,
                    digest,
                    b"\\EFI\\unenrolled.efi".to_vec(),
                );
                write_log(&twin.log_path, &log)?;
            }
            BootTamper::UnloggedExtension => twin.tpm.extend_pcr(4, &digest)?,
        }
        Ok(())
    }
}

fn write_log(path: &Path, log: &EventLog) -> Result<(), PlatformError> {
    std::fs::write(path, log.to_bytes()).map_err(|source| PlatformError::WriteLog {
        path: path.to_owned(),
        source,
    })
}

/// SHA-256 of `measured`, as an event's digest list.
fn digests_of(measured: &[u8]) -> Vec<(HashAlg, Vec<u8>)> {
    let digest = AwsLcHasher
        .digest(POLICY_BANK, &[measured])
        .unwrap_or_default();
    vec![(POLICY_BANK, digest)]
}

fn push(log: &mut EventLog, pcr: u8, ty: EventType, measured: &[u8], data: &[u8]) {
    log.push(pcr, ty, digests_of(measured), data.to_vec());
}

/// The twin's boot (see the module documentation for what is modelled).
fn twin_boot_log() -> EventLog {
    let mut log = EventLog::new(&[POLICY_BANK]);
    let mut locality = corridor_protocols::tcg::replay::STARTUP_LOCALITY_SIGNATURE.to_vec();
    locality.push(0);
    log.push(
        0,
        EventType::EV_NO_ACTION,
        vec![(POLICY_BANK, vec![0; POLICY_BANK.digest_len()])],
        locality,
    );
    let firmware = concat!("CorridorOS twin firmware ", env!("CARGO_PKG_VERSION"));
    push(
        &mut log,
        0,
        EventType::EV_S_CRTM_VERSION,
        firmware.as_bytes(),
        firmware.as_bytes(),
    );
    push(
        &mut log,
        0,
        EventType::EV_POST_CODE,
        b"CorridorOS twin firmware volume",
        b"POST CODE",
    );
    push(
        &mut log,
        7,
        EventType::EV_EFI_VARIABLE_DRIVER_CONFIG,
        b"SecureBoot=1",
        b"SecureBoot",
    );
    // The two measurements of this machine: the kernel it runs and the
    // control plane binary itself.
    let kernel = std::fs::read("/proc/version").unwrap_or_default();
    push(
        &mut log,
        4,
        EventType::EV_EFI_BOOT_SERVICES_APPLICATION,
        &kernel,
        b"kernel (/proc/version)",
    );
    let executable = std::env::current_exe()
        .and_then(std::fs::read)
        .unwrap_or_default();
    push(
        &mut log,
        4,
        EventType::EV_EFI_BOOT_SERVICES_APPLICATION,
        &executable,
        b"corridord (its executable)",
    );
    for pcr in TWIN_PCRS {
        push(&mut log, pcr, EventType::EV_SEPARATOR, &[0; 4], &[0; 4]);
    }
    log
}
