//! [`TssTpm`]: the [`Tpm`] backend over tss-esapi 7.7.
//!
//! An ESAPI `Context` is not `Send` (it holds the C library's context pointer), so one worker
//! thread owns it and every call is a job sent to that thread; the handle is `Send + Sync`
//! and calls are serialised, which a TPM needs anyway.
//!
//! Handles: swtpm has no resource manager, so every transient object left loaded stays in the
//! TPM's few object slots until it restarts (`TPM_RC_OBJECT_MEMORY`, 0x902). The only object
//! this backend keeps loaded is the attestation key, flushed when the worker stops (on drop);
//! sessions are password sessions (no TPM object), except sealing's trial and policy
//! sessions, which `tss_seal` flushes with its primary key and loaded object on every path. Through `/dev/tpmrm0` the kernel's
//! resource manager would flush them anyway when the file closes.
//!
//! The attestation key is a primary key in the endorsement hierarchy from a fixed template
//! (restricted, sign-only, fixedTPM, ECC P-256, ECDSA with SHA-256): TPM2_CreatePrimary
//! derives it from the endorsement seed, so the same TPM gives the same AK after every restart
//! without storing a key blob. Being restricted, it signs only TPM-generated structures,
//! which is what makes the quote's magic check meaningful.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::mpsc;
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;

use tss_esapi::Context;
use tss_esapi::attributes::ObjectAttributesBuilder;
use tss_esapi::handles::{KeyHandle, PcrHandle};
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, PublicAlgorithm};
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::interface_types::resource_handles::Hierarchy;
use tss_esapi::structures::{
    Data, Digest, DigestValues, EccPoint, EccScheme, HashScheme, KeyDerivationFunctionScheme,
    PcrSelectionListBuilder, PcrSlot, Public, PublicBuilder, PublicEccParametersBuilder,
    SignatureScheme, SymmetricDefinitionObject,
};
use tss_esapi::tcti_ldr::TctiNameConf;
use tss_esapi::traits::Marshall;

use corridor_protocols::tcg::{EventLog, EventType};

use super::sealed::{SealedSecret, UnsealedSecret};
use super::tss_seal;
use super::{HashAlg, PcrSelection, PcrValue, Quote, Result, Tpm, TpmError};

/// Where the kernel publishes the firmware's event log for the first TPM.
pub const KERNEL_EVENT_LOG: &str = "/sys/kernel/security/tpm0/binary_bios_measurements";

/// How to reach a TPM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TpmTransport {
    /// swtpm's TCP server (the `swtpm` TCTI speaks its control channel on `port + 1`).
    Swtpm {
        /// Host, normally `127.0.0.1`.
        host: String,
        /// The server port.
        port: u16,
    },
    /// A kernel TPM device, normally `/dev/tpmrm0` (the in-kernel resource manager).
    Device(PathBuf),
}

impl TpmTransport {
    /// The TCTI string tss-esapi loads.
    #[must_use]
    pub fn tcti(&self) -> String {
        match self {
            TpmTransport::Swtpm { host, port } => format!("swtpm:host={host},port={port}"),
            TpmTransport::Device(path) => format!("device:{}", path.display()),
        }
    }

    /// `/dev/tpmrm0` under `dev_root` (normally `/dev`) if it exists.
    #[must_use]
    pub fn detect_device(dev_root: &Path) -> Option<Self> {
        let path = dev_root.join("tpmrm0");
        path.exists().then_some(TpmTransport::Device(path))
    }
}

type Job = Box<dyn FnOnce(&mut Session) + Send>;

