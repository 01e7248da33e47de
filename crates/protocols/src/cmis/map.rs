//! The CMIS memory map as a value, field descriptors and typed accessors.
//!
//! A [`MemoryMap`] owns the lower page (bytes 0–127) and any number of upper pages
//! (128 bytes each, keyed by [`PageAddress`]). It parses and produces the linear optoe image
//! (`(bank*256+page)*128+offset`) and reads fields through [`Field`] descriptors. All multi-byte
//! values are big-endian, as CMIS specifies (OIF CMIS 5.x §8.1.2 "multi-byte fields").
//!
//! Offsets come from `reference/photonics.md` §1 ("Lower page 00h", "Upper pages", "Tunable
//! laser", "VDM"), cross-checked with SONiC `sonic_xcvr/mem_maps/public/cmis/pages/*.py`; each
//! descriptor in [`fields`] names its source.

use super::addr::{ByteAddr, Lane, MAX_BANK, PAGE_SIZE, PageAddress};
use super::error::{CmisError, Result};
use super::f16;
use super::state::{ConfigStatus, DataPathState, ModuleState};
use super::tunable::{GridSpacing, TuningStatus};

/// How the bytes of a [`Field`] encode its raw value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Unsigned big-endian integer of the field's length (1, 2 or 4 bytes).
    Unsigned,
    /// Two's-complement big-endian integer of the field's length (1, 2 or 4 bytes).
    Signed,
    /// `width` bits starting at bit `lsb` of a single byte.
    Bits {
        /// Lowest bit.
        lsb: u8,
        /// Number of bits.
        width: u8,
    },
    /// The VDM F16 format (2 bytes), see [`f16`].
    F16,
}

/// A field of the memory map: where it lives and how it is encoded.
/// Physical value = raw · `scale`, in `unit` (F16 fields: the decoded value · `scale`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Field {
    /// Name as in CMIS (or SONiC `fields/consts.py`).
    pub name: &'static str,
    /// Upper page (ignored when `offset < 128`, the lower page).
    pub page: u8,
    /// CMIS byte address, 0–255.
    pub offset: u8,
    /// Length in bytes.
    pub len: u8,
    /// Encoding of the bytes.
    pub encoding: Encoding,
    /// Multiplier from raw to physical value.
    pub scale: f64,
    /// Unit of the physical value ("" for codes and counts).
    pub unit: &'static str,
}

impl Field {
    const fn new(name: &'static str, page: u8, offset: u8, len: u8, encoding: Encoding) -> Self {
        Self {
            name,
            page,
            offset,
            len,
            encoding,
            scale: 1.0,
            unit: "",
        }
    }

    const fn u8(name: &'static str, page: u8, offset: u8) -> Self {
        Self::new(name, page, offset, 1, Encoding::Unsigned)
    }

    const fn bits(name: &'static str, page: u8, offset: u8, lsb: u8, width: u8) -> Self {
        Self::new(name, page, offset, 1, Encoding::Bits { lsb, width })
    }

    const fn scaled(mut self, scale: f64, unit: &'static str) -> Self {
        self.scale = scale;
        self.unit = unit;
        self
    }

    /// Whether the field is in the lower page.
    pub const fn is_lower(&self) -> bool {
        self.offset < 128
    }

    /// Smallest and largest raw value the encoding holds.
    pub const fn raw_range(&self) -> (i64, i64) {
        match self.encoding {
            Encoding::Unsigned => (0, (1i64 << (8 * self.len as u32)) - 1),
            Encoding::Signed => {
                let half = 1i64 << (8 * self.len as u32 - 1);
                (-half, half - 1)
            }
            Encoding::Bits { width, .. } => (0, (1i64 << width) - 1),
            Encoding::F16 => (0, 0xFFFF),
        }
    }

    fn out_of_range(&self, value: impl std::fmt::Display) -> CmisError {
        CmisError::ValueOutOfRange {
            field: self.name,
            page: self.page,
            offset: self.offset,
            value: value.to_string(),
        }
    }
}

/// Checks a per-bank lane number (1–8) for field `field`.
pub(crate) const fn check_lane(field: &'static str, lane: u8) -> Result<u8> {
    if lane == 0 || lane > 8 {
        return Err(CmisError::InvalidLane {
            field,
            lane,
            max: 8,
        });
    }
    Ok(lane)
}

/// Field descriptors. Per-lane constructors take the lane inside its bank (1–8).
pub mod fields {
    use super::{Encoding, Field, check_lane};
    use crate::cmis::error::Result;

    // ---- Lower page 00h (photonics.md §1 "Lower page 00h"; CMIS 5.x Table 8-4 ff.) ----

