//! Module and DataPath state machines, ConfigStatus, and the pure provisioning planner.
//!
//! Codes: `reference/photonics.md` §1 "State machines" (SONiC `codes/public/cmis.py`);
//! OIF CMIS 5.x §6.3.2 (module state machine) and §6.3.3 (data path state machine).
//! Sequence: photonics.md §1 "Provisioning sequence" (SONiC `api/public/cmis.py`
//! `set_lpmode`, `set_application`, `scs_apply_datapath_init`, and xcvrd's CMIS task).

use super::addr::{ByteAddr, LANES_PER_BANK, Lane, PageAddress};
use super::error::{CmisError, Result};
use super::map::{DpConfig, MemoryMap, fields};

/// Module state, lower page byte 3 bits 3–1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModuleState {
    /// 1: ModuleLowPwr.
    LowPwr,
    /// 2: ModulePwrUp.
    PwrUp,
    /// 3: ModuleReady.
    Ready,
    /// 4: ModulePwrDn.
    PwrDn,
    /// 5: ModuleFault.
    Fault,
}

impl ModuleState {
    /// Decodes a 3-bit module state code (0, 6, 7 are reserved → `None`).
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::LowPwr,
            2 => Self::PwrUp,
            3 => Self::Ready,
            4 => Self::PwrDn,
            5 => Self::Fault,
            _ => return None,
        })
    }

    /// The code.
    pub const fn code(self) -> u8 {
        match self {
            Self::LowPwr => 1,
            Self::PwrUp => 2,
            Self::Ready => 3,
            Self::PwrDn => 4,
            Self::Fault => 5,
        }
    }
}

/// DataPath state, page 11h bytes 128–131, one nibble per lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataPathState {
    /// 1: DPDeactivated.
    Deactivated,
    /// 2: DPInit.
    Init,
    /// 3: DPDeinit.
    Deinit,
    /// 4: DPActivated.
    Activated,
    /// 5: DPTxTurnOn.
    TxTurnOn,
    /// 6: DPTxTurnOff.
    TxTurnOff,
    /// 7: DPInitialized.
    Initialized,
}

impl DataPathState {
    /// Decodes a DPState nibble (0 and 8–15 are reserved → `None`).
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::Deactivated,
            2 => Self::Init,
            3 => Self::Deinit,
            4 => Self::Activated,
            5 => Self::TxTurnOn,
            6 => Self::TxTurnOff,
            7 => Self::Initialized,
            _ => return None,
        })
    }

    /// The code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Deactivated => 1,
            Self::Init => 2,
            Self::Deinit => 3,
            Self::Activated => 4,
            Self::TxTurnOn => 5,
            Self::TxTurnOff => 6,
            Self::Initialized => 7,
        }
    }
}

/// ConfigStatus, page 11h bytes 202–205, one nibble per lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigStatus {
    /// 0: ConfigUndefined.
    Undefined,
    /// 1: ConfigSuccess.
    Success,
    /// 2: ConfigRejected (unspecified).
    Rejected,
    /// 3: ConfigRejectedInvalidAppSel.
    RejectedInvalidAppSel,
    /// 4: ConfigRejectedInvalidDataPath.
    RejectedInvalidDataPath,
    /// 5: ConfigRejectedInvalidSI.
    RejectedInvalidSi,
    /// 6: ConfigRejectedLaneInUse.
    RejectedLaneInUse,
    /// 7: ConfigRejectedPartialDataPath.
    RejectedPartialDataPath,
    /// 12: ConfigInProgress.
    InProgress,
    /// Any other code (8–11, 13–15: reserved or custom), treated as a rejection.
    RejectedOther(u8),
}

impl ConfigStatus {
    /// Decodes a ConfigStatus nibble (total; only the low 4 bits are used).
    pub const fn from_code(code: u8) -> Self {
        match code & 0x0F {
            0 => Self::Undefined,
            1 => Self::Success,
            2 => Self::Rejected,
            3 => Self::RejectedInvalidAppSel,
            4 => Self::RejectedInvalidDataPath,
            5 => Self::RejectedInvalidSi,
            6 => Self::RejectedLaneInUse,
            7 => Self::RejectedPartialDataPath,
            12 => Self::InProgress,
            c => Self::RejectedOther(c),
        }
    }