/// A TPM reached through tss-esapi. See the module documentation.
#[derive(Debug)]
pub struct TssTpm {
    transport: TpmTransport,
    event_log: Option<PathBuf>,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl TssTpm {
    /// Connects to the TPM at `transport`. `event_log` is the file holding its firmware event
    /// log (for a device, normally [`KERNEL_EVENT_LOG`]; swtpm has none of its own).
    ///
    /// # Errors
    /// [`TpmError::Open`] when the TCTI cannot load or the TPM does not answer.
    pub fn open(transport: TpmTransport, event_log: Option<PathBuf>) -> Result<Self> {
        let tcti = transport.tcti();
        let conf = TctiNameConf::from_str(&tcti).map_err(|source| TpmError::Open {
            tcti: tcti.clone(),
            source,
        })?;
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let worker = std::thread::Builder::new()
            .name("tpm".into())
            .spawn(move || {
                let ctx = match Context::new(conf) {
                    Ok(ctx) => {
                        let _ = ready_tx.send(Ok(()));
                        ctx
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let mut session = Session { ctx, ak: None };
                while let Ok(job) = rx.recv() {
                    job(&mut session);
                }
                // `session` drops here, flushing the attestation key.
            })
            .map_err(|e| TpmError::Invalid(format!("cannot start the TPM thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(source)) => {
                let _ = worker.join();
                return Err(TpmError::Open { tcti, source });
            }
            Err(_) => return Err(TpmError::WorkerGone),
        }
        Ok(Self {
            transport,
            event_log,
            jobs: Mutex::new(Some(jobs)),
            worker: Mutex::new(Some(worker)),
        })
    }

    /// Runs `f` on the worker thread and waits for its answer.
    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Session) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |s| {
            let _ = tx.send(f(s));
        });
        let jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        jobs.as_ref()
            .ok_or(TpmError::WorkerGone)?
            .send(job)
            .map_err(|_| TpmError::WorkerGone)?;
        drop(jobs);
        rx.recv().map_err(|_| TpmError::WorkerGone)?
    }

    /// `TPM2_PCR_Extend` of `pcr` with one digest per bank. Real firmware does this while it
    /// boots; tests and the twin use it to measure a boot they describe in an event log, so
    /// that log's replay and the TPM's PCRs agree for real.
    ///
    /// # Errors
    /// [`TpmError::Invalid`] for a PCR above 23 or a digest of the wrong length;
    /// [`TpmError::Command`] when the TPM refuses (PCRs 17–22 need a locality above 0).
    pub fn extend_pcr(&self, pcr: u8, digests: &[(HashAlg, Vec<u8>)]) -> Result<()> {
        let handle = PcrHandle::try_from(u32::from(pcr))
            .ok()
            .filter(|_| pcr <= 23)
            .ok_or_else(|| TpmError::Invalid(format!("PCR {pcr} is not 0-23")))?;
        let mut values = DigestValues::new();
        for (alg, d) in digests {
            if d.len() != alg.digest_len() {
                return Err(TpmError::Invalid(format!(
                    "a {alg} digest of {} bytes",
                    d.len()
                )));
            }
            let digest = Digest::try_from(d.clone()).map_err(|source| TpmError::Command {
                command: "PCR_Extend",
                source,
            })?;
            values.set(hashing(*alg), digest);
        }
        self.run(move |s| {
            s.ctx
                .execute_with_nullauth_session(|ctx| ctx.pcr_extend(handle, values))
                .map_err(|source| TpmError::Command {
                    command: "PCR_Extend",
                    source,
                })
        })
    }
}

impl TssTpm {
    /// Extends the TPM with every measuring event of `log` (all but `EV_NO_ACTION`), in log
    /// order: a simulated boot, so that the log replays to the TPM's PCRs. For swtpm (tests,
    /// the twin); firmware does this on real hardware.
    ///
    /// # Errors
    /// As [`TssTpm::extend_pcr`], for the first event the TPM refuses.
    pub fn measure_log(&self, log: &EventLog) -> Result<()> {
        for e in log
            .events
            .iter()
            .filter(|e| e.event_type != EventType::EV_NO_ACTION)
        {
            self.extend_pcr(e.pcr, &e.digests)?;
        }
        Ok(())
    }
}

impl Drop for TssTpm {
    fn drop(&mut self) {
        // Closing the channel ends the worker's loop; joining waits for its flush.
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(w) = self
            .worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = w.join();
        }
    }
}

