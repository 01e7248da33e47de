//! SPDM 1.2 requests: encode (requester) and decode (responder, the twin).
//!
//! Layouts follow DSP0274 1.2 and libspdm's `spdm.h`; every message starts with the
//! four-byte header `SPDMVersion, RequestResponseCode, Param1, Param2`.

use super::codec::{Put, Reader, fits};
use super::error::{Result, SpdmError};
use super::{NONCE_LEN, VERSION_10, VERSION_12, code, expect_version};

/// GET_CAPABILITIES flags and limits (the 1.2 layout, 20 bytes; CAPABILITIES shares it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapabilityFields {
    /// CTExponent: the responder's crypto timeout is 2^CTExponent µs.
    pub ct_exponent: u8,
    /// Capability flags (`CERT_CAP` bit 1, `CHAL_CAP` bit 2, `MEAS_CAP` bits 3–4, ...).
    pub flags: u32,
    /// Largest message the sender can receive in one transfer.
    pub data_transfer_size: u32,
    /// Largest SPDM message the sender can assemble (equal to the above without chunking).
    pub max_spdm_msg_size: u32,
}

/// Smallest DataTransferSize a 1.2 endpoint may declare (DSP0274 1.2 `MinDataTransferSize`).
pub const MIN_DATA_TRANSFER_SIZE: u32 = 42;

impl CapabilityFields {
    pub(crate) fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        let _reserved = r.u8("Reserved")?;
        let ct_exponent = r.u8("CTExponent")?;
        let _reserved = r.u16("Reserved")?;
        let flags = r.u32("Flags")?;
        let data_transfer_size = r.u32("DataTransferSize")?;
        let max_spdm_msg_size = r.u32("MaxSPDMmsgSize")?;
        if data_transfer_size < MIN_DATA_TRANSFER_SIZE {
            return Err(SpdmError::Inconsistent {
                message: r.message(),
                field: "DataTransferSize",
                reason: format!("{data_transfer_size} is below {MIN_DATA_TRANSFER_SIZE}"),
            });
        }
        if max_spdm_msg_size < data_transfer_size {
            return Err(SpdmError::Inconsistent {
                message: r.message(),
                field: "MaxSPDMmsgSize",
                reason: format!(
                    "{max_spdm_msg_size} is below DataTransferSize {data_transfer_size}"
                ),
            });
        }
        Ok(CapabilityFields {
            ct_exponent,
            flags,
            data_transfer_size,
            max_spdm_msg_size,
        })
    }

    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        out.put_u8(0);
        out.put_u8(self.ct_exponent);
        out.put_u16(0);
        out.put_u32(self.flags);
        out.put_u32(self.data_transfer_size);
        out.put_u32(self.max_spdm_msg_size);
    }
}

/// One `ReqAlgStruct` / `RespAlgStruct` entry (DHE, AEAD, ReqBaseAsymAlg, KeySchedule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlgStruct {
    /// 2 DHE, 3 AEAD, 4 ReqBaseAsymAlg, 5 KeySchedule.
    pub alg_type: u8,
    /// Fixed algorithm bits.
    pub supported: u16,
    /// External algorithm entries (4 bytes each).
    pub external: Vec<u32>,
}

impl AlgStruct {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let alg_type = r.u8("AlgType")?;
        let count = r.u8("AlgCount")?;
        // Bits 7:4 give the width of the fixed field; 1.2 defines it as 2 bytes.
        if count >> 4 != 2 {
            return Err(SpdmError::Inconsistent {
                message: r.message(),
                field: "AlgCount",
                reason: format!("fixed algorithm width {} is not 2", count >> 4),
            });
        }
        let supported = r.u16("AlgSupported")?;
        let external = (0..count & 0x0F)
            .map(|_| r.u32("AlgExternal"))
            .collect::<Result<_>>()?;
        Ok(AlgStruct {
            alg_type,
            supported,
            external,
        })
    }

    pub(crate) fn encode(&self, message: &'static str, out: &mut Vec<u8>) -> Result<()> {
        fits(message, "AlgExternal count", self.external.len(), 0x0F)?;
        out.put_u8(self.alg_type);
        out.put_u8(0x20 | self.external.len() as u8);
        out.put_u16(self.supported);
        for e in &self.external {
            out.put_u32(*e);
        }
        Ok(())
    }

    pub(crate) fn encoded_len(&self) -> usize {
        4 + 4 * self.external.len()
    }
}

