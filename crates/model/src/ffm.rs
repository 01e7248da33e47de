//! Free-form memory bundles (`/v1/ffm`, served by memqosd).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::meta::ResourceMeta;
use crate::problem::FieldViolation;
use crate::units::{Bytes, GigabytesPerSecond, Seconds};
use crate::validate::{Validate, Violations, rule};

/// Smallest bundle: one 4 KiB page, the unit memory is mapped in.
pub const MIN_BYTES: u64 = 4096;
/// Largest bundle: 1 PiB (2^50), the ceiling of a CXL 3.x fabric-attached
/// pool today; also keeps byte arithmetic far from u64 overflow.
pub const MAX_BYTES: u64 = 1 << 50;
/// Bundles are whole pages: memfd sizes and NUMA placements are page
/// granular, so a size that is not would be split into parts that are not
/// either.
pub const PAGE_BYTES: u64 = 4096;
/// Largest floor: 10 TB/s, ten HBM3e stacks. A floor above it can never be
/// met and is most likely a unit mistake (MB/s for GB/s).
pub const MAX_FLOOR_GBS: f64 = 10_000.0;
/// Longest lease: one year, so that forgotten grants still expire.
pub const MAX_LEASE_TTL_S: u64 = 31_536_000;

/// Memory tier, by the latency it promises (RFC: T0=HBM, T1=DRAM, T2=CXL,
/// T3=persistent).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum LatencyClass {
    /// HBM, < 100 ns.
    T0,
    /// Local DRAM, < 200 ns.
    T1,
    /// CXL-attached memory, < 500 ns.
    T2,
    /// Persistent memory, < 1 µs.
    T3,
}

impl LatencyClass {
    pub const ALL: [LatencyClass; 4] = [
        LatencyClass::T0,
        LatencyClass::T1,
        LatencyClass::T2,
        LatencyClass::T3,
    ];

    /// Whether the tier can hold data across power loss at all.
    pub const fn can_persist(self) -> bool {
        // HBM and DRAM are volatile; CXL Type-3 devices may carry persistent
        // media, and T3 is persistent by definition.
        matches!(self, LatencyClass::T2 | LatencyClass::T3)
    }
}

/// What survives the process (and power loss).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Persistence {
    /// Volatile: contents vanish with the bundle.
    None,
    /// Byte-addressable persistent memory mapped directly (device DAX).
    Dax,
    /// Backed by a file on a DAX-capable filesystem, reopened by name.
    File,
}

/// Body of `POST /v1/ffm/alloc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FfmAllocRequest {
    /// 4096..=2^50, a whole number of 4 KiB pages.
    #[schema(
        example = 274877906944_u64,
        value_type = u64,
        minimum = 4096,
        maximum = 1125899906842624_u64,
        multiple_of = 4096
    )]
    pub bytes: Bytes,
    pub latency_class: LatencyClass,
    /// Guaranteed bandwidth, ≥ 0 (0 means best effort).
    #[serde(rename = "bandwidth_floor_GBs")]
    #[schema(value_type = f64, minimum = 0, maximum = 10000)]
    pub bandwidth_floor_gbs: GigabytesPerSecond,
    /// `file` and `dax` need a persistent tier (`T2` or `T3`); another
    /// pairing is a 422 with rule `compatible`.
    pub persistence: Persistence,
    /// Whether other processes of the same security domain may map it.
    pub shareable: bool,
    /// 1..=63 characters of `[A-Za-z0-9_-]`.
    #[schema(example = "tenantA", pattern = "^[A-Za-z0-9_-]{1,63}$")]
    pub security_domain: String,
    /// The host whose processes will map the bundle (an extension: the RFC's
    /// body has none). Placement uses only memory this host reaches: its own
    /// tiers, and pooled CXL devices behind a switch it has an upstream port
    /// on. Absent: the server's default host (on the twin, the topology's
    /// first host, `h0` by default; on real hardware, the machine corridord
    /// runs on). A host the server does not know is a 422 (rule `exists`); a
    /// host that cannot reach enough of the tier is a 409 naming host and
    /// tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "h0", pattern = "^[A-Za-z0-9._-]{1,63}$")]
    pub host: Option<String>,
    /// Lease length (1..=31 536 000); the server default applies if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 31536000)]
    pub policy_lease_ttl_s: Option<Seconds>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(schema_with = crate::schema::labels)]
    pub labels: BTreeMap<String, String>,
}

fn validate_floor(v: &mut Violations, pointer: &str, floor: GigabytesPerSecond) {
    v.range(pointer, floor.get(), 0.0, MAX_FLOOR_GBS);
}

