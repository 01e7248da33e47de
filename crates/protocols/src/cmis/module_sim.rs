//! A simulated CMIS module: owns a [`MemoryMap`], accepts host writes where a real module does,
//! and advances its state machines one step per [`ModuleSim::tick`]. No clocks, no I/O: the
//! caller decides what a tick is (the digital twin ticks it from its own time base).
//!
//! Behaviour per tick (simplified from OIF CMIS 5.x §6.3.2/§6.3.3, enough for a host driver):
//!
//! * Module: LowPwr → PwrUp (LowPwrRequestSW cleared) → Ready; Ready → PwrDn (LowPwrRequestSW
//!   set) → LowPwr; [`ModuleSim::set_fault`] forces ModuleFault. Outside Ready every data path
//!   is DPDeactivated.
//! * ApplyDPInit (10h:143, self-clearing): tick 1 sets ConfigStatus InProgress; tick 2 checks
//!   the staged DPConfig (ApSel advertised, lanes form the descriptor's data path, allowed first
//!   lane) and either copies it to the active set (11h:206+) with ConfigSuccess or reports the
//!   rejection code.
//! * DataPath per lane: Deactivated → Init (DPDeinit clear and an active ApSel) → Initialized →
//!   TxTurnOn (Tx enabled) → Activated; DPDeinit or TxDisable walk it back through
//!   TxTurnOff/Deinit.
//! * Laser: writing grid or channel (12h) sets TuningInProgress; the next tick locks on the
//!   channel (current frequency = channel centre + the VDM frequency error) or, if the channel is
//!   outside page 04h's range, reports WavelengthUnlocked.
//! * Monitors: setters write the codec's encodings; Tx power reads 0 unless the lane is
//!   Activated (no light while the output is off).

use super::addr::{ByteAddr, LANES_PER_BANK, Lane, PageAddress};
use super::error::{CmisError, Result};
use super::map::{ApplicationDescriptor, DpConfig, MemoryMap, fields};
use super::state::{ConfigStatus, DataPathState, ModuleState, PlanTarget};
use super::tunable::{GridSpacing, TuningStatus};
use super::vdm::{VdmDescriptor, VdmType};

/// What the simulated module advertises.
#[derive(Debug, Clone, PartialEq)]
pub struct SimProfile {
    /// Number of lanes, 1–32 (8 per bank).
    pub lanes: u8,
    /// SFF-8024 identifier (0x18 = QSFP-DD).
    pub identifier: u8,
    /// CMIS revision byte (0x52 = 5.2).
    pub revision: u8,
    /// Media type (byte 85; 0x02 = single-mode optical).
    pub media_type: u8,
    /// Application descriptors for ApSel 1, 2, … (at most 15).
    pub applications: Vec<ApplicationDescriptor>,
    /// Grid the laser starts on.
    pub grid: GridSpacing,
    /// Lowest and highest channel accepted (page 04h 158/160).
    pub channel_range: (i16, i16),
}

impl Default for SimProfile {
    /// A CMIS 5.2 QSFP-DD 400G-DR4-like module (HostIF 79, MediaIF 28, 4 lanes, data paths may
    /// start at lanes 1 and 5), as in the xcvr-emu profile cited in photonics.md §1.
    fn default() -> Self {
        Self {
            lanes: 8,
            identifier: 0x18,
            revision: 0x52,
            media_type: 0x02,
            applications: vec![ApplicationDescriptor {
                host_interface_id: 79,
                media_interface_id: 28,
                host_lane_count: 4,
                media_lane_count: 4,
                host_lane_assignment: 0x11,
            }],
            grid: GridSpacing::Ghz100,
            channel_range: (-40, 60),
        }
    }
}

/// VDM observables the simulator lays out for every lane (8 per lane, 64 per bank = page 20h).
const SIM_VDM_TYPES: [VdmType; 8] = [
    VdmType::LASER_FREQ_ERROR,
    VdmType::LASER_TEMPERATURE,
    VdmType::ESNR_MEDIA,
    VdmType::PRE_FEC_BER_MIN_MEDIA,
    VdmType::PRE_FEC_BER_MAX_MEDIA,
    VdmType::PRE_FEC_BER_AVG_MEDIA,
    VdmType::PRE_FEC_BER_CUR_MEDIA,
    VdmType::ERRORED_FRAMES_CUR_MEDIA,
];

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct BerStats {
    samples: u64,
    min: f64,
    max: f64,
    sum: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct LaneSim {
    tx_power_uw: f64,
    freq_error_mhz: f64,
    tuning_pending: bool,
    ber: BerStats,
}

/// The simulated module.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleSim {
    map: MemoryMap,
    profile: SimProfile,
    fault: bool,
    /// Per bank: lanes whose ApplyDPInit is being processed.
    applying: [u8; 4],
    lanes: Vec<LaneSim>,
    ticks: u64,
}

