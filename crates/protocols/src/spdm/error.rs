//! Typed decoding errors of the SPDM codec.

use thiserror::Error;

/// Why a byte string is not the SPDM message it claims to be.
///
/// Every decoder returns one of these instead of panicking, whatever the input: a truncated
/// field, bytes left over after the last field, a length that disagrees with another, an
/// unknown code or a version this codec does not speak.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpdmError {
    /// The message ends inside a field.
    #[error("{message}: truncated in {field}: {need} bytes needed, {have} left")]
    Truncated {
        message: &'static str,
        field: &'static str,
        need: usize,
        have: usize,
    },
    /// Bytes follow the last field of a fixed-layout message.
    #[error("{message}: {extra} bytes after the last field")]
    TrailingBytes { message: &'static str, extra: usize },
    /// The SPDMVersion byte is not the one this message must carry.
    #[error("{message}: SPDM version 0x{got:02x}, expected 0x{expected:02x}")]
    Version {
        message: &'static str,
        expected: u8,
        got: u8,
    },
    /// A request or response code this codec does not decode.
    #[error("unknown SPDM {direction} code 0x{code:02x}")]
    UnknownCode { direction: &'static str, code: u8 },
    /// A field holds a value that contradicts another field or the specification.
    #[error("{message}: {field} is inconsistent: {reason}")]
    Inconsistent {
        message: &'static str,
        field: &'static str,
        reason: String,
    },
    /// A length is larger than the message or the field can hold.
    #[error("{message}: {field} of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        message: &'static str,
        field: &'static str,
        len: usize,
        max: usize,
    },
}

/// Result of the SPDM codec.
pub type Result<T> = std::result::Result<T, SpdmError>;