    /// Byte 0: SFF-8024 identifier (0x18 = QSFP-DD).
    pub const IDENTIFIER: Field = Field::u8("Identifier", 0x00, 0);
    /// Byte 1: CMIS revision, major in bits 7–4, minor in bits 3–0.
    pub const REVISION: Field = Field::u8("CmisRevision", 0x00, 1);
    /// Byte 2 bit 7: flat memory (1 = only page 00h exists).
    pub const FLAT_MEMORY: Field = Field::bits("MemoryModel", 0x00, 2, 7, 1);
    /// Byte 3 bits 3–1: module state (see [`crate::cmis::state::ModuleState`]).
    pub const MODULE_STATE: Field = Field::bits("ModuleState", 0x00, 3, 1, 3);
    /// Bytes 14–15: module temperature, S16 in 1/256 °C.
    pub const MODULE_TEMPERATURE: Field =
        Field::new("TempMonValue", 0x00, 14, 2, Encoding::Signed).scaled(1.0 / 256.0, "degC");
    /// Bytes 16–17: supply voltage, U16 in 100 µV.
    pub const SUPPLY_VOLTAGE: Field =
        Field::new("VccMonValue", 0x00, 16, 2, Encoding::Unsigned).scaled(100e-6, "V");
    /// Byte 26: module global controls.
    pub const MODULE_CONTROL: Field = Field::u8("ModuleGlobalControls", 0x00, 26);
    /// Byte 26 bit 4: LowPwrRequestSW.
    pub const LOW_PWR_REQUEST_SW: Field = Field::bits("LowPwrRequestSW", 0x00, 26, 4, 1);
    /// Byte 26 bit 6: LowPwrAllowRequestHW.
    pub const LOW_PWR_ALLOW_REQUEST_HW: Field = Field::bits("LowPwrAllowRequestHW", 0x00, 26, 6, 1);
    /// Byte 85: media type (SFF-8024 "MediaType").
    pub const MEDIA_TYPE: Field = Field::u8("MediaType", 0x00, 85);
    /// First byte of application descriptor 1 (descriptor n at 86+4(n−1), n = 1..=8).
    pub const APP_DESCRIPTORS_LOWER: u8 = 86;
    /// Byte 126: bank select.
    pub const BANK_SELECT: Field = Field::u8("BankSelect", 0x00, 126);
    /// Byte 127: page select.
    pub const PAGE_SELECT: Field = Field::u8("PageSelect", 0x00, 127);

    // ---- Page 01h (photonics.md §1 "Upper pages"; SONiC pages/page01.py) ----

    /// 01h:144 bits 3–0: DPInit maximum duration code.
    pub const DP_INIT_DURATION: Field = Field::bits("MaxDurationDPInit", 0x01, 144, 0, 4);
    /// 01h:144 bits 7–4: DPDeinit maximum duration code.
    pub const DP_DEINIT_DURATION: Field = Field::bits("MaxDurationDPDeinit", 0x01, 144, 4, 4);
    /// 01h:167 bits 3–0: module power-up maximum duration code.
    pub const MODULE_PWRUP_DURATION: Field = Field::bits("MaxDurationModulePwrUp", 0x01, 167, 0, 4);
    /// 01h:167 bits 7–4: module power-down maximum duration code.
    pub const MODULE_PWRDN_DURATION: Field = Field::bits("MaxDurationModulePwrDn", 0x01, 167, 4, 4);
    /// 01h:168 bits 3–0: DPTxTurnOn maximum duration code (SONiC page01.py).
    pub const DP_TX_TURNON_DURATION: Field = Field::bits("MaxDurationDPTxTurnOn", 0x01, 168, 0, 4);
    /// First byte of application descriptor 9 on page 01h (n = 9..=15 at 223+4(n−9); SONiC page01.py).
    pub const APP_DESCRIPTORS_PAGE01: u8 = 223;

    /// 01h:176+(n−1): media lane assignment options of application n (1–15).
    pub fn media_lane_assignment(app: u8) -> Result<Field> {
        check_app(app)?;
        Ok(Field::u8(
            "MediaLaneAssignmentOptions",
            0x01,
            176 + (app - 1),
        ))
    }

    pub(crate) fn check_app(app: u8) -> Result<u8> {
        if app == 0 || app > 15 {
            return Err(crate::cmis::error::CmisError::ValueOutOfRange {
                field: "ApSel",
                page: 0x00,
                offset: APP_DESCRIPTORS_LOWER,
                value: app.to_string(),
            });
        }
        Ok(app)
    }

    // ---- Page 04h (photonics.md §1 "Tunable laser"; SONiC pages/page04.py) ----

    /// 04h:128: supported grid spacings (bit mask, as advertised).
    pub const SUPPORTED_GRIDS: Field = Field::u8("GridSupported", 0x04, 128);
    /// 04h:158–159: lowest channel number, S16 (SONiC reads it on the 75 GHz grid).
    pub const LOW_CHANNEL: Field = Field::new("LowChannel", 0x04, 158, 2, Encoding::Signed);
    /// 04h:160–161: highest channel number, S16.
    pub const HIGH_CHANNEL: Field = Field::new("HighChannel", 0x04, 160, 2, Encoding::Signed);

    // ---- Page 10h (photonics.md §1 "Upper pages"; SONiC pages/page10.py) ----

    /// 10h:128: DPDeinit lane mask (CMIS ≥ 4: 1 = deinitialise the data path).
    pub const DP_DEINIT: Field = Field::u8("DPDeinit", 0x10, 128);
    /// 10h:130: OutputDisableTx lane mask.
    pub const TX_DISABLE: Field = Field::u8("OutputDisableTx", 0x10, 130);
    /// 10h:143: ApplyDPInit lane mask for staged control set 0 (write-only trigger).
    pub const APPLY_DP_INIT: Field = Field::u8("ApplyDPInit_SCS0", 0x10, 143);
    /// 10h:144: ApplyImmediate lane mask for staged control set 0.
    pub const APPLY_IMMEDIATE: Field = Field::u8("ApplyImmediate_SCS0", 0x10, 144);

    /// 10h:145+(lane−1): staged set 0 DPConfig `ApSel<<4 | firstLane<<1 | ExplicitControl`.
    pub fn staged_dp_config(lane: u8) -> Result<Field> {
        check_lane("DPConfigLane_SCS0", lane)?;
        Ok(Field::u8("DPConfigLane_SCS0", 0x10, 144 + lane))
    }

    // ---- Page 11h (photonics.md §1 "Upper pages"; SONiC pages/page11.py) ----

    /// 11h:128+(lane−1)/2: DPState, lane 1 in bits 3–0 of byte 128, lane 2 in bits 7–4.
    pub fn dp_state(lane: u8) -> Result<Field> {
        check_lane("DPStateHostLane", lane)?;
        Ok(Field::bits(
            "DPStateHostLane",
            0x11,
            128 + (lane - 1) / 2,
            4 * ((lane - 1) % 2),
            4,
        ))
    }

