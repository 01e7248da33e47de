//! Capacity ledger per (device, week segment) and bundle placement.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::time::{DailyWindow, Segments, Span};

/// Bandwidth in MB/s (10^6 bytes per second). Integers keep the ledger's sums exact.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct MBps(pub u64);

impl MBps {
    /// From GB/s (10^9 bytes per second), rounded to the nearest MB/s; negatives become 0.
    #[must_use]
    pub fn from_gbps(gbps: f64) -> Self {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let v = (gbps * 1000.0).round().max(0.0) as u64;
        Self(v)
    }

    /// In GB/s.
    #[must_use]
    pub fn gbps(self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let v = self.0 as f64;
        v / 1000.0
    }
}

/// Shown in GB/s without trailing zeros: `201.6`, `180`.
impl fmt::Display for MBps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / 1000;
        let frac = self.0 % 1000;
        if frac == 0 {
            write!(f, "{whole}")
        } else {
            let s = format!("{frac:03}");
            write!(f, "{whole}.{}", s.trim_end_matches('0'))
        }
    }
}

/// Latency tier, classified by the HAL from latency and bandwidth (HBM, DRAM, CXL, persistent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tier {
    T0,
    T1,
    T2,
    T3,
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Default share of a device's peak bandwidth that floors may take: admission control keeps
/// Σfloors ≤ ~65–75 % of peak, where latency turns exponential (memory-cxl.md §5, from the
/// weighted-interleave cover letter). 0.75 is the top of that band: at the middle (0.7) the
/// default twin's four T2 devices (200 GB/s peak) would admit 140 GB/s and refuse the RFC's own
/// 150 GB/s T2 example; at 0.75 they admit exactly 150.
pub const DEFAULT_ADMISSION_SHARE: f64 = 0.75;

/// A memory device as the HAL reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub id: String,
    pub tier: Tier,
    pub bytes: u64,
    /// Peak bandwidth.
    pub peak: MBps,
    /// Overrides the ledger's [`LedgerConfig::admission_share`] for this device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission_share: Option<f64>,
    /// Hosts that can reach the device (its own host for local memory, every host with a
    /// path through the fabric's switches for a pooled device). Empty: every host, as for a
    /// ledger of one host's memory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

impl Device {
    /// A device with the ledger's default admission share.
    #[must_use]
    pub fn new(id: impl Into<String>, tier: Tier, bytes: u64, peak_gbps: f64) -> Self {
        Self {
            id: id.into(),
            tier,
            bytes,
            peak: MBps::from_gbps(peak_gbps),
            admission_share: None,
            hosts: Vec::new(),
        }
    }

    /// The device, reachable only from `hosts`.
    #[must_use]
    pub fn reachable_from(mut self, hosts: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.hosts = hosts.into_iter().map(Into::into).collect();
        self
    }

    /// The device with its own admission share (`0..=1`, checked when it joins a ledger).
    #[must_use]
    pub fn with_admission_share(mut self, share: f64) -> Self {
        self.admission_share = Some(share);
        self
    }

    /// Whether a bundle for `host` (`None`: no host named) may use the device.
    #[must_use]
    pub fn reaches(&self, host: Option<&str>) -> bool {
        match host {
            None => true,
            Some(h) => self.hosts.is_empty() || self.hosts.iter().any(|x| x == h),
        }
    }
}

/// Ledger-wide settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LedgerConfig {
    /// Share of each device's peak bandwidth that floors may take (0..=1).
    pub admission_share: f64,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            admission_share: DEFAULT_ADMISSION_SHARE,
        }
    }
}

/// A time-windowed floor: inside its window, the floor of every bundle it selects is this
/// value (the maximum, if several policies cover the same time), raised or lowered from the
/// bundle's own floor. "min 150 GB/s 20:00–08:00".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowedFloor {
    pub id: String,
    pub floor: MBps,
    pub window: DailyWindow,
    /// Only bundles of this security domain; `None` selects every bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_domain: Option<String>,
    /// The IANA zone the window's local time is in, kept for whoever evaluates the window at
    /// an instant ([`Ledger::floor_in_force`]); the ledger itself counts the window's offsets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

impl WindowedFloor {
    fn selects(&self, domain: Option<&str>) -> bool {
        match &self.security_domain {
            None => true,
            Some(d) => domain == Some(d.as_str()),
        }
    }
}

/// What a bundle asks for (the RFC's `bytes`, `latency_class`, `bandwidth_floor_GBs`,
/// `security_domain`, plus its lifetime).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleDemand {
    pub bytes: u64,
    pub latency_class: Tier,
    pub floor: MBps,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_domain: Option<String>,
    /// Unix seconds.
    pub start_s: i64,
    /// Unix seconds (lease expiry); `None` = until freed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_s: Option<i64>,
    /// The host whose processes use the bundle: only devices it reaches
    /// ([`Device::reaches`]) are placed on, migrations included. `None`: any device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl BundleDemand {
    /// A bundle starting at `start_s` with no end and no security domain.
    #[must_use]
    pub fn new(bytes: u64, latency_class: Tier, floor_gbps: f64, start_s: i64) -> Self {
        Self {
            bytes,
            latency_class,
            floor: MBps::from_gbps(floor_gbps),
            security_domain: None,
            start_s,
            end_s: None,
            host: None,
        }
    }
}

/// One device's part of a placement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    pub device: String,
    /// Index of the device in the ledger (stable: devices are only appended).
    pub index: u32,
    pub bytes: u64,
    /// This device's part of the bundle's own floor (per-window floors split the same way).
    pub floor: MBps,
    /// Split weight: the device's free floor bandwidth (MB/s) when the bundle was placed.
    pub weight: u64,
    /// The weight scaled for the kernel's `weighted_interleave` (1..=255, reduced).
    pub interleave_weight: u8,
}

