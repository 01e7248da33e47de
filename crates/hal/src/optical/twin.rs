//! The digital twin's optical ports: a simulated CMIS module per topology port whose monitor
//! values come from the physics model.
//!
//! # What is modelled
//!
//! On every [`TwinOptics::advance`] (or [`TwinOpticalPort::advance`]) each port ticks its
//! [`ModuleSim`] once and recomputes, for each lane, from the topology, the seed, the time and
//! the injected faults:
//!
//! * **Module temperature** = the ambient profile the port follows (the topology's active one
//!   from twin start, or one applied later to the rack, the port's host or the port through
//!   [`TwinAmbient`], from the moment of application) at the elapsed time
//!   ([`crate::topology::AmbientProfile::temperature_at`]) + [`MODULE_SELF_HEATING_K`] + a
//!   seeded per-module spread of ±[`SELF_HEATING_SPREAD_K`] + any injected temperature step.
//! * **Microrings**: every port carries a [`RingBankTwin`] (one ring per lane, on the port's
//!   lane lines, physics in [`super::ring_twin`]) behind [`OpticalPlant::ring_bank`], following
//!   the same case temperature ([`super::twin_rings`]). Until HELIOPASS takes a bank over, the
//!   port's lanes use the ideal heater lock below; afterwards their receivers see the bank's
//!   actual ring detuning (the larger of the two ends'), so an untracked bank drifts off its
//!   lanes and its BER shows it.
//! * **Laser**: launch power = the port's `laser.output_power_dbm` + a seeded per-lane spread of
//!   ±[`LAUNCH_SPREAD_DB`] − injected ageing. The laser sits on a TEC that rejects all but
//!   [`LASER_TEC_RESIDUAL`] of the case temperature change since the lane was last locked
//!   (provisioned or tuned); the rest moves its line by `laser.drift_nm_per_k`, reported as the
//!   VDM laser frequency error (Δf = −Δλ·f²/c) and laser temperature. Bias follows a DFB under
//!   a constant drive setpoint: `I = I_th(T_laser) + P_nominal/η`
//!   ([`corridor_physics::DfbDiode::bias_ma`] of [`corridor_physics::DFB_DIODE`], the diode the
//!   planner's energy model uses); ageing lowers the light at that current.
//! * **Received power and pre-FEC BER** of lane *i* come from
//!   [`corridor_physics::evaluate_lane_with`] for the link the port is on: the far end's lane *i*
//!   laser (its launch power and drift, so ageing over there shows up here), the link's length
//!   and loss per cm (medium from the topology), both ends' coupler losses, this port's ring
//!   (radius, Q, drift, heater efficiency from the topology) held by its heater lock against
//!   the ring's temperature change since lock, this port's receiver sensitivity, KP4 FEC and the
//!   RFC's 1e-12 target, at the rate and modulation of the lane's active CMIS Application (the
//!   lane the corridor was granted; before any ApSel, the port's first advertised one).
//! * **Advertised Applications**: ApSel 1 = a whole bank's data path, ApSel 2 = one lane, both
//!   carrying the topology port's `lane_rate_gbps` and `modulation` (media interface IDs from
//!   [`corridor_protocols::cmis::application`]); a port whose lane signal has no media
//!   interface ID is refused. No light arrives (Rx 0 µW, pre-FEC BER 0.5) when the link is cut,
//!   the port has no link, or the far end's lane is not DPActivated.
//! * **Faults** ([`TwinFault`]): laser ageing (dB), ring detuning (nm: the heater loop is
//!   frozen with the ring that far off the laser line; the larger of the two ends' detunings
//!   applies to a lane), link cut, temperature step (°C on the module case).
//!
//! The values are written with the simulator's setters, i.e. encoded into the module's CMIS
//! memory map, and [`OpticalPort::read_monitors`] decodes them back from that map.
//!
//! # Determinism
//!
//! Physics values are a pure function of the topology (with its seed), the time passed to
//! `advance`, the injected faults and the lock points (set by provision/tune at the time of the
//! latest advance). State machines step once per advance or status poll, so their states depend
//! on the number of calls as well; they settle within a few steps. [`TwinOptics::advance`]
//! publishes every port's transmitter state before any port computes its receiver, so the
//! result does not depend on port order.
//!
//! # Simplifications (stated, not hidden)
//!
//! * Both rings of a lane (far-end modulator, near-end filter) share this port's temperature
//!   change and heater lock, as the physics model assumes.
//! * A port's lanes are independent: no crosstalk; every lane sees the same link.
//! * Couplers: the physics model books 1.5 dB per edge facet; the difference to the topology's
//!   `coupler_loss_db` of the two ends is booked under the modulator insertion loss.
//! * No measurement noise: the seed sets unit-to-unit spreads, not per-reading noise.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use corridor_physics::budget::{FIBER_GROUP_INDEX, SIN_GROUP_INDEX, SOI_GROUP_INDEX};
use corridor_physics::lane::DEFAULT_TARGET_BER;
use corridor_physics::technology::{EnergyModel, InsertionLosses, LaneRateOption, Maturity};
use corridor_physics::{
    CorridorTechnology, Couplers, DFB_DIODE, Dbm, Decibels, DeviceTechnology, Fec, Gbaud, Gbps,
    HeaterState, Kelvin, LaneParams, LaneRequirement, LaserModel, Micrometers, Millimeters,
    Milliwatts, ReceiverModel, SiCorridor, evaluate_lane_with,
};
use corridor_protocols::cmis::application::{self, LaneCapability, LaneModulation};
use corridor_protocols::cmis::{
    ByteAddr, DataPathState, GridSpacing, Lane, ModuleSim, PageAddress, ProvisionRequest,
    SimProfile,
};

use super::plant::{
    AmbientScope, OpticalPlant, PlantPort, SharedRingBank, TwinAmbient, TwinFaults,
};
use super::ring_twin::{RingBankConfig, RingBankTwin, grid_wavelengths_nm};
use super::twin_rings::{CaseTemperature, PortRings, RingOptics};
use super::{
    CmisIo, OpticalError, OpticalPort, PortIdentity, PortMonitors, ProvisionReport, Result,
    VENDOR_NAME_OFFSET, VENDOR_PN_OFFSET, VENDOR_SN_OFFSET, VENDOR_TEXT_LEN, check_lane,
    deprovision_via, provision_via, read_identity, read_lane_monitors_via, read_monitors_via,
    tune_via,
};
use crate::Clock;
use crate::topology::{self, AmbientProfile, GridKind, Topology};

/// Module case temperature above the inlet air, K. Assumption: QSFP-DD-class modules run their
/// case 10–20 K above a 25 °C inlet under nominal airflow.
pub const MODULE_SELF_HEATING_K: f64 = 15.0;
/// Seeded unit-to-unit spread of the self-heating, ±K (assumption).
pub const SELF_HEATING_SPREAD_K: f64 = 1.0;
/// Seeded unit-to-unit spread of a lane's launch power, ±dB (assumption).
pub const LAUNCH_SPREAD_DB: f64 = 0.5;
/// Fraction of a case temperature change that reaches the laser chip through its TEC.
/// Assumption: a TEC loop rejecting 90 % of the change; with 0.1 nm/K a 10 K case step moves
/// the line by 0.1 nm (≈ 12.5 GHz).
pub const LASER_TEC_RESIDUAL: f64 = 0.1;
/// TEC setpoint of the laser chip, °C: the DFB model's ([`corridor_physics::DFB_DIODE`]).
pub const LASER_TEC_SETPOINT_C: f64 = DFB_DIODE.tec_setpoint_c;
/// Supply voltage the twin reports, V (QSFP-DD 3.3 V rail).
pub const VCC_V: f64 = 3.3;
/// Pre-FEC BER reported without light: the receiver decides at random.
pub const NO_LIGHT_BER: f64 = 0.5;
/// Status polls a twin poll step may make (the simulated module steps once per poll and
/// settles in a handful of steps).
pub const TWIN_POLLS_PER_STEP: u32 = 64;
/// Edge-coupler loss per facet that `corridor_physics` books (`EDGE_COUPLER_LOSS`).
const PHYSICS_EDGE_COUPLER_DB: f64 = 1.5;
/// Speed of light, m/s (exact, SI).
const C_M_PER_S: f64 = 299_792_458.0;

/// A fault injected into a twin port.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TwinFault {
    /// The lane's laser (all lanes if `None`) emits `db` less at the same drive current.
    LaserAgeing {
        /// Module lane 1–32, or every lane.
        lane: Option<u8>,
        /// Power drop, dB (≥ 0).
        db: f64,
    },
    /// The lane's rings (all lanes if `None`) are held `nm` off the laser line: the heater loop
    /// is frozen there, ambient drift no longer corrected.
    RingDetuning {
        /// Module lane 1–32, or every lane.
        lane: Option<u8>,
        /// Residual detuning, nm.
        nm: f64,
    },
    /// The link the port is on is cut (`true`) or repaired (`false`): both ends lose light.
    LinkCut(bool),
    /// The module case temperature steps by `celsius` (replacing an earlier step).
    TemperatureStep {
        /// Step, °C (may be negative).
        celsius: f64,
    },
    /// The ring heater of the lane (all lanes if `None`) fails open: it no longer heats,
    /// whatever the controller drives, and the ring cools back to its unheated resonance.
    HeaterFailure {
        /// Module lane 1–32, or every lane.
        lane: Option<u8>,
    },
}

