//! A ledger placement applied to memory (the devices' NUMA nodes bound on
//! the bundle's memory) and described on the bundle (`placement`, the
//! `Placed` condition).

use chrono::{DateTime, Utc};
use corridor_hal::memory::{HUGE_PAGE_BYTES, SysfsMemory};
use corridor_model::ffm::{FfmBundle, Persistence, TierPlacement};
use corridor_model::meta::{Condition, ConditionStatus};
use corridor_model::units::Bytes;
use corridor_planner::memory::Placement;

use super::FfmService;
use super::admission::{self, Backing};
use super::error::FfmError;
use super::memory::{
    BundleMemory, MODELLED_MODE, MemoryError, NumaTarget, PolicyOutcome, SOLE_NODE_MODE,
};

/// The `Placed` condition's reason for a policy mode.
fn placed_reason(mode: &str) -> &'static str {
    match mode {
        "MPOL_WEIGHTED_INTERLEAVE" => "MpolWeightedInterleave",
        "MPOL_INTERLEAVE" => "MpolInterleave",
        "MPOL_BIND per extent" => "MpolBindPerExtent",
        MODELLED_MODE => "Modelled",
        SOLE_NODE_MODE => "SoleNode",
        _ => "MpolBind",
    }
}

impl FfmService {
    /// The one place a placement becomes an `mbind` node mask: this
    /// machine's NUMA nodes when every device of the placement is one of
    /// them, otherwise (twin devices) a modelled placement that binds nothing.
    pub(super) fn numa_target(&self, placement: &Placement) -> NumaTarget {
        let mut nodes = Vec::new();
        for share in &placement.shares {
            match self.devices.get(share.index as usize).map(|d| d.backing) {
                Some(Backing::ThisMachine(n)) => nodes.push((n, share.bytes)),
                Some(Backing::Modelled) | None => {
                    return NumaTarget::Modelled(
                        placement.shares.iter().map(|s| s.device.clone()).collect(),
                    );
                }
            }
        }
        NumaTarget::ThisMachine(nodes)
    }

    /// The placement in the API's shape.
    pub(super) fn placement_view(&self, placement: &Placement) -> Vec<TierPlacement> {
        placement
            .shares
            .iter()
            .map(|s| TierPlacement {
                latency_class: admission::class(placement.latency_class),
                // A slice's memory is on its pooled device.
                node: self
                    .devices
                    .get(s.index as usize)
                    .map_or_else(|| s.device.clone(), |d| d.physical.clone()),
                bytes: Bytes(s.bytes),
            })
            .collect()
    }

    /// The slowest device link of the placement, GB/s (infinite if empty).
    pub(super) fn min_peak(&self, placement: &Placement) -> f64 {
        placement
            .shares
            .iter()
            .filter_map(|s| self.devices.get(s.index as usize))
            .map(|d| d.peak_gbs)
            .fold(f64::INFINITY, f64::min)
    }

    /// `Placed`: the NUMA policy applied and everything that qualifies it
    /// (fallbacks, twin nodes this host lacks).
    pub(super) fn placed_condition(
        &self,
        outcome: &PolicyOutcome,
        now: DateTime<Utc>,
    ) -> Condition {
        let mut message = if outcome.mode == MODELLED_MODE {
            format!("{} (nothing bound)", outcome.mode)
        } else {
            format!("{} on host NUMA nodes {:?}", outcome.mode, outcome.nodes)
        };
        for note in outcome.notes.iter().chain(&self.device_notes) {
            message.push_str("; ");
            message.push_str(note);
        }
        Condition::new(
            "Placed",
            ConditionStatus::True,
            placed_reason(outcome.mode),
            message,
            now,
        )
    }

    /// Creates (or, for persistent bundles, reopens) the memory of a
    /// bundle and applies its placement. A persistent bundle's file goes
    /// where its security domain's files are kept at rest (refused when
    /// they cannot be protected). With `hugetlb` (only for `persistence:
    /// none`), the memory is on the hugetlb pool and every page is taken
    /// once the placement is bound, so they come from the bound node.
    pub(super) fn materialise(
        &self,
        id: &str,
        domain: &str,
        bytes: u64,
        persistence: Persistence,
        hugetlb: bool,
        placement: &Placement,
    ) -> Result<(BundleMemory, PolicyOutcome), FfmError> {
        let memory = match persistence {
            Persistence::None if hugetlb => BundleMemory::hugetlb_memfd(id, bytes)?,
            Persistence::None => BundleMemory::memfd(id, bytes)?,
            Persistence::File | Persistence::Dax => {
                BundleMemory::persistent(id, bytes, &self.persistent_dir(domain)?)?
            }
        };
        let target = self.numa_target(placement);
        let (outcome, _) = memory.place(&target, None)?;
        if hugetlb {
            memory.populate(&target, &outcome).map_err(|e| match e {
                MemoryError::Sys { source, .. }
                    if source.kind() == std::io::ErrorKind::OutOfMemory =>
                {
                    FfmError::HugePagesUnavailable {
                        needed: bytes / HUGE_PAGE_BYTES,
                        available: SysfsMemory::new("/sys")
                            .available_huge_pages()
                            .ok()
                            .flatten(),
                    }
                }
                other => other.into(),
            })?;
        }
        Ok((memory, outcome))
    }

    /// A dry run's view of [`Self::materialise`]'s pool check: the refusal an alloc of
    /// `bundle` would meet if it went on the hugetlb pool now (a snapshot; the alloc takes
    /// its pages or is refused when it runs).
    pub(super) fn refuse_short_huge_pool(&self, bundle: &FfmBundle) -> Result<(), FfmError> {
        if !self.wants_hugetlb(bundle) {
            return Ok(());
        }
        let needed = bundle.bytes.get() / HUGE_PAGE_BYTES;
        let available = SysfsMemory::new("/sys")
            .available_huge_pages()
            .ok()
            .flatten();
        if available.unwrap_or(0) < needed {
            return Err(FfmError::HugePagesUnavailable { needed, available });
        }
        Ok(())
    }

    /// Whether a new bundle goes on the hugetlb pool: memqosd's `hugetlb_classes` names its
    /// latency class, it is not persistent (a file has no huge pages) and it is a whole
    /// number of 2 MiB pages.
    pub(super) fn wants_hugetlb(&self, bundle: &FfmBundle) -> bool {
        bundle.persistence == Persistence::None
            && self.config.hugetlb_classes.contains(&bundle.latency_class)
            && bundle.bytes.get().is_multiple_of(HUGE_PAGE_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_policy_mode_has_its_own_reason() {
        for (mode, reason) in [
            ("MPOL_BIND", "MpolBind"),
            ("MPOL_WEIGHTED_INTERLEAVE", "MpolWeightedInterleave"),
            ("MPOL_INTERLEAVE", "MpolInterleave"),
            ("MPOL_BIND per extent", "MpolBindPerExtent"),
            (MODELLED_MODE, "Modelled"),
            (SOLE_NODE_MODE, "SoleNode"),
        ] {
            assert_eq!(placed_reason(mode), reason, "{mode}");
        }
    }
}
