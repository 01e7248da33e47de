//! A bounds-checked little-endian reader: every decoder goes through it, so a short or long
//! payload is a typed error, never a slice panic.

use super::error::FmApiError;

pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader {
            bytes,
            pos: 0,
            what,
        }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], FmApiError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(FmApiError::Truncated {
                what: self.what,
                len: self.bytes.len(),
                need: self.pos.saturating_add(n),
            });
        };
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], FmApiError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, FmApiError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, FmApiError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, FmApiError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), FmApiError> {
        self.take(n).map(|_| ())
    }

    /// Ends decoding: bytes beyond the structure are an error, so that every accepted
    /// payload has exactly one meaning.
    pub(crate) fn finish(self) -> Result<(), FmApiError> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(FmApiError::Oversized {
                what: self.what,
                len: self.bytes.len(),
                max: self.pos,
            })
        }
    }

    /// A list of `count` entries of `size` bytes: checked against the bytes present before
    /// anything is allocated, so a lying count cannot make the decoder reserve memory.
    pub(crate) fn entries(&mut self, count: usize, size: usize) -> Result<&'a [u8], FmApiError> {
        self.take(count.saturating_mul(size))
    }
}

pub(crate) fn invalid(what: &'static str, field: &'static str, value: u64) -> FmApiError {
    FmApiError::InvalidField { what, field, value }
}

/// A list length that must fit the u8 count field in front of it.
pub(crate) fn count_u8(what: &'static str, n: usize) -> Result<u8, FmApiError> {
    u8::try_from(n).map_err(|_| FmApiError::Oversized {
        what,
        len: n,
        max: u8::MAX as usize,
    })
}
