//! HELIOPASS vendor pages B0h–B3h: per-lane microring heater, monitor photodiode, modulator
//! bias, lock status, laser fine tuning.
//!
//! Standard CMIS has no register for a ring heater or a monitor photodiode
//! (`reference/photonics.md` §1: pages B0h–FFh are custom). These pages are CorridorOS's own
//! layout, used by the twin ([`corridor_hal`'s ring twin]) and by any module that implements it.
//!
//! # Addressing
//!
//! CMIS banks only pages 10h–3Fh, 9Fh and A0h–AFh (`addr::is_banked_page`); B0h–FFh exist in
//! bank 0 only. So instead of one banked page we use one page per group of 8 lanes, as a bank
//! would: page `B0h + (lane − 1) / 8` holds lanes `8g+1 … 8g+8` (B0h lanes 1–8, …, B3h 25–32).
//!
//! # Layout (every multi-byte value big-endian, like the rest of CMIS)
//!
//! Header, bytes 128–135 (the module writes it; the host reads it once to learn the scales):
//!
//! | Byte | Field | Encoding |
//! |---|---|---|
//! | 128 | layout revision | U8, must be [`RING_PAGE_REVISION`] (1) |
//! | 129 | lanes present | bit *k* = lane 8g+k+1 has a ring |
//! | 130–131 | heater full scale | U16, 10 µW per LSB (3000 = 30.00 mW) |
//! | 132 | heater DAC resolution | U8, bits, 1–16 |
//! | 133 | monitor-PD ADC resolution | U8, bits, 1–16 |
//! | 134–135 | monitor-PD full scale | U16, 0.1 µA per LSB (2000 = 200.0 µA) |
//!
//! Lane *k* (0–7 in the page) at `136 + 15·k`, 15 bytes:
//!
//! | +Byte | Field | Encoding | Access |
//! |---|---|---|---|
//! | 0–1 | heater setpoint | U16 DAC code; P = code · FS/(2ⁿ−1) (firmware linearises in power) | RW |
//! | 2–3 | monitor PD current | U16 ADC code; I = code · FS/(2ⁿ−1) | RO |
//! | 4–5 | modulator bias | S16, 1 mV | RW |
//! | 6 | lock status | bits 1–0 [`LockState`], bit 2 heater at rail, bit 3 PD saturated, bits 7–4 0 | RW (bits 1–0 host), RO (bits 3–2) |
//! | 7–8 | pre-FEC BER | VDM F16 ([`super::f16`]) | RO |
//! | 9–10 | laser fine-tune offset | S16, 1 MHz (added to the 12h channel frequency) | RW |
//! | 11–12 | laser frequency error | S16, 1 MHz (measured − grid, etalon locker) | RO |
//! | 13–14 | ring-bank temperature | S16, 1/256 °C (as lower-page byte 14) | RO |
//!
//! 8 + 8·15 = 128 bytes: the page is full.
//!
//! Why these resolutions (the defaults of [`RingPageHeader::DEFAULT`]): a 16-bit DAC over
//! 30 mW is 0.458 µW per code, i.e. 0.83 pm of resonance at 0.55 mW/nm (photonics.md §2), below
//! the 2 pm tracking target; a 12-bit DAC would be 13 pm per code. A 16-bit ADC over 200 µA is
//! 3.05 nA per code, of the order of the photodiode's own shot noise at 100 µA.

use super::addr::PageAddress;
use super::error::{CmisError, Result};
use super::f16;
use super::map::MemoryMap;

/// First HELIOPASS ring page (lanes 1–8).
pub const RING_PAGE_BASE: u8 = 0xB0;
/// Number of ring pages (32 lanes).
pub const RING_PAGES: u8 = 4;
/// Lanes per ring page.
pub const LANES_PER_RING_PAGE: usize = 8;
/// Layout revision this codec reads and writes.
pub const RING_PAGE_REVISION: u8 = 1;
/// Byte of the first lane block.
pub const LANE_BLOCK_BASE: u8 = 136;
/// Bytes per lane block.
pub const LANE_BLOCK_LEN: usize = 15;