/// Where a bundle lives. Several shares = weighted interleave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub latency_class: Tier,
    pub shares: Vec<Share>,
    /// Ledger revision the decision was taken against (see [`Ledger::apply`]).
    pub revision: u64,
}

/// A placed bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    pub id: String,
    pub request: BundleDemand,
    pub placement: Placement,
    /// Destination reserved by [`Ledger::migrate_begin`], held with the source until commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrating_to: Option<Placement>,
}

/// Why the ledger said no. Every rejection leaves the ledger unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error(
        "{device} in {window}: {granted} of {capacity} GB/s already granted; {requested} GB/s requested ({class_free} GB/s free across {class_devices} {class} devices)"
    )]
    Bandwidth {
        device: String,
        window: String,
        granted: MBps,
        capacity: MBps,
        requested: MBps,
        class: Tier,
        /// Sum over the class's devices of their free floor bandwidth in their own binding window.
        class_free: MBps,
        class_devices: usize,
    },
    #[error(
        "{requested} bytes do not fit on the {class} devices ({largest_free} bytes free on the largest)"
    )]
    Bytes {
        class: Tier,
        requested: u64,
        largest_free: u64,
    },
    #[error("no {0} device")]
    NoDevice(Tier),
    #[error("policy {policy} would put {device} in {window} at {granted} of {capacity} GB/s")]
    WindowedFloor {
        policy: String,
        device: String,
        window: String,
        granted: MBps,
        capacity: MBps,
    },
    #[error("no bundle {0}")]
    UnknownBundle(String),
    #[error("bundle {0} already exists")]
    DuplicateBundle(String),
    #[error("no policy {0}")]
    UnknownPolicy(String),
    #[error("bundle {0} is migrating")]
    Migrating(String),
    #[error("bundle {0} is not migrating")]
    NotMigrating(String),
    #[error("decision taken at revision {decided}, ledger is at {current}")]
    Stale { decided: u64, current: u64 },
    #[error(
        "{device} cannot shrink to {bytes} bytes and {capacity} GB/s: its bundles hold {used_bytes} bytes and up to {granted} GB/s"
    )]
    ReachBelowHeld {
        device: String,
        bytes: u64,
        capacity: MBps,
        used_bytes: u64,
        granted: MBps,
    },
    #[error("invalid request: {0}")]
    Invalid(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct DeviceState {
    device: Device,
    /// Admission capacity: ⌊peak × share⌋.
    capacity: u64,
    used_bytes: u64,
    /// Σ granted floors per segment, MB/s.
    granted: Vec<u64>,
    /// Gone from the fabric (discovery lists it offline): nothing new is placed on it; what
    /// it holds stays booked until freed.
    #[serde(default)]
    offline: bool,
    /// No fabric path gives its host reach (a pooled device's per-host slice without an
    /// active path, see [`Ledger::set_reach`]): nothing new is placed on it; what it holds
    /// stays booked.
    #[serde(default)]
    closed: bool,
}

impl DeviceState {
    /// Whether a new placement of class `class` for `host` may use this device.
    fn serves(&self, class: Tier, host: Option<&str>) -> bool {
        self.device.tier == class && self.device.reaches(host) && !self.offline && !self.closed
    }

    /// The device's admission capacity at `peak` MB/s.
    fn capacity_at(&self, peak: MBps, config: LedgerConfig) -> u64 {
        let share = self
            .device
            .admission_share
            .unwrap_or(config.admission_share);
        admission_capacity(peak, share)
    }
}

/// Admission capacity of a device: ⌊peak × share⌋ MB/s.
fn admission_capacity(peak: MBps, share: f64) -> u64 {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let capacity = (peak.0 as f64 * share).floor() as u64;
    capacity
}

/// Free bandwidth of a device over the segments a request lives in, and where it is least.
#[derive(Clone, Copy, Debug)]
struct Headroom {
    dev: usize,
    free: u64,
    seg: usize,
}

/// The capacity ledger: devices, policies, the week's segments, every live bundle, and per
/// (device, segment) the sum of granted floors. Pure data: clone it, serialize it (serde),
/// store it under one key and compare-and-swap on [`Ledger::revision`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    config: LedgerConfig,
    revision: u64,
    devices: Vec<DeviceState>,
    policies: Vec<WindowedFloor>,
    segments: Segments,
    bundles: BTreeMap<String, Bundle>,
}

