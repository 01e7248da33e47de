//! Versatile Diagnostics Monitoring (VDM), pages 20h–2Fh.
//!
//! Source: `reference/photonics.md` §1 "VDM" (SONiC `api/public/cmisVDM.py` and
//! `codes/public/cmis.py` `VDM_TYPE`); OIF CMIS 5.x §8.20.
//!
//! * Descriptor pages 20h–23h (one "group" each, 64 items): item i of group g is described by
//!   bytes 128+2i and 129+2i of page 20h+g: first byte `thrSet<<4 | (lane−1)`, second byte the
//!   observable type ID (0 = unused).
//! * Its real-time value is the U16/S16/F16 at bytes 128+2i of page 24h+g; thresholds sit on
//!   28h+g (8 bytes per threshold set), flags on 2Ch, page 2Fh advertises and freezes.
//! * VDM pages are banked (10h–3Fh); every accessor takes the bank.

use super::addr::PageAddress;
use super::error::{CmisError, Result};
use super::f16;
use super::map::{Encoding, Field, MemoryMap};

/// First descriptor page.
pub const DESCRIPTOR_PAGE_BASE: u8 = 0x20;
/// First value page (descriptor page + 4).
pub const VALUE_PAGE_BASE: u8 = 0x24;
/// First threshold page (descriptor page + 8).
pub const THRESHOLD_PAGE_BASE: u8 = 0x28;
/// Items per descriptor page.
pub const ITEMS_PER_GROUP: usize = 64;
/// Descriptor groups (pages 20h–23h).
pub const GROUPS: usize = 4;
/// Items in all groups.
pub const MAX_ITEMS: usize = ITEMS_PER_GROUP * GROUPS;

/// An observable type ID (`codes/public/cmis.py` `VDM_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VdmType(pub u8);

/// How a VDM observable is encoded and scaled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VdmFormat {
    /// U16, S16 or F16.
    pub encoding: Encoding,
    /// Physical value = raw (or decoded F16) · scale.
    pub scale: f64,
    /// Unit.
    pub unit: &'static str,
}

impl VdmType {
    /// 1: laser age, %.
    pub const LASER_AGE: Self = Self(1);
    /// 2: TEC current, % (S16, 100/32767).
    pub const TEC_CURRENT: Self = Self(2);
    /// 3: laser frequency error, S16 in 10 MHz.
    pub const LASER_FREQ_ERROR: Self = Self(3);
    /// 4: laser temperature, S16 in 1/256 °C.
    pub const LASER_TEMPERATURE: Self = Self(4);
    /// 5: eSNR media input, U16 in 1/256 dB.
    pub const ESNR_MEDIA: Self = Self(5);
    /// 6: eSNR host input, U16 in 1/256 dB.
    pub const ESNR_HOST: Self = Self(6);
    /// 7: PAM4 level transition parameter (LTP) media input, U16 in 1/256 dB.
    pub const LTP_MEDIA: Self = Self(7);
    /// 8: LTP host input, U16 in 1/256 dB.
    pub const LTP_HOST: Self = Self(8);
    /// 9: pre-FEC BER minimum, media input (F16).
    pub const PRE_FEC_BER_MIN_MEDIA: Self = Self(9);
    /// 11: pre-FEC BER maximum, media input (F16).
    pub const PRE_FEC_BER_MAX_MEDIA: Self = Self(11);
    /// 13: pre-FEC BER average, media input (F16).
    pub const PRE_FEC_BER_AVG_MEDIA: Self = Self(13);
    /// 15: pre-FEC BER current value, media input (F16).
    pub const PRE_FEC_BER_CUR_MEDIA: Self = Self(15);
    /// 17: errored frames minimum, media input (F16).
    pub const ERRORED_FRAMES_MIN_MEDIA: Self = Self(17);
    /// 19: errored frames maximum, media input (F16).
    pub const ERRORED_FRAMES_MAX_MEDIA: Self = Self(19);
    /// 21: errored frames average, media input (F16).
    pub const ERRORED_FRAMES_AVG_MEDIA: Self = Self(21);
    /// 23: errored frames current value, media input (F16).
    pub const ERRORED_FRAMES_CUR_MEDIA: Self = Self(23);