/// NEGOTIATE_ALGORITHMS (1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiateAlgorithms {
    pub measurement_specification: u8,
    pub other_params_support: u8,
    /// Mask of [`super::algorithms::base_asym`] bits.
    pub base_asym_algo: u32,
    /// Mask of [`super::algorithms::base_hash`] bits.
    pub base_hash_algo: u32,
    pub ext_asym: Vec<u32>,
    pub ext_hash: Vec<u32>,
    pub alg_structs: Vec<AlgStruct>,
}

/// Fixed part of NEGOTIATE_ALGORITHMS: header to Reserved3.
const NEGOTIATE_FIXED: usize = 32;
/// The largest NEGOTIATE_ALGORITHMS 1.2 allows (DSP0274: Length ≤ 128).
pub const NEGOTIATE_MAX_LEN: usize = 128;

/// GET_MEASUREMENTS request attributes (Param1).
pub mod measurement_attributes {
    /// Bit 0: the responder shall sign the response.
    pub const SIGNATURE_REQUESTED: u8 = 1 << 0;
    /// Bit 1 (1.2): raw bit stream requested.
    pub const RAW_BIT_STREAM_REQUESTED: u8 = 1 << 1;
}

/// GET_MEASUREMENTS operation (Param2): 0 = count, 1..=0xFE = that index, 0xFF = all.
pub const MEASUREMENTS_ALL: u8 = 0xFF;

/// GET_MEASUREMENTS. `nonce` and `slot_id` are present exactly when a signature is requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetMeasurements {
    pub attributes: u8,
    pub operation: u8,
    pub signed: Option<SignedRequest>,
}

/// The tail of a signed GET_MEASUREMENTS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedRequest {
    pub nonce: [u8; NONCE_LEN],
    pub slot_id: u8,
}

/// A decoded SPDM 1.2 request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    GetVersion,
    GetCapabilities(CapabilityFields),
    NegotiateAlgorithms(NegotiateAlgorithms),
    GetDigests,
    GetCertificate {
        slot_id: u8,
        offset: u16,
        length: u16,
    },
    Challenge {
        slot_id: u8,
        /// 0 none, 1 TCB component measurements, 0xFF all.
        measurement_summary: u8,
        nonce: [u8; NONCE_LEN],
    },
    GetMeasurements(GetMeasurements),
}