/// The faults in effect on one port.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PortFaults {
    /// Laser ageing per lane (index 0 = lane 1), dB.
    pub laser_ageing_db: Vec<f64>,
    /// Ring detuning per lane, nm (0 = the heater lock works).
    pub ring_detuning_nm: Vec<f64>,
    /// Case temperature step, °C.
    pub temperature_step_c: f64,
    /// Whether the port's link is cut.
    pub link_cut: bool,
    /// Ring heaters failed open, per lane (index 0 = lane 1).
    pub heater_failed: Vec<bool>,
}

/// What a port publishes for the far end of its link (its transmitters).
#[derive(Debug, Clone, Default)]
struct Published {
    /// Lane DPActivated (light on).
    tx_on: Vec<bool>,
    /// Launch power per lane, dBm (after spread and ageing).
    launch_dbm: Vec<f64>,
    /// Laser chip temperature change since lock, K.
    laser_delta_t: Vec<f64>,
    /// Per lane, the ring bank's detuning once HELIOPASS drives it, nm.
    ring_detune_nm: Option<Vec<f64>>,
}

/// One lane's inputs to [`TwinOpticalPort::apply_to`]: this end's
/// transmitter, and the far end's when its light reaches this receiver.
#[derive(Debug, Clone, Copy)]
struct LaneInputs {
    tx_on: bool,
    launch_dbm: f64,
    laser_delta_t: f64,
    /// `None` with no link, a cut link, or the far lane dark.
    far: Option<FarLane>,
}

#[derive(Debug, Clone, Copy)]
struct FarLane {
    launch_dbm: f64,
    laser_delta_t: f64,
    /// Worst detuning of either end's ring (a fault, or the bank), nm.
    detune_nm: f64,
}

#[derive(Debug, Default)]
struct Shared {
    published: Vec<Published>,
    faults: Vec<PortFaults>,
    cut_links: Vec<bool>,
}

/// Per-port static physics inputs, from the topology.
#[derive(Debug, Clone)]
struct PortModel {
    index: usize,
    start: DateTime<Utc>,
    self_heating_k: f64,
    launch_dbm: Vec<f64>,
    nominal_launch_dbm: f64,
    laser_drift_nm_per_k: f64,
    ring: corridor_physics::Microring,
    receiver: ReceiverModel,
    coupler_loss_db: f64,
    /// The lane signal before any ApSel: the port's first advertised application.
    rate: Gbps,
    modulation: corridor_physics::Modulation,
    /// Receiver requirement per modulation (NRZ, PAM4) at KP4 and the 1e-12 target.
    requirements: [LaneRequirement; 2],
    grid: GridSpacing,
    link: Option<LinkModel>,
}

#[derive(Debug, Clone)]
struct LinkModel {
    index: usize,
    peer: usize,
    peer_coupler_loss_db: f64,
    peer_laser_drift_nm_per_k: f64,
    medium: corridor_physics::Medium,
    length: Millimeters,
}

#[derive(Debug)]
struct Inner {
    sim: ModuleSim,
    /// Module case temperature when each lane's rings were locked, °C.
    ring_lock_c: Vec<f64>,
    /// Module case temperature when each lane's laser was locked, °C.
    laser_lock_c: Vec<f64>,
    /// Module case temperature at the latest advance, °C.
    module_temp_c: f64,
    /// Time of the latest advance.
    now: DateTime<Utc>,
    /// Per lane, the latest receiver evaluation: its inputs (as bits) and its outcome (Rx µW,
    /// pre-FEC BER). The physics is a pure function of these inputs and the port's static
    /// model, so equal inputs give equal outputs without evaluating again.
    rx_memo: Vec<Option<RxMemo>>,
    /// Whether light reached each receiving lane at the latest evaluation.
    lit: Vec<bool>,
}

/// A memoised receiver evaluation of one lane.
#[derive(Debug, Clone, Copy)]
struct RxMemo {
    key: [u64; 6],
    rx_uw: f64,
    ber: f64,
    chain: LaneChain,
}

/// What the twin evaluated for one receiving lane at its latest advance: the physics inputs
/// (the far end's launch, the link, the lane signal, temperatures, ring detuning) and the
/// model's answer term by term. Modelled, never measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LaneChain {
    /// Launch power of the far end's laser for this lane (seeded unit spread and ageing), dBm.
    pub launch_dbm: f64,
    /// The topology's coupler losses of both ends beyond the model's two 1.5 dB edge couplers,
    /// booked with the modulator's insertion loss, dB.
    pub coupler_excess_db: f64,
    /// Residual ring detuning the lane sees (HELIOPASS's banks or an injected fault), nm.
    pub detune_nm: f64,
    /// The lane's physics inputs as evaluated.
    pub params: corridor_physics::LaneParams,
    /// The model's outcome.
    pub report: corridor_physics::LaneReport,
}

/// One topology optical port in the twin: a [`ModuleSim`] fed by the physics model.
#[derive(Debug)]
pub struct TwinOpticalPort {
    name: String,
    host: String,
    lanes: u8,
    model: PortModel,
    /// The case temperature the module and its rings follow.
    case: Arc<Mutex<CaseTemperature>>,
    /// What the ring bank publishes for this port's receivers.
    ring_optics: Arc<Mutex<RingOptics>>,
    /// Ring heaters failed open (an injected fault), per lane; the bank applies them.
    failed_heaters: Arc<Mutex<Vec<bool>>>,
    /// The module's ring bank (HELIOPASS vendor pages).
    rings: SharedRingBank,
    shared: Arc<Mutex<Shared>>,
    inner: Mutex<Inner>,
}

