//! The local PKI of a CorridorOS installation.
//!
//! On first start corridord creates, under `<state_dir>/pki/`, a CA, a
//! server certificate and client certificates for the admin, operator,
//! read-only and every configured security domain. `corridorctl pki` issues
//! more and revokes by serial on the same directory, offline. Everything is
//! ECDSA P-256 signed through aws-lc-rs (the provider rustls uses too).
//!
//! Private keys are written `0600` through a temporary file and a rename,
//! so a crash never leaves a half-written or world-readable key behind.

pub mod pinning;
pub mod principal;

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber,
};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

pub use principal::{
    Principal, PrincipalError, certificate_serial, crl_revoked_serials, serial_hex,
};

/// Sub-directory of the state directory that holds the PKI.
pub const PKI_DIR: &str = "pki";

/// How long issued certificates last. Short enough that a lost laptop's
/// admin certificate expires within a year even if nobody revokes it.
pub const LEAF_VALIDITY: Duration = Duration::days(365);
pub const CA_VALIDITY: Duration = Duration::days(10 * 365);
/// Allowance for clocks that disagree a little.
const BACKDATE: Duration = Duration::hours(1);

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot {action}")]
    Generate {
        action: String,
        #[source]
        source: rcgen::Error,
    },
    #[error("{path} is not valid: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error(transparent)]
    Principal(#[from] PrincipalError),
    #[error("no certificate with serial {0} was issued here")]
    UnknownSerial(String),
    #[error("no state directory given and neither XDG_STATE_HOME nor HOME is set")]
    NoStateDir,
}

pub type Result<T> = std::result::Result<T, PkiError>;

/// `$XDG_STATE_HOME/corridoros`, else `~/.local/state/corridoros`: the same
/// rule in corridord and corridorctl, so both find the same files.
pub fn default_state_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("corridoros"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or(PkiError::NoStateDir)?;
    Ok(PathBuf::from(home).join(".local/state/corridoros"))
}

/// Where each file of the PKI lives.
#[derive(Debug, Clone)]
pub struct PkiPaths {
    pub dir: PathBuf,
}

impl PkiPaths {
    pub fn in_state_dir(state_dir: &Path) -> PkiPaths {
        PkiPaths {
            dir: state_dir.join(PKI_DIR),
        }
    }
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    pub fn server_cert(&self) -> PathBuf {
        self.dir.join("server.pem")
    }
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }
    pub fn client_cert(&self, principal: &Principal) -> PathBuf {
        self.dir.join(format!("{}.pem", principal.file_stem()))
    }
    pub fn client_key(&self, principal: &Principal) -> PathBuf {
        self.dir.join(format!("{}.key", principal.file_stem()))
    }
    /// The CRL the server loads at start and on SIGHUP.
    pub fn crl(&self) -> PathBuf {
        self.dir.join("crl.pem")
    }
    /// The revocations the CRL is regenerated from (JSON lines).
    pub fn revoked(&self) -> PathBuf {
        self.dir.join("revoked.jsonl")
    }
    /// Every certificate issued here (JSON lines), so a serial can be
    /// matched to a principal when revoking.
    pub fn issued(&self) -> PathBuf {
        self.dir.join("issued.jsonl")
    }
}

/// One line of `issued.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IssuedRecord {
    pub serial: String,
    pub principal: String,
    pub not_after: String,
}

/// One line of `revoked.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RevokedRecord {
    serial: String,
    revoked_at_unix: i64,
}

/// A freshly issued certificate and key, PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert_pem: String,
    /// The private key, PEM. Never log this.
    pub key_pem: String,
    pub serial: String,
}

/// What [`ensure`] did.
#[derive(Debug, Default, Clone)]
pub struct EnsureReport {
    /// Files written on this call (empty when everything existed).
    pub created: Vec<PathBuf>,
}

/// The CA, loaded from or created in the PKI directory.
pub struct Ca {
    paths: PkiPaths,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The issuer holds the signing key: never print it.
        f.debug_struct("Ca").field("dir", &self.paths.dir).finish()
    }
}

