//! Generic component commands every CCI answers (CXL r3.1 §8.2.9.1, §8.2.9.3): Identify,
//! Background Operation Status and Get FW Info.

use super::error::FmApiError;
use super::wire::{Reader, invalid};

/// Component type in the Identify response (r3.1 §8.2.9.1.1; QEMU answers 00h for its
/// switch CCI and 03h for a Type-3 device).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComponentType {
    /// A CXL switch.
    Switch,
    /// A Type-3 memory device.
    Type3,
    /// Any other value, kept so that it can be reported.
    Other(u8),
}

impl ComponentType {
    /// The wire byte.
    #[must_use]
    pub fn byte(self) -> u8 {
        match self {
            ComponentType::Switch => 0x00,
            ComponentType::Type3 => 0x03,
            ComponentType::Other(b) => b,
        }
    }

    /// From the wire byte.
    #[must_use]
    pub fn from_byte(b: u8) -> Self {
        match b {
            0x00 => ComponentType::Switch,
            0x03 => ComponentType::Type3,
            other => ComponentType::Other(other),
        }
    }
}

/// Identify response, 18 bytes (r3.1 §8.2.9.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdentifyResponse {
    /// PCI vendor id.
    pub vendor_id: u16,
    /// PCI device id.
    pub device_id: u16,
    /// PCI subsystem vendor id.
    pub subsystem_vendor_id: u16,
    /// PCI subsystem id.
    pub subsystem_id: u16,
    /// Device serial number (the PCIe Device Serial Number capability's value).
    pub serial_number: u64,
    /// Largest message the component accepts, as a power of two (2^n bytes).
    pub max_message_size_log2: u8,
    /// Switch or Type-3 device.
    pub component_type: ComponentType,
}

impl IdentifyResponse {
    /// Encoded length.
    pub const LEN: usize = 18;

    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.vendor_id.to_le_bytes());
        out.extend_from_slice(&self.device_id.to_le_bytes());
        out.extend_from_slice(&self.subsystem_vendor_id.to_le_bytes());
        out.extend_from_slice(&self.subsystem_id.to_le_bytes());
        out.extend_from_slice(&self.serial_number.to_le_bytes());
        out.push(self.max_message_size_log2);
        out.push(self.component_type.byte());
    }

    /// Decodes the payload.
    pub fn decode(p: &[u8]) -> Result<Self, FmApiError> {
        let mut r = Reader::new(p, "Identify response");
        let v = IdentifyResponse {
            vendor_id: r.u16()?,
            device_id: r.u16()?,
            subsystem_vendor_id: r.u16()?,
            subsystem_id: r.u16()?,
            serial_number: r.u64()?,
            max_message_size_log2: r.u8()?,
            component_type: ComponentType::from_byte(r.u8()?),
        };
        r.finish()?;
        Ok(v)
    }
}

/// Background Operation Status response, 8 bytes (r3.1 §8.2.9.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BackgroundOperationStatus {
    /// Bit 0 of byte 0: an operation is running.
    pub running: bool,
    /// Bits 7:1 of byte 0: percentage complete (0–100).
    pub percent_complete: u8,
    /// Opcode of the last background command.
    pub opcode: u16,
    /// Its return code.
    pub return_code: u16,
    /// Its vendor extended status.
    pub vendor_status: u16,
}

impl BackgroundOperationStatus {
    /// Encoded length.
    pub const LEN: usize = 8;

    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.running) | (self.percent_complete.min(100) << 1));
        out.push(0);
        out.extend_from_slice(&self.opcode.to_le_bytes());
        out.extend_from_slice(&self.return_code.to_le_bytes());
        out.extend_from_slice(&self.vendor_status.to_le_bytes());
    }

    /// Decodes the payload.
    pub fn decode(p: &[u8]) -> Result<Self, FmApiError> {
        const WHAT: &str = "Background Operation Status response";
        let mut r = Reader::new(p, WHAT);
        let status = r.u8()?;
        r.skip(1)?;
        let percent_complete = status >> 1;
        if percent_complete > 100 {
            return Err(invalid(
                WHAT,
                "percentage complete",
                percent_complete.into(),
            ));
        }
        let v = BackgroundOperationStatus {
            running: status & 1 != 0,
            percent_complete,
            opcode: r.u16()?,
            return_code: r.u16()?,
            vendor_status: r.u16()?,
        };
        r.finish()?;
        Ok(v)
    }
}

/// Length of one firmware revision string in Get FW Info.
pub const FW_REVISION_LEN: usize = 16;

/// Get FW Info response, 0x50 bytes (r3.1 §8.2.9.3.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FwInfo {
    /// Number of firmware slots (1–4).
    pub slots_supported: u8,
    /// Bits 2:0 active slot, bits 5:3 slot staged for the next activation (0 = none).
    pub slot_info: u8,
    /// Bit 0: online activation supported.
    pub activation_caps: u8,
    /// Revision of slots 1–4: ASCII, NUL-padded to 16 bytes.
    pub revisions: [[u8; FW_REVISION_LEN]; 4],
}

impl FwInfo {
    /// Encoded length.
    pub const LEN: usize = 0x50;

    /// A one-slot device running `version` (cut at 16 bytes).
    #[must_use]
    pub fn single_slot(version: &str) -> Self {
        let mut revisions = [[0u8; FW_REVISION_LEN]; 4];
        let b = version.as_bytes();
        let n = b.len().min(FW_REVISION_LEN);
        revisions[0][..n].copy_from_slice(&b[..n]);
        FwInfo {
            slots_supported: 1,
            slot_info: 1,
            activation_caps: 0,
            revisions,
        }
    }

    /// The active slot, 1–4.
    #[must_use]
    pub fn active_slot(&self) -> u8 {
        self.slot_info & 0x07
    }

    /// The active slot's revision as text (NUL padding removed), if it is a valid slot.
    #[must_use]
    pub fn active_revision(&self) -> Option<String> {
        let slot = usize::from(self.active_slot());
        let raw = self.revisions.get(slot.checked_sub(1)?)?;
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        Some(String::from_utf8_lossy(&raw[..end]).into_owned())
    }

    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.slots_supported);
        out.push(self.slot_info);
        out.push(self.activation_caps);
        out.extend_from_slice(&[0u8; 13]);
        for rev in &self.revisions {
            out.extend_from_slice(rev);
        }
    }

    /// Decodes the payload.
    pub fn decode(p: &[u8]) -> Result<Self, FmApiError> {
        let mut r = Reader::new(p, "Get FW Info response");
        let slots_supported = r.u8()?;
        let slot_info = r.u8()?;
        let activation_caps = r.u8()?;
        r.skip(13)?;
        let revisions = [r.array()?, r.array()?, r.array()?, r.array()?];
        r.finish()?;
        Ok(FwInfo {
            slots_supported,
            slot_info,
            activation_caps,
            revisions,
        })
    }
}