/// The twin's optical ports, one per topology optical port, sharing fault and link state.
#[derive(Debug)]
pub struct TwinOptics {
    ports: Vec<Arc<TwinOpticalPort>>,
    link_ids: Vec<String>,
    shared: Arc<Mutex<Shared>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// SplitMix64 (Steele, Lea & Flood 2014): a stateless, seedable mixer.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A deterministic number in [−1, 1) for (seed, port, lane, salt).
fn spread(seed: u64, port: usize, lane: usize, salt: u64) -> f64 {
    let h = splitmix64(
        seed ^ splitmix64((port as u64) << 32 ^ (lane as u64) << 8 ^ salt.wrapping_mul(0x9E37)),
    );
    (h >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

fn grid_spacing(port: &topology::OpticalPort) -> Result<GridSpacing> {
    let unsupported = |reason: String| OpticalError::Unsupported {
        port: port.id.as_str().to_owned(),
        reason,
    };
    if port.grid.kind == GridKind::Flex {
        return Err(unsupported(
            "flex grid: CMIS page 12h channel numbering is fixed-grid only in the twin".into(),
        ));
    }
    GridSpacing::ALL
        .into_iter()
        .find(|g| (g.spacing_mhz() as f64 - port.grid.spacing_ghz.0 * 1000.0).abs() < 1e-6)
        .ok_or_else(|| {
            unsupported(format!(
                "{} GHz spacing has no CMIS grid code",
                port.grid.spacing_ghz.0
            ))
        })
}

fn physics_modulation(m: topology::Modulation) -> corridor_physics::Modulation {
    match m {
        topology::Modulation::Nrz => corridor_physics::Modulation::Nrz,
        topology::Modulation::Pam4 => corridor_physics::Modulation::Pam4,
    }
}

/// The lane signal an advertised application carries, as the physics model names it.
fn lane_signal(cap: &LaneCapability) -> (Gbps, corridor_physics::Modulation) {
    let modulation = match cap.media.modulation {
        LaneModulation::Nrz => corridor_physics::Modulation::Nrz,
        LaneModulation::Pam4 => corridor_physics::Modulation::Pam4,
    };
    (Gbps(cap.media.lane_gbps), modulation)
}

fn physics_medium(link: &topology::Link) -> corridor_physics::Medium {
    let group_index = match link.medium {
        topology::Medium::Soi => SOI_GROUP_INDEX,
        topology::Medium::Sin => SIN_GROUP_INDEX,
        topology::Medium::Fiber => FIBER_GROUP_INDEX,
    };
    corridor_physics::Medium::Custom {
        loss_db_per_mm: link.loss_per_cm().0 / 10.0,
        group_index,
    }
}

/// The module a topology port advertises: its lanes, one application for a whole bank's data
/// path (up to 8 lanes, first lane 1) and one for single lanes (any first lane), both carrying
/// the port's lane rate and modulation, its grid and channel range.
fn sim_profile(port: &topology::OpticalPort, lanes: u8, grid: GridSpacing) -> Result<SimProfile> {
    let first = i16::try_from(port.grid.first_channel).unwrap_or(i16::MIN);
    let last = i32::from(first) + i32::from(port.grid.channels) - 1;
    let modulation = match port.modulation {
        topology::Modulation::Nrz => LaneModulation::Nrz,
        topology::Modulation::Pam4 => LaneModulation::Pam4,
    };
    let applications = application::advertisements(port.lane_rate_gbps.0, modulation, lanes.min(8))
        .ok_or_else(|| OpticalError::Unsupported {
            port: port.id.as_str().to_owned(),
            reason: format!(
                "no CMIS media interface ID carries {} Gb/s {:?} lanes",
                port.lane_rate_gbps.0, port.modulation
            ),
        })?;
    Ok(SimProfile {
        lanes,
        identifier: 0x18,
        revision: 0x52,
        media_type: 0x02,
        applications: applications.to_vec(),
        grid,
        channel_range: (first, i16::try_from(last).unwrap_or(i16::MAX)),
    })
}

/// The CMIS module the twin puts behind topology port `port` (its lanes, grid, channel range
/// and its two applications, both carrying the port's lane signal: ApSel 1 = a whole bank,
/// ApSel 2 = a single lane).
/// Use it to simulate the same module behind the Linux backend
/// ([`super::file_module::FileModule`]).
///
/// # Errors
/// [`OpticalError::Unsupported`] for a port the twin cannot model (lanes outside 1–32, a flex
/// grid, a spacing without a CMIS grid code, a lane signal without a media interface ID).
pub fn module_profile(port: &topology::OpticalPort) -> Result<SimProfile> {
    let lanes = u8::try_from(port.lanes)
        .ok()
        .filter(|l| (1..=32).contains(l))
        .ok_or_else(|| OpticalError::Unsupported {
            port: port.id.as_str().to_owned(),
            reason: format!("{} lanes: a CMIS module has 1 to 32", port.lanes),
        })?;
    sim_profile(port, lanes, grid_spacing(port)?)
}

/// A technology assembled for one direction of one lane: this port's ring and receiver, the
/// far end's laser, and the Si-corridor device losses, rates and energy.
#[derive(Debug, Clone, Copy)]
struct LaneTech {
    base: SiCorridor,
    ring: corridor_physics::Microring,
    laser: LaserModel,
    receiver: ReceiverModel,
    losses: InsertionLosses,
}

impl CorridorTechnology for LaneTech {
    fn corridor_type(&self) -> DeviceTechnology {
        DeviceTechnology::SiCorridor
    }
    fn lane_rates(&self) -> &[LaneRateOption] {
        SiCorridor::DEFAULT.lane_rates()
    }
    fn energy(&self) -> EnergyModel {
        self.base.energy
    }
    fn insertion_losses(&self) -> InsertionLosses {
        self.losses
    }
    fn receiver(&self) -> ReceiverModel {
        self.receiver
    }
    fn microring(&self) -> corridor_physics::Microring {
        self.ring
    }
    fn laser(&self) -> LaserModel {
        self.laser
    }
    fn maturity(&self) -> Maturity {
        self.base.maturity()
    }
}

impl PortModel {
    fn new(topo: &Topology, index: usize, lanes: u8) -> Result<Self> {
        let port = &topo.optical_ports()[index];
        let name = port.id.as_str();
        let physics = |source| OpticalError::Physics {
            port: name.to_owned(),
            source,
        };
        let seed = topo.twin().seed;
        let modulation = physics_modulation(port.modulation);
        let requirement_of =
            |m| LaneRequirement::new(m, Fec::Kp4, DEFAULT_TARGET_BER).map_err(physics);
        let requirements = [
            requirement_of(corridor_physics::Modulation::Nrz)?,
            requirement_of(corridor_physics::Modulation::Pam4)?,
        ];
        let requirement =
            requirements[usize::from(modulation == corridor_physics::Modulation::Pam4)];
        let rate = Gbps(port.lane_rate_gbps.0);
        let base = SiCorridor::DEFAULT;
        let ring = corridor_physics::Microring {
            radius: Micrometers(port.ring.radius_um.0),
            group_index: port.ring.group_index,
            loaded_q: port.ring.loaded_q,
            thermal_drift_nm_per_k: port.ring.thermal_drift_nm_per_k.0,
            heater_mw_per_nm: port.ring.heater_efficiency_mw_per_nm.0,
            ..base.ring
        };
        ring.validate().map_err(physics)?;
        // The topology gives the sensitivity at the FEC's pre-FEC threshold at the port's rate:
        // Q there is the requirement's per-eye Q times the number of eyes (NRZ-equivalent).
        let receiver = ReceiverModel {
            sensitivity: Dbm(port.receiver_sensitivity_dbm.0),
            reference_q: requirement.q_eye * f64::from(modulation.eyes()),
            reference_baud: Gbaud(rate.0 / f64::from(modulation.bits_per_symbol())),
        };
        let launch_dbm = (0..usize::from(lanes))
            .map(|l| port.laser.output_power_dbm.0 + LAUNCH_SPREAD_DB * spread(seed, index, l, 1))
            .collect();
        let link = topo
            .links()
            .iter()
            .enumerate()
            .find(|(_, l)| l.touches(name))
            .and_then(|(li, l)| {
                let peer_id = l.other_end(name)?;
                let peer = topo.optical_ports().iter().position(|p| p.id == *peer_id)?;
                let peer_port = &topo.optical_ports()[peer];
                Some(LinkModel {
                    index: li,
                    peer,
                    peer_coupler_loss_db: peer_port.coupler_loss_db.0,
                    peer_laser_drift_nm_per_k: peer_port.laser.drift_nm_per_k.0,
                    medium: physics_medium(l),
                    length: Millimeters(l.length_mm.0),
                })
            });
        Ok(Self {
            index,
            start: topo.twin().start_time,
            self_heating_k: MODULE_SELF_HEATING_K
                + SELF_HEATING_SPREAD_K * spread(seed, index, usize::MAX, 2),
            launch_dbm,
            nominal_launch_dbm: port.laser.output_power_dbm.0,
            laser_drift_nm_per_k: port.laser.drift_nm_per_k.0,
            ring,
            receiver,
            coupler_loss_db: port.coupler_loss_db.0,
            rate,
            modulation,
            requirements,
            grid: grid_spacing(port)?,
            link,
        })
    }

    /// The case temperature of this port under the topology's active profile, from start.
    fn case(&self, topo: &Topology) -> CaseTemperature {
        CaseTemperature {
            profile: topo.active_ambient_profile().clone(),
            origin: self.start,
            self_heating_k: self.self_heating_k,
            step_c: 0.0,
        }
    }
}

/// [`CmisIo`] straight onto the simulated module: host reads/writes as over I2C, and a poll
/// wait is one module step.
struct SimIo<'a>(&'a mut ModuleSim);

impl CmisIo for SimIo<'_> {
    fn read(&mut self, at: ByteAddr, buf: &mut [u8]) -> Result<()> {
        // `ModuleSim::read` without its copy into a fresh Vec: a host read has no side effect.
        buf.copy_from_slice(self.0.map().read_bytes(at.page(), at.offset(), buf.len())?);
        Ok(())
    }
    fn write(&mut self, at: ByteAddr, data: &[u8]) -> Result<()> {
        Ok(self.0.write(at, data)?)
    }
    fn wait(&mut self) {
        self.0.tick();
    }
    fn max_polls(&self, _timeout_ms: u32) -> u32 {
        TWIN_POLLS_PER_STEP
    }
}

impl TwinOpticalPort {
    fn new(topo: &Topology, index: usize, shared: Arc<Mutex<Shared>>) -> Result<Self> {
        let port = &topo.optical_ports()[index];
        let name = port.id.as_str().to_owned();
        let lanes = u8::try_from(port.lanes)
            .ok()
            .filter(|l| (1..=32).contains(l))
            .ok_or_else(|| OpticalError::Unsupported {
                port: name.clone(),
                reason: format!("{} lanes: a CMIS module has 1 to 32", port.lanes),
            })?;
        let model = PortModel::new(topo, index, lanes)?;
        let mut sim = ModuleSim::new(sim_profile(port, lanes, model.grid)?)?;
        // Vendor identity in upper page 00h: module-owned bytes, written as the module's ROM.
        let p00 = sim.map_mut().page_mut(PageAddress::PAGE_00);
        for (offset, value) in [
            (VENDOR_NAME_OFFSET, port.module.vendor_name.as_str()),
            (VENDOR_PN_OFFSET, port.module.part_number.as_str()),
            (VENDOR_SN_OFFSET, port.module.serial.as_str()),
        ] {
            let o = usize::from(offset) - 128;
            let mut field = [b' '; VENDOR_TEXT_LEN];
            for (d, s) in field.iter_mut().zip(value.bytes()) {
                *d = s;
            }
            p00[o..o + VENDOR_TEXT_LEN].copy_from_slice(&field);
        }
        // Lane i starts on the port's i-th channel (host write to page 12h, locked on the tick).
        for n in 1..=lanes {
            let lane = Lane::new(n)?;
            let ch = i64::from(port.grid.first_channel) + i64::from(n - 1);
            let ch = if ch < i64::from(port.grid.first_channel) + i64::from(port.grid.channels) {
                ch
            } else {
                i64::from(port.grid.first_channel)
            };
            let ch = i16::try_from(ch).unwrap_or(0);
            let f = corridor_protocols::cmis::map::fields::channel(lane.index_in_bank())?;
            sim.write(
                ByteAddr::new(PageAddress::new(lane.bank(), 0x12)?, f.offset),
                &ch.to_be_bytes(),
            )?;
        }
        sim.tick();
        let start = model.start;
        let case = model.case(topo);
        let t0 = case.at(start);
        let case = Arc::new(Mutex::new(case));
        let ring_optics = Arc::new(Mutex::new(RingOptics::default()));
        let rings = ring_bank(topo, index, lanes, &model)?;
        let failed_heaters = Arc::new(Mutex::new(vec![false; usize::from(lanes)]));
        let mut rings = PortRings::new(
            rings,
            Arc::clone(&case),
            Arc::clone(&ring_optics),
            Arc::clone(&failed_heaters),
        );
        super::rings::RingBank::set_plant_time(&mut rings, start);
        let rings: Box<dyn super::rings::RingBank + Send> = Box::new(rings);
        Ok(Self {
            name,
            host: port.host.as_str().to_owned(),
            lanes,
            case,
            ring_optics,
            failed_heaters,
            rings: Arc::new(Mutex::new(rings)),
            shared,
            inner: Mutex::new(Inner {
                sim,
                ring_lock_c: vec![t0; usize::from(lanes)],
                laser_lock_c: vec![t0; usize::from(lanes)],
                module_temp_c: t0,
                now: start,
                rx_memo: vec![None; usize::from(lanes)],
                lit: vec![false; usize::from(lanes)],
            }),
            model,
        })
    }

