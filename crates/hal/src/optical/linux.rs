//! Real modules on Linux: the same CMIS memory map, read and written through the kernel.
//!
//! Two access paths (photonics.md §1 "Linux access"):
//!
//! * [`OptoeAccess::Eeprom`]: the `eeprom` sysfs file of an `optoe3` device
//!   (`echo optoe3 0x50 > /sys/bus/i2c/devices/i2c-N/new_device`). The file is linear: byte
//!   `offset` (0–255) of page `page` in bank `bank` sits at `(bank*256+page)*128+offset` for
//!   upper-page bytes and at `offset` for the lower page; the driver does the page selects.
//!   Any flat file laid out the same way works, which is how this backend is tested.
//! * [`OptoeAccess::I2c`]: a raw `/dev/i2c-N` adapter. The module answers at 0x50
//!   (`I2C_SLAVE` ioctl); before touching bytes 128–255 the backend writes bank and page into
//!   bytes 126/127 in one two-byte write (bank first, as CMIS applies the pair on the page
//!   byte); a read is a one-byte offset write followed by a read.
//!
//! Writes go out as one transaction per call (optoe splits them by its `write_max`, 1 byte by
//! default); status polls sleep [`OptoeConfig::poll_interval`] and give up after the budget the
//! module advertises in page 01h, optionally capped by [`OptoeConfig::max_poll_time`].
//!
//! Not done here: VDM freeze/unfreeze (2Fh:144) before reading VDM values, CDB, module
//! interrupts and flags, and the ethtool netlink read path (read-only, so no provisioning).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use corridor_protocols::cmis::addr::{BANK_SELECT_BYTE, MODULE_I2C_ADDRESS};
use corridor_protocols::cmis::{ByteAddr, ProvisionRequest};

use super::{
    CmisIo, OpticalError, OpticalPort, PortIdentity, PortMonitors, ProvisionReport, Result,
    check_lane, deprovision_via, provision_via, read_identity, read_monitors_via, tune_via,
};

/// `I2C_SLAVE` from `<linux/i2c-dev.h>`: set the 7-bit target address of later reads/writes.
const I2C_SLAVE: u64 = 0x0703;
/// Largest raw I2C read issued at once (many adapters cap transfers at 32 bytes).
const I2C_READ_CHUNK: usize = 32;
/// Largest write CMIS modules must accept in one transaction (CMIS 5.x: 8 bytes).
const I2C_WRITE_CHUNK: usize = 8;
/// How long a write NACKed by a busy module is retried (optoe's write timeout, 25 ms).
const I2C_WRITE_RETRY: Duration = Duration::from_millis(25);

/// How the module's memory map is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptoeAccess {
    /// A linear optoe `eeprom` file (or any file with the same layout).
    Eeprom,
    /// A raw `/dev/i2c-N` adapter, module at 0x50.
    I2c,
}

impl OptoeAccess {
    /// `I2c` for paths under `/dev/` named `i2c-*`, `Eeprom` otherwise.
    #[must_use]
    pub fn detect(path: &Path) -> Self {
        let i2c = path.starts_with("/dev")
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("i2c-"));
        if i2c { Self::I2c } else { Self::Eeprom }
    }
}

/// Where and how to reach one module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptoeConfig {
    /// Name the port reports (e.g. the front-panel port).
    pub name: String,
    /// `/sys/bus/i2c/devices/N-0050/eeprom` or `/dev/i2c-N`.
    pub path: PathBuf,
    /// Access path.
    pub access: OptoeAccess,
    /// Module lanes managed (1–32).
    pub lanes: u8,
    /// Sleep between two status polls.
    pub poll_interval: Duration,
    /// Upper bound on any poll step's budget (`None`: the module's page 01h budgets).
    pub max_poll_time: Option<Duration>,
}

impl OptoeConfig {
    /// A configuration with the access path detected from `path`, 10 ms polls and the
    /// module's own budgets.
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>, lanes: u8) -> Self {
        let path = path.into();
        Self {
            name: name.into(),
            access: OptoeAccess::detect(&path),
            path,
            lanes,
            poll_interval: Duration::from_millis(10),
            max_poll_time: None,
        }
    }
}

