//! Optical ports: the [`OpticalPort`] trait and its two backends.
//!
//! An optical port is a CMIS module (photonics.md §1). Everything the control plane does to it
//! goes through the module's memory map, encoded and decoded by
//! [`corridor_protocols::cmis`]:
//!
//! * [`OpticalPort::provision`] runs the CMIS provisioning sequence planned by
//!   [`plan_provisioning`] (leave low power, Tx disable + DPDeinit, ApSel, ApplyDPInit,
//!   release DPDeinit + Tx enable, poll until DPActivated) with [`run_plan`];
//! * [`OpticalPort::tune`] writes the laser channel (page 12h) and polls the tuning status;
//! * [`OpticalPort::read_monitors`] reads the lower page, pages 11h/12h and the VDM pages and
//!   decodes them. The monitors are **always** read back from the memory map, never from a
//!   side channel, so the twin exercises the codec byte for byte.
//!
//! Backends:
//!
//! * [`twin`]: [`TwinOpticalPort`] owns a [`corridor_protocols::cmis::ModuleSim`] whose monitor
//!   values come from the physics model ([`corridor_physics`]) for the link the port is on;
//!   [`TwinOptics`] builds one per topology port and advances them with the clock.
//! * [`linux`]: [`OptoePort`] reads and writes the same map through an optoe `eeprom` sysfs
//!   file (linear offsets) or a raw `/dev/i2c-N` device (page select via bytes 126/127);
//!   [`LinuxOptics`] opens one per topology port from the configured device paths.
//!
//! A control plane holds its ports as one [`OpticalPlant`] (`port(id)`, `advance`,
//! `inventory`); the twin's fault injection is a separate handle, [`TwinFaults`], that only
//! the twin offers. [`file_module`] plays a simulated module on an optoe-layout file, so the
//! Linux backend can be run end to end without hardware.
//!
//! Microring control (heaters, monitor photodiodes, modulator bias) is a separate seam,
//! [`rings::RingBank`], spoken over the HELIOPASS vendor pages B0h–B3h; [`ring_twin`] is its
//! physics twin (why it is not part of [`OpticalPort`]: see [`rings`]).
//!
//! Both backends share the register-level code in this module (a small [`CmisIo`] trait:
//! read bytes, write bytes, let time pass), so the twin and real hardware run the same plans
//! and the same decoders.

pub mod file_module;
pub mod linux;
pub mod linux_plant;
pub mod plant;
pub mod ring_twin;
pub mod rings;
pub mod twin;
pub mod twin_rings;

use std::fmt::Debug;

use corridor_protocols::cmis::addr::{LANES_PER_BANK, PAGE_SIZE};
use corridor_protocols::cmis::map::fields;
use corridor_protocols::cmis::{
    ApplicationDescriptor, ByteAddr, CmisError, Condition, ConfigStatus, DataPathState,
    GridSpacing, Lane, MemoryMap, ModuleState, PageAddress, PlanTarget, ProvisionRequest, Step,
    TuningStatus, VdmDescriptor, VdmType, plan_provisioning, run_plan,
};
use thiserror::Error;

pub use linux::{OptoeAccess, OptoeConfig, OptoePort};
pub use linux_plant::{LinuxOptics, LinuxOpticsError};
pub use plant::{AmbientScope, OpticalPlant, PlantPort, SharedRingBank, TwinAmbient, TwinFaults};
pub use ring_twin::{RingBankConfig, RingBankTwin};
pub use rings::{PageFileRingBank, RingBank};
pub use twin::{LaneChain, PortFaults, TwinFault, TwinOpticalPort, TwinOptics};

/// Upper page 00h: vendor name, ASCII, 16 bytes (CMIS 5.x Table 8-28; SONiC
/// `mem_maps/public/cmis/pages/page00_upper.py` `VENDOR_NAME` at 129).
pub const VENDOR_NAME_OFFSET: u8 = 129;
/// Upper page 00h: vendor part number, ASCII, 16 bytes (same sources, `VENDOR_PART_NO` at 148).
pub const VENDOR_PN_OFFSET: u8 = 148;
/// Upper page 00h: vendor serial number, ASCII, 16 bytes (same sources, `VENDOR_SERIAL_NO` at 166).
pub const VENDOR_SN_OFFSET: u8 = 166;
/// Length of the three vendor strings.
pub const VENDOR_TEXT_LEN: usize = 16;

