//! Real firmware event logs (see `tests/data/tcg/README.md`): they parse, replay to the values
//! recorded here (equal to tpm2-tools' `tpm2_eventlog` replay, also checked live when the tool
//! is installed), and a legacy SHA-1-only log is refused with a typed error.

use aws_lc_rs::digest;
use corridor_protocols::tcg::{EventLog, EventType, HashAlg, Hasher, TcgError, replay};

struct AwsLc;

impl Hasher for AwsLc {
    fn digest(&self, alg: HashAlg, parts: &[&[u8]]) -> Option<Vec<u8>> {
        let a = match alg {
            HashAlg::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            HashAlg::Sha256 => &digest::SHA256,
            HashAlg::Sha384 => &digest::SHA384,
            HashAlg::Sha512 => &digest::SHA512,
            HashAlg::Sm3_256 => return None,
        };
        let mut c = digest::Context::new(a);
        for p in parts {
            c.update(p);
        }
        Some(c.finish().as_ref().to_vec())
    }
}

fn data(name: &str) -> (std::path::PathBuf, Vec<u8>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tcg")
        .join(name);
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// (bank, PCR, value as hex).
type Recorded = (HashAlg, u8, &'static str);

/// (file, events after the header, banks, values recorded from `tpm2_eventlog`).
const LOGS: &[(&str, usize, &[HashAlg], &[Recorded])] = &[
    (
        "crypto_agile_eventlog",
        26,
        &[HashAlg::Sha256],
        &[
            (
                HashAlg::Sha256,
                0,
                "1536de221b2187a421602cd81f43aa04496b0bd5a424d3b25b637a942080d0fa",
            ),
            (
                HashAlg::Sha256,
                7,
                "3d6207f9a2c3fa1db729f06e71b09d2e7ca7c0c198f6c1410c2186bbe2cc1826",
            ),
        ],
    ),
    (
        "ubuntu_2104_shielded_vm_no_secure_boot_eventlog",
        105,
        &[HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384],
        &[
            (
                HashAlg::Sha256,
                4,
                "ebc7ae25d0347868250995c9a8fff16bf79e048453262d0ef2756e213c76181c",
            ),
            (
                HashAlg::Sha256,
                14,
                "8351c65483c5419079e8c96758dd2130bee075d71fea226f68ec4eb5bfc71983",
            ),
            (
                HashAlg::Sha384,
                0,
                "8be2d39fecef6e883d467379c57847437cfa03a6f7f7f78dcb2a05a479db4b4749ececedd105b760bc8313abccf1dfb6",
            ),
        ],
    ),
    (
        "sb_cert_eventlog",
        14,
        &[HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384],
        &[
            (HashAlg::Sha1, 7, "45a8621d34a57df2b2e7f14c92b99ac8de7d5805"),
            (
                HashAlg::Sha256,
                7,
                "51b30488c9e6255d822bdc1b20d9a92c32bde6c3e7bc02bcdd32825eb5ef069a",
            ),
        ],
    ),
];

#[test]
fn real_logs_parse_and_replay_to_the_recorded_pcrs() {
    for (name, events, banks, values) in LOGS {
        let (_, bytes) = data(name);
        let log = EventLog::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(log.events.len(), *events, "{name}");
        assert_eq!(log.spec_id.algorithms, *banks, "{name}");
        assert!(
            log.events
                .iter()
                .any(|e| e.event_type == EventType::EV_SEPARATOR),
            "{name}"
        );
        assert_eq!(
            log.to_bytes(),
            bytes,
            "{name}: re-encoding is byte-identical"
        );
        let pcrs = replay(&log, &AwsLc).unwrap();
        for (bank, pcr, value) in *values {
            assert_eq!(
                hex(pcrs.value(*bank, *pcr).unwrap()),
                *value,
                "{name} {bank} PCR {pcr}"
            );
        }
    }
}

#[test]
fn real_logs_replay_like_tpm2_eventlog_in_every_bank() {
    if std::process::Command::new("tpm2_eventlog")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "SKIPPED: tpm2_eventlog (tpm2-tools) is not installed; run scripts/install-tpm.sh"
        );
        return;
    }
    for (name, ..) in LOGS {
        let (path, bytes) = data(name);
        let out = std::process::Command::new("tpm2_eventlog")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let yaml = String::from_utf8(out.stdout).unwrap();
        let pcrs = replay(&EventLog::parse(&bytes).unwrap(), &AwsLc).unwrap();
        let mut bank = None;
        let mut compared = 0;
        for line in yaml.lines().skip_while(|l| !l.starts_with("pcrs:")).skip(1) {
            let t = line.trim();
            if let Some(b) = t.strip_suffix(':') {
                bank = HashAlg::ALL.into_iter().find(|a| a.name() == b);
            } else if let (Some(b), Some((p, v))) = (bank, t.split_once(':')) {
                let pcr: u8 = p.trim().parse().unwrap();
                let v = v.trim().trim_start_matches("0x").to_lowercase();
                assert_eq!(hex(pcrs.value(b, pcr).unwrap()), v, "{name} {b} PCR {pcr}");
                compared += 1;
            }
        }
        assert!(compared >= 8, "{name}: only {compared} PCRs compared");
    }
}

#[test]
fn a_legacy_sha1_log_is_refused() {
    let (_, bytes) = data("ebs_event_missing_eventlog");
    assert!(matches!(
        EventLog::parse(&bytes),
        Err(TcgError::NotCryptoAgile(_))
    ));
}