    /// Advances this port alone to `now`: one module step, then the physics with the far
    /// end's transmitter state as last published. [`TwinOptics::advance`] advances every port
    /// in an order-independent way.
    ///
    /// # Errors
    /// Physics or codec errors (a bug or an unphysical topology).
    pub fn advance(&self, now: DateTime<Utc>) -> Result<()> {
        self.step(now);
        self.publish();
        self.apply()
    }

    /// The time of the latest advance.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        lock(&self.inner).now
    }

    /// Injects a fault; it takes effect on this port at once and on the far end at its next
    /// advance.
    ///
    /// # Errors
    /// [`OpticalError::InvalidLane`] for a lane outside the port.
    pub fn inject(&self, fault: TwinFault) -> Result<()> {
        let valued = match fault {
            TwinFault::LaserAgeing { db, .. } => Some((db, 0.0..=60.0, "laser ageing dB")),
            TwinFault::RingDetuning { nm, .. } => Some((nm, -20.0..=20.0, "ring detuning nm")),
            TwinFault::TemperatureStep { celsius } => {
                Some((celsius, -100.0..=100.0, "temperature step"))
            }
            TwinFault::LinkCut(_) | TwinFault::HeaterFailure { .. } => None,
        };
        if let Some((value, range, what)) = valued
            && !range.contains(&value)
        {
            return Err(OpticalError::InvalidFault(format!(
                "{what} {value} outside {}..={}",
                range.start(),
                range.end()
            )));
        }
        let lanes: Vec<usize> = match fault {
            TwinFault::LaserAgeing { lane, .. }
            | TwinFault::RingDetuning { lane, .. }
            | TwinFault::HeaterFailure { lane } => match lane {
                Some(l) => vec![usize::from(
                    check_lane(&self.name, self.lanes, l)?.number() - 1,
                )],
                None => (0..usize::from(self.lanes)).collect(),
            },
            _ => Vec::new(),
        };
        {
            let mut sh = lock(&self.shared);
            if let TwinFault::LinkCut(cut) = fault
                && let Some(link) = &self.model.link
            {
                sh.cut_links[link.index] = cut;
            }
            let f = &mut sh.faults[self.model.index];
            match fault {
                TwinFault::LaserAgeing { db, .. } => {
                    lanes.iter().for_each(|&i| f.laser_ageing_db[i] = db);
                }
                TwinFault::RingDetuning { nm, .. } => {
                    lanes.iter().for_each(|&i| f.ring_detuning_nm[i] = nm);
                }
                TwinFault::TemperatureStep { celsius } => {
                    f.temperature_step_c = celsius;
                    lock(&self.case).step_c = celsius;
                }
                TwinFault::HeaterFailure { .. } => {
                    let mut failed = lock(&self.failed_heaters);
                    lanes.iter().for_each(|&i| failed[i] = true);
                }
                TwinFault::LinkCut(_) => {}
            }
        }
        self.refresh()
    }

    /// Removes every fault of this port (and repairs its link).
    ///
    /// # Errors
    /// As [`Self::advance`].
    pub fn clear_faults(&self) -> Result<()> {
        {
            let mut sh = lock(&self.shared);
            sh.faults[self.model.index] = PortFaults {
                laser_ageing_db: vec![0.0; usize::from(self.lanes)],
                ring_detuning_nm: vec![0.0; usize::from(self.lanes)],
                ..PortFaults::default()
            };
            if let Some(link) = &self.model.link {
                sh.cut_links[link.index] = false;
            }
        }
        lock(&self.case).step_c = 0.0;
        lock(&self.failed_heaters).fill(false);
        self.refresh()
    }

    /// The faults in effect.
    #[must_use]
    pub fn faults(&self) -> PortFaults {
        let sh = lock(&self.shared);
        let mut f = sh.faults[self.model.index].clone();
        f.link_cut = self
            .model
            .link
            .as_ref()
            .is_some_and(|l| sh.cut_links[l.index]);
        f.heater_failed = lock(&self.failed_heaters).clone();
        f
    }

    /// The module's memory map as a linear optoe image (what `/sys/.../eeprom` would hold).
    #[must_use]
    pub fn memory_image(&self) -> Vec<u8> {
        lock(&self.inner).sim.map().to_linear()
    }

    /// Recomputes this port at the time of its latest advance (after a fault or a lock change).
    fn refresh(&self) -> Result<()> {
        let now = self.now();
        self.update_temperature(now);
        self.publish();
        self.apply()
    }

    fn update_temperature(&self, now: DateTime<Utc>) {
        let t = lock(&self.case).at(now);
        let mut inner = lock(&self.inner);
        inner.module_temp_c = t;
        inner.now = now;
    }

    /// The module's ring bank.
    #[must_use]
    pub fn ring_bank(&self) -> SharedRingBank {
        Arc::clone(&self.rings)
    }

    /// The topology host the port belongs to.
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// One module step and the module temperature at `now`.
    fn step(&self, now: DateTime<Utc>) {
        // The rings follow the clock whether or not a controller runs (a bank nobody tracks
        // drifts); a controller holding the bank sets the time itself as it steps.
        if let Ok(mut bank) = self.rings.try_lock() {
            bank.set_plant_time(now);
        }
        lock(&self.inner).sim.tick();
        self.update_temperature(now);
    }

    /// Publishes this port's transmitters for the far end, over the
    /// previous publication (every lane, in place: a provision publishes
    /// once per port, and fresh vectors each time were a good part of its
    /// cost).
    fn publish(&self) {
        let inner = lock(&self.inner);
        let mut sh = lock(&self.shared);
        let Shared {
            published, faults, ..
        } = &mut *sh;
        let faults = &faults[self.model.index];
        let p = &mut published[self.model.index];
        let lanes = usize::from(self.lanes);
        p.tx_on.resize(lanes, false);
        p.launch_dbm.resize(lanes, 0.0);
        p.laser_delta_t.resize(lanes, 0.0);
        for i in 0..lanes {
            p.tx_on[i] = Lane::new(i as u8 + 1)
                .and_then(|l| inner.sim.map().dp_state(l))
                .is_ok_and(|s| s == DataPathState::Activated);
            p.launch_dbm[i] = self.model.launch_dbm[i] - faults.laser_ageing_db[i];
            p.laser_delta_t[i] = (inner.module_temp_c - inner.laser_lock_c[i]) * LASER_TEC_RESIDUAL;
        }
        let rings = lock(&self.ring_optics);
        match (&mut p.ring_detune_nm, &rings.detune_nm) {
            (Some(mine), Some(theirs)) => mine.clone_from(theirs),
            (mine, theirs) => *mine = theirs.clone(),
        }
    }

    /// Computes every lane's physics and writes it into the module's memory map.
    fn apply(&self) -> Result<()> {
        self.apply_to(0..usize::from(self.lanes))
    }