/// Why an optical-port operation failed.
#[derive(Debug, Error)]
pub enum OpticalError {
    /// The CMIS codec, the plan or the module refused (bad address, rejection, timeout, fault).
    #[error(transparent)]
    Cmis(#[from] CmisError),
    /// An I/O error on the linux backend.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("read", "write", "open", "ioctl I2C_SLAVE").
        op: &'static str,
        /// The device path.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A lane outside the port.
    #[error("lane {lane} is not a lane of port {port} (1..={lanes})")]
    InvalidLane {
        /// The port.
        port: String,
        /// The lane asked for.
        lane: u8,
        /// Lanes of the port.
        lanes: u8,
    },
    /// The laser did not lock on the requested channel.
    #[error("lane {lane}: laser did not lock on channel {channel} (WavelengthUnlocked)")]
    TuningFailed {
        /// Lane (1–32).
        lane: u8,
        /// Channel asked for.
        channel: i16,
    },
    /// A twin fault with a value outside its range.
    #[error("invalid fault: {0}")]
    InvalidFault(String),
    /// No port with this id in the plant.
    #[error("no optical port {port:?} in the plant")]
    UnknownPort {
        /// The id asked for.
        port: String,
    },
    /// No link with this id in the topology.
    #[error("no link {link:?} in the topology")]
    UnknownLink {
        /// The id asked for.
        link: String,
    },
    /// The topology describes a port the twin cannot model.
    #[error("port {port}: {reason}")]
    Unsupported {
        /// The port.
        port: String,
        /// Why.
        reason: String,
    },
    /// The physics model rejected its inputs (a bug or an unphysical topology).
    #[error("port {port}: physics model: {source}")]
    Physics {
        /// The port.
        port: String,
        /// The model's error.
        #[source]
        source: corridor_physics::PhysicsError,
    },
}

/// Result of optical-port operations.
pub type Result<T, E = OpticalError> = std::result::Result<T, E>;

/// What the module says it is (lower page and upper page 00h).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortIdentity {
    /// SFF-8024 identifier (0x18 = QSFP-DD).
    pub identifier: u8,
    /// CMIS revision (major, minor).
    pub revision: (u8, u8),
    /// Media type (byte 85).
    pub media_type: u8,
    /// Vendor name (trailing spaces trimmed).
    pub vendor_name: String,
    /// Vendor part number.
    pub part_number: String,
    /// Vendor serial number.
    pub serial: String,
    /// Advertised applications as (ApSel, descriptor).
    pub applications: Vec<(u8, ApplicationDescriptor)>,
}

/// Monitors of one lane, decoded from pages 11h, 12h and the VDM pages.
#[derive(Debug, Clone, PartialEq)]
pub struct LaneMonitors {
    /// Module lane, 1–32.
    pub lane: u8,
    /// DataPath state (11h:128+); `None` for a code CMIS does not define.
    pub data_path: Option<DataPathState>,
    /// ConfigStatus of the last ApplyDPInit (11h:202+).
    pub config_status: ConfigStatus,
    /// Active ApSel (11h:206+ bits 7–4; 0 = none).
    pub active_ap_sel: u8,
    /// Tx optical power, µW (11h:154+).
    pub tx_power_uw: f64,
    /// Rx optical power, µW (11h:186+).
    pub rx_power_uw: f64,
    /// Laser bias, mA (11h:170+).
    pub bias_ma: f64,
    /// Grid of the tunable laser (12h:128+); `None` for an undefined code.
    pub grid: Option<GridSpacing>,
    /// Channel number (12h:136+).
    pub channel: i16,
    /// Current laser frequency, MHz (12h:168+).
    pub frequency_mhz: u32,
    /// Tuning status (12h:222+).
    pub tuning: TuningStatus,
    /// Laser frequency error, MHz (VDM type 3), if the module advertises it.
    pub laser_freq_error_mhz: Option<f64>,
    /// Laser temperature, °C (VDM type 4), if advertised.
    pub laser_temperature_c: Option<f64>,
    /// Current media pre-FEC BER (VDM type 15), if advertised.
    pub pre_fec_ber: Option<f64>,
    /// Largest media pre-FEC BER since the statistics were last cleared (VDM type 11).
    pub pre_fec_ber_max: Option<f64>,
}

