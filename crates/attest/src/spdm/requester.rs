//! The SPDM 1.2 requester: VCA → GET_DIGESTS → GET_CERTIFICATE (chunked) → CHALLENGE →
//! GET_MEASUREMENTS (signed, all blocks), verifying as it goes.
//!
//! Checks, in order, each turning into a [`Contraindication`] that names what failed:
//! transport (unreachable), decoding (garbage, naming the request), ERROR answers,
//! version 1.2 offered, CERT/CHAL/signed-MEAS capabilities, algorithms among those offered,
//! DIGESTS slot 0 = H(chain), RootHash = H(first certificate), chain to a configured root,
//! leaf key pinned and on the negotiated curve; CHALLENGE_AUTH names the chain's hash, its
//! nonce is fresh, its signature verifies over M1; MEASUREMENTS' nonce is fresh, its
//! signature verifies over L1, digests have the measurement hash's size, and every
//! reference value matches.

use corridor_hal::attestation::{SpdmTransport, SpdmTransportError};
use corridor_pki::pinning::SpkiPin;
use corridor_protocols::spdm::algorithms::{
    MEASUREMENT_SPEC_DMTF, OPAQUE_DATA_FMT1, base_asym, base_hash,
};
use corridor_protocols::spdm::cert_chain::CertChain;
use corridor_protocols::spdm::request::{MEASUREMENTS_ALL, measurement_attributes};
use corridor_protocols::spdm::signing::signed_message;
use corridor_protocols::spdm::{
    AsymAlgo, CapabilityFields, GetMeasurements, HashAlgo, MeasurementHash, NONCE_LEN,
    NegotiateAlgorithms, Negotiated, Request, Response, ResponseContext, SignedRequest,
    SignedResponse, Transcript, capability,
};

use super::chain::{ChainFault, check_chain};
use super::crypto::{hash, verify_raw};
use super::nonce::{NonceHistory, NonceSource};
use super::verdict::{AttestationReport, Contraindication, Hex, Verdict};

/// What the verifier trusts for one device (or a class of devices).
#[derive(Debug, Clone, Default)]
pub struct DevicePolicy {
    /// DER certificates of the vendor roots.
    pub roots: Vec<Vec<u8>>,
    /// The device keys accepted (SHA-256 of the leaf SPKI).
    pub pins: Vec<SpkiPin>,
    /// Reference values: measurement index → expected digest (or raw value).
    pub reference: Vec<(u8, Vec<u8>)>,
    /// Check certificate validity at this Unix time; `None` skips the check (devices
    /// often have no clock and their certificates may be valid for decades anyway).
    pub now_unix: Option<i64>,
}

/// What the requester offers and asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequesterConfig {
    /// BaseAsymAlgo mask offered.
    pub base_asym: u32,
    /// BaseHashAlgo mask offered.
    pub base_hash: u32,
    /// Length asked for in each GET_CERTIFICATE.
    pub certificate_chunk: u16,
    /// DataTransferSize and MaxSPDMmsgSize declared in GET_CAPABILITIES.
    pub data_transfer_size: u32,
}

impl Default for RequesterConfig {
    fn default() -> Self {
        RequesterConfig {
            base_asym: base_asym::ECDSA_P256 | base_asym::ECDSA_P384,
            base_hash: base_hash::SHA_256 | base_hash::SHA_384 | base_hash::SHA_512,
            certificate_chunk: 1024,
            data_transfer_size: 4096,
        }
    }
}

/// What one attestation asks of the device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttestOptions {
    /// The certificate slot (0..=7) whose chain authenticates the device and signs.
    pub slot_id: u8,
    /// Measurement blocks to fetch, one GET_MEASUREMENTS each, the last one signed over
    /// the whole L1 transcript; empty fetches every block in one signed request.
    pub indices: Vec<u8>,
    /// The nonce of the signed GET_MEASUREMENTS, when the caller's challenge must be the
    /// one the device signs over; `None` draws one from the nonce source.
    pub measurement_nonce: Option<[u8; NONCE_LEN]>,
}

/// An SPDM requester with its configuration and the memory of responder nonces.
#[derive(Debug, Default)]
pub struct Requester {
    pub config: RequesterConfig,
    pub history: NonceHistory,
}

/// The connection state of one attestation.
struct Session<'a> {
    transport: &'a mut dyn SpdmTransport,
    transcript: Transcript,
    ctx: ResponseContext,
    report: AttestationReport,
}