    /// 11h:154+2(lane−1): Tx optical power, U16 in 0.1 µW.
    pub fn tx_power(lane: u8) -> Result<Field> {
        check_lane("OpticalPowerTx", lane)?;
        Ok(Field::new(
            "OpticalPowerTx",
            0x11,
            154 + 2 * (lane - 1),
            2,
            Encoding::Unsigned,
        )
        .scaled(0.1, "uW"))
    }

    /// 11h:170+2(lane−1): Tx laser bias, U16 in 2 µA (bias multiplier 1, 01h:160 bits 4–3 = 0).
    pub fn tx_bias(lane: u8) -> Result<Field> {
        check_lane("LaserBiasTx", lane)?;
        Ok(Field::new(
            "LaserBiasTx",
            0x11,
            170 + 2 * (lane - 1),
            2,
            Encoding::Unsigned,
        )
        .scaled(2e-3, "mA"))
    }

    /// 11h:186+2(lane−1): Rx optical power, U16 in 0.1 µW.
    pub fn rx_power(lane: u8) -> Result<Field> {
        check_lane("OpticalPowerRx", lane)?;
        Ok(Field::new(
            "OpticalPowerRx",
            0x11,
            186 + 2 * (lane - 1),
            2,
            Encoding::Unsigned,
        )
        .scaled(0.1, "uW"))
    }

    /// 11h:202+(lane−1)/2: ConfigStatus, lane 1 in bits 3–0 of byte 202, lane 2 in bits 7–4.
    pub fn config_status(lane: u8) -> Result<Field> {
        check_lane("ConfigStatusLane", lane)?;
        Ok(Field::bits(
            "ConfigStatusLane",
            0x11,
            202 + (lane - 1) / 2,
            4 * ((lane - 1) % 2),
            4,
        ))
    }

    /// 11h:206+(lane−1): active control set DPConfig (same format as the staged set).
    pub fn active_dp_config(lane: u8) -> Result<Field> {
        check_lane("DPConfigLane_ACS", lane)?;
        Ok(Field::u8("DPConfigLane_ACS", 0x11, 205 + lane))
    }

    // ---- Page 12h (photonics.md §1 "Tunable laser"; SONiC pages/page12.py) ----

    /// 12h:128+(lane−1) bits 7–4: grid spacing code (see [`crate::cmis::tunable::GridSpacing`]).
    pub fn grid_spacing(lane: u8) -> Result<Field> {
        check_lane("GridSpacingTx", lane)?;
        Ok(Field::bits("GridSpacingTx", 0x12, 127 + lane, 4, 4))
    }

    /// 12h:136+2(lane−1): channel number n, S16.
    pub fn channel(lane: u8) -> Result<Field> {
        check_lane("ChannelNumberTx", lane)?;
        Ok(Field::new(
            "ChannelNumberTx",
            0x12,
            136 + 2 * (lane - 1),
            2,
            Encoding::Signed,
        ))
    }

    /// 12h:168+4(lane−1): current laser frequency, U32 in MHz (SONiC scales by 1000 to GHz).
    pub fn current_frequency(lane: u8) -> Result<Field> {
        check_lane("CurrentLaserFrequencyTx", lane)?;
        Ok(Field::new(
            "CurrentLaserFrequencyTx",
            0x12,
            168 + 4 * (lane - 1),
            4,
            Encoding::Unsigned,
        )
        .scaled(1.0, "MHz"))
    }

    /// 12h:200+2(lane−1): target output power, S16 in 0.01 dBm.
    pub fn target_power(lane: u8) -> Result<Field> {
        check_lane("TargetOutputPowerTx", lane)?;
        Ok(Field::new(
            "TargetOutputPowerTx",
            0x12,
            200 + 2 * (lane - 1),
            2,
            Encoding::Signed,
        )
        .scaled(0.01, "dBm"))
    }

    /// 12h:222+(lane−1): tuning status, bit 1 TuningInProgress, bit 0 WavelengthUnlocked.
    /// SONiC page12.py defines byte 222 for lane 1; one byte per lane is our extrapolation.
    pub fn tuning_status(lane: u8) -> Result<Field> {
        check_lane("TuningStatus", lane)?;
        Ok(Field::u8("TuningStatus", 0x12, 221 + lane))
    }

    // ---- VDM (photonics.md §1 "VDM"; SONiC api/public/cmisVDM.py, pages/page2f.py) ----

    /// 2Fh:128 bits 1–0: number of VDM descriptor pages supported minus one.
    pub const VDM_GROUPS_SUPPORTED: Field = Field::bits("VdmSupportedPages", 0x2F, 128, 0, 2);
    /// 2Fh:144 bit 7: VDM freeze request.
    pub const VDM_FREEZE_REQUEST: Field = Field::bits("VdmFreezeRequest", 0x2F, 144, 7, 1);
}

/// Application descriptor (4 bytes): lower page 86+4(n−1) for n = 1..=8, page 01h
/// 223+4(n−9) for n = 9..=15 (photonics.md §1 "Lower page 00h"; SONiC page00_lower.py/page01.py).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplicationDescriptor {
    /// Byte 0: host electrical interface ID (0xFF = end of list).
    pub host_interface_id: u8,
    /// Byte 1: module media interface ID.
    pub media_interface_id: u8,
    /// Byte 2 bits 7–4: host lane count.
    pub host_lane_count: u8,
    /// Byte 2 bits 3–0: media lane count.
    pub media_lane_count: u8,
    /// Byte 3: host lane assignment options (bit i: a data path may start at lane i+1).
    pub host_lane_assignment: u8,
}

