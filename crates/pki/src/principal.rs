//! Who a client certificate speaks for.
//!
//! The principal travels in the certificate as a SAN URI
//! `corridor://principal/<role>[/<domain>]`; the subject CN repeats it for
//! humans reading `openssl x509 -text`, but only the URI is trusted, because
//! a SAN is what the CA explicitly vouched for and it has one fixed syntax.

use std::fmt;

/// URI prefix of the principal SAN.
pub const PRINCIPAL_URI_PREFIX: &str = "corridor://principal/";

/// The identity a client certificate names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// Everything, including future administrative endpoints.
    Admin,
    /// Every resource of every domain, read and write; not the
    /// administrative endpoints (none exist yet).
    Operator,
    /// Reads everything, changes nothing.
    ReadOnly,
    /// A tenant: sees and changes only its own security domain.
    Domain(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PrincipalError {
    #[error("{0:?} is not a valid security domain (1-63 of A-Z a-z 0-9 _ -)")]
    BadDomain(String),
    #[error(
        "{0:?} is not a principal URI ({PRINCIPAL_URI_PREFIX}admin|operator|read-only|domain/NAME)"
    )]
    BadUri(String),
    #[error("the certificate cannot be parsed: {0}")]
    Certificate(String),
    #[error("the certificate names no principal (no {PRINCIPAL_URI_PREFIX}… SAN)")]
    Missing,
    #[error("the certificate names more than one principal")]
    Ambiguous,
}

/// The same rule as `corridor_model::validate::security_domain`, so a
/// request's `security_domain` can always be compared with the caller's.
pub fn valid_domain(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

impl Principal {
    pub fn domain(name: &str) -> Result<Principal, PrincipalError> {
        if valid_domain(name) {
            Ok(Principal::Domain(name.to_string()))
        } else {
            Err(PrincipalError::BadDomain(name.to_string()))
        }
    }

    /// The SAN URI that encodes this principal.
    pub fn uri(&self) -> String {
        format!("{PRINCIPAL_URI_PREFIX}{}", self.path())
    }

    fn path(&self) -> String {
        match self {
            Principal::Admin => "admin".into(),
            Principal::Operator => "operator".into(),
            Principal::ReadOnly => "read-only".into(),
            Principal::Domain(name) => format!("domain/{name}"),
        }
    }

    pub fn parse_uri(uri: &str) -> Result<Principal, PrincipalError> {
        let bad = || PrincipalError::BadUri(uri.to_string());
        let path = uri.strip_prefix(PRINCIPAL_URI_PREFIX).ok_or_else(bad)?;
        match path {
            "admin" => Ok(Principal::Admin),
            "operator" => Ok(Principal::Operator),
            "read-only" => Ok(Principal::ReadOnly),
            _ => {
                let name = path.strip_prefix("domain/").ok_or_else(bad)?;
                Principal::domain(name).map_err(|_| bad())
            }
        }
    }

    /// File stem of this principal's certificate and key in the PKI
    /// directory: `admin`, `read-only`, `domain-tenantA`.
    pub fn file_stem(&self) -> String {
        match self {
            Principal::Domain(name) => format!("domain-{name}"),
            other => other.path(),
        }
    }

    /// Reads the principal out of a DER client certificate. Exactly one
    /// principal URI must be present.
    pub fn from_certificate(der: &[u8]) -> Result<Principal, PrincipalError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| PrincipalError::Certificate(e.to_string()))?;
        let san = cert
            .subject_alternative_name()
            .map_err(|e| PrincipalError::Certificate(e.to_string()))?;
        let mut found = None;
        for name in san.iter().flat_map(|san| san.value.general_names.iter()) {
            if let x509_parser::extensions::GeneralName::URI(uri) = name
                && uri.starts_with(PRINCIPAL_URI_PREFIX)
            {
                if found.is_some() {
                    return Err(PrincipalError::Ambiguous);
                }
                found = Some(Principal::parse_uri(uri)?);
            }
        }
        found.ok_or(PrincipalError::Missing)
    }

    /// The security domain a domain principal is confined to.
    pub fn security_domain(&self) -> Option<&str> {
        match self {
            Principal::Domain(name) => Some(name),
            _ => None,
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// A certificate serial as lowercase hex without separators, the form
/// `corridorctl pki revoke` takes and the CRL check compares.
pub fn serial_hex(raw: &[u8]) -> String {
    let trimmed: &[u8] = match raw.iter().position(|b| *b != 0) {
        Some(first) => &raw[first..],
        None => &[0],
    };
    trimmed.iter().map(|b| format!("{b:02x}")).collect()
}

/// The serial of a DER certificate, as [`serial_hex`].
pub fn certificate_serial(der: &[u8]) -> Result<String, PrincipalError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| PrincipalError::Certificate(e.to_string()))?;
    Ok(serial_hex(cert.raw_serial()))
}

/// The serials a DER certificate revocation list revokes, as
/// [`serial_hex`], so they compare with [`certificate_serial`].
pub fn crl_revoked_serials(der: &[u8]) -> Result<Vec<String>, PrincipalError> {
    let (_, crl) = x509_parser::parse_x509_crl(der)
        .map_err(|e| PrincipalError::Certificate(format!("CRL: {e}")))?;
    Ok(crl
        .iter_revoked_certificates()
        .map(|revoked| serial_hex(revoked.raw_serial()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_round_trip() {
        for p in [
            Principal::Admin,
            Principal::Operator,
            Principal::ReadOnly,
            Principal::Domain("tenant_A-1".into()),
        ] {
            assert_eq!(Principal::parse_uri(&p.uri()).unwrap(), p);
        }
        assert!(Principal::parse_uri("corridor://principal/domain/a.b").is_err());
        assert!(Principal::parse_uri("corridor://principal/root").is_err());
        assert!(Principal::parse_uri("https://principal/admin").is_err());
    }

    #[test]
    fn serials_drop_leading_zeros() {
        assert_eq!(serial_hex(&[0, 0x4a, 0x01]), "4a01");
        assert_eq!(serial_hex(&[0]), "00");
    }
}
