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

pub use super::contract::Scope;

/// Methods that change nothing.
pub fn is_read(method: &axum::http::Method) -> bool {
    use axum::http::Method;
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The outcome of the route-level check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// 401: no certificate.
    Unauthenticated(String),
    /// 403: a known caller without the right.
    Forbidden(String),
}

/// Who may call what. `route` is `None` for paths no route matches: those
/// answer 404/405 to any authenticated caller. `scope` is the route's
/// declared scope ([`super::contract::Contract::scope`]); a routed path
/// without one is refused to everyone.
pub fn decide(
    identity: &Identity,
    method: &axum::http::Method,
    route: Option<&str>,
    scope: Option<Scope>,
) -> Decision {
    let scope = route.map(|_| scope);
    if scope == Some(Some(Scope::Probe)) {
        return Decision::Allow;
    }
    let principal = match identity {
        Identity::Anonymous => {
            return Decision::Unauthenticated(
                "a client certificate is required (only /healthz and /readyz answer without one)"
                    .into(),
            );
        }
        Identity::Unrecognised { reason, .. } => {
            return Decision::Forbidden(format!("the client certificate is not usable: {reason}"));
        }
        _ => identity
            .principal()
            .expect("identified callers have a principal"),
    };
    let Some(scope) = scope else {
        return Decision::Allow; // no route: the router answers 404
    };
    let Some(scope) = scope else {
        return Decision::Forbidden(format!(
            "{} has no authorisation policy; refused to everyone until it gets one",
            route.unwrap_or_default()
        ));
    };
    if scope == Scope::Admin {
        return match principal {
            Principal::Admin => Decision::Allow,
            other => Decision::Forbidden(format!(
                "{other} cannot reach admin endpoints; they act on the plant itself"
            )),
        };
    }
    match principal {
        Principal::Admin | Principal::Operator => Decision::Allow,
        Principal::ReadOnly if is_read(method) => Decision::Allow,
        Principal::ReadOnly => {
            Decision::Forbidden("read-only principals cannot change anything".into())
        }
        Principal::Domain(domain) => match scope {
            Scope::Probe | Scope::Discovery | Scope::Tenant => Decision::Allow,
            Scope::Inventory if is_read(method) => Decision::Allow,
            Scope::Inventory => {
                Decision::Forbidden("the inventory is read-only for security domains".into())
            }
            Scope::Infrastructure | Scope::Observability | Scope::Admin => Decision::Forbidden(
                format!("security domain {domain} cannot reach cluster infrastructure endpoints"),
            ),
        },
    }
}

/// The largest request body the domain check will read; bigger bodies from
/// domain principals are refused rather than passed on unchecked.
pub const MAX_CHECKED_BODY: usize = 1024 * 1024;

/// For a domain principal, the `security_domain` of a JSON body must be
/// the caller's own. Returns the reason when it is not.
pub fn foreign_domain(caller: &str, body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    match value.get("security_domain")? {
        serde_json::Value::String(domain) if domain == caller => None,
        serde_json::Value::String(domain) => Some(format!(
            "security_domain {domain:?} is not the caller's ({caller:?})"
        )),
        other => Some(format!(
            "security_domain must be the caller's domain, got {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    use super::*;

    fn domain(name: &str) -> Identity {
        Identity::Certificate {
            principal: Principal::Domain(name.into()),
            serial: "41".into(),
        }
    }

    #[test]
    fn decisions_follow_the_scopes() {
        let ro = Identity::Certificate {
            principal: Principal::ReadOnly,
            serial: "42".into(),
        };
        assert_eq!(
            decide(
                &Identity::Anonymous,
                &Method::GET,
                Some("/healthz"),
                Some(Scope::Probe)
            ),
            Decision::Allow
        );
        assert!(matches!(
            decide(
                &Identity::Anonymous,
                &Method::GET,
                Some("/v1/fabman/devices"),
                Some(Scope::Inventory)
            ),
            Decision::Unauthenticated(_)
        ));
        assert_eq!(
            decide(
                &ro,
                &Method::GET,
                Some("/v1/corridors"),
                Some(Scope::Tenant)
            ),
            Decision::Allow
        );
        assert!(matches!(
            decide(
                &ro,
                &Method::POST,
                Some("/v1/corridors"),
                Some(Scope::Tenant)
            ),
            Decision::Forbidden(_)
        ));
        assert_eq!(
            decide(
                &domain("a"),
                &Method::POST,
                Some("/v1/corridors"),
                Some(Scope::Tenant)
            ),
            Decision::Allow
        );
        assert!(matches!(
            decide(
                &domain("a"),
                &Method::GET,
                Some("/v1/operations"),
                Some(Scope::Infrastructure)
            ),
            Decision::Forbidden(_)
        ));
        assert!(matches!(
            decide(
                &Identity::InsecureDev,
                &Method::GET,
                Some("/v1/new-thing"),
                None
            ),
            Decision::Forbidden(_)
        ));
        assert_eq!(
            decide(&domain("a"), &Method::GET, None, None),
            Decision::Allow
        );
    }

    #[test]
    fn body_domains_must_match() {
        assert_eq!(foreign_domain("a", br#"{"security_domain":"a"}"#), None);
        assert!(foreign_domain("a", br#"{"security_domain":"b"}"#).is_some());
        assert!(foreign_domain("a", br#"{"security_domain":7}"#).is_some());
        assert_eq!(foreign_domain("a", br#"{"other":1}"#), None);
        assert_eq!(foreign_domain("a", b"not json"), None);
    }
}