    /// Computes the physics of `lanes` (0-based) and writes it into the module's memory map.
    /// A provision, tune or deprovision changes only its own lanes' inputs (the others'
    /// transmitters, temperatures and far ends stay as they were until the next advance), so it
    /// rewrites only those: rewriting every lane cost a tenth of corridord's CPU per grant, and
    /// counted a BER sample on lanes nobody touched.
    fn apply_to(&self, lanes: impl IntoIterator<Item = usize>) -> Result<()> {
        // Each lane's inputs, copied out of the shared state under its lock
        // (not the publications and faults of both ends: fourteen vectors).
        let inputs: Vec<(usize, LaneInputs)> = {
            let sh = lock(&self.shared);
            let own = &sh.published[self.model.index];
            let own_faults = &sh.faults[self.model.index];
            let far = self
                .model
                .link
                .as_ref()
                .filter(|l| !sh.cut_links[l.index])
                .map(|l| (&sh.published[l.peer], &sh.faults[l.peer]));
            let bank = |p: &Published, i: usize| {
                p.ring_detune_nm
                    .as_ref()
                    .and_then(|d| d.get(i).copied())
                    .unwrap_or(0.0)
            };
            lanes
                .into_iter()
                .map(|i| {
                    let far = far
                        .filter(|(peer, _)| peer.tx_on.get(i).copied().unwrap_or(false))
                        .map(|(peer, peer_faults)| FarLane {
                            launch_dbm: peer.launch_dbm[i],
                            laser_delta_t: peer.laser_delta_t[i],
                            detune_nm: own_faults.ring_detuning_nm[i]
                                .abs()
                                .max(peer_faults.ring_detuning_nm.get(i).map_or(0.0, |d| d.abs()))
                                .max(bank(own, i))
                                .max(bank(peer, i)),
                        });
                    let lane = LaneInputs {
                        tx_on: own.tx_on[i],
                        launch_dbm: own.launch_dbm[i],
                        laser_delta_t: own.laser_delta_t[i],
                        far,
                    };
                    (i, lane)
                })
                .collect()
        };
        let mut guard = lock(&self.inner);
        let inner = &mut *guard;
        let m = &self.model;
        let sim = &mut inner.sim;
        let t_case = inner.module_temp_c;
        sim.set_temperature_c(t_case)?;
        sim.set_vcc_v(VCC_V)?;
        for (i, own) in inputs {
            let lane = Lane::new(i as u8 + 1)?;
            // Transmitter of this lane.
            let laser_dt = own.laser_delta_t;
            let t_laser = LASER_TEC_SETPOINT_C + laser_dt;
            let active = own.tx_on;
            sim.set_tx_power_uw(lane, 1000.0 * 10f64.powf(own.launch_dbm / 10.0))?;
            let bias =
                DFB_DIODE.bias_ma(Milliwatts(10f64.powf(m.nominal_launch_dbm / 10.0)), t_laser);
            sim.set_bias_ma(lane, if active { bias } else { 0.0 })?;
            sim.set_laser_temperature_c(lane, t_laser)?;
            let shift_nm = m.laser_drift_nm_per_k * laser_dt;
            let f_mhz = sim
                .map()
                .grid_spacing(lane)
                .map_or(m.grid, |g| g)
                .channel_to_mhz(sim.map().channel(lane)?) as f64;
            // Δf = −Δλ·f²/c (MHz from nm: f in MHz → Hz, Δλ in m).
            let err_mhz = -(shift_nm * 1e-9) * (f_mhz * 1e6).powi(2) / C_M_PER_S / 1e6;
            sim.set_laser_freq_error_mhz(lane, err_mhz)?;

            // Receiver of this lane: light from the far end's lane i over the link.
            let (rx_uw, ber) = match (&m.link, own.far) {
                (Some(link), Some(far)) => {
                    let (rate, modulation) = self.lane_signal(sim, lane);
                    let inputs = [
                        far.launch_dbm,
                        far.laser_delta_t,
                        t_case - inner.ring_lock_c[i],
                        far.detune_nm,
                        rate.0,
                        f64::from(modulation.bits_per_symbol()),
                    ];
                    let key = inputs.map(f64::to_bits);
                    match inner.rx_memo[i] {
                        Some(memo) if memo.key == key => {
                            inner.lit[i] = true;
                            (memo.rx_uw, memo.ber)
                        }
                        _ => {
                            let chain = self.evaluate(
                                link,
                                [inputs[0], inputs[1], inputs[2], inputs[3]],
                                rate,
                                modulation,
                            )?;
                            let r = chain.report;
                            let out = (1000.0 * 10f64.powf(r.received_dbm.0 / 10.0), r.pre_fec_ber);
                            inner.rx_memo[i] = Some(RxMemo {
                                key,
                                rx_uw: out.0,
                                ber: out.1,
                                chain,
                            });
                            inner.lit[i] = true;
                            out
                        }
                    }
                }
                _ => {
                    inner.lit[i] = false;
                    (0.0, NO_LIGHT_BER)
                }
            };
            sim.set_rx_power_uw(lane, rx_uw)?;
            sim.set_pre_fec_ber(lane, ber)?;
        }
        Ok(())
    }

    /// The lane signal of `lane`: its active application's, else the port's default.
    fn lane_signal(&self, sim: &ModuleSim, lane: Lane) -> (Gbps, corridor_physics::Modulation) {
        sim.map()
            .active_dp_config(lane)
            .ok()
            .map(|c| c.ap_sel)
            .filter(|&ap| ap != 0)
            .and_then(|ap| LaneCapability::of(ap, &sim.map().application(ap).ok()?))
            .map_or((self.model.rate, self.model.modulation), |cap| {
                lane_signal(&cap)
            })
    }

    /// The receiver of one lane: `[launch dBm, laser ΔT, ring ΔT, detuning nm]` at the lane
    /// signal `rate`, `modulation`.
    fn evaluate(
        &self,
        link: &LinkModel,
        [launch_dbm, laser_dt, ring_dt, detune_nm]: [f64; 4],
        rate: Gbps,
        modulation: corridor_physics::Modulation,
    ) -> Result<LaneChain> {
        let m = &self.model;
        let base = SiCorridor::DEFAULT;
        let excess = m.coupler_loss_db + link.peer_coupler_loss_db - 2.0 * PHYSICS_EDGE_COUPLER_DB;
        let tech = LaneTech {
            base,
            ring: m.ring,
            laser: LaserModel {
                launch_power: Dbm(launch_dbm),
                drift_nm_per_k: link.peer_laser_drift_nm_per_k,
                ..base.laser
            },
            receiver: m.receiver,
            losses: InsertionLosses {
                modulator: Decibels((base.losses.modulator.0 + excess).max(0.0)),
                ..base.losses
            },
        };
        let mut p = LaneParams::new(
            &tech,
            link.medium,
            link.length,
            Couplers {
                grating: 0,
                edge: 2,
            },
            u32::from(self.lanes) - 1,
            rate,
            modulation,
        );
        // The physics model accepts ±300 K; the fault ranges keep inputs well inside it.
        p.laser_delta_t = Kelvin(laser_dt.clamp(-300.0, 300.0));
        p.ring_delta_t = Kelvin(ring_dt.clamp(-300.0, 300.0));
        if detune_nm > 0.0 && m.ring.thermal_drift_nm_per_k > 0.0 {
            // Frozen heater: an open loop whose ring sits `detune_nm` off the laser line.
            let laser_shift = link.peer_laser_drift_nm_per_k * laser_dt;
            p.heater = HeaterState::Open {
                bias: m.ring.default_bias,
            };
            p.ring_delta_t = Kelvin(
                ((detune_nm + laser_shift) / m.ring.thermal_drift_nm_per_k).clamp(-300.0, 300.0),
            );
        } else {
            p.heater = HeaterState::Locked {
                bias: Milliwatts(m.ring.default_bias.0),
            };
        }
        let requirement =
            &m.requirements[usize::from(modulation == corridor_physics::Modulation::Pam4)];
        let report =
            evaluate_lane_with(&tech, &p, requirement).map_err(|source| OpticalError::Physics {
                port: self.name.clone(),
                source,
            })?;
        Ok(LaneChain {
            launch_dbm,
            coupler_excess_db: excess,
            detune_nm,
            params: p,
            report,
        })
    }

    /// The physics of receiving lane `i` (0-based) at the latest advance; `None` while no
    /// light reaches it.
    fn lane_chain(&self, i: usize) -> Option<LaneChain> {
        let inner = lock(&self.inner);
        if !inner.lit.get(i).copied().unwrap_or(false) {
            return None;
        }
        inner.rx_memo.get(i).copied().flatten().map(|m| m.chain)
    }

    /// Marks `lanes` (0-based) as locked at the current case temperature and clears their BER
    /// statistics (a fresh data path / a re-centred laser).
    fn relock(&self, inner: &mut Inner, lanes: &[usize], rings: bool) -> Result<()> {
        for &i in lanes {
            inner.laser_lock_c[i] = inner.module_temp_c;
            if rings {
                inner.ring_lock_c[i] = inner.module_temp_c;
                inner.sim.reset_ber_stats(Lane::new(i as u8 + 1)?)?;
            }
        }
        Ok(())
    }
}

