//! The ring-bank seam: what HELIOPASS's controllers read and write on a module's microrings.
//!
//! The wire format is the HELIOPASS vendor page ([`corridor_protocols::cmis::ring_page`],
//! pages B0h–B3h): every backend exchanges exactly those registers (DAC codes, ADC codes, mV,
//! MHz), so the controllers see the same quantisation on the twin as on a module.
//!
//! # Why a separate trait, not new [`super::OpticalPort`] methods
//!
//! * [`super::OpticalPort`] is what every CMIS module offers and is shared (`&self`, behind an
//!   `Arc`) by all of corrd's tasks. Ring control is a sample-level loop (10 kHz tracking,
//!   µs-spaced samples during acquisition) that must own the rings while it runs: `&mut self`
//!   makes two controllers on the same rings impossible rather than merely unlikely.
//! * Standard modules have no ring pages; a separate trait keeps `OpticalPort` implementable by
//!   every module and lets the lead hand out a ring bank only where the page exists.
//! * Control time is part of the seam ([`RingBank::wait_us`]): the twin advances simulated
//!   time, hardware sleeps. Benchmarks measure simulated control time through it.
//!
//! Backends: [`super::ring_twin::RingBankTwin`] (physics, noise, a page image per 8 rings) and
//! [`PageFileRingBank`] (the same pages at their optoe linear offsets in an `eeprom` file, as
//! the Linux backend and [`super::file_module`] lay them out).

use std::fmt::Debug;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use corridor_protocols::cmis::LockState;
use corridor_protocols::cmis::addr::PageAddress;
use corridor_protocols::cmis::ring_page::{
    LANE_BLOCK_BASE, LANE_BLOCK_LEN, LANES_PER_RING_PAGE, RING_PAGE_BASE, RING_PAGES, RingLaneRegs,
    RingPage, RingPageHeader, lane_block,
};

use super::{OpticalError, Result};

/// A module's microring bank, addressed by ring index 0…rings−1 (= module lane − 1).
pub trait RingBank: Debug {
    /// Number of rings.
    fn rings(&self) -> usize;

    /// The page header: DAC/ADC resolutions and full scales.
    fn header(&self) -> RingPageHeader;

    /// Reads ring `ring`'s registers (a fresh monitor sample on each call).
    ///
    /// # Errors
    /// [`OpticalError::InvalidLane`], codec or I/O errors.
    fn read(&mut self, ring: usize) -> Result<RingLaneRegs>;

    /// Reads ring `ring`'s temperature sensor alone, °C (as the register holds it): what a
    /// controller polls between control periods to decide whether one is due. A fresh
    /// sample, like [`RingBank::read`]; a bank whose registers cost nothing extra to read
    /// together may keep this default.
    ///
    /// # Errors
    /// As [`RingBank::read`].
    fn read_temperature_c(&mut self, ring: usize) -> Result<f64> {
        Ok(self.read(ring)?.temperature_c())
    }

    /// Writes the heater DAC code.
    ///
    /// # Errors
    /// As [`RingBank::read`].
    fn set_heater_code(&mut self, ring: usize, code: u16) -> Result<()>;

    /// Writes the modulator bias, mV.
    ///
    /// # Errors
    /// As [`RingBank::read`].
    fn set_bias_mv(&mut self, ring: usize, mv: i16) -> Result<()>;

    /// Writes the laser fine-tune offset, MHz.
    ///
    /// # Errors
    /// As [`RingBank::read`].
    fn set_laser_offset_mhz(&mut self, ring: usize, mhz: i16) -> Result<()>;

    /// Records the controller's lock state in the status byte.
    ///
    /// # Errors
    /// As [`RingBank::read`].
    fn set_lock_state(&mut self, ring: usize, state: LockState) -> Result<()>;

    /// Lets `us` microseconds of control time pass (the twin steps its physics; hardware
    /// sleeps).
    fn wait_us(&mut self, us: f64);

    /// Control time since the bank was opened, µs.
    fn elapsed_us(&self) -> f64;

    /// The plant's simulated clock has reached `now`: a twin bank takes its port's case
    /// temperature at that instant; a real module lives in real time and ignores it.
    fn set_plant_time(&mut self, now: chrono::DateTime<chrono::Utc>) {
        let _ = now;
    }

    /// [`Self::set_plant_time`] for a controller that may only read the bank's temperature at
    /// `now`: what the port's receivers see may wait until the bank's state next changes or
    /// the plant time is next set. A twin tracking loop steps through many such instants
    /// (one per control period) and acts at few of them; at the others, working out what the
    /// receivers see is wasted.
    fn pass_plant_time(&mut self, now: chrono::DateTime<chrono::Utc>) {
        self.set_plant_time(now);
    }
}

/// [`OpticalError::InvalidLane`] unless `ring < rings`.
pub(crate) fn check_ring(port: &str, ring: usize, rings: usize) -> Result<()> {
    if ring >= rings {
        return Err(OpticalError::InvalidLane {
            port: port.to_owned(),
            lane: u8::try_from(ring + 1).unwrap_or(u8::MAX),
            lanes: u8::try_from(rings).unwrap_or(u8::MAX),
        });
    }
    Ok(())
}

/// Module lane (1-based) of ring `ring` (saturating; [`lane_block`] rejects what is too large).
pub(crate) fn ring_lane(ring: usize) -> u8 {
    u8::try_from(ring + 1).unwrap_or(u8::MAX)
}

/// (page index, lane in page) of ring `ring`.
pub(crate) const fn page_of(ring: usize) -> (usize, usize) {
    (ring / LANES_PER_RING_PAGE, ring % LANES_PER_RING_PAGE)
}

