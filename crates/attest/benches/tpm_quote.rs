//! TPM quote + verify per second against swtpm (criterion; `thrpt` is quotes per second).
//!
//! * `quote_and_verify`: a fresh 32-byte nonce, `TPM2_Quote` over PCRs 0, 4, 7 (SHA-256) by
//!   swtpm through tss-esapi, then the full appraisal (event-log parse and replay, AK,
//!   signature, nonce, selection and PCR-digest checks, measured-boot policy);
//! * `quote`: the TPM side alone; `verify`: the verifier side alone on one quote.
//!
//! swtpm runs as a child process on free loopback ports and shares the machine's cores with
//! the benchmark, so the figure is what one host achieves with a software TPM; a discrete TPM
//! signs far slower (tens to hundreds of milliseconds per ECC signature).
//!
//! Run: `cargo bench -p corridor-attest --bench tpm_quote` (needs `scripts/install-tpm.sh`).

use std::hint::black_box;
use std::time::Duration;

use corridor_attest::tpm::{AwsLcHasher, MeasuredBootPolicy, QuoteEvidence, appraise};
use corridor_hal::tpm::{Swtpm, Tpm, TssTpm};
use corridor_protocols::tcg::{EventLog, EventType, HashAlg, Hasher, PcrSelection};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const PCRS: [u8; 3] = [0, 4, 7];

fn boot_log() -> EventLog {
    let mut log = EventLog::new(&[HashAlg::Sha1, HashAlg::Sha256]);
    let events: [(u8, EventType, &[u8]); 8] = [
        (0, EventType::EV_S_CRTM_VERSION, b"corridor-crtm 1.0"),
        (0, EventType::EV_POST_CODE, b"firmware volume"),
        (7, EventType::EV_EFI_VARIABLE_DRIVER_CONFIG, b"SecureBoot=1"),
        (
            4,
            EventType::EV_EFI_BOOT_SERVICES_APPLICATION,
            b"shim image",
        ),
        (
            4,
            EventType::EV_EFI_BOOT_SERVICES_APPLICATION,
            b"kernel image",
        ),
        (0, EventType::EV_SEPARATOR, &[0; 4]),
        (4, EventType::EV_SEPARATOR, &[0; 4]),
        (7, EventType::EV_SEPARATOR, &[0; 4]),
    ];
    for (pcr, ty, measured) in events {
        let digests = [HashAlg::Sha1, HashAlg::Sha256]
            .into_iter()
            .map(|a| {
                (
                    a,
                    AwsLcHasher.digest(a, &[measured]).expect("aws-lc hashes"),
                )
            })
            .collect();
        log.push(pcr, ty, digests, measured.to_vec());
    }
    log
}

fn nonce() -> [u8; 32] {
    let mut n = [0u8; 32];
    aws_lc_rs::rand::fill(&mut n).expect("system RNG");
    n
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let swtpm = Swtpm::start(dir.path()).expect("swtpm (scripts/install-tpm.sh)");
    let log = boot_log();
    let log_bytes = log.to_bytes();
    let tpm = TssTpm::open(swtpm.transport(), None).expect("swtpm answers");
    tpm.measure_log(&log).expect("PCRs extended");
    let ak = tpm.attestation_key().expect("AK");
    let policy = MeasuredBootPolicy::from_reference_log(&log, HashAlg::Sha256, &PCRS);
    let selection = [PcrSelection::new(HashAlg::Sha256, &PCRS)];

    let mut g = c.benchmark_group("tpm");
    g.throughput(Throughput::Elements(1));
    g.sample_size(30);
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("quote_and_verify", |b| {
        b.iter(|| {
            let n = nonce();
            let q = tpm.quote(&n, &selection).expect("quote");
            let e = QuoteEvidence {
                attest: &q.attest,
                signature: &q.signature,
                ak_public: &q.ak_public,
            };
            let a = appraise(&e, &log_bytes, &n, Some(&ak), &policy).expect("log parses");
            assert!(a.passed(), "{:?}", a.quote);
            black_box(a);
        });
    });
    g.bench_function("quote", |b| {
        b.iter(|| black_box(tpm.quote(&nonce(), &selection).expect("quote")));
    });
    let n = nonce();
    let q = tpm.quote(&n, &selection).expect("quote");
    g.bench_function("verify", |b| {
        b.iter(|| {
            let e = QuoteEvidence {
                attest: &q.attest,
                signature: &q.signature,
                ak_public: &q.ak_public,
            };
            let a = appraise(&e, &log_bytes, &n, Some(&ak), &policy).expect("log parses");
            assert!(a.passed());
            black_box(a);
        });
    });
    g.finish();
    drop(tpm);
    drop(swtpm);
}

criterion_group!(benches, bench);
criterion_main!(benches);
