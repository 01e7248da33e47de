//! [`SealedSecret`]: a secret sealed by a TPM, as stored (the TPM's own blobs, meaningless
//! without that TPM), and [`UnsealedSecret`], the secret back in memory, zeroed on drop.

use std::fmt;

use super::{Result, TpmError};

/// Largest secret a keyedHash sealed data object holds (`MAX_SYM_DATA` of the TPM 2.0
/// library specification, part 2).
pub const MAX_SEALED_SECRET: usize = 128;

/// A secret sealed under a TPM's storage primary key to a PCR policy: the sealed data
/// object's marshalled `TPM2B_PUBLIC` (which carries the policy digest) and `TPM2B_PRIVATE`
/// (the secret, encrypted and integrity-protected by the parent, which never leaves the
/// TPM). Safe to store in a file: only the TPM that sealed it can load it, and it unseals
/// only in a policy session whose PCRs match the ones it was sealed to.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// `TPM2B_PUBLIC`: big-endian size, then `TPMT_PUBLIC`.
    pub public: Vec<u8>,
    /// `TPM2B_PRIVATE`: big-endian size, then the TPM's encrypted blob.
    pub private: Vec<u8>,
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SealedSecret(public {} bytes, private {} bytes)",
            self.public.len(),
            self.private.len()
        )
    }
}

impl SealedSecret {
    /// The file form: `TPM2B_PUBLIC` then `TPM2B_PRIVATE`, back to back (each carries its
    /// own size, as `tpm2_create -u/-r` write them).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        [self.public.as_slice(), self.private.as_slice()].concat()
    }

    /// Parses [`SealedSecret::to_bytes`].
    ///
    /// # Errors
    /// [`TpmError::SealedFormat`] for truncated, empty or trailing data.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (public, rest) = take_tpm2b(bytes, "TPM2B_PUBLIC")?;
        let (private, rest) = take_tpm2b(rest, "TPM2B_PRIVATE")?;
        if !rest.is_empty() {
            return Err(TpmError::SealedFormat(format!(
                "{} bytes after TPM2B_PRIVATE",
                rest.len()
            )));
        }
        Ok(Self {
            public: public.to_vec(),
            private: private.to_vec(),
        })
    }
}

/// One `TPM2B_*` (size prefix included) off the front of `bytes`.
fn take_tpm2b<'a>(bytes: &'a [u8], what: &str) -> Result<(&'a [u8], &'a [u8])> {
    let Some((size, _)) = bytes.split_first_chunk::<2>() else {
        return Err(TpmError::SealedFormat(format!("{what}: no size")));
    };
    let end = 2 + usize::from(u16::from_be_bytes(*size));
    if end == 2 || bytes.len() < end {
        return Err(TpmError::SealedFormat(format!(
            "{what}: {} of {} bytes",
            bytes.len().saturating_sub(2),
            end - 2
        )));
    }
    Ok(bytes.split_at(end))
}

/// A secret unsealed from the TPM. Its bytes are overwritten with zeros when it drops, and
/// `Debug` shows only its length.
pub struct UnsealedSecret(Vec<u8>);

impl UnsealedSecret {
    pub(super) fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The secret.
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for UnsealedSecret {
    fn drop(&mut self) {
        for b in &mut self.0 {
            // SAFETY: `b` is a valid, aligned `&mut u8` of the vector; volatile so the
            // compiler keeps the zeroing of memory about to be freed.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

impl fmt::Debug for UnsealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UnsealedSecret({} bytes, redacted)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_form_round_trips_and_rejects_truncation() {
        let s = SealedSecret {
            public: vec![0, 2, 0xaa, 0xbb],
            private: vec![0, 1, 0xcc],
        };
        let bytes = s.to_bytes();
        assert_eq!(SealedSecret::from_bytes(&bytes).unwrap(), s);
        for cut in 0..bytes.len() {
            assert!(
                matches!(
                    SealedSecret::from_bytes(&bytes[..cut]),
                    Err(TpmError::SealedFormat(_))
                ),
                "{cut}"
            );
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(SealedSecret::from_bytes(&trailing).is_err());
        assert!(!format!("{:?}", UnsealedSecret::new(vec![0xde, 0xad])).contains("de"));
    }
}
