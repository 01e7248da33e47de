//! `POST /v1/ffm/alloc?dry_run=true`: the plan of an allocation, decided by
//! the real alloc's code ([`FfmService::pending`], [`FfmService::decide`],
//! the fabric reach check) and described from the ledger the decision was
//! taken on, with nothing claimed or written: no grant, lease, token or
//! memory.

use std::collections::HashMap;

use corridor_model::ffm::{FfmAllocRequest, TelemetrySource};
use corridor_model::ffm_plan::{
    BindingConstraint, BindingKind, BundlePlan, LimitSource, PlannedLease, PlannedShare,
    WindowAdmission,
};
use corridor_model::units::{Bytes, GigabytesPerSecond};
use corridor_planner::memory::{self as planner, Ledger, MBps, Placement, apportion};

use super::FfmService;
use super::admission::class;
use super::alloc::{Pending, REACH_ATTEMPTS};
use super::error::FfmError;
use super::telemetry::Prediction;
use super::tiers::{gbs, window_name, windows};
use crate::Caller;

/// A plan as read under the ledger's lock; fabric paths and the model's
/// prediction are added outside it.
struct Described {
    plan: BundlePlan,
    prediction: Prediction,
}

/// The tightest limit seen so far, by the fraction of it a grant would leave.
struct Tightest {
    fraction: f64,
    constraint: BindingConstraint,
}

impl FfmService {
    /// The plan a real alloc of `request` would grant now, or the problem it
    /// would answer; nothing is committed.
    pub async fn dry_run(
        &self,
        caller: &Caller,
        request: FfmAllocRequest,
    ) -> Result<BundlePlan, FfmError> {
        let pending = self.pending(caller, request)?;
        let mut attempt = 0;
        let described = loop {
            attempt += 1;
            let (placement, described) = self.decide(&pending, |ledger, placement| {
                Ok(self.describe(ledger, &pending, placement))
            })?;
            // As an alloc: a slice of the placement whose path went away is
            // decided again on the paths as they are now.
            match self.reach_compares(&placement) {
                Ok(_) => break described,
                Err(FfmError::ReachWithdrawn { .. }) if attempt < REACH_ATTEMPTS => {
                    self.load_reach().await?;
                }
                Err(e) => return Err(e),
            }
        };
        // What an alloc refuses after placing, short of touching a key.
        self.refuse_unprotected(pending.bundle.persistence)?;
        self.refuse_short_huge_pool(&pending.bundle)?;
        let Described {
            mut plan,
            prediction,
        } = described;
        for share in &mut plan.placement {
            share.fabric_paths = self.paths_opening(&share.device);
        }
        if plan.binding_constraint.limited_by == LimitSource::FabricPath {
            plan.binding_constraint.fabric_paths =
                self.paths_opening(&plan.binding_constraint.device);
        }
        let outcome = self.predict(prediction);
        plan.achieved_gbs = GigabytesPerSecond(round3(outcome.achieved_gbs));
        plan.tail_p99_ms = round3(outcome.tail_p99_ms);
        plan.floor_met = !outcome.floor_violated;
        Ok(plan)
    }

    /// Everything the plan says that the ledger knows, read under the lock
    /// the decision was taken under.
    fn describe(&self, ledger: &Ledger, pending: &Pending, placement: &Placement) -> Described {
        let bundle = &pending.bundle;
        let demand = &pending.demand;
        let floors = ledger.window_floors(demand).unwrap_or_default();
        let placement_view = placement
            .shares
            .iter()
            .map(|s| PlannedShare {
                device: s.device.clone(),
                node: self.node_of(s.index),
                latency_class: class(placement.latency_class),
                bytes: Bytes(s.bytes),
                floor_gbs: gbs(s.floor),
                interleave_weight: s.interleave_weight,
                fabric_paths: Vec::new(),
            })
            .collect();
        let (windows, window_of) = self.window_admissions(ledger, demand, &floors);
        let binding_constraint = self.binding(ledger, placement, &floors, &window_of);
        let grant = planner::Bundle {
            id: bundle.id.clone(),
            request: demand.clone(),
            placement: placement.clone(),
            migrating_to: None,
        };
        let ttl = bundle.policy_lease_ttl_s;
        Described {
            plan: BundlePlan {
                host: pending.host.clone(),
                security_domain: bundle.security_domain.clone(),
                latency_class: bundle.latency_class,
                bytes: bundle.bytes,
                bandwidth_floor_gbs: bundle.bandwidth_floor_gbs,
                placement: placement_view,
                windows,
                achieved_gbs: GigabytesPerSecond(0.0),
                tail_p99_ms: 0.0,
                telemetry_source: TelemetrySource::Model,
                floor_met: false,
                lease: PlannedLease {
                    policy_lease_ttl_s: ttl,
                    lease_expires_at: pending.now
                        + chrono::Duration::seconds(i64::try_from(ttl.get()).unwrap_or(i64::MAX)),
                },
                binding_constraint,
                ledger_revision: placement.revision,
            },
            prediction: Prediction::gather(ledger, &grant, self.clock.now()),
        }
    }

    /// The device holding a ledger device's memory.
    fn node_of(&self, index: u32) -> String {
        self.devices
            .get(index as usize)
            .map_or_else(String::new, |d| d.physical.clone())
    }