impl ApplicationDescriptor {
    /// Decodes the 4 descriptor bytes.
    pub const fn decode(b: [u8; 4]) -> Self {
        Self {
            host_interface_id: b[0],
            media_interface_id: b[1],
            host_lane_count: b[2] >> 4,
            media_lane_count: b[2] & 0x0F,
            host_lane_assignment: b[3],
        }
    }

    /// Encodes to the 4 descriptor bytes (lane counts are masked to 4 bits).
    pub const fn encode(&self) -> [u8; 4] {
        [
            self.host_interface_id,
            self.media_interface_id,
            ((self.host_lane_count & 0x0F) << 4) | (self.media_lane_count & 0x0F),
            self.host_lane_assignment,
        ]
    }

    /// Whether the descriptor is unused (host interface 0x00 or 0xFF, the list terminator).
    pub const fn is_unused(&self) -> bool {
        self.host_interface_id == 0x00 || self.host_interface_id == 0xFF
    }
}

/// A DPConfig byte of a staged or active control set: `ApSel<<4 | DataPathID<<1 | ExplicitControl`,
/// DataPathID being the 0-based index of the data path's first lane (photonics.md §1 "10h").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpConfig {
    /// Application selector: 1–15 index the descriptors, 0 = lane unused.
    pub ap_sel: u8,
    /// 0-based index in the bank of the first lane of the data path (0–7).
    pub first_lane: u8,
    /// ExplicitControl: use the staged signal-integrity settings instead of the defaults.
    pub explicit_control: bool,
}

impl DpConfig {
    /// Decodes a DPConfig byte (total).
    pub const fn decode(b: u8) -> Self {
        Self {
            ap_sel: b >> 4,
            first_lane: (b >> 1) & 0x07,
            explicit_control: b & 1 == 1,
        }
    }

    /// Encodes, rejecting ApSel > 15 or first lane > 7.
    pub fn encode(&self) -> Result<u8> {
        if self.ap_sel > 15 || self.first_lane > 7 {
            return Err(CmisError::ValueOutOfRange {
                field: "DPConfigLane",
                page: 0x10,
                offset: 145,
                value: format!("ApSel {} first lane {}", self.ap_sel, self.first_lane),
            });
        }
        Ok((self.ap_sel << 4) | (self.first_lane << 1) | u8::from(self.explicit_control))
    }
}

/// Maximum durations advertised on page 01h, in ms (code table: CMIS 5.x "State Duration
/// Encoding", as SONiC `codes/public/cmis.py` `DP_PATH_TIMINGS`: upper bound of each range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durations {
    /// DPInit.
    pub dp_init_ms: u32,
    /// DPDeinit.
    pub dp_deinit_ms: u32,
    /// Module power-up.
    pub module_pwr_up_ms: u32,
    /// Module power-down.
    pub module_pwr_dn_ms: u32,
    /// DPTxTurnOn.
    pub dp_tx_turn_on_ms: u32,
}

/// Upper bound in ms of a 4-bit duration code (codes 14 and 15 are reserved → `None`).
pub const fn duration_code_ms(code: u8) -> Option<u32> {
    Some(match code {
        0 => 1,
        1 => 5,
        2 => 10,
        3 => 50,
        4 => 100,
        5 => 500,
        6 => 1_000,
        7 => 5_000,
        8 => 10_000,
        9 => 60_000,
        10 => 300_000,
        11 => 600_000,
        12 => 3_000_000,
        13 => 6_000_000,
        _ => return None,
    })
}

/// The module memory map: lower page and upper pages, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryMap {
    lower: [u8; PAGE_SIZE],
    upper: UpperPages,
}

/// Upper pages by (bank, page), found in one step: every field a module simulator or a host
/// reads or writes looks its page up, several times per lane per tick, and an ordered map's
/// search was a few percent of a corridor grant's CPU.
#[derive(Clone, PartialEq, Eq)]
struct UpperPages {
    /// The pages held, in (bank, page) order.
    pages: Vec<(PageAddress, [u8; PAGE_SIZE])>,
    /// For each `bank * 256 + page`, its index in `pages` plus one; 0 when not held.
    slots: Box<[u16; UPPER_SLOTS]>,
}

/// Every (bank, page) pair a [`PageAddress`] can name, valid or not.
const UPPER_SLOTS: usize = (MAX_BANK as usize + 1) * 256;

impl UpperPages {
    fn new() -> Self {
        Self {
            pages: Vec::new(),
            slots: Box::new([0; UPPER_SLOTS]),
        }
    }

    fn slot(addr: PageAddress) -> usize {
        usize::from(addr.bank()) * 256 + usize::from(addr.page())
    }

    fn index(&self, addr: PageAddress) -> Option<usize> {
        self.slots[Self::slot(addr)].checked_sub(1).map(usize::from)
    }

    fn get(&self, addr: PageAddress) -> Option<&[u8; PAGE_SIZE]> {
        self.index(addr).map(|i| &self.pages[i].1)
    }

    fn contains(&self, addr: PageAddress) -> bool {
        self.index(addr).is_some()
    }

    /// Page `addr`, created zeroed if absent.
    fn get_or_zeroed(&mut self, addr: PageAddress) -> &mut [u8; PAGE_SIZE] {
        let i = match self.index(addr) {
            Some(i) => i,
            None => self.insert(addr, [0; PAGE_SIZE]),
        };
        &mut self.pages[i].1
    }

    /// Inserts or replaces page `addr`; its index in `pages`.
    fn insert(&mut self, addr: PageAddress, bytes: [u8; PAGE_SIZE]) -> usize {
        if let Some(i) = self.index(addr) {
            self.pages[i].1 = bytes;
            return i;
        }
        let at = self.pages.partition_point(|(a, _)| *a < addr);
        self.pages.insert(at, (addr, bytes));
        // The pages from `at` on moved up by one (a map holds a few dozen at most).
        for (i, (a, _)) in self.pages.iter().enumerate().skip(at) {
            self.slots[Self::slot(*a)] = u16::try_from(i + 1).expect("at most 1,024 pages");
        }
        at
    }