    /// Encoding and scale of the CMIS-defined types 1–24 (`None` otherwise, e.g. C-CMIS ≥ 128).
    pub const fn format(self) -> Option<VdmFormat> {
        let (encoding, scale, unit) = match self.0 {
            1 => (Encoding::Unsigned, 1.0, "%"),
            2 => (Encoding::Signed, 100.0 / 32767.0, "%"),
            3 => (Encoding::Signed, 10.0, "MHz"),
            4 => (Encoding::Signed, 1.0 / 256.0, "degC"),
            5..=8 => (Encoding::Unsigned, 1.0 / 256.0, "dB"),
            9..=16 => (Encoding::F16, 1.0, ""),
            17..=24 => (Encoding::F16, 1.0, "frames"),
            _ => return None,
        };
        Some(VdmFormat {
            encoding,
            scale,
            unit,
        })
    }

    /// Name of the CMIS-defined types.
    pub const fn name(self) -> &'static str {
        match self.0 {
            1 => "Laser Age",
            2 => "TEC Current",
            3 => "Laser Frequency Error",
            4 => "Laser Temperature",
            5 => "eSNR Media Input",
            6 => "eSNR Host Input",
            7 => "PAM4 LTP Media Input",
            8 => "PAM4 LTP Host Input",
            9 => "Pre-FEC BER Minimum Media Input",
            10 => "Pre-FEC BER Minimum Host Input",
            11 => "Pre-FEC BER Maximum Media Input",
            12 => "Pre-FEC BER Maximum Host Input",
            13 => "Pre-FEC BER Average Media Input",
            14 => "Pre-FEC BER Average Host Input",
            15 => "Pre-FEC BER Current Value Media Input",
            16 => "Pre-FEC BER Current Value Host Input",
            17 => "Errored Frames Minimum Media Input",
            18 => "Errored Frames Minimum Host Input",
            19 => "Errored Frames Maximum Media Input",
            20 => "Errored Frames Maximum Host Input",
            21 => "Errored Frames Average Media Input",
            22 => "Errored Frames Average Host Input",
            23 => "Errored Frames Current Value Media Input",
            24 => "Errored Frames Current Value Host Input",
            _ => "Unknown",
        }
    }
}

/// One VDM descriptor (2 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VdmDescriptor {
    /// Threshold set ID (bits 7–4 of the first byte), 0–15.
    pub threshold_set: u8,
    /// Lane in the bank the observable applies to, 1–16 (stored as lane − 1 in bits 3–0).
    pub lane: u8,
    /// Observable type (second byte); 0 = unused.
    pub type_id: VdmType,
}

impl VdmDescriptor {
    /// Decodes the two descriptor bytes (total).
    pub const fn decode(b: [u8; 2]) -> Self {
        Self {
            threshold_set: b[0] >> 4,
            lane: (b[0] & 0x0F) + 1,
            type_id: VdmType(b[1]),
        }
    }

    /// Encodes, rejecting a threshold set > 15 or a lane outside 1–16.
    pub fn encode(&self) -> Result<[u8; 2]> {
        if self.threshold_set > 15 || self.lane == 0 || self.lane > 16 {
            return Err(CmisError::ValueOutOfRange {
                field: "VdmDescriptor",
                page: DESCRIPTOR_PAGE_BASE,
                offset: 128,
                value: format!("threshold set {} lane {}", self.threshold_set, self.lane),
            });
        }
        Ok([(self.threshold_set << 4) | (self.lane - 1), self.type_id.0])
    }
}

/// (group page offset, byte) of item `index`.
fn locate(index: usize) -> Result<(u8, u8)> {
    if index >= MAX_ITEMS {
        return Err(CmisError::VdmIndex { index });
    }
    Ok((
        (index / ITEMS_PER_GROUP) as u8,
        128 + 2 * (index % ITEMS_PER_GROUP) as u8,
    ))
}

