//! Errors of the TPM seam.

use std::path::PathBuf;

/// Why a TPM operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TpmError {
    /// The TCTI could not be loaded or the TPM did not answer on it.
    #[error("cannot open TPM at {tcti}: {source}")]
    Open {
        /// The TCTI string.
        tcti: String,
        /// What tss-esapi reported.
        #[source]
        source: tss_esapi::Error,
    },
    /// A TPM command failed (the TPM's response code is in `source`).
    #[error("TPM {command} failed: {source}")]
    Command {
        /// The command.
        command: &'static str,
        /// What tss-esapi reported.
        #[source]
        source: tss_esapi::Error,
    },
    /// The request cannot be expressed to the TPM.
    #[error("invalid TPM request: {0}")]
    Invalid(String),
    /// The event log file could not be read.
    #[error("cannot read the event log {path}: {source}")]
    EventLog {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The thread that owns the TPM context has stopped.
    #[error("the TPM worker thread has stopped")]
    WorkerGone,
    /// Unseal refused because the policy session's PCR values differ from those the secret
    /// was sealed to (`TPM_RC_POLICY_FAIL`): the platform booted (or was extended) into a
    /// state other than the one the secret was sealed in.
    #[error("the PCRs differ from those the secret was sealed to: {source}")]
    PolicyMismatch {
        /// What tss-esapi reported.
        #[source]
        source: tss_esapi::Error,
    },
    /// A stored sealed secret cannot be parsed.
    #[error("malformed sealed secret: {0}")]
    SealedFormat(String),
    /// swtpm could not be started.
    #[error("swtpm: {0}")]
    Swtpm(String),
}

/// Result of the TPM seam.
pub type Result<T> = std::result::Result<T, TpmError>;
