//! The TCG PC Client crypto-agile event log (TCG PC Client Platform Firmware Profile,
//! §10.2 "Event Logging"): a SHA-1-format header event carrying the `Spec ID Event03`
//! structure and its algorithm table, then `TCG_PCR_EVENT2` records, each with a
//! `TPML_DIGEST_VALUES` holding one digest per bank. All integers are little-endian.
//!
//! ```text
//! header (TCG_PCClientPCREvent):  pcrIndex u32 | eventType u32 (EV_NO_ACTION) | digest[20] = 0
//!                                 | eventDataSize u32 | TCG_EfiSpecIDEvent
//! TCG_EfiSpecIDEvent:             signature[16] "Spec ID Event03\0" | platformClass u32
//!                                 | specVersionMinor u8 | specVersionMajor u8 | specErrata u8
//!                                 | uintnSize u8 | numberOfAlgorithms u32
//!                                 | { algorithmId u16 | digestSize u16 } * n
//!                                 | vendorInfoSize u8 | vendorInfo[vendorInfoSize]
//! TCG_PCR_EVENT2:                 pcrIndex u32 | eventType u32 | count u32
//!                                 | { hashAlg u16 | digest[size from the header] } * count
//!                                 | eventSize u32 | event[eventSize]
//! ```

use super::alg::HashAlg;
use super::error::{Result, TcgError};
use super::event_type::EventType;
use super::reader::Reader;

/// The signature that opens a crypto-agile log's header event.
pub const SPEC_ID_SIGNATURE: &[u8; 16] = b"Spec ID Event03\0";
/// Largest log accepted. Firmware logs are tens of kilobytes; this only bounds memory.
pub const MAX_LOG_LEN: usize = 16 * 1024 * 1024;
/// Most banks a header may list (the registry has fewer hash algorithms than this).
pub const MAX_BANKS: u32 = 8;
/// Highest PCR index of a PC Client TPM.
pub const MAX_PCR: u8 = 23;

/// The `TCG_EfiSpecIDEvent` of the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecIdEvent {
    /// 0 = client, 1 = server.
    pub platform_class: u32,
    /// (major, minor, errata), e.g. (2, 0, 0).
    pub spec_version: (u8, u8, u8),
    /// 1 = 32-bit UINTN, 2 = 64-bit.
    pub uintn_size: u8,
    /// The banks every later event carries a digest for, in header order.
    pub algorithms: Vec<HashAlg>,
    /// Opaque vendor bytes.
    pub vendor_info: Vec<u8>,
}

/// One `TCG_PCR_EVENT2` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Position in the log; the header is 0, so the first record is 1 (as `tpm2_eventlog`
    /// counts).
    pub number: usize,
    /// The PCR the event extends (0–23).
    pub pcr: u8,
    /// The event type.
    pub event_type: EventType,
    /// One digest per bank, in the order the record lists them.
    pub digests: Vec<(HashAlg, Vec<u8>)>,
    /// The event data (not covered by the digest for most types).
    pub data: Vec<u8>,
}

impl Event {
    /// The digest of bank `alg`, if the record carries one.
    #[must_use]
    pub fn digest(&self, alg: HashAlg) -> Option<&[u8]> {
        self.digests
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, d)| d.as_slice())
    }
}

/// A parsed crypto-agile event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLog {
    /// The header's algorithm table and versions.
    pub spec_id: SpecIdEvent,
    /// The records after the header, in log order.
    pub events: Vec<Event>,
}

impl EventLog {
    /// Parses a whole log (for example `/sys/kernel/security/tpm0/binary_bios_measurements`).
    ///
    /// # Errors
    /// [`TcgError`] for a log that is not crypto-agile, truncated, lists an unknown or
    /// mis-sized bank, carries an event whose digests do not match the header's banks one to
    /// one, or names a PCR above 23.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_LOG_LEN {
            return Err(TcgError::TooLarge {
                what: "event log",
                size: bytes.len(),
                limit: MAX_LOG_LEN,
            });
        }
        let mut r = Reader::new(bytes);
        let spec_id = parse_header(&mut r)?;
        let mut events = Vec::new();
        while !r.is_empty() {
            let number = events.len() + 1;
            events.push(parse_event(&mut r, number, &spec_id.algorithms)?);
        }
        Ok(Self { spec_id, events })
    }

    /// Starts a log whose header lists `banks` (for tests, twins and fixtures).
    #[must_use]
    pub fn new(banks: &[HashAlg]) -> Self {
        Self {
            spec_id: SpecIdEvent {
                platform_class: 0,
                spec_version: (2, 0, 0),
                uintn_size: 2,
                algorithms: banks.to_vec(),
                vendor_info: Vec::new(),
            },
            events: Vec::new(),
        }
    }

    /// Appends a record, numbering it.
    pub fn push(
        &mut self,
        pcr: u8,
        event_type: EventType,
        digests: Vec<(HashAlg, Vec<u8>)>,
        data: Vec<u8>,
    ) {
        let number = self.events.len() + 1;
        self.events.push(Event {
            number,
            pcr,
            event_type,
            digests,
            data,
        });
    }

    /// Serialises the log in the layout [`EventLog::parse`] reads.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let s = &self.spec_id;
        let mut spec = Vec::new();
        spec.extend_from_slice(SPEC_ID_SIGNATURE);
        spec.extend_from_slice(&s.platform_class.to_le_bytes());
        spec.extend_from_slice(&[
            s.spec_version.1,
            s.spec_version.0,
            s.spec_version.2,
            s.uintn_size,
        ]);
        spec.extend_from_slice(&len_u32(s.algorithms.len()).to_le_bytes());
        for a in &s.algorithms {
            spec.extend_from_slice(&a.id().to_le_bytes());
            spec.extend_from_slice(&len_u16(a.digest_len()).to_le_bytes());
        }
        spec.push(u8::try_from(s.vendor_info.len()).unwrap_or(u8::MAX));
        spec.extend_from_slice(&s.vendor_info[..s.vendor_info.len().min(255)]);

        let mut out = Vec::new();
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&EventType::EV_NO_ACTION.0.to_le_bytes());
        out.extend_from_slice(&[0u8; 20]);
        out.extend_from_slice(&len_u32(spec.len()).to_le_bytes());
        out.extend_from_slice(&spec);
        for e in &self.events {
            out.extend_from_slice(&u32::from(e.pcr).to_le_bytes());
            out.extend_from_slice(&e.event_type.0.to_le_bytes());
            out.extend_from_slice(&len_u32(e.digests.len()).to_le_bytes());
            for (a, d) in &e.digests {
                out.extend_from_slice(&a.id().to_le_bytes());
                out.extend_from_slice(d);
            }
            out.extend_from_slice(&len_u32(e.data.len()).to_le_bytes());
            out.extend_from_slice(&e.data);
        }
        out
    }
}

