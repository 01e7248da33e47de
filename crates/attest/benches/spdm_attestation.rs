//! Full SPDM attestation of twin devices: VCA → DIGESTS → CERTIFICATE (2 chunks) →
//! CHALLENGE → signed MEASUREMENTS, every signature and the chain checked, measurements
//! compared. The responder's work (two ECDSA signatures) is inside the measured time, as it
//! would be on a real wire.
//!
//! * `spdm/one_device`: one twin device (target ≤ 5 ms).
//! * `spdm/1000_devices_2_threads`: 1,000 devices split over two threads (target ≤ 10 s on
//!   two cores).
//!
//! Run: `cargo bench -p corridor-attest --bench spdm_attestation`.

use std::time::Duration;

use corridor_attest::spdm::{DevicePolicy, Requester, SystemNonces, Verdict};
use corridor_hal::attestation::{
    AttestableDevice, DeviceKind, TwinSpdm, TwinSpdmConfig, reference_measurements,
};
use corridor_pki::pinning::SpkiPin;
use criterion::{Criterion, criterion_group, criterion_main};

fn fleet(n: usize) -> TwinSpdm {
    let devices = (0..n)
        .map(|i| AttestableDevice {
            id: format!("cxl-bench-{i}"),
            kind: DeviceKind::CxlDevice,
            vendor: "0x1e98".into(),
            model: "0x0003".into(),
            serial: format!("BENCH-{i:06}"),
            firmware_version: "1.2.3".into(),
        })
        .collect();
    TwinSpdm::new(7, devices, TwinSpdmConfig::default()).expect("twin fleet")
}

fn policies(twin: &TwinSpdm) -> Vec<(String, DevicePolicy)> {
    twin.devices()
        .map(|d| {
            let policy = DevicePolicy {
                roots: vec![twin.vendor_root_der().to_vec()],
                pins: vec![
                    SpkiPin::of_certificate(twin.device_certificate_der(&d.id).unwrap()).unwrap(),
                ],
                reference: reference_measurements(d, twin.config().measurement_hash),
                now_unix: Some(1_800_000_000),
            };
            (d.id.clone(), policy)
        })
        .collect()
}

fn attest_all(twin: &TwinSpdm, requester: &Requester, work: &[(String, DevicePolicy)]) {
    for (id, policy) in work {
        let mut t = twin.open(id).expect("device");
        let report = requester.attest(&mut t, policy, &mut SystemNonces);
        assert_eq!(report.verdict, Verdict::Affirming, "{id}");
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("spdm");
    let one = fleet(1);
    let one_policy = policies(&one);
    let requester = Requester::default();
    group.bench_function("one_device", |b| {
        b.iter(|| attest_all(&one, &requester, &one_policy))
    });

    let many = fleet(1000);
    let many_policies = policies(&many);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("1000_devices_2_threads", |b| {
        b.iter(|| {
            let (left, right) = many_policies.split_at(many_policies.len() / 2);
            std::thread::scope(|s| {
                s.spawn(|| attest_all(&many, &requester, left));
                s.spawn(|| attest_all(&many, &requester, right));
            });
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
