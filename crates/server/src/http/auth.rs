//! Who is calling: the identity the accept loop attached to the request.

use corridor_pki::Principal;

/// The caller of one connection, as established by the TLS handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Plain HTTP under `--insecure-dev`: nobody is authenticated, so every
    /// caller is treated as admin. Only for a developer's own machine.
    InsecureDev,
    /// TLS without a client certificate.
    Anonymous,
    /// A client certificate that chains to the CA, is in its validity
    /// window, is not on the CRL, and names a principal.
    Certificate {
        principal: Principal,
        serial: String,
    },
    /// A verified certificate that names no principal (e.g. one from a
    /// brought-in CA that was not issued for CorridorOS).
    Unrecognised { reason: String, serial: String },
}

impl Identity {
    /// The principal whose rights apply, if any.
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Identity::InsecureDev => Some(&Principal::Admin),
            Identity::Certificate { principal, .. } => Some(principal),
            Identity::Anonymous | Identity::Unrecognised { .. } => None,
        }
    }

    /// How the audit log names the caller.
    pub fn audit_name(&self) -> String {
        match self {
            Identity::InsecureDev => "insecure-dev".into(),
            Identity::Anonymous => "anonymous".into(),
            Identity::Certificate { principal, .. } => principal.to_string(),
            Identity::Unrecognised { .. } => "unrecognised-certificate".into(),
        }
    }

    pub fn serial(&self) -> Option<&str> {
        match self {
            Identity::Certificate { serial, .. } | Identity::Unrecognised { serial, .. } => {
                Some(serial)
            }
            _ => None,
        }
    }
}
