//! State-machine property test of the memory ledger: random sequences of allocate, resize,
//! renew, migrate (begin/commit/abort), policy set/remove, expire and free, checked after every
//! step against a naive reference model that recomputes every (device, window) sum from the
//! bundles on a 30-minute grid with its own time arithmetic.

use std::collections::BTreeMap;

use corridor_planner::memory::*;
use proptest::prelude::*;

const GIB: u64 = 1 << 30;
const MONDAY: i64 = 1_705_276_800;
const SLOT: u32 = 30;
const CLASSES: [Tier; 3] = [Tier::T1, Tier::T2, Tier::T3];

fn devices() -> Vec<Device> {
    vec![
        Device::new("dram-0", Tier::T1, 16 * GIB, 100.0),
        Device::new("dram-1", Tier::T1, 16 * GIB, 80.0),
        Device::new("cxl-0", Tier::T2, 8 * GIB, 50.0),
        Device::new("cxl-1", Tier::T2, 8 * GIB, 40.0),
        Device::new("cxl-2", Tier::T2, 4 * GIB, 60.0),
        Device::new("pmem-0", Tier::T3, 32 * GIB, 20.0),
    ]
}

#[derive(Clone, Debug)]
enum Op {
    Alloc {
        class: usize,
        gib: u64,
        floor: u64,
        start: i64,
        len: Option<i64>,
        domain: Option<u8>,
    },
    Resize {
        pick: usize,
        floor: u64,
    },
    Renew {
        pick: usize,
        len: Option<i64>,
    },
    MigrateBegin {
        pick: usize,
        class: usize,
    },
    MigrateCommit {
        pick: usize,
    },
    MigrateAbort {
        pick: usize,
    },
    SetPolicy {
        pid: u8,
        floor: u64,
        start: u16,
        end: u16,
        /// Equal for a fixed-offset zone; two for one with daylight saving time.
        offsets: (i16, i16),
        days: u8,
        domain: Option<u8>,
    },
    RemovePolicy {
        pid: u8,
    },
    Expire {
        at: i64,
    },
    Free {
        pick: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let floor = 0u64..=60; // GB/s, in steps of 0.5 below
    let domain = prop::option::of(0u8..2);
    let len = prop::option::weighted(0.8, 1i64..400);
    prop_oneof![
        6 => (0usize..3, 1u64..6, floor.clone(), 0i64..336, len.clone(), domain.clone())
            .prop_map(|(class, gib, floor, start, len, domain)| Op::Alloc { class, gib, floor, start, len, domain }),
        2 => (any::<usize>(), floor.clone()).prop_map(|(pick, floor)| Op::Resize { pick, floor }),
        1 => (any::<usize>(), len).prop_map(|(pick, len)| Op::Renew { pick, len }),
        1 => (any::<usize>(), 0usize..3).prop_map(|(pick, class)| Op::MigrateBegin { pick, class }),
        1 => any::<usize>().prop_map(|pick| Op::MigrateCommit { pick }),
        1 => any::<usize>().prop_map(|pick| Op::MigrateAbort { pick }),
        1 => (0u8..3, floor, 0u16..48, 0u16..48, prop::sample::select(vec![(-300i16, -300i16), (0, 0), (60, 60), (330, 330), (60, 120), (-300, -240)]),
              prop_oneof![Just(0x7fu8), 1u8..0x7f], domain)
            .prop_map(|(pid, floor, start, end, offsets, days, domain)| Op::SetPolicy { pid, floor, start, end, offsets, days, domain }),
        1 => (0u8..3).prop_map(|pid| Op::RemovePolicy { pid }),
        1 => (0i64..700).prop_map(|at| Op::Expire { at }),
        2 => any::<usize>().prop_map(|pick| Op::Free { pick }),
    ]
}

fn gb(half_units: u64) -> MBps {
    MBps(half_units * 500)
}

// ----- the naive model -----

/// (device, bytes, weight) per share.
type Shares = Vec<(usize, u64, u64)>;
/// (segments, granted[device][segment], bytes[device])
type Totals = (Vec<(u32, u32)>, Vec<Vec<u64>>, Vec<u64>);

#[derive(Clone, Debug)]
struct MBundle {
    req: BundleDemand,
    shares: Shares,
    dest: Option<(Tier, Shares)>,
}

#[derive(Clone, Debug, Default)]
struct Model {
    policies: Vec<WindowedFloor>,
    bundles: BTreeMap<String, MBundle>,
}

fn naive_apportion(total: u64, w: &[u64]) -> Vec<u64> {
    let sum: u128 = w.iter().map(|&x| u128::from(x)).sum();
    if w.len() <= 1 || sum == 0 {
        let mut v = vec![0; w.len()];
        v[0] = total;
        return v;
    }
    let mut v: Vec<u64> = w
        .iter()
        .map(|&x| u64::try_from(u128::from(total) * u128::from(x) / sum).unwrap())
        .collect();
    let mut idx: Vec<usize> = (0..w.len()).collect();
    idx.sort_by_key(|&i| {
        (
            std::cmp::Reverse(u128::from(total) * u128::from(w[i]) % sum),
            i,
        )
    });
    let left = total - v.iter().sum::<u64>();
    for &i in idx.iter().take(usize::try_from(left).unwrap()) {
        v[i] += 1;
    }
    v
}

/// Does the policy's window cover UTC week minute `m` at UTC offset `offset`? (Local clock
/// arithmetic, day by day.)
fn covers_at(p: &WindowedFloor, m: u32, offset: i16) -> bool {
    let w = p.window;
    let local = (i64::from(m) + i64::from(offset)).rem_euclid(i64::from(WEEK_MIN));
    let day = u32::try_from(local / 1440).unwrap();
    let tod = u32::try_from(local % 1440).unwrap();
    let prev = (day + 6) % 7;
    let on = |d: u32| w.days & (1 << d) != 0;
    let (s, e) = (u32::from(w.start_min), u32::from(w.end_min));
    if e > s {
        on(day) && tod >= s && tod < e
    } else {
        (on(day) && tod >= s) || (on(prev) && tod < e)
    }
}

/// The window's offsets: both ends of its zone's range.
fn offsets(p: &WindowedFloor) -> (i16, i16) {
    let w = p.window;
    let alt = w.utc_offset_alt_min.unwrap_or(w.utc_offset_min);
    (w.utc_offset_min.min(alt), w.utc_offset_min.max(alt))
}

/// May the window cover `m`: at some offset between its zone's two (a transition night's
/// occurrence starts and ends anywhere in between). Every edge here is a multiple of 30
/// minutes, so offsets in steps of 30 are enough.
fn policy_may_cover(p: &WindowedFloor, m: u32) -> bool {
    let (lo, hi) = offsets(p);
    (lo..=hi)
        .step_by(30)
        .chain([hi])
        .any(|o| covers_at(p, m, o))
}

/// Does one occurrence of the window cover `m` at every offset between its zone's two?
fn policy_surely_covers(p: &WindowedFloor, m: u32) -> bool {
    let (lo, hi) = offsets(p);
    let w = p.window;
    let spread = u32::from(hi.abs_diff(lo));
    let len = w.len_min();
    if len <= spread {
        return false;
    }
    (0..7u32).filter(|d| w.days & (1 << d) != 0).any(|d| {
        // Latest start (at the smallest offset) to earliest end (at the largest).
        let a = i64::from(d * 1440 + u32::from(w.start_min)) - i64::from(lo);
        let off = (i64::from(m) - a).rem_euclid(i64::from(WEEK_MIN));
        off < i64::from(len - spread)
    })
}

fn lives_at(req: &BundleDemand, m: u32) -> bool {
    let Some(end) = req.end_s else { return true };
    let a = req.start_s.div_euclid(60);
    let b = -(-end).div_euclid(60);
    if b - a >= i64::from(WEEK_MIN) {
        return true;
    }
    let off = (i64::from(m) - i64::from(week_minute(a))).rem_euclid(i64::from(WEEK_MIN));
    off < b - a
}

impl Model {
    fn segments(&self) -> Vec<(u32, u32)> {
        let mut starts = vec![0u32];
        for p in &self.policies {
            let w = p.window;
            let (lo, hi) = offsets(p);
            let spread = i64::from(hi.abs_diff(lo));
            for d in 0..7u32 {
                if w.days & (1 << d) == 0 {
                    continue;
                }
                let local = i64::from(d * 1440 + u32::from(w.start_min));
                let len = i64::from(w.len_min());
                // Earliest start and latest end; the core's edges when there is a core.
                let mut edges = vec![local - i64::from(hi), local + len - i64::from(lo)];
                if len > spread {
                    edges.extend([local - i64::from(lo), local + len - i64::from(hi)]);
                }
                for x in edges {
                    starts.push(u32::try_from(x.rem_euclid(i64::from(WEEK_MIN))).unwrap());
                }
            }
        }
        starts.sort_unstable();
        starts.dedup();
        let mut out: Vec<(u32, u32)> = starts.windows(2).map(|w| (w[0], w[1])).collect();
        out.push((*starts.last().unwrap(), WEEK_MIN));
        out
    }

