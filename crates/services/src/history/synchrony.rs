//! Synchrony analytics, pure: which corridors', lanes' and bundles' kept
//! telemetry moves together over a window, and the most specific part of
//! the topology they share. Series are averaged per sampling bucket and
//! compared bucket by bucket (Pearson correlation), each kind only with its
//! own kind; pairs at or above the threshold are grouped by connected
//! components.

use std::collections::{BTreeMap, BTreeSet};

use corridor_model::analytics::{
    SYNCHRONY_MIN_COMMON_SAMPLES, SeriesStatus, SharedCause, SharedCauseKind, SynchronyPair,
};

/// One corridor's series: bucket index → mean value in that bucket.
pub type Series = BTreeMap<i64, f64>;

/// Averages `(time µs, value)` points per bucket of `bucket_us`.
pub fn bucketed(points: impl IntoIterator<Item = (i64, f64)>, bucket_us: i64) -> Series {
    let bucket_us = bucket_us.max(1);
    let mut sums: BTreeMap<i64, (f64, u32)> = BTreeMap::new();
    for (at, value) in points {
        if value.is_finite() {
            let entry = sums.entry(at.div_euclid(bucket_us)).or_default();
            entry.0 += value;
            entry.1 += 1;
        }
    }
    sums.into_iter()
        .map(|(bucket, (sum, n))| (bucket, sum / f64::from(n)))
        .collect()
}

/// Pearson correlation over the buckets both series have, with their
/// count; `None` with fewer than the minimum common buckets or when either
/// series does not move over them (a flat series correlates with nothing).
pub fn pearson(a: &Series, b: &Series) -> Option<(f64, usize)> {
    let pairs: Vec<(f64, f64)> = a
        .iter()
        .filter_map(|(bucket, x)| b.get(bucket).map(|y| (*x, *y)))
        .collect();
    let n = pairs.len();
    if n < SYNCHRONY_MIN_COMMON_SAMPLES {
        return None;
    }
    let mean = |f: fn(&(f64, f64)) -> f64| pairs.iter().map(f).sum::<f64>() / n as f64;
    let (mx, my) = (mean(|p| p.0), mean(|p| p.1));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in &pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    // Movement below float noise relative to the level is no movement.
    let still = |s: f64, m: f64| s.sqrt() <= 1e-9 * m.abs().max(1.0) * (n as f64).sqrt();
    if still(sxx, mx) || still(syy, my) {
        return None;
    }
    Some(((sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0), n))
}

/// Whether a series can be correlated at all: enough buckets, and movement.
pub fn status(series: &Series) -> SeriesStatus {
    if series.len() < SYNCHRONY_MIN_COMMON_SAMPLES {
        return SeriesStatus::TooFewSamples;
    }
    // Against itself: `None` only when it does not move.
    match pearson(series, series) {
        Some(_) => SeriesStatus::Compared,
        None => SeriesStatus::Flat,
    }
}

/// Every pair of `series` correlating at or above `min`, strongest first.
pub fn correlated_pairs(series: &[(String, Series)], min: f64) -> Vec<SynchronyPair> {
    let mut pairs = Vec::new();
    for (i, (a, sa)) in series.iter().enumerate() {
        for (b, sb) in &series[i + 1..] {
            if let Some((r, n)) = pearson(sa, sb)
                && r >= min
            {
                pairs.push(SynchronyPair {
                    a: a.clone(),
                    b: b.clone(),
                    correlation: r,
                    samples: u32::try_from(n).unwrap_or(u32::MAX),
                });
            }
        }
    }
    pairs.sort_by(|x, y| y.correlation.total_cmp(&x.correlation));
    pairs
}

/// The connected components of two or more corridors the pairs link, each
/// sorted, largest first.
pub fn groups(pairs: &[SynchronyPair]) -> Vec<Vec<String>> {
    let mut parent: BTreeMap<String, String> = BTreeMap::new();
    fn root(parent: &mut BTreeMap<String, String>, id: &str) -> String {
        let mut at = id.to_owned();
        while let Some(up) = parent.get(&at).filter(|up| **up != at) {
            at = up.clone();
        }
        at
    }
    for pair in pairs {
        for id in [&pair.a, &pair.b] {
            parent.entry(id.clone()).or_insert_with(|| id.clone());
        }
        let (ra, rb) = (root(&mut parent, &pair.a), root(&mut parent, &pair.b));
        if ra != rb {
            parent.insert(ra, rb);
        }
    }
    let ids: Vec<String> = parent.keys().cloned().collect();
    let mut components: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for id in ids {
        let r = root(&mut parent, &id);
        components.entry(r).or_default().push(id);
    }
    let mut groups: Vec<Vec<String>> = components.into_values().filter(|g| g.len() > 1).collect();
    groups.sort_by(|x, y| y.len().cmp(&x.len()).then_with(|| x.cmp(y)));
    groups
}

/// Where a corridor sits: its end ports, the links it crosses and the
/// hosts of its ports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    pub ports: BTreeSet<String>,
    pub links: BTreeSet<String>,
    pub hosts: BTreeSet<String>,
}

