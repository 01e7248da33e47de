//! `GET /v1/ffm/tiers`: what memqosd allocates on, as its admission ledger
//! sees it — every device with its tier and why, its capacity and bandwidth,
//! and the floors admitted on it in each policy window with what is left.
//!
//! The figures are one snapshot of the ledger, taken under its lock: the
//! ledger is the state admission decides on (every grant, free, resize and
//! policy changes it under that lock, in the same step as its store
//! transaction), so devices, floors and windows all belong to one revision
//! (`ledger_revision`), which a read of the store's grant and policy
//! prefixes one after the other could not promise.

use corridor_model::memory_tiers::{
    FabricSlice, MemoryTierDevice, MemoryTiers, SourcedFigure, WindowFloors,
};
use corridor_model::units::{Bytes, GigabytesPerSecond};
use corridor_planner::memory::{Ledger, MBps, WindowedFloor};

use super::admission::class;
use super::{FfmService, lock};

/// Outside every policy window.
pub(super) const NO_WINDOW: &str = "outside policy windows";

pub(super) fn gbs(v: MBps) -> GigabytesPerSecond {
    GigabytesPerSecond((v.gbps() * 1000.0).round() / 1000.0)
}

fn hhmm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// `id start–end zone [days]`, in the policy's own terms.
pub(super) fn label(policy: &WindowedFloor) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let w = &policy.window;
    let zone = policy.time_zone.clone().unwrap_or_else(|| {
        let (lo, hi) = w.offset_range();
        if lo == hi {
            format!("UTC{lo:+}min")
        } else {
            format!("UTC{lo:+}/{hi:+}min")
        }
    });
    let mut text = format!(
        "{} {}–{} {zone}",
        policy.id,
        hhmm(w.start_min),
        hhmm(w.end_min)
    );
    if w.days != corridor_planner::memory::EVERY_DAY {
        let days: Vec<&str> = (0..7)
            .filter(|d| w.days & (1 << d) != 0)
            .map(|d| DAYS[d])
            .collect();
        text.push(' ');
        text.push_str(&days.join(","));
    }
    text
}

/// The week's segments grouped by the policies covering them (the part of
/// the week outside every window first): `(policy indices, segments)`.
/// The name of a window: the policies whose windows cover it, or
/// [`NO_WINDOW`].
pub(super) fn window_name(cover: &[u16], policies: &[WindowedFloor]) -> String {
    if cover.is_empty() {
        return NO_WINDOW.to_string();
    }
    cover
        .iter()
        .map(|&p| label(&policies[usize::from(p)]))
        .collect::<Vec<_>>()
        .join(" & ")
}

pub(super) fn windows(ledger: &Ledger) -> Vec<(Vec<u16>, Vec<usize>)> {
    let segments = ledger.segments();
    let mut groups: Vec<(Vec<u16>, Vec<usize>)> = Vec::new();
    for s in 0..segments.len() {
        let mut cover = segments.cover(s).to_vec();
        cover.sort_unstable();
        match groups.iter_mut().find(|(c, _)| *c == cover) {
            Some((_, members)) => members.push(s),
            None => groups.push((cover, vec![s])),
        }
    }
    groups.sort_by_key(|(cover, _)| !cover.is_empty());
    groups
}

impl FfmService {
    /// Every device memqosd allocates on, its tier and why, and the floors
    /// admitted on it per policy window (an infrastructure read: it shows
    /// every domain's reservations, so the route is not a tenant's).
    pub fn tiers(&self) -> MemoryTiers {
        let ledger = lock(&self.ledger);
        let policies = ledger.policies();
        let groups = windows(&ledger);
        let devices = self
            .devices
            .iter()
            .enumerate()
            .map(|(i, info)| {
                let capacity = ledger.capacity(i);
                let windows = groups
                    .iter()
                    .map(|(cover, segments)| {
                        let admitted = segments
                            .iter()
                            .map(|&s| ledger.granted(i, s).0)
                            .max()
                            .unwrap_or(0);
                        WindowFloors {
                            window: window_name(cover, policies),
                            policies: cover
                                .iter()
                                .map(|&p| policies[usize::from(p)].id.clone())
                                .collect(),
                            admitted_gbs: gbs(MBps(admitted)),
                            available_gbs: gbs(MBps(capacity.0.saturating_sub(admitted))),
                        }
                    })
                    .collect();
                MemoryTierDevice {
                    id: info.device.id.clone(),
                    tier: class(info.device.tier),
                    source: info.source,
                    reachable_from: info.device.hosts.clone(),
                    basis: info.basis.clone(),
                    capacity_bytes: Bytes(ledger.device(i).bytes),
                    allocated_bytes: Bytes(ledger.used_bytes(i)),
                    bandwidth_gbs: SourcedFigure {
                        // A slice's peak is what its paths guarantee, not the device's.
                        value: match &info.slice_host {
                            Some(_) => ledger.device(i).peak.gbps(),
                            None => info.peak_gbs,
                        },
                        origin: info.peak_origin,
                    },
                    admission_gbs: gbs(capacity),
                    windows,
                    fabric_slice: info.slice_host.as_ref().map(|host| FabricSlice {
                        device: info.physical.clone(),
                        host: host.clone(),
                        open: !ledger.is_closed(i),
                    }),
                }
            })
            .collect();
        MemoryTiers {
            ledger_revision: ledger.revision(),
            admission_share: ledger.config().admission_share,
            devices,
            notes: self.device_notes.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use corridor_planner::memory::{DailyWindow, EVERY_DAY};

    use super::*;

    #[test]
    fn labels_name_the_policy_its_hours_zone_and_days() {
        let p = WindowedFloor {
            id: "pol-1".into(),
            floor: MBps::from_gbps(1.0),
            window: DailyWindow::new(20 * 60, 8 * 60)
                .unwrap()
                .with_offsets(60, 120),
            security_domain: None,
            time_zone: Some("Europe/Berlin".into()),
        };
        assert_eq!(label(&p), "pol-1 20:00–08:00 Europe/Berlin");
        let fri = WindowedFloor {
            window: p.window.on_days(1 << 4),
            ..p.clone()
        };
        assert_eq!(label(&fri), "pol-1 20:00–08:00 Europe/Berlin Fri");
        assert_eq!(p.window.days, EVERY_DAY);
    }
}