impl OpticalPort for TwinOpticalPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn lanes(&self) -> u8 {
        self.lanes
    }

    fn identity(&self) -> Result<PortIdentity> {
        read_identity(&mut SimIo(&mut lock(&self.inner).sim))
    }

    fn provision(&self, req: &ProvisionRequest) -> Result<ProvisionReport> {
        let (report, lanes) = {
            let mut guard = lock(&self.inner);
            let inner = &mut *guard;
            let mask = req.lane_mask();
            for n in (1..=8u8).filter(|n| mask & (1 << (n - 1)) != 0) {
                check_lane(&self.name, self.lanes, Lane::in_bank(req.bank, n)?.number())?;
            }
            let report = provision_via(&mut SimIo(&mut inner.sim), req)?;
            let idx: Vec<usize> = report.lanes.iter().map(|&n| usize::from(n - 1)).collect();
            self.relock(inner, &idx, true)?;
            (report, idx)
        };
        self.publish();
        self.apply_to(lanes)?;
        Ok(report)
    }

    fn tune(&self, lane: u8, channel: i16) -> Result<()> {
        let lane = check_lane(&self.name, self.lanes, lane)?;
        {
            let mut guard = lock(&self.inner);
            let inner = &mut *guard;
            tune_via(&mut SimIo(&mut inner.sim), lane, channel)?;
            self.relock(inner, &[usize::from(lane.number() - 1)], false)?;
        }
        self.publish();
        self.apply_to([usize::from(lane.number() - 1)])
    }

    fn read_monitors(&self) -> Result<PortMonitors> {
        read_monitors_via(&mut SimIo(&mut lock(&self.inner).sim), self.lanes)
    }

    fn read_lane_monitors(&self, only: &[u8]) -> Result<PortMonitors> {
        read_lane_monitors_via(&mut SimIo(&mut lock(&self.inner).sim), self.lanes, only)
    }

    fn deprovision(&self, lanes: &[u8]) -> Result<()> {
        let lanes = lanes
            .iter()
            .map(|&l| check_lane(&self.name, self.lanes, l))
            .collect::<Result<Vec<_>>>()?;
        deprovision_via(&mut SimIo(&mut lock(&self.inner).sim), &lanes)?;
        self.publish();
        self.apply_to(lanes.iter().map(|l| usize::from(l.number() - 1)))
    }
}

impl TwinOptics {
    /// One twin port per topology optical port (file order), advanced to the twin's start time.
    ///
    /// # Errors
    /// [`OpticalError::Unsupported`] for a port the twin cannot model (more than 32 lanes, a
    /// flex grid or a spacing without a CMIS grid code), physics errors for unphysical ring
    /// parameters.
    pub fn new(topo: &Topology) -> Result<Self> {
        let n = topo.optical_ports().len();
        let shared = Arc::new(Mutex::new(Shared {
            published: vec![Published::default(); n],
            faults: topo
                .optical_ports()
                .iter()
                .map(|p| {
                    let lanes = usize::from(p.lanes.min(32));
                    PortFaults {
                        laser_ageing_db: vec![0.0; lanes],
                        ring_detuning_nm: vec![0.0; lanes],
                        ..PortFaults::default()
                    }
                })
                .collect(),
            cut_links: vec![false; topo.links().len()],
        }));
        let ports = (0..n)
            .map(|i| TwinOpticalPort::new(topo, i, Arc::clone(&shared)).map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        let optics = Self {
            ports,
            link_ids: topo
                .links()
                .iter()
                .map(|l| l.id.as_str().to_owned())
                .collect(),
            shared,
        };
        optics.advance(topo.twin().start_time)?;
        Ok(optics)
    }

    /// Every port, in topology order.
    #[must_use]
    pub fn ports(&self) -> &[Arc<TwinOpticalPort>] {
        &self.ports
    }

    /// The port with this topology id.
    #[must_use]
    pub fn port(&self, id: &str) -> Option<&Arc<TwinOpticalPort>> {
        self.ports.iter().find(|p| p.name == id)
    }

    /// Every port behind the HAL trait.
    #[must_use]
    pub fn optical_ports(&self) -> Vec<Arc<dyn OpticalPort>> {
        self.ports
            .iter()
            .map(|p| Arc::clone(p) as Arc<dyn OpticalPort>)
            .collect()
    }

    /// Advances every port to `now`: one module step each, then every transmitter is published
    /// before any receiver is computed.
    ///
    /// # Errors
    /// Physics or codec errors (a bug or an unphysical topology).
    pub fn advance(&self, now: DateTime<Utc>) -> Result<()> {
        for p in &self.ports {
            p.step(now);
        }
        for p in &self.ports {
            p.publish();
        }
        for p in &self.ports {
            p.apply()?;
        }
        Ok(())
    }

    /// [`Self::advance`] to the clock's current time.
    ///
    /// # Errors
    /// As [`Self::advance`].
    pub fn advance_to(&self, clock: &dyn Clock) -> Result<()> {
        self.advance(clock.now())
    }

    /// Cuts (or repairs) link `link_id`; takes effect at the next advance. Returns whether the
    /// link exists.
    pub fn set_link_cut(&self, link_id: &str, cut: bool) -> bool {
        match self.link_ids.iter().position(|l| l == link_id) {
            Some(i) => {
                lock(&self.shared).cut_links[i] = cut;
                true
            }
            None => false,
        }
    }
}

/// The ring bank of port `index`: one ring per lane on the port's lane lines (lane *k* on the
/// grid's channel `first_channel + k`, as the port's lasers start), the topology's ring design,
/// designed for the nominal case temperature (25 °C inlet + [`MODULE_SELF_HEATING_K`]), seeded
/// per port.
fn ring_bank(topo: &Topology, index: usize, lanes: u8, model: &PortModel) -> Result<RingBankTwin> {
    let port = &topo.optical_ports()[index];
    let spacing = port.grid.spacing_ghz.0;
    let first_thz = 193.1 + f64::from(port.grid.first_channel) * spacing * 1e-3;
    let mut cfg = RingBankConfig::new(
        usize::from(lanes),
        splitmix64(topo.twin().seed ^ splitmix64(index as u64 ^ 0x7269_6e67)),
    );
    cfg.laser_nm = grid_wavelengths_nm(usize::from(lanes), first_thz, spacing);
    cfg.ring = corridor_physics::Microring {
        heater_max: cfg.ring.heater_max,
        default_bias: cfg.ring.default_bias,
        ..model.ring
    };
    cfg.reference_c = 25.0 + MODULE_SELF_HEATING_K;
    RingBankTwin::new(cfg)
}

impl TwinAmbient for TwinOptics {
    fn apply_ambient(
        &self,
        scope: &AmbientScope,
        profile: &AmbientProfile,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let chosen: Vec<&Arc<TwinOpticalPort>> = match scope {
            AmbientScope::Rack => self.ports.iter().collect(),
            AmbientScope::Host(h) => self.ports.iter().filter(|p| p.host == *h).collect(),
            AmbientScope::Port(id) => vec![self.port_or_unknown(id)?],
        };
        if chosen.is_empty() {
            let AmbientScope::Host(h) = scope else {
                unreachable!("a rack has ports and a port scope is one port")
            };
            return Err(OpticalError::UnknownPort {
                port: format!("(any optical port of host {h})"),
            });
        }
        for p in &chosen {
            {
                let mut case = lock(&p.case);
                case.profile = profile.clone();
                case.origin = now;
            }
            p.refresh()?;
        }
        Ok(chosen.iter().map(|p| p.name.clone()).collect())
    }

    fn ambient_of(&self, id: &str) -> Option<(AmbientProfile, DateTime<Utc>)> {
        let p = TwinOptics::port(self, id)?;
        let case = lock(&p.case);
        Some((case.profile.clone(), case.origin))
    }
}

impl TwinOptics {
    /// The receiver of module lane `lane` (1-based) of port `id` as the twin computes it when
    /// the lane's rings sit `detune_nm` off the laser line (the larger of the two ends'
    /// detunings, applied to both the far-end modulator and this end's drop filter, as
    /// [`TwinOpticalPort`] does once HELIOPASS drives the bank): the far end's lane laser at its
    /// seeded launch power without ageing, its laser locked (no TEC residual), the port's
    /// default lane signal, KP4 and the 1e-12 target. The same
    /// [`corridor_physics::evaluate_lane_with`] call the port's receivers make, so benchmarks
    /// can turn a ring's tracking error into the post-FEC BER the twin would report.
    ///
    /// # Errors
    /// [`OpticalError::UnknownPort`], [`OpticalError::InvalidLane`],
    /// [`OpticalError::Unsupported`] for a port without a link, physics errors.
    pub fn lane_at_detuning(
        &self,
        id: &str,
        lane: u8,
        detune_nm: f64,
    ) -> Result<corridor_physics::LaneReport> {
        let port = self.port_or_unknown(id)?;
        let i = usize::from(check_lane(&port.name, port.lanes, lane)?.number() - 1);
        let link = port
            .model
            .link
            .as_ref()
            .ok_or_else(|| OpticalError::Unsupported {
                port: port.name.clone(),
                reason: "no link: no light reaches its receivers".into(),
            })?;
        let launch = self.ports[link.peer].model.launch_dbm[i];
        port.evaluate(
            link,
            [launch, 0.0, 0.0, detune_nm.abs()],
            port.model.rate,
            port.model.modulation,
        )
        .map(|chain| chain.report)
    }