    fn iter(&self) -> impl Iterator<Item = (PageAddress, &[u8; PAGE_SIZE])> {
        self.pages.iter().map(|(a, b)| (*a, b))
    }
}

impl std::fmt::Debug for UpperPages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Default for MemoryMap {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryMap {
    /// An all-zero lower page and no upper pages.
    pub fn new() -> Self {
        Self {
            lower: [0; PAGE_SIZE],
            upper: UpperPages::new(),
        }
    }

    /// Parses a lower page (exactly 128 bytes) into a map without upper pages.
    pub fn from_lower_page(bytes: &[u8]) -> Result<Self> {
        let lower: [u8; PAGE_SIZE] = bytes
            .try_into()
            .map_err(|_| CmisError::BadImageLength { len: bytes.len() })?;
        Ok(Self {
            lower,
            upper: UpperPages::new(),
        })
    }

    /// Parses a linear optoe image: 128 lower-page bytes, then 128-byte slots at
    /// `(bank*256+page)*128+128`. Slots that are not valid (bank, page) pairs (e.g. pages
    /// 05h–0Fh) are skipped; every valid slot becomes a page of the map.
    pub fn from_linear(image: &[u8]) -> Result<Self> {
        if image.len() < PAGE_SIZE || !image.len().is_multiple_of(PAGE_SIZE) {
            return Err(CmisError::BadImageLength { len: image.len() });
        }
        let mut map = Self::from_lower_page(&image[..PAGE_SIZE])?;
        for (slot, chunk) in image[PAGE_SIZE..].chunks_exact(PAGE_SIZE).enumerate() {
            let (bank, page) = (slot / 256, (slot % 256) as u8);
            let Ok(bank) = u8::try_from(bank) else { break };
            if let Ok(addr) = PageAddress::new(bank, page) {
                let mut buf = [0u8; PAGE_SIZE];
                buf.copy_from_slice(chunk);
                map.upper.insert(addr, buf);
            }
        }
        Ok(map)
    }

    /// The linear optoe image up to the last page held; slots of absent or invalid pages are 0.
    pub fn to_linear(&self) -> Vec<u8> {
        let end = self
            .upper
            .iter()
            .map(|(a, _)| a.linear_base() + PAGE_SIZE)
            .max()
            .unwrap_or(PAGE_SIZE);
        let mut out = vec![0u8; end];
        out[..PAGE_SIZE].copy_from_slice(&self.lower);
        for (addr, bytes) in self.upper.iter() {
            let base = addr.linear_base();
            out[base..base + PAGE_SIZE].copy_from_slice(bytes);
        }
        out
    }

    /// The lower page.
    pub fn lower(&self) -> &[u8; PAGE_SIZE] {
        &self.lower
    }

    /// Upper page `addr` (index 0 = byte 128), if held.
    pub fn page(&self, addr: PageAddress) -> Option<&[u8; PAGE_SIZE]> {
        self.upper.get(addr)
    }

    /// Whether upper page `addr` is held.
    pub fn has_page(&self, addr: PageAddress) -> bool {
        self.upper.contains(addr)
    }

    /// Upper page `addr`, created zeroed if absent.
    pub fn page_mut(&mut self, addr: PageAddress) -> &mut [u8; PAGE_SIZE] {
        self.upper.get_or_zeroed(addr)
    }

    /// Inserts (or replaces) upper page `addr`.
    pub fn insert_page(&mut self, addr: PageAddress, bytes: [u8; PAGE_SIZE]) {
        self.upper.insert(addr, bytes);
    }

    /// The upper pages held, in (bank, page) order.
    pub fn pages(&self) -> impl Iterator<Item = (PageAddress, &[u8; PAGE_SIZE])> {
        self.upper.iter()
    }

    fn check_span(page: u8, offset: u8, len: usize) -> Result<()> {
        let end = offset as usize + len;
        let ok = if offset < 128 { end <= 128 } else { end <= 256 };
        if len == 0 || !ok {
            return Err(CmisError::OffsetOutOfRange { page, offset, len });
        }
        Ok(())
    }

    /// `len` bytes from CMIS byte address `offset` (0–255) with `addr` selected; the range must
    /// stay inside the lower page (< 128) or the upper page.
    pub fn read_bytes(&self, addr: PageAddress, offset: u8, len: usize) -> Result<&[u8]> {
        Self::check_span(addr.page(), offset, len)?;
        let o = offset as usize;
        if o < 128 {
            return Ok(&self.lower[o..o + len]);
        }
        let page = self.upper.get(addr).ok_or(CmisError::PageNotPresent {
            bank: addr.bank(),
            page: addr.page(),
        })?;
        Ok(&page[o - 128..o - 128 + len])
    }

    /// Writes `data` at CMIS byte address `offset` with `addr` selected (creating the page).
    pub fn write_bytes(&mut self, addr: PageAddress, offset: u8, data: &[u8]) -> Result<()> {
        Self::check_span(addr.page(), offset, data.len())?;
        let o = offset as usize;
        if o < 128 {
            self.lower[o..o + data.len()].copy_from_slice(data);
        } else {
            self.page_mut(addr)[o - 128..o - 128 + data.len()].copy_from_slice(data);
        }
        Ok(())
    }

    /// One byte.
    pub fn read_byte(&self, at: ByteAddr) -> Result<u8> {
        Ok(self.read_bytes(at.page(), at.offset(), 1)?[0])
    }

