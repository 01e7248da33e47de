//! `TPMS_ATTEST` for `TPM2_Quote` (TPM 2.0 Library, Part 2 §10.12), big-endian:
//!
//! ```text
//! magic u32 (0xff544347 "\xffTCG") | type u16 (0x8018 TPM_ST_ATTEST_QUOTE)
//! | qualifiedSigner TPM2B_NAME | extraData TPM2B_DATA
//! | clockInfo { clock u64 | resetCount u32 | restartCount u32 | safe u8 }
//! | firmwareVersion u64
//! | TPMS_QUOTE_INFO { TPML_PCR_SELECTION { count u32 | { hash u16 | sizeofSelect u8
//!                     | pcrSelect[sizeofSelect] } * count } | pcrDigest TPM2B_DIGEST }
//! ```
//!
//! The magic is what stops a restricted signing key from signing a forged quote: the TPM
//! refuses to sign external data starting with it (TPM2_Sign on a restricted key).

use super::alg::HashAlg;
use super::error::{Result, TcgError};
use super::reader::Reader;

/// `TPM_GENERATED_VALUE`.
pub const TPM_GENERATED_VALUE: u32 = 0xff54_4347;
/// `TPM_ST_ATTEST_QUOTE`.
pub const TPM_ST_ATTEST_QUOTE: u16 = 0x8018;
/// Most banks a selection list may hold (`HASH_COUNT` is far below this).
pub const MAX_SELECTIONS: u32 = 16;
/// Longest `sizeofSelect` (`PCR_SELECT_MAX` for 32 PCRs).
pub const MAX_SIZEOF_SELECT: u8 = 4;

/// `TPMS_CLOCK_INFO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockInfo {
    /// Milliseconds the TPM has been powered since it was manufactured (or cleared).
    pub clock: u64,
    /// `TPM2_Startup(CLEAR)`s since the last `TPM2_Clear`: a reboot.
    pub reset_count: u32,
    /// `TPM2_Startup(STATE)`s (resume from hibernate) since the last reset.
    pub restart_count: u32,
    /// Whether `clock` is known not to have gone backwards.
    pub safe: bool,
}

/// One `TPMS_PCR_SELECTION`: a bank and the PCRs selected in it, ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcrSelection {
    /// The bank.
    pub bank: HashAlg,
    /// Selected PCR indices, ascending.
    pub pcrs: Vec<u8>,
}

impl PcrSelection {
    /// A selection of `pcrs` (sorted and de-duplicated) in `bank`.
    #[must_use]
    pub fn new(bank: HashAlg, pcrs: &[u8]) -> Self {
        let mut pcrs = pcrs.to_vec();
        pcrs.sort_unstable();
        pcrs.dedup();
        Self { bank, pcrs }
    }
}

/// A decoded `TPMS_ATTEST` of type quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteAttest {
    /// `qualifiedSigner`: the qualified name of the signing key.
    pub qualified_signer: Vec<u8>,
    /// `extraData`: the verifier's nonce, echoed.
    pub extra_data: Vec<u8>,
    /// `clockInfo`.
    pub clock_info: ClockInfo,
    /// `firmwareVersion` (vendor-defined).
    pub firmware_version: u64,
    /// `TPML_PCR_SELECTION`, in the order the TPM concatenated the PCRs for `pcr_digest`.
    pub selections: Vec<PcrSelection>,
    /// `pcrDigest`: the hash (of the signing scheme's algorithm) of the selected PCR values
    /// concatenated in selection order.
    pub pcr_digest: Vec<u8>,
}