/// The [`Field`] of the real-time value of item `index`, given its type.
pub fn value_field(index: usize, type_id: VdmType) -> Result<Field> {
    let (group, offset) = locate(index)?;
    let fmt = type_id.format().unwrap_or(VdmFormat {
        encoding: Encoding::Unsigned,
        scale: 1.0,
        unit: "",
    });
    Ok(Field {
        name: type_id.name(),
        page: VALUE_PAGE_BASE + group,
        offset,
        len: 2,
        encoding: fmt.encoding,
        scale: fmt.scale,
        unit: fmt.unit,
    })
}

impl MemoryMap {
    /// Descriptor of VDM item `index` (0–255) in `bank`.
    pub fn vdm_descriptor(&self, bank: u8, index: usize) -> Result<VdmDescriptor> {
        let (group, offset) = locate(index)?;
        let b = self.read_bytes(
            PageAddress::new(bank, DESCRIPTOR_PAGE_BASE + group)?,
            offset,
            2,
        )?;
        Ok(VdmDescriptor::decode([b[0], b[1]]))
    }

    /// Writes the descriptor of VDM item `index` in `bank`.
    pub fn set_vdm_descriptor(&mut self, bank: u8, index: usize, d: &VdmDescriptor) -> Result<()> {
        let (group, offset) = locate(index)?;
        self.write_bytes(
            PageAddress::new(bank, DESCRIPTOR_PAGE_BASE + group)?,
            offset,
            &d.encode()?,
        )
    }

    /// The used VDM items of `bank` (type ≠ 0) in the descriptor pages held, as (index, descriptor).
    pub fn vdm_items(&self, bank: u8) -> Vec<(usize, VdmDescriptor)> {
        let mut out = Vec::new();
        for index in 0..MAX_ITEMS {
            match self.vdm_descriptor(bank, index) {
                Ok(d) if d.type_id.0 != 0 => out.push((index, d)),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        out
    }

    /// Index of the first item of `bank` observing `type_id` on `lane` (1–16 in the bank).
    pub fn find_vdm(&self, bank: u8, type_id: VdmType, lane: u8) -> Option<usize> {
        self.vdm_items(bank)
            .into_iter()
            .find(|(_, d)| d.type_id == type_id && d.lane == lane)
            .map(|(i, _)| i)
    }

    /// Raw 16-bit word of VDM item `index` in `bank`.
    pub fn vdm_raw(&self, bank: u8, index: usize) -> Result<u16> {
        let (group, offset) = locate(index)?;
        let b = self.read_bytes(PageAddress::new(bank, VALUE_PAGE_BASE + group)?, offset, 2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Physical value of VDM item `index` in `bank`, decoded per its descriptor's type.
    pub fn vdm_value(&self, bank: u8, index: usize) -> Result<f64> {
        let d = self.vdm_descriptor(bank, index)?;
        let raw = self.vdm_raw(bank, index)?;
        Ok(decode_vdm(d.type_id, raw))
    }

    /// Writes the physical value of VDM item `index` (type from its descriptor), saturating.
    pub fn set_vdm_value(&mut self, bank: u8, index: usize, value: f64) -> Result<()> {
        let d = self.vdm_descriptor(bank, index)?;
        let f = value_field(index, d.type_id)?;
        self.write_value_saturating(bank, &f, value)
    }
}

/// Decodes a raw VDM word of type `type_id` (unknown types: the raw word as an unsigned number).
pub fn decode_vdm(type_id: VdmType, raw: u16) -> f64 {
    match type_id.format() {
        Some(VdmFormat {
            encoding: Encoding::F16,
            scale,
            ..
        }) => f16::decode(raw) * scale,
        Some(VdmFormat {
            encoding: Encoding::Signed,
            scale,
            ..
        }) => f64::from(raw as i16) * scale,
        Some(VdmFormat { scale, .. }) => f64::from(raw) * scale,
        None => f64::from(raw),
    }
}