impl Default for ModuleSim {
    fn default() -> Self {
        Self::new(SimProfile::default()).expect("default profile is valid")
    }
}

impl ModuleSim {
    /// A module in ModuleLowPwr (LowPwrRequestSW set), all data paths deactivated.
    pub fn new(profile: SimProfile) -> Result<Self> {
        if profile.lanes == 0 || profile.lanes > 32 {
            return Err(CmisError::InvalidLane {
                field: "SimProfile.lanes",
                lane: profile.lanes,
                max: 32,
            });
        }
        if profile.applications.len() > 15 {
            return Err(CmisError::InvalidRequest {
                reason: "more than 15 applications".into(),
            });
        }
        let mut map = MemoryMap::new();
        map.write_bytes(
            PageAddress::PAGE_00,
            0,
            &[profile.identifier, profile.revision, 0x00],
        )?;
        map.set_module_state(ModuleState::LowPwr)?;
        map.set_low_power_request_sw(true);
        map.write_bytes(
            PageAddress::PAGE_00,
            fields::MEDIA_TYPE.offset,
            &[profile.media_type],
        )?;
        // Pages of bank 0 that are not banked.
        for p in [0x00, 0x01, 0x02, 0x04, 0x2F] {
            map.page_mut(PageAddress::new(0, p)?);
        }
        for (i, app) in profile.applications.iter().enumerate() {
            map.set_application(i as u8 + 1, app)?;
        }
        let next = profile.applications.len() as u8 + 1;
        if next <= 15 {
            let end = ApplicationDescriptor {
                host_interface_id: 0xFF,
                media_interface_id: 0,
                host_lane_count: 0,
                media_lane_count: 0,
                host_lane_assignment: 0,
            };
            map.set_application(next, &end)?;
        }
        // Page 01h: durations DPInit/DPDeinit 100 ms (code 4), module power up/down 500 ms
        // (code 5), DPTxTurnOn 10 ms (code 2).
        map.write_raw(0, &fields::DP_INIT_DURATION, 4)?;
        map.write_raw(0, &fields::DP_DEINIT_DURATION, 4)?;
        map.write_raw(0, &fields::MODULE_PWRUP_DURATION, 5)?;
        map.write_raw(0, &fields::MODULE_PWRDN_DURATION, 5)?;
        map.write_raw(0, &fields::DP_TX_TURNON_DURATION, 2)?;
        // Page 04h: channel range.
        map.write_raw(0, &fields::LOW_CHANNEL, i64::from(profile.channel_range.0))?;
        map.write_raw(0, &fields::HIGH_CHANNEL, i64::from(profile.channel_range.1))?;
        let banks = (profile.lanes - 1) / LANES_PER_BANK + 1;
        for bank in 0..banks {
            for p in [0x10, 0x11, 0x12, 0x20, 0x24] {
                map.page_mut(PageAddress::new(bank, p)?);
            }
        }
        let mut sim = Self {
            map,
            fault: false,
            applying: [0; 4],
            lanes: vec![LaneSim::default(); usize::from(profile.lanes)],
            ticks: 0,
            profile,
        };
        for n in 1..=sim.profile.lanes {
            let lane = Lane::new(n)?;
            sim.map.set_dp_state(lane, DataPathState::Deactivated)?;
            sim.map.set_grid_spacing(lane, sim.profile.grid)?;
            let mhz = sim.profile.grid.channel_to_mhz(0);
            sim.map.set_current_frequency_mhz(lane, mhz as u32)?;
            let idx = usize::from(lane.index_in_bank() - 1);
            for (j, t) in SIM_VDM_TYPES.iter().enumerate() {
                let d = VdmDescriptor {
                    threshold_set: j as u8,
                    lane: lane.index_in_bank(),
                    type_id: *t,
                };
                sim.map
                    .set_vdm_descriptor(lane.bank(), idx * SIM_VDM_TYPES.len() + j, &d)?;
            }
        }
        Ok(sim)
    }