impl Validate for FfmAllocRequest {
    fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        if v.range("/bytes", self.bytes.get(), MIN_BYTES, MAX_BYTES)
            && !self.bytes.get().is_multiple_of(PAGE_BYTES)
        {
            v.add(
                "/bytes",
                rule::FORMAT,
                format!(
                    "must be a whole number of {PAGE_BYTES}-byte pages, got {}",
                    self.bytes.get()
                ),
            );
        }
        validate_floor(&mut v, "/bandwidth_floor_GBs", self.bandwidth_floor_gbs);
        if self.persistence != Persistence::None && !self.latency_class.can_persist() {
            v.add(
                "/persistence",
                rule::COMPATIBLE,
                format!(
                    "persistence {:?} needs latency_class T2 or T3; {:?} memory is volatile",
                    self.persistence, self.latency_class
                ),
            );
        }
        v.security_domain("/security_domain", &self.security_domain);
        if let Some(host) = &self.host {
            let ok = (1..=63).contains(&host.len())
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !ok {
                v.add(
                    "/host",
                    rule::FORMAT,
                    format!("must be 1..=63 characters of [A-Za-z0-9._-], got {host:?}"),
                );
            }
        }
        if let Some(ttl) = self.policy_lease_ttl_s {
            v.range("/policy_lease_ttl_s", ttl.get(), 1, MAX_LEASE_TTL_S);
        }
        v.labels("/labels", &self.labels);
        v.into_result()
    }
}

/// Where part of a bundle lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TierPlacement {
    pub latency_class: LatencyClass,
    /// NUMA node or CXL device id holding these bytes.
    pub node: String,
    pub bytes: Bytes,
}

/// A memory bundle as the server returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FfmBundle {
    #[schema(example = "ffm-9c2e")]
    pub id: String,
    pub bytes: Bytes,
    pub latency_class: LatencyClass,
    #[serde(rename = "bandwidth_floor_GBs")]
    pub bandwidth_floor_gbs: GigabytesPerSecond,
    pub persistence: Persistence,
    pub shareable: bool,
    pub security_domain: String,
    /// The host the bundle was placed for (the request's, or the server's
    /// default host): every part of `placement` is memory it reaches.
    #[serde(default)]
    #[schema(example = "h0")]
    pub host: String,
    pub created_at: DateTime<Utc>,
    /// Lease length in effect (the request's, or the server default).
    pub policy_lease_ttl_s: Seconds,
    /// File descriptors (as `/proc/<pid>/fd/<n>` paths) the memory is
    /// reachable through.
    #[serde(default)]
    pub fds: Vec<String>,
    /// Bandwidth the bundle achieves, GB/s: modelled (see
    /// `telemetry_source`), not measured: the bundle's max-min fair share
    /// (with floors) of its devices when every live bundle is backlogged.
    /// `GET /v1/ffm/{id}/telemetry` gives a measured figure where the kernel
    /// counts one.
    #[serde(rename = "achieved_GBs")]
    pub achieved_gbs: GigabytesPerSecond,
    /// Pages moved between tiers since allocation.
    pub moved_pages: u64,
    /// The pages the kernel may back the bundle with (decided at allocation
    /// from this host's settings).
    #[serde(default)]
    pub page_size: PageSize,
    /// 99th percentile access stall, in ms: modelled (M/M/1 sojourn time of
    /// a 2 MiB transfer at the promised load of the bundle's busiest device).
    pub tail_p99_ms: f64,
    /// Where `achieved_GBs` and `tail_p99_ms` come from (`model` on a
    /// bundle; `none` when no grant could be evaluated).
    #[serde(default = "model_source")]
    pub telemetry_source: TelemetrySource,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement: Vec<TierPlacement>,
    /// Attestations (`attest-…`) that vouched for the CXL devices holding
    /// the bundle when it was placed; a device without one is absent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attestations: Vec<String>,
    #[serde(flatten)]
    pub meta: ResourceMeta,
}

impl FfmBundle {
    /// The client's spec. `policy_lease_ttl_s` is the one in effect.
    pub fn request(&self) -> FfmAllocRequest {
        FfmAllocRequest {
            bytes: self.bytes,
            latency_class: self.latency_class,
            bandwidth_floor_gbs: self.bandwidth_floor_gbs,
            persistence: self.persistence,
            shareable: self.shareable,
            security_domain: self.security_domain.clone(),
            // A bundle stored before bundles had hosts has none to repeat.
            host: (!self.host.is_empty()).then(|| self.host.clone()),
            policy_lease_ttl_s: Some(self.policy_lease_ttl_s),
            labels: self.meta.labels.clone(),
        }
    }

