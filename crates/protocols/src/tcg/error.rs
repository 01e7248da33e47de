//! Errors of the TCG codecs: every malformed input is one of these, never a panic.

/// Why a TCG structure (event log, `TPMS_ATTEST`, `TPMT_SIGNATURE`, `TPMT_PUBLIC`) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TcgError {
    /// The input ended inside a field.
    #[error("truncated at byte {offset}: {field} needs {needed} bytes, {available} left")]
    Truncated {
        /// Which field was being read.
        field: &'static str,
        /// Byte offset of the field.
        offset: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the input.
        available: usize,
    },
    /// Bytes were left after a structure that must fill its input.
    #[error("{extra} trailing bytes after {structure}")]
    TrailingBytes {
        /// The structure that ended early.
        structure: &'static str,
        /// How many bytes were left.
        extra: usize,
    },
    /// The input is larger than this codec accepts.
    #[error("{what} is {size} bytes, more than the {limit} accepted")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The first event is not a crypto-agile `Spec ID Event03` header.
    #[error("not a crypto-agile event log: {0}")]
    NotCryptoAgile(&'static str),
    /// A digest algorithm the Spec ID header does not list (so its size is unknown).
    #[error("event {event}: digest algorithm 0x{alg:04x} is not in the Spec ID header")]
    UnlistedAlgorithm {
        /// Event number (0 = the Spec ID header).
        event: usize,
        /// TPM_ALG_ID.
        alg: u16,
    },
    /// The Spec ID header lists an algorithm with a size that does not match the algorithm.
    #[error("Spec ID header: algorithm 0x{alg:04x} listed with {listed} bytes, it has {actual}")]
    DigestSizeMismatch {
        /// TPM_ALG_ID.
        alg: u16,
        /// The size listed.
        listed: u16,
        /// The algorithm's real digest size.
        actual: usize,
    },
    /// An event does not carry exactly one digest per bank of the header.
    #[error("event {event}: carries {found} digests for {expected} banks (or repeats a bank)")]
    BankMismatch {
        /// Event number.
        event: usize,
        /// Digests found.
        found: u32,
        /// Banks in the header.
        expected: usize,
    },
    /// A PCR index outside 0–23.
    #[error("event {event}: PCR index {pcr} is outside 0-23")]
    PcrOutOfRange {
        /// Event number.
        event: usize,
        /// The index.
        pcr: u32,
    },
    /// A structure's magic or tag is not what it must be.
    #[error("{structure}: {field} is 0x{found:x}, expected 0x{expected:x}")]
    BadTag {
        /// The structure.
        structure: &'static str,
        /// The field.
        field: &'static str,
        /// What was read.
        found: u32,
        /// What the structure requires.
        expected: u32,
    },
    /// An algorithm or structure variant this codec does not handle.
    #[error("{what} 0x{value:04x} is not supported")]
    Unsupported {
        /// What kind of value.
        what: &'static str,
        /// The value.
        value: u32,
    },
    /// Replay needs a hash the caller's [`super::Hasher`] does not provide.
    #[error("the hasher cannot compute {0:?}")]
    HasherLacks(super::HashAlg),
}

/// Result of the TCG codecs.
pub type Result<T> = std::result::Result<T, TcgError>;
