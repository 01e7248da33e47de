//! The twin's SPDM 1.2 responders: one per simulated device, in-process.
//!
//! Modelled: VCA (version 1.2 only; capabilities CERT, CHAL, MEAS with signature, MEAS_FRESH;
//! algorithm selection of the device's own ECDSA curve with its paired base hash, and the
//! configured measurement hash), DIGESTS and CERTIFICATE of slot 0 (chunked at
//! [`TwinSpdmConfig::max_chunk`] bytes), CHALLENGE_AUTH signed over M1 and MEASUREMENTS
//! (count, one index, or all) signed over L1, with the transcripts kept as libspdm keeps
//! them; ERROR for malformed or out-of-order requests. Not modelled: sessions
//! (KEY_EXCHANGE…), mutual authentication, chunked transfer (CHUNK_CAP), slots other than 0.
//!
//! Each device's chain is `vendor CA ‖ device certificate`, the CA shared by every twin
//! device and both keys derived from the topology seed ([`super::keys`]). Responder nonces
//! are `SHA-256(seed ‖ device ‖ counter)`, fresh per response and reproducible per run.
//!
//! Faults ([`SpdmFault`], injected through the [`TwinSpdmFaults`] handle, per device):
//! a tampered firmware measurement, a chain issued by a rogue CA, a corrupted signature, a
//! stale answer (the previous CHALLENGE_AUTH / MEASUREMENTS replayed verbatim, or, with
//! none yet, the requester's own nonce reflected), and an unreachable device.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use aws_lc_rs::rand::SystemRandom;
use corridor_protocols::spdm::algorithms::{MEASUREMENT_SPEC_DMTF, OPAQUE_DATA_FMT1};
use corridor_protocols::spdm::request::{MEASUREMENTS_ALL, measurement_attributes};
use corridor_protocols::spdm::response::{VERSION_ENTRY_12, error_code};
use corridor_protocols::spdm::signing::signed_message;
use corridor_protocols::spdm::{
    Algorithms, AsymAlgo, CapabilityFields, CertChain, ChallengeAuth, HashAlgo, MeasurementBlock,
    MeasurementHash, Measurements, Negotiated, Request, Response, SignedResponse, SpdmError,
    Transcript, VERSION_12, capability,
};

use super::identity::{AttestableDevice, FIRMWARE_INDEX, attestable_devices, hash_bytes};
use super::keys::{TwinCa, TwinKey, paired_hash};
use super::{SpdmConnector, SpdmTransport, SpdmTransportError, TwinSpdmError};
use crate::topology::Topology;

/// What the twin's responders negotiate and how they chunk certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwinSpdmConfig {
    /// The curve of every twin key (the vendor CA's and the devices').
    pub asym: AsymAlgo,
    /// The measurement hash the responders select.
    pub measurement_hash: HashAlgo,
    /// Largest CERTIFICATE portion a responder returns, whatever the request asks.
    pub max_chunk: u16,
}

impl Default for TwinSpdmConfig {
    /// P-256 with SHA-256 keeps a whole attestation cheap; SHA-384 measurements differ
    /// from the base hash on purpose, as DMTF's responder's do (SHA-384 / SHA-512).
    fn default() -> Self {
        TwinSpdmConfig {
            asym: AsymAlgo::EcdsaP256,
            measurement_hash: HashAlgo::Sha384,
            max_chunk: 512,
        }
    }
}

/// A fault of one twin SPDM device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SpdmFault {
    /// The mutable-firmware measurement (index 2) is not the genuine image's.
    TamperedFirmware,
    /// The device presents a chain issued by a CA other than the twin vendor CA.
    WrongChain,
    /// CHALLENGE_AUTH and MEASUREMENTS signatures are corrupted.
    WrongSignature,
    /// The device answers CHALLENGE and signed GET_MEASUREMENTS with old responses.
    StaleNonce,
    /// The device does not answer.
    Unreachable,
}

