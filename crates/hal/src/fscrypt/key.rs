//! [`MasterKey`]: raw key material, zeroed when dropped and never printed; and
//! [`KeyIdentifier`], the kernel's name for a v2 key.

use std::fmt;

use super::abi::{KEY_IDENTIFIER_SIZE, MAX_KEY_SIZE};
use super::error::{FscryptError, Result};

/// A raw fscrypt master key (16 to 64 bytes; 64 for AES-256-XTS contents keys derived with
/// HKDF-SHA512). Its bytes are overwritten with zeros when it drops, and `Debug` shows only
/// its length.
pub struct MasterKey {
    bytes: [u8; MAX_KEY_SIZE],
    len: usize,
}

impl MasterKey {
    /// Takes the key bytes (the caller should zero its own copy).
    ///
    /// # Errors
    /// [`FscryptError::KeySize`] outside 16..=64 bytes.
    pub fn new(raw: &[u8]) -> Result<Self> {
        if !(16..=MAX_KEY_SIZE).contains(&raw.len()) {
            return Err(FscryptError::KeySize(raw.len()));
        }
        let mut bytes = [0u8; MAX_KEY_SIZE];
        bytes[..raw.len()].copy_from_slice(raw);
        Ok(Self {
            bytes,
            len: raw.len(),
        })
    }

    /// A new key of 64 bytes (the largest the kernel takes) from the operating system's random generator
    /// (aws-lc-rs `SystemRandom`), made in place so no other copy exists.
    ///
    /// # Errors
    /// [`FscryptError::Random`] when the generator fails.
    pub fn generate() -> Result<Self> {
        let mut key = Self {
            bytes: [0u8; MAX_KEY_SIZE],
            len: MAX_KEY_SIZE,
        };
        aws_lc_rs::rand::fill(&mut key.bytes).map_err(|_| FscryptError::Random)?;
        Ok(key)
    }

    /// The key bytes.
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        for b in &mut self.bytes {
            // SAFETY: `b` is a valid, aligned `&mut u8`; a volatile write is used so the
            // compiler cannot drop the zeroing as a store to memory about to be freed.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({} bytes, redacted)", self.len)
    }
}

/// The 16-byte identifier the kernel derives from a v2 master key (HKDF-SHA512); it names
/// the key in policies and in add/remove calls, and reveals nothing of it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyIdentifier(pub [u8; KEY_IDENTIFIER_SIZE]);

impl fmt::Display for KeyIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyIdentifier({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sized_and_never_printed() {
        assert!(matches!(
            MasterKey::new(&[1; 15]),
            Err(FscryptError::KeySize(15))
        ));
        assert!(matches!(
            MasterKey::new(&[1; 65]),
            Err(FscryptError::KeySize(65))
        ));
        let (a, b) = (
            MasterKey::generate().unwrap(),
            MasterKey::generate().unwrap(),
        );
        assert_eq!(a.expose().len(), 64);
        assert_ne!(a.expose(), b.expose());
        let k = MasterKey::new(&[0xab; 64]).unwrap();
        assert_eq!(k.expose(), &[0xab; 64][..]);
        assert!(!format!("{k:?}").contains("ab"));
        assert_eq!(KeyIdentifier([0x0f; 16]).to_string(), "0f".repeat(16));
    }
}
