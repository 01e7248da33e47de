//! The TPM root of trust: what attestation asks of a TPM, behind one trait, so the verifier
//! and the attestation service run the same code on a software TPM and on a real one.
//!
//! * [`Tpm`]: the attestation key's public part, quotes over a PCR selection with the
//!   verifier's nonce, PCR reads and the firmware event log. Raw TPM structures cross the seam
//!   (`TPMS_ATTEST`, `TPMT_SIGNATURE`, `TPMT_PUBLIC` bytes), so the verifier decodes exactly
//!   what the TPM signed (`corridor_protocols::tcg`).
//! * [`TssTpm`]: the backend over tss-esapi 7.7 (Debian 12's tpm2-tss 3.2), reaching swtpm
//!   through the `swtpm` TCTI or a kernel TPM through the `device` TCTI (`/dev/tpmrm0`).
//! * Sealing: [`Tpm::seal`] keeps a secret (a disk-encryption key) as a TPM object that
//!   unseals only while the policy PCRs hold the values they had when it was sealed
//!   ([`SealedSecret`]); a changed boot, or any extend of those PCRs, refuses it
//!   ([`TpmError::PolicyMismatch`]).
//! * [`Swtpm`]: starts and stops a software TPM process (tests, benchmarks, the twin).
//!
//! # Modelled or real
//! A quote from [`TssTpm`] over `/dev/tpmrm0` is signed by a hardware (or firmware) TPM and
//! its PCRs hold what the platform's firmware measured; its event log is the kernel's
//! `binary_bios_measurements`. A quote from swtpm is a real TPM 2.0 implementation (the same
//! reference code, real signatures, real PCR arithmetic) but no firmware measured anything
//! into it: its PCRs hold whatever the caller extended, and its event log is whatever file the
//! caller names. [`Tpm::is_software`] says which, and anything reported from a software TPM
//! must say so.
//!
//! Not done here: binding the attestation key to the endorsement key (TPM2_MakeCredential /
//! ActivateCredential with the EK certificate), which a verifier needs before it trusts a new
//! AK; today the verifier pins the AK it enrolled.

mod error;
mod sealed;
pub mod swtpm;
mod tss;
mod tss_seal;

use std::fmt::Debug;

pub use corridor_protocols::tcg::{HashAlg, PcrSelection};
pub use error::{Result, TpmError};
pub use sealed::{MAX_SEALED_SECRET, SealedSecret, UnsealedSecret};
pub use swtpm::Swtpm;
pub use tss::{KERNEL_EVENT_LOG, TpmTransport, TssTpm};

/// What a quote returns: the bytes the TPM signed and the signature, and the key to check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// Marshalled `TPMS_ATTEST` (magic, type, nonce, clock, PCR selection and digest).
    pub attest: Vec<u8>,
    /// Marshalled `TPMT_SIGNATURE` over `attest`.
    pub signature: Vec<u8>,
    /// Marshalled `TPMT_PUBLIC` of the attestation key that signed.
    pub ak_public: Vec<u8>,
}

/// One PCR's value as the TPM reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcrValue {
    /// The bank.
    pub bank: HashAlg,
    /// The PCR index.
    pub pcr: u8,
    /// Its value.
    pub value: Vec<u8>,
}

/// A TPM as attestation uses it.
///
/// Every call talks to the TPM and may take milliseconds (a quote on swtpm) to hundreds of
/// milliseconds (an ECC signature on a discrete TPM): see [`Tpm::blocks`].
pub trait Tpm: Send + Sync + Debug {
    /// Which backend this is (`"tss"`), for logs and problems.
    fn backend(&self) -> &'static str;

    /// The transport, as a TCTI string (`swtpm:host=127.0.0.1,port=2321`, `device:/dev/tpmrm0`).
    fn transport(&self) -> String;

    /// Whether this is a software TPM (swtpm): its PCRs measure nothing the platform booted.
    fn is_software(&self) -> bool;

    /// Whether calls block the calling thread on TPM I/O. Async callers run a blocking TPM's
    /// calls on `tokio::task::spawn_blocking`, as with `OpticalPlant::blocks`.
    fn blocks(&self) -> bool;

    /// The attestation key's marshalled `TPMT_PUBLIC` (creating the key on first use).
    ///
    /// # Errors
    /// [`TpmError`] when the TPM refuses or is unreachable.
    fn attestation_key(&self) -> Result<Vec<u8>>;

    /// `TPM2_Quote` over `selection` with `nonce` as the qualifying data (echoed as
    /// `extraData`), signed by the attestation key.
    ///
    /// # Errors
    /// [`TpmError::Invalid`] for a nonce over 64 bytes or a PCR above 23; [`TpmError`] when
    /// the TPM refuses.
    fn quote(&self, nonce: &[u8], selection: &[PcrSelection]) -> Result<Quote>;

    /// Reads the selected PCRs.
    ///
    /// # Errors
    /// [`TpmError::Invalid`] for a bank the TPM has not allocated or a PCR above 23.
    fn pcr_read(&self, selection: &[PcrSelection]) -> Result<Vec<PcrValue>>;

    /// The raw firmware event log (crypto-agile format), or `None` when this TPM has none.
    ///
    /// # Errors
    /// [`TpmError::EventLog`] when the configured log cannot be read.
    fn event_log(&self) -> Result<Option<Vec<u8>>>;

    /// Seals `secret` (1 to [`MAX_SEALED_SECRET`] bytes) under the storage primary key to a
    /// PolicyPCR policy over the *current* values of `selection`.
    ///
    /// # Errors
    /// [`TpmError::Invalid`] for an empty secret or selection, or a secret too large;
    /// [`TpmError::Command`] when the TPM refuses.
    fn seal(&self, secret: &[u8], selection: &[PcrSelection]) -> Result<SealedSecret>;

    /// Unseals `sealed` in a policy session over `selection` (the selection it was sealed
    /// with).
    ///
    /// # Errors
    /// [`TpmError::PolicyMismatch`] when a selected PCR changed since sealing;
    /// [`TpmError::SealedFormat`] for a malformed blob; [`TpmError::Command`] when the TPM
    /// refuses otherwise (another TPM's blob fails to load).
    fn unseal(&self, sealed: &SealedSecret, selection: &[PcrSelection]) -> Result<UnsealedSecret>;
}
