//! CMIS page/bank addressing.
//!
//! Sources: `reference/photonics.md` §1 "Addressing" (which cites
//! `oxidecomputer/transceiver-control messages/src/mgmt/cmis.rs` for the valid and banked pages,
//! and SONiC `mem_maps/public/cmis/pages/page.py` / optoe for the linear offset); OIF CMIS 5.x
//! §8.1 (memory structure and mapping).
//!
//! * Bytes 0–127 (the lower page) are always mapped.
//! * Bytes 128–255 show the upper page selected by byte 127 (page) and byte 126 (bank).
//! * Valid pages: 00h–04h, 10h–3Fh, 9Fh, A0h–FFh (B0h–FFh custom).
//! * Banked pages: 10h–3Fh, 9Fh, A0h–AFh; banks 0–3 give 32 lanes.
//! * Linear (optoe / SONiC) offset: `(bank*256 + page)*128 + offset`, `offset` being the CMIS byte
//!   address (128–255 for an upper page, 0–127 for the lower page with page = bank = 0).

use super::error::{CmisError, Result};

/// Bytes in one page half (lower page or one upper page).
pub const PAGE_SIZE: usize = 128;
/// Lower-page byte that selects the bank of the upper half (photonics.md §1 "Addressing").
pub const BANK_SELECT_BYTE: u8 = 126;
/// Lower-page byte that selects the page of the upper half (photonics.md §1 "Addressing").
pub const PAGE_SELECT_BYTE: u8 = 127;
/// Largest bank: banks 0–3, 8 lanes each, give 32 lanes (photonics.md §1 "Addressing").
pub const MAX_BANK: u8 = 3;
/// Lanes per bank.
pub const LANES_PER_BANK: u8 = 8;
/// Lanes in a module with all 4 banks.
pub const MAX_LANES: u8 = LANES_PER_BANK * (MAX_BANK + 1);
/// I2C (TWI) address of the CMIS management interface.
pub const MODULE_I2C_ADDRESS: u8 = 0x50;

/// Whether `page` is a page CMIS defines or reserves for custom use.
pub const fn is_valid_page(page: u8) -> bool {
    matches!(page, 0x00..=0x04 | 0x10..=0x3F | 0x9F | 0xA0..=0xFF)
}

/// Whether `page` is banked (its content depends on the bank select byte).
pub const fn is_banked_page(page: u8) -> bool {
    matches!(page, 0x10..=0x3F | 0x9F | 0xA0..=0xAF)
}

/// A valid (bank, upper page) pair: unbanked pages only exist in bank 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PageAddress {
    bank: u8,
    page: u8,
}

impl PageAddress {
    /// Page 00h, bank 0 (also the address used for lower-page bytes).
    pub const PAGE_00: PageAddress = PageAddress { bank: 0, page: 0 };

    /// Validates a (bank, page) pair.
    pub const fn new(bank: u8, page: u8) -> Result<Self> {
        if !is_valid_page(page) {
            return Err(CmisError::InvalidPage { page });
        }
        if bank > MAX_BANK {
            return Err(CmisError::InvalidBank {
                bank,
                max: MAX_BANK,
            });
        }
        if bank != 0 && !is_banked_page(page) {
            return Err(CmisError::UnbankedPage { page, bank });
        }
        Ok(Self { bank, page })
    }

    /// An unbanked view (bank 0) of `page`.
    pub const fn bank0(page: u8) -> Result<Self> {
        Self::new(0, page)
    }

    /// The bank.
    pub const fn bank(self) -> u8 {
        self.bank
    }

    /// The page.
    pub const fn page(self) -> u8 {
        self.page
    }

    /// Linear optoe offset of CMIS byte `offset` (0–255) seen with this page selected.
    /// Offsets below 128 are the lower page and map to themselves.
    pub const fn linear(self, offset: u8) -> usize {
        if offset < 128 {
            offset as usize
        } else {
            (self.bank as usize * 256 + self.page as usize) * PAGE_SIZE + offset as usize
        }
    }

    /// Linear optoe offset of byte 128 of this page.
    pub const fn linear_base(self) -> usize {
        self.linear(128)
    }

    /// The two select writes (byte 126 = bank, byte 127 = page) a host issues before touching
    /// bytes 128–255 of this page. Bank first: CMIS applies the pair on the page write.
    pub const fn select_writes(self) -> [(u8, u8); 2] {
        [(BANK_SELECT_BYTE, self.bank), (PAGE_SELECT_BYTE, self.page)]
    }
}

/// The linear optoe offset `(bank*256+page)*128+offset`, validating the address.
pub fn linear_offset(bank: u8, page: u8, offset: u8) -> Result<usize> {
    if offset < 128 {
        return Ok(offset as usize);
    }
    Ok(PageAddress::new(bank, page)?.linear(offset))
}

/// One byte of the module as the host addresses it: CMIS byte address 0–255 and, for 128–255,
/// the (bank, page) selected. For lower-page bytes the page is [`PageAddress::PAGE_00`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteAddr {
    page: PageAddress,
    offset: u8,
}

impl ByteAddr {
    /// A lower-page byte (0–127).
    pub const fn lower(offset: u8) -> Result<Self> {
        if offset >= 128 {
            return Err(CmisError::OffsetOutOfRange {
                page: 0,
                offset,
                len: 1,
            });
        }
        Ok(Self {
            page: PageAddress::PAGE_00,
            offset,
        })
    }