    /// The code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Undefined => 0,
            Self::Success => 1,
            Self::Rejected => 2,
            Self::RejectedInvalidAppSel => 3,
            Self::RejectedInvalidDataPath => 4,
            Self::RejectedInvalidSi => 5,
            Self::RejectedLaneInUse => 6,
            Self::RejectedPartialDataPath => 7,
            Self::InProgress => 12,
            Self::RejectedOther(c) => c & 0x0F,
        }
    }

    /// Whether the module refused the configuration.
    pub const fn is_rejection(self) -> bool {
        !matches!(self, Self::Undefined | Self::Success | Self::InProgress)
    }

    /// The CMIS name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Undefined => "ConfigUndefined",
            Self::Success => "ConfigSuccess",
            Self::Rejected => "ConfigRejected",
            Self::RejectedInvalidAppSel => "ConfigRejectedInvalidAppSel",
            Self::RejectedInvalidDataPath => "ConfigRejectedInvalidDataPath",
            Self::RejectedInvalidSi => "ConfigRejectedInvalidSI",
            Self::RejectedLaneInUse => "ConfigRejectedLaneInUse",
            Self::RejectedPartialDataPath => "ConfigRejectedPartialDataPath",
            Self::InProgress => "ConfigInProgress",
            Self::RejectedOther(_) => "ConfigRejected(reserved/custom)",
        }
    }
}

/// What a poll step waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Lower page byte 3 shows this module state (ModuleFault fails the poll).
    ModuleState(ModuleState),
    /// Every lane of `lane_mask` in `bank` shows this DPState.
    DataPathState {
        /// Bank.
        bank: u8,
        /// Lanes (bit 0 = lane 1 of the bank).
        lane_mask: u8,
        /// Expected state.
        state: DataPathState,
    },
    /// Every lane of `lane_mask` shows ConfigSuccess (any rejection fails the poll).
    ConfigSuccess {
        /// Bank.
        bank: u8,
        /// Lanes (bit 0 = lane 1 of the bank).
        lane_mask: u8,
    },
}

/// Result of evaluating a [`Condition`] on a (partial) memory map.
#[derive(Debug, Clone, PartialEq)]
pub enum PollOutcome {
    /// Not yet; poll again.
    Pending,
    /// Reached.
    Met,
    /// Will not be reached (fault or rejection).
    Failed(CmisError),
}

fn lanes_of(bank: u8, mask: u8) -> impl Iterator<Item = Lane> {
    (1..=LANES_PER_BANK)
        .filter(move |l| mask & (1 << (l - 1)) != 0)
        .filter_map(move |l| Lane::in_bank(bank, l).ok())
}

impl Condition {
    /// The byte ranges (start, length) a host must read to evaluate this condition.
    pub fn reads(&self) -> Vec<(ByteAddr, u8)> {
        let page11 = |bank| PageAddress::new(bank, 0x11).expect("page 11h is banked and valid");
        match *self {
            Self::ModuleState(_) => vec![(ByteAddr::new(PageAddress::PAGE_00, 3), 1)],
            Self::DataPathState { bank, .. } => vec![(ByteAddr::new(page11(bank), 128), 4)],
            Self::ConfigSuccess { bank, .. } => vec![(ByteAddr::new(page11(bank), 202), 4)],
        }
    }