impl Tpm for TssTpm {
    fn backend(&self) -> &'static str {
        "tss"
    }

    fn transport(&self) -> String {
        self.transport.tcti()
    }

    fn is_software(&self) -> bool {
        matches!(self.transport, TpmTransport::Swtpm { .. })
    }

    fn blocks(&self) -> bool {
        true
    }

    fn attestation_key(&self) -> Result<Vec<u8>> {
        self.run(|s| Ok(s.ak()?.1))
    }

    fn quote(&self, nonce: &[u8], selection: &[PcrSelection]) -> Result<Quote> {
        if nonce.len() > 64 {
            return Err(TpmError::Invalid(format!(
                "a nonce of {} bytes (at most 64)",
                nonce.len()
            )));
        }
        let selection = selection_list(selection)?;
        let data = Data::try_from(nonce.to_vec()).map_err(|source| TpmError::Command {
            command: "Quote",
            source,
        })?;
        self.run(move |s| {
            let (ak, ak_public) = s.ak()?;
            let (attest, signature) = s
                .ctx
                .execute_with_nullauth_session(|ctx| {
                    ctx.quote(ak, data, SignatureScheme::Null, selection)
                })
                .map_err(|source| TpmError::Command {
                    command: "Quote",
                    source,
                })?;
            let marshal = |r: tss_esapi::Result<Vec<u8>>| {
                r.map_err(|source| TpmError::Command {
                    command: "Quote (marshal)",
                    source,
                })
            };
            Ok(Quote {
                attest: marshal(attest.marshall())?,
                signature: marshal(signature.marshall())?,
                ak_public,
            })
        })
    }

    fn pcr_read(&self, selection: &[PcrSelection]) -> Result<Vec<PcrValue>> {
        let mut wanted = Vec::new();
        for s in selection {
            for &pcr in &s.pcrs {
                wanted.push((
                    s.bank,
                    pcr,
                    selection_list(&[PcrSelection::new(s.bank, &[pcr])])?,
                ));
            }
        }
        self.run(move |s| {
            let mut out = Vec::with_capacity(wanted.len());
            // One PCR per TPM2_PCR_Read: a read returns at most 8 digests, and asking for
            // one at a time keeps the answer's order unambiguous.
            for (bank, pcr, list) in wanted {
                let (_, _, digests) = s.ctx.pcr_read(list).map_err(|source| TpmError::Command {
                    command: "PCR_Read",
                    source,
                })?;
                let value = digests.value().first().ok_or_else(|| {
                    TpmError::Invalid(format!("the TPM has no {bank} bank (PCR {pcr})"))
                })?;
                out.push(PcrValue {
                    bank,
                    pcr,
                    value: value.to_vec(),
                });
            }
            Ok(out)
        })
    }

    fn seal(&self, secret: &[u8], selection: &[PcrSelection]) -> Result<SealedSecret> {
        let list = policy_selection(selection)?;
        // The worker needs its own copy; this one is zeroed when the job drops it.
        let secret = UnsealedSecret::new(secret.to_vec());
        self.run(move |s| tss_seal::seal(&mut s.ctx, secret.expose(), list))
    }

    fn unseal(&self, sealed: &SealedSecret, selection: &[PcrSelection]) -> Result<UnsealedSecret> {
        let list = policy_selection(selection)?;
        let sealed = sealed.clone();
        self.run(move |s| tss_seal::unseal(&mut s.ctx, &sealed, list))
    }

    fn event_log(&self) -> Result<Option<Vec<u8>>> {
        let Some(path) = &self.event_log else {
            return Ok(None);
        };
        std::fs::read(path)
            .map(Some)
            .map_err(|source| TpmError::EventLog {
                path: path.clone(),
                source,
            })
    }
}

/// The state the worker thread owns.
struct Session {
    ctx: Context,
    ak: Option<(KeyHandle, Vec<u8>)>,
}

