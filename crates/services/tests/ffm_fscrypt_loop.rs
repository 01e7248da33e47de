//! The proof that a persistent bundle is ciphertext on disk: an ext4 image made with
//! `-O encrypt` on a loop device, memqosd's memory directory on it, a bundle written with a
//! known pattern; with the domain's key removed, the raw block device holds neither the
//! pattern nor the file's name, while the file's (ciphertext) blocks are there; a restart
//! unseals the key from the TPM and reads the plaintext back; after a policy PCR changes,
//! the key stays sealed and the bundle is not restored.
//!
//! Needs root, loop devices, `mkfs.ext4`/`filefrag` (e2fsprogs), `losetup`/`blockdev`/
//! `mount` (util-linux, mount) and swtpm (`scripts/install-tpm.sh`). Without root or loop
//! devices it prints why and passes without checking anything; it is not `#[ignore]`d so
//! that wherever it can run, it does.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use corridor_hal::tpm::{HashAlg, SealedSecret, Swtpm, TssTpm};
use corridor_hal::{ManualClock, Topology};
use corridor_model::ffm::{FfmAllocRequest, LatencyClass, Persistence};
use corridor_model::units::{Bytes, GigabytesPerSecond};
use corridor_pki::Principal;
use corridor_services::ffm::{FfmConfig, Protection};
use corridor_services::{Caller, ControlPlane};
use corridor_store::{RedbOptions, RedbStore, StateStore};

/// The plaintext written into the bundle: long enough that a chance match is impossible.
const PATTERN: &[u8] = b"CORRIDOR-TENANT-PLAINTEXT-PATTERN-0123456789abcdef";
/// Written in plaintext outside the encrypted directory: shows the raw read sees file data.
const CONTROL: &[u8] = b"CORRIDOR-UNENCRYPTED-CONTROL-PATTERN-fedcba9876543210";
const BLOCK: u64 = 4096;

fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "{program} {args:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A mounted ext4 image with encryption on a loop device; unmounted and detached on drop,
/// panics included.
struct EncryptedFs {
    device: Option<String>,
    mount: Option<PathBuf>,
}

impl EncryptedFs {
    /// `Err` with the reason when this machine cannot make one.
    fn make(dir: &Path) -> Result<Self, String> {
        if !rustix::process::geteuid().is_root() {
            return Err("not root (loop devices and mount need it)".into());
        }
        for tool in [
            "mkfs.ext4",
            "losetup",
            "mount",
            "umount",
            "blockdev",
            "filefrag",
        ] {
            run("sh", &["-c", &format!("command -v {tool}")])
                .map_err(|_| format!("{tool} is not installed"))?;
        }
        let image = dir.join("fs.img");
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(64 << 20))
            .map_err(|e| format!("sparse image: {e}"))?;
        let image = image.to_str().ok_or("non-UTF-8 temp path")?.to_owned();
        run(
            "mkfs.ext4",
            &["-q", "-F", "-b", "4096", "-O", "encrypt", &image],
        )?;
        let device = run("losetup", &["-f", "--show", &image])
            .map_err(|e| format!("no loop device: {e}"))?;
        let mut fs = EncryptedFs {
            device: Some(device.clone()),
            mount: None,
        };
        let mount = dir.join("mnt");
        std::fs::create_dir(&mount).map_err(|e| e.to_string())?;
        run("mount", &[&device, mount.to_str().ok_or("path")?])?;
        fs.mount = Some(mount);
        Ok(fs)
    }

    fn mount(&self) -> &Path {
        self.mount.as_deref().expect("mounted")
    }

    fn device(&self) -> &str {
        self.device.as_deref().expect("attached")
    }

    /// The whole block device as it is on disk: the device's buffer cache dropped first,
    /// so nothing the kernel cached (plaintext or not) can answer instead of the device.
    fn raw(&self) -> Vec<u8> {
        run("sync", &[]).unwrap();
        run("blockdev", &["--flushbufs", self.device()]).unwrap();
        std::fs::read(self.device()).unwrap()
    }
}

