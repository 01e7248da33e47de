use super::*;

const GIB: u64 = 1 << 30;
/// Monday 2024-01-15 00:00 UTC.
const MONDAY: i64 = 1_705_276_800;

fn t2(n: usize, peak: f64) -> Vec<Device> {
    (1..=n)
        .map(|i| Device::new(format!("cxl-dev-{i:03}"), Tier::T2, 256 * GIB, peak))
        .collect()
}

/// The share these tests' figures are worked out at (the middle of the
/// memory-cxl.md §5 band, not the default).
const SHARE: f64 = 0.7;

fn ledger(devices: Vec<Device>) -> Ledger {
    Ledger::new(
        LedgerConfig {
            admission_share: SHARE,
        },
        devices,
    )
    .unwrap()
}

fn policy(id: &str, gbps: f64, window: &str) -> WindowedFloor {
    WindowedFloor {
        id: id.into(),
        floor: MBps::from_gbps(gbps),
        window: DailyWindow::parse(window).unwrap(),
        security_domain: None,
        time_zone: None,
    }
}

#[test]
fn week_minute_starts_monday_utc() {
    assert_eq!(week_minute(MONDAY / 60), 0);
    assert_eq!(week_minute(0), 3 * DAY_MIN); // 1970-01-01 was a Thursday
    assert_eq!(week_minute(MONDAY / 60 - 1), WEEK_MIN - 1);
}

#[test]
fn windows_wrap_midnight_and_the_week() {
    let w = DailyWindow::parse("20:00–08:00").unwrap();
    assert_eq!(w.len_min(), 12 * 60);
    assert_eq!(w.to_string(), "20:00–08:00");
    let iv = w.utc_intervals();
    // Sunday 20:00 → Monday 08:00 wraps the week: split in two.
    assert!(iv.contains(&(6 * DAY_MIN + 1200, WEEK_MIN)));
    assert!(iv.contains(&(0, 480)));
    assert!(w.covers(0) && w.covers(479) && !w.covers(480) && w.covers(1200) && !w.covers(1199));
    // 20:00–08:00 at UTC+01:00 is 19:00–07:00 UTC.
    let cet = w.with_offset(60);
    assert!(cet.covers(1140) && !cet.covers(420) && cet.covers(419));
    assert_eq!(cet.to_string(), "20:00–08:00 UTC+01:00");
    // Only on Saturday nights (local start day).
    let sat = w.on_days(1 << 5);
    assert!(sat.covers(5 * DAY_MIN + 1300) && sat.covers(6 * DAY_MIN + 100));
    assert!(!sat.covers(1300) && !sat.covers(6 * DAY_MIN + 1300));
    assert!(DailyWindow::parse("25:00-08:00").is_err());
    assert!(DailyWindow::parse("20:00").is_err());
}

#[test]
fn a_window_with_two_offsets_may_cover_its_hull_and_surely_its_core() {
    // 20:00–08:00 in Europe/Berlin: CET (+60) or CEST (+120). Monday's occurrence starts at
    // 18:00 UTC (summer) or 19:00 UTC (winter) and ends at 06:00 or 07:00 UTC.
    let w = DailyWindow::parse("20:00–08:00")
        .unwrap()
        .with_offsets(120, 60);
    assert_eq!(w.offset_range(), (60, 120));
    assert_eq!(w.to_string(), "20:00–08:00 UTC+01:00/+02:00");
    assert!(w.utc_intervals().contains(&(1080, 1080 + 13 * 60)));
    assert!(w.core_intervals().contains(&(1140, 1140 + 11 * 60)));
    assert!(w.covers(1080) && !w.surely_covers(1080));
    assert!(w.covers(1139) && !w.surely_covers(1139) && w.surely_covers(1140));
    assert!(w.surely_covers(DAY_MIN + 359) && !w.surely_covers(DAY_MIN + 360));
    assert!(w.covers(DAY_MIN + 419) && !w.covers(DAY_MIN + 420));
    // Equal offsets are one fixed offset.
    assert_eq!(
        DailyWindow::parse("20:00–08:00")
            .unwrap()
            .with_offsets(60, 60),
        w.with_offset(60)
    );
    // A window shorter than the offsets' difference surely covers nothing.
    let short = DailyWindow::parse("02:10–02:50")
        .unwrap()
        .with_offsets(60, 120);
    assert!(short.core_intervals().is_empty());
    let segs = Segments::build(&[short]);
    assert!((0..segs.len()).all(|i| segs.cover(i) == segs.partial(i)));
}

