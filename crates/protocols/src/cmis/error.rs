//! Errors of the CMIS codec. Every variant says where (page, offset, field) it happened.

use thiserror::Error;

/// Everything the CMIS codec, planner and simulator can reject.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CmisError {
    /// The page number is not a CMIS page (valid: 00h–04h, 10h–3Fh, 9Fh, A0h–FFh).
    #[error("page {page:#04x} is not a valid CMIS page (valid: 00h-04h, 10h-3Fh, 9Fh, A0h-FFh)")]
    InvalidPage {
        /// The rejected page.
        page: u8,
    },
    /// A bank other than 0 was used with a page that is not banked.
    #[error(
        "page {page:#04x} is not banked (only 10h-3Fh, 9Fh, A0h-AFh are); bank {bank} is invalid"
    )]
    UnbankedPage {
        /// The page.
        page: u8,
        /// The rejected bank.
        bank: u8,
    },
    /// The bank is beyond the 4 banks (32 lanes) CMIS 5 advertises.
    #[error("bank {bank} out of range 0..={max}")]
    InvalidBank {
        /// The rejected bank.
        bank: u8,
        /// The largest bank supported.
        max: u8,
    },
    /// A byte range does not fit its half page (0–127 lower, 128–255 upper).
    #[error("bytes {offset}..{end} of page {page:#04x} cross or leave their half page", end = *offset as usize + *len)]
    OffsetOutOfRange {
        /// The page (ignored by CMIS for offsets < 128).
        page: u8,
        /// First byte address (0–255).
        offset: u8,
        /// Number of bytes.
        len: usize,
    },
    /// A linear (optoe) offset that is not inside any valid page.
    #[error("linear offset {offset} (+{len}) does not map to a valid CMIS page")]
    LinearOutOfRange {
        /// The linear offset.
        offset: usize,
        /// The length asked for.
        len: usize,
    },
    /// A linear image whose length is not 128 bytes plus whole 128-byte pages.
    #[error("linear image of {len} bytes: expected at least 128 bytes and a multiple of 128")]
    BadImageLength {
        /// The image length.
        len: usize,
    },
    /// The (bank, page) is not held by this memory map.
    #[error("bank {bank} page {page:#04x} is not present in the memory map")]
    PageNotPresent {
        /// The bank.
        bank: u8,
        /// The page.
        page: u8,
    },
    /// A lane number outside 1..=8 (per bank) or 1..=32 (per module).
    #[error("field {field}: lane {lane} out of range 1..={max}")]
    InvalidLane {
        /// The field or operation.
        field: &'static str,
        /// The rejected lane.
        lane: u8,
        /// The largest lane allowed here.
        max: u8,
    },
    /// A value that does not fit the field's encoding.
    #[error("field {field} (page {page:#04x}, byte {offset}): value {value} out of range")]
    ValueOutOfRange {
        /// Field name.
        field: &'static str,
        /// Page.
        page: u8,
        /// Byte address.
        offset: u8,
        /// The value, printed.
        value: String,
    },
    /// A code that the field's enumeration does not define.
    #[error("field {field} (page {page:#04x}, byte {offset}): unknown code {code}")]
    UnknownCode {
        /// Field name.
        field: &'static str,
        /// Page.
        page: u8,
        /// Byte address.
        offset: u8,
        /// The code read.
        code: u8,
    },
    /// A value the F16 format cannot hold (negative, not finite, or above 2047·10^7).
    #[error("F16 cannot encode {value}")]
    F16Unrepresentable {
        /// The value.
        value: f64,
    },
    /// A VDM item index beyond the 4 descriptor pages (256 items).
    #[error("VDM item {index} out of range 0..256")]
    VdmIndex {
        /// The index.
        index: usize,
    },
    /// A write to a byte the module does not let the host write.
    #[error("bank {bank} page {page:#04x} byte {offset} is read-only for the host")]
    ReadOnly {
        /// Bank.
        bank: u8,
        /// Page.
        page: u8,
        /// Byte address.
        offset: u8,
    },
    /// A provisioning request the module cannot satisfy.
    #[error("provisioning request rejected: {reason}")]
    InvalidRequest {
        /// Why.
        reason: String,
    },
    /// The module reports ModuleFault.
    #[error("module is in ModuleFault state")]
    ModuleFault,
    /// The module rejected the staged configuration for a lane.
    #[error("bank {bank} lane {lane}: configuration rejected with ConfigStatus {code} ({name})")]
    ConfigRejected {
        /// Bank.
        bank: u8,
        /// Lane in the bank (1–8).
        lane: u8,
        /// The ConfigStatus code.
        code: u8,
        /// Its name.
        name: &'static str,
    },
    /// A poll did not reach its condition within its budget.
    #[error("step {step} ({note}): condition not met after {polls} polls")]
    PollTimeout {
        /// Index of the step in the plan.
        step: usize,
        /// What the step waits for.
        note: &'static str,
        /// Polls done.
        polls: u32,
    },
}

/// Result alias of the CMIS codec.
pub type Result<T, E = CmisError> = std::result::Result<T, E>;