    /// Writes one byte (creating the page).
    pub fn write_byte(&mut self, at: ByteAddr, value: u8) -> Result<()> {
        self.write_bytes(at.page(), at.offset(), &[value])
    }

    /// Reads `buf.len()` bytes at a linear optoe offset (may span pages; all must be held).
    pub fn read_linear(&self, linear: usize, buf: &mut [u8]) -> Result<()> {
        for (i, b) in buf.iter_mut().enumerate() {
            let at =
                ByteAddr::from_linear(linear + i).map_err(|_| CmisError::LinearOutOfRange {
                    offset: linear,
                    len: i + 1,
                })?;
            *b = self.read_byte(at)?;
        }
        Ok(())
    }

    /// The upper page currently selected by bytes 126 (bank) and 127 (page).
    pub fn selected_page(&self) -> Result<PageAddress> {
        PageAddress::new(self.lower[126], self.lower[127])
    }

    /// What a host reads over I2C at byte `offset`: the lower page, or the selected upper page.
    pub fn read_i2c(&self, offset: u8, len: usize) -> Result<&[u8]> {
        let addr = if offset < 128 {
            PageAddress::PAGE_00
        } else {
            self.selected_page()?
        };
        self.read_bytes(addr, offset, len)
    }

    fn field_page(bank: u8, field: &Field) -> Result<PageAddress> {
        if field.is_lower() {
            return Ok(PageAddress::PAGE_00);
        }
        if bank > MAX_BANK {
            return Err(CmisError::InvalidBank {
                bank,
                max: MAX_BANK,
            });
        }
        PageAddress::new(bank, field.page)
    }

    /// The raw value of `field` in `bank` (ignored for lower-page and unbanked fields must use 0).
    pub fn read_raw(&self, bank: u8, field: &Field) -> Result<i64> {
        let addr = Self::field_page(bank, field)?;
        let b = self.read_bytes(addr, field.offset, field.len as usize)?;
        Ok(match field.encoding {
            Encoding::Unsigned => b.iter().fold(0i64, |acc, &x| (acc << 8) | i64::from(x)),
            Encoding::Signed => {
                let u = b.iter().fold(0i64, |acc, &x| (acc << 8) | i64::from(x));
                let bits = 8 * u32::from(field.len);
                if u >= 1i64 << (bits - 1) {
                    u - (1i64 << bits)
                } else {
                    u
                }
            }
            Encoding::Bits { lsb, width } => i64::from((b[0] >> lsb) & ((1u16 << width) - 1) as u8),
            Encoding::F16 => i64::from(u16::from_be_bytes([b[0], b[1]])),
        })
    }

    /// Writes the raw value of `field` (bit fields are read-modify-written).
    pub fn write_raw(&mut self, bank: u8, field: &Field, raw: i64) -> Result<()> {
        let (lo, hi) = field.raw_range();
        if raw < lo || raw > hi {
            return Err(field.out_of_range(raw));
        }
        let addr = Self::field_page(bank, field)?;
        match field.encoding {
            Encoding::Bits { lsb, width } => {
                let cur = self
                    .read_bytes(addr, field.offset, 1)
                    .map(|b| b[0])
                    .unwrap_or(0);
                let mask = (((1u16 << width) - 1) as u8) << lsb;
                let v = (cur & !mask) | (((raw as u8) << lsb) & mask);
                self.write_bytes(addr, field.offset, &[v])
            }
            _ => {
                let len = field.len as usize;
                let bytes = (raw as u64).to_be_bytes();
                self.write_bytes(addr, field.offset, &bytes[8 - len..])
            }
        }
    }

    /// The physical value of `field`: raw · scale (F16: decoded · scale).
    pub fn read_value(&self, bank: u8, field: &Field) -> Result<f64> {
        let raw = self.read_raw(bank, field)?;
        Ok(match field.encoding {
            Encoding::F16 => f16::decode(raw as u16) * field.scale,
            _ => raw as f64 * field.scale,
        })
    }

    /// Writes a physical value, rounding to the nearest raw step; out-of-range values are errors.
    pub fn write_value(&mut self, bank: u8, field: &Field, value: f64) -> Result<()> {
        let raw = match field.encoding {
            Encoding::F16 => {
                i64::from(f16::encode(value / field.scale).map_err(|_| field.out_of_range(value))?)
            }
            _ => {
                let r = f16::round(value / field.scale);
                let (lo, hi) = field.raw_range();
                if !r.is_finite() || r < lo as f64 || r > hi as f64 {
                    return Err(field.out_of_range(value));
                }
                r as i64
            }
        };
        self.write_raw(bank, field, raw)
    }

    /// Writes a physical value, clamping it to the field's range (NaN → 0), as a monitor ADC does.
    pub fn write_value_saturating(&mut self, bank: u8, field: &Field, value: f64) -> Result<()> {
        let raw = match field.encoding {
            Encoding::F16 => i64::from(f16::encode_saturating(value / field.scale)),
            _ => {
                let (lo, hi) = field.raw_range();
                let r = f16::round(value / field.scale);
                if r.is_nan() {
                    0
                } else {
                    r.clamp(lo as f64, hi as f64) as i64
                }
            }
        };
        self.write_raw(bank, field, raw)
    }

    fn u8_of(&self, bank: u8, field: &Field) -> Result<u8> {
        Ok(self.read_raw(bank, field)? as u8)
    }

    // ---- Lower page ----

    /// Byte 0: identifier.
    pub fn identifier(&self) -> u8 {
        self.lower[0]
    }

    /// Byte 1: CMIS revision as (major, minor).
    pub fn revision(&self) -> (u8, u8) {
        (self.lower[1] >> 4, self.lower[1] & 0x0F)
    }