/// Lock state, bits 1–0 of the lock-status byte (written by the host's controller so that
/// monitoring — and a second reader — sees what the loop believes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LockState {
    /// 0: heater parked, no loop.
    #[default]
    Parked,
    /// 1: searching (calibration sweep or re-acquisition).
    Acquiring,
    /// 2: the dither loop holds the ring on its laser line.
    Locked,
    /// 3: lock lost; re-acquisition pending.
    Lost,
}

impl LockState {
    const fn from_bits(b: u8) -> Self {
        match b & 0x03 {
            0 => Self::Parked,
            1 => Self::Acquiring,
            2 => Self::Locked,
            _ => Self::Lost,
        }
    }

    const fn bits(self) -> u8 {
        match self {
            Self::Parked => 0,
            Self::Acquiring => 1,
            Self::Locked => 2,
            Self::Lost => 3,
        }
    }
}

/// The lock-status byte (+6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LockStatus {
    /// Bits 1–0.
    pub state: LockState,
    /// Bit 2: the heater setpoint is at 0 or full scale.
    pub heater_at_rail: bool,
    /// Bit 3: the monitor-PD ADC is at full scale.
    pub pd_saturated: bool,
}

impl LockStatus {
    /// Decodes, rejecting set reserved bits 7–4.
    ///
    /// # Errors
    /// [`CmisError::ValueOutOfRange`] for reserved bits.
    pub fn decode(b: u8, page: u8, offset: u8) -> Result<Self> {
        if b & 0xF0 != 0 {
            return Err(CmisError::ValueOutOfRange {
                field: "ring lock status (reserved bits 7-4)",
                page,
                offset,
                value: format!("{b:#04x}"),
            });
        }
        Ok(Self {
            state: LockState::from_bits(b),
            heater_at_rail: b & 0x04 != 0,
            pd_saturated: b & 0x08 != 0,
        })
    }

    /// Encodes (reserved bits zero).
    #[must_use]
    pub const fn encode(self) -> u8 {
        self.state.bits() | (self.heater_at_rail as u8) << 2 | (self.pd_saturated as u8) << 3
    }
}

/// The page header (bytes 128–135): scales of the lane registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RingPageHeader {
    /// Bit k: lane 8g+k+1 has a ring.
    pub lanes_present: u8,
    /// Heater full scale, 10 µW units.
    pub heater_full_scale_10uw: u16,
    /// Heater DAC bits, 1–16.
    pub heater_dac_bits: u8,
    /// Monitor-PD ADC bits, 1–16.
    pub pd_adc_bits: u8,
    /// Monitor-PD full scale, 0.1 µA units.
    pub pd_full_scale_100na: u16,
}

impl RingPageHeader {
    /// The twin's module: 8 rings, 30 mW heaters on a 16-bit DAC, 200 µA PD on a 16-bit ADC.
    pub const DEFAULT: Self = Self {
        lanes_present: 0xFF,
        heater_full_scale_10uw: 3000,
        heater_dac_bits: 16,
        pd_adc_bits: 16,
        pd_full_scale_100na: 2000,
    };

    /// Largest heater DAC code.
    #[must_use]
    pub const fn heater_max_code(&self) -> u16 {
        max_code(self.heater_dac_bits)
    }

    /// Largest PD ADC code.
    #[must_use]
    pub const fn pd_max_code(&self) -> u16 {
        max_code(self.pd_adc_bits)
    }

    /// Heater full scale, mW.
    #[must_use]
    pub fn heater_full_scale_mw(&self) -> f64 {
        f64::from(self.heater_full_scale_10uw) * 0.01
    }

    /// Heater power of one DAC code, mW (the quantisation step).
    #[must_use]
    pub fn heater_lsb_mw(&self) -> f64 {
        self.heater_full_scale_mw() / f64::from(self.heater_max_code().max(1))
    }

    /// Heater power of `code`, mW.
    #[must_use]
    pub fn heater_mw(&self, code: u16) -> f64 {
        f64::from(code.min(self.heater_max_code())) * self.heater_lsb_mw()
    }

    /// Nearest DAC code for `mw`, clamped to 0…full scale (NaN → 0).
    #[must_use]
    pub fn heater_code(&self, mw: f64) -> u16 {
        quantise(mw / self.heater_lsb_mw(), self.heater_max_code())
    }

    /// PD full scale, µA.
    #[must_use]
    pub fn pd_full_scale_ua(&self) -> f64 {
        f64::from(self.pd_full_scale_100na) * 0.1
    }