#[derive(Debug)]
enum Device {
    Eeprom(File),
    I2c(File),
}

/// A real CMIS module behind optoe or i2c-dev.
#[derive(Debug)]
pub struct OptoePort {
    cfg: OptoeConfig,
    dev: Mutex<Device>,
}

fn io_err(op: &'static str, path: &Path, source: std::io::Error) -> OpticalError {
    OpticalError::Io {
        op,
        path: path.display().to_string(),
        source,
    }
}

impl OptoePort {
    /// Opens the device read/write (and, for i2c-dev, addresses the module at 0x50).
    ///
    /// # Errors
    /// [`OpticalError::Io`] if the path cannot be opened or the ioctl fails;
    /// [`OpticalError::InvalidLane`] unless 1 ≤ lanes ≤ 32.
    pub fn open(cfg: OptoeConfig) -> Result<Self> {
        if cfg.lanes == 0 || cfg.lanes > 32 {
            return Err(OpticalError::InvalidLane {
                port: cfg.name.clone(),
                lane: cfg.lanes,
                lanes: 32,
            });
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&cfg.path)
            .map_err(|e| io_err("open", &cfg.path, e))?;
        let dev = match cfg.access {
            OptoeAccess::Eeprom => Device::Eeprom(file),
            OptoeAccess::I2c => {
                set_i2c_target(&file, MODULE_I2C_ADDRESS)
                    .map_err(|e| io_err("ioctl I2C_SLAVE", &cfg.path, e))?;
                Device::I2c(file)
            }
        };
        Ok(Self {
            cfg,
            dev: Mutex::new(dev),
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &OptoeConfig {
        &self.cfg
    }

    fn with_io<T>(&self, f: impl FnOnce(&mut DevIo<'_>) -> Result<T>) -> Result<T> {
        let mut dev = self.dev.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut DevIo {
            dev: &mut dev,
            cfg: &self.cfg,
        })
    }
}

#[cfg(target_os = "linux")]
fn set_i2c_target(file: &File, addr: u8) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: `file` owns an open descriptor for the whole call; I2C_SLAVE takes the target
    // address as a plain integer argument (no pointer), so no memory is shared with the kernel.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), I2C_SLAVE as _, libc::c_ulong::from(addr)) };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(not(target_os = "linux"))]
fn set_i2c_target(_file: &File, _addr: u8) -> std::io::Result<()> {
    let _ = I2C_SLAVE;
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "i2c-dev is Linux only",
    ))
}

struct DevIo<'a> {
    dev: &'a mut Device,
    cfg: &'a OptoeConfig,
}

impl DevIo<'_> {
    fn path(&self) -> &Path {
        &self.cfg.path
    }
}

/// Writes bank and page select (bytes 126, 127) in one transaction.
fn i2c_select(file: &mut File, at: ByteAddr) -> std::io::Result<()> {
    let p = at.page();
    i2c_write_retry(file, &[BANK_SELECT_BYTE, p.bank(), p.page()])
}

fn i2c_write_retry(file: &mut File, bytes: &[u8]) -> std::io::Result<()> {
    let deadline = Instant::now() + I2C_WRITE_RETRY;
    loop {
        match file.write_all(bytes) {
            Ok(()) => return Ok(()),
            // A module busy with a previous write NACKs its address: retry for a while.
            Err(e) if Instant::now() < deadline && e.kind() != std::io::ErrorKind::NotFound => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e),
        }
    }
}

