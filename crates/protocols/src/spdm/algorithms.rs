//! Algorithm bitfields of NEGOTIATE_ALGORITHMS / ALGORITHMS (DSP0274 1.2 §10.4) and the
//! typed selections this codec understands.
//!
//! The request carries bit masks of everything the requester supports; the response selects
//! exactly one bit of each. Only the algorithms CorridorOS verifies are typed
//! (ECDSA P-256/P-384, SHA-256/384/512); any other selected bit is an
//! [`SpdmError::Inconsistent`] when turned into a typed value, so a responder that picks an
//! algorithm we did not offer is refused by name.

use super::error::{Result, SpdmError};

/// `BaseAsymAlgo` bits (libspdm `SPDM_ALGORITHMS_BASE_ASYM_ALGO_*`).
pub mod base_asym {
    pub const RSASSA_2048: u32 = 1 << 0;
    pub const RSAPSS_2048: u32 = 1 << 1;
    pub const RSASSA_3072: u32 = 1 << 2;
    pub const RSAPSS_3072: u32 = 1 << 3;
    pub const ECDSA_P256: u32 = 1 << 4;
    pub const RSASSA_4096: u32 = 1 << 5;
    pub const RSAPSS_4096: u32 = 1 << 6;
    pub const ECDSA_P384: u32 = 1 << 7;
    pub const ECDSA_P521: u32 = 1 << 8;
}

/// `BaseHashAlgo` bits.
pub mod base_hash {
    pub const SHA_256: u32 = 1 << 0;
    pub const SHA_384: u32 = 1 << 1;
    pub const SHA_512: u32 = 1 << 2;
}

/// `MeasurementHashAlgo` bits (ALGORITHMS only).
pub mod measurement_hash {
    pub const RAW_BIT_STREAM: u32 = 1 << 0;
    pub const SHA_256: u32 = 1 << 1;
    pub const SHA_384: u32 = 1 << 2;
    pub const SHA_512: u32 = 1 << 3;
}

/// `MeasurementSpecification` bit for the DMTF measurement format.
pub const MEASUREMENT_SPEC_DMTF: u8 = 1 << 0;

/// `OtherParamsSupport` opaque data format 1 (the 1.2 general opaque data table).
pub const OPAQUE_DATA_FMT1: u8 = 1 << 1;

/// A signature algorithm we verify. ECDSA signatures travel as raw big-endian `r ‖ s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AsymAlgo {
    EcdsaP256,
    EcdsaP384,
}

impl AsymAlgo {
    pub const ALL: [AsymAlgo; 2] = [AsymAlgo::EcdsaP256, AsymAlgo::EcdsaP384];

    #[must_use]
    pub fn bit(self) -> u32 {
        match self {
            AsymAlgo::EcdsaP256 => base_asym::ECDSA_P256,
            AsymAlgo::EcdsaP384 => base_asym::ECDSA_P384,
        }
    }

    /// Size of a signature: `r ‖ s`, each the size of the curve order.
    #[must_use]
    pub fn signature_len(self) -> usize {
        match self {
            AsymAlgo::EcdsaP256 => 64,
            AsymAlgo::EcdsaP384 => 96,
        }
    }

    /// The algorithm a selection mask names, which must be exactly one known bit.
    pub fn from_selection(message: &'static str, bits: u32) -> Result<AsymAlgo> {
        Self::ALL
            .into_iter()
            .find(|a| a.bit() == bits)
            .ok_or_else(|| selection_error(message, "BaseAsymSel", bits))
    }
}

/// A hash algorithm we compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgo {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlgo {
    pub const ALL: [HashAlgo; 3] = [HashAlgo::Sha256, HashAlgo::Sha384, HashAlgo::Sha512];

    #[must_use]
    pub fn base_bit(self) -> u32 {
        match self {
            HashAlgo::Sha256 => base_hash::SHA_256,
            HashAlgo::Sha384 => base_hash::SHA_384,
            HashAlgo::Sha512 => base_hash::SHA_512,
        }
    }

    #[must_use]
    pub fn measurement_bit(self) -> u32 {
        match self {
            HashAlgo::Sha256 => measurement_hash::SHA_256,
            HashAlgo::Sha384 => measurement_hash::SHA_384,
            HashAlgo::Sha512 => measurement_hash::SHA_512,
        }
    }

    /// Digest size in bytes.
    #[must_use]
    pub fn size(self) -> usize {
        match self {
            HashAlgo::Sha256 => 32,
            HashAlgo::Sha384 => 48,
            HashAlgo::Sha512 => 64,
        }
    }

    /// The base hash a selection mask names (exactly one known bit).
    pub fn from_base_selection(message: &'static str, bits: u32) -> Result<HashAlgo> {
        Self::ALL
            .into_iter()
            .find(|h| h.base_bit() == bits)
            .ok_or_else(|| selection_error(message, "BaseHashSel", bits))
    }
}

/// What a responder's measurement blocks carry: digests of one hash, or raw bit streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MeasurementHash {
    RawBitStream,
    Hash(HashAlgo),
}

impl MeasurementHash {
    #[must_use]
    pub fn bit(self) -> u32 {
        match self {
            MeasurementHash::RawBitStream => measurement_hash::RAW_BIT_STREAM,
            MeasurementHash::Hash(h) => h.measurement_bit(),
        }
    }

    /// The measurement hash a selection mask names (exactly one known bit).
    pub fn from_selection(message: &'static str, bits: u32) -> Result<MeasurementHash> {
        if bits == measurement_hash::RAW_BIT_STREAM {
            return Ok(MeasurementHash::RawBitStream);
        }
        HashAlgo::ALL
            .into_iter()
            .find(|h| h.measurement_bit() == bits)
            .map(MeasurementHash::Hash)
            .ok_or_else(|| selection_error(message, "MeasurementHashAlgo", bits))
    }
}

fn selection_error(message: &'static str, field: &'static str, bits: u32) -> SpdmError {
    SpdmError::Inconsistent {
        message,
        field,
        reason: format!("0x{bits:08x} is not exactly one supported algorithm"),
    }
}

/// The algorithms a connection negotiated: what every later message's sizes depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Negotiated {
    pub asym: AsymAlgo,
    pub hash: HashAlgo,
    pub measurement_hash: MeasurementHash,
}