    /// PD current of one ADC code, µA.
    #[must_use]
    pub fn pd_lsb_ua(&self) -> f64 {
        self.pd_full_scale_ua() / f64::from(self.pd_max_code().max(1))
    }

    /// PD current of `code`, µA.
    #[must_use]
    pub fn pd_ua(&self, code: u16) -> f64 {
        f64::from(code.min(self.pd_max_code())) * self.pd_lsb_ua()
    }

    /// ADC code of a current `ua`, clamped to 0…full scale (what the module's ADC does).
    #[must_use]
    pub fn pd_code(&self, ua: f64) -> u16 {
        quantise(ua / self.pd_lsb_ua(), self.pd_max_code())
    }

    fn encode(&self, out: &mut [u8; 128]) {
        out[0] = RING_PAGE_REVISION;
        out[1] = self.lanes_present;
        out[2..4].copy_from_slice(&self.heater_full_scale_10uw.to_be_bytes());
        out[4] = self.heater_dac_bits;
        out[5] = self.pd_adc_bits;
        out[6..8].copy_from_slice(&self.pd_full_scale_100na.to_be_bytes());
    }

    fn decode(b: &[u8; 128], page: u8) -> Result<Self> {
        let bad = |field: &'static str, offset: u8, value: String| CmisError::ValueOutOfRange {
            field,
            page,
            offset,
            value,
        };
        if b[0] != RING_PAGE_REVISION {
            return Err(bad("ring page revision", 128, b[0].to_string()));
        }
        let h = Self {
            lanes_present: b[1],
            heater_full_scale_10uw: u16::from_be_bytes([b[2], b[3]]),
            heater_dac_bits: b[4],
            pd_adc_bits: b[5],
            pd_full_scale_100na: u16::from_be_bytes([b[6], b[7]]),
        };
        if !(1..=16).contains(&h.heater_dac_bits) {
            return Err(bad("heater DAC bits", 132, b[4].to_string()));
        }
        if !(1..=16).contains(&h.pd_adc_bits) {
            return Err(bad("PD ADC bits", 133, b[5].to_string()));
        }
        if h.heater_full_scale_10uw == 0 {
            return Err(bad("heater full scale", 130, "0".into()));
        }
        if h.pd_full_scale_100na == 0 {
            return Err(bad("PD full scale", 134, "0".into()));
        }
        Ok(h)
    }
}

const fn max_code(bits: u8) -> u16 {
    if bits >= 16 {
        u16::MAX
    } else {
        (1u16 << bits) - 1
    }
}

fn quantise(x: f64, max: u16) -> u16 {
    if x.is_nan() || x <= 0.0 {
        0
    } else if x >= f64::from(max) {
        max
    } else {
        f16::round(x) as u16
    }
}

/// The registers of one lane, as raw codes (exact round trip); see the module table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RingLaneRegs {
    /// +0–1: heater DAC code.
    pub heater_code: u16,
    /// +2–3: monitor-PD ADC code.
    pub pd_code: u16,
    /// +4–5: modulator bias, mV.
    pub bias_mv: i16,
    /// +6: lock status.
    pub lock: LockStatus,
    /// +7–8: pre-FEC BER, F16 word.
    pub pre_fec_ber_f16: u16,
    /// +9–10: laser fine-tune offset, MHz.
    pub laser_offset_mhz: i16,
    /// +11–12: laser frequency error, MHz.
    pub laser_error_mhz: i16,
    /// +13–14: ring-bank temperature, 1/256 °C.
    pub temperature_256: i16,
}

impl RingLaneRegs {
    /// Modulator bias, V.
    #[must_use]
    pub fn bias_v(&self) -> f64 {
        f64::from(self.bias_mv) * 1e-3
    }

    /// Bias register for `v` volts (rounded to 1 mV, saturating).
    #[must_use]
    pub fn bias_mv_for(v: f64) -> i16 {
        saturate_i16(v * 1e3)
    }

    /// Pre-FEC BER.
    #[must_use]
    pub fn pre_fec_ber(&self) -> f64 {
        f16::decode(self.pre_fec_ber_f16)
    }

    /// Ring-bank temperature, °C.
    #[must_use]
    pub fn temperature_c(&self) -> f64 {
        f64::from(self.temperature_256) / 256.0
    }