/// The most specific part every placement shares: a port, else a link,
/// else a host, else the rack (`rack` names it). `Unknown` when a
/// member's placement is not known. `noun` names the members (`corridor`,
/// `lane`).
pub fn shared_cause(placements: &[Option<Placement>], rack: &str, noun: &str) -> SharedCause {
    let Some(known) = placements
        .iter()
        .map(Option::as_ref)
        .collect::<Option<Vec<_>>>()
    else {
        return SharedCause {
            kind: SharedCauseKind::Unknown,
            ids: Vec::new(),
            explanation: format!(
                "a {noun} of the group is released and its placement is no longer kept"
            ),
        };
    };
    let common = |pick: fn(&Placement) -> &BTreeSet<String>| -> Vec<String> {
        let mut sets = known.iter().map(|p| pick(p));
        let first = sets.next().cloned().unwrap_or_default();
        sets.fold(first, |acc, s| acc.intersection(s).cloned().collect())
            .into_iter()
            .collect()
    };
    let ports = common(|p| &p.ports);
    if !ports.is_empty() {
        return SharedCause {
            kind: SharedCauseKind::Port,
            explanation: format!(
                "every {noun} of the group ends on {}: one module's case temperature and lasers",
                ports.join(", ")
            ),
            ids: ports,
        };
    }
    let links = common(|p| &p.links);
    if !links.is_empty() {
        return SharedCause {
            kind: SharedCauseKind::Link,
            explanation: format!("every {noun} of the group crosses {}", links.join(", ")),
            ids: links,
        };
    }
    let hosts = common(|p| &p.hosts);
    if !hosts.is_empty() {
        return SharedCause {
            kind: SharedCauseKind::Host,
            explanation: format!(
                "every {noun} of the group ends on a port of host {}",
                hosts.join(", ")
            ),
            ids: hosts,
        };
    }
    SharedCause {
        kind: SharedCauseKind::Rack,
        ids: vec![rack.to_owned()],
        explanation: format!(
            "the {noun}s share no port, link or host, only the {rack}: its ambient temperature (the twin's profile) reaches every port"
        ),
    }
}

/// Where a bundle's memory is: the devices holding its bytes, the CXL
/// switch ports its pooled memory crosses, its host and its tier.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundlePlacement {
    pub devices: BTreeSet<String>,
    pub switch_ports: BTreeSet<String>,
    pub hosts: BTreeSet<String>,
    pub tiers: BTreeSet<String>,
}

/// One level of a bundle placement (its devices, switch ports, …).
type Pick = fn(&BundlePlacement) -> &BTreeSet<String>;