/// The fault handle of the twin's SPDM devices (cloneable, shared with every connection).
#[derive(Debug, Clone, Default)]
pub struct TwinSpdmFaults(Arc<Mutex<HashMap<String, BTreeSet<SpdmFault>>>>);

impl TwinSpdmFaults {
    pub fn inject(&self, device: &str, fault: SpdmFault) {
        self.lock()
            .entry(device.to_string())
            .or_default()
            .insert(fault);
    }

    pub fn clear(&self, device: &str, fault: SpdmFault) {
        if let Some(set) = self.lock().get_mut(device) {
            set.remove(&fault);
        }
    }

    pub fn clear_device(&self, device: &str) {
        self.lock().remove(device);
    }

    #[must_use]
    pub fn active(&self, device: &str) -> BTreeSet<SpdmFault> {
        self.lock().get(device).cloned().unwrap_or_default()
    }

    fn has(&self, device: &str, fault: SpdmFault) -> bool {
        self.lock().get(device).is_some_and(|s| s.contains(&fault))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, BTreeSet<SpdmFault>>> {
        // A poisoned map only means a panicking test thread held it; the data is still sound.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[derive(Debug)]
struct TwinDevice {
    identity: AttestableDevice,
    serial: u64,
    key: TwinKey,
    /// DER: vendor CA ‖ device certificate.
    certs: Vec<u8>,
    /// DER: rogue CA ‖ device certificate issued by it (built on first use).
    rogue_certs: OnceLock<Vec<u8>>,
    nonce_counter: AtomicU64,
    last_challenge_auth: Mutex<Option<Vec<u8>>>,
    last_measurements: Mutex<Option<Vec<u8>>>,
}

/// The twin's SPDM devices.
#[derive(Debug)]
pub struct TwinSpdm {
    seed: u64,
    config: TwinSpdmConfig,
    ca: TwinCa,
    rogue: Arc<TwinCa>,
    devices: HashMap<String, Arc<TwinDevice>>,
    order: Vec<String>,
    faults: TwinSpdmFaults,
}

impl TwinSpdm {
    /// One responder for every attestable device of `topology`, keys from its seed.
    pub fn from_topology(
        topology: &Topology,
        config: TwinSpdmConfig,
    ) -> Result<TwinSpdm, TwinSpdmError> {
        Self::new(topology.twin().seed, attestable_devices(topology), config)
    }

    /// Responders for `devices` (benchmarks and tests build fleets without a topology).
    pub fn new(
        seed: u64,
        devices: Vec<AttestableDevice>,
        config: TwinSpdmConfig,
    ) -> Result<TwinSpdm, TwinSpdmError> {
        let ca = TwinCa::new(seed, "vendor-ca", "CorridorOS twin vendor CA", config.asym)?;
        let rogue = Arc::new(TwinCa::new(
            seed,
            "rogue-ca",
            "CorridorOS twin vendor CA",
            config.asym,
        )?);
        let mut map = HashMap::with_capacity(devices.len());
        let mut order = Vec::with_capacity(devices.len());
        for (i, identity) in devices.into_iter().enumerate() {
            let key = TwinKey::derive(seed, &identity.id, config.asym)?;
            let serial = 1000 + i as u64;
            let leaf = ca.issue_device(&identity.id, serial, &key)?;
            let mut certs = ca.der.clone();
            certs.extend_from_slice(&leaf);
            let id = identity.id.clone();
            let device = TwinDevice {
                identity,
                serial,
                key,
                certs,
                rogue_certs: OnceLock::new(),
                nonce_counter: AtomicU64::new(0),
                last_challenge_auth: Mutex::new(None),
                last_measurements: Mutex::new(None),
            };
            if map.insert(id.clone(), Arc::new(device)).is_some() {
                return Err(TwinSpdmError::DuplicateDevice(id));
            }
            order.push(id);
        }
        Ok(TwinSpdm {
            seed,
            config,
            ca,
            rogue,
            devices: map,
            order,
            faults: TwinSpdmFaults::default(),
        })
    }

    /// The twin vendor CA certificate (DER): the root a verifier of twin devices trusts.
    #[must_use]
    pub fn vendor_root_der(&self) -> &[u8] {
        &self.ca.der
    }

    #[must_use]
    pub fn config(&self) -> TwinSpdmConfig {
        self.config
    }

    /// The devices, in topology order.
    pub fn devices(&self) -> impl Iterator<Item = &AttestableDevice> {
        self.order
            .iter()
            .filter_map(|id| self.devices.get(id))
            .map(|d| &d.identity)
    }

    #[must_use]
    pub fn device(&self, id: &str) -> Option<&AttestableDevice> {
        self.devices.get(id).map(|d| &d.identity)
    }

    /// The genuine device certificate (DER) of `id`: what an operator pins at enrolment.
    #[must_use]
    pub fn device_certificate_der(&self, id: &str) -> Option<&[u8]> {
        self.devices.get(id).map(|d| &d.certs[self.ca.der.len()..])
    }

    /// The fault handle.
    #[must_use]
    pub fn faults(&self) -> TwinSpdmFaults {
        self.faults.clone()
    }

    /// Opens an in-process connection to `id`.
    pub fn open(&self, id: &str) -> Result<TwinSpdmTransport, SpdmTransportError> {
        let device = self
            .devices
            .get(id)
            .ok_or_else(|| SpdmTransportError::UnknownDevice {
                device: id.to_string(),
            })?;
        if self.faults.has(id, SpdmFault::Unreachable) {
            return Err(unreachable(id));
        }
        Ok(TwinSpdmTransport {
            seed: self.seed,
            config: self.config,
            device: Arc::clone(device),
            rogue: Arc::clone(&self.rogue),
            faults: self.faults.clone(),
            state: Connection::default(),
        })
    }
}

impl SpdmConnector for TwinSpdm {
    fn connect(&self, device_id: &str) -> Result<Box<dyn SpdmTransport>, SpdmTransportError> {
        Ok(Box::new(self.open(device_id)?))
    }
}

fn unreachable(id: &str) -> SpdmTransportError {
    SpdmTransportError::Unreachable {
        device: id.to_string(),
        reason: "twin fault: the device does not answer".into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Stage {
    #[default]
    Idle,
    Versioned,
    Capable,
    Negotiated,
}

#[derive(Debug, Default)]
struct Connection {
    stage: Stage,
    transcript: Transcript,
    negotiated: Option<Negotiated>,
    /// The SPDM-format chain of slot 0 for the negotiated hash.
    chain: Vec<u8>,
}

/// One in-process connection to a twin device: an SPDM responder.
#[derive(Debug)]
pub struct TwinSpdmTransport {
    seed: u64,
    config: TwinSpdmConfig,
    device: Arc<TwinDevice>,
    rogue: Arc<TwinCa>,
    faults: TwinSpdmFaults,
    state: Connection,
}

fn error(code: u8, version: u8) -> Response {
    Response::Error {
        version,
        error_code: code,
        error_data: 0,
        extended: Vec::new(),
    }
}

impl SpdmTransport for TwinSpdmTransport {
    fn exchange(&mut self, request: &[u8]) -> Result<Vec<u8>, SpdmTransportError> {
        let id = self.device.identity.id.clone();
        if self.faults.has(&id, SpdmFault::Unreachable) {
            return Err(unreachable(&id));
        }
        let response = match Request::decode(request) {
            Ok(req) => self.respond(&req, request),
            Err(SpdmError::Version { got, .. }) => {
                Ok(Reply::Encode(error(error_code::VERSION_MISMATCH, got)))
            }
            Err(_) => Ok(Reply::Encode(error(
                error_code::INVALID_REQUEST,
                VERSION_12,
            ))),
        };
        match response {
            Ok(Reply::Encode(r)) => r.encode(),
            Ok(Reply::Bytes(b)) => Ok(b),
            Err(code) => error(code, VERSION_12).encode(),
        }
        .map_err(|e| SpdmTransportError::Framing {
            peer: id,
            source: e,
        })
    }
}

/// A response to encode, or bytes already encoded (signed or replayed).
enum Reply {
    Encode(Response),
    Bytes(Vec<u8>),
}

impl TwinSpdmTransport {
    fn fault(&self, fault: SpdmFault) -> bool {
        self.faults.has(&self.device.identity.id, fault)
    }

    fn nonce(&self) -> [u8; 32] {
        let n = self.device.nonce_counter.fetch_add(1, Ordering::Relaxed);
        let digest = hash_bytes(
            HashAlgo::Sha256,
            &[
                b"corridor-twin-spdm-nonce",
                &self.seed.to_be_bytes(),
                self.device.identity.id.as_bytes(),
                &n.to_be_bytes(),
            ],
        );
        let mut out = [0u8; 32];
        out.copy_from_slice(&digest);
        out
    }

    fn sign(&self, what: SignedResponse, transcript_hash: &[u8]) -> Result<Vec<u8>, u8> {
        let message = signed_message(what, transcript_hash);
        let mut sig = self
            .device
            .key
            .signer
            .sign(&SystemRandom::new(), &message)
            .map_err(|_| error_code::UNSPECIFIED)?
            .as_ref()
            .to_vec();
        if self.fault(SpdmFault::WrongSignature) {
            sig[0] ^= 0x01;
        }
        Ok(sig)
    }

    fn blocks(&self) -> Vec<MeasurementBlock> {
        let mut blocks = self
            .device
            .identity
            .measurement_blocks(self.config.measurement_hash);
        if self.fault(SpdmFault::TamperedFirmware) {
            let mut image = self.device.identity.firmware_image();
            image.extend_from_slice(b"\0implant");
            for b in blocks.iter_mut().filter(|b| b.index == FIRMWARE_INDEX) {
                b.value = hash_bytes(self.config.measurement_hash, &[&image]);
            }
        }
        blocks
    }

    fn spdm_chain(&self, hash: HashAlgo) -> Result<Vec<u8>, u8> {
        let certs = if self.fault(SpdmFault::WrongChain) {
            self.device
                .rogue_certs
                .get_or_init(|| {
                    // The rogue CA signs a certificate for the device's own key, so only
                    // the issuer is wrong.
                    let mut certs = self.rogue.der.clone();
                    if let Ok(leaf) = self.rogue.issue_device(
                        &self.device.identity.id,
                        self.device.serial,
                        &self.device.key,
                    ) {
                        certs.extend_from_slice(&leaf);
                    }
                    certs
                })
                .clone()
        } else {
            self.device.certs.clone()
        };
        let root_len = corridor_protocols::spdm::cert_chain::split_der_certificates(&certs)
            .ok()
            .and_then(|c| c.first().map(|r| r.len()))
            .ok_or(error_code::UNSPECIFIED)?;
        CertChain {
            root_hash: hash_bytes(hash, &[&certs[..root_len]]),
            certificates: certs,
        }
        .encode()
        .map_err(|_| error_code::UNSPECIFIED)
    }

    fn respond(&mut self, req: &Request, raw: &[u8]) -> Result<Reply, u8> {
        let st = &mut self.state;
        match req {
            Request::GetVersion => {
                st.transcript.reset();
                st.negotiated = None;
                let resp = Response::Version(vec![VERSION_ENTRY_12]);
                let bytes = resp.encode().map_err(|_| error_code::UNSPECIFIED)?;
                st.transcript.append_a(raw);
                st.transcript.append_a(&bytes);
                st.stage = Stage::Versioned;
                Ok(Reply::Bytes(bytes))
            }
            Request::GetCapabilities(_) => {
                if st.stage != Stage::Versioned {
                    return Err(error_code::UNEXPECTED_REQUEST);
                }
                let resp = Response::Capabilities(CapabilityFields {
                    ct_exponent: 12,
                    flags: capability::CERT_CAP
                        | capability::CHAL_CAP
                        | capability::MEAS_CAP_SIG
                        | capability::MEAS_FRESH_CAP,
                    data_transfer_size: 4096,
                    max_spdm_msg_size: 4096,
                });
                let bytes = resp.encode().map_err(|_| error_code::UNSPECIFIED)?;
                st.transcript.append_a(raw);
                st.transcript.append_a(&bytes);
                st.stage = Stage::Capable;
                Ok(Reply::Bytes(bytes))
            }
            Request::NegotiateAlgorithms(n) => {
                if st.stage != Stage::Capable {
                    return Err(error_code::UNEXPECTED_REQUEST);
                }
                let asym = self.config.asym;
                let hash = paired_hash(asym);
                if n.measurement_specification & MEASUREMENT_SPEC_DMTF == 0
                    || n.base_asym_algo & asym.bit() == 0
                    || n.base_hash_algo & hash.base_bit() == 0
                {
                    return Err(error_code::INVALID_REQUEST);
                }
                let negotiated = Negotiated {
                    asym,
                    hash,
                    measurement_hash: MeasurementHash::Hash(self.config.measurement_hash),
                };
                let resp = Response::Algorithms(Algorithms {
                    measurement_specification_sel: MEASUREMENT_SPEC_DMTF,
                    other_params_selection: n.other_params_support & OPAQUE_DATA_FMT1,
                    measurement_hash_algo: negotiated.measurement_hash.bit(),
                    base_asym_sel: asym.bit(),
                    base_hash_sel: hash.base_bit(),
                    ext_asym_sel: Vec::new(),
                    ext_hash_sel: Vec::new(),
                    alg_structs: Vec::new(),
                });
                let bytes = resp.encode().map_err(|_| error_code::UNSPECIFIED)?;
                let chain = self.spdm_chain(hash)?;
                let st = &mut self.state;
                st.transcript.append_a(raw);
                st.transcript.append_a(&bytes);
                st.negotiated = Some(negotiated);
                st.chain = chain;
                st.stage = Stage::Negotiated;
                Ok(Reply::Bytes(bytes))
            }
            _ if st.stage != Stage::Negotiated => Err(error_code::UNEXPECTED_REQUEST),
            Request::GetDigests => {
                let hash = st.negotiated.ok_or(error_code::UNEXPECTED_REQUEST)?.hash;
                let resp = Response::Digests {
                    slot_mask: 0x01,
                    digests: vec![hash_bytes(hash, &[&st.chain])],
                };
                let bytes = resp.encode().map_err(|_| error_code::UNSPECIFIED)?;
                st.transcript.append_b(raw);
                st.transcript.append_b(&bytes);
                Ok(Reply::Bytes(bytes))
            }
            Request::GetCertificate {
                slot_id,
                offset,
                length,
            } => {
                let offset = usize::from(*offset);
                if *slot_id != 0 || offset >= st.chain.len() {
                    return Err(error_code::INVALID_REQUEST);
                }
                let take = usize::from(*length)
                    .min(usize::from(self.config.max_chunk))
                    .min(st.chain.len() - offset);
                let resp = Response::Certificate {
                    slot_id: 0,
                    portion: st.chain[offset..offset + take].to_vec(),
                    remainder_length: (st.chain.len() - offset - take) as u16,
                };
                let bytes = resp.encode().map_err(|_| error_code::UNSPECIFIED)?;
                st.transcript.append_b(raw);
                st.transcript.append_b(&bytes);
                Ok(Reply::Bytes(bytes))
            }
            Request::Challenge {
                slot_id,
                measurement_summary,
                nonce,
            } => {
                if *slot_id != 0 {
                    return Err(error_code::INVALID_REQUEST);
                }
                let negotiated = st.negotiated.ok_or(error_code::UNEXPECTED_REQUEST)?;
                let stale = self.fault(SpdmFault::StaleNonce);
                if stale && let Some(old) = lock(&self.device.last_challenge_auth).clone() {
                    return Ok(Reply::Bytes(old));
                }
                let summary = (*measurement_summary != 0).then(|| {
                    let record =
                        corridor_protocols::spdm::measurement::encode_record(&self.blocks())
                            .unwrap_or_default();
                    hash_bytes(negotiated.hash, &[&record])
                });
                let responder_nonce = if stale { *nonce } else { self.nonce() };
                let st = &mut self.state;
                let unsigned = Response::ChallengeAuth(ChallengeAuth {
                    attributes: 0,
                    slot_mask: 0x01,
                    cert_chain_hash: hash_bytes(negotiated.hash, &[&st.chain]),
                    nonce: responder_nonce,
                    measurement_summary_hash: summary,
                    opaque: Vec::new(),
                    signature: Vec::new(),
                })
                .encode()
                .map_err(|_| error_code::UNSPECIFIED)?;
                st.transcript.append_c(raw);
                st.transcript.append_c(&unsigned);
                let m1 = hash_bytes(negotiated.hash, &st.transcript.m1_parts());
                st.transcript.reset_bc();
                let mut bytes = unsigned;
                bytes.extend_from_slice(&self.sign(SignedResponse::ChallengeAuth, &m1)?);
                if self.faults.active(&self.device.identity.id).is_empty() {
                    *lock(&self.device.last_challenge_auth) = Some(bytes.clone());
                }
                Ok(Reply::Bytes(bytes))
            }
            Request::GetMeasurements(g) => {
                let negotiated = st.negotiated.ok_or(error_code::UNEXPECTED_REQUEST)?;
                if g.attributes & measurement_attributes::RAW_BIT_STREAM_REQUESTED != 0 {
                    return Err(error_code::INVALID_REQUEST);
                }
                let stale = self.fault(SpdmFault::StaleNonce) && g.signed.is_some();
                if stale && let Some(old) = lock(&self.device.last_measurements).clone() {
                    return Ok(Reply::Bytes(old));
                }
                let all = self.blocks();
                let (total_indices, blocks) = match g.operation {
                    0 => (all.len() as u8, Vec::new()),
                    MEASUREMENTS_ALL => (0, all),
                    index => {
                        let one: Vec<_> = all.into_iter().filter(|b| b.index == index).collect();
                        if one.is_empty() {
                            return Err(error_code::INVALID_REQUEST);
                        }
                        (0, one)
                    }
                };
                let responder_nonce = match (&g.signed, stale) {
                    (Some(s), true) => s.nonce,
                    _ => self.nonce(),
                };
                let unsigned = Response::Measurements(Measurements {
                    total_indices,
                    slot_id: g.signed.map_or(0, |s| s.slot_id),
                    content_changed: 0,
                    blocks,
                    nonce: responder_nonce,
                    opaque: Vec::new(),
                    signature: None,
                })
                .encode()
                .map_err(|_| error_code::UNSPECIFIED)?;
                let st = &mut self.state;
                st.transcript.append_m(raw);
                st.transcript.append_m(&unsigned);
                if g.signed.is_none() {
                    return Ok(Reply::Bytes(unsigned));
                }
                let l1 = hash_bytes(negotiated.hash, &st.transcript.l1_parts());
                st.transcript.reset_m();
                let mut bytes = unsigned;
                bytes.extend_from_slice(&self.sign(SignedResponse::Measurements, &l1)?);
                if self.faults.active(&self.device.identity.id).is_empty() {
                    *lock(&self.device.last_measurements) = Some(bytes.clone());
                }
                Ok(Reply::Bytes(bytes))
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