// Lengths here are bounded by MAX_LOG_LEN-sized inputs or by the caller's own vectors;
// saturating keeps the encoder total rather than panicking on absurd sizes.
fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn len_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn parse_header(r: &mut Reader<'_>) -> Result<SpecIdEvent> {
    let pcr = r.u32_le("header pcrIndex")?;
    let event_type = r.u32_le("header eventType")?;
    r.take(20, "header SHA-1 digest")?;
    if pcr != 0 || event_type != EventType::EV_NO_ACTION.0 {
        return Err(TcgError::NotCryptoAgile(
            "first event is not an EV_NO_ACTION in PCR 0",
        ));
    }
    let size = r.u32_le("header eventDataSize")?;
    let data = r.take(size as usize, "header event data")?;
    let mut s = Reader::new(data);
    if s.take(16, "Spec ID signature")? != SPEC_ID_SIGNATURE {
        return Err(TcgError::NotCryptoAgile(
            "header signature is not \"Spec ID Event03\"",
        ));
    }
    let platform_class = s.u32_le("platformClass")?;
    let minor = s.u8("specVersionMinor")?;
    let major = s.u8("specVersionMajor")?;
    let errata = s.u8("specErrata")?;
    let uintn_size = s.u8("uintnSize")?;
    let count = s.u32_le("numberOfAlgorithms")?;
    if count == 0 {
        return Err(TcgError::NotCryptoAgile(
            "the Spec ID header lists no banks",
        ));
    }
    if count > MAX_BANKS {
        return Err(TcgError::TooLarge {
            what: "numberOfAlgorithms",
            size: count as usize,
            limit: MAX_BANKS as usize,
        });
    }
    let mut algorithms = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let id = s.u16_le("algorithmId")?;
        let size = s.u16_le("digestSize")?;
        let alg = HashAlg::from_id(id).ok_or(TcgError::Unsupported {
            what: "digest algorithm",
            value: u32::from(id),
        })?;
        if usize::from(size) != alg.digest_len() {
            return Err(TcgError::DigestSizeMismatch {
                alg: id,
                listed: size,
                actual: alg.digest_len(),
            });
        }
        if algorithms.contains(&alg) {
            return Err(TcgError::NotCryptoAgile(
                "the Spec ID header lists a bank twice",
            ));
        }
        algorithms.push(alg);
    }
    let vendor_len = s.u8("vendorInfoSize")?;
    let vendor_info = s.take(usize::from(vendor_len), "vendorInfo")?.to_vec();
    s.finish("TCG_EfiSpecIDEvent")?;
    Ok(SpecIdEvent {
        platform_class,
        spec_version: (major, minor, errata),
        uintn_size,
        algorithms,
        vendor_info,
    })
}

fn parse_event(r: &mut Reader<'_>, number: usize, banks: &[HashAlg]) -> Result<Event> {
    let pcr = r.u32_le("pcrIndex")?;
    let pcr = u8::try_from(pcr)
        .ok()
        .filter(|p| *p <= MAX_PCR)
        .ok_or(TcgError::PcrOutOfRange { event: number, pcr })?;
    let event_type = EventType(r.u32_le("eventType")?);
    let count = r.u32_le("digests.count")?;
    if count as usize != banks.len() {
        return Err(TcgError::BankMismatch {
            event: number,
            found: count,
            expected: banks.len(),
        });
    }
    let mut digests: Vec<(HashAlg, Vec<u8>)> = Vec::with_capacity(banks.len());
    for _ in 0..count {
        let id = r.u16_le("digest hashAlg")?;
        let alg = HashAlg::from_id(id).filter(|a| banks.contains(a)).ok_or(
            TcgError::UnlistedAlgorithm {
                event: number,
                alg: id,
            },
        )?;
        if digests.iter().any(|(a, _)| *a == alg) {
            return Err(TcgError::BankMismatch {
                event: number,
                found: count,
                expected: banks.len(),
            });
        }
        digests.push((alg, r.take(alg.digest_len(), "digest")?.to_vec()));
    }
    let size = r.u32_le("eventSize")?;
    let data = r.take(size as usize, "event data")?.to_vec();
    Ok(Event {
        number,
        pcr,
        event_type,
        digests,
        data,
    })
}