/// Where a policy with two offsets only may be in force, admission counts the larger of its
/// floor and the bundle's own: a policy lowering a floor lowers it only where it surely holds.
#[test]
fn a_policy_with_two_offsets_counts_the_larger_floor_where_it_only_may_hold() {
    let mut l = ledger(t2(1, 100.0));
    let mut low = policy("low", 1.0, "20:00–08:00");
    low.window = low.window.with_offsets(60, 120);
    l.set_policy(low).unwrap();
    let req = BundleDemand::new(GIB, Tier::T2, 10.0, MONDAY);
    let floors = l.window_floors(&req).unwrap();
    let at = |m: u32| {
        let seg = l.segments().at(m);
        floors.iter().find(|(s, _)| *s == seg).unwrap().1
    };
    let ten = MBps::from_gbps(10.0).0;
    let one = MBps::from_gbps(1.0).0;
    assert_eq!(at(1079), ten); // Monday 17:59 UTC: no window
    assert_eq!(at(1080), ten); // 18:00: in force in summer only
    assert_eq!(at(1140), one); // 19:00: in force either way
    assert_eq!(at(DAY_MIN + 360), ten); // Tuesday 06:00: in winter only
    assert_eq!(at(DAY_MIN + 420), ten);
    // At an instant, the caller says which policies are in force.
    assert_eq!(l.floor_in_force(&req, |_| true), one);
    assert_eq!(l.floor_in_force(&req, |_| false), ten);
}

#[test]
fn segments_and_spans() {
    let w = DailyWindow::parse("20:00-08:00").unwrap();
    let segs = Segments::build(&[w]);
    assert_eq!(segs.len(), 15); // 14 edges a week, plus the cut at Monday 00:00
    assert_eq!(segs.cover(0), &[0]);
    assert!(segs.cover(segs.at(600)).is_empty());
    // A bundle living Monday 07:00–09:00 touches the night segment and the day segment.
    let span = Span::of_lifetime(MONDAY + 7 * 3600, Some(MONDAY + 9 * 3600)).unwrap();
    let r = segs.overlapping(span);
    assert_eq!(r[0], 0..2);
    assert!(r[1].is_empty());
    // Sunday 23:00 → Monday 01:00 wraps the week.
    let span = Span::of_lifetime(MONDAY - 3600, Some(MONDAY + 3600)).unwrap();
    let r = segs.overlapping(span);
    assert_eq!((r[0].clone(), r[1].clone()), (14..15, 0..1));
    assert_eq!(Span::of_lifetime(0, None), Some(Span::Always));
    assert_eq!(Span::of_lifetime(0, Some(8 * 86_400)), Some(Span::Always));
    assert_eq!(Span::of_lifetime(10, Some(10)), None);
}

#[test]
fn single_device_when_it_fits() {
    let mut l = ledger(t2(2, 288.0));
    assert_eq!(l.capacity(0), MBps(201_600));
    let p = l
        .allocate("a", BundleDemand::new(GIB, Tier::T2, 150.0, MONDAY))
        .unwrap();
    assert_eq!(p.shares.len(), 1);
    assert_eq!(p.shares[0].floor, MBps(150_000));
    assert_eq!(p.shares[0].bytes, GIB);
    assert_eq!(p.shares[0].interleave_weight, 1);
    // The next one goes to the device with more headroom.
    let q = l
        .allocate("b", BundleDemand::new(GIB, Tier::T2, 10.0, MONDAY))
        .unwrap();
    assert_ne!(q.shares[0].index, p.shares[0].index);
    l.verify().unwrap();
}