    /// Temperature register for `c` °C (saturating).
    #[must_use]
    pub fn temperature_256_for(c: f64) -> i16 {
        saturate_i16(c * 256.0)
    }

    /// Encodes the 15-byte lane block (+0…+14).
    #[must_use]
    pub fn to_block(&self) -> [u8; LANE_BLOCK_LEN] {
        let mut out = [0u8; LANE_BLOCK_LEN];
        self.encode(&mut out);
        out
    }

    /// Decodes a 15-byte lane block found at CMIS byte `offset` of page `page` (for errors).
    ///
    /// # Errors
    /// [`CmisError::ValueOutOfRange`] for reserved lock-status bits.
    pub fn from_block(b: &[u8; LANE_BLOCK_LEN], page: u8, offset: u8) -> Result<Self> {
        Self::decode(b, page, offset)
    }

    fn encode(&self, out: &mut [u8]) {
        out[0..2].copy_from_slice(&self.heater_code.to_be_bytes());
        out[2..4].copy_from_slice(&self.pd_code.to_be_bytes());
        out[4..6].copy_from_slice(&self.bias_mv.to_be_bytes());
        out[6] = self.lock.encode();
        out[7..9].copy_from_slice(&self.pre_fec_ber_f16.to_be_bytes());
        out[9..11].copy_from_slice(&self.laser_offset_mhz.to_be_bytes());
        out[11..13].copy_from_slice(&self.laser_error_mhz.to_be_bytes());
        out[13..15].copy_from_slice(&self.temperature_256.to_be_bytes());
    }

    fn decode(b: &[u8], page: u8, offset: u8) -> Result<Self> {
        let u = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let s = |i: usize| i16::from_be_bytes([b[i], b[i + 1]]);
        Ok(Self {
            heater_code: u(0),
            pd_code: u(2),
            bias_mv: s(4),
            lock: LockStatus::decode(b[6], page, offset + 6)?,
            pre_fec_ber_f16: u(7),
            laser_offset_mhz: s(9),
            laser_error_mhz: s(11),
            temperature_256: s(13),
        })
    }
}

/// Saturating f64 → i16 with rounding (NaN → 0).
#[must_use]
pub fn saturate_i16(x: f64) -> i16 {
    if x.is_nan() {
        0
    } else {
        f16::round(x.clamp(f64::from(i16::MIN), f64::from(i16::MAX))) as i16
    }
}

/// One decoded ring page (8 lanes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RingPage {
    /// Bytes 128–135.
    pub header: RingPageHeader,
    /// Lanes 8g+1 … 8g+8.
    pub lanes: [RingLaneRegs; LANES_PER_RING_PAGE],
}

impl RingPage {
    /// A page with `header` and every lane register zero.
    #[must_use]
    pub fn new(header: RingPageHeader) -> Self {
        Self {
            header,
            lanes: [RingLaneRegs::default(); LANES_PER_RING_PAGE],
        }
    }

    /// Encodes the 128 bytes of the upper page (byte 128 at index 0).
    #[must_use]
    pub fn encode(&self) -> [u8; 128] {
        let mut out = [0u8; 128];
        self.header.encode(&mut out);
        for (k, lane) in self.lanes.iter().enumerate() {
            let at = usize::from(LANE_BLOCK_BASE - 128) + k * LANE_BLOCK_LEN;
            lane.encode(&mut out[at..at + LANE_BLOCK_LEN]);
        }
        out
    }

    /// Decodes the 128 bytes of ring page `page` (for error messages).
    ///
    /// # Errors
    /// [`CmisError::ValueOutOfRange`] naming the byte: unknown revision, resolution outside
    /// 1–16 bits, zero full scale, reserved lock-status bits set.
    pub fn decode(bytes: &[u8; 128], page: u8) -> Result<Self> {
        let header = RingPageHeader::decode(bytes, page)?;
        let mut lanes = [RingLaneRegs::default(); LANES_PER_RING_PAGE];
        for (k, lane) in lanes.iter_mut().enumerate() {
            let at = usize::from(LANE_BLOCK_BASE - 128) + k * LANE_BLOCK_LEN;
            let offset = LANE_BLOCK_BASE + (k * LANE_BLOCK_LEN) as u8;
            *lane = RingLaneRegs::decode(&bytes[at..at + LANE_BLOCK_LEN], page, offset)?;
        }
        Ok(Self { header, lanes })
    }
}