type Step<T> = Result<T, Contraindication>;

fn garbage(request: &'static str, detail: impl Into<String>) -> Contraindication {
    Contraindication::Garbage {
        request,
        detail: detail.into(),
    }
}

impl Session<'_> {
    /// One exchange: returns the raw request, the raw response and the decoded response,
    /// which must be `expected` (anything else, ERROR included, is a contraindication).
    fn exchange(
        &mut self,
        request: &Request,
        expected: &'static str,
    ) -> Step<(Vec<u8>, Vec<u8>, Response)> {
        let name = request.name();
        let raw_req = request
            .encode()
            .map_err(|e| garbage(name, format!("cannot encode: {e}")))?;
        self.report.exchanges += 1;
        let raw_resp = self.transport.exchange(&raw_req).map_err(|e| match e {
            SpdmTransportError::Framing { .. } => garbage(name, error_chain(&e)),
            other => Contraindication::Unreachable {
                detail: error_chain(&other),
            },
        })?;
        let resp =
            Response::decode(&raw_resp, &self.ctx).map_err(|e| garbage(name, e.to_string()))?;
        match &resp {
            Response::Error {
                error_code,
                error_data,
                ..
            } => Err(Contraindication::ErrorResponse {
                request: name,
                code: *error_code,
                data: *error_data,
            }),
            r if r.name() != expected => Err(garbage(
                name,
                format!("answered {} instead of {expected}", r.name()),
            )),
            _ => Ok((raw_req, raw_resp, resp)),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

impl Requester {
    #[must_use]
    pub fn new(config: RequesterConfig) -> Self {
        Requester {
            config,
            history: NonceHistory::default(),
        }
    }

    /// Attests the device behind `transport` against `policy`: slot 0, every measurement
    /// block.
    pub fn attest(
        &self,
        transport: &mut dyn SpdmTransport,
        policy: &DevicePolicy,
        nonces: &mut dyn NonceSource,
    ) -> AttestationReport {
        self.attest_with(transport, policy, nonces, &AttestOptions::default())
    }

    /// Attests the device behind `transport` against `policy`, as `options` ask.
    pub fn attest_with(
        &self,
        transport: &mut dyn SpdmTransport,
        policy: &DevicePolicy,
        nonces: &mut dyn NonceSource,
        options: &AttestOptions,
    ) -> AttestationReport {
        let mut session = Session {
            transport,
            transcript: Transcript::default(),
            ctx: ResponseContext::default(),
            report: AttestationReport {
                verdict: Verdict::Affirming,
                negotiated: None,
                leaf_pin: None,
                measurements: Vec::new(),
                exchanges: 0,
            },
        };
        if let Err(reason) = self.run(&mut session, policy, nonces, options) {
            session.report.verdict = Verdict::Contraindicated(reason);
        }
        session.report
    }

    fn run(
        &self,
        s: &mut Session<'_>,
        policy: &DevicePolicy,
        nonces: &mut dyn NonceSource,
        options: &AttestOptions,
    ) -> Step<()> {
        if options.slot_id > 7 {
            return Err(garbage(
                "GET_DIGESTS",
                format!("slot {} does not exist (SPDM has 0..=7)", options.slot_id),
            ));
        }
        let negotiated = self.vca(s)?;
        let (chain_bytes, leaf) = self.certificate(s, negotiated, policy, options.slot_id)?;
        self.challenge(s, negotiated, &chain_bytes, &leaf, nonces, options.slot_id)?;
        self.measurements(s, negotiated, &leaf, policy, nonces, options)
    }

    fn vca(&self, s: &mut Session<'_>) -> Step<Negotiated> {
        let (q, r, resp) = s.exchange(&Request::GetVersion, "VERSION")?;
        let Response::Version(entries) = resp else {
            return Err(garbage("GET_VERSION", "not VERSION"));
        };
        if !entries.iter().any(|e| e >> 8 == 0x12) {
            return Err(Contraindication::Negotiation {
                detail: format!("the device offers versions {entries:04x?}, not 1.2"),
            });
        }
        s.transcript.reset();
        s.transcript.append_a(&q);
        s.transcript.append_a(&r);

        let caps = Request::GetCapabilities(CapabilityFields {
            ct_exponent: 0,
            flags: 0,
            data_transfer_size: self.config.data_transfer_size,
            max_spdm_msg_size: self.config.data_transfer_size,
        });
        let (q, r, resp) = s.exchange(&caps, "CAPABILITIES")?;
        let Response::Capabilities(c) = resp else {
            return Err(garbage("GET_CAPABILITIES", "not CAPABILITIES"));
        };
        let needed = capability::CERT_CAP | capability::CHAL_CAP | capability::MEAS_CAP_SIG;
        if c.flags & needed != needed {
            return Err(Contraindication::Negotiation {
                detail: format!(
                    "capabilities 0x{:08x} lack CERT, CHAL or signed MEAS",
                    c.flags
                ),
            });
        }
        s.transcript.append_a(&q);
        s.transcript.append_a(&r);

        let algos = Request::NegotiateAlgorithms(NegotiateAlgorithms {
            measurement_specification: MEASUREMENT_SPEC_DMTF,
            other_params_support: OPAQUE_DATA_FMT1,
            base_asym_algo: self.config.base_asym,
            base_hash_algo: self.config.base_hash,
            ext_asym: Vec::new(),
            ext_hash: Vec::new(),
            alg_structs: Vec::new(),
        });
        let (q, r, resp) = s.exchange(&algos, "ALGORITHMS")?;
        let Response::Algorithms(a) = resp else {
            return Err(garbage("NEGOTIATE_ALGORITHMS", "not ALGORITHMS"));
        };
        let neg = |e: corridor_protocols::spdm::SpdmError| Contraindication::Negotiation {
            detail: e.to_string(),
        };
        let asym = AsymAlgo::from_selection("ALGORITHMS", a.base_asym_sel).map_err(neg)?;
        let hash_algo =
            HashAlgo::from_base_selection("ALGORITHMS", a.base_hash_sel).map_err(neg)?;
        let measurement_hash =
            MeasurementHash::from_selection("ALGORITHMS", a.measurement_hash_algo).map_err(neg)?;
        if asym.bit() & self.config.base_asym == 0
            || hash_algo.base_bit() & self.config.base_hash == 0
        {
            return Err(Contraindication::Negotiation {
                detail: format!(
                    "the device selected {asym:?}/{hash_algo:?}, which were not offered"
                ),
            });
        }
        if a.measurement_specification_sel != MEASUREMENT_SPEC_DMTF {
            return Err(Contraindication::Negotiation {
                detail: format!(
                    "measurement specification 0x{:02x} is not DMTF",
                    a.measurement_specification_sel
                ),
            });
        }
        if measurement_hash == MeasurementHash::RawBitStream {
            return Err(Contraindication::Negotiation {
                detail: "raw bit-stream measurements cannot be compared with digests".into(),
            });
        }
        s.transcript.append_a(&q);
        s.transcript.append_a(&r);
        let negotiated = Negotiated {
            asym,
            hash: hash_algo,
            measurement_hash,
        };
        s.ctx.negotiated = Some(negotiated);
        s.report.negotiated = Some(negotiated);
        Ok(negotiated)
    }

    fn certificate(
        &self,
        s: &mut Session<'_>,
        n: Negotiated,
        policy: &DevicePolicy,
        slot: u8,
    ) -> Step<(Vec<u8>, super::chain::LeafKey)> {
        let (q, r, resp) = s.exchange(&Request::GetDigests, "DIGESTS")?;
        let Response::Digests { slot_mask, digests } = resp else {
            return Err(garbage("GET_DIGESTS", "not DIGESTS"));
        };
        if slot_mask & (1 << slot) == 0 {
            return Err(garbage(
                "GET_DIGESTS",
                format!("slot {slot} holds no certificate chain"),
            ));
        }
        // DIGESTS lists one digest per populated slot, in slot order.
        let position = (slot_mask & ((1u8 << slot) - 1)).count_ones() as usize;
        let slot_digest = digests
            .get(position)
            .cloned()
            .ok_or_else(|| garbage("GET_DIGESTS", format!("no digest for slot {slot}")))?;
        s.transcript.append_b(&q);
        s.transcript.append_b(&r);

        let mut chain = Vec::new();
        loop {
            let offset = u16::try_from(chain.len())
                .map_err(|_| garbage("GET_CERTIFICATE", "the chain exceeds 65535 bytes"))?;
            let request = Request::GetCertificate {
                slot_id: slot,
                offset,
                length: self.config.certificate_chunk,
            };
            let (q, r, resp) = s.exchange(&request, "CERTIFICATE")?;
            let Response::Certificate {
                slot_id,
                portion,
                remainder_length,
            } = resp
            else {
                return Err(garbage("GET_CERTIFICATE", "not CERTIFICATE"));
            };
            if slot_id != slot {
                return Err(garbage(
                    "GET_CERTIFICATE",
                    format!("answered for slot {slot_id}"),
                ));
            }
            if portion.is_empty() && remainder_length != 0 {
                return Err(garbage(
                    "GET_CERTIFICATE",
                    "an empty portion with bytes remaining",
                ));
            }
            if portion.len() > usize::from(self.config.certificate_chunk) {
                return Err(garbage(
                    "GET_CERTIFICATE",
                    format!("a portion of {} bytes, more than asked", portion.len()),
                ));
            }
            if chain.len() + portion.len() + usize::from(remainder_length) > usize::from(u16::MAX) {
                return Err(garbage(
                    "GET_CERTIFICATE",
                    "the chain would exceed 65535 bytes",
                ));
            }
            chain.extend_from_slice(&portion);
            s.transcript.append_b(&q);
            s.transcript.append_b(&r);
            if remainder_length == 0 {
                break;
            }
        }

        if hash(n.hash, &[&chain]) != slot_digest {
            return Err(Contraindication::CertificateInvalid {
                detail: format!("the chain's hash is not the slot {slot} digest of DIGESTS"),
            });
        }
        let parsed = CertChain::decode(&chain, n.hash.size()).map_err(|e| {
            Contraindication::CertificateInvalid {
                detail: e.to_string(),
            }
        })?;
        let ders = parsed
            .der_certificates()
            .map_err(|e| Contraindication::CertificateInvalid {
                detail: e.to_string(),
            })?;
        if hash(n.hash, &[ders[0]]) != parsed.root_hash {
            return Err(Contraindication::RootHashMismatch);
        }
        let leaf = check_chain(&ders, &policy.roots, &policy.pins, policy.now_unix).map_err(
            |f| match f {
                ChainFault::Invalid(detail) => Contraindication::CertificateInvalid { detail },
                ChainFault::NotToRoot(detail) => Contraindication::ChainNotToRoot { detail },
                ChainFault::NotPinned(pin) => {
                    s.report.leaf_pin = Some(pin);
                    Contraindication::LeafKeyNotPinned { pin }
                }
            },
        )?;
        s.report.leaf_pin = Some(leaf.pin);
        if leaf.curve != n.asym {
            return Err(Contraindication::CertificateInvalid {
                detail: format!(
                    "the device key is {:?}, the device negotiated {:?}",
                    leaf.curve, n.asym
                ),
            });
        }
        Ok((chain, leaf))
    }

    fn fresh(
        &self,
        message: &'static str,
        ours: &[u8; NONCE_LEN],
        theirs: &[u8; NONCE_LEN],
    ) -> Step<()> {
        if theirs == ours {
            return Err(Contraindication::StaleNonce {
                message,
                detail: "the responder's nonce reflects the requester's".into(),
            });
        }
        if self.history.seen(theirs) {
            return Err(Contraindication::StaleNonce {
                message,
                detail: format!(
                    "the responder's nonce {} was seen before",
                    Hex(theirs.to_vec())
                ),
            });
        }
        Ok(())
    }

    fn challenge(
        &self,
        s: &mut Session<'_>,
        n: Negotiated,
        chain: &[u8],
        leaf: &super::chain::LeafKey,
        nonces: &mut dyn NonceSource,
        slot: u8,
    ) -> Step<()> {
        let nonce = nonces.next_nonce();
        let request = Request::Challenge {
            slot_id: slot,
            measurement_summary: 0,
            nonce,
        };
        s.ctx.challenge_summary = false;
        let (q, r, resp) = s.exchange(&request, "CHALLENGE_AUTH")?;
        let Response::ChallengeAuth(auth) = resp else {
            return Err(garbage("CHALLENGE", "not CHALLENGE_AUTH"));
        };
        if auth.slot_id() != slot {
            return Err(garbage(
                "CHALLENGE",
                format!("answered for slot {}", auth.slot_id()),
            ));
        }
        if auth.cert_chain_hash != hash(n.hash, &[chain]) {
            return Err(Contraindication::CertificateInvalid {
                detail: "CHALLENGE_AUTH names another certificate chain".into(),
            });
        }
        self.fresh("CHALLENGE_AUTH", &nonce, &auth.nonce)?;
        s.transcript.append_c(&q);
        s.transcript.append_c(&r[..r.len() - auth.signature.len()]);
        let m1 = hash(n.hash, &s.transcript.m1_parts());
        let message = signed_message(SignedResponse::ChallengeAuth, &m1);
        if !verify_raw(leaf.curve, n.hash, &leaf.point, &message, &auth.signature) {
            return Err(Contraindication::BadSignature {
                message: "CHALLENGE_AUTH",
            });
        }
        self.history.record(auth.nonce);
        s.transcript.reset_bc();
        Ok(())
    }

    fn measurements(
        &self,
        s: &mut Session<'_>,
        n: Negotiated,
        leaf: &super::chain::LeafKey,
        policy: &DevicePolicy,
        nonces: &mut dyn NonceSource,
        options: &AttestOptions,
    ) -> Step<()> {
        // L1 runs from the first GET_MEASUREMENTS to the signed response that ends it, so
        // the one signature covers every block fetched on the way.
        s.transcript.reset_m();
        let mut blocks = Vec::new();
        let (last, unsigned) = match options.indices.split_last() {
            None => (MEASUREMENTS_ALL, &[][..]),
            Some((last, before)) => (*last, before),
        };
        for &index in unsigned {
            let request = Request::GetMeasurements(GetMeasurements {
                attributes: 0,
                operation: index,
                signed: None,
            });
            s.ctx.measurements_signed = false;
            let (q, r, resp) = s.exchange(&request, "MEASUREMENTS")?;
            let Response::Measurements(m) = resp else {
                return Err(garbage("GET_MEASUREMENTS", "not MEASUREMENTS"));
            };
            s.transcript.append_m(&q);
            s.transcript.append_m(&r);
            blocks.extend(m.blocks);
        }
        let nonce = options
            .measurement_nonce
            .unwrap_or_else(|| nonces.next_nonce());
        let request = Request::GetMeasurements(GetMeasurements {
            attributes: measurement_attributes::SIGNATURE_REQUESTED,
            operation: last,
            signed: Some(SignedRequest {
                nonce,
                slot_id: options.slot_id,
            }),
        });
        s.ctx.measurements_signed = true;
        let (q, r, resp) = s.exchange(&request, "MEASUREMENTS")?;
        let Response::Measurements(m) = resp else {
            return Err(garbage("GET_MEASUREMENTS", "not MEASUREMENTS"));
        };
        let signature = m.signature.clone().unwrap_or_default();
        self.fresh("MEASUREMENTS", &nonce, &m.nonce)?;
        s.transcript.append_m(&q);
        s.transcript.append_m(&r[..r.len() - signature.len()]);
        let l1 = hash(n.hash, &s.transcript.l1_parts());
        let message = signed_message(SignedResponse::Measurements, &l1);
        if !verify_raw(leaf.curve, n.hash, &leaf.point, &message, &signature) {
            return Err(Contraindication::BadSignature {
                message: "MEASUREMENTS",
            });
        }
        self.history.record(m.nonce);
        blocks.extend(m.blocks);
        s.transcript.reset_m();
        let MeasurementHash::Hash(meas_hash) = n.measurement_hash else {
            return Err(garbage(
                "GET_MEASUREMENTS",
                "raw measurements were not negotiated",
            ));
        };
        if let Some(b) = blocks
            .iter()
            .find(|b| !b.is_raw() && b.value.len() != meas_hash.size())
        {
            return Err(garbage(
                "GET_MEASUREMENTS",
                format!(
                    "block {} holds {} bytes, not a {meas_hash:?} digest",
                    b.index,
                    b.value.len()
                ),
            ));
        }
        s.report.measurements = blocks.clone();
        for (index, expected) in &policy.reference {
            let actual = blocks
                .iter()
                .find(|b| b.index == *index)
                .ok_or(Contraindication::MeasurementMissing { index: *index })?;
            if actual.value != *expected {
                return Err(Contraindication::MeasurementMismatch {
                    index: *index,
                    expected: Hex(expected.clone()),
                    actual: Hex(actual.value.clone()),
                });
            }
        }
        Ok(())
    }
}