#[test]
fn an_offline_device_takes_nothing_new_and_keeps_what_it_holds() {
    let mut l = ledger(t2(2, 288.0));
    let a = l
        .allocate("a", BundleDemand::new(GIB, Tier::T2, 10.0, MONDAY))
        .unwrap();
    let gone = l
        .devices()
        .nth(a.shares[0].index as usize)
        .unwrap()
        .id
        .clone();
    assert!(l.set_offline(&gone, true));
    assert!(!l.set_offline(&gone, true), "no change the second time");
    assert!(!l.set_offline("cxl-dev-999", true), "unknown id");
    for n in 0..4 {
        let p = l
            .allocate(
                &format!("b{n}"),
                BundleDemand::new(GIB, Tier::T2, 10.0, MONDAY),
            )
            .unwrap();
        assert!(p.shares.iter().all(|s| s.device != gone), "{p:?}");
    }
    // What it held stays booked until freed.
    assert_eq!(l.used_bytes(a.shares[0].index as usize), GIB);
    // Both gone: no T2 device left.
    let other = l.devices().find(|d| d.id != gone).unwrap().id.clone();
    l.set_offline(&other, true);
    assert!(matches!(
        l.admit(&BundleDemand::new(GIB, Tier::T2, 1.0, MONDAY)),
        Err(Rejection::NoDevice(Tier::T2))
    ));
    assert!(l.set_offline(&gone, false));
    assert!(
        l.admit(&BundleDemand::new(GIB, Tier::T2, 1.0, MONDAY))
            .unwrap()
            .shares
            .iter()
            .all(|s| s.device == gone)
    );
    l.free("a").unwrap();
    l.verify().unwrap();
}

/// A pooled device's slice for one host: closed until a path gives it limits, refused a
/// shrink below what its bundles hold, closed again without losing what it holds.
#[test]
fn a_slice_opens_with_its_path_and_never_shrinks_below_what_it_holds() {
    let slice = Device::new("cxl-dev-001@h0", Tier::T2, 0, 0.0)
        .reachable_from(["h0"])
        .with_admission_share(1.0);
    let mut l = ledger(vec![slice]);
    let for_h0 = |floor: f64| {
        let mut d = BundleDemand::new(GIB, Tier::T2, floor, MONDAY);
        d.host = Some("h0".into());
        d
    };
    assert!(l.set_reach("cxl-dev-001@h0", None).unwrap(), "closed now");
    assert!(matches!(
        l.admit(&for_h0(1.0)),
        Err(Rejection::NoDevice(Tier::T2))
    ));
    // A path guarantees 32 GB/s and its logical device holds 64 GiB.
    assert!(
        l.set_reach("cxl-dev-001@h0", Some((64 * GIB, MBps::from_gbps(32.0))))
            .unwrap()
    );
    assert_eq!(l.capacity(0), MBps(32_000), "the whole guarantee: share 1");
    l.allocate("a", for_h0(30.0)).unwrap();
    assert!(matches!(
        l.admit(&for_h0(3.0)),
        Err(Rejection::Bandwidth { .. })
    ));
    // Shrinking below the 30 GB/s held is refused and changes nothing.
    let before = l.revision();
    assert!(matches!(
        l.set_reach("cxl-dev-001@h0", Some((64 * GIB, MBps::from_gbps(16.0)))),
        Err(Rejection::ReachBelowHeld { .. })
    ));
    assert!(matches!(
        l.set_reach("cxl-dev-001@h0", Some((GIB / 2, MBps::from_gbps(32.0)))),
        Err(Rejection::ReachBelowHeld { .. })
    ));
    assert_eq!(l.revision(), before);
    // Closed (its path is going): nothing new, what it holds stays booked.
    assert!(l.set_reach("cxl-dev-001@h0", None).unwrap());
    assert!(l.admit(&for_h0(1.0)).is_err());
    assert_eq!(l.used_bytes(0), GIB);
    l.free("a").unwrap();
    l.verify().unwrap();
    assert!(!l.set_reach("cxl-dev-999@h0", None).unwrap(), "unknown id");
}