    /// Byte 2 bit 7: flat memory.
    pub fn flat_memory(&self) -> bool {
        self.lower[2] & 0x80 != 0
    }

    /// Byte 3 bits 3–1: module state.
    pub fn module_state(&self) -> Result<ModuleState> {
        let code = self.u8_of(0, &fields::MODULE_STATE)?;
        ModuleState::from_code(code).ok_or(CmisError::UnknownCode {
            field: "ModuleState",
            page: 0,
            offset: 3,
            code,
        })
    }

    /// Sets byte 3 bits 3–1.
    pub fn set_module_state(&mut self, state: ModuleState) -> Result<()> {
        self.write_raw(0, &fields::MODULE_STATE, i64::from(state.code()))
    }

    /// Bytes 14–15: module temperature in °C.
    pub fn temperature_c(&self) -> Result<f64> {
        self.read_value(0, &fields::MODULE_TEMPERATURE)
    }

    /// Bytes 16–17: supply voltage in V.
    pub fn vcc_v(&self) -> Result<f64> {
        self.read_value(0, &fields::SUPPLY_VOLTAGE)
    }

    /// Byte 26 bit 4: LowPwrRequestSW.
    pub fn low_power_request_sw(&self) -> bool {
        self.lower[26] & 0x10 != 0
    }

    /// Sets or clears byte 26 bit 4.
    pub fn set_low_power_request_sw(&mut self, on: bool) {
        if on {
            self.lower[26] |= 0x10;
        } else {
            self.lower[26] &= !0x10;
        }
    }

    /// Byte 85: media type.
    pub fn media_type(&self) -> u8 {
        self.lower[85]
    }

    fn app_location(app: u8) -> Result<(PageAddress, u8)> {
        fields::check_app(app)?;
        Ok(if app <= 8 {
            (
                PageAddress::PAGE_00,
                fields::APP_DESCRIPTORS_LOWER + 4 * (app - 1),
            )
        } else {
            (
                PageAddress::new(0, 0x01)?,
                fields::APP_DESCRIPTORS_PAGE01 + 4 * (app - 9),
            )
        })
    }

    /// Application descriptor `app` (1–15).
    pub fn application(&self, app: u8) -> Result<ApplicationDescriptor> {
        let (addr, off) = Self::app_location(app)?;
        let b = self.read_bytes(addr, off, 4)?;
        Ok(ApplicationDescriptor::decode([b[0], b[1], b[2], b[3]]))
    }

    /// Writes application descriptor `app` (1–15).
    pub fn set_application(&mut self, app: u8, desc: &ApplicationDescriptor) -> Result<()> {
        let (addr, off) = Self::app_location(app)?;
        self.write_bytes(addr, off, &desc.encode())
    }

    /// The advertised applications, (ApSel, descriptor), up to the 0xFF terminator. Descriptors
    /// 9–15 are read only if page 01h is held.
    pub fn applications(&self) -> Vec<(u8, ApplicationDescriptor)> {
        let mut out = Vec::new();
        for app in 1..=15u8 {
            let Ok(d) = self.application(app) else { break };
            if d.host_interface_id == 0xFF {
                break;
            }
            if !d.is_unused() {
                out.push((app, d));
            }
        }
        out
    }

    // ---- Page 01h ----

    /// The maximum durations of page 01h (reserved codes read as `u32::MAX`).
    pub fn durations(&self) -> Result<Durations> {
        let ms = |f: &Field| -> Result<u32> {
            Ok(duration_code_ms(self.u8_of(0, f)?).unwrap_or(u32::MAX))
        };
        Ok(Durations {
            dp_init_ms: ms(&fields::DP_INIT_DURATION)?,
            dp_deinit_ms: ms(&fields::DP_DEINIT_DURATION)?,
            module_pwr_up_ms: ms(&fields::MODULE_PWRUP_DURATION)?,
            module_pwr_dn_ms: ms(&fields::MODULE_PWRDN_DURATION)?,
            dp_tx_turn_on_ms: ms(&fields::DP_TX_TURNON_DURATION)?,
        })
    }

    /// Media lane assignment options of application `app` (page 01h byte 176+(app−1)).
    pub fn media_lane_assignment(&self, app: u8) -> Result<u8> {
        self.u8_of(0, &fields::media_lane_assignment(app)?)
    }

    // ---- Page 04h ----

    /// Supported grids bit mask, lowest and highest channel number.
    pub fn laser_capabilities(&self) -> Result<(u8, i16, i16)> {
        Ok((
            self.u8_of(0, &fields::SUPPORTED_GRIDS)?,
            self.read_raw(0, &fields::LOW_CHANNEL)? as i16,
            self.read_raw(0, &fields::HIGH_CHANNEL)? as i16,
        ))
    }

    // ---- Page 10h (per bank) ----

    /// DPDeinit lane mask of `bank`.
    pub fn dp_deinit_mask(&self, bank: u8) -> Result<u8> {
        self.u8_of(bank, &fields::DP_DEINIT)
    }

    /// OutputDisableTx lane mask of `bank`.
    pub fn tx_disable_mask(&self, bank: u8) -> Result<u8> {
        self.u8_of(bank, &fields::TX_DISABLE)
    }

    /// Staged control set 0 DPConfig of `lane`.
    pub fn staged_dp_config(&self, lane: Lane) -> Result<DpConfig> {
        Ok(DpConfig::decode(self.u8_of(
            lane.bank(),
            &fields::staged_dp_config(lane.index_in_bank())?,
        )?))
    }

    /// Writes the staged control set 0 DPConfig of `lane`.
    pub fn set_staged_dp_config(&mut self, lane: Lane, cfg: &DpConfig) -> Result<()> {
        let f = fields::staged_dp_config(lane.index_in_bank())?;
        self.write_raw(lane.bank(), &f, i64::from(cfg.encode()?))
    }