/// A ring bank read and written through the vendor pages of an optoe-layout `eeprom` file
/// (linear offset `(bank·256 + page)·128 + byte`; pages B0h–B3h are unbanked, bank 0).
///
/// Each access reads or writes only the bytes of one lane block, as a host on I2C would; the
/// header is read once at open. Whoever plays the module (hardware behind optoe, or a
/// simulator on the file) fills the read-only registers.
#[derive(Debug)]
pub struct PageFileRingBank {
    path: PathBuf,
    file: File,
    header: RingPageHeader,
    rings: usize,
    start: std::time::Instant,
}

impl PageFileRingBank {
    /// Opens the file and reads the header of page B0h; `rings` ≤ 32.
    ///
    /// # Errors
    /// I/O errors, an invalid header, or more rings than the pages hold.
    pub fn open(path: impl AsRef<Path>, rings: usize) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let io = |op: &'static str| {
            let p = path.display().to_string();
            move |source| OpticalError::Io {
                op,
                path: p,
                source,
            }
        };
        let file = File::options()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io("open"))?;
        check_ring(
            &path.display().to_string(),
            rings.saturating_sub(1),
            usize::from(RING_PAGES) * LANES_PER_RING_PAGE,
        )?;
        let mut page = [0u8; 128];
        file.read_exact_at(&mut page, Self::page_base(0))
            .map_err(io("read"))?;
        let header = RingPage::decode(&page, RING_PAGE_BASE)?.header;
        Ok(Self {
            path,
            file,
            header,
            rings,
            start: std::time::Instant::now(),
        })
    }

    fn page_base(index: usize) -> u64 {
        // Page B0h + index exists in bank 0 only; `linear_base` is byte 128 of it.
        let addr = PageAddress::bank0(RING_PAGE_BASE + index as u8)
            .expect("B0h-B3h are valid unbanked pages");
        addr.linear_base() as u64
    }

    fn lane_offset(ring: usize) -> u64 {
        let (page, k) = page_of(ring);
        Self::page_base(page) + (usize::from(LANE_BLOCK_BASE) - 128 + k * LANE_BLOCK_LEN) as u64
    }

    fn io_err(&self, op: &'static str) -> impl FnOnce(std::io::Error) -> OpticalError + '_ {
        move |source| OpticalError::Io {
            op,
            path: self.path.display().to_string(),
            source,
        }
    }

    fn rmw(&mut self, ring: usize, f: impl FnOnce(&mut RingLaneRegs)) -> Result<()> {
        let mut regs = self.read_regs(ring)?;
        f(&mut regs);
        self.file
            .write_all_at(&regs.to_block(), Self::lane_offset(ring))
            .map_err(self.io_err("write"))
    }

    fn read_regs(&self, ring: usize) -> Result<RingLaneRegs> {
        check_ring(&self.path.display().to_string(), ring, self.rings)?;
        let mut block = [0u8; LANE_BLOCK_LEN];
        self.file
            .read_exact_at(&mut block, Self::lane_offset(ring))
            .map_err(self.io_err("read"))?;
        let (page, offset) = lane_block(ring_lane(ring))?;
        Ok(RingLaneRegs::from_block(&block, page, offset)?)
    }
}

impl RingBank for PageFileRingBank {
    fn rings(&self) -> usize {
        self.rings
    }

    fn header(&self) -> RingPageHeader {
        self.header
    }

    fn read(&mut self, ring: usize) -> Result<RingLaneRegs> {
        self.read_regs(ring)
    }

    fn set_heater_code(&mut self, ring: usize, code: u16) -> Result<()> {
        self.rmw(ring, |r| r.heater_code = code)
    }

    fn set_bias_mv(&mut self, ring: usize, mv: i16) -> Result<()> {
        self.rmw(ring, |r| r.bias_mv = mv)
    }

    fn set_laser_offset_mhz(&mut self, ring: usize, mhz: i16) -> Result<()> {
        self.rmw(ring, |r| r.laser_offset_mhz = mhz)
    }

    fn set_lock_state(&mut self, ring: usize, state: LockState) -> Result<()> {
        self.rmw(ring, |r| r.lock.state = state)
    }

    fn wait_us(&mut self, us: f64) {
        if us > 0.0 {
            std::thread::sleep(std::time::Duration::from_secs_f64(us * 1e-6));
        }
    }

    fn elapsed_us(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1e6
    }
}

#[cfg(test)]
mod tests {
    use corridor_protocols::cmis::MemoryMap;

    use super::*;

    #[test]
    fn file_bank_speaks_the_vendor_page_at_optoe_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eeprom");
        let mut map = MemoryMap::new();
        let mut p = RingPage::new(RingPageHeader::DEFAULT);
        p.lanes[1].pd_code = 31337;
        map.set_ring_page(0, &p).unwrap();
        map.set_ring_page(1, &RingPage::new(RingPageHeader::DEFAULT))
            .unwrap();
        std::fs::write(&path, map.to_linear()).unwrap();

        let mut bank = PageFileRingBank::open(&path, 10).unwrap();
        assert_eq!(bank.header(), RingPageHeader::DEFAULT);
        assert_eq!(bank.read(1).unwrap().pd_code, 31337);
        bank.set_heater_code(9, 0x1234).unwrap();
        bank.set_lock_state(9, LockState::Locked).unwrap();
        assert!(bank.read(10).is_err());

        // The module side sees the writes in page B1h, lane 2.
        let back = MemoryMap::from_linear(&std::fs::read(&path).unwrap()).unwrap();
        let lane = back.ring_page(1).unwrap().lanes[1];
        assert_eq!(lane.heater_code, 0x1234);
        assert_eq!(lane.lock.state, LockState::Locked);
        assert_eq!(back.ring_page(0).unwrap().lanes[1].pd_code, 31337);
    }
}