fn generate<T>(
    action: impl Into<String>,
    result: std::result::Result<T, rcgen::Error>,
) -> Result<T> {
    result.map_err(|source| PkiError::Generate {
        action: action.into(),
        source,
    })
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| PkiError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a file with `mode` via a temporary file in the same directory and
/// a rename, so readers see the old file or the whole new one.
pub fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let io = |action, source| PkiError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| io("create", e))?;
    file.write_all(contents).map_err(|e| io("write", e))?;
    file.sync_all().map_err(|e| io("sync", e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("rename into", e))
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    // Positive and without a leading zero byte, so the DER integer and the
    // hex form used on the command line are the same bytes.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

impl Ca {
    /// Loads the CA from `paths`, creating it first if it does not exist.
    pub fn load_or_create(paths: &PkiPaths, created: &mut Vec<PathBuf>) -> Result<Ca> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&paths.dir)
            .map_err(|source| PkiError::Io {
                action: "create",
                path: paths.dir.clone(),
                source,
            })?;
        if paths.ca_cert().exists() && paths.ca_key().exists() {
            return Ca::load(paths);
        }
        let key = generate("generate the CA key", KeyPair::generate())?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "CorridorOS local CA");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "CorridorOS");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = now() - BACKDATE;
        params.not_after = now() + CA_VALIDITY;
        params.serial_number = Some(random_serial());
        params.key_identifier_method = KeyIdMethod::Sha256;
        let cert = generate("self-sign the CA", params.self_signed(&key))?;
        write_file(&paths.ca_key(), key.serialize_pem().as_bytes(), 0o600)?;
        write_file(&paths.ca_cert(), cert.pem().as_bytes(), 0o644)?;
        created.extend([paths.ca_key(), paths.ca_cert()]);
        Ok(Ca {
            paths: paths.clone(),
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads an existing CA (for issuing and revoking offline).
    pub fn load(paths: &PkiPaths) -> Result<Ca> {
        let key_pem = read(&paths.ca_key())?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| PkiError::Invalid {
            path: paths.ca_key(),
            reason: e.to_string(),
        })?;
        let cert_pem = read(&paths.ca_cert())?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key).map_err(|e| PkiError::Invalid {
            path: paths.ca_cert(),
            reason: e.to_string(),
        })?;
        Ok(Ca {
            paths: paths.clone(),
            issuer,
        })
    }

    pub fn paths(&self) -> &PkiPaths {
        &self.paths
    }

    fn sign(
        &self,
        what: &str,
        mut params: CertificateParams,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Issued> {
        let key = generate(format!("generate the {what} key"), KeyPair::generate())?;
        let serial = random_serial();
        params.serial_number = Some(serial.clone());
        params.not_before = not_before;
        params.not_after = not_after;
        params.use_authority_key_identifier_extension = true;
        let cert = generate(
            format!("sign the {what} certificate"),
            params.signed_by(&key, &self.issuer),
        )?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            serial: serial_hex(&serial.to_bytes()),
        })
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn issue_server(&self, names: &[String]) -> Result<Issued> {
        let mut params = generate(
            "build server certificate names",
            CertificateParams::new(names.to_vec()),
        )?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "corridord");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign("server", params, now() - BACKDATE, now() + LEAF_VALIDITY)
    }

    /// A client certificate naming `principal`, valid over the given window
    /// (tests issue expired ones; everyone else uses [`Ca::issue_client`]).
    pub fn issue_client_valid(
        &self,
        principal: &Principal,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Issued> {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, principal.to_string());
        params
            .distinguished_name
            .push(DnType::OrganizationName, "CorridorOS");
        let uri = generate(
            "encode the principal URI",
            rcgen::string::Ia5String::try_from(principal.uri()),
        )?;
        params.subject_alt_names = vec![SanType::URI(uri)];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let issued = self.sign(
            &format!("{principal} client"),
            params,
            not_before,
            not_after,
        )?;
        self.record_issued(&IssuedRecord {
            serial: issued.serial.clone(),
            principal: principal.to_string(),
            not_after: not_after.to_string(),
        })?;
        Ok(issued)
    }

    pub fn issue_client(&self, principal: &Principal) -> Result<Issued> {
        self.issue_client_valid(principal, now() - BACKDATE, now() + LEAF_VALIDITY)
    }

    /// Issues a client certificate and writes it (key `0600`) to the
    /// principal's files in the PKI directory.
    pub fn issue_client_files(&self, principal: &Principal) -> Result<Issued> {
        let issued = self.issue_client(principal)?;
        write_file(
            &self.paths.client_key(principal),
            issued.key_pem.as_bytes(),
            0o600,
        )?;
        write_file(
            &self.paths.client_cert(principal),
            issued.cert_pem.as_bytes(),
            0o644,
        )?;
        Ok(issued)
    }

    fn record_issued(&self, record: &IssuedRecord) -> Result<()> {
        let path = self.paths.issued();
        let mut line = serde_json::to_string(record).expect("records serialise");
        line.push('\n');
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .map_err(|source| PkiError::Io {
                action: "open",
                path: path.clone(),
                source,
            })?;
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|source| PkiError::Io {
                action: "append to",
                path,
                source,
            })
    }

    /// Every certificate issued by this directory, oldest first.
    pub fn issued(&self) -> Result<Vec<IssuedRecord>> {
        read_jsonl(&self.paths.issued())
    }

    /// Adds `serial` to the revocations and rewrites the CRL. Revoking a
    /// serial twice is harmless.
    pub fn revoke(&self, serial: &str) -> Result<()> {
        let serial = serial
            .trim()
            .trim_start_matches("0x")
            .to_ascii_lowercase()
            .replace(':', "");
        if !self.issued()?.iter().any(|r| r.serial == serial) {
            return Err(PkiError::UnknownSerial(serial));
        }
        let mut revoked: Vec<RevokedRecord> = read_jsonl(&self.paths.revoked())?;
        if !revoked.iter().any(|r| r.serial == serial) {
            revoked.push(RevokedRecord {
                serial,
                revoked_at_unix: now().unix_timestamp(),
            });
            let mut text = String::new();
            for record in &revoked {
                text.push_str(&serde_json::to_string(record).expect("records serialise"));
                text.push('\n');
            }
            write_file(&self.paths.revoked(), text.as_bytes(), 0o600)?;
        }
        self.write_crl(&revoked)
    }

    /// Revoked serials, as hex.
    pub fn revoked_serials(&self) -> Result<Vec<String>> {
        Ok(read_jsonl::<RevokedRecord>(&self.paths.revoked())?
            .into_iter()
            .map(|r| r.serial)
            .collect())
    }

    fn write_crl(&self, revoked: &[RevokedRecord]) -> Result<()> {
        let mut revoked_certs = Vec::new();
        for record in revoked {
            let bytes = hex_bytes(&record.serial).ok_or_else(|| PkiError::Invalid {
                path: self.paths.revoked(),
                reason: format!("bad serial {:?}", record.serial),
            })?;
            revoked_certs.push(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&bytes),
                revocation_time: OffsetDateTime::from_unix_timestamp(record.revoked_at_unix)
                    .unwrap_or_else(|_| now()),
                reason_code: None,
                invalidity_date: None,
            });
        }
        let params = CertificateRevocationListParams {
            this_update: now() - BACKDATE,
            // The server checks the CRL's signature and serials; it does not
            // refuse a CRL past next_update (rustls' default policy), so a
            // long horizon costs nothing and avoids a silent outage.
            next_update: now() + CA_VALIDITY,
            crl_number: SerialNumber::from(revoked.len() as u64 + 1),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = generate("sign the CRL", params.signed_by(&self.issuer))?;
        let pem = generate("encode the CRL", crl.pem())?;
        write_file(&self.paths.crl(), pem.as_bytes(), 0o644)
    }
}

fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() || !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(PkiError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).map_err(|e| PkiError::Invalid {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// The names the generated server certificate covers: loopback in every
/// spelling plus this machine's host name.
pub fn default_server_names() -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() && host != "localhost" {
            names.push(host.to_string());
        }
    }
    names
}

/// The fixed principals every installation gets.
pub fn builtin_principals() -> [Principal; 3] {
    [Principal::Admin, Principal::Operator, Principal::ReadOnly]
}

/// Creates whatever of the local PKI is missing in `state_dir/pki` and
/// reuses the rest: the CA, the server certificate, the built-in client
/// certificates and one per security domain, and an (empty) CRL.
pub fn ensure(state_dir: &Path, domains: &[String]) -> Result<EnsureReport> {
    let paths = PkiPaths::in_state_dir(state_dir);
    let mut report = EnsureReport::default();
    let ca = Ca::load_or_create(&paths, &mut report.created)?;
    if !(paths.server_cert().exists() && paths.server_key().exists()) {
        let issued = ca.issue_server(&default_server_names())?;
        write_file(&paths.server_key(), issued.key_pem.as_bytes(), 0o600)?;
        write_file(&paths.server_cert(), issued.cert_pem.as_bytes(), 0o644)?;
        report
            .created
            .extend([paths.server_key(), paths.server_cert()]);
    }
    let mut principals: Vec<Principal> = builtin_principals().into();
    for domain in domains {
        principals.push(Principal::domain(domain)?);
    }
    for principal in &principals {
        if !(paths.client_cert(principal).exists() && paths.client_key(principal).exists()) {
            ca.issue_client_files(principal)?;
            report
                .created
                .extend([paths.client_key(principal), paths.client_cert(principal)]);
        }
    }
    if !paths.crl().exists() {
        ca.write_crl(&read_jsonl(&paths.revoked())?)?;
        report.created.push(paths.crl());
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn ensure_creates_once_with_private_keys_0600_and_principals_in_certs() {
        let dir = tempfile::tempdir().unwrap();
        let report = ensure(dir.path(), &["tenantA".into()]).unwrap();
        assert!(!report.created.is_empty());
        let paths = PkiPaths::in_state_dir(dir.path());
        for entry in std::fs::read_dir(&paths.dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "key") {
                let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", path.display());
            }
        }
        let dir_mode = std::fs::metadata(&paths.dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);

        let domain = Principal::domain("tenantA").unwrap();
        let pem = std::fs::read(paths.client_cert(&domain)).unwrap();
        let der = x509_parser::pem::parse_x509_pem(&pem).unwrap().1.contents;
        assert_eq!(Principal::from_certificate(&der).unwrap(), domain);

        let before = std::fs::read(paths.ca_cert()).unwrap();
        let again = ensure(dir.path(), &["tenantA".into()]).unwrap();
        assert!(again.created.is_empty(), "{:?}", again.created);
        assert_eq!(std::fs::read(paths.ca_cert()).unwrap(), before);

        // A new domain gets only its own files.
        let more = ensure(dir.path(), &["tenantA".into(), "tenantB".into()]).unwrap();
        assert_eq!(more.created.len(), 2, "{:?}", more.created);
    }

    #[test]
    fn revoke_writes_a_crl_naming_the_serial() {
        let dir = tempfile::tempdir().unwrap();
        ensure(dir.path(), &[]).unwrap();
        let paths = PkiPaths::in_state_dir(dir.path());
        let ca = Ca::load(&paths).unwrap();
        let issued = ca.issue_client(&Principal::ReadOnly).unwrap();
        ca.revoke(&issued.serial).unwrap();
        ca.revoke(&issued.serial).unwrap();
        assert_eq!(ca.revoked_serials().unwrap(), vec![issued.serial.clone()]);
        let pem = std::fs::read(paths.crl()).unwrap();
        let der = x509_parser::pem::parse_x509_pem(&pem).unwrap().1.contents;
        assert_eq!(crl_revoked_serials(&der).unwrap(), vec![issued.serial]);
        assert!(crl_revoked_serials(b"not a CRL").is_err());
        assert!(matches!(ca.revoke("7fff"), Err(PkiError::UnknownSerial(_))));
    }
}