    // ---- Page 11h (per lane) ----

    /// DPState of `lane`.
    pub fn dp_state(&self, lane: Lane) -> Result<DataPathState> {
        let f = fields::dp_state(lane.index_in_bank())?;
        let code = self.u8_of(lane.bank(), &f)?;
        DataPathState::from_code(code).ok_or(CmisError::UnknownCode {
            field: f.name,
            page: f.page,
            offset: f.offset,
            code,
        })
    }

    /// Sets the DPState nibble of `lane`.
    pub fn set_dp_state(&mut self, lane: Lane, state: DataPathState) -> Result<()> {
        self.write_raw(
            lane.bank(),
            &fields::dp_state(lane.index_in_bank())?,
            i64::from(state.code()),
        )
    }

    /// ConfigStatus of `lane`.
    pub fn config_status(&self, lane: Lane) -> Result<ConfigStatus> {
        let f = fields::config_status(lane.index_in_bank())?;
        Ok(ConfigStatus::from_code(self.u8_of(lane.bank(), &f)?))
    }

    /// Sets the ConfigStatus nibble of `lane`.
    pub fn set_config_status(&mut self, lane: Lane, status: ConfigStatus) -> Result<()> {
        self.write_raw(
            lane.bank(),
            &fields::config_status(lane.index_in_bank())?,
            i64::from(status.code()),
        )
    }

    /// Active control set DPConfig of `lane`.
    pub fn active_dp_config(&self, lane: Lane) -> Result<DpConfig> {
        Ok(DpConfig::decode(self.u8_of(
            lane.bank(),
            &fields::active_dp_config(lane.index_in_bank())?,
        )?))
    }

    /// Writes the active control set DPConfig of `lane`.
    pub fn set_active_dp_config(&mut self, lane: Lane, cfg: &DpConfig) -> Result<()> {
        let f = fields::active_dp_config(lane.index_in_bank())?;
        self.write_raw(lane.bank(), &f, i64::from(cfg.encode()?))
    }

    /// Tx optical power of `lane` in µW.
    pub fn tx_power_uw(&self, lane: Lane) -> Result<f64> {
        self.read_value(lane.bank(), &fields::tx_power(lane.index_in_bank())?)
    }

    /// Tx bias of `lane` in mA.
    pub fn tx_bias_ma(&self, lane: Lane) -> Result<f64> {
        self.read_value(lane.bank(), &fields::tx_bias(lane.index_in_bank())?)
    }

    /// Rx optical power of `lane` in µW.
    pub fn rx_power_uw(&self, lane: Lane) -> Result<f64> {
        self.read_value(lane.bank(), &fields::rx_power(lane.index_in_bank())?)
    }

    // ---- Page 12h (per lane) ----

    /// Grid spacing of `lane`.
    pub fn grid_spacing(&self, lane: Lane) -> Result<GridSpacing> {
        let f = fields::grid_spacing(lane.index_in_bank())?;
        let code = self.u8_of(lane.bank(), &f)?;
        GridSpacing::from_code(code).ok_or(CmisError::UnknownCode {
            field: f.name,
            page: f.page,
            offset: f.offset,
            code,
        })
    }

    /// Sets the grid spacing of `lane`.
    pub fn set_grid_spacing(&mut self, lane: Lane, grid: GridSpacing) -> Result<()> {
        self.write_raw(
            lane.bank(),
            &fields::grid_spacing(lane.index_in_bank())?,
            i64::from(grid.code()),
        )
    }

    /// Channel number of `lane`.
    pub fn channel(&self, lane: Lane) -> Result<i16> {
        Ok(self.read_raw(lane.bank(), &fields::channel(lane.index_in_bank())?)? as i16)
    }

    /// Sets the channel number of `lane`.
    pub fn set_channel(&mut self, lane: Lane, n: i16) -> Result<()> {
        self.write_raw(
            lane.bank(),
            &fields::channel(lane.index_in_bank())?,
            i64::from(n),
        )
    }

    /// Current laser frequency of `lane` in MHz.
    pub fn current_frequency_mhz(&self, lane: Lane) -> Result<u32> {
        Ok(self.read_raw(
            lane.bank(),
            &fields::current_frequency(lane.index_in_bank())?,
        )? as u32)
    }

    /// Sets the current laser frequency of `lane` in MHz.
    pub fn set_current_frequency_mhz(&mut self, lane: Lane, mhz: u32) -> Result<()> {
        self.write_raw(
            lane.bank(),
            &fields::current_frequency(lane.index_in_bank())?,
            i64::from(mhz),
        )
    }

    /// Target output power of `lane` in dBm.
    pub fn target_power_dbm(&self, lane: Lane) -> Result<f64> {
        self.read_value(lane.bank(), &fields::target_power(lane.index_in_bank())?)
    }

    /// Sets the target output power of `lane` in dBm (0.01 dBm steps).
    pub fn set_target_power_dbm(&mut self, lane: Lane, dbm: f64) -> Result<()> {
        self.write_value(
            lane.bank(),
            &fields::target_power(lane.index_in_bank())?,
            dbm,
        )
    }

    /// Tuning status of `lane`.
    pub fn tuning_status(&self, lane: Lane) -> Result<TuningStatus> {
        Ok(TuningStatus::decode(self.u8_of(
            lane.bank(),
            &fields::tuning_status(lane.index_in_bank())?,
        )?))
    }

    /// Sets the tuning status of `lane`.
    pub fn set_tuning_status(&mut self, lane: Lane, status: TuningStatus) -> Result<()> {
        self.write_raw(
            lane.bank(),
            &fields::tuning_status(lane.index_in_bank())?,
            i64::from(status.encode()),
        )
    }
}