#[test]
fn split_weights_follow_free_bandwidth() {
    let mut l = ledger(t2(3, 100.0)); // 70 GB/s admissible each
    l.allocate("a", BundleDemand::new(GIB, Tier::T2, 40.0, MONDAY))
        .unwrap(); // dev 1: 30 free
    l.allocate("b", BundleDemand::new(GIB, Tier::T2, 20.0, MONDAY))
        .unwrap(); // dev 2: 50 free
    // dev 3: 70 free. 100 GB/s needs dev 3 (70) + dev 2 (50): weights 70:50.
    let p = l
        .allocate("c", BundleDemand::new(12 * GIB, Tier::T2, 100.0, MONDAY))
        .unwrap();
    let names: Vec<&str> = p.shares.iter().map(|s| s.device.as_str()).collect();
    assert_eq!(names, ["cxl-dev-003", "cxl-dev-002"]);
    assert_eq!(p.shares[0].weight, 70_000);
    assert_eq!(p.shares[1].weight, 50_000);
    assert_eq!(p.shares[0].bytes, 7 * GIB);
    assert_eq!(p.shares[1].bytes, 5 * GIB);
    assert_eq!(p.shares[0].floor, MBps(58_333));
    assert_eq!(p.shares[1].floor, MBps(41_667));
    assert_eq!(
        (p.shares[0].interleave_weight, p.shares[1].interleave_weight),
        (255, 182)
    );
    assert_eq!(l.granted(2, 0), MBps(58_333));
    assert!(l.granted(1, 0) <= l.capacity(1));
    l.verify().unwrap();
    // Nothing is left for another 20 GB/s beyond what the class holds: 30 + 8.33 + 11.67 = 50.
    assert!(
        l.admit(&BundleDemand::new(GIB, Tier::T2, 50.0, MONDAY))
            .is_ok()
    );
    assert!(
        l.admit(&BundleDemand::new(GIB, Tier::T2, 50.1, MONDAY))
            .is_err()
    );
}

#[test]
fn split_skips_devices_without_the_bytes() {
    let mut devs = t2(3, 100.0);
    devs[2].bytes = GIB; // the freest device is nearly full of bytes
    let mut l = ledger(devs);
    let p = l
        .allocate("a", BundleDemand::new(40 * GIB, Tier::T2, 100.0, MONDAY))
        .unwrap();
    assert!(p.shares.iter().all(|s| s.device != "cxl-dev-003"));
    assert_eq!(p.shares.iter().map(|s| s.bytes).sum::<u64>(), 40 * GIB);
    l.verify().unwrap();
}

#[test]
fn rejection_names_binding_device_and_window() {
    let mut l = ledger(t2(2, 288.0));
    l.set_policy(policy("night", 180.0, "20:00–08:00")).unwrap();
    // Own floor 20 GB/s, raised to 180 at night: it lands on one device.
    let p = l
        .allocate("a", BundleDemand::new(GIB, Tier::T2, 20.0, MONDAY))
        .unwrap();
    assert_eq!(p.shares.len(), 1);
    let busy = p.shares[0].index as usize;
    // Fill the other device at night too.
    l.allocate("b", BundleDemand::new(GIB, Tier::T2, 20.0, MONDAY))
        .unwrap();
    let before = l.clone();
    let err = l
        .allocate("c", BundleDemand::new(GIB, Tier::T2, 30.0, MONDAY))
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("cxl-dev-00")
            && msg.contains(" in 20:00–08:00: 180 of 201.6 GB/s already granted"),
        "{msg}"
    );
    assert!(matches!(
        err,
        Rejection::Bandwidth {
            requested: MBps(180_000),
            ..
        }
    ));
    assert_eq!(l, before, "a rejection changes nothing");
    // A bundle living only in the day is not bound by the night.
    let day = BundleDemand {
        end_s: Some(MONDAY + 18 * 3600),
        host: None,
        ..BundleDemand::new(GIB, Tier::T2, 30.0, MONDAY + 9 * 3600)
    };
    l.allocate("d", day).unwrap();
    let _ = busy;
    l.verify().unwrap();
}