/// Page and CMIS byte of the block of module lane `lane` (1–32).
///
/// # Errors
/// [`CmisError::InvalidLane`] outside 1–32.
pub fn lane_block(lane: u8) -> Result<(u8, u8)> {
    if lane == 0 || lane > RING_PAGES * LANES_PER_RING_PAGE as u8 {
        return Err(CmisError::InvalidLane {
            field: "ring page lane",
            lane,
            max: RING_PAGES * LANES_PER_RING_PAGE as u8,
        });
    }
    let k = lane - 1;
    Ok((
        RING_PAGE_BASE + k / LANES_PER_RING_PAGE as u8,
        LANE_BLOCK_BASE + (k % LANES_PER_RING_PAGE as u8) * LANE_BLOCK_LEN as u8,
    ))
}

impl MemoryMap {
    /// Ring page `index` (0–3: B0h–B3h), decoded.
    ///
    /// # Errors
    /// [`CmisError::PageNotPresent`] if the module has no such page, or a decode error.
    pub fn ring_page(&self, index: u8) -> Result<RingPage> {
        let page = ring_page_number(index)?;
        let addr = PageAddress::bank0(page)?;
        let bytes = self
            .page(addr)
            .ok_or(CmisError::PageNotPresent { bank: 0, page })?;
        RingPage::decode(bytes, page)
    }

    /// Writes ring page `index` (0–3), creating it if absent.
    ///
    /// # Errors
    /// [`CmisError::InvalidPage`] for an index beyond 3.
    pub fn set_ring_page(&mut self, index: u8, page: &RingPage) -> Result<()> {
        let number = ring_page_number(index)?;
        self.insert_page(PageAddress::bank0(number)?, page.encode());
        Ok(())
    }
}

fn ring_page_number(index: u8) -> Result<u8> {
    if index >= RING_PAGES {
        return Err(CmisError::InvalidPage {
            page: RING_PAGE_BASE.saturating_add(index),
        });
    }
    Ok(RING_PAGE_BASE + index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantisation_steps() {
        let h = RingPageHeader::DEFAULT;
        // 30 mW / 65535 = 0.4578 µW per code.
        assert!((h.heater_lsb_mw() - 30.0 / 65535.0).abs() < 1e-15);
        assert_eq!(h.heater_code(30.0), u16::MAX);
        assert_eq!(h.heater_code(-1.0), 0);
        assert_eq!(h.heater_code(f64::NAN), 0);
        assert_eq!(h.heater_code(h.heater_mw(12345)), 12345);
        // 200 µA / 65535 = 3.05 nA per code.
        assert_eq!(h.pd_code(h.pd_ua(777)), 777);
        assert_eq!(h.pd_code(1e9), u16::MAX);
        let twelve = RingPageHeader {
            heater_dac_bits: 12,
            ..h
        };
        assert_eq!(twelve.heater_max_code(), 4095);
        assert_eq!(twelve.heater_mw(u16::MAX), 30.0);
    }

    #[test]
    fn lanes_map_to_pages() {
        assert_eq!(lane_block(1).unwrap(), (0xB0, 136));
        assert_eq!(lane_block(8).unwrap(), (0xB0, 241));
        assert_eq!(lane_block(9).unwrap(), (0xB1, 136));
        assert_eq!(lane_block(32).unwrap(), (0xB3, 241));
        assert!(lane_block(0).is_err());
        assert!(lane_block(33).is_err());
    }

    #[test]
    fn memory_map_round_trip() {
        let mut m = MemoryMap::new();
        let mut p = RingPage::new(RingPageHeader::DEFAULT);
        p.lanes[3].heater_code = 4242;
        m.set_ring_page(2, &p).unwrap();
        assert_eq!(m.ring_page(2).unwrap(), p);
        assert!(matches!(
            m.ring_page(1),
            Err(CmisError::PageNotPresent { page: 0xB1, .. })
        ));
        assert!(m.set_ring_page(4, &p).is_err());
        // It lives at the optoe linear offset of page B2h, bank 0.
        let image = m.to_linear();
        assert_eq!(image[0xB2 * 128 + 128], RING_PAGE_REVISION);
    }
}