impl CmisIo for DevIo<'_> {
    fn read(&mut self, at: ByteAddr, buf: &mut [u8]) -> Result<()> {
        let path = self.path().to_owned();
        match self.dev {
            Device::Eeprom(f) => f
                .read_exact_at(buf, at.linear() as u64)
                .map_err(|e| io_err("read", &path, e)),
            Device::I2c(f) => {
                if !at.is_lower() {
                    i2c_select(f, at).map_err(|e| io_err("write page select", &path, e))?;
                }
                let mut offset = at.offset();
                for chunk in buf.chunks_mut(I2C_READ_CHUNK) {
                    i2c_write_retry(f, &[offset]).map_err(|e| io_err("write offset", &path, e))?;
                    f.read_exact(chunk).map_err(|e| io_err("read", &path, e))?;
                    offset = offset.wrapping_add(chunk.len() as u8);
                }
                Ok(())
            }
        }
    }

    fn write(&mut self, at: ByteAddr, data: &[u8]) -> Result<()> {
        let path = self.path().to_owned();
        match self.dev {
            Device::Eeprom(f) => f
                .write_all_at(data, at.linear() as u64)
                .map_err(|e| io_err("write", &path, e)),
            Device::I2c(f) => {
                if !at.is_lower() {
                    i2c_select(f, at).map_err(|e| io_err("write page select", &path, e))?;
                }
                let mut offset = at.offset();
                for chunk in data.chunks(I2C_WRITE_CHUNK) {
                    let mut msg = Vec::with_capacity(chunk.len() + 1);
                    msg.push(offset);
                    msg.extend_from_slice(chunk);
                    i2c_write_retry(f, &msg).map_err(|e| io_err("write", &path, e))?;
                    offset = offset.wrapping_add(chunk.len() as u8);
                }
                Ok(())
            }
        }
    }

    fn wait(&mut self) {
        std::thread::sleep(self.cfg.poll_interval);
    }

    fn max_polls(&self, timeout_ms: u32) -> u32 {
        let mut budget = Duration::from_millis(u64::from(timeout_ms));
        if let Some(cap) = self.cfg.max_poll_time {
            budget = budget.min(cap);
        }
        let interval = self.cfg.poll_interval.max(Duration::from_micros(1));
        let polls = budget.as_nanos().div_ceil(interval.as_nanos()) + 1;
        u32::try_from(polls).unwrap_or(u32::MAX)
    }
}

impl OpticalPort for OptoePort {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn lanes(&self) -> u8 {
        self.cfg.lanes
    }

    fn identity(&self) -> Result<PortIdentity> {
        self.with_io(|io| read_identity(io))
    }

    fn provision(&self, req: &ProvisionRequest) -> Result<ProvisionReport> {
        let mask = req.lane_mask();
        for n in (1..=8u8).filter(|n| mask & (1 << (n - 1)) != 0) {
            let lane = corridor_protocols::cmis::Lane::in_bank(req.bank, n)?;
            check_lane(&self.cfg.name, self.cfg.lanes, lane.number())?;
        }
        self.with_io(|io| provision_via(io, req))
    }

    fn tune(&self, lane: u8, channel: i16) -> Result<()> {
        let lane = check_lane(&self.cfg.name, self.cfg.lanes, lane)?;
        self.with_io(|io| tune_via(io, lane, channel))
    }

    fn read_monitors(&self) -> Result<PortMonitors> {
        self.with_io(|io| read_monitors_via(io, self.cfg.lanes))
    }