    /// The memory map as the module holds it.
    pub fn map(&self) -> &MemoryMap {
        &self.map
    }

    /// Mutable access for tests that need to corrupt the map on purpose.
    pub fn map_mut(&mut self) -> &mut MemoryMap {
        &mut self.map
    }

    /// The profile.
    pub fn profile(&self) -> &SimProfile {
        &self.profile
    }

    /// Ticks done so far.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    fn lane(&self, lane: Lane) -> Result<usize> {
        if lane.number() > self.profile.lanes {
            return Err(CmisError::InvalidLane {
                field: "ModuleSim",
                lane: lane.number(),
                max: self.profile.lanes,
            });
        }
        Ok(usize::from(lane.number() - 1))
    }

    fn host_writable(at: ByteAddr) -> bool {
        let o = at.offset();
        if at.is_lower() {
            return matches!(o, 26 | 126 | 127);
        }
        match at.page().page() {
            0x10 => true,
            0x12 => matches!(o, 128..=151 | 200..=215),
            0x2F => o == 144,
            _ => false,
        }
    }

    /// Host read of `len` bytes at `at`.
    pub fn read(&self, at: ByteAddr, len: usize) -> Result<Vec<u8>> {
        Ok(self.map.read_bytes(at.page(), at.offset(), len)?.to_vec())
    }

    /// Host write of `data` at `at`; read-only bytes are refused.
    pub fn write(&mut self, at: ByteAddr, data: &[u8]) -> Result<()> {
        for i in 0..data.len() {
            let b = ByteAddr::new(at.page(), at.offset().wrapping_add(i as u8));
            if !Self::host_writable(b) || (at.offset() < 128) != (b.offset() < 128) {
                return Err(CmisError::ReadOnly {
                    bank: at.page().bank(),
                    page: at.page().page(),
                    offset: b.offset(),
                });
            }
        }
        let page = at.page();
        if !at.is_lower() && !self.map.has_page(page) {
            return Err(CmisError::PageNotPresent {
                bank: page.bank(),
                page: page.page(),
            });
        }
        self.map.write_bytes(page, at.offset(), data)?;
        if page.page() == 0x12 && !at.is_lower() {
            let start = at.offset();
            let end = start as usize + data.len();
            for n in 1..=LANES_PER_BANK {
                let grid = 127 + n as usize;
                let ch = 136 + 2 * (n as usize - 1);
                let touched = (start as usize..end).any(|o| o == grid || o == ch || o == ch + 1);
                if touched
                    && let Ok(lane) = Lane::in_bank(page.bank(), n)
                    && let Ok(i) = self.lane(lane)
                {
                    self.lanes[i].tuning_pending = true;
                    let st = TuningStatus {
                        tuning_in_progress: true,
                        wavelength_unlocked: false,
                    };
                    self.map.set_tuning_status(lane, st)?;
                }
            }
        }
        Ok(())
    }

    /// Host read over I2C at byte `offset`, honouring the bank/page select bytes.
    pub fn i2c_read(&self, offset: u8, len: usize) -> Result<Vec<u8>> {
        Ok(self.map.read_i2c(offset, len)?.to_vec())
    }

    /// Host write over I2C at byte `offset`, honouring the bank/page select bytes.
    pub fn i2c_write(&mut self, offset: u8, data: &[u8]) -> Result<()> {
        let page = if offset < 128 {
            PageAddress::PAGE_00
        } else {
            self.map.selected_page()?
        };
        self.write(ByteAddr::new(page, offset), data)
    }

    /// Forces (or clears) ModuleFault.
    pub fn set_fault(&mut self, fault: bool) {
        self.fault = fault;
    }

    /// Advances `n` ticks.
    pub fn tick_n(&mut self, n: usize) {
        for _ in 0..n {
            self.tick();
        }
    }

    /// Advances every state machine by one step.
    pub fn tick(&mut self) {
        self.ticks += 1;
        // The map only holds valid codes written by the sim itself; errors here are bugs.
        self.tick_inner().expect("simulator map is consistent");
    }

    fn tick_inner(&mut self) -> Result<()> {
        let state = self.map.module_state().unwrap_or(ModuleState::LowPwr);
        let lp = self.map.low_power_request_sw();
        let next = if self.fault {
            ModuleState::Fault
        } else {
            match state {
                ModuleState::LowPwr if !lp => ModuleState::PwrUp,
                ModuleState::PwrUp if lp => ModuleState::PwrDn,
                ModuleState::PwrUp => ModuleState::Ready,
                ModuleState::Ready if lp => ModuleState::PwrDn,
                ModuleState::PwrDn => ModuleState::LowPwr,
                ModuleState::Fault => ModuleState::LowPwr,
                s => s,
            }
        };
        self.map.set_module_state(next)?;
        let ready = next == ModuleState::Ready;
        let banks = (self.profile.lanes - 1) / LANES_PER_BANK + 1;
        for bank in 0..banks {
            if ready {
                self.tick_config(bank)?;
            }
            // The bank's control masks, read once for its lanes.
            let masks = (
                self.map.dp_deinit_mask(bank)?,
                self.map.tx_disable_mask(bank)?,
            );
            for n in 1..=LANES_PER_BANK {
                let lane = Lane::in_bank(bank, n)?;
                if lane.number() > self.profile.lanes {
                    break;
                }
                let cur = self.map.dp_state(lane).ok();
                let s = if ready {
                    self.next_dp_state(lane, cur.unwrap_or(DataPathState::Deactivated), masks)?
                } else {
                    DataPathState::Deactivated
                };
                // A lane whose state stays put keeps the Tx power it has:
                // only this and `set_tx_power_uw` publish it, and the host
                // cannot write page 11h. Skipping the unchanged lanes is
                // most of a tick, since a provision polls a whole module
                // for a lane or two.
                if cur != Some(s) {
                    self.map.set_dp_state(lane, s)?;
                    self.publish_tx_power(lane)?;
                }
                self.tick_laser(lane)?;
            }
        }
        Ok(())
    }

    fn tick_config(&mut self, bank: u8) -> Result<()> {
        let b = usize::from(bank);
        // Second stage: decide on the lanes taken in on the previous tick.
        let mask = self.applying[b];
        if mask != 0 {
            self.applying[b] = 0;
            for n in 1..=LANES_PER_BANK {
                if mask & (1 << (n - 1)) == 0 {
                    continue;
                }
                let lane = Lane::in_bank(bank, n)?;
                let cfg = self.map.staged_dp_config(lane)?;
                let status = self.check_config(bank, mask, n, &cfg)?;
                if status == ConfigStatus::Success {
                    self.map.set_active_dp_config(lane, &cfg)?;
                }
                self.map.set_config_status(lane, status)?;
            }
        }
        // First stage: take in a new ApplyDPInit.
        let apply = self.map.read_raw(bank, &fields::APPLY_DP_INIT)? as u8;
        if apply != 0 {
            self.map.write_raw(bank, &fields::APPLY_DP_INIT, 0)?;
            for n in 1..=LANES_PER_BANK {
                if apply & (1 << (n - 1)) != 0 {
                    let lane = Lane::in_bank(bank, n)?;
                    if lane.number() <= self.profile.lanes {
                        self.map.set_config_status(lane, ConfigStatus::InProgress)?;
                        self.applying[b] |= 1 << (n - 1);
                    }
                }
            }
        }
        Ok(())
    }

    fn check_config(&self, bank: u8, mask: u8, n: u8, cfg: &DpConfig) -> Result<ConfigStatus> {
        if cfg.ap_sel == 0 {
            return Ok(ConfigStatus::Success);
        }
        let Some(app) = self.profile.applications.get(usize::from(cfg.ap_sel) - 1) else {
            return Ok(ConfigStatus::RejectedInvalidAppSel);
        };
        let first = cfg.first_lane + 1;
        let count = app.host_lane_count;
        let allowed =
            app.host_lane_assignment == 0 || app.host_lane_assignment & (1 << cfg.first_lane) != 0;
        if !allowed
            || count == 0
            || n < first
            || n >= first + count
            || first + count > LANES_PER_BANK + 1
        {
            return Ok(ConfigStatus::RejectedInvalidDataPath);
        }
        // Every lane of the data path must be applied together with the same DPConfig.
        for m in first..first + count {
            let lane = Lane::in_bank(bank, m)?;
            if mask & (1 << (m - 1)) == 0 || self.map.staged_dp_config(lane)? != *cfg {
                return Ok(ConfigStatus::RejectedPartialDataPath);
            }
        }
        Ok(ConfigStatus::Success)
    }

    /// The state after `cur`, given the bank's (DPDeinit, OutputDisableTx)
    /// masks.
    fn next_dp_state(
        &self,
        lane: Lane,
        cur: DataPathState,
        (deinit_mask, txdis_mask): (u8, u8),
    ) -> Result<DataPathState> {
        use DataPathState as D;
        let bit = lane.mask_bit();
        let deinit = deinit_mask & bit != 0;
        let txdis = txdis_mask & bit != 0;
        let configured = self.map.active_dp_config(lane)?.ap_sel != 0
            && self.map.config_status(lane)? != ConfigStatus::InProgress;
        Ok(match cur {
            D::Deactivated if !deinit && configured => D::Init,
            D::Deactivated => D::Deactivated,
            D::Init | D::Initialized if deinit => D::Deinit,
            D::Init => D::Initialized,
            D::Initialized if !txdis => D::TxTurnOn,
            D::Initialized => D::Initialized,
            D::TxTurnOn if deinit || txdis => D::TxTurnOff,
            D::TxTurnOn => D::Activated,
            D::Activated if deinit || txdis => D::TxTurnOff,
            D::Activated => D::Activated,
            D::TxTurnOff if deinit => D::Deinit,
            D::TxTurnOff => D::Initialized,
            D::Deinit => D::Deactivated,
        })
    }

    fn tick_laser(&mut self, lane: Lane) -> Result<()> {
        let i = self.lane(lane)?;
        if !self.lanes[i].tuning_pending {
            return Ok(());
        }
        self.lanes[i].tuning_pending = false;
        let grid = self.map.grid_spacing(lane).ok();
        let ch = self.map.channel(lane)?;
        let (lo, hi) = self.profile.channel_range;
        let st = match grid {
            Some(g) if (lo..=hi).contains(&ch) => {
                self.lanes[i].freq_error_mhz = 0.0;
                self.set_freq_error_inner(lane, 0.0)?;
                self.map
                    .set_current_frequency_mhz(lane, g.channel_to_mhz(ch) as u32)?;
                TuningStatus {
                    tuning_in_progress: false,
                    wavelength_unlocked: false,
                }
            }
            _ => TuningStatus {
                tuning_in_progress: false,
                wavelength_unlocked: true,
            },
        };
        self.map.set_tuning_status(lane, st)
    }

    fn publish_tx_power(&mut self, lane: Lane) -> Result<()> {
        let i = self.lane(lane)?;
        let on = self.map.dp_state(lane) == Ok(DataPathState::Activated);
        let p = if on { self.lanes[i].tx_power_uw } else { 0.0 };
        self.map
            .write_value_saturating(lane.bank(), &fields::tx_power(lane.index_in_bank())?, p)
    }

    fn vdm_index(&self, lane: Lane, t: VdmType) -> Result<usize> {
        let j = SIM_VDM_TYPES.iter().position(|x| *x == t).unwrap_or(0);
        Ok(usize::from(lane.index_in_bank() - 1) * SIM_VDM_TYPES.len() + j)
    }

    fn set_vdm(&mut self, lane: Lane, t: VdmType, value: f64) -> Result<()> {
        self.lane(lane)?;
        let idx = self.vdm_index(lane, t)?;
        self.map.set_vdm_value(lane.bank(), idx, value)
    }

    fn set_freq_error_inner(&mut self, lane: Lane, mhz: f64) -> Result<()> {
        self.set_vdm(lane, VdmType::LASER_FREQ_ERROR, mhz)
    }

    // ---- Monitor setters: values are clamped to what the encodings hold ----

    /// Module temperature (lower page 14–15).
    pub fn set_temperature_c(&mut self, c: f64) -> Result<()> {
        self.map
            .write_value_saturating(0, &fields::MODULE_TEMPERATURE, c)
    }

    /// Supply voltage (lower page 16–17).
    pub fn set_vcc_v(&mut self, v: f64) -> Result<()> {
        self.map
            .write_value_saturating(0, &fields::SUPPLY_VOLTAGE, v)
    }

    /// Laser output power of `lane` in µW (reported only while the lane is Activated).
    pub fn set_tx_power_uw(&mut self, lane: Lane, uw: f64) -> Result<()> {
        let i = self.lane(lane)?;
        self.lanes[i].tx_power_uw = uw;
        self.publish_tx_power(lane)
    }

    /// Received power of `lane` in µW.
    pub fn set_rx_power_uw(&mut self, lane: Lane, uw: f64) -> Result<()> {
        self.lane(lane)?;
        self.map
            .write_value_saturating(lane.bank(), &fields::rx_power(lane.index_in_bank())?, uw)
    }

    /// Laser bias of `lane` in mA.
    pub fn set_bias_ma(&mut self, lane: Lane, ma: f64) -> Result<()> {
        self.lane(lane)?;
        self.map
            .write_value_saturating(lane.bank(), &fields::tx_bias(lane.index_in_bank())?, ma)
    }

    /// Laser frequency error of `lane` in MHz (VDM type 3, 10 MHz steps); also moves the
    /// reported current frequency away from the channel centre.
    pub fn set_laser_freq_error_mhz(&mut self, lane: Lane, mhz: f64) -> Result<()> {
        let i = self.lane(lane)?;
        let old = self.lanes[i].freq_error_mhz;
        self.lanes[i].freq_error_mhz = mhz;
        self.set_freq_error_inner(lane, mhz)?;
        let cur = i64::from(self.map.current_frequency_mhz(lane)?);
        let new = cur + crate::cmis::f16::round(mhz - old) as i64;
        self.map
            .set_current_frequency_mhz(lane, new.clamp(0, i64::from(u32::MAX)) as u32)
    }

    /// Laser temperature of `lane` in °C (VDM type 4).
    pub fn set_laser_temperature_c(&mut self, lane: Lane, c: f64) -> Result<()> {
        self.set_vdm(lane, VdmType::LASER_TEMPERATURE, c)
    }

    /// eSNR of `lane` in dB (VDM type 5).
    pub fn set_esnr_db(&mut self, lane: Lane, db: f64) -> Result<()> {
        self.set_vdm(lane, VdmType::ESNR_MEDIA, db)
    }

    /// A pre-FEC BER sample for `lane`: current value (type 15) and min/max/average since the
    /// last [`ModuleSim::reset_ber_stats`] (types 9/11/13), all F16.
    pub fn set_pre_fec_ber(&mut self, lane: Lane, ber: f64) -> Result<()> {
        let i = self.lane(lane)?;
        let s = &mut self.lanes[i].ber;
        if s.samples == 0 {
            s.min = ber;
            s.max = ber;
        } else {
            s.min = s.min.min(ber);
            s.max = s.max.max(ber);
        }
        s.samples += 1;
        s.sum += ber;
        let s = *s;
        self.set_vdm(lane, VdmType::PRE_FEC_BER_CUR_MEDIA, ber)?;
        self.set_vdm(lane, VdmType::PRE_FEC_BER_MIN_MEDIA, s.min)?;
        self.set_vdm(lane, VdmType::PRE_FEC_BER_MAX_MEDIA, s.max)?;
        self.set_vdm(
            lane,
            VdmType::PRE_FEC_BER_AVG_MEDIA,
            s.sum / s.samples as f64,
        )
    }

    /// Clears the pre-FEC BER statistics of `lane`.
    pub fn reset_ber_stats(&mut self, lane: Lane) -> Result<()> {
        let i = self.lane(lane)?;
        self.lanes[i].ber = BerStats::default();
        Ok(())
    }

    /// Errored frames (current value, VDM type 23) of `lane`.
    pub fn set_errored_frames(&mut self, lane: Lane, frames: f64) -> Result<()> {
        self.set_vdm(lane, VdmType::ERRORED_FRAMES_CUR_MEDIA, frames)
    }
}

impl PlanTarget for ModuleSim {
    type Error = CmisError;

    fn write_byte(&mut self, at: ByteAddr, value: u8) -> Result<()> {
        self.write(at, &[value])
    }

    fn read_bytes(&mut self, at: ByteAddr, buf: &mut [u8]) -> Result<()> {
        buf.copy_from_slice(self.map.read_bytes(at.page(), at.offset(), buf.len())?);
        Ok(())
    }

    fn wait(&mut self) {
        self.tick();
    }
}
