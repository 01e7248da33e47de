//! TPM_ALG_ID values of the hash algorithms a PCR bank or a signature can use.

use std::fmt;

/// A hash algorithm (TCG Algorithm Registry, TPM_ALG_ID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HashAlg {
    /// TPM_ALG_SHA1 (0x0004), 20 bytes.
    Sha1,
    /// TPM_ALG_SHA256 (0x000B), 32 bytes.
    Sha256,
    /// TPM_ALG_SHA384 (0x000C), 48 bytes.
    Sha384,
    /// TPM_ALG_SHA512 (0x000D), 64 bytes.
    Sha512,
    /// TPM_ALG_SM3_256 (0x0012), 32 bytes.
    Sm3_256,
}

impl HashAlg {
    /// Every algorithm this codec knows.
    pub const ALL: [HashAlg; 5] = [
        HashAlg::Sha1,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
        HashAlg::Sm3_256,
    ];

    /// The TPM_ALG_ID.
    #[must_use]
    pub const fn id(self) -> u16 {
        match self {
            HashAlg::Sha1 => 0x0004,
            HashAlg::Sha256 => 0x000B,
            HashAlg::Sha384 => 0x000C,
            HashAlg::Sha512 => 0x000D,
            HashAlg::Sm3_256 => 0x0012,
        }
    }

    /// The algorithm with this TPM_ALG_ID, if it is a hash this codec knows.
    #[must_use]
    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.id() == id)
    }

    /// Digest length in bytes.
    #[must_use]
    pub const fn digest_len(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 | HashAlg::Sm3_256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// The name `tpm2_eventlog` and the TCG registry use (`sha1`, `sha256`, ...).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            HashAlg::Sha1 => "sha1",
            HashAlg::Sha256 => "sha256",
            HashAlg::Sha384 => "sha384",
            HashAlg::Sha512 => "sha512",
            HashAlg::Sm3_256 => "sm3_256",
        }
    }
}

impl fmt::Display for HashAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Computes digests for PCR replay and quote checks. The codecs stay pure (no crypto in
/// `corridor-protocols`); the verifier passes an implementation backed by aws-lc-rs.
pub trait Hasher {
    /// The digest of the concatenation of `parts` under `alg`, or `None` when this hasher
    /// does not implement `alg`.
    fn digest(&self, alg: HashAlg, parts: &[&[u8]]) -> Option<Vec<u8>>;
}