    fn port_or_unknown(&self, id: &str) -> Result<&Arc<TwinOpticalPort>> {
        self.port(id).ok_or_else(|| OpticalError::UnknownPort {
            port: id.to_owned(),
        })
    }
}

impl OpticalPlant for TwinOptics {
    fn backend(&self) -> &'static str {
        "twin"
    }

    fn readings_are_modelled(&self) -> bool {
        true
    }

    fn port(&self, id: &str) -> Option<&dyn OpticalPort> {
        TwinOptics::port(self, id).map(|p| p.as_ref() as &dyn OpticalPort)
    }

    fn inventory(&self) -> Vec<PlantPort> {
        self.ports
            .iter()
            .map(|p| PlantPort {
                id: p.name.clone(),
                lanes: p.lanes,
                device: None,
            })
            .collect()
    }

    fn advance(&self, now: DateTime<Utc>) -> Result<()> {
        TwinOptics::advance(self, now)
    }

    fn settle(&self, ports: &[String], lanes: &[u8], now: DateTime<Utc>) -> Result<()> {
        for id in ports {
            if let Some(p) = TwinOptics::port(self, id) {
                let touched = lanes
                    .iter()
                    .map(|&l| check_lane(&p.name, p.lanes, l).map(|l| usize::from(l.number() - 1)))
                    .collect::<Result<Vec<_>>>()?;
                p.step(now);
                p.publish();
                // Only the lanes the far end just lit: recomputing all eight
                // was most of a bring-up's settle (BENCHMARKS.md).
                p.apply_to(touched)?;
            }
        }
        Ok(())
    }

    fn blocks(&self) -> bool {
        // Every operation is a step of an in-memory simulator: no sleep, no device.
        false
    }

    fn twin_faults(&self) -> Option<&dyn TwinFaults> {
        Some(self)
    }

    fn lane_model(&self, id: &str, lane: u8) -> Result<Option<LaneChain>> {
        let port = self.port_or_unknown(id)?;
        let i = usize::from(check_lane(&port.name, port.lanes, lane)?.number() - 1);
        Ok(port.lane_chain(i))
    }

    fn ring_bank(&self, id: &str) -> Result<Option<SharedRingBank>> {
        Ok(TwinOptics::port(self, id).map(|p| p.ring_bank()))
    }

    fn twin_ambient(&self) -> Option<&dyn TwinAmbient> {
        Some(self)
    }
}

impl TwinFaults for TwinOptics {
    fn inject(&self, port: &str, fault: TwinFault) -> Result<()> {
        self.port_or_unknown(port)?.inject(fault)
    }

    fn clear(&self, port: &str) -> Result<()> {
        self.port_or_unknown(port)?.clear_faults()
    }

