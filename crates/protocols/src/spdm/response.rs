//! SPDM 1.2 responses: decode (requester) and encode (responder, the twin).
//!
//! Several responses have fields whose sizes depend on what was negotiated or asked
//! (digest and signature sizes, whether a measurement summary hash or a signature is
//! present), so decoding takes a [`ResponseContext`].

use super::algorithms::Negotiated;
use super::codec::{Put, Reader, fits};
use super::error::{Result, SpdmError};
use super::measurement::{MeasurementBlock, decode_record, encode_record};
use super::request::{AlgStruct, CapabilityFields, check_slot};
use super::{NONCE_LEN, VERSION_10, VERSION_12, code, expect_version};

/// Largest opaque data field DSP0274 1.2 allows.
pub const MAX_OPAQUE_LEN: usize = 1024;
/// Largest measurement record a u24 length can describe.
pub const MAX_RECORD_LEN: usize = (1 << 24) - 1;

/// What the decoder must know beyond the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResponseContext {
    /// The negotiated algorithms; `None` before ALGORITHMS.
    pub negotiated: Option<Negotiated>,
    /// CHALLENGE asked for a measurement summary hash (Param2 ≠ 0).
    pub challenge_summary: bool,
    /// GET_MEASUREMENTS asked for a signature.
    pub measurements_signed: bool,
}

impl ResponseContext {
    fn negotiated(&self, message: &'static str) -> Result<Negotiated> {
        self.negotiated.ok_or(SpdmError::Inconsistent {
            message,
            field: "algorithms",
            reason: "decoding it needs the negotiated algorithms".into(),
        })
    }
}

/// ALGORITHMS (1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Algorithms {
    pub measurement_specification_sel: u8,
    pub other_params_selection: u8,
    pub measurement_hash_algo: u32,
    pub base_asym_sel: u32,
    pub base_hash_sel: u32,
    pub ext_asym_sel: Vec<u32>,
    pub ext_hash_sel: Vec<u32>,
    pub alg_structs: Vec<AlgStruct>,
}

/// Fixed part of ALGORITHMS: header to Reserved3.
const ALGORITHMS_FIXED: usize = 36;

/// CHALLENGE_AUTH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeAuth {
    /// Param1: bits 3:0 the slot, bit 7 BasicMutAuthReq.
    pub attributes: u8,
    /// Param2: the slots that hold a certificate chain.
    pub slot_mask: u8,
    pub cert_chain_hash: Vec<u8>,
    pub nonce: [u8; NONCE_LEN],
    /// Present when CHALLENGE asked for one.
    pub measurement_summary_hash: Option<Vec<u8>>,
    pub opaque: Vec<u8>,
    pub signature: Vec<u8>,
}

impl ChallengeAuth {
    #[must_use]
    pub fn slot_id(&self) -> u8 {
        self.attributes & 0x0F
    }
}

/// MEASUREMENTS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measurements {
    /// Param1: total number of indices when the request asked for the count, else 0.
    pub total_indices: u8,
    /// Param2 bits 3:0.
    pub slot_id: u8,
    /// Param2 bits 5:4 (1.2 content-changed indicator).
    pub content_changed: u8,
    pub blocks: Vec<MeasurementBlock>,
    pub nonce: [u8; NONCE_LEN],
    pub opaque: Vec<u8>,
    /// Present when the request asked for a signature.
    pub signature: Option<Vec<u8>>,
}

/// A decoded SPDM response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// VERSION: the version entries (bits 15:12 major, 11:8 minor, 7:4 update, 3:0 alpha).
    Version(Vec<u16>),
    Capabilities(CapabilityFields),
    Algorithms(Algorithms),
    Digests {
        slot_mask: u8,
        digests: Vec<Vec<u8>>,
    },
    Certificate {
        slot_id: u8,
        portion: Vec<u8>,
        remainder_length: u16,
    },
    ChallengeAuth(ChallengeAuth),
    Measurements(Measurements),
    Error {
        version: u8,
        error_code: u8,
        error_data: u8,
        extended: Vec<u8>,
    },
}

/// ERROR codes a requester may see (subset of DSP0274 Table 48).
pub mod error_code {
    pub const INVALID_REQUEST: u8 = 0x01;
    pub const BUSY: u8 = 0x03;
    pub const UNEXPECTED_REQUEST: u8 = 0x04;
    pub const UNSPECIFIED: u8 = 0x05;
    pub const UNSUPPORTED_REQUEST: u8 = 0x07;
    pub const VERSION_MISMATCH: u8 = 0x41;
    pub const RESPONSE_NOT_READY: u8 = 0x42;
    pub const REQUEST_RESYNCH: u8 = 0x43;
}