    /// Evaluates the condition on `map` (which must hold the bytes of [`Condition::reads`]).
    pub fn evaluate(&self, map: &MemoryMap) -> PollOutcome {
        match *self {
            Self::ModuleState(want) => match map.module_state() {
                Ok(s) if s == want => PollOutcome::Met,
                Ok(ModuleState::Fault) => PollOutcome::Failed(CmisError::ModuleFault),
                _ => PollOutcome::Pending,
            },
            Self::DataPathState {
                bank,
                lane_mask,
                state,
            } => {
                for lane in lanes_of(bank, lane_mask) {
                    match map.dp_state(lane) {
                        Ok(s) if s == state => {}
                        Ok(_) | Err(CmisError::UnknownCode { .. }) => return PollOutcome::Pending,
                        Err(e) => return PollOutcome::Failed(e),
                    }
                }
                PollOutcome::Met
            }
            Self::ConfigSuccess { bank, lane_mask } => {
                let mut all = true;
                for lane in lanes_of(bank, lane_mask) {
                    match map.config_status(lane) {
                        Ok(ConfigStatus::Success) => {}
                        Ok(s) if s.is_rejection() => {
                            return PollOutcome::Failed(CmisError::ConfigRejected {
                                bank,
                                lane: lane.index_in_bank(),
                                code: s.code(),
                                name: s.name(),
                            });
                        }
                        Ok(_) => all = false,
                        Err(e) => return PollOutcome::Failed(e),
                    }
                }
                if all {
                    PollOutcome::Met
                } else {
                    PollOutcome::Pending
                }
            }
        }
    }
}

/// One step of a register plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Write `value` to one byte (for bytes ≥ 128 the host selects the bank/page first).
    Write {
        /// Where.
        at: ByteAddr,
        /// The whole byte to write (read-modify-write already done from the planning snapshot).
        value: u8,
        /// What this write does.
        note: &'static str,
    },
    /// Poll until the condition holds, giving up after `timeout_ms` (from page 01h durations).
    Poll {
        /// The condition.
        until: Condition,
        /// Budget in ms.
        timeout_ms: u32,
        /// What this poll waits for.
        note: &'static str,
    },
}

/// A request to bring up one data path: `lane_count` contiguous lanes of `bank` from
/// `first_lane` (1–8), on application `ap_sel` (1–15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvisionRequest {
    /// Application descriptor index, 1–15.
    pub ap_sel: u8,
    /// Bank, 0–3.
    pub bank: u8,
    /// First lane in the bank, 1–8.
    pub first_lane: u8,
    /// Number of lanes.
    pub lane_count: u8,
    /// ExplicitControl bit of the staged DPConfig.
    pub explicit_control: bool,
}

impl ProvisionRequest {
    /// A request without explicit signal-integrity control.
    pub const fn new(ap_sel: u8, bank: u8, first_lane: u8, lane_count: u8) -> Self {
        Self {
            ap_sel,
            bank,
            first_lane,
            lane_count,
            explicit_control: false,
        }
    }

    /// Lane mask in the bank (bit 0 = lane 1); 0 if the range is invalid.
    pub const fn lane_mask(&self) -> u8 {
        if self.first_lane == 0
            || self.lane_count == 0
            || self.first_lane as u16 + self.lane_count as u16 > 9
        {
            return 0;
        }
        (((1u16 << self.lane_count) - 1) as u8) << (self.first_lane - 1)
    }
}

/// Poll budgets used when page 01h is not in the map.
const DEFAULT_TIMEOUT_MS: u32 = 60_000;

fn invalid(reason: impl Into<String>) -> CmisError {
    CmisError::InvalidRequest {
        reason: reason.into(),
    }
}