    fn deprovision(&self, lanes: &[u8]) -> Result<()> {
        let lanes = lanes
            .iter()
            .map(|&l| check_lane(&self.cfg.name, self.cfg.lanes, l))
            .collect::<Result<Vec<_>>>()?;
        self.with_io(|io| deprovision_via(io, &lanes))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use corridor_protocols::cmis::{
        CmisError, DataPathState, Lane, ModuleSim, ModuleState, PageAddress, SimProfile,
    };

    use super::*;
    use crate::Topology;
    use crate::optical::file_module::FileModule;
    use crate::optical::{TwinOpticalPort, TwinOptics};

    fn file_with(image: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(image).unwrap();
        f.flush().unwrap();
        f
    }

    fn fast(path: &Path, lanes: u8) -> OptoeConfig {
        OptoeConfig {
            poll_interval: Duration::from_millis(1),
            max_poll_time: Some(Duration::from_millis(20)),
            ..OptoeConfig::new("test-port", path, lanes)
        }
    }

    fn lit_twin() -> (TwinOptics, Arc<TwinOpticalPort>) {
        let optics = TwinOptics::new(&Topology::default_twin()).unwrap();
        for id in ["op-h0-0", "op-h1-0"] {
            optics
                .port(id)
                .unwrap()
                .provision(&ProvisionRequest::new(1, 0, 1, 8))
                .unwrap();
        }
        optics
            .advance(Topology::default_twin().twin().start_time + chrono::TimeDelta::hours(6))
            .unwrap();
        let a = Arc::clone(optics.port("op-h0-0").unwrap());
        (optics, a)
    }

    #[test]
    fn reads_the_twins_image_exactly_as_the_twin_does() {
        let (_optics, twin) = lit_twin();
        let file = file_with(&twin.memory_image());
        let port = OptoePort::open(fast(file.path(), 8)).unwrap();
        assert_eq!(port.config().access, OptoeAccess::Eeprom);
        assert_eq!(port.read_monitors().unwrap(), twin.read_monitors().unwrap());
        assert_eq!(port.identity().unwrap(), twin.identity().unwrap());
        let m = port.read_monitors().unwrap();
        assert!(
            m.lanes
                .iter()
                .all(|l| l.data_path == Some(DataPathState::Activated))
        );
        assert!(m.lanes[0].rx_power_uw > 100.0);
    }

    #[test]
    fn writes_land_at_linear_optoe_offsets() {
        // 16 lanes: bank 1 holds lanes 9–16.
        let sim = ModuleSim::new(SimProfile {
            lanes: 16,
            ..SimProfile::default()
        })
        .unwrap();
        let file = file_with(&sim.map().to_linear());
        let port = OptoePort::open(fast(file.path(), 16)).unwrap();
        // A passive file never moves the laser: the writes land, the lock poll times out.
        for (lane, ch) in [(2, 7), (10, -5)] {
            assert!(matches!(
                port.tune(lane, ch),
                Err(OpticalError::Cmis(CmisError::PollTimeout { .. }))
            ));
        }
        let image = std::fs::read(file.path()).unwrap();
        let ch = |bank: usize, lane_in_bank: usize| {
            let o = (bank * 256 + 0x12) * 128 + 136 + 2 * (lane_in_bank - 1);
            i16::from_be_bytes([image[o], image[o + 1]])
        };
        assert_eq!(ch(0, 2), 7);
        assert_eq!(ch(1, 2), -5);
        assert_eq!(ch(0, 1), 0);
        let m = MemoryMapView::from(&image);
        assert_eq!(m.channel(Lane::new(10).unwrap()).unwrap(), -5);
        assert_eq!(port.read_monitors().unwrap().lanes.len(), 16);
        assert!(port.tune(17, 0).is_err());
    }

    /// `MemoryMap::from_linear`, named for what the test does with it.
    struct MemoryMapView;
    impl MemoryMapView {
        fn from(image: &[u8]) -> corridor_protocols::cmis::MemoryMap {
            corridor_protocols::cmis::MemoryMap::from_linear(image).unwrap()
        }
    }

    #[test]
    fn provisioning_a_passive_file_times_out_honestly() {
        let sim = ModuleSim::default();
        let file = file_with(&sim.map().to_linear());
        let port = OptoePort::open(fast(file.path(), 8)).unwrap();
        let t = Instant::now();
        let err = port
            .provision(&ProvisionRequest::new(1, 0, 1, 4))
            .unwrap_err();
        // Step 0 cleared LowPwrRequestSW; step 1 polls ModuleReady, which nobody sets.
        match err {
            OpticalError::Cmis(CmisError::PollTimeout { step, note, polls }) => {
                assert_eq!((step, note), (1, "ModuleReady"));
                assert!(polls >= 20, "{polls}");
            }
            e => panic!("unexpected {e:?}"),
        }
        assert!(t.elapsed() < Duration::from_secs(2));
        let image = std::fs::read(file.path()).unwrap();
        assert_eq!(image[26] & 0x10, 0, "LowPwrRequestSW cleared in the file");
        assert_eq!(image[3] >> 1 & 7, ModuleState::LowPwr.code());
        // Deprovisioning stalls the same way at DPDeactivated? No: lanes already read
        // Deactivated, so it completes, and its writes are visible.
        port.deprovision(&[1, 2]).unwrap();
        let image = std::fs::read(file.path()).unwrap();
        let p10 = PageAddress::new(0, 0x10).unwrap();
        assert_eq!(image[p10.linear(128)] & 0x03, 0x03, "DPDeinit lanes 1-2");
        assert_eq!(image[p10.linear(130)] & 0x03, 0x03, "Tx disabled lanes 1-2");
    }

    #[test]
    fn short_files_and_missing_devices_are_errors_not_panics() {
        let sim = ModuleSim::default();
        let file = file_with(&sim.map().to_linear()[..128]);
        let port = OptoePort::open(fast(file.path(), 8)).unwrap();
        assert!(port.read_monitors().is_err());
        let id = port.identity().unwrap();
        assert_eq!(id.identifier, 0x18);
        assert_eq!(id.vendor_name, "");
        let missing = OptoePort::open(OptoeConfig::new("x", "/dev/i2c-corridor-none", 8));
        assert!(matches!(missing, Err(OpticalError::Io { op: "open", .. })));
        assert_eq!(
            OptoeAccess::detect(Path::new("/dev/i2c-3")),
            OptoeAccess::I2c
        );
        assert_eq!(
            OptoeAccess::detect(Path::new("/sys/bus/i2c/devices/3-0050/eeprom")),
            OptoeAccess::Eeprom
        );
        assert!(OptoePort::open(OptoeConfig::new("x", file.path(), 33)).is_err());
    }

    #[test]
    fn end_to_end_against_a_module_playing_on_the_file() {
        let mut sim = ModuleSim::default();
        let lane1 = Lane::new(1).unwrap();
        sim.set_temperature_c(41.25).unwrap();
        sim.set_tx_power_uw(lane1, 900.0).unwrap();
        sim.set_rx_power_uw(lane1, 310.0).unwrap();
        sim.set_pre_fec_ber(lane1, 2.5e-9).unwrap();
        let file = tempfile::NamedTempFile::new().unwrap();
        let module = FileModule::spawn(file.path(), sim, Duration::from_micros(500)).unwrap();

        let cfg = OptoeConfig {
            poll_interval: Duration::from_millis(1),
            ..OptoeConfig::new("e2e", file.path(), 8)
        };
        let port = OptoePort::open(cfg).unwrap();
        let report = port.provision(&ProvisionRequest::new(1, 0, 1, 4));
        let tuned = port.tune(5, 12);
        let monitors = port.read_monitors();
        let down = port.deprovision(&[1, 2, 3, 4]);
        let after = port.read_monitors();
        let sim = module.stop().unwrap();

        let report = report.unwrap();
        assert_eq!(report.lanes, vec![1, 2, 3, 4]);
        assert!(report.polls >= 4);
        tuned.unwrap();
        let m = monitors.unwrap();
        assert_eq!(m.module_state, Some(ModuleState::Ready));
        assert!((m.temperature_c - 41.25).abs() < 1.0 / 256.0);
        let l = &m.lanes[0];
        assert_eq!(l.data_path, Some(DataPathState::Activated));
        assert!((l.tx_power_uw - 900.0).abs() < 0.1);
        assert!((l.rx_power_uw - 310.0).abs() < 0.1);
        let ber = l.pre_fec_ber.unwrap();
        assert!((ber - 2.5e-9).abs() / 2.5e-9 < 1e-3, "{ber}");
        assert_eq!(m.lanes[4].channel, 12);
        assert_eq!(m.lanes[4].frequency_mhz, 193_100_000 + 12 * 100_000);
        assert_eq!(m.lanes[4].data_path, Some(DataPathState::Deactivated));
        down.unwrap();
        let after = after.unwrap();
        assert!(
            after.lanes[..4]
                .iter()
                .all(|l| l.data_path == Some(DataPathState::Deactivated))
        );
        assert_eq!(
            sim.map().dp_state(lane1).unwrap(),
            DataPathState::Deactivated
        );
    }
}