/// The version entry of SPDM 1.2 (major 1, minor 2, update 0, alpha 0).
pub const VERSION_ENTRY_12: u16 = 0x1200;

impl Response {
    /// The name of the response, as the specification spells it.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Response::Version(_) => "VERSION",
            Response::Capabilities(_) => "CAPABILITIES",
            Response::Algorithms(_) => "ALGORITHMS",
            Response::Digests { .. } => "DIGESTS",
            Response::Certificate { .. } => "CERTIFICATE",
            Response::ChallengeAuth(_) => "CHALLENGE_AUTH",
            Response::Measurements(_) => "MEASUREMENTS",
            Response::Error { .. } => "ERROR",
        }
    }

    /// Encodes the response (the responder side).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(64);
        match self {
            Response::Version(entries) => {
                fits("VERSION", "VersionNumberEntryCount", entries.len(), 255)?;
                out.extend_from_slice(&[VERSION_10, code::VERSION, 0, 0, 0, entries.len() as u8]);
                for e in entries {
                    out.put_u16(*e);
                }
            }
            Response::Capabilities(c) => {
                out.extend_from_slice(&[VERSION_12, code::CAPABILITIES, 0, 0]);
                c.encode_into(&mut out);
            }
            Response::Algorithms(a) => {
                let m = "ALGORITHMS";
                fits(m, "ExtAsymSelCount", a.ext_asym_sel.len(), 1)?;
                fits(m, "ExtHashSelCount", a.ext_hash_sel.len(), 1)?;
                fits(m, "RespAlgStruct count", a.alg_structs.len(), 4)?;
                let len = ALGORITHMS_FIXED
                    + 4 * (a.ext_asym_sel.len() + a.ext_hash_sel.len())
                    + a.alg_structs
                        .iter()
                        .map(AlgStruct::encoded_len)
                        .sum::<usize>();
                out.extend_from_slice(&[
                    VERSION_12,
                    code::ALGORITHMS,
                    a.alg_structs.len() as u8,
                    0,
                ]);
                out.put_u16(len as u16);
                out.put_u8(a.measurement_specification_sel);
                out.put_u8(a.other_params_selection);
                out.put_u32(a.measurement_hash_algo);
                out.put_u32(a.base_asym_sel);
                out.put_u32(a.base_hash_sel);
                out.extend_from_slice(&[0; 12]);
                out.put_u8(a.ext_asym_sel.len() as u8);
                out.put_u8(a.ext_hash_sel.len() as u8);
                out.put_u16(0);
                for e in a.ext_asym_sel.iter().chain(&a.ext_hash_sel) {
                    out.put_u32(*e);
                }
                for s in &a.alg_structs {
                    s.encode(m, &mut out)?;
                }
            }
            Response::Digests { slot_mask, digests } => {
                if digests.len() != slot_mask.count_ones() as usize {
                    return Err(SpdmError::Inconsistent {
                        message: "DIGESTS",
                        field: "Param2",
                        reason: format!(
                            "slot mask 0x{slot_mask:02x} names {} slots, {} digests given",
                            slot_mask.count_ones(),
                            digests.len()
                        ),
                    });
                }
                out.extend_from_slice(&[VERSION_12, code::DIGESTS, 0, *slot_mask]);
                for d in digests {
                    out.extend_from_slice(d);
                }
            }
            Response::Certificate {
                slot_id,
                portion,
                remainder_length,
            } => {
                check_slot("CERTIFICATE", *slot_id)?;
                fits(
                    "CERTIFICATE",
                    "PortionLength",
                    portion.len(),
                    usize::from(u16::MAX),
                )?;
                out.extend_from_slice(&[VERSION_12, code::CERTIFICATE, *slot_id, 0]);
                out.put_u16(portion.len() as u16);
                out.put_u16(*remainder_length);
                out.extend_from_slice(portion);
            }
            Response::ChallengeAuth(c) => {
                fits(
                    "CHALLENGE_AUTH",
                    "OpaqueDataLength",
                    c.opaque.len(),
                    MAX_OPAQUE_LEN,
                )?;
                out.extend_from_slice(&[
                    VERSION_12,
                    code::CHALLENGE_AUTH,
                    c.attributes,
                    c.slot_mask,
                ]);
                out.extend_from_slice(&c.cert_chain_hash);
                out.extend_from_slice(&c.nonce);
                if let Some(h) = &c.measurement_summary_hash {
                    out.extend_from_slice(h);
                }
                out.put_u16(c.opaque.len() as u16);
                out.extend_from_slice(&c.opaque);
                out.extend_from_slice(&c.signature);
            }
            Response::Measurements(m) => {
                let name = "MEASUREMENTS";
                fits(name, "NumberOfBlocks", m.blocks.len(), 255)?;
                fits(name, "OpaqueDataLength", m.opaque.len(), MAX_OPAQUE_LEN)?;
                check_slot(name, m.slot_id)?;
                let record = encode_record(&m.blocks)?;
                fits(
                    name,
                    "MeasurementRecordLength",
                    record.len(),
                    MAX_RECORD_LEN,
                )?;
                let param2 = m.slot_id | ((m.content_changed & 0x03) << 4);
                out.extend_from_slice(&[VERSION_12, code::MEASUREMENTS, m.total_indices, param2]);
                out.put_u8(m.blocks.len() as u8);
                out.put_u24(record.len() as u32);
                out.extend_from_slice(&record);
                out.extend_from_slice(&m.nonce);
                out.put_u16(m.opaque.len() as u16);
                out.extend_from_slice(&m.opaque);
                if let Some(s) = &m.signature {
                    out.extend_from_slice(s);
                }
            }
            Response::Error {
                version,
                error_code,
                error_data,
                extended,
            } => {
                fits("ERROR", "ExtendedErrorData", extended.len(), 32)?;
                out.extend_from_slice(&[*version, code::ERROR, *error_code, *error_data]);
                out.extend_from_slice(extended);
            }
        }
        Ok(out)
    }

    /// Decodes one response message (the requester side).
    pub fn decode(bytes: &[u8], ctx: &ResponseContext) -> Result<Response> {
        let mut h = Reader::new("response", bytes);
        let version = h.u8("SPDMVersion")?;
        let code = h.u8("RequestResponseCode")?;
        let param1 = h.u8("Param1")?;
        let param2 = h.u8("Param2")?;
        let name = response_name(code)?;
        let mut r = Reader::new(name, &bytes[4..]);
        let response = match code {
            code::VERSION => {
                expect_version(name, VERSION_10, version)?;
                r.u8("Reserved")?;
                let count = r.u8("VersionNumberEntryCount")?;
                if count == 0 {
                    return Err(SpdmError::Inconsistent {
                        message: name,
                        field: "VersionNumberEntryCount",
                        reason: "a responder must list at least one version".into(),
                    });
                }
                Response::Version(
                    (0..count)
                        .map(|_| r.u16("VersionNumberEntry"))
                        .collect::<Result<_>>()?,
                )
            }
            code::ERROR => {
                // ERROR answers in whatever version the failed request carried.
                if version != VERSION_10 && version != VERSION_12 {
                    expect_version(name, VERSION_12, version)?;
                }
                let extended = r.rest().to_vec();
                fits(name, "ExtendedErrorData", extended.len(), 32)?;
                Response::Error {
                    version,
                    error_code: param1,
                    error_data: param2,
                    extended,
                }
            }
            _ => {
                expect_version(name, VERSION_12, version)?;
                Self::decode_12(name, code, param1, param2, &mut r, bytes.len(), ctx)?
            }
        };
        r.finish()?;
        Ok(response)
    }

    fn decode_12(
        name: &'static str,
        code: u8,
        param1: u8,
        param2: u8,
        r: &mut Reader<'_>,
        total_len: usize,
        ctx: &ResponseContext,
    ) -> Result<Response> {
        Ok(match code {
            code::CAPABILITIES => Response::Capabilities(CapabilityFields::decode_from(r)?),
            code::ALGORITHMS => {
                let length = usize::from(r.u16("Length")?);
                if length > total_len {
                    return Err(SpdmError::Truncated {
                        message: name,
                        field: "Length",
                        need: length,
                        have: total_len,
                    });
                }
                if length != total_len {
                    return Err(SpdmError::Inconsistent {
                        message: name,
                        field: "Length",
                        reason: format!("says {length}, message has {total_len}"),
                    });
                }
                let measurement_specification_sel = r.u8("MeasurementSpecificationSel")?;
                let other_params_selection = r.u8("OtherParamsSelection")?;
                let measurement_hash_algo = r.u32("MeasurementHashAlgo")?;
                let base_asym_sel = r.u32("BaseAsymSel")?;
                let base_hash_sel = r.u32("BaseHashSel")?;
                r.take("Reserved", 12)?;
                let asym_count = r.u8("ExtAsymSelCount")?;
                let hash_count = r.u8("ExtHashSelCount")?;
                fits(name, "ExtAsymSelCount", usize::from(asym_count), 1)?;
                fits(name, "ExtHashSelCount", usize::from(hash_count), 1)?;
                r.u16("Reserved")?;
                let ext_asym_sel = (0..asym_count)
                    .map(|_| r.u32("ExtAsymSel"))
                    .collect::<Result<_>>()?;
                let ext_hash_sel = (0..hash_count)
                    .map(|_| r.u32("ExtHashSel"))
                    .collect::<Result<_>>()?;
                fits(name, "RespAlgStruct count", usize::from(param1), 4)?;
                let alg_structs = (0..param1)
                    .map(|_| AlgStruct::decode(r))
                    .collect::<Result<_>>()?;
                Response::Algorithms(Algorithms {
                    measurement_specification_sel,
                    other_params_selection,
                    measurement_hash_algo,
                    base_asym_sel,
                    base_hash_sel,
                    ext_asym_sel,
                    ext_hash_sel,
                    alg_structs,
                })
            }
            code::DIGESTS => {
                let hash_len = ctx.negotiated(name)?.hash.size();
                let digests = (0..param2.count_ones())
                    .map(|_| r.take("Digest", hash_len).map(<[u8]>::to_vec))
                    .collect::<Result<_>>()?;
                Response::Digests {
                    slot_mask: param2,
                    digests,
                }
            }
            code::CERTIFICATE => {
                check_slot(name, param1 & 0x0F)?;
                let portion_len = usize::from(r.u16("PortionLength")?);
                let remainder_length = r.u16("RemainderLength")?;
                Response::Certificate {
                    slot_id: param1 & 0x0F,
                    portion: r.take("CertChain", portion_len)?.to_vec(),
                    remainder_length,
                }
            }
            code::CHALLENGE_AUTH => {
                let n = ctx.negotiated(name)?;
                let cert_chain_hash = r.take("CertChainHash", n.hash.size())?.to_vec();
                let nonce = r.array("Nonce")?;
                let measurement_summary_hash = if ctx.challenge_summary {
                    Some(r.take("MeasurementSummaryHash", n.hash.size())?.to_vec())
                } else {
                    None
                };
                let opaque_len = usize::from(r.u16("OpaqueDataLength")?);
                fits(name, "OpaqueDataLength", opaque_len, MAX_OPAQUE_LEN)?;
                let opaque = r.take("OpaqueData", opaque_len)?.to_vec();
                let signature = r.take("Signature", n.asym.signature_len())?.to_vec();
                Response::ChallengeAuth(ChallengeAuth {
                    attributes: param1,
                    slot_mask: param2,
                    cert_chain_hash,
                    nonce,
                    measurement_summary_hash,
                    opaque,
                    signature,
                })
            }
            code::MEASUREMENTS => {
                let count = r.u8("NumberOfBlocks")?;
                let record_len = r.u24("MeasurementRecordLength")? as usize;
                let blocks = decode_record(r.take("MeasurementRecord", record_len)?, count)?;
                let nonce = r.array("Nonce")?;
                let opaque_len = usize::from(r.u16("OpaqueDataLength")?);
                fits(name, "OpaqueDataLength", opaque_len, MAX_OPAQUE_LEN)?;
                let opaque = r.take("OpaqueData", opaque_len)?.to_vec();
                let signature = if ctx.measurements_signed {
                    let n = ctx.negotiated(name)?;
                    Some(r.take("Signature", n.asym.signature_len())?.to_vec())
                } else {
                    None
                };
                Response::Measurements(Measurements {
                    total_indices: param1,
                    slot_id: param2 & 0x0F,
                    content_changed: (param2 >> 4) & 0x03,
                    blocks,
                    nonce,
                    opaque,
                    signature,
                })
            }
            other => {
                return Err(SpdmError::UnknownCode {
                    direction: "response",
                    code: other,
                });
            }
        })
    }
}

fn response_name(c: u8) -> Result<&'static str> {
    Ok(match c {
        code::VERSION => "VERSION",
        code::CAPABILITIES => "CAPABILITIES",
        code::ALGORITHMS => "ALGORITHMS",
        code::DIGESTS => "DIGESTS",
        code::CERTIFICATE => "CERTIFICATE",
        code::CHALLENGE_AUTH => "CHALLENGE_AUTH",
        code::MEASUREMENTS => "MEASUREMENTS",
        code::ERROR => "ERROR",
        other => {
            return Err(SpdmError::UnknownCode {
                direction: "response",
                code: other,
            });
        }
    })
}
