//! Tunable laser codes (pages 04h and 12h).
//!
//! Source: `reference/photonics.md` §1 "Tunable laser" (SONiC `api/public/c_cmis.py`,
//! `mem_maps/public/cmis/pages/page12.py`): grid code in bits 7–4 of 12h:128+(lane−1);
//! f = 193.1 THz + n·grid, except the 150 GHz grid, where f = 193.1 THz + (n+3)·25 GHz.

/// Anchor frequency of the channel numbering, in MHz (193.1 THz).
pub const ANCHOR_MHZ: i64 = 193_100_000;

/// Grid spacing codes of 12h:128 bits 7–4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GridSpacing {
    /// Code 2: 12.5 GHz.
    Ghz12_5,
    /// Code 3: 25 GHz.
    Ghz25,
    /// Code 4: 50 GHz.
    Ghz50,
    /// Code 5: 100 GHz.
    Ghz100,
    /// Code 7: 75 GHz.
    Ghz75,
    /// Code 8: 150 GHz.
    Ghz150,
}

impl GridSpacing {
    /// All grids, by code.
    pub const ALL: [GridSpacing; 6] = [
        Self::Ghz12_5,
        Self::Ghz25,
        Self::Ghz50,
        Self::Ghz100,
        Self::Ghz75,
        Self::Ghz150,
    ];

    /// Decodes a 4-bit grid code.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            2 => Self::Ghz12_5,
            3 => Self::Ghz25,
            4 => Self::Ghz50,
            5 => Self::Ghz100,
            7 => Self::Ghz75,
            8 => Self::Ghz150,
            _ => return None,
        })
    }

    /// The 4-bit code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Ghz12_5 => 2,
            Self::Ghz25 => 3,
            Self::Ghz50 => 4,
            Self::Ghz100 => 5,
            Self::Ghz75 => 7,
            Self::Ghz150 => 8,
        }
    }

    /// Spacing in MHz.
    pub const fn spacing_mhz(self) -> i64 {
        match self {
            Self::Ghz12_5 => 12_500,
            Self::Ghz25 => 25_000,
            Self::Ghz50 => 50_000,
            Self::Ghz100 => 100_000,
            Self::Ghz75 => 75_000,
            Self::Ghz150 => 150_000,
        }
    }

    /// Centre frequency of channel `n`, in MHz.
    pub const fn channel_to_mhz(self, n: i16) -> i64 {
        match self {
            Self::Ghz150 => ANCHOR_MHZ + (n as i64 + 3) * 25_000,
            _ => ANCHOR_MHZ + n as i64 * self.spacing_mhz(),
        }
    }

    /// The channel whose centre is nearest `mhz` (ties away from the anchor), if it fits S16.
    pub fn mhz_to_channel(self, mhz: i64) -> Option<i16> {
        let (offset, step) = match self {
            Self::Ghz150 => (mhz - ANCHOR_MHZ - 3 * 25_000, 25_000),
            _ => (mhz - ANCHOR_MHZ, self.spacing_mhz()),
        };
        let n = (offset as f64 / step as f64).round() as i64;
        i16::try_from(n).ok()
    }
}

/// Tuning status byte of page 12h (bit 1 TuningInProgress, bit 0 WavelengthUnlocked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TuningStatus {
    /// Bit 1.
    pub tuning_in_progress: bool,
    /// Bit 0.
    pub wavelength_unlocked: bool,
}

impl TuningStatus {
    /// Decodes the status byte (other bits ignored).
    pub const fn decode(b: u8) -> Self {
        Self {
            tuning_in_progress: b & 0x02 != 0,
            wavelength_unlocked: b & 0x01 != 0,
        }
    }

    /// Encodes the status byte.
    pub const fn encode(self) -> u8 {
        ((self.tuning_in_progress as u8) << 1) | self.wavelength_unlocked as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequencies() {
        assert_eq!(GridSpacing::Ghz100.channel_to_mhz(0), 193_100_000);
        assert_eq!(GridSpacing::Ghz50.channel_to_mhz(-3), 192_950_000);
        assert_eq!(GridSpacing::Ghz75.channel_to_mhz(4), 193_400_000);
        // 150 GHz: 193.1 + (n+3)·0.025 THz.
        assert_eq!(GridSpacing::Ghz150.channel_to_mhz(-3), 193_100_000);
        assert_eq!(GridSpacing::Ghz150.channel_to_mhz(3), 193_250_000);
        for g in GridSpacing::ALL {
            assert_eq!(GridSpacing::from_code(g.code()), Some(g));
            for n in [-100i16, -1, 0, 1, 57] {
                assert_eq!(g.mhz_to_channel(g.channel_to_mhz(n)), Some(n));
            }
        }
        assert_eq!(GridSpacing::from_code(6), None);
    }
}
