//! The caller of a request as handlers see it: which security domain's
//! objects it may see.
//!
//! The route-level check in [`super::middleware::authorize`] decides whether
//! a principal may use a route at all; per-object visibility is the
//! handler's job, because only the service knows an object's owner. A domain
//! principal that names another domain's object gets the same `404` as for
//! an object that does not exist, so ids cannot be probed across tenants.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use corridor_pki::Principal;

use super::auth::Identity;

/// Who is calling, taken from the connection's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub Identity);

impl Caller {
    /// The one security domain this caller is confined to, or `None` for
    /// principals that see every domain (admin, operator, read-only).
    pub fn confined_to(&self) -> Option<&str> {
        match self.0.principal() {
            Some(Principal::Domain(domain)) => Some(domain),
            _ => None,
        }
    }

    /// Whether an object owned by `owner` (its `security_domain`, if any)
    /// is visible to this caller. Objects without an owner belong to the
    /// cluster, so a confined caller does not see them.
    pub fn may_see(&self, owner: Option<&str>) -> bool {
        match self.confined_to() {
            None => true,
            Some(domain) => owner == Some(domain),
        }
    }

    /// The domain a new object should belong to: the caller's own for a
    /// confined caller (the middleware already refused a body naming
    /// another), else what the request asked for.
    pub fn owner_for(&self, requested: Option<&str>) -> Option<String> {
        self.confined_to().or(requested).map(str::to_owned)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // A request that did not come through the accept loop (a test
        // calling the router directly) has no identity: nobody. The
        // authorisation middleware has refused it before any handler runs.
        let identity = parts
            .extensions
            .get::<Identity>()
            .cloned()
            .unwrap_or(Identity::Anonymous);
        Ok(Caller(identity))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(principal: Principal) -> Caller {
        Caller(Identity::Certificate {
            principal,
            serial: "01".into(),
        })
    }

    #[test]
    fn domains_see_only_their_own() {
        let a = caller(Principal::Domain("a".into()));
        assert_eq!(a.confined_to(), Some("a"));
        assert!(a.may_see(Some("a")));
        assert!(!a.may_see(Some("b")));
        assert!(!a.may_see(None));
        assert_eq!(a.owner_for(None).as_deref(), Some("a"));
        assert_eq!(a.owner_for(Some("a")).as_deref(), Some("a"));
    }

    #[test]
    fn cluster_principals_see_everything() {
        for principal in [Principal::Admin, Principal::Operator, Principal::ReadOnly] {
            let c = caller(principal);
            assert_eq!(c.confined_to(), None);
            assert!(c.may_see(Some("b")));
            assert!(c.may_see(None));
            assert_eq!(c.owner_for(Some("b")).as_deref(), Some("b"));
        }
        assert!(Caller(Identity::InsecureDev).may_see(Some("x")));
    }
}