    /// The floor reserved in each policy window, the windows grouped as
    /// `GET /v1/ffm/tiers` groups them; and each segment's window name.
    fn window_admissions(
        &self,
        ledger: &Ledger,
        demand: &planner::BundleDemand,
        floors: &[(usize, u64)],
    ) -> (Vec<WindowAdmission>, HashMap<usize, String>) {
        let policies = ledger.policies();
        let floor_of: HashMap<usize, u64> = floors.iter().copied().collect();
        let domain = demand.security_domain.as_deref();
        let mut out = Vec::new();
        let mut window_of = HashMap::new();
        for (cover, segments) in windows(ledger) {
            let name = window_name(&cover, policies);
            let floor = segments
                .iter()
                .filter_map(|s| floor_of.get(s).copied())
                .max()
                .unwrap_or(demand.floor.0);
            for &s in &segments {
                window_of.insert(s, name.clone());
            }
            out.push(WindowAdmission {
                window: name,
                floor_gbs: gbs(MBps(floor)),
                policies: cover
                    .iter()
                    .map(|&p| &policies[usize::from(p)])
                    .filter(|p| {
                        p.security_domain
                            .as_deref()
                            .is_none_or(|d| Some(d) == domain)
                    })
                    .map(|p| p.id.clone())
                    .collect(),
            });
        }
        (out, window_of)
    }

    /// The limit a grant would leave least of, as a fraction of the limit:
    /// every device's admission bandwidth in every window the bundle lives
    /// in (its floor there split by the placement's weights), and its bytes.
    fn binding(
        &self,
        ledger: &Ledger,
        placement: &Placement,
        floors: &[(usize, u64)],
        window_of: &HashMap<usize, String>,
    ) -> BindingConstraint {
        let weights: Vec<u64> = placement.shares.iter().map(|s| s.weight).collect();
        let mut parts = Vec::new();
        let mut tightest: Option<Tightest> = None;
        let mut consider = |fraction: f64, constraint: BindingConstraint| {
            if tightest.as_ref().is_none_or(|t| fraction < t.fraction) {
                tightest = Some(Tightest {
                    fraction,
                    constraint,
                });
            }
        };
        for &(segment, floor) in floors {
            apportion(floor, &weights, &mut parts);
            for (share, &part) in placement.shares.iter().zip(&parts) {
                let i = share.index as usize;
                let limit = ledger.capacity(i).0;
                let left = limit.saturating_sub(ledger.granted(i, segment).0 + part);
                let window = window_of
                    .get(&segment)
                    .cloned()
                    .unwrap_or_else(|| ledger.window_label(segment));
                let limited_by = self.limit_source(share.index);
                consider(
                    fraction(left, limit),
                    BindingConstraint {
                        kind: BindingKind::Bandwidth,
                        device: share.device.clone(),
                        node: self.node_of(share.index),
                        detail: format!(
                            "{} ({window}): {} of {} admission bandwidth left after this bundle's {} ({})",
                            share.device,
                            gbs(MBps(left)),
                            gbs(MBps(limit)),
                            gbs(MBps(part)),
                            match limited_by {
                                LimitSource::Device => "the device's peak × the admission share",
                                LimitSource::FabricPath =>
                                    "the guarantees of the fabric paths opening the host's slice",
                            }
                        ),
                        window: Some(window),
                        limited_by,
                        fabric_paths: Vec::new(),
                        limit: gbs(MBps(limit)).get(),
                        left: gbs(MBps(left)).get(),
                    },
                );
            }
        }
        for share in &placement.shares {
            let i = share.index as usize;
            let limit = ledger.device(i).bytes;
            let left = limit.saturating_sub(ledger.used_bytes(i) + share.bytes);
            consider(
                fraction(left, limit),
                BindingConstraint {
                    kind: BindingKind::Capacity,
                    device: share.device.clone(),
                    node: self.node_of(share.index),
                    window: None,
                    limited_by: self.limit_source(share.index),
                    fabric_paths: Vec::new(),
                    limit: limit as f64,
                    left: left as f64,
                    detail: format!(
                        "{}: {left} of {limit} bytes left after this bundle's {} bytes",
                        share.device, share.bytes
                    ),
                },
            );
        }
        tightest.map_or_else(
            // A placement always has a share; keep the plan total anyway.
            || BindingConstraint {
                kind: BindingKind::Capacity,
                device: String::new(),
                node: String::new(),
                window: None,
                limited_by: LimitSource::Device,
                fabric_paths: Vec::new(),
                limit: 0.0,
                left: 0.0,
                detail: "the placement has no device".into(),
            },
            |t| t.constraint,
        )
    }

    /// A slice of a pooled device is limited by the paths that open it.
    fn limit_source(&self, index: u32) -> LimitSource {
        match self.devices.get(index as usize) {
            Some(d) if d.slice_host.is_some() => LimitSource::FabricPath,
            _ => LimitSource::Device,
        }
    }
}

/// `left` as a fraction of `limit` (none of a zero limit).
fn fraction(left: u64, limit: u64) -> f64 {
    if limit == 0 {
        0.0
    } else {
        left as f64 / limit as f64
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