impl QuoteAttest {
    /// Decodes a marshalled `TPMS_ATTEST` and insists it is a quote.
    ///
    /// # Errors
    /// [`TcgError::BadTag`] for a wrong magic or a non-quote type or a `safe` that is not
    /// 0/1; [`TcgError::Truncated`] / [`TcgError::TrailingBytes`] for a wrong length;
    /// [`TcgError::Unsupported`] for an unknown bank; [`TcgError::PcrOutOfRange`] or
    /// [`TcgError::TooLarge`] for an impossible selection.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let magic = r.u32_be("magic")?;
        if magic != TPM_GENERATED_VALUE {
            return Err(TcgError::BadTag {
                structure: "TPMS_ATTEST",
                field: "magic",
                found: magic,
                expected: TPM_GENERATED_VALUE,
            });
        }
        let kind = r.u16_be("type")?;
        if kind != TPM_ST_ATTEST_QUOTE {
            return Err(TcgError::BadTag {
                structure: "TPMS_ATTEST",
                field: "type",
                found: u32::from(kind),
                expected: u32::from(TPM_ST_ATTEST_QUOTE),
            });
        }
        let qualified_signer = r.tpm2b("qualifiedSigner")?.to_vec();
        let extra_data = r.tpm2b("extraData")?.to_vec();
        let clock = r.u64_be("clockInfo.clock")?;
        let reset_count = r.u32_be("clockInfo.resetCount")?;
        let restart_count = r.u32_be("clockInfo.restartCount")?;
        let safe = match r.u8("clockInfo.safe")? {
            0 => false,
            1 => true,
            other => {
                return Err(TcgError::BadTag {
                    structure: "TPMS_CLOCK_INFO",
                    field: "safe",
                    found: u32::from(other),
                    expected: 1,
                });
            }
        };
        let firmware_version = r.u64_be("firmwareVersion")?;
        let selections = parse_selection_list(&mut r)?;
        let pcr_digest = r.tpm2b("pcrDigest")?.to_vec();
        r.finish("TPMS_ATTEST")?;
        Ok(Self {
            qualified_signer,
            extra_data,
            clock_info: ClockInfo {
                clock,
                reset_count,
                restart_count,
                safe,
            },
            firmware_version,
            selections,
            pcr_digest,
        })
    }

    /// Marshals back to `TPMS_ATTEST` bytes (for fixtures and tests).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&TPM_GENERATED_VALUE.to_be_bytes());
        out.extend_from_slice(&TPM_ST_ATTEST_QUOTE.to_be_bytes());
        put_tpm2b(&mut out, &self.qualified_signer);
        put_tpm2b(&mut out, &self.extra_data);
        let c = &self.clock_info;
        out.extend_from_slice(&c.clock.to_be_bytes());
        out.extend_from_slice(&c.reset_count.to_be_bytes());
        out.extend_from_slice(&c.restart_count.to_be_bytes());
        out.push(u8::from(c.safe));
        out.extend_from_slice(&self.firmware_version.to_be_bytes());
        out.extend_from_slice(&selection_list_bytes(&self.selections));
        put_tpm2b(&mut out, &self.pcr_digest);
        out
    }

    /// Whether the quote covers `pcr` in `bank`.
    #[must_use]
    pub fn selects(&self, bank: HashAlg, pcr: u8) -> bool {
        self.selections
            .iter()
            .any(|s| s.bank == bank && s.pcrs.contains(&pcr))
    }
}

/// Marshals a `TPML_PCR_SELECTION` with `sizeofSelect` 3 (24 PCRs), as a PC Client TPM does.
#[must_use]
pub fn selection_list_bytes(selections: &[PcrSelection]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(
        &u32::try_from(selections.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    for s in selections {
        out.extend_from_slice(&s.bank.id().to_be_bytes());
        let mut bits = [0u8; 3];
        for &p in s.pcrs.iter().filter(|p| **p < 24) {
            bits[usize::from(p / 8)] |= 1 << (p % 8);
        }
        out.push(3);
        out.extend_from_slice(&bits);
    }
    out
}

fn parse_selection_list(r: &mut Reader<'_>) -> Result<Vec<PcrSelection>> {
    let count = r.u32_be("TPML_PCR_SELECTION.count")?;
    if count > MAX_SELECTIONS {
        return Err(TcgError::TooLarge {
            what: "TPML_PCR_SELECTION.count",
            size: count as usize,
            limit: MAX_SELECTIONS as usize,
        });
    }
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let id = r.u16_be("TPMS_PCR_SELECTION.hash")?;
        let bank = HashAlg::from_id(id).ok_or(TcgError::Unsupported {
            what: "PCR bank",
            value: u32::from(id),
        })?;
        let size = r.u8("sizeofSelect")?;
        if size > MAX_SIZEOF_SELECT {
            return Err(TcgError::TooLarge {
                what: "sizeofSelect",
                size: usize::from(size),
                limit: usize::from(MAX_SIZEOF_SELECT),
            });
        }
        let bits = r.take(usize::from(size), "pcrSelect")?;
        let mut pcrs = Vec::new();
        for (byte_index, byte) in (0u8..).zip(bits) {
            for bit in 0..8u8 {
                if byte & (1 << bit) != 0 {
                    let pcr = byte_index * 8 + bit;
                    if pcr > super::event_log::MAX_PCR {
                        return Err(TcgError::PcrOutOfRange {
                            event: 0,
                            pcr: u32::from(pcr),
                        });
                    }
                    pcrs.push(pcr);
                }
            }
        }
        out.push(PcrSelection { bank, pcrs });
    }
    Ok(out)
}

pub(crate) fn put_tpm2b(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(&bytes[..usize::from(n)]);
}
