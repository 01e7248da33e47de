//! Measurement records of MEASUREMENTS (DSP0274 1.2 §10.11.1): a sequence of blocks
//! `Index u8, MeasurementSpecification u8, MeasurementSize u16, Measurement`, where a DMTF
//! measurement is `DMTFSpecMeasurementValueType u8, DMTFSpecMeasurementValueSize u16, value`.

use super::algorithms::MEASUREMENT_SPEC_DMTF;
use super::codec::{Put, Reader, fits};
use super::error::{Result, SpdmError};

/// DMTF measurement value types (bits 6:0 of `DMTFSpecMeasurementValueType`).
pub mod value_type {
    pub const IMMUTABLE_ROM: u8 = 0;
    pub const MUTABLE_FIRMWARE: u8 = 1;
    pub const HARDWARE_CONFIG: u8 = 2;
    pub const FIRMWARE_CONFIG: u8 = 3;
    pub const MANIFEST: u8 = 4;
    pub const DEVICE_MODE: u8 = 5;
    pub const VERSION: u8 = 6;
    pub const SECURE_VERSION_NUMBER: u8 = 7;
    /// Bit 7: the value is a raw bit stream, not a digest.
    pub const RAW_BIT_STREAM: u8 = 1 << 7;
}

/// One DMTF measurement block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasurementBlock {
    /// Index 1..=0xFE (0 and 0xFF are operations, not indices).
    pub index: u8,
    /// `DMTFSpecMeasurementValueType`, including bit 7 (raw bit stream).
    pub value_type: u8,
    /// A digest of the negotiated measurement hash, or the raw value when bit 7 is set.
    pub value: Vec<u8>,
}

impl MeasurementBlock {
    /// Whether the value is a raw bit stream rather than a digest.
    #[must_use]
    pub fn is_raw(&self) -> bool {
        self.value_type & value_type::RAW_BIT_STREAM != 0
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        let m = "measurement block";
        check_index(m, self.index)?;
        fits(
            m,
            "DMTFSpecMeasurementValueSize",
            self.value.len(),
            usize::from(u16::MAX) - 3,
        )?;
        out.put_u8(self.index);
        out.put_u8(MEASUREMENT_SPEC_DMTF);
        out.put_u16(self.value.len() as u16 + 3);
        out.put_u8(self.value_type);
        out.put_u16(self.value.len() as u16);
        out.extend_from_slice(&self.value);
        Ok(())
    }
}

fn check_index(message: &'static str, index: u8) -> Result<()> {
    if index == 0 || index == 0xFF {
        return Err(SpdmError::Inconsistent {
            message,
            field: "Index",
            reason: format!("{index} is not a measurement index"),
        });
    }
    Ok(())
}

/// Encodes blocks into a measurement record.
pub fn encode_record(blocks: &[MeasurementBlock]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for b in blocks {
        b.encode(&mut out)?;
    }
    Ok(out)
}

/// Decodes a measurement record that must hold exactly `count` blocks and nothing else.
/// Indices must be distinct; only the DMTF measurement specification is accepted.
pub fn decode_record(record: &[u8], count: u8) -> Result<Vec<MeasurementBlock>> {
    let m = "measurement record";
    let mut r = Reader::new(m, record);
    let mut blocks: Vec<MeasurementBlock> = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let index = r.u8("Index")?;
        check_index(m, index)?;
        let spec = r.u8("MeasurementSpecification")?;
        if spec != MEASUREMENT_SPEC_DMTF {
            return Err(SpdmError::Inconsistent {
                message: m,
                field: "MeasurementSpecification",
                reason: format!("0x{spec:02x} is not the DMTF format"),
            });
        }
        let size = usize::from(r.u16("MeasurementSize")?);
        let mut inner = Reader::new(m, r.take("Measurement", size)?);
        let value_type = inner.u8("DMTFSpecMeasurementValueType")?;
        let value_size = usize::from(inner.u16("DMTFSpecMeasurementValueSize")?);
        if value_size + 3 != size {
            return Err(SpdmError::Inconsistent {
                message: m,
                field: "DMTFSpecMeasurementValueSize",
                reason: format!("{value_size} + 3 is not MeasurementSize {size}"),
            });
        }
        let value = inner.take("DMTFSpecMeasurementValue", value_size)?.to_vec();
        if blocks.iter().any(|b| b.index == index) {
            return Err(SpdmError::Inconsistent {
                message: m,
                field: "Index",
                reason: format!("index {index} appears twice"),
            });
        }
        blocks.push(MeasurementBlock {
            index,
            value_type,
            value,
        });
    }
    r.finish()?;
    Ok(blocks)
}