/// Plans the CMIS provisioning sequence for `req` against the current `map` snapshot:
///
/// 1. If the module is not Ready: clear LowPwrRequestSW (byte 26 bit 4), poll ModuleReady.
/// 2. Disable Tx (10h:130) and set DPDeinit (10h:128) for the lanes; poll DPDeactivated.
/// 3. Write staged set 0 DPConfig `ApSel<<4 | firstLane<<1 | explicit` (10h:145+) per lane.
/// 4. ApplyDPInit (10h:143) for the lanes; poll ConfigStatus until ConfigSuccess.
/// 5. Release DPDeinit and enable Tx for the lanes; poll DPState until DPActivated.
///
/// Step 5 is what makes a CMIS ≥ 4 module leave DPDeactivated (DPDeinit = 1 holds the data path
/// down); SONiC's xcvrd does the same (`set_datapath_init`, then `tx_disable_channel(false)`).
/// The request is checked against the advertised descriptor when the map holds it (host lane
/// count and allowed first lane).
pub fn plan_provisioning(map: &MemoryMap, req: &ProvisionRequest) -> Result<Vec<Step>> {
    if req.ap_sel == 0 || req.ap_sel > 15 {
        return Err(invalid(format!("ApSel {} outside 1..=15", req.ap_sel)));
    }
    let mask = req.lane_mask();
    if mask == 0 {
        return Err(invalid(format!(
            "lanes {}+{} do not fit lanes 1..=8 of a bank",
            req.first_lane, req.lane_count
        )));
    }
    let page10 = PageAddress::new(req.bank, 0x10)?;
    if !map.flat_memory()
        && let Ok(desc) = map.application(req.ap_sel)
    {
        if desc.is_unused() {
            return Err(invalid(format!("ApSel {} is not advertised", req.ap_sel)));
        }
        if desc.host_lane_count != req.lane_count {
            return Err(invalid(format!(
                "ApSel {} needs {} host lanes, request has {}",
                req.ap_sel, desc.host_lane_count, req.lane_count
            )));
        }
        if desc.host_lane_assignment != 0
            && desc.host_lane_assignment & (1 << (req.first_lane - 1)) == 0
        {
            return Err(invalid(format!(
                "ApSel {} cannot start a data path at lane {} (assignment options {:#04x})",
                req.ap_sel, req.first_lane, desc.host_lane_assignment
            )));
        }
    }
    if map.flat_memory() {
        return Err(invalid(
            "flat-memory module has no page 10h/11h to provision",
        ));
    }
    let durations = map.durations().ok();
    let t = |f: fn(&super::map::Durations) -> u32| durations.as_ref().map_or(DEFAULT_TIMEOUT_MS, f);

    let mut steps = Vec::new();
    match map.module_state() {
        Ok(ModuleState::Ready) => {}
        Ok(ModuleState::Fault) => return Err(CmisError::ModuleFault),
        _ => {
            steps.push(Step::Write {
                at: ByteAddr::new(PageAddress::PAGE_00, fields::MODULE_CONTROL.offset),
                value: map.lower()[26] & !0x10,
                note: "clear LowPwrRequestSW",
            });
            steps.push(Step::Poll {
                until: Condition::ModuleState(ModuleState::Ready),
                timeout_ms: t(|d| d.module_pwr_up_ms),
                note: "ModuleReady",
            });
        }
    }
    let deinit = map.dp_deinit_mask(req.bank).unwrap_or(0);
    let txdis = map.tx_disable_mask(req.bank).unwrap_or(0);
    steps.push(Step::Write {
        at: ByteAddr::new(page10, fields::TX_DISABLE.offset),
        value: txdis | mask,
        note: "disable Tx on the lanes",
    });
    steps.push(Step::Write {
        at: ByteAddr::new(page10, fields::DP_DEINIT.offset),
        value: deinit | mask,
        note: "DPDeinit the lanes",
    });
    steps.push(Step::Poll {
        until: Condition::DataPathState {
            bank: req.bank,
            lane_mask: mask,
            state: DataPathState::Deactivated,
        },
        timeout_ms: t(|d| d.dp_deinit_ms),
        note: "DPDeactivated",
    });
    let cfg = DpConfig {
        ap_sel: req.ap_sel,
        first_lane: req.first_lane - 1,
        explicit_control: req.explicit_control,
    };
    let byte = cfg.encode()?;
    for lane in lanes_of(req.bank, mask) {
        steps.push(Step::Write {
            at: ByteAddr::new(
                page10,
                fields::staged_dp_config(lane.index_in_bank())?.offset,
            ),
            value: byte,
            note: "staged set 0 DPConfig (ApSel)",
        });
    }
    steps.push(Step::Write {
        at: ByteAddr::new(page10, fields::APPLY_DP_INIT.offset),
        value: mask,
        note: "ApplyDPInit staged set 0",
    });
    steps.push(Step::Poll {
        until: Condition::ConfigSuccess {
            bank: req.bank,
            lane_mask: mask,
        },
        timeout_ms: t(|d| d.dp_init_ms),
        note: "ConfigSuccess",
    });
    steps.push(Step::Write {
        at: ByteAddr::new(page10, fields::DP_DEINIT.offset),
        value: deinit & !mask,
        note: "release DPDeinit (DPInit)",
    });
    steps.push(Step::Write {
        at: ByteAddr::new(page10, fields::TX_DISABLE.offset),
        value: txdis & !mask,
        note: "enable Tx on the lanes",
    });
    steps.push(Step::Poll {
        until: Condition::DataPathState {
            bank: req.bank,
            lane_mask: mask,
            state: DataPathState::Activated,
        },
        timeout_ms: t(|d| d.dp_init_ms.saturating_add(d.dp_tx_turn_on_ms)),
        note: "DPActivated",
    });
    Ok(steps)
}

