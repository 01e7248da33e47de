//! attestd's platform TPM, as `--tpm` asks: none, a software TPM corridord
//! starts and boots with the twin's modelled boot, or the kernel's TPM.

use std::path::Path;
use std::sync::Arc;

use corridor_hal::tpm::{KERNEL_EVENT_LOG, Swtpm, TpmError, TpmTransport, TssTpm};
use corridor_services::attestation::PlatformTpm;
use corridor_services::attestation::platform::PlatformError;

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
    #[error("enrolling the TPM's measured boot")]
    Enrol(#[source] PlatformError),
}

/// What a started platform TPM keeps alive: the swtpm process, which dies
/// with the daemon.
#[derive(Debug)]
pub struct PlatformTpmProcess(#[allow(dead_code)] Option<Swtpm>);

/// Opens the TPM `kind` names for `host` and enrols its boot.
///
/// # Errors
/// swtpm cannot start, the device is missing or does not answer, or the
/// boot cannot be enrolled.
pub fn open(
    kind: TpmKind,
    host: &str,
    state_dir: &Path,
) -> Result<Option<(Arc<PlatformTpm>, PlatformTpmProcess)>, PlatformTpmError> {
    let confidential = corridor_hal::confidential::detect(Path::new("/"));
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
            let tpm = TssTpm::open(swtpm.transport(), Some(log_path.clone()))
                .map_err(PlatformTpmError::Open)?;
            let platform = PlatformTpm::twin(host, Arc::new(tpm), &log_path, confidential)
                .map_err(PlatformTpmError::Enrol)?;
            Ok(Some((Arc::new(platform), PlatformTpmProcess(Some(swtpm)))))
        }
        TpmKind::Device => {
            let transport =
                TpmTransport::detect_device(Path::new("/dev")).ok_or(PlatformTpmError::NoDevice)?;
            let tpm = TssTpm::open(transport, Some(KERNEL_EVENT_LOG.into()))
                .map_err(PlatformTpmError::Open)?;
            let platform = PlatformTpm::kernel(host, Arc::new(tpm), confidential)
                .map_err(PlatformTpmError::Enrol)?;
            Ok(Some((Arc::new(platform), PlatformTpmProcess(None))))
        }
    }
}