    /// A byte of an upper page (offset 128–255), or of the lower page if offset < 128 (then the
    /// page is normalised to bank 0 page 00h).
    pub const fn new(page: PageAddress, offset: u8) -> Self {
        if offset < 128 {
            Self {
                page: PageAddress::PAGE_00,
                offset,
            }
        } else {
            Self { page, offset }
        }
    }

    /// Validates (bank, page, offset) and builds the address.
    pub fn at(bank: u8, page: u8, offset: u8) -> Result<Self> {
        if offset < 128 {
            return Ok(Self {
                page: PageAddress::PAGE_00,
                offset,
            });
        }
        Ok(Self {
            page: PageAddress::new(bank, page)?,
            offset,
        })
    }

    /// The page (bank 0 page 00h for lower-page bytes).
    pub const fn page(self) -> PageAddress {
        self.page
    }

    /// The CMIS byte address 0–255.
    pub const fn offset(self) -> u8 {
        self.offset
    }

    /// Whether this is a lower-page byte.
    pub const fn is_lower(self) -> bool {
        self.offset < 128
    }

    /// Linear optoe offset.
    pub const fn linear(self) -> usize {
        self.page.linear(self.offset)
    }

    /// Inverse of [`ByteAddr::linear`].
    pub fn from_linear(linear: usize) -> Result<Self> {
        if linear < PAGE_SIZE {
            return Ok(Self {
                page: PageAddress::PAGE_00,
                offset: linear as u8,
            });
        }
        let slot = (linear - PAGE_SIZE) / PAGE_SIZE;
        let bank = slot / 256;
        let page = (slot % 256) as u8;
        let offset = (128 + (linear - PAGE_SIZE) % PAGE_SIZE) as u8;
        let bank = u8::try_from(bank).map_err(|_| CmisError::LinearOutOfRange {
            offset: linear,
            len: 1,
        })?;
        let page = PageAddress::new(bank, page).map_err(|_| CmisError::LinearOutOfRange {
            offset: linear,
            len: 1,
        })?;
        Ok(Self { page, offset })
    }
}

/// A module lane, 1–32: lane `n` is lane `(n-1)%8+1` of bank `(n-1)/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lane(u8);

impl Lane {
    /// Validates a module lane number (1–32).
    pub const fn new(lane: u8) -> Result<Self> {
        if lane == 0 || lane > MAX_LANES {
            return Err(CmisError::InvalidLane {
                field: "lane",
                lane,
                max: MAX_LANES,
            });
        }
        Ok(Self(lane))
    }

    /// Lane `in_bank` (1–8) of `bank` (0–3).
    pub const fn in_bank(bank: u8, in_bank: u8) -> Result<Self> {
        if bank > MAX_BANK {
            return Err(CmisError::InvalidBank {
                bank,
                max: MAX_BANK,
            });
        }
        if in_bank == 0 || in_bank > LANES_PER_BANK {
            return Err(CmisError::InvalidLane {
                field: "lane",
                lane: in_bank,
                max: LANES_PER_BANK,
            });
        }
        Ok(Self(bank * LANES_PER_BANK + in_bank))
    }

    /// The module lane number, 1–32.
    pub const fn number(self) -> u8 {
        self.0
    }

    /// The bank holding this lane.
    pub const fn bank(self) -> u8 {
        (self.0 - 1) / LANES_PER_BANK
    }

    /// The lane number inside its bank, 1–8.
    pub const fn index_in_bank(self) -> u8 {
        (self.0 - 1) % LANES_PER_BANK + 1
    }

    /// Bit of this lane in a per-bank lane mask (bit 0 = lane 1).
    pub const fn mask_bit(self) -> u8 {
        1 << (self.index_in_bank() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_banked_pages() {
        assert!(PageAddress::new(0, 0x04).is_ok());
        assert!(PageAddress::new(0, 0x05).is_err());
        assert!(PageAddress::new(0, 0x0F).is_err());
        assert!(PageAddress::new(3, 0x11).is_ok());
        assert!(PageAddress::new(1, 0x9F).is_ok());
        assert!(PageAddress::new(1, 0xAF).is_ok());
        assert_eq!(
            PageAddress::new(1, 0xB0),
            Err(CmisError::UnbankedPage {
                page: 0xB0,
                bank: 1
            })
        );
        assert_eq!(
            PageAddress::new(1, 0x01),
            Err(CmisError::UnbankedPage {
                page: 0x01,
                bank: 1
            })
        );
        assert_eq!(
            PageAddress::new(4, 0x10),
            Err(CmisError::InvalidBank { bank: 4, max: 3 })
        );
    }

    #[test]
    fn linear_offsets_match_optoe() {
        // optoe: page n sits at offset 128*(n+1) (photonics.md §1 "Linux access").
        assert_eq!(linear_offset(0, 0x11, 128).unwrap(), 128 * (0x11 + 1));
        assert_eq!(linear_offset(0, 0x00, 3).unwrap(), 3);
        assert_eq!(
            linear_offset(1, 0x10, 130).unwrap(),
            (256 + 0x10) * 128 + 130
        );
        let a = ByteAddr::at(2, 0x11, 200).unwrap();
        assert_eq!(ByteAddr::from_linear(a.linear()).unwrap(), a);
        assert!(ByteAddr::from_linear(128 * (0x05 + 1)).is_err());
    }

    #[test]
    fn lanes() {
        let l = Lane::new(10).unwrap();
        assert_eq!((l.bank(), l.index_in_bank(), l.mask_bit()), (1, 2, 0b10));
        assert!(Lane::new(0).is_err());
        assert!(Lane::new(33).is_err());
        assert_eq!(Lane::in_bank(3, 8).unwrap().number(), 32);
    }
}