    /// The floor counted at `m`: the largest of the policies that surely hold; where some only
    /// may hold, they count as holding and as not holding (the larger floor).
    fn floor_at(&self, req: &BundleDemand, m: u32) -> u64 {
        let selected = || {
            self.policies
                .iter()
                .filter(|p| p.security_domain.is_none() || p.security_domain == req.security_domain)
        };
        let sure = selected()
            .filter(|p| policy_surely_covers(p, m))
            .map(|p| p.floor.0)
            .max();
        let maybe = selected()
            .filter(|p| policy_may_cover(p, m) && !policy_surely_covers(p, m))
            .map(|p| p.floor.0)
            .max();
        match (sure, maybe) {
            (Some(f), m) => f.max(m.unwrap_or(0)),
            (None, Some(m)) => m.max(req.floor.0),
            (None, None) => req.floor.0,
        }
    }

    /// (segments, granted[device][segment], bytes[device])
    fn totals(&self, ndev: usize) -> Totals {
        let segs = self.segments();
        let mut g = vec![vec![0u64; segs.len()]; ndev];
        let mut bytes = vec![0u64; ndev];
        for b in self.bundles.values() {
            let places = std::iter::once(&b.shares).chain(b.dest.as_ref().map(|d| &d.1));
            for shares in places {
                let w: Vec<u64> = shares.iter().map(|s| s.2).collect();
                for (si, &(a, e)) in segs.iter().enumerate() {
                    if !(a..e).step_by(SLOT as usize).any(|m| lives_at(&b.req, m)) {
                        continue;
                    }
                    let parts = naive_apportion(self.floor_at(&b.req, a), &w);
                    for (s, p) in shares.iter().zip(parts) {
                        g[s.0][si] += p;
                    }
                }
                for s in shares {
                    bytes[s.0] += s.1;
                }
            }
        }
        (segs, g, bytes)
    }

