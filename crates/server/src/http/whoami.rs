//! `GET /v1/whoami`: who the server takes the caller to be and what it may
//! do, so a browser (the console) can leave out controls whose requests
//! would only be refused.
//!
//! The answer is computed from [`super::auth::decide`], the very function
//! the authorisation middleware runs, so it cannot drift from the policy.

use axum::Json;
use axum::extract::Request;
use axum::http::Method;
use corridor_pki::Principal;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::{Decision, Identity, Scope, decide};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(whoami))
}

/// The caller as the server sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    /// The principal's name: `admin`, `operator`, `read-only` or
    /// `domain/NAME` (`insecure-dev` when the server runs without TLS and
    /// treats every caller as admin).
    #[schema(example = "read-only")]
    pub principal: String,
    /// The security domain of a domain principal; absent for cluster
    /// principals (admin, operator, read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_domain: Option<String>,
    /// The certificate's serial (lowercase hex); absent under
    /// `--insecure-dev`, where nobody is authenticated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_serial: Option<String>,
    /// Scopes whose reading endpoints (GET) the caller may use.
    pub read_scopes: Vec<String>,
    /// Scopes whose changing endpoints (POST, PUT, PATCH, DELETE) the
    /// caller may use. Empty for a read-only principal.
    pub write_scopes: Vec<String>,
}

/// Who am I: the caller's principal and the scopes it may read and write.
///
/// Each operation of this document names its scope in its security
/// requirement; a client may hide what `write_scopes` does not list.
/// A domain principal may still see only its own domain's objects.
#[utoipa::path(
    get,
    path = "/v1/whoami",
    tag = "service",
    security(("mtls" = ["discovery"])),
    responses((status = 200, description = "The caller and what it may do", body = WhoAmI))
)]
pub async fn whoami(request: Request) -> Json<WhoAmI> {
    // The authorisation middleware has let the request through, so the
    // identity names a principal; anonymous callers never get here.
    let identity = request
        .extensions()
        .get::<Identity>()
        .cloned()
        .unwrap_or(Identity::Anonymous);
    Json(describe(&identity))
}

fn describe(identity: &Identity) -> WhoAmI {
    let allowed = |method: &Method| -> Vec<String> {
        Scope::ALL
            .into_iter()
            // Probes answer everyone; listing them says nothing.
            .filter(|scope| *scope != Scope::Probe)
            // Any routed path will do: past "is it routed", `decide` reads
            // only the scope and the method.
            .filter(|scope| {
                decide(identity, method, Some("/v1/whoami"), Some(*scope)) == Decision::Allow
            })
            .map(|scope| scope.as_str().to_owned())
            .collect()
    };
    WhoAmI {
        principal: identity.audit_name(),
        security_domain: match identity.principal() {
            Some(Principal::Domain(domain)) => Some(domain.clone()),
            _ => None,
        },
        certificate_serial: identity.serial().map(str::to_owned),
        read_scopes: allowed(&Method::GET),
        write_scopes: allowed(&Method::POST),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(principal: Principal) -> Identity {
        Identity::Certificate {
            principal,
            serial: "2a".into(),
        }
    }

    #[test]
    fn read_only_may_write_nothing() {
        let me = describe(&certificate(Principal::ReadOnly));
        assert_eq!(me.principal, "read-only");
        assert!(me.write_scopes.is_empty(), "{:?}", me.write_scopes);
        assert!(me.read_scopes.contains(&"tenant".to_owned()));
    }

    #[test]
    fn only_admin_writes_the_admin_scope() {
        let admin = describe(&certificate(Principal::Admin));
        let operator = describe(&certificate(Principal::Operator));
        assert!(admin.write_scopes.contains(&"admin".to_owned()));
        assert!(!operator.write_scopes.contains(&"admin".to_owned()));
        assert!(operator.write_scopes.contains(&"tenant".to_owned()));
    }

    #[test]
    fn a_domain_is_named_and_kept_to_tenant_writes() {
        let me = describe(&certificate(Principal::Domain("tenantA".into())));
        assert_eq!(me.principal, "domain/tenantA");
        assert_eq!(me.security_domain.as_deref(), Some("tenantA"));
        assert!(me.write_scopes.contains(&"tenant".to_owned()));
        assert!(!me.write_scopes.contains(&"infrastructure".to_owned()));
    }
}