#[test]
fn resize_readmits_and_rejection_changes_nothing() {
    let mut l = ledger(t2(1, 100.0));
    l.allocate("a", BundleDemand::new(GIB, Tier::T2, 30.0, MONDAY))
        .unwrap();
    l.allocate("b", BundleDemand::new(GIB, Tier::T2, 30.0, MONDAY))
        .unwrap();
    let p = l.resize("a", MBps::from_gbps(40.0)).unwrap();
    assert_eq!(p.shares[0].floor, MBps(40_000));
    assert_eq!(l.granted(0, 0), MBps(70_000));
    let before = l.clone();
    let err = l.resize("a", MBps::from_gbps(40.1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cxl-dev-001 in the whole week: 30 of 70 GB/s already granted; 40.1 GB/s requested (40 GB/s free across 1 T2 devices)"
    );
    assert_eq!(l, before);
    assert!(matches!(
        l.resize("zz", MBps(1)),
        Err(Rejection::UnknownBundle(_))
    ));
}

#[test]
fn migrate_holds_both_until_commit() {
    let mut devs = t2(1, 100.0);
    devs.push(Device::new("dram-0", Tier::T1, 64 * GIB, 300.0));
    let mut l = ledger(devs);
    l.allocate("a", BundleDemand::new(GIB, Tier::T2, 50.0, MONDAY))
        .unwrap();
    let dest = l.migrate_begin("a", Tier::T1).unwrap();
    assert_eq!(dest.shares[0].device, "dram-0");
    assert_eq!(
        (l.granted(0, 0), l.granted(1, 0)),
        (MBps(50_000), MBps(50_000))
    );
    assert!(matches!(
        l.resize("a", MBps(1)),
        Err(Rejection::Migrating(_))
    ));
    l.migrate_commit("a").unwrap();
    assert_eq!((l.granted(0, 0), l.granted(1, 0)), (MBps(0), MBps(50_000)));
    assert_eq!(l.bundle("a").unwrap().request.latency_class, Tier::T1);
    assert_eq!(l.used_bytes(0), 0);
    // Abort releases the destination.
    l.migrate_begin("a", Tier::T2).unwrap();
    l.migrate_abort("a").unwrap();
    assert_eq!((l.granted(0, 0), l.granted(1, 0)), (MBps(0), MBps(50_000)));
    // No room on the destination: refused, nothing changes.
    l.allocate("b", BundleDemand::new(GIB, Tier::T2, 60.0, MONDAY))
        .unwrap();
    let before = l.clone();
    assert!(l.migrate("a", Tier::T2).is_err());
    assert_eq!(l, before);
    l.verify().unwrap();
}

#[test]
fn policy_change_rechecks_every_bundle() {
    let mut l = ledger(t2(1, 100.0));
    l.allocate("a", BundleDemand::new(GIB, Tier::T2, 10.0, MONDAY))
        .unwrap();
    l.allocate("b", BundleDemand::new(GIB, Tier::T2, 10.0, MONDAY))
        .unwrap();
    l.set_policy(policy("night", 35.0, "20:00–08:00")).unwrap();
    assert_eq!(l.granted(0, 0), MBps(70_000)); // Monday 00:00 is night
    let day = l.segments().at(600);
    assert_eq!(l.granted(0, day), MBps(20_000));
    let before = l.clone();
    let err = l
        .set_policy(policy("night", 36.0, "20:00–08:00"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy night would put cxl-dev-001 in 20:00–08:00 at 72 of 70 GB/s"
    );
    assert_eq!(l, before);
    // Lowering inside a window is fine; removing the policy restores own floors.
    l.set_policy(policy("night", 5.0, "20:00–08:00")).unwrap();
    assert_eq!(l.granted(0, 0), MBps(10_000));
    l.remove_policy("night").unwrap();
    assert_eq!(l.segments().len(), 1);
    assert_eq!(l.granted(0, 0), MBps(20_000));
    // Domain-scoped policy only touches that domain.
    let mut p = policy("t", 60.0, "00:00-00:00");
    p.security_domain = Some("tenantA".into());
    l.set_policy(p).unwrap();
    assert_eq!(l.granted(0, 0), MBps(20_000));
    l.verify().unwrap();
}

#[test]
fn expire_and_free_leave_nothing() {
    let mut l = ledger(t2(2, 100.0));
    for i in 0..10 {
        let r = BundleDemand {
            end_s: Some(MONDAY + 3600 * (i + 1)),
            host: None,
            ..BundleDemand::new(GIB, Tier::T2, 5.0, MONDAY)
        };
        l.allocate(&format!("b{i}"), r).unwrap();
    }
    l.allocate("forever", BundleDemand::new(GIB, Tier::T2, 5.0, MONDAY))
        .unwrap();
    assert_eq!(l.expire(MONDAY + 3600 * 5).len(), 5);
    assert_eq!(l.len(), 6);
    l.verify().unwrap();
    assert_eq!(l.expire(i64::MAX).len(), 5);
    l.free("forever").unwrap();
    assert!(l.is_empty());
}

#[test]
fn apply_is_compare_and_swap() {
    let mut l = ledger(t2(1, 100.0));
    let r = BundleDemand::new(GIB, Tier::T2, 50.0, MONDAY);
    let d1 = l.admit(&r).unwrap();
    let d2 = l.admit(&r).unwrap();
    l.apply("a", r.clone(), d1).unwrap();
    assert!(matches!(l.apply("b", r, d2), Err(Rejection::Stale { .. })));
}

#[test]
fn serde_round_trip() {
    let mut l = ledger(t2(2, 288.0));
    l.set_policy(policy("night", 150.0, "20:00–08:00")).unwrap();
    l.allocate("a", BundleDemand::new(GIB, Tier::T2, 220.0, MONDAY))
        .unwrap();
    let json = serde_json::to_string(&l).unwrap();
    let back: Ledger = serde_json::from_str(&json).unwrap();
    assert_eq!(back, l);
    back.verify().unwrap();
}

#[test]
fn invalid_requests() {
    let l = ledger(t2(1, 100.0));
    assert!(matches!(
        l.admit(&BundleDemand::new(0, Tier::T2, 1.0, 0)),
        Err(Rejection::Invalid(_))
    ));
    assert!(matches!(
        l.admit(&BundleDemand::new(1, Tier::T0, 1.0, 0)),
        Err(Rejection::NoDevice(Tier::T0))
    ));
    assert!(matches!(
        l.admit(&BundleDemand::new(300 * GIB, Tier::T2, 0.0, 0)),
        Err(Rejection::Bytes { .. })
    ));
    assert!(
        Ledger::new(
            LedgerConfig::default(),
            vec![t2(1, 1.0)[0].clone(), t2(1, 1.0)[0].clone()]
        )
        .is_err()
    );
}

#[test]
fn a_bundle_for_a_host_uses_only_devices_it_reaches() {
    // Two T2 devices: one only h0 reaches, one only h1 reaches, and a T1 on h1.
    let devices = vec![
        Device::new("h0-cxl", Tier::T2, 256 * GIB, 100.0).reachable_from(["h0"]),
        Device::new("h1-cxl", Tier::T2, 256 * GIB, 100.0).reachable_from(["h1"]),
        Device::new("h1-dram", Tier::T1, 256 * GIB, 200.0).reachable_from(["h1"]),
    ];
    let mut l = ledger(devices);
    let for_h0 = |floor: f64| BundleDemand {
        host: Some("h0".into()),
        ..BundleDemand::new(GIB, Tier::T2, floor, MONDAY)
    };
    // 70 GB/s fits on h0's device alone; striping onto h1's would be needed for 120.
    let p = l.allocate("a", for_h0(50.0)).unwrap();
    assert!(p.shares.iter().all(|s| s.device == "h0-cxl"), "{p:?}");
    let err = l.allocate("b", for_h0(50.0)).unwrap_err();
    assert!(
        matches!(
            err,
            Rejection::Bandwidth {
                class_devices: 1,
                ..
            }
        ),
        "{err:?}"
    );
    // h0 reaches no T1 device: nowhere to migrate to, however free h1's DRAM is.
    assert_eq!(
        l.migrate_begin("a", Tier::T1),
        Err(Rejection::NoDevice(Tier::T1))
    );
    // No host named: any device.
    let any = l
        .allocate("c", BundleDemand::new(GIB, Tier::T2, 60.0, MONDAY))
        .unwrap();
    assert!(any.shares.iter().all(|s| s.device == "h1-cxl"), "{any:?}");
    l.verify().unwrap();
}

/// Another writer's grants and policies are counted as committed: re-indexed by device id,
/// replaced when recorded again, never refused for capacity, and the sums stay exact.
#[test]
fn records_of_another_writer_are_counted_without_refusal() {
    let mut theirs = ledger(t2(2, 64.0));
    let demand = |gbps| BundleDemand::new(4 * GIB, Tier::T2, gbps, MONDAY);
    theirs.allocate("a", demand(20.0)).unwrap();
    let granted_a = theirs.bundle("a").unwrap().clone();
    // This ledger lists the devices in the other order and knows one more.
    let mut devices = t2(2, 64.0);
    devices.reverse();
    devices.push(Device::new("cxl-dev-009", Tier::T2, 256 * GIB, 64.0));
    let mut ours = ledger(devices);
    assert!(ours.record(granted_a.clone()).is_empty());
    ours.verify().unwrap();
    let dev = granted_a.placement.shares[0].device.clone();
    let index = ours.devices().position(|d| d.id == dev).unwrap();
    assert_eq!(ours.used_bytes(index), 4 * GIB);
    // Recorded again (a replayed event): replaced, not counted twice.
    ours.record(granted_a.clone());
    assert_eq!(ours.used_bytes(index), 4 * GIB);
    ours.verify().unwrap();
    // More than fits is still recorded: the store committed it.
    let mut big = granted_a.clone();
    big.id = "b".into();
    big.placement.shares[0].bytes = 300 * GIB;
    ours.record(big);
    assert_eq!(ours.used_bytes(index), 304 * GIB);
    assert!(
        ours.admit(&demand(1.0)).is_ok(),
        "other devices still take bundles"
    );
    // A share on a device this ledger does not know is left out and named.
    let mut foreign = granted_a.clone();
    foreign.id = "c".into();
    foreign.placement.shares[0].device = "elsewhere".into();
    assert_eq!(ours.record(foreign), vec!["elsewhere".to_string()]);
    assert!(ours.forget("b").is_some());
    assert!(ours.forget("b").is_none());
    ours.verify().unwrap();
    // Policies another writer committed replace these, even past capacity.
    ours.record_policies(vec![policy("night", 10_000.0, "20:00–08:00")])
        .unwrap();
    assert_eq!(ours.policies().len(), 1);
    assert!(ours.set_policy(policy("day", 1.0, "08:00–20:00")).is_err());
}