/// Something a plan can run against: a simulated module, the twin, or real hardware.
pub trait PlanTarget {
    /// Error of the target; must carry codec errors.
    type Error: From<CmisError>;
    /// Writes one byte (selecting bank/page as needed).
    fn write_byte(&mut self, at: ByteAddr, value: u8) -> Result<(), Self::Error>;
    /// Reads `buf.len()` bytes from `at` (all in one half page).
    fn read_bytes(&mut self, at: ByteAddr, buf: &mut [u8]) -> Result<(), Self::Error>;
    /// Lets time pass between two polls (a simulator ticks; hardware sleeps).
    fn wait(&mut self);
}

/// Runs `steps` on `target`, polling each condition at most `max_polls` times.
/// Returns the number of polls made in total.
pub fn run_plan<T: PlanTarget>(
    steps: &[Step],
    target: &mut T,
    max_polls: u32,
) -> Result<u32, T::Error> {
    let mut total = 0;
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Write { at, value, .. } => target.write_byte(*at, *value)?,
            Step::Poll { until, note, .. } => {
                let mut polls = 0;
                loop {
                    let mut snap = MemoryMap::new();
                    for (at, len) in until.reads() {
                        let mut buf = vec![0u8; usize::from(len)];
                        target.read_bytes(at, &mut buf)?;
                        snap.write_bytes(at.page(), at.offset(), &buf)?;
                    }
                    polls += 1;
                    total += 1;
                    match until.evaluate(&snap) {
                        PollOutcome::Met => break,
                        PollOutcome::Failed(e) => return Err(e.into()),
                        PollOutcome::Pending if polls >= max_polls => {
                            return Err(CmisError::PollTimeout {
                                step: i,
                                note,
                                polls,
                            }
                            .into());
                        }
                        PollOutcome::Pending => target.wait(),
                    }
                }
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for c in 0..=7u8 {
            if let Some(s) = ModuleState::from_code(c) {
                assert_eq!(s.code(), c);
            }
            if let Some(s) = DataPathState::from_code(c) {
                assert_eq!(s.code(), c);
            }
        }
        for c in 0..=15u8 {
            assert_eq!(ConfigStatus::from_code(c).code(), c);
        }
        assert!(ConfigStatus::from_code(3).is_rejection());
        assert!(!ConfigStatus::from_code(12).is_rejection());
        assert!(ConfigStatus::from_code(9).is_rejection());
    }

    #[test]
    fn lane_masks() {
        assert_eq!(ProvisionRequest::new(1, 0, 1, 4).lane_mask(), 0x0F);
        assert_eq!(ProvisionRequest::new(1, 0, 5, 4).lane_mask(), 0xF0);
        assert_eq!(ProvisionRequest::new(1, 0, 8, 1).lane_mask(), 0x80);
        assert_eq!(ProvisionRequest::new(1, 0, 6, 4).lane_mask(), 0);
        assert_eq!(ProvisionRequest::new(1, 0, 1, 8).lane_mask(), 0xFF);
    }
}