    /// A bundle just accepted from `request`, nothing placed or measured yet;
    /// `default_host` when the request names none.
    pub fn pending(
        id: impl Into<String>,
        request: FfmAllocRequest,
        default_ttl: Seconds,
        default_host: &str,
        now: DateTime<Utc>,
    ) -> Self {
        let FfmAllocRequest {
            bytes,
            latency_class,
            bandwidth_floor_gbs,
            persistence,
            shareable,
            security_domain,
            host,
            policy_lease_ttl_s,
            labels,
        } = request;
        Self {
            id: id.into(),
            bytes,
            latency_class,
            bandwidth_floor_gbs,
            persistence,
            shareable,
            security_domain,
            host: host.unwrap_or_else(|| default_host.to_owned()),
            created_at: now,
            policy_lease_ttl_s: policy_lease_ttl_s.unwrap_or(default_ttl),
            fds: Vec::new(),
            achieved_gbs: GigabytesPerSecond(0.0),
            moved_pages: 0,
            page_size: PageSize::Base,
            tail_p99_ms: 0.0,
            telemetry_source: TelemetrySource::None,
            placement: Vec::new(),
            attestations: Vec::new(),
            meta: ResourceMeta::new(now).with_labels(labels),
        }
    }
}

/// Body of `PATCH /v1/ffm/{id}/bandwidth`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BandwidthPatch {
    /// New floor, ≥ 0.
    #[serde(rename = "floor_GBs")]
    #[schema(value_type = f64, minimum = 0, maximum = 10000)]
    pub floor_gbs: GigabytesPerSecond,
}

impl Validate for BandwidthPatch {
    fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        validate_floor(&mut v, "/floor_GBs", self.floor_gbs);
        v.into_result()
    }
}

/// Body of `PATCH /v1/ffm/{id}/latency_class` (a tier migration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyClassPatch {
    pub latency_class: LatencyClass,
}

impl Validate for LatencyClassPatch {
    fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        // The enum is the whole rule; whether the bundle's persistence fits
        // the new tier depends on the bundle and is checked by the service.
        Ok(())
    }
}

/// The pages backing a bundle's memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PageSize {
    /// 4 KiB pages: a persistent file, a bundle under 2 MiB, or a host whose
    /// `transparent_hugepage/shmem_enabled` is `never` or `deny`.
    #[default]
    Base,
    /// Transparent huge pages: the host's `shmem_enabled` lets the kernel
    /// back each 2 MiB-aligned extent of the memfd with one 2 MiB page when
    /// it finds one (else 4 KiB pages). Under `advise` only mappings that
    /// ask (`MADV_HUGEPAGE`) get them; corridor-client's mappings ask.
    TransparentHuge,
    /// 2 MiB pages from the kernel's hugetlb pool (`memfd_create` with
    /// `MFD_HUGETLB | MFD_HUGE_2MB`), every one reserved and faulted in at
    /// allocation where the placement binds: memqosd's `hugetlb_classes`
    /// setting names the bundle's latency class and its size is a whole
    /// number of 2 MiB pages. A pool without enough free pages refuses the
    /// allocation (409 `HugePagesUnavailable`).
    Hugetlb,
}

/// Where a bundle's telemetry figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TelemetrySource {
    /// Computed by memqosd's model, not measured: `achieved_GBs` is the
    /// bundle's max-min fair share (with floors) of the devices it is placed
    /// on, every live bundle competing as if backlogged; `tail_p99_ms` is the
    /// M/M/1 sojourn-time p99 of a 2 MiB transfer at the devices' promised
    /// load. Both are evaluated at the moment of the answer.
    Model,
    /// `achieved_GBs` measured: the resctrl MBM counter (`mbm_total_bytes`,
    /// summed over L3 domains) of the monitoring group named after the
    /// bundle id, over the interval since the previous reading. `tail_p99_ms`
    /// stays modelled (no kernel counter measures access stalls).
    Counter,
    /// No figure: the bundle holds no capacity grant the model could
    /// evaluate (a grant that no longer fits after a restart);
    /// `achieved_GBs` and `tail_p99_ms` are 0 and mean nothing.
    None,
}

/// Bytes resident in one tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TierBytes {
    pub latency_class: LatencyClass,
    pub bytes: Bytes,
}

fn model_source() -> TelemetrySource {
    TelemetrySource::Model
}

/// Body of `GET /v1/ffm/{id}/telemetry`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FfmTelemetry {
    /// Bandwidth the bundle achieves, GB/s. With `source` `counter`: measured
    /// by the resctrl MBM counter of the monitoring group named after the
    /// bundle id, over the interval since the previous telemetry read. With
    /// `model`: the max-min fair share model's figure, not a measurement.
    #[serde(rename = "achieved_GBs")]
    pub achieved_gbs: GigabytesPerSecond,
    #[serde(rename = "bandwidth_floor_GBs")]
    pub bandwidth_floor_gbs: GigabytesPerSecond,
    /// 99th percentile access stall, ms: always modelled (M/M/1), whatever
    /// `source` says of `achieved_GBs`.
    pub tail_p99_ms: f64,
    /// Where `achieved_GBs` comes from: `counter` (measured), `model`, or
    /// `none` (no grant to evaluate).
    pub source: TelemetrySource,
    pub moved_pages: u64,
    pub latency_class: LatencyClass,
    /// A tier migration is in progress.
    #[serde(default)]
    pub migrating: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resident: Vec<TierBytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<DateTime<Utc>>,
}
