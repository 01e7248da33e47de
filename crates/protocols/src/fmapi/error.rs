//! Typed decode errors of the FM API codecs. Every malformed, truncated or oversized frame
//! maps to one of these; no decoder panics or allocates more than the bytes it was given
//! allow.

/// Why an FM API or MCTP frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FmApiError {
    /// Fewer bytes than the structure needs.
    #[error("{what}: {len} bytes, at least {need} needed")]
    Truncated {
        /// The structure being decoded.
        what: &'static str,
        /// Bytes available.
        len: usize,
        /// Bytes the structure needs.
        need: usize,
    },
    /// More bytes than the structure (or its declared length) allows.
    #[error("{what}: {len} bytes, at most {max} allowed")]
    Oversized {
        /// The structure being decoded.
        what: &'static str,
        /// Bytes given.
        len: usize,
        /// The most this structure may hold.
        max: usize,
    },
    /// The CCI header's payload length disagrees with the bytes that follow it.
    #[error("CCI message declares {declared} payload bytes but {actual} follow the header")]
    LengthMismatch {
        /// Payload length in the header.
        declared: usize,
        /// Bytes after the header.
        actual: usize,
    },
    /// A payload longer than the 20-bit length field can carry.
    #[error("payload of {0} bytes does not fit the 20-bit length field")]
    PayloadTooLarge(usize),
    /// The category byte is neither request (0) nor response (1).
    #[error("message category {0:#04x} is neither request (0) nor response (1)")]
    BadCategory(u8),
    /// An opcode this codec does not implement.
    #[error("opcode {0:#06x} is not an FM API command this codec implements")]
    UnknownOpcode(u16),
    /// A field holds a value its definition does not allow.
    #[error("{what}: {field} = {value:#x} is out of range")]
    InvalidField {
        /// The structure being decoded.
        what: &'static str,
        /// The field at fault.
        field: &'static str,
        /// Its value.
        value: u64,
    },
    /// An MCTP packet header with a version other than 1 (DSP0236 §8.1).
    #[error("MCTP header version {0} (only version 1 exists)")]
    MctpVersion(u8),
    /// An MCTP message type other than the one expected.
    #[error("MCTP message type {found:#04x}, expected {expected:#04x}")]
    MctpMessageType {
        /// The type carried.
        found: u8,
        /// The type this endpoint speaks.
        expected: u8,
    },
    /// MCTP packets that do not form one message (missing start, sequence gap, tag change).
    #[error("MCTP reassembly: {0}")]
    MctpSequence(&'static str),
}