/// Largest-remainder split of `total` in proportion to `weights` (ties to the lower index);
/// the parts sum to `total` exactly. All-zero weights give everything to the first.
pub fn apportion(total: u64, weights: &[u64], out: &mut Vec<u64>) {
    out.clear();
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if weights.len() <= 1 || sum == 0 {
        out.resize(weights.len(), 0);
        if let Some(first) = out.first_mut() {
            *first = total;
        }
        return;
    }
    let mut given = 0u64;
    let mut rems: Vec<(u128, usize)> = Vec::with_capacity(weights.len());
    for (i, &w) in weights.iter().enumerate() {
        let p = u128::from(total) * u128::from(w);
        #[allow(clippy::cast_possible_truncation)]
        let q = (p / sum) as u64;
        out.push(q);
        given += q;
        rems.push((p % sum, i));
    }
    let left = total - given;
    if left > 0 {
        rems.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        #[allow(clippy::cast_possible_truncation)]
        for &(_, i) in &rems[..left as usize] {
            out[i] += 1;
        }
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn interleave_weights(weights: &[u64]) -> Vec<u8> {
    let max = weights.iter().copied().max().unwrap_or(0).max(1);
    let scaled: Vec<u64> = weights
        .iter()
        .map(|&w| ((u128::from(w) * 255 + u128::from(max) / 2) / u128::from(max)).max(1))
        .map(|w| u64::try_from(w).unwrap_or(255))
        .collect();
    let g = scaled.iter().copied().fold(0, gcd).max(1);
    scaled
        .iter()
        .map(|&w| u8::try_from(w / g).unwrap_or(u8::MAX))
        .collect()
}

impl Ledger {
    /// An empty ledger over these devices.
    ///
    /// # Errors
    /// Duplicate device ids or a share outside `0..=1`.
    pub fn new(config: LedgerConfig, devices: Vec<Device>) -> Result<Self, Rejection> {
        let mut l = Self {
            config,
            revision: 0,
            devices: Vec::new(),
            policies: Vec::new(),
            segments: Segments::build(&[]),
            bundles: BTreeMap::new(),
        };
        for d in devices {
            l.add_device(d)?;
        }
        l.revision = 0;
        Ok(l)
    }

    /// Adds a device (hot-added CXL memory, say).
    ///
    /// # Errors
    /// Duplicate id or a share outside `0..=1`.
    pub fn add_device(&mut self, device: Device) -> Result<(), Rejection> {
        if self.devices.iter().any(|d| d.device.id == device.id) {
            return Err(Rejection::Invalid(format!(
                "duplicate device {}",
                device.id
            )));
        }
        let share = device
            .admission_share
            .unwrap_or(self.config.admission_share);
        if !(0.0..=1.0).contains(&share) {
            return Err(Rejection::Invalid(format!(
                "admission share {share} of {} outside 0..=1",
                device.id
            )));
        }
        let capacity = admission_capacity(device.peak, share);
        self.devices.push(DeviceState {
            device,
            capacity,
            used_bytes: 0,
            granted: vec![0; self.segments.len()],
            offline: false,
            closed: false,
        });
        self.revision += 1;
        Ok(())
    }

    /// Sets what device `id` offers, for a device whose reach comes and goes with fabric
    /// paths (a pooled CXL device's slice for one host: the bytes of the host's logical
    /// device and the bandwidth its paths guarantee). `Some((bytes, peak))` opens it with
    /// those limits; `None` closes it: nothing new is placed on it, what it holds stays
    /// booked and its limits stay as they were. Answers whether anything changed (`false`
    /// for an unknown id too).
    ///
    /// # Errors
    /// [`Rejection::ReachBelowHeld`] when the limits are below what the device's bundles
    /// hold (bytes, or floors in any segment); the ledger is unchanged.
    pub fn set_reach(&mut self, id: &str, reach: Option<(u64, MBps)>) -> Result<bool, Rejection> {
        let config = self.config;
        let Some(d) = self.devices.iter_mut().find(|d| d.device.id == id) else {
            return Ok(false);
        };
        let Some((bytes, peak)) = reach else {
            if d.closed {
                return Ok(false);
            }
            d.closed = true;
            self.revision += 1;
            return Ok(true);
        };
        let capacity = d.capacity_at(peak, config);
        let held = d.granted.iter().copied().max().unwrap_or(0);
        if bytes < d.used_bytes || capacity < held {
            return Err(Rejection::ReachBelowHeld {
                device: id.to_string(),
                bytes,
                capacity: MBps(capacity),
                used_bytes: d.used_bytes,
                granted: MBps(held),
            });
        }
        if !d.closed && d.device.bytes == bytes && d.device.peak == peak {
            return Ok(false);
        }
        d.device.bytes = bytes;
        d.device.peak = peak;
        d.capacity = capacity;
        d.closed = false;
        self.revision += 1;
        Ok(true)
    }

    /// Whether device `index` is closed (see [`Ledger::set_reach`]).
    #[must_use]
    pub fn is_closed(&self, index: usize) -> bool {
        self.devices.get(index).is_some_and(|d| d.closed)
    }

    /// Marks device `id` gone from the fabric (`true`) or back (`false`): an offline device
    /// takes no new placement (allocations, migrations, resizes that re-place); what it holds
    /// stays booked. Answers whether anything changed (`false` for an unknown id too).
    pub fn set_offline(&mut self, id: &str, offline: bool) -> bool {
        let Some(d) = self.devices.iter_mut().find(|d| d.device.id == id) else {
            return false;
        };
        if d.offline == offline {
            return false;
        }
        d.offline = offline;
        self.revision += 1;
        true
    }

    /// Whether device `index` is marked offline.
    #[must_use]
    pub fn is_offline(&self, index: usize) -> bool {
        self.devices.get(index).is_some_and(|d| d.offline)
    }

    // ----- read side -----

    /// Moves on with every successful change; a decision from [`Ledger::admit`] carries it.
    #[must_use]
    pub fn revision(&self) -> u64 {
        self.revision
    }

    #[must_use]
    pub fn config(&self) -> LedgerConfig {
        self.config
    }

    /// Devices in index order.
    pub fn devices(&self) -> impl Iterator<Item = &Device> {
        self.devices.iter().map(|d| &d.device)
    }

    /// Device `index` as the ledger holds it now (its limits change with [`Ledger::set_reach`]).
    #[must_use]
    pub fn device(&self, index: usize) -> &Device {
        &self.devices[index].device
    }

    /// Admission capacity of device `index` (⌊peak × share⌋).
    #[must_use]
    pub fn capacity(&self, index: usize) -> MBps {
        MBps(self.devices[index].capacity)
    }

    /// Sum of floors granted on device `index` in segment `seg`.
    #[must_use]
    pub fn granted(&self, index: usize, seg: usize) -> MBps {
        MBps(self.devices[index].granted[seg])
    }

    /// Bytes held on device `index`.
    #[must_use]
    pub fn used_bytes(&self, index: usize) -> u64 {
        self.devices[index].used_bytes
    }

    /// The week's segments.
    #[must_use]
    pub fn segments(&self) -> &Segments {
        &self.segments
    }

    /// Label of segment `seg`: the windows of the policies covering it, or its UTC span.
    #[must_use]
    pub fn window_label(&self, seg: usize) -> String {
        let cover = self.segments.cover(seg);
        if cover.is_empty() {
            self.segments.utc_label(seg)
        } else {
            let mut names: Vec<String> = cover
                .iter()
                .map(|&p| self.policies[usize::from(p)].window.to_string())
                .collect();
            names.dedup();
            names.join(" & ")
        }
    }

    #[must_use]
    pub fn policies(&self) -> &[WindowedFloor] {
        &self.policies
    }

    #[must_use]
    pub fn bundle(&self, id: &str) -> Option<&Bundle> {
        self.bundles.get(id)
    }

    pub fn bundles(&self) -> impl Iterator<Item = &Bundle> {
        self.bundles.values()
    }

    /// Number of live bundles.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bundles.len()
    }

    /// No bundle, no byte and no floor held anywhere.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bundles.is_empty()
            && self
                .devices
                .iter()
                .all(|d| d.used_bytes == 0 && d.granted.iter().all(|&g| g == 0))
    }

    /// The effective floor of a request in every segment it lives in, as `(segment, MB/s)`.
    ///
    /// # Errors
    /// A lifetime that ends before it starts.
    pub fn window_floors(&self, req: &BundleDemand) -> Result<Vec<(usize, u64)>, Rejection> {
        let span = Span::of_lifetime(req.start_s, req.end_s)
            .ok_or_else(|| Rejection::Invalid("end_s must be after start_s".into()))?;
        let mut out = Vec::new();
        self.floors_into(&self.policies, &self.segments, req, span, &mut out);
        Ok(out)
    }

    fn floors_into(
        &self,
        policies: &[WindowedFloor],
        segments: &Segments,
        req: &BundleDemand,
        span: Span,
        out: &mut Vec<(usize, u64)>,
    ) {
        out.clear();
        let domain = req.security_domain.as_deref();
        for r in segments.overlapping(span) {
            for s in r {
                // A policy that only may cover the segment (a window with two offsets, see
                // `time`) is counted as in force and as not in force: the larger floor.
                let mut sure = None::<u64>;
                let mut maybe = None::<u64>;
                let partial = segments.partial(s);
                for &i in segments.cover(s) {
                    let p = &policies[usize::from(i)];
                    if p.selects(domain) {
                        let slot = if partial.contains(&i) {
                            &mut maybe
                        } else {
                            &mut sure
                        };
                        *slot = Some(slot.map_or(p.floor.0, |f| f.max(p.floor.0)));
                    }
                }
                let floor = match (sure, maybe) {
                    (Some(f), m) => f.max(m.unwrap_or(0)),
                    (None, Some(m)) => m.max(req.floor.0),
                    (None, None) => req.floor.0,
                };
                out.push((s, floor));
            }
        }
    }

    /// The floor of a bundle at one instant, given which policies are in force then (the
    /// service decides that in the policy's own time zone): the largest floor of the policies
    /// in force that select it, else its own. Unlike [`Self::window_floors`], not conservative.
    #[must_use]
    pub fn floor_in_force(
        &self,
        req: &BundleDemand,
        in_force: impl Fn(&WindowedFloor) -> bool,
    ) -> u64 {
        let domain = req.security_domain.as_deref();
        self.policies
            .iter()
            .filter(|p| p.selects(domain) && in_force(p))
            .map(|p| p.floor.0)
            .max()
            .unwrap_or(req.floor.0)
    }

    fn validate(req: &BundleDemand) -> Result<Span, Rejection> {
        if req.bytes == 0 {
            return Err(Rejection::Invalid("bytes must be positive".into()));
        }
        Span::of_lifetime(req.start_s, req.end_s)
            .ok_or_else(|| Rejection::Invalid("end_s must be after start_s".into()))
    }

    /// Decides where a request would go, without changing anything (the search half; claim
    /// with [`Ledger::apply`] or use [`Ledger::allocate`]).
    ///
    /// One device of the class with the bytes and the floor in every window the bundle lives
    /// in (the one left with the most headroom); otherwise a weighted interleave over the
    /// fewest devices, most headroom first, weights = each device's free floor bandwidth in its
    /// tightest window, bytes and floors split by those weights.
    ///
    /// # Errors
    /// [`Rejection::Bandwidth`] naming the binding device and window, [`Rejection::Bytes`],
    /// [`Rejection::NoDevice`], [`Rejection::Invalid`].
    pub fn admit(&self, req: &BundleDemand) -> Result<Placement, Rejection> {
        let span = Self::validate(req)?;
        let mut floors = Vec::new();
        self.floors_into(&self.policies, &self.segments, req, span, &mut floors);
        let shares = self.place(req, &floors)?;
        Ok(Placement {
            latency_class: req.latency_class,
            shares,
            revision: self.revision,
        })
    }

    fn place(&self, req: &BundleDemand, floors: &[(usize, u64)]) -> Result<Vec<Share>, Rejection> {
        let class = req.latency_class;
        let fmax = floors.iter().map(|&(_, f)| f).max().unwrap_or(0);
        let mut class_devices = 0usize;
        let mut single: Option<(usize, u64)> = None;
        let mut best: Option<Headroom> = None;
        let mut cands: Vec<Headroom> = Vec::new();
        let mut largest_free = 0u64;
        for (i, d) in self.devices.iter().enumerate() {
            if !d.serves(class, req.host.as_deref()) {
                continue;
            }
            class_devices += 1;
            let free_bytes = d.device.bytes.saturating_sub(d.used_bytes);
            largest_free = largest_free.max(free_bytes);
            let mut free = u64::MAX;
            let mut seg = 0;
            let mut after = u64::MAX;
            let mut fits = true;
            for &(s, f) in floors {
                let h = d.capacity.saturating_sub(d.granted[s]);
                if h < free {
                    free = h;
                    seg = s;
                }
                if h < f {
                    fits = false;
                } else {
                    after = after.min(h - f);
                }
            }
            let h = Headroom { dev: i, free, seg };
            if best.is_none_or(|b| free > b.free) {
                best = Some(h);
            }
            if fits && free_bytes >= req.bytes && single.is_none_or(|(_, a)| after > a) {
                single = Some((i, after));
            }
            if free_bytes > 0 && free > 0 {
                cands.push(h);
            }
        }
        if let Some((i, _)) = single {
            return Ok(vec![self.share(i, req.bytes, req.floor.0, 1, 1)]);
        }
        let Some(best) = best else {
            return Err(Rejection::NoDevice(class));
        };
        let class_free = MBps(cands.iter().map(|h| h.free).sum());
        let bandwidth = || {
            let d = &self.devices[best.dev];
            Rejection::Bandwidth {
                device: d.device.id.clone(),
                window: self.window_label(best.seg),
                granted: MBps(d.granted[best.seg]),
                capacity: MBps(d.capacity),
                requested: MBps(fmax),
                class,
                class_free,
                class_devices,
            }
        };
        if fmax == 0 {
            // No floor to split and no single device has the bytes.
            return Err(Rejection::Bytes {
                class,
                requested: req.bytes,
                largest_free,
            });
        }
        cands.sort_unstable_by(|a, b| b.free.cmp(&a.free).then(a.dev.cmp(&b.dev)));
        let mut weights = Vec::new();
        let mut parts = Vec::new();
        let mut bytes_short = false;
        loop {
            let mut sum = 0u64;
            let mut k = 0;
            while k < cands.len() && sum < fmax {
                sum += cands[k].free;
                k += 1;
            }
            if sum < fmax {
                return Err(if bytes_short {
                    Rejection::Bytes {
                        class,
                        requested: req.bytes,
                        largest_free,
                    }
                } else {
                    bandwidth()
                });
            }
            weights.clear();
            weights.extend(cands[..k].iter().map(|h| h.free));
            apportion(req.bytes, &weights, &mut parts);
            let short = (0..k).find(|&j| {
                let d = &self.devices[cands[j].dev];
                d.device.bytes.saturating_sub(d.used_bytes) < parts[j]
            });
            if let Some(j) = short {
                cands.remove(j);
                bytes_short = true;
                continue;
            }
            let bytes = parts.clone();
            apportion(req.floor.0, &weights, &mut parts);
            let iw = interleave_weights(&weights);
            return Ok((0..k)
                .map(|j| self.share(cands[j].dev, bytes[j], parts[j], weights[j], iw[j]))
                .collect());
        }
    }

    fn share(&self, dev: usize, bytes: u64, floor: u64, weight: u64, iw: u8) -> Share {
        Share {
            device: self.devices[dev].device.id.clone(),
            index: u32::try_from(dev).unwrap_or(u32::MAX),
            bytes,
            floor: MBps(floor),
            weight,
            interleave_weight: iw,
        }
    }

    // ----- accounting -----

    /// Adds (or removes) a placement's floors and bytes. With `check`, fails without change if
    /// any (device, segment) would exceed its capacity, naming the first that would.
    fn account(
        &mut self,
        shares: &[Share],
        floors: &[(usize, u64)],
        add: bool,
        check: bool,
    ) -> Result<(), (usize, usize, u64)> {
        let weights: Vec<u64> = shares.iter().map(|s| s.weight).collect();
        let mut parts = Vec::with_capacity(shares.len());
        if check {
            for &(s, f) in floors {
                apportion(f, &weights, &mut parts);
                for (sh, &p) in shares.iter().zip(&parts) {
                    let d = &self.devices[sh.index as usize];
                    if d.granted[s] + p > d.capacity {
                        return Err((sh.index as usize, s, p));
                    }
                }
            }
        }
        for &(s, f) in floors {
            apportion(f, &weights, &mut parts);
            for (sh, &p) in shares.iter().zip(&parts) {
                let g = &mut self.devices[sh.index as usize].granted[s];
                *g = if add { *g + p } else { *g - p };
            }
        }
        for sh in shares {
            let u = &mut self.devices[sh.index as usize].used_bytes;
            *u = if add { *u + sh.bytes } else { *u - sh.bytes };
        }
        Ok(())
    }

    fn floors_of(&self, req: &BundleDemand) -> Vec<(usize, u64)> {
        let mut out = Vec::new();
        if let Some(span) = Span::of_lifetime(req.start_s, req.end_s) {
            self.floors_into(&self.policies, &self.segments, req, span, &mut out);
        }
        out
    }

    fn bandwidth_rejection(
        &self,
        req: &BundleDemand,
        (dev, seg, requested): (usize, usize, u64),
    ) -> Rejection {
        let d = &self.devices[dev];
        let class = d.device.tier;
        Rejection::Bandwidth {
            device: d.device.id.clone(),
            window: self.window_label(seg),
            granted: MBps(d.granted[seg]),
            capacity: MBps(d.capacity),
            requested: MBps(requested),
            class,
            class_free: MBps(self.class_free(req, class)),
            class_devices: self
                .devices
                .iter()
                .filter(|d| d.serves(class, req.host.as_deref()))
                .count(),
        }
    }

    fn class_free(&self, req: &BundleDemand, class: Tier) -> u64 {
        let floors = self.floors_of(req);
        self.devices
            .iter()
            .filter(|d| d.serves(class, req.host.as_deref()))
            .map(|d| {
                floors
                    .iter()
                    .map(|&(s, _)| d.capacity.saturating_sub(d.granted[s]))
                    .min()
                    .unwrap_or(0)
            })
            .sum()
    }

    // ----- write side -----

    /// Claims a decision from [`Ledger::admit`] for bundle `id`, if the ledger has not moved
    /// on since (compare-and-swap on the revision).
    ///
    /// # Errors
    /// [`Rejection::Stale`], [`Rejection::DuplicateBundle`], or a placement that does not fit.
    pub fn apply(
        &mut self,
        id: &str,
        req: BundleDemand,
        placement: Placement,
    ) -> Result<(), Rejection> {
        if placement.revision != self.revision {
            return Err(Rejection::Stale {
                decided: placement.revision,
                current: self.revision,
            });
        }
        if self.bundles.contains_key(id) {
            return Err(Rejection::DuplicateBundle(id.to_string()));
        }
        Self::validate(&req)?;
        if placement
            .shares
            .iter()
            .any(|s| s.index as usize >= self.devices.len())
        {
            return Err(Rejection::Invalid(
                "placement names an unknown device".into(),
            ));
        }
        let floors = self.floors_of(&req);
        self.account(&placement.shares, &floors, true, true)
            .map_err(|b| self.bandwidth_rejection(&req, b))?;
        self.revision += 1;
        self.bundles.insert(
            id.to_string(),
            Bundle {
                id: id.to_string(),
                request: req,
                placement,
                migrating_to: None,
            },
        );
        Ok(())
    }

    /// [`Ledger::admit`] then [`Ledger::apply`].
    ///
    /// # Errors
    /// As [`Ledger::admit`]; [`Rejection::DuplicateBundle`].
    pub fn allocate(&mut self, id: &str, req: BundleDemand) -> Result<Placement, Rejection> {
        if self.bundles.contains_key(id) {
            return Err(Rejection::DuplicateBundle(id.to_string()));
        }
        let p = self.admit(&req)?;
        self.apply(id, req, p.clone())?;
        Ok(p)
    }

    /// Re-admits a bundle with a changed request on the same devices and weights.
    fn respec(&mut self, id: &str, new: BundleDemand) -> Result<Placement, Rejection> {
        Self::validate(&new)?;
        let b = self
            .bundles
            .get(id)
            .ok_or_else(|| Rejection::UnknownBundle(id.to_string()))?;
        if b.migrating_to.is_some() {
            return Err(Rejection::Migrating(id.to_string()));
        }
        let shares = b.placement.shares.clone();
        let old = b.request.clone();
        let old_floors = self.floors_of(&old);
        let new_floors = self.floors_of(&new);
        let _ = self.account(&shares, &old_floors, false, false);
        if let Err(bind) = self.account(&shares, &new_floors, true, true) {
            let rej = self.bandwidth_rejection(&new, bind);
            let _ = self.account(&shares, &old_floors, true, false);
            return Err(rej);
        }
        self.revision += 1;
        let b = self.bundles.get_mut(id).expect("checked above");
        b.request = new;
        let weights: Vec<u64> = b.placement.shares.iter().map(|s| s.weight).collect();
        let mut parts = Vec::new();
        apportion(b.request.floor.0, &weights, &mut parts);
        for (s, p) in b.placement.shares.iter_mut().zip(parts) {
            s.floor = MBps(p);
        }
        b.placement.revision = self.revision;
        Ok(b.placement.clone())
    }

    /// `PATCH /v1/ffm/{id}/bandwidth`: a new floor, re-admitted on the bundle's devices with its
    /// weights in every window it lives in. On rejection nothing changes.
    ///
    /// # Errors
    /// [`Rejection::Bandwidth`] naming the binding device and window; unknown or migrating bundle.
    pub fn resize(&mut self, id: &str, floor: MBps) -> Result<Placement, Rejection> {
        let mut new = self
            .bundles
            .get(id)
            .ok_or_else(|| Rejection::UnknownBundle(id.to_string()))?
            .request
            .clone();
        new.floor = floor;
        self.respec(id, new)
    }

    /// Lease renewal: a new end (or none), re-admitted like [`Ledger::resize`].
    ///
    /// # Errors
    /// As [`Ledger::resize`].
    pub fn renew(&mut self, id: &str, end_s: Option<i64>) -> Result<Placement, Rejection> {
        let mut new = self
            .bundles
            .get(id)
            .ok_or_else(|| Rejection::UnknownBundle(id.to_string()))?
            .request
            .clone();
        new.end_s = end_s;
        self.respec(id, new)
    }

    /// Starts moving a bundle to another latency class: reserves the destination while the
    /// source stays held (both count until [`Ledger::migrate_commit`] or
    /// [`Ledger::migrate_abort`]).
    ///
    /// # Errors
    /// As [`Ledger::admit`]; unknown or already migrating bundle.
    pub fn migrate_begin(&mut self, id: &str, class: Tier) -> Result<Placement, Rejection> {
        let b = self
            .bundles
            .get(id)
            .ok_or_else(|| Rejection::UnknownBundle(id.to_string()))?;
        if b.migrating_to.is_some() {
            return Err(Rejection::Migrating(id.to_string()));
        }
        let mut req = b.request.clone();
        req.latency_class = class;
        let dest = self.admit(&req)?;
        let floors = self.floors_of(&req);
        self.account(&dest.shares, &floors, true, true)
            .map_err(|bind| self.bandwidth_rejection(&req, bind))?;
        self.revision += 1;
        let b = self.bundles.get_mut(id).expect("checked above");
        let mut dest = dest;
        dest.revision = self.revision;
        b.migrating_to = Some(dest.clone());
        Ok(dest)
    }

    /// Finishes a migration: releases the source; the destination becomes the placement.
    ///
    /// # Errors
    /// Unknown bundle or no migration in progress.
    pub fn migrate_commit(&mut self, id: &str) -> Result<Placement, Rejection> {
        let b = self
            .bundles
            .get(id)
            .ok_or_else(|| Rejection::UnknownBundle(id.to_string()))?;
        let Some(dest) = b.migrating_to.clone() else {
            return Err(Rejection::NotMigrating(id.to_string()));
        };
        let src = b.placement.shares.clone();
        let floors = self.floors_of(&b.request);
        let _ = self.account(&src, &floors, false, false);
        self.revision += 1;
        let b = self.bundles.get_mut(id).expect("checked above");
        b.request.latency_class = dest.latency_class;
        b.placement = dest;
        b.migrating_to = None;
        Ok(b.placement.clone())
    }

    /// Abandons a migration: releases the destination.
    ///
    /// # Errors
    /// Unknown bundle or no migration in progress.
    pub fn migrate_abort(&mut self, id: &str) -> Result<(), Rejection> {
        let b = self
            .bundles
            .get(id)
            .ok_or_else(|| Rejection::UnknownBundle(id.to_string()))?;
        let Some(dest) = b.migrating_to.clone() else {
            return Err(Rejection::NotMigrating(id.to_string()));
        };
        let floors = self.floors_of(&b.request);
        let _ = self.account(&dest.shares, &floors, false, false);
        self.revision += 1;
        self.bundles
            .get_mut(id)
            .expect("checked above")
            .migrating_to = None;
        Ok(())
    }

    /// [`Ledger::migrate_begin`] then [`Ledger::migrate_commit`].
    ///
    /// # Errors
    /// As [`Ledger::migrate_begin`].
    pub fn migrate(&mut self, id: &str, class: Tier) -> Result<Placement, Rejection> {
        self.migrate_begin(id, class)?;
        self.migrate_commit(id)
    }

    /// Adds or replaces (by id) a policy. Every bundle's floors are recomputed over the new
    /// segments; if any (device, window) would be over capacity the change is refused.
    ///
    /// # Errors
    /// [`Rejection::WindowedFloor`] naming the device and window that would be over.
    pub fn set_policy(&mut self, policy: WindowedFloor) -> Result<(), Rejection> {
        let name = policy.id.clone();
        let mut policies = self.policies.clone();
        match policies.iter_mut().find(|p| p.id == policy.id) {
            Some(p) => *p = policy,
            None => policies.push(policy),
        }
        self.replace_policies_checked(policies, &name, true)
    }

    /// Removes a policy (the floors it raised or lowered return to the bundles' own), under
    /// the same re-check as [`Ledger::set_policy`].
    ///
    /// # Errors
    /// [`Rejection::UnknownPolicy`]; [`Rejection::WindowedFloor`].
    pub fn remove_policy(&mut self, id: &str) -> Result<WindowedFloor, Rejection> {
        let i = self
            .policies
            .iter()
            .position(|p| p.id == id)
            .ok_or_else(|| Rejection::UnknownPolicy(id.to_string()))?;
        let mut policies = self.policies.clone();
        let removed = policies.remove(i);
        self.replace_policies_checked(policies, id, true)?;
        Ok(removed)
    }

    fn replace_policies_checked(
        &mut self,
        policies: Vec<WindowedFloor>,
        name: &str,
        check: bool,
    ) -> Result<(), Rejection> {
        if policies.len() > usize::from(u16::MAX) {
            return Err(Rejection::Invalid("too many policies".into()));
        }
        let windows: Vec<DailyWindow> = policies.iter().map(|p| p.window).collect();
        let segments = Segments::build(&windows);
        let mut granted = vec![vec![0u64; segments.len()]; self.devices.len()];
        let mut floors = Vec::new();
        let mut parts = Vec::new();
        let mut weights = Vec::new();
        for b in self.bundles.values() {
            let span =
                Span::of_lifetime(b.request.start_s, b.request.end_s).unwrap_or(Span::Always);
            self.floors_into(&policies, &segments, &b.request, span, &mut floors);
            for p in std::iter::once(&b.placement).chain(b.migrating_to.as_ref()) {
                weights.clear();
                weights.extend(p.shares.iter().map(|s| s.weight));
                for &(s, f) in &floors {
                    apportion(f, &weights, &mut parts);
                    for (sh, &x) in p.shares.iter().zip(&parts) {
                        granted[sh.index as usize][s] += x;
                    }
                }
            }
        }
        for (d, g) in self.devices.iter().zip(&granted).filter(|_| check) {
            if let Some(s) = (0..segments.len()).find(|&s| g[s] > d.capacity) {
                let label = {
                    let cover = segments.cover(s);
                    if cover.is_empty() {
                        segments.utc_label(s)
                    } else {
                        cover
                            .iter()
                            .map(|&p| policies[usize::from(p)].window.to_string())
                            .collect::<Vec<_>>()
                            .join(" & ")
                    }
                };
                return Err(Rejection::WindowedFloor {
                    policy: name.to_string(),
                    device: d.device.id.clone(),
                    window: label,
                    granted: MBps(g[s]),
                    capacity: MBps(d.capacity),
                });
            }
        }
        for (d, g) in self.devices.iter_mut().zip(granted) {
            d.granted = g;
        }
        self.policies = policies;
        self.segments = segments;
        self.revision += 1;
        Ok(())
    }

    // ----- what another writer decided -----

    /// Records a bundle another writer granted (a memqosd serving another host of the same
    /// store), replacing any earlier record of it, without checking that it fits: the store
    /// already committed it, so the ledger must count it even if this copy looks full
    /// (its own claims in flight, or frees it has not seen yet). Shares are matched to this
    /// ledger's devices by id; a share on a device this ledger does not know is left out,
    /// and its device id returned. Placements are re-indexed to this ledger's devices.
    pub fn record(&mut self, mut bundle: Bundle) -> Vec<String> {
        let _ = self.forget(&bundle.id);
        let mut unknown = Vec::new();
        let index: HashMap<&str, u32> = self
            .devices
            .iter()
            .enumerate()
            .map(|(i, d)| (d.device.id.as_str(), i as u32))
            .collect();
        for placement in std::iter::once(&mut bundle.placement).chain(bundle.migrating_to.as_mut())
        {
            placement
                .shares
                .retain_mut(|share| match index.get(share.device.as_str()) {
                    Some(&i) => {
                        share.index = i;
                        true
                    }
                    None => {
                        unknown.push(share.device.clone());
                        false
                    }
                });
        }
        let floors = self.floors_of(&bundle.request);
        let _ = self.account(&bundle.placement.shares, &floors, true, false);
        if let Some(dest) = &bundle.migrating_to {
            let _ = self.account(&dest.shares, &floors, true, false);
        }
        self.revision += 1;
        self.bundles.insert(bundle.id.clone(), bundle);
        unknown
    }

    /// Forgets a bundle another writer freed: [`Ledger::free`] under the name the other
    /// writer's side uses. `None` if it was not recorded.
    pub fn forget(&mut self, id: &str) -> Option<Bundle> {
        self.free(id).ok()
    }

    /// Replaces every policy with the ones another writer committed, without the capacity
    /// check of [`Ledger::set_policy`] (the store holds them already).
    ///
    /// # Errors
    /// [`Rejection::Invalid`] for more policies than the segments can index.
    pub fn record_policies(&mut self, policies: Vec<WindowedFloor>) -> Result<(), Rejection> {
        self.replace_policies_checked(policies, "", false)
    }

    /// Frees a bundle (and any migration destination it holds).
    ///
    /// # Errors
    /// [`Rejection::UnknownBundle`].
    pub fn free(&mut self, id: &str) -> Result<Bundle, Rejection> {
        let b = self
            .bundles
            .remove(id)
            .ok_or_else(|| Rejection::UnknownBundle(id.to_string()))?;
        let floors = self.floors_of(&b.request);
        let _ = self.account(&b.placement.shares, &floors, false, false);
        if let Some(dest) = &b.migrating_to {
            let _ = self.account(&dest.shares, &floors, false, false);
        }
        self.revision += 1;
        Ok(b)
    }

    /// Frees every bundle whose lease ended at or before `now_s` (Unix seconds); returns their
    /// ids in order.
    pub fn expire(&mut self, now_s: i64) -> Vec<String> {
        let ids: Vec<String> = self
            .bundles
            .values()
            .filter(|b| b.request.end_s.is_some_and(|e| e <= now_s))
            .map(|b| b.id.clone())
            .collect();
        for id in &ids {
            let _ = self.free(id);
        }
        ids
    }

    /// Recomputes every sum from the bundles and checks it against the ledger and the
    /// capacities (for tests and after loading a snapshot).
    ///
    /// # Errors
    /// A description of the first disagreement.
    pub fn verify(&self) -> Result<(), String> {
        let mut granted = vec![vec![0u64; self.segments.len()]; self.devices.len()];
        let mut bytes = vec![0u64; self.devices.len()];
        let mut parts = Vec::new();
        for b in self.bundles.values() {
            let floors = self.floors_of(&b.request);
            for p in std::iter::once(&b.placement).chain(b.migrating_to.as_ref()) {
                let w: Vec<u64> = p.shares.iter().map(|s| s.weight).collect();
                for &(s, f) in &floors {
                    apportion(f, &w, &mut parts);
                    for (sh, &x) in p.shares.iter().zip(&parts) {
                        granted[sh.index as usize][s] += x;
                    }
                }
                for sh in &p.shares {
                    bytes[sh.index as usize] += sh.bytes;
                }
            }
        }
        for (i, d) in self.devices.iter().enumerate() {
            if d.used_bytes != bytes[i] || d.used_bytes > d.device.bytes {
                return Err(format!(
                    "{}: {} bytes used, bundles hold {}, device has {}",
                    d.device.id, d.used_bytes, bytes[i], d.device.bytes
                ));
            }
            for (s, (&have, &want)) in d.granted.iter().zip(&granted[i]).enumerate() {
                if have != want || have > d.capacity {
                    return Err(format!(
                        "{} in {}: ledger {have} MB/s, bundles {want} MB/s, capacity {}",
                        d.device.id,
                        self.window_label(s),
                        d.capacity
                    ));
                }
            }
        }
        Ok(())
    }
}