impl LaneMonitors {
    /// Tx power in dBm (−∞ for no light).
    #[must_use]
    pub fn tx_power_dbm(&self) -> f64 {
        uw_to_dbm(self.tx_power_uw)
    }

    /// Rx power in dBm (−∞ for no light).
    #[must_use]
    pub fn rx_power_dbm(&self) -> f64 {
        uw_to_dbm(self.rx_power_uw)
    }
}

fn uw_to_dbm(uw: f64) -> f64 {
    10.0 * (uw / 1000.0).log10()
}

/// Everything [`OpticalPort::read_monitors`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct PortMonitors {
    /// Module state (lower page byte 3); `None` for an undefined code.
    pub module_state: Option<ModuleState>,
    /// Module case temperature, °C (lower page 14–15).
    pub temperature_c: f64,
    /// Supply voltage, V (lower page 16–17).
    pub vcc_v: f64,
    /// One entry per lane of the port, lane 1 first.
    pub lanes: Vec<LaneMonitors>,
}

impl PortMonitors {
    /// The monitors of module lane `lane` (1–32).
    #[must_use]
    pub fn lane(&self, lane: u8) -> Option<&LaneMonitors> {
        self.lanes.iter().find(|l| l.lane == lane)
    }
}

/// What a successful [`OpticalPort::provision`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionReport {
    /// The register plan that was run, in order.
    pub steps: Vec<Step>,
    /// Status polls made in total.
    pub polls: u32,
    /// Module lanes (1–32) now DPActivated.
    pub lanes: Vec<u8>,
}

/// A photonic transceiver port, managed through its CMIS memory map.
///
/// Methods take `&self`: backends serialise access to the module internally, so a port can be
/// shared as `Arc<dyn OpticalPort>` between the reconciler and the API.
pub trait OpticalPort: Send + Sync + Debug {
    /// The port's name (the topology id for the twin, the configured name on linux).
    fn name(&self) -> &str;

    /// Number of module lanes (1–32).
    fn lanes(&self) -> u8;

    /// What the module says it is, read from the memory map.
    ///
    /// # Errors
    /// I/O or codec errors.
    fn identity(&self) -> Result<PortIdentity>;

    /// Brings up one data path with the CMIS provisioning sequence and waits for DPActivated.
    ///
    /// # Errors
    /// An invalid request, a ConfigStatus rejection, ModuleFault, a poll timeout (each poll
    /// step has the budget the module advertises in page 01h), or I/O errors.
    fn provision(&self, req: &ProvisionRequest) -> Result<ProvisionReport>;

    /// Tunes the laser of module lane `lane` (1–32) to channel `channel` of its grid
    /// (f = 193.1 THz + n·grid, page 12h) and waits until the tuning completes.
    ///
    /// # Errors
    /// [`OpticalError::TuningFailed`] if the module reports WavelengthUnlocked, an invalid
    /// lane, a poll timeout or I/O errors.
    fn tune(&self, lane: u8, channel: i16) -> Result<()>;

    /// Reads and decodes the monitors of every lane.
    ///
    /// # Errors
    /// I/O or codec errors.
    fn read_monitors(&self) -> Result<PortMonitors>;

    /// The monitors of the given lanes only (1-based; lanes outside the
    /// port are skipped). The default reads every lane and filters;
    /// backends override it to decode only what is asked.
    ///
    /// # Errors
    /// As [`OpticalPort::read_monitors`].
    fn read_lane_monitors(&self, only: &[u8]) -> Result<PortMonitors> {
        let mut monitors = self.read_monitors()?;
        monitors.lanes.retain(|l| only.contains(&l.lane));
        Ok(monitors)
    }

    /// Takes module lanes `lanes` (1–32) down: Tx disable and DPDeinit, then polls until
    /// DPDeactivated.
    ///
    /// # Errors
    /// An invalid lane, a poll timeout or I/O errors.
    fn deprovision(&self, lanes: &[u8]) -> Result<()>;
}

// ---------------------------------------------------------------------------------------------
// Register-level code shared by both backends.

