//! Little-endian cursor and writer shared by the SPDM message codecs.
//!
//! SPDM fields are little-endian (DSP0274 §7); the spdm-emu socket header is the one
//! big-endian exception and has its own code in [`super::emu`].

use super::error::{Result, SpdmError};

/// A bounds-checked reader over one message; every read names the message and field so a
/// truncation error says where the bytes ran out.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    message: &'static str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(message: &'static str, bytes: &'a [u8]) -> Self {
        Reader {
            message,
            bytes,
            pos: 0,
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(crate) fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8]> {
        let have = self.remaining();
        if n > have {
            return Err(SpdmError::Truncated {
                message: self.message,
                field,
                need: n,
                have,
            });
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn u24(&mut self, field: &'static str) -> Result<u32> {
        let [a, b, c] = self.array(field)?;
        Ok(u32::from_le_bytes([a, b, c, 0]))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = &self.bytes[self.pos..];
        self.pos = self.bytes.len();
        out
    }

    /// Fails unless every byte was consumed.
    pub(crate) fn finish(&self) -> Result<()> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(SpdmError::TrailingBytes {
                message: self.message,
                extra,
            }),
        }
    }

    pub(crate) fn message(&self) -> &'static str {
        self.message
    }
}

/// Appends little-endian fields to a message buffer.
pub(crate) trait Put {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u24(&mut self, v: u32);
    fn put_u32(&mut self, v: u32);
}

impl Put for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u24(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes()[..3]);
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
}

/// A length that must fit a field of `max`, or the typed error naming it.
pub(crate) fn fits(
    message: &'static str,
    field: &'static str,
    len: usize,
    max: usize,
) -> Result<()> {
    if len > max {
        Err(SpdmError::TooLarge {
            message,
            field,
            len,
            max,
        })
    } else {
        Ok(())
    }
}