impl Request {
    /// The name of the request, as the specification spells it.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Request::GetVersion => "GET_VERSION",
            Request::GetCapabilities(_) => "GET_CAPABILITIES",
            Request::NegotiateAlgorithms(_) => "NEGOTIATE_ALGORITHMS",
            Request::GetDigests => "GET_DIGESTS",
            Request::GetCertificate { .. } => "GET_CERTIFICATE",
            Request::Challenge { .. } => "CHALLENGE",
            Request::GetMeasurements(_) => "GET_MEASUREMENTS",
        }
    }

    /// Encodes the request. Fails only for a request whose variable fields overflow their
    /// length fields.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(40);
        match self {
            Request::GetVersion => out.extend_from_slice(&[VERSION_10, code::GET_VERSION, 0, 0]),
            Request::GetCapabilities(c) => {
                out.extend_from_slice(&[VERSION_12, code::GET_CAPABILITIES, 0, 0]);
                c.encode_into(&mut out);
            }
            Request::NegotiateAlgorithms(n) => {
                let m = "NEGOTIATE_ALGORITHMS";
                fits(m, "ExtAsymCount", n.ext_asym.len(), 20)?;
                fits(m, "ExtHashCount", n.ext_hash.len(), 20)?;
                fits(m, "ReqAlgStruct count", n.alg_structs.len(), 4)?;
                let len = NEGOTIATE_FIXED
                    + 4 * (n.ext_asym.len() + n.ext_hash.len())
                    + n.alg_structs
                        .iter()
                        .map(AlgStruct::encoded_len)
                        .sum::<usize>();
                fits(m, "Length", len, NEGOTIATE_MAX_LEN)?;
                out.extend_from_slice(&[
                    VERSION_12,
                    code::NEGOTIATE_ALGORITHMS,
                    n.alg_structs.len() as u8,
                    0,
                ]);
                out.put_u16(len as u16);
                out.put_u8(n.measurement_specification);
                out.put_u8(n.other_params_support);
                out.put_u32(n.base_asym_algo);
                out.put_u32(n.base_hash_algo);
                out.extend_from_slice(&[0; 12]);
                out.put_u8(n.ext_asym.len() as u8);
                out.put_u8(n.ext_hash.len() as u8);
                out.put_u16(0);
                for e in n.ext_asym.iter().chain(&n.ext_hash) {
                    out.put_u32(*e);
                }
                for s in &n.alg_structs {
                    s.encode(m, &mut out)?;
                }
            }
            Request::GetDigests => out.extend_from_slice(&[VERSION_12, code::GET_DIGESTS, 0, 0]),
            Request::GetCertificate {
                slot_id,
                offset,
                length,
            } => {
                check_slot("GET_CERTIFICATE", *slot_id)?;
                out.extend_from_slice(&[VERSION_12, code::GET_CERTIFICATE, *slot_id, 0]);
                out.put_u16(*offset);
                out.put_u16(*length);
            }
            Request::Challenge {
                slot_id,
                measurement_summary,
                nonce,
            } => {
                check_slot("CHALLENGE", *slot_id)?;
                check_summary("CHALLENGE", *measurement_summary)?;
                out.extend_from_slice(&[
                    VERSION_12,
                    code::CHALLENGE,
                    *slot_id,
                    *measurement_summary,
                ]);
                out.extend_from_slice(nonce);
            }
            Request::GetMeasurements(g) => {
                let signed_bit = g.attributes & measurement_attributes::SIGNATURE_REQUESTED != 0;
                if signed_bit != g.signed.is_some() {
                    return Err(SpdmError::Inconsistent {
                        message: "GET_MEASUREMENTS",
                        field: "Param1",
                        reason: "the signature bit and the nonce must go together".into(),
                    });
                }
                out.extend_from_slice(&[
                    VERSION_12,
                    code::GET_MEASUREMENTS,
                    g.attributes,
                    g.operation,
                ]);
                if let Some(s) = &g.signed {
                    check_slot("GET_MEASUREMENTS", s.slot_id)?;
                    out.extend_from_slice(&s.nonce);
                    out.put_u8(s.slot_id);
                }
            }
        }
        Ok(out)
    }

    /// Decodes one request message (the responder side).
    pub fn decode(bytes: &[u8]) -> Result<Request> {
        let mut r = Reader::new("request", bytes);
        let version = r.u8("SPDMVersion")?;
        let code = r.u8("RequestResponseCode")?;
        let param1 = r.u8("Param1")?;
        let param2 = r.u8("Param2")?;
        let name = request_name(code)?;
        let mut r = Reader::new(name, &bytes[4..]);
        let expected = if code == code::GET_VERSION {
            VERSION_10
        } else {
            VERSION_12
        };
        expect_version(name, expected, version)?;
        let request = match code {
            code::GET_VERSION => Request::GetVersion,
            code::GET_CAPABILITIES => {
                Request::GetCapabilities(CapabilityFields::decode_from(&mut r)?)
            }
            code::NEGOTIATE_ALGORITHMS => {
                let length = usize::from(r.u16("Length")?);
                if length > bytes.len() {
                    return Err(SpdmError::Truncated {
                        message: name,
                        field: "Length",
                        need: length,
                        have: bytes.len(),
                    });
                }
                if length != bytes.len() {
                    return Err(SpdmError::Inconsistent {
                        message: name,
                        field: "Length",
                        reason: format!("says {length}, message has {}", bytes.len()),
                    });
                }
                fits(name, "Length", length, NEGOTIATE_MAX_LEN)?;
                let measurement_specification = r.u8("MeasurementSpecification")?;
                let other_params_support = r.u8("OtherParamsSupport")?;
                let base_asym_algo = r.u32("BaseAsymAlgo")?;
                let base_hash_algo = r.u32("BaseHashAlgo")?;
                r.take("Reserved", 12)?;
                let ext_asym_count = r.u8("ExtAsymCount")?;
                let ext_hash_count = r.u8("ExtHashCount")?;
                r.u16("Reserved")?;
                let ext_asym = (0..ext_asym_count)
                    .map(|_| r.u32("ExtAsym"))
                    .collect::<Result<_>>()?;
                let ext_hash = (0..ext_hash_count)
                    .map(|_| r.u32("ExtHash"))
                    .collect::<Result<_>>()?;
                fits(name, "ReqAlgStruct count", usize::from(param1), 4)?;
                let alg_structs = (0..param1)
                    .map(|_| AlgStruct::decode(&mut r))
                    .collect::<Result<_>>()?;
                Request::NegotiateAlgorithms(NegotiateAlgorithms {
                    measurement_specification,
                    other_params_support,
                    base_asym_algo,
                    base_hash_algo,
                    ext_asym,
                    ext_hash,
                    alg_structs,
                })
            }
            code::GET_DIGESTS => Request::GetDigests,
            code::GET_CERTIFICATE => {
                check_slot(name, param1)?;
                Request::GetCertificate {
                    slot_id: param1,
                    offset: r.u16("Offset")?,
                    length: r.u16("Length")?,
                }
            }
            code::CHALLENGE => {
                check_slot(name, param1)?;
                check_summary(name, param2)?;
                Request::Challenge {
                    slot_id: param1,
                    measurement_summary: param2,
                    nonce: r.array("Nonce")?,
                }
            }
            code::GET_MEASUREMENTS => {
                let signed = if param1 & measurement_attributes::SIGNATURE_REQUESTED != 0 {
                    let nonce = r.array("Nonce")?;
                    let slot_id = r.u8("SlotIDParam")?;
                    check_slot(name, slot_id)?;
                    Some(SignedRequest { nonce, slot_id })
                } else {
                    None
                };
                Request::GetMeasurements(GetMeasurements {
                    attributes: param1,
                    operation: param2,
                    signed,
                })
            }
            _ => unreachable_code(code)?,
        };
        r.finish()?;
        Ok(request)
    }
}