impl Session {
    /// The loaded attestation key and its marshalled public part, created on first use.
    fn ak(&mut self) -> Result<(KeyHandle, Vec<u8>)> {
        if let Some((h, p)) = &self.ak {
            return Ok((*h, p.clone()));
        }
        let template = ak_template()?;
        let created = self
            .ctx
            .execute_with_nullauth_session(|ctx| {
                ctx.create_primary(Hierarchy::Endorsement, template, None, None, None, None)
            })
            .map_err(|source| TpmError::Command {
                command: "CreatePrimary (AK)",
                source,
            })?;
        let public = match created.out_public.marshall() {
            Ok(p) => p,
            Err(source) => {
                let _ = self.ctx.flush_context(created.key_handle.into());
                return Err(TpmError::Command {
                    command: "CreatePrimary (marshal)",
                    source,
                });
            }
        };
        self.ak = Some((created.key_handle, public.clone()));
        Ok((created.key_handle, public))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some((h, _)) = self.ak.take() {
            let _ = self.ctx.flush_context(h.into());
        }
    }
}

fn ak_template() -> Result<Public> {
    let build = |what: &'static str| {
        move |source| TpmError::Command {
            command: what,
            source,
        }
    };
    let attributes = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_restricted(true)
        .with_sign_encrypt(true)
        .with_decrypt(false)
        .build()
        .map_err(build("AK attributes"))?;
    let ecc = PublicEccParametersBuilder::new()
        .with_symmetric(SymmetricDefinitionObject::Null)
        .with_ecc_scheme(EccScheme::EcDsa(HashScheme::new(HashingAlgorithm::Sha256)))
        .with_curve(EccCurve::NistP256)
        .with_key_derivation_function_scheme(KeyDerivationFunctionScheme::Null)
        .with_is_signing_key(true)
        .with_is_decryption_key(false)
        .with_restricted(true)
        .build()
        .map_err(build("AK parameters"))?;
    PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::Ecc)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attributes)
        .with_ecc_parameters(ecc)
        .with_ecc_unique_identifier(EccPoint::default())
        .build()
        .map_err(build("AK template"))
}

fn hashing(alg: HashAlg) -> HashingAlgorithm {
    match alg {
        HashAlg::Sha1 => HashingAlgorithm::Sha1,
        HashAlg::Sha256 => HashingAlgorithm::Sha256,
        HashAlg::Sha384 => HashingAlgorithm::Sha384,
        HashAlg::Sha512 => HashingAlgorithm::Sha512,
        HashAlg::Sm3_256 => HashingAlgorithm::Sm3_256,
    }
}

/// A non-empty selection, as a PCR policy needs (an empty one would seal to nothing).
fn policy_selection(selection: &[PcrSelection]) -> Result<tss_esapi::structures::PcrSelectionList> {
    if selection.iter().all(|s| s.pcrs.is_empty()) {
        return Err(TpmError::Invalid(
            "a PCR policy over no PCRs would seal to nothing".into(),
        ));
    }
    selection_list(selection)
}

fn selection_list(selection: &[PcrSelection]) -> Result<tss_esapi::structures::PcrSelectionList> {
    let mut builder = PcrSelectionListBuilder::new();
    for s in selection {
        let slots = s
            .pcrs
            .iter()
            .map(|&p| {
                (p <= 23)
                    .then(|| PcrSlot::try_from(1u32 << p).ok())
                    .flatten()
                    .ok_or_else(|| TpmError::Invalid(format!("PCR {p} is not 0-23")))
            })
            .collect::<Result<Vec<_>>>()?;
        builder = builder.with_selection(hashing(s.bank), &slots);
    }
    builder.build().map_err(|source| TpmError::Command {
        command: "PCR selection",
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_name_their_tcti_and_the_device_is_found_only_when_present() {
        let swtpm = TpmTransport::Swtpm {
            host: "127.0.0.1".into(),
            port: 2321,
        };
        assert_eq!(swtpm.tcti(), "swtpm:host=127.0.0.1,port=2321");
        let dev = tempfile::tempdir().unwrap();
        assert_eq!(TpmTransport::detect_device(dev.path()), None);
        std::fs::write(dev.path().join("tpmrm0"), b"").unwrap();
        let found = TpmTransport::detect_device(dev.path()).unwrap();
        assert_eq!(
            found.tcti(),
            format!("device:{}", dev.path().join("tpmrm0").display())
        );
    }
}
