//! attestd's platform TPM, as `--tpm` asks: none, a software TPM corridord
//! starts and boots with the twin's modelled boot, or the kernel's TPM.
//!
//! Two steps, because the TPM serves two services: [`open`] reaches the TPM
//! (and measures the twin's boot into swtpm) before memqosd starts, since
//! memqosd unseals its domain keys against those PCRs while restoring
//! persistent bundles; [`OpenedTpm::enrol`] hands it to attestd once the
//! host it answers for is known.

use std::path::Path;
use std::sync::Arc;

use corridor_hal::confidential::ConfidentialComputing;
use corridor_hal::tpm::{KERNEL_EVENT_LOG, Swtpm, Tpm, TpmError, TpmTransport, TssTpm};
use corridor_services::attestation::PlatformTpm;
use corridor_services::attestation::platform::{MeasuredTwinBoot, PlatformError};

use crate::config::TpmKind;

#[derive(Debug, thiserror::Error)]
pub enum PlatformTpmError {
    #[error("creating {path}: {source}")]
    StateDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("starting swtpm")]
    Swtpm(#[source] TpmError),
    #[error("no TPM device: /dev/tpmrm0 does not exist")]
    NoDevice,
    #[error("opening the TPM")]
    Open(#[source] TpmError),
    #[error("measuring or enrolling the TPM's boot")]
    Enrol(#[source] PlatformError),
}

/// A reached TPM, before attestd enrols it.
#[derive(Debug)]
pub struct OpenedTpm {
    tpm: Arc<dyn Tpm>,
    boot: Option<MeasuredTwinBoot>,
    /// The swtpm process, which must outlive every user of `tpm`.
    pub process: PlatformTpmProcess,
}

/// What a started platform TPM keeps alive: the swtpm process, killed and
/// reaped when dropped.
#[derive(Debug)]
pub struct PlatformTpmProcess(#[allow(dead_code)] Option<Swtpm>);

impl OpenedTpm {
    /// The TPM, for memqosd's key vault.
    pub fn tpm(&self) -> Arc<dyn Tpm> {
        Arc::clone(&self.tpm)
    }

    /// Enrols the TPM's boot and key for measured boot of `host`.
    ///
    /// # Errors
    /// The TPM refuses, or the kernel's event log cannot be read.
    pub fn enrol(
        self,
        host: &str,
    ) -> Result<(Arc<PlatformTpm>, PlatformTpmProcess), PlatformTpmError> {
        let confidential: ConfidentialComputing =
            corridor_hal::confidential::detect(Path::new("/"));
        let platform = match self.boot {
            Some(boot) => PlatformTpm::twin(host, boot, confidential),
            None => PlatformTpm::kernel(host, self.tpm, confidential),
        }
        .map_err(PlatformTpmError::Enrol)?;
        Ok((Arc::new(platform), self.process))
    }
}

/// Reaches the TPM `kind` names; for swtpm, starts it under
/// `<state_dir>/tpm` and measures the twin's boot into it.
///
/// # Errors
/// swtpm cannot start, the device is missing or does not answer, or the
/// twin's boot cannot be measured.
pub fn open(kind: TpmKind, state_dir: &Path) -> Result<Option<OpenedTpm>, PlatformTpmError> {
    match kind {
        TpmKind::None => Ok(None),
        TpmKind::Swtpm => {
            let dir = state_dir.join("tpm");
            std::fs::create_dir_all(&dir).map_err(|source| PlatformTpmError::StateDir {
                path: dir.clone(),
                source,
            })?;
            let swtpm = Swtpm::start(&dir).map_err(PlatformTpmError::Swtpm)?;
            let log_path = dir.join("binary_bios_measurements");
            let tpm = Arc::new(
                TssTpm::open(swtpm.transport(), Some(log_path.clone()))
                    .map_err(PlatformTpmError::Open)?,
            );
            let boot = MeasuredTwinBoot::measure(Arc::clone(&tpm), &log_path)
                .map_err(PlatformTpmError::Enrol)?;
            Ok(Some(OpenedTpm {
                tpm,
                boot: Some(boot),
                process: PlatformTpmProcess(Some(swtpm)),
            }))
        }
        TpmKind::Device => {
            let transport =
                TpmTransport::detect_device(Path::new("/dev")).ok_or(PlatformTpmError::NoDevice)?;
            let tpm = TssTpm::open(transport, Some(KERNEL_EVENT_LOG.into()))
                .map_err(PlatformTpmError::Open)?;
            Ok(Some(OpenedTpm {
                tpm: Arc::new(tpm),
                boot: None,
                process: PlatformTpmProcess(None),
            }))
        }
    }
}