    fn within(&self, l: &Ledger) -> bool {
        let (_, g, bytes) = self.totals(l.devices().count());
        l.devices()
            .enumerate()
            .all(|(i, d)| bytes[i] <= d.bytes && g[i].iter().all(|&x| x <= l.capacity(i).0))
    }

    /// Some single device of `class` could take `req` whole on top of the current totals.
    fn single_fits(&self, l: &Ledger, req: &BundleDemand) -> bool {
        let (segs, g, bytes) = self.totals(l.devices().count());
        l.devices().enumerate().any(|(i, d)| {
            d.tier == req.latency_class
                && d.bytes - bytes[i] >= req.bytes
                && segs.iter().enumerate().all(|(si, &(a, e))| {
                    !(a..e).step_by(SLOT as usize).any(|m| lives_at(req, m))
                        || g[i][si] + self.floor_at(req, a) <= l.capacity(i).0
                })
        })
    }
}

fn shares_of(p: &Placement) -> Shares {
    p.shares
        .iter()
        .map(|s| (s.index as usize, s.bytes, s.weight))
        .collect()
}

#[allow(clippy::needless_range_loop)]
fn check(l: &Ledger, m: &Model) -> Result<(), TestCaseError> {
    let ndev = l.devices().count();
    let (segs, g, bytes) = m.totals(ndev);
    let ls: Vec<(u32, u32)> = (0..l.segments().len())
        .map(|i| l.segments().span(i))
        .collect();
    prop_assert_eq!(&ls, &segs, "segments");
    for (i, d) in l.devices().enumerate() {
        prop_assert_eq!(l.used_bytes(i), bytes[i], "bytes on {}", d.id);
        prop_assert!(bytes[i] <= d.bytes, "byte capacity of {}", d.id);
        for s in 0..segs.len() {
            prop_assert_eq!(
                l.granted(i, s).0,
                g[i][s],
                "granted on {} in {}",
                d.id,
                l.window_label(s)
            );
            prop_assert!(
                g[i][s] <= l.capacity(i).0,
                "over capacity on {} in {}",
                d.id,
                l.window_label(s)
            );
        }
    }
    prop_assert_eq!(l.len(), m.bundles.len());
    l.verify().map_err(TestCaseError::fail)?;
    Ok(())
}

fn pick(m: &Model, i: usize) -> Option<String> {
    (!m.bundles.is_empty()).then(|| m.bundles.keys().nth(i % m.bundles.len()).unwrap().clone())
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut l = Ledger::new(LedgerConfig::default(), devices()).unwrap();
    let mut m = Model::default();
    let mut next = 0u32;
    for op in ops {
        let before = l.clone();
        let ok: bool;
        match op {
            Op::Alloc {
                class,
                gib,
                floor,
                start,
                len,
                domain,
            } => {
                let start_s = MONDAY + start * 1800;
                let req = BundleDemand {
                    bytes: gib * GIB,
                    latency_class: CLASSES[class],
                    floor: gb(floor),
                    security_domain: domain.map(|d| format!("tenant{d}")),
                    start_s,
                    end_s: len.map(|n| start_s + n * 1800),
                    host: None,
                };
                let id = format!("b{next}");
                next += 1;
                let must = m.single_fits(&l, &req);
                match l.allocate(&id, req.clone()) {
                    Ok(p) => {
                        prop_assert_eq!(p.shares.iter().map(|s| s.bytes).sum::<u64>(), req.bytes);
                        prop_assert_eq!(
                            p.shares.iter().map(|s| s.floor.0).sum::<u64>(),
                            req.floor.0
                        );
                        m.bundles.insert(
                            id,
                            MBundle {
                                req,
                                shares: shares_of(&p),
                                dest: None,
                            },
                        );
                        ok = true;
                    }
                    Err(e) => {
                        prop_assert!(!must, "refused although one device fits: {}", e);
                        ok = false;
                    }
                }
            }
            Op::Resize { pick: i, floor } => {
                let Some(id) = pick(&m, i) else { continue };
                let mut m2 = m.clone();
                m2.bundles.get_mut(&id).unwrap().req.floor = gb(floor);
                let expect = m.bundles[&id].dest.is_none() && m2.within(&l);
                ok = l.resize(&id, gb(floor)).is_ok();
                prop_assert_eq!(ok, expect, "resize {} to {}", id, gb(floor));
                if ok {
                    m = m2;
                }
            }
            Op::Renew { pick: i, len } => {
                let Some(id) = pick(&m, i) else { continue };
                let mut m2 = m.clone();
                let b = m2.bundles.get_mut(&id).unwrap();
                let end = len.map(|n| b.req.start_s + n * 1800);
                b.req.end_s = end;
                let expect = m.bundles[&id].dest.is_none() && m2.within(&l);
                ok = l.renew(&id, end).is_ok();
                prop_assert_eq!(ok, expect, "renew {}", id);
                if ok {
                    m = m2;
                }
            }
            Op::MigrateBegin { pick: i, class } => {
                let Some(id) = pick(&m, i) else { continue };
                let mut req = m.bundles[&id].req.clone();
                req.latency_class = CLASSES[class];
                let must = m.bundles[&id].dest.is_none() && m.single_fits(&l, &req);
                match l.migrate_begin(&id, CLASSES[class]) {
                    Ok(p) => {
                        m.bundles.get_mut(&id).unwrap().dest =
                            Some((CLASSES[class], shares_of(&p)));
                        ok = true;
                    }
                    Err(e) => {
                        prop_assert!(!must, "migration refused although one device fits: {}", e);
                        ok = false;
                    }
                }
            }
            Op::MigrateCommit { pick: i } => {
                let Some(id) = pick(&m, i) else { continue };
                ok = l.migrate_commit(&id).is_ok();
                let b = m.bundles.get_mut(&id).unwrap();
                prop_assert_eq!(ok, b.dest.is_some());
                if let Some((class, shares)) = b.dest.take() {
                    b.req.latency_class = class;
                    b.shares = shares;
                }
            }
            Op::MigrateAbort { pick: i } => {
                let Some(id) = pick(&m, i) else { continue };
                ok = l.migrate_abort(&id).is_ok();
                let b = m.bundles.get_mut(&id).unwrap();
                prop_assert_eq!(ok, b.dest.take().is_some());
            }
            Op::SetPolicy {
                pid,
                floor,
                start,
                end,
                offsets,
                days,
                domain,
            } => {
                let p = WindowedFloor {
                    id: format!("p{pid}"),
                    floor: gb(floor),
                    window: DailyWindow::new(start * 30, end * 30)
                        .unwrap()
                        .with_offsets(offsets.0, offsets.1)
                        .on_days(days),
                    security_domain: domain.map(|d| format!("tenant{d}")),
                    time_zone: None,
                };
                let mut m2 = m.clone();
                match m2.policies.iter_mut().find(|q| q.id == p.id) {
                    Some(q) => *q = p.clone(),
                    None => m2.policies.push(p.clone()),
                }
                let expect = m2.within(&l);
                ok = l.set_policy(p).is_ok();
                prop_assert_eq!(ok, expect, "set policy");
                if ok {
                    m = m2;
                }
            }
            Op::RemovePolicy { pid } => {
                let id = format!("p{pid}");
                let mut m2 = m.clone();
                m2.policies.retain(|q| q.id != id);
                let expect = m2.policies.len() < m.policies.len() && m2.within(&l);
                ok = l.remove_policy(&id).is_ok();
                prop_assert_eq!(ok, expect, "remove policy");
                if ok {
                    m = m2;
                }
            }
            Op::Expire { at } => {
                let now = MONDAY + at * 1800;
                let gone = l.expire(now);
                let want: Vec<String> = m
                    .bundles
                    .iter()
                    .filter(|(_, b)| b.req.end_s.is_some_and(|e| e <= now))
                    .map(|(id, _)| id.clone())
                    .collect();
                prop_assert_eq!(&gone, &want);
                for id in want {
                    m.bundles.remove(&id);
                }
                ok = true;
            }
            Op::Free { pick: i } => {
                let Some(id) = pick(&m, i) else { continue };
                l.free(&id).unwrap();
                m.bundles.remove(&id);
                ok = true;
            }
        }
        if !ok {
            prop_assert_eq!(&l, &before, "a rejected operation changed the ledger");
        }
        check(&l, &m)?;
    }
    // Nothing leaks: freeing everything (and dropping policies) empties the ledger.
    let ids: Vec<String> = l.bundles().map(|b| b.id.clone()).collect();
    for id in ids {
        l.free(&id).unwrap();
    }
    prop_assert!(l.is_empty());
    let pids: Vec<String> = l.policies().iter().map(|p| p.id.clone()).collect();
    for id in pids {
        l.remove_policy(&id).unwrap();
    }
    prop_assert_eq!(l.segments().len(), 1);
    // And the serialized ledger round-trips.
    let back: Ledger = serde_json::from_str(&serde_json::to_string(&l).unwrap()).unwrap();
    prop_assert_eq!(back, l);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn ledger_state_machine(ops in prop::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}