    fn cut_link(&self, link: &str, cut: bool) -> Result<()> {
        if self.set_link_cut(link, cut) {
            Ok(())
        } else {
            Err(OpticalError::UnknownLink {
                link: link.to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::optical::LaneMonitors;

    fn optics_with(profile: &str, seed: u64) -> TwinOptics {
        let mut doc = Topology::default_twin().into_document();
        doc.twin.ambient_profile = crate::topology::ProfileName::new(profile).unwrap();
        doc.twin.seed = seed;
        TwinOptics::new(&Topology::from_document(doc, "test").unwrap()).unwrap()
    }

    fn at(optics: &TwinOptics, s: i64) -> DateTime<Utc> {
        let p = &optics.ports()[0];
        p.model.start + TimeDelta::seconds(s)
    }

    /// Provisions the 8-lane data path on both ends of l-h0-h1-a and advances 1 s.
    fn lit(optics: &TwinOptics) -> (Arc<TwinOpticalPort>, Arc<TwinOpticalPort>) {
        let a = Arc::clone(optics.port("op-h0-0").unwrap());
        let b = Arc::clone(optics.port("op-h1-0").unwrap());
        for p in [&a, &b] {
            let r = p.provision(&ProvisionRequest::new(1, 0, 1, 8)).unwrap();
            assert_eq!(r.lanes, (1..=8).collect::<Vec<_>>());
        }
        optics.advance(at(optics, 1)).unwrap();
        (a, b)
    }

    fn lane1(p: &TwinOpticalPort) -> LaneMonitors {
        p.read_monitors().unwrap().lanes[0].clone()
    }

    #[test]
    fn lane_monitors_are_the_full_read_filtered() {
        let optics = optics_with("steady-lab", 7);
        let (a, _) = lit(&optics);
        let all = a.read_monitors().unwrap();
        let some = a.read_lane_monitors(&[2, 5, 9, 0]).unwrap();
        let expected: Vec<_> = all
            .lanes
            .iter()
            .filter(|l| [2, 5].contains(&l.lane))
            .cloned()
            .collect();
        assert_eq!(some.lanes, expected);
        assert_eq!(some.temperature_c, all.temperature_c);
    }

    #[test]
    fn provisioning_through_the_trait_reaches_activated_and_lights_the_far_end() {
        let optics = optics_with("steady-lab", 7);
        let a = optics.port("op-h0-0").unwrap();
        let before = a.read_monitors().unwrap();
        assert!(
            before
                .lanes
                .iter()
                .all(|l| l.data_path == Some(DataPathState::Deactivated))
        );
        assert!(
            before
                .lanes
                .iter()
                .all(|l| l.rx_power_uw == 0.0 && l.tx_power_uw == 0.0)
        );
        let (a, b) = lit(&optics);
        for p in [&a, &b] {
            let m = p.read_monitors().unwrap();
            assert_eq!(
                m.module_state,
                Some(corridor_protocols::cmis::ModuleState::Ready)
            );
            for l in &m.lanes {
                assert_eq!(l.data_path, Some(DataPathState::Activated), "{l:?}");
                assert_eq!(l.active_ap_sel, 1);
                // 0 dBm ± 0.5 dB spread.
                assert!((l.tx_power_dbm()).abs() <= 0.51, "{l:?}");
                // 0 dBm − (0.4 SiN + 3 couplers + 1 modulator + 7·0.05 rings + 1 drop) ≈ −5.75.
                assert!((l.rx_power_dbm() + 5.75).abs() < 0.6, "{l:?}");
                // PAM4 with ~3 dB over the KP4 threshold: a decade under it and more.
                assert!(l.pre_fec_ber.unwrap() < 2.4e-5, "{l:?}");
                assert!(l.bias_ma > 10.0 && l.bias_ma < 40.0);
            }
        }
        // A single-lane data path (ApSel 2) elsewhere.
        let c = optics.port("op-h0-1").unwrap();
        let r = c.provision(&ProvisionRequest::new(2, 0, 3, 1)).unwrap();
        assert_eq!(r.lanes, vec![3]);
        assert_eq!(lane_of(c, 3).data_path, Some(DataPathState::Activated));
        assert_eq!(lane_of(c, 2).data_path, Some(DataPathState::Deactivated));
        // Lanes outside the port and rejected applications are errors.
        assert!(matches!(
            c.provision(&ProvisionRequest::new(2, 1, 1, 1)),
            Err(OpticalError::InvalidLane { .. })
        ));
        assert!(c.provision(&ProvisionRequest::new(1, 0, 2, 8)).is_err());
    }

    /// The advertised Applications are the port's lane capability: each carries exactly the
    /// topology port's lane rate and modulation, on a bank and on a single lane.
    #[test]
    fn every_port_advertises_the_lane_its_topology_port_carries() {
        let topo = Topology::default_twin();
        let optics = TwinOptics::new(&topo).unwrap();
        for port in topo.optical_ports() {
            let id = optics.port(port.id.as_str()).unwrap().identity().unwrap();
            let caps: Vec<LaneCapability> = id
                .applications
                .iter()
                .map(|(ap, d)| LaneCapability::of(*ap, d).unwrap())
                .collect();
            assert_eq!(caps.len(), 2, "{}", port.id.as_str());
            for cap in &caps {
                let modulation = match port.modulation {
                    topology::Modulation::Nrz => LaneModulation::Nrz,
                    topology::Modulation::Pam4 => LaneModulation::Pam4,
                };
                assert_eq!(
                    (cap.media.lane_gbps, cap.media.modulation),
                    (port.lane_rate_gbps.0, modulation),
                    "{} {}",
                    port.id.as_str(),
                    cap.describe()
                );
            }
            assert_eq!((caps[0].ap_sel, caps[0].media_lanes), (1, 8));
            assert_eq!((caps[1].ap_sel, caps[1].media_lanes), (2, 1));
        }
        // The RFC's lane on the SiN waveguide ports: 400GBASE-FR8's.
        let sin = optics.port("op-h0-0").unwrap().identity().unwrap();
        assert_eq!(sin.applications[0].1.media_interface_id, 26);
    }

    fn lane_of(p: &TwinOpticalPort, n: u8) -> LaneMonitors {
        p.read_monitors().unwrap().lane(n).unwrap().clone()
    }

    #[test]
    fn monitors_follow_an_ambient_step() {
        // cooling-failure: base 24 °C, 29 °C at 1 h, 34 °C at 1.5 h, ±0.5 °C cycling.
        let optics = optics_with("cooling-failure", 1);
        let (a, _b) = lit(&optics);
        optics.advance(at(&optics, 1800)).unwrap();
        let t1 = a.read_monitors().unwrap().temperature_c;
        let l1 = lane1(&a);
        optics.advance(at(&optics, 6000)).unwrap();
        let t2 = a.read_monitors().unwrap().temperature_c;
        let l2 = lane1(&a);
        assert!(t2 - t1 > 8.5 && t2 - t1 < 11.5, "{t1} → {t2}");
        // 10 K on the case → 1 K on the laser (TEC) → 0.1 nm → about −12.5 GHz.
        let e1 = l1.laser_freq_error_mhz.unwrap();
        let e2 = l2.laser_freq_error_mhz.unwrap();
        assert!(e2 - e1 < -9_000.0 && e2 - e1 > -16_000.0, "{e1} → {e2}");
        assert!(l2.laser_temperature_c.unwrap() > l1.laser_temperature_c.unwrap() + 0.8);
        assert!(l2.bias_ma > l1.bias_ma);
        assert_ne!(l2.frequency_mhz, l1.frequency_mhz);
        // The heaters hold the rings on the line: received power stays put.
        assert!((l2.rx_power_dbm() - l1.rx_power_dbm()).abs() < 0.05);
        // Cooling restored at 2.5 h.
        optics.advance(at(&optics, 9600)).unwrap();
        let t3 = a.read_monitors().unwrap().temperature_c;
        assert!((t3 - t1).abs() < 1.5, "{t1} vs {t3}");
    }

    #[test]
    fn injected_faults_move_the_monitors() {
        let optics = optics_with("steady-lab", 3);
        let (a, b) = lit(&optics);
        let base = lane1(&a);
        let base2 = lane_of(&a, 2);
        let base_b = lane1(&b);

        // Laser ageing at the far end: 3 dB less light here, 3 dB less Tx there.
        b.inject(TwinFault::LaserAgeing {
            lane: Some(1),
            db: 3.0,
        })
        .unwrap();
        optics.advance(at(&optics, 2)).unwrap();
        let aged = lane1(&a);
        assert!((base.rx_power_dbm() - aged.rx_power_dbm() - 3.0).abs() < 0.02);
        assert!((base_b.tx_power_dbm() - lane1(&b).tx_power_dbm() - 3.0).abs() < 0.02);
        assert_eq!(
            lane_of(&a, 2).rx_power_uw,
            base2.rx_power_uw,
            "only lane 1 aged"
        );
        b.clear_faults().unwrap();

        // Ring detuning: Lorentzian penalty on both rings, BER rises.
        a.inject(TwinFault::RingDetuning {
            lane: None,
            nm: 0.05,
        })
        .unwrap();
        optics.advance(at(&optics, 3)).unwrap();
        let detuned = lane1(&a);
        assert!(
            base.rx_power_dbm() - detuned.rx_power_dbm() > 2.0,
            "{detuned:?}"
        );
        assert!(detuned.pre_fec_ber.unwrap() > base.pre_fec_ber.unwrap());
        a.clear_faults().unwrap();

        // Temperature step beyond the heater's headroom: the lock is lost.
        a.inject(TwinFault::TemperatureStep { celsius: 40.0 })
            .unwrap();
        optics.advance(at(&optics, 4)).unwrap();
        let hot = a.read_monitors().unwrap();
        assert!(hot.temperature_c > 25.0 + MODULE_SELF_HEATING_K + 38.0);
        assert!(base.rx_power_dbm() - hot.lanes[0].rx_power_dbm() > 10.0);
        assert!(hot.lanes[0].pre_fec_ber.unwrap() > 1e-3);
        a.clear_faults().unwrap();

        // Link cut: no light at either end.
        a.inject(TwinFault::LinkCut(true)).unwrap();
        assert!(b.faults().link_cut);
        optics.advance(at(&optics, 5)).unwrap();
        for p in [&a, &b] {
            let l = lane1(p);
            assert_eq!(l.rx_power_uw, 0.0);
            assert_eq!(l.pre_fec_ber, Some(NO_LIGHT_BER));
        }
        a.clear_faults().unwrap();
        optics.advance(at(&optics, 6)).unwrap();
        assert!((lane1(&a).rx_power_dbm() - base.rx_power_dbm()).abs() < 1e-3);
        assert!(optics.set_link_cut("l-h0-h1-a", true));
        assert!(!optics.set_link_cut("nope", true));
        assert!(
            a.inject(TwinFault::LaserAgeing {
                lane: Some(9),
                db: 1.0
            })
            .is_err()
        );
        assert!(
            a.inject(TwinFault::LaserAgeing {
                lane: None,
                db: f64::NAN
            })
            .is_err()
        );
        assert!(
            a.inject(TwinFault::TemperatureStep { celsius: 500.0 })
                .is_err()
        );
        // The largest detuning allowed still evaluates.
        a.inject(TwinFault::RingDetuning {
            lane: None,
            nm: 20.0,
        })
        .unwrap();
        optics.advance(at(&optics, 7)).unwrap();
    }

    #[test]
    fn lane_at_detuning_is_what_the_receiver_reports() {
        let optics = optics_with("steady-lab", 3);
        let (a, _b) = lit(&optics);
        let at0 = optics.lane_at_detuning(&a.name, 1, 0.0).unwrap();
        assert!((lane1(&a).rx_power_dbm() - at0.received_dbm.0).abs() < 0.01);
        a.inject(TwinFault::RingDetuning {
            lane: Some(1),
            nm: 0.05,
        })
        .unwrap();
        optics.advance(at(&optics, 3)).unwrap();
        let detuned = lane1(&a);
        for d in [0.05, -0.05] {
            let model = optics.lane_at_detuning(&a.name, 1, d).unwrap();
            assert!((detuned.rx_power_dbm() - model.received_dbm.0).abs() < 0.01);
            let ber = detuned.pre_fec_ber.unwrap();
            assert!(((ber - model.pre_fec_ber) / model.pre_fec_ber).abs() < 0.01);
        }
        assert!(optics.lane_at_detuning(&a.name, 9, 0.0).is_err());
        assert!(optics.lane_at_detuning("nope", 1, 0.0).is_err());
    }

    #[test]
    fn deterministic_for_the_same_seed_and_time() {
        let run = |seed| {
            let optics = optics_with("datacenter-diurnal", seed);
            let (a, b) = lit(&optics);
            b.inject(TwinFault::RingDetuning {
                lane: Some(2),
                nm: 0.04,
            })
            .unwrap();
            optics.advance(at(&optics, 4 * 3600)).unwrap();
            let mut m = a.read_monitors().unwrap();
            m.lanes.extend(b.read_monitors().unwrap().lanes);
            (m, a.memory_image())
        };
        let (m1, img1) = run(42);
        let (m2, img2) = run(42);
        assert_eq!(m1, m2);
        assert_eq!(img1, img2);
        let (m3, _) = run(43);
        assert_ne!(m1, m3, "the seed sets the unit-to-unit spreads");
    }

    #[test]
    fn identity_tune_and_deprovision_go_through_the_map() {
        let optics = optics_with("steady-lab", 5);
        let (a, b) = lit(&optics);
        let id = a.identity().unwrap();
        assert_eq!(id.identifier, 0x18);
        assert_eq!(id.vendor_name, "CORRIDOR TWIN");
        assert_eq!(id.part_number, "CT-SIN-8X53P4");
        assert_eq!(id.serial, "CT25H0P00000");
        assert_eq!(id.applications.len(), 2);

        // Lane 1 starts on the grid's first channel (n = −8 on the 100 GHz grid).
        assert_eq!(lane1(&a).channel, -8);
        a.tune(1, -3).unwrap();
        let l = lane1(&a);
        assert_eq!(l.channel, -3);
        assert_eq!(l.frequency_mhz, 193_100_000 - 300_000);
        assert!(!l.tuning.wavelength_unlocked);
        assert!(matches!(
            a.tune(1, 100),
            Err(OpticalError::TuningFailed {
                lane: 1,
                channel: 100
            })
        ));
        assert!(a.tune(0, 1).is_err());

        a.deprovision(&[1, 2]).unwrap();
        let m = a.read_monitors().unwrap();
        assert_eq!(m.lanes[0].data_path, Some(DataPathState::Deactivated));
        assert_eq!(m.lanes[0].tx_power_uw, 0.0);
        assert_eq!(m.lanes[2].data_path, Some(DataPathState::Activated));
        optics.advance(at(&optics, 2)).unwrap();
        assert_eq!(lane1(&b).rx_power_uw, 0.0);
        assert!(lane_of(&b, 3).rx_power_uw > 0.0);
        assert!(a.deprovision(&[9]).is_err());
        let dynamic: Vec<Arc<dyn OpticalPort>> = optics.optical_ports();
        assert_eq!(dynamic.len(), 16);
        assert_eq!(dynamic[0].name(), "op-h0-0");
        assert_eq!(dynamic[0].lanes(), 8);
    }
}