/// Byte access to a CMIS module, as a host has it.
pub(crate) trait CmisIo {
    /// Reads `buf.len()` bytes at `at` (within one half page).
    fn read(&mut self, at: ByteAddr, buf: &mut [u8]) -> Result<()>;
    /// Writes `data` at `at` (within one half page) in one transaction.
    fn write(&mut self, at: ByteAddr, data: &[u8]) -> Result<()>;
    /// Lets time pass between two status polls (the twin ticks its module, hardware sleeps).
    fn wait(&mut self);
    /// How many polls a poll step with budget `timeout_ms` may make.
    fn max_polls(&self, timeout_ms: u32) -> u32;
}

/// [`PlanTarget`] over a [`CmisIo`].
struct IoTarget<'a, T: CmisIo + ?Sized>(&'a mut T);

impl<T: CmisIo + ?Sized> PlanTarget for IoTarget<'_, T> {
    type Error = OpticalError;

    fn write_byte(&mut self, at: ByteAddr, value: u8) -> Result<()> {
        self.0.write(at, &[value])
    }

    fn read_bytes(&mut self, at: ByteAddr, buf: &mut [u8]) -> Result<()> {
        self.0.read(at, buf)
    }

    fn wait(&mut self) {
        self.0.wait();
    }
}

/// Runs `steps` with [`run_plan`], one step at a time so that each poll step gets the budget it
/// carries (`timeout_ms`, from page 01h) instead of one global poll count.
pub(crate) fn execute<T: CmisIo + ?Sized>(io: &mut T, steps: &[Step]) -> Result<u32> {
    let mut polls = 0;
    for (i, step) in steps.iter().enumerate() {
        let max = match step {
            Step::Poll { timeout_ms, .. } => io.max_polls(*timeout_ms).max(1),
            Step::Write { .. } => 1,
        };
        match run_plan(std::slice::from_ref(step), &mut IoTarget(io), max) {
            Ok(n) => polls += n,
            Err(OpticalError::Cmis(CmisError::PollTimeout { note, polls, .. })) => {
                return Err(CmisError::PollTimeout {
                    step: i,
                    note,
                    polls,
                }
                .into());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(polls)
}

/// Reads the lower page and the upper pages `pages` into a map. Pages that cannot be read
/// (absent on this module, beyond the end of an eeprom file) are left out.
pub(crate) fn snapshot<T: CmisIo + ?Sized>(io: &mut T, pages: &[PageAddress]) -> Result<MemoryMap> {
    let mut lower = [0u8; PAGE_SIZE];
    io.read(ByteAddr::new(PageAddress::PAGE_00, 0), &mut lower)?;
    let mut map = MemoryMap::from_lower_page(&lower)?;
    if map.flat_memory() {
        // Flat-memory modules only have page 00h.
        let mut buf = [0u8; PAGE_SIZE];
        if io
            .read(ByteAddr::new(PageAddress::PAGE_00, 128), &mut buf)
            .is_ok()
        {
            map.insert_page(PageAddress::PAGE_00, buf);
        }
        return Ok(map);
    }
    for &page in pages {
        let mut buf = [0u8; PAGE_SIZE];
        if io.read(ByteAddr::new(page, 128), &mut buf).is_ok() {
            map.insert_page(page, buf);
        }
    }
    Ok(map)
}

fn banks_of(lanes: u8) -> u8 {
    lanes.saturating_sub(1) / LANES_PER_BANK + 1
}

fn page(bank: u8, page: u8) -> Result<PageAddress> {
    Ok(PageAddress::new(bank, page)?)
}

fn check_lane(port: &str, lanes: u8, lane: u8) -> Result<Lane> {
    if lane == 0 || lane > lanes {
        return Err(OpticalError::InvalidLane {
            port: port.to_owned(),
            lane,
            lanes,
        });
    }
    Ok(Lane::new(lane)?)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .trim_end_matches([' ', '\0'])
        .to_owned()
}

/// Reads the identity: lower page and upper page 00h.
pub(crate) fn read_identity<T: CmisIo + ?Sized>(io: &mut T) -> Result<PortIdentity> {
    let map = snapshot(io, &[PageAddress::PAGE_00, page(0, 0x01)?])?;
    let upper = map.page(PageAddress::PAGE_00);
    let field = |offset: u8| {
        upper.map_or_else(String::new, |p| {
            let o = usize::from(offset) - 128;
            text(&p[o..o + VENDOR_TEXT_LEN])
        })
    };
    Ok(PortIdentity {
        identifier: map.identifier(),
        revision: map.revision(),
        media_type: map.media_type(),
        vendor_name: field(VENDOR_NAME_OFFSET),
        part_number: field(VENDOR_PN_OFFSET),
        serial: field(VENDOR_SN_OFFSET),
        applications: map.applications(),
    })
}

/// Plans and runs the provisioning sequence; returns the report.
pub(crate) fn provision_via<T: CmisIo + ?Sized>(
    io: &mut T,
    req: &ProvisionRequest,
) -> Result<ProvisionReport> {
    let map = snapshot(io, &[page(0, 0x01)?, page(req.bank, 0x10)?])?;
    let steps = plan_provisioning(&map, req)?;
    let polls = execute(io, &steps)?;
    let mask = req.lane_mask();
    let lanes = (1..=LANES_PER_BANK)
        .filter(|n| mask & (1 << (n - 1)) != 0)
        .filter_map(|n| Lane::in_bank(req.bank, n).ok())
        .map(Lane::number)
        .collect();
    Ok(ProvisionReport {
        steps,
        polls,
        lanes,
    })
}

/// Writes the channel of `lane` (page 12h, S16, one two-byte write) and polls until the module
/// reports the laser locked there: TuningInProgress clear and the current frequency within half
/// a grid spacing of the channel centre (so a poll that lands before the module has even seen
/// the write does not pass for success). WavelengthUnlocked fails at once.
pub(crate) fn tune_via<T: CmisIo + ?Sized>(io: &mut T, lane: Lane, channel: i16) -> Result<()> {
    let p12 = page(lane.bank(), 0x12)?;
    let ch = fields::channel(lane.index_in_bank())?;
    // Page 01h advertises no tuning budget in our codec: the DPInit budget stands in for it.
    let budget = snapshot(io, &[page(0, 0x01)?])?
        .durations()
        .map_or(1000, |d| d.dp_init_ms);
    io.write(ByteAddr::new(p12, ch.offset), &channel.to_be_bytes())?;
    let max = io.max_polls(budget).max(1);
    for _ in 0..max {
        let mut buf = [0u8; PAGE_SIZE];
        io.read(ByteAddr::new(p12, 128), &mut buf)?;
        let mut map = MemoryMap::new();
        map.insert_page(p12, buf);
        let status = map.tuning_status(lane)?;
        if status.wavelength_unlocked && !status.tuning_in_progress {
            return Err(OpticalError::TuningFailed {
                lane: lane.number(),
                channel,
            });
        }
        if !status.tuning_in_progress
            && let Ok(grid) = map.grid_spacing(lane)
        {
            let target = grid.channel_to_mhz(channel);
            let current = i64::from(map.current_frequency_mhz(lane)?);
            if map.channel(lane)? == channel && 2 * (current - target).abs() < grid.spacing_mhz() {
                return Ok(());
            }
        }
        io.wait();
    }
    Err(CmisError::PollTimeout {
        step: 0,
        note: "laser locked on the channel",
        polls: max,
    }
    .into())
}

/// Tx disable + DPDeinit for `lanes`, then polls DPDeactivated, bank by bank.
pub(crate) fn deprovision_via<T: CmisIo + ?Sized>(io: &mut T, lanes: &[Lane]) -> Result<()> {
    for bank in 0..=corridor_protocols::cmis::addr::MAX_BANK {
        let mask = lanes
            .iter()
            .filter(|l| l.bank() == bank)
            .fold(0u8, |m, l| m | l.mask_bit());
        if mask == 0 {
            continue;
        }
        let p10 = page(bank, 0x10)?;
        let map = snapshot(io, &[page(0, 0x01)?, p10])?;
        let timeout_ms = map.durations().map_or(60_000, |d| d.dp_deinit_ms);
        let steps = [
            Step::Write {
                at: ByteAddr::new(p10, fields::TX_DISABLE.offset),
                value: map.tx_disable_mask(bank)? | mask,
                note: "disable Tx on the lanes",
            },
            Step::Write {
                at: ByteAddr::new(p10, fields::DP_DEINIT.offset),
                value: map.dp_deinit_mask(bank)? | mask,
                note: "DPDeinit the lanes",
            },
            Step::Poll {
                until: Condition::DataPathState {
                    bank,
                    lane_mask: mask,
                    state: DataPathState::Deactivated,
                },
                timeout_ms,
                note: "DPDeactivated",
            },
        ];
        execute(io, &steps)?;
    }
    Ok(())
}

/// Reads pages 11h, 12h and the VDM pages of every bank and decodes the monitors of `lanes`
/// lanes.
pub(crate) fn read_monitors_via<T: CmisIo + ?Sized>(io: &mut T, lanes: u8) -> Result<PortMonitors> {
    let mut pages = Vec::new();
    for bank in 0..banks_of(lanes) {
        for p in [0x11, 0x12, 0x20, 0x24] {
            pages.push(page(bank, p)?);
        }
    }
    let map = snapshot(io, &pages)?;
    decode_monitors(&map, lanes)
}

/// Decodes the monitors of lanes 1..=`lanes` from a memory map (pages 11h/12h/20h/24h held).
pub(crate) fn decode_monitors(map: &MemoryMap, lanes: u8) -> Result<PortMonitors> {
    decode_lanes(map, 1..=lanes)
}

/// [`read_monitors_via`] for some lanes: reads the banks holding them and
/// decodes only them.
pub(crate) fn read_lane_monitors_via<T: CmisIo + ?Sized>(
    io: &mut T,
    lanes: u8,
    only: &[u8],
) -> Result<PortMonitors> {
    let wanted: Vec<u8> = only
        .iter()
        .copied()
        .filter(|&l| l >= 1 && l <= lanes)
        .collect();
    let mut pages = Vec::new();
    for bank in 0..banks_of(lanes) {
        if !wanted.iter().any(|&l| (l - 1) / LANES_PER_BANK == bank) {
            continue;
        }
        for p in [0x11, 0x12, 0x20, 0x24] {
            pages.push(page(bank, p)?);
        }
    }
    let map = snapshot(io, &pages)?;
    decode_lanes(&map, wanted)
}

fn decode_lanes(map: &MemoryMap, lanes: impl IntoIterator<Item = u8>) -> Result<PortMonitors> {
    let mut out = Vec::new();
    // The VDM descriptors of a bank, read once for all its lanes (as `find_vdm` would,
    // first item of the type on the lane wins).
    let mut items: Vec<(u8, Vec<(usize, VdmDescriptor)>)> = Vec::new();
    for n in lanes {
        let lane = Lane::new(n)?;
        let (bank, l) = (lane.bank(), lane.index_in_bank());
        if !items.iter().any(|(b, _)| *b == bank) {
            items.push((bank, map.vdm_items(bank)));
        }
        let bank_items = &items.iter().find(|(b, _)| *b == bank).expect("just read").1;
        let vdm = |t: VdmType| {
            bank_items
                .iter()
                .find(|(_, d)| d.type_id == t && d.lane == l)
                .and_then(|&(i, _)| map.vdm_value(bank, i).ok())
        };
        out.push(LaneMonitors {
            lane: n,
            data_path: map.dp_state(lane).ok(),
            config_status: map.config_status(lane)?,
            active_ap_sel: map.active_dp_config(lane)?.ap_sel,
            tx_power_uw: map.tx_power_uw(lane)?,
            rx_power_uw: map.rx_power_uw(lane)?,
            bias_ma: map.tx_bias_ma(lane)?,
            grid: map.grid_spacing(lane).ok(),
            channel: map.channel(lane)?,
            frequency_mhz: map.current_frequency_mhz(lane)?,
            tuning: map.tuning_status(lane)?,
            laser_freq_error_mhz: vdm(VdmType::LASER_FREQ_ERROR),
            laser_temperature_c: vdm(VdmType::LASER_TEMPERATURE),
            pre_fec_ber: vdm(VdmType::PRE_FEC_BER_CUR_MEDIA),
            pre_fec_ber_max: vdm(VdmType::PRE_FEC_BER_MAX_MEDIA),
        });
    }
    Ok(PortMonitors {
        module_state: map.module_state().ok(),
        temperature_c: map.temperature_c()?,
        vcc_v: map.vcc_v()?,
        lanes: out,
    })
}