impl Drop for EncryptedFs {
    fn drop(&mut self) {
        if let Some(m) = self.mount.take() {
            let m = m.to_string_lossy().into_owned();
            if run("umount", &[&m]).is_err() {
                let _ = run("umount", &["-l", &m]);
            }
        }
        if let Some(d) = self.device.take() {
            let _ = run("losetup", &["-d", &d]);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn plane(state: &Path, config: FfmConfig) -> ControlPlane {
    let store: Arc<dyn StateStore> =
        Arc::new(RedbStore::open(state.join("store.redb"), RedbOptions::default()).unwrap());
    ControlPlane::start_with(
        store,
        Arc::new(Topology::default_twin().clone()),
        Arc::new(ManualClock::new(chrono::Utc::now())),
        config,
    )
    .await
    .unwrap()
}

fn tenant() -> Caller {
    Caller::new(Principal::Domain("tenantA".into()))
}

#[tokio::test]
async fn a_persistent_bundle_is_ciphertext_on_disk_once_its_key_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let fs = match EncryptedFs::make(dir.path()) {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("skipped: cannot make an encrypted ext4 on a loop device here: {why}");
            return;
        }
    };
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let tpm_dir = tempfile::tempdir().unwrap();
    let swtpm = Swtpm::start(tpm_dir.path()).expect("swtpm starts (scripts/install-tpm.sh)");
    let tpm = Arc::new(TssTpm::open(swtpm.transport(), None).unwrap());
    let memory_dir = fs.mount().join("ffm-memory");
    let config = || {
        let mut c = FfmConfig::in_dir(&state).with_protection(Protection::fscrypt(tpm.clone()));
        c.memory_dir = memory_dir.clone();
        c
    };

    // A persistent bundle, written through its fd as a client would.
    let (id, key) = {
        let plane = plane(&state, config()).await;
        let bundle = plane
            .ffm
            .create(
                &tenant(),
                FfmAllocRequest {
                    bytes: Bytes(1 << 20),
                    latency_class: LatencyClass::T3,
                    bandwidth_floor_gbs: GigabytesPerSecond(1.0),
                    persistence: Persistence::File,
                    shareable: true,
                    security_domain: "tenantA".into(),
                    host: None,
                    policy_lease_ttl_s: None,
                    labels: Default::default(),
                },
            )
            .await
            .unwrap()
            .bundle;
        let condition = bundle.meta.condition("EncryptedAtRest").unwrap();
        assert!(condition.is_true(), "{condition:?}");
        assert_eq!(condition.reason, "Fscrypt");
        assert!(condition.message.contains("swtpm"), "{condition:?}");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&bundle.fds[0])
            .unwrap();
        for _ in 0..(BLOCK as usize / PATTERN.len()) {
            f.write_all(PATTERN).unwrap();
        }
        f.sync_all().unwrap();
        let key = plane
            .ffm
            .key_vault()
            .unwrap()
            .identifier("tenantA")
            .unwrap();
        (bundle.id, key)
        // The plane drops here: memqosd closes the bundle's fd, as when it stops.
    };
    std::fs::write(fs.mount().join("control.txt"), CONTROL).unwrap();

    // Only the sealed key was stored, 0600, and it is the TPM's blob.
    let sealed_path = state.join("ffm-keys").join("tenantA.sealed");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&sealed_path).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    SealedSecret::from_bytes(&std::fs::read(&sealed_path).unwrap()).unwrap();

    // With the key present, the plaintext is readable through the filesystem.
    let file = memory_dir.join("tenantA").join(format!("{id}.mem"));
    let mut head = vec![0u8; PATTERN.len()];
    std::fs::File::open(&file)
        .unwrap()
        .read_exact(&mut head)
        .unwrap();
    assert_eq!(head, PATTERN);

    // Where its first block is on the device (asked while the key is there: filefrag opens
    // the file); it does not move when the key goes.
    let extents = run("filefrag", &["-e", file.to_str().unwrap()]).unwrap();
    let physical: u64 = extents
        .lines()
        .find_map(|l| {
            let cols: Vec<&str> = l.split(':').map(str::trim).collect();
            (cols.first() == Some(&"0"))
                .then(|| cols[2].split("..").next().unwrap().trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no extent 0 in {extents}"));

    let removal = corridor_hal::fscrypt::remove_key(&memory_dir, key).unwrap();
    assert!(!removal.files_busy, "every file under the key was closed");

    // The ciphertext file is there, under an encrypted name.
    let names: Vec<String> = std::fs::read_dir(memory_dir.join("tenantA"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(!names[0].contains(&id), "name in the clear: {names:?}");
    let nokey = memory_dir.join("tenantA").join(&names[0]);
    assert_eq!(std::fs::metadata(&nokey).unwrap().len(), 1 << 20);
    assert!(
        std::fs::File::open(&nokey).is_err(),
        "the contents cannot be opened without the key"
    );
    let raw = fs.raw();
    // The file's first block on the device: not the plaintext, not a hole.
    let block = &raw[(physical * BLOCK) as usize..((physical + 1) * BLOCK) as usize];
    assert!(block.iter().any(|&b| b != 0), "the data block is written");
    assert!(
        !contains(block, &PATTERN[..16]),
        "plaintext in the file's block"
    );
    // Nowhere on the device: neither the pattern nor the file's name; the control file,
    // outside the encrypted directory, is there in the clear (the raw read sees file data).
    assert!(
        contains(&raw, CONTROL),
        "the raw read sees unencrypted file data"
    );
    assert!(
        !contains(&raw, &PATTERN[..24]),
        "plaintext on the block device"
    );
    assert!(
        !contains(&raw, id.as_bytes()),
        "the bundle's name on the block device"
    );

    // A restart unseals the key from the TPM, adds it again, and the data is back.
    {
        let plane = plane(&state, config()).await;
        let bundle = plane.ffm.get(&tenant(), &id).await.unwrap().bundle;
        assert!(bundle.meta.condition("EncryptedAtRest").unwrap().is_true());
        let mut f = std::fs::File::open(&bundle.fds[0]).unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        let mut head = vec![0u8; PATTERN.len()];
        f.read_exact(&mut head).unwrap();
        assert_eq!(head, PATTERN);
    }
    // A restart while the key is still in the filesystem (a crash leaves it there): adding
    // it again is no error.
    {
        let plane = plane(&state, config()).await;
        assert!(plane.ffm.holds_memory(&id));
    }
    corridor_hal::fscrypt::remove_key(&memory_dir, key).unwrap();

    // A different boot (PCR 7 extended): the key stays sealed and the bundle is not restored.
    tpm.extend_pcr(7, &[(HashAlg::Sha256, vec![7; 32])])
        .unwrap();
    let plane = plane(&state, config()).await;
    assert!(!plane.ffm.holds_memory(&id), "restored without unsealing");
    assert!(std::fs::File::open(&nokey).is_err(), "still locked");
}