/// The most specific part every bundle placement shares: a memory device,
/// else a switch port, else a host, else a tier, else only the rack.
pub fn bundle_shared_cause(placements: &[BundlePlacement], rack: &str) -> SharedCause {
    let common = |pick: fn(&BundlePlacement) -> &BTreeSet<String>| -> Vec<String> {
        let mut sets = placements.iter().map(pick);
        let first = sets.next().cloned().unwrap_or_default();
        sets.fold(first, |acc, s| acc.intersection(s).cloned().collect())
            .into_iter()
            .collect()
    };
    let levels: [(SharedCauseKind, Pick, &str); 4] = [
        (
            SharedCauseKind::Device,
            |p| &p.devices,
            "every bundle of the group has bytes on {}: the bundles placed there share its bandwidth",
        ),
        (
            SharedCauseKind::SwitchPort,
            |p| &p.switch_ports,
            "every bundle of the group has pooled memory behind CXL switch port {}",
        ),
        (
            SharedCauseKind::Host,
            |p| &p.hosts,
            "every bundle of the group is placed for host {}",
        ),
        (
            SharedCauseKind::Tier,
            |p| &p.tiers,
            "every bundle of the group is in tier {} (on different devices)",
        ),
    ];
    for (kind, pick, text) in levels {
        let ids = common(pick);
        if !ids.is_empty() {
            return SharedCause {
                kind,
                explanation: text.replace("{}", &ids.join(", ")),
                ids,
            };
        }
    }
    SharedCause {
        kind: SharedCauseKind::Rack,
        ids: vec![rack.to_owned()],
        explanation: format!(
            "the bundles share no memory device, switch port, host or tier, only the {rack}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: &[f64]) -> Series {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as i64, *v))
            .collect()
    }

    fn placement(ports: &[&str], links: &[&str], hosts: &[&str]) -> Option<Placement> {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Some(Placement {
            ports: set(ports),
            links: set(links),
            hosts: set(hosts),
        })
    }

    #[test]
    fn buckets_average_and_pearson_needs_movement_and_overlap() {
        let s = bucketed([(0, 1.0), (5, 3.0), (10, 5.0), (25, f64::NAN)], 10);
        assert_eq!(s, BTreeMap::from([(0, 2.0), (1, 5.0)]));
        let step = series(&[40.0, 40.0, 40.0, 48.0, 48.0, 48.0]);
        let step_too = series(&[30.0, 30.1, 30.0, 38.0, 38.1, 38.0]);
        let (r, n) = pearson(&step, &step_too).unwrap();
        assert!(r > 0.99 && n == 6, "{r}");
        let falling = series(&[48.0, 48.0, 48.0, 40.0, 40.0, 40.0]);
        assert!(pearson(&step, &falling).unwrap().0 < -0.99);
        // A flat series moves with nothing.
        assert_eq!(pearson(&step, &series(&[41.0; 6])), None);
        // Too few common buckets.
        assert_eq!(
            pearson(&series(&[1.0, 2.0, 3.0]), &series(&[1.0, 2.0, 3.0])),
            None
        );
    }

    #[test]
    fn pairs_over_the_threshold_form_groups() {
        let s = |id: &str, v: &[f64]| (id.to_owned(), series(v));
        let all = [
            s("a", &[1.0, 1.0, 5.0, 5.0, 5.0]),
            s("b", &[2.0, 2.0, 9.0, 9.1, 9.0]),
            s("c", &[0.0, 0.1, 4.0, 4.0, 4.1]),
            s("d", &[3.0, 1.0, 3.0, 1.0, 3.0]),
            s("e", &[7.0; 5]),
        ];
        let pairs = correlated_pairs(&all, 0.8);
        assert!(
            pairs
                .windows(2)
                .all(|w| w[0].correlation >= w[1].correlation)
        );
        assert!(pairs.iter().all(|p| !["d", "e"].contains(&p.a.as_str())));
        assert_eq!(
            groups(&pairs),
            vec![vec!["a".to_owned(), "b".into(), "c".into()]]
        );
    }

    #[test]
    fn the_cause_is_the_most_specific_shared_part() {
        let a = placement(&["p0", "p1"], &["l01"], &["h0", "h1"]);
        let b = placement(&["p0", "p1"], &["l01"], &["h0", "h1"]);
        let c = placement(&["p0", "p2"], &["l02"], &["h0", "h2"]);
        let d = placement(&["p3", "p4"], &["l34"], &["h0", "h4"]);
        let e = placement(&["p5", "p6"], &["l56"], &["h5", "h6"]);
        let cause = shared_cause(&[a.clone(), b.clone()], "rack", "corridor");
        assert_eq!(
            (cause.kind, cause.ids),
            (SharedCauseKind::Port, vec!["p0".into(), "p1".into()])
        );
        let cause = shared_cause(&[a.clone(), c.clone()], "rack", "corridor");
        assert_eq!(
            (cause.kind, cause.ids),
            (SharedCauseKind::Port, vec!["p0".into()])
        );
        let cause = shared_cause(&[a.clone(), d.clone()], "rack", "corridor");
        assert_eq!(
            (cause.kind, cause.ids),
            (SharedCauseKind::Host, vec!["h0".into()])
        );
        let cause = shared_cause(&[a.clone(), e], "rack-a", "corridor");
        assert_eq!(
            (cause.kind, cause.ids),
            (SharedCauseKind::Rack, vec!["rack-a".into()])
        );
        assert_eq!(
            shared_cause(&[a, None], "rack", "corridor").kind,
            SharedCauseKind::Unknown
        );
    }

    #[test]
    fn a_bundle_cause_is_the_most_specific_shared_part_and_short_series_are_named() {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        let bundle = |devices: &[&str], ports: &[&str], host: &str, tier: &str| BundlePlacement {
            devices: set(devices),
            switch_ports: set(ports),
            hosts: set(&[host]),
            tiers: set(&[tier]),
        };
        let a = bundle(&["h0-dram"], &[], "h0", "T1");
        let b = bundle(&["h0-dram"], &[], "h0", "T1");
        let c = bundle(&["cxl-pool-0"], &["sw0:1", "sw0:8"], "h0", "T2");
        let d = bundle(&["cxl-pool-1"], &["sw0:2", "sw0:8"], "h0", "T2");
        let e = bundle(&["h1-dram"], &[], "h1", "T1");
        let f = bundle(&["h2-hbm"], &[], "h2", "T0");
        let cause = bundle_shared_cause(&[a.clone(), b], "rack");
        assert_eq!(
            (cause.kind, cause.ids),
            (SharedCauseKind::Device, vec!["h0-dram".into()])
        );
        let cause = bundle_shared_cause(&[c.clone(), d], "rack");
        assert_eq!(
            (cause.kind, cause.ids),
            (SharedCauseKind::SwitchPort, vec!["sw0:8".into()])
        );
        let cause = bundle_shared_cause(&[a.clone(), c], "rack");
        assert_eq!(cause.kind, SharedCauseKind::Host);
        let cause = bundle_shared_cause(&[a.clone(), e], "rack");
        assert_eq!(
            (cause.kind, cause.ids),
            (SharedCauseKind::Tier, vec!["T1".into()])
        );
        assert_eq!(
            bundle_shared_cause(&[a, f], "rack").kind,
            SharedCauseKind::Rack
        );

        assert_eq!(
            status(&series(&[1.0, 2.0, 3.0])),
            SeriesStatus::TooFewSamples
        );
        assert_eq!(status(&series(&[2.0; 6])), SeriesStatus::Flat);
        assert_eq!(
            status(&series(&[1.0, 2.0, 1.0, 2.0])),
            SeriesStatus::Compared
        );
    }
}