fn request_name(c: u8) -> Result<&'static str> {
    Ok(match c {
        code::GET_VERSION => "GET_VERSION",
        code::GET_CAPABILITIES => "GET_CAPABILITIES",
        code::NEGOTIATE_ALGORITHMS => "NEGOTIATE_ALGORITHMS",
        code::GET_DIGESTS => "GET_DIGESTS",
        code::GET_CERTIFICATE => "GET_CERTIFICATE",
        code::CHALLENGE => "CHALLENGE",
        code::GET_MEASUREMENTS => "GET_MEASUREMENTS",
        other => return unreachable_code(other),
    })
}

fn unreachable_code<T>(code: u8) -> Result<T> {
    Err(SpdmError::UnknownCode {
        direction: "request",
        code,
    })
}

/// Slot ids are 0..=7.
pub(crate) fn check_slot(message: &'static str, slot: u8) -> Result<()> {
    if slot > 7 {
        return Err(SpdmError::Inconsistent {
            message,
            field: "SlotID",
            reason: format!("{slot} is not a slot (0..=7)"),
        });
    }
    Ok(())
}

fn check_summary(message: &'static str, summary: u8) -> Result<()> {
    if !matches!(summary, 0 | 1 | 0xFF) {
        return Err(SpdmError::Inconsistent {
            message,
            field: "MeasurementSummaryHashType",
            reason: format!("0x{summary:02x} is not 0, 1 or 0xFF"),
        });
    }
    Ok(())
}
