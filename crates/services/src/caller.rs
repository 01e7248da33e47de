//! Who is calling a service, passed into every service call (omicron's
//! `opctx`).
//!
//! The HTTP layer decides whether a principal may use a route at all; the
//! services decide everything that depends on an object: which objects a
//! caller sees (another domain's is reported exactly like a missing one, so
//! ids cannot be probed across tenants), which domain a new object belongs
//! to, and who receives secrets such as a memory hand-off token.

use corridor_pki::Principal;

/// The principal a service call is made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    principal: Principal,
}

impl Caller {
    pub fn new(principal: Principal) -> Self {
        Caller { principal }
    }

    /// The control plane acting for itself (reconcilers, start-up
    /// restore): sees and owns everything, like the admin.
    pub fn system() -> Self {
        Caller::new(Principal::Admin)
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The one security domain this caller is confined to, or `None` for
    /// principals that see every domain (admin, operator, read-only).
    pub fn confined_to(&self) -> Option<&str> {
        self.principal.security_domain()
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

    /// The domain a new object belongs to: a confined caller's own (the
    /// route layer already refused a body naming another), else what the
    /// request asked for.
    pub fn owner_for(&self, requested: Option<&str>) -> Option<String> {
        self.confined_to().or(requested).map(str::to_owned)
    }

    /// Whether this caller may receive the secrets of an object owned by
    /// `owner` (a memory bundle's hand-off token): the owning domain and
    /// the principals that run the cluster, never a read-only one, whose
    /// certificate is meant to be handed out widely.
    pub fn receives_secrets_of(&self, owner: &str) -> bool {
        match &self.principal {
            Principal::Admin | Principal::Operator => true,
            Principal::ReadOnly => false,
            Principal::Domain(domain) => domain == owner,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_see_only_their_own() {
        let a = Caller::new(Principal::Domain("a".into()));
        assert_eq!(a.confined_to(), Some("a"));
        assert!(a.may_see(Some("a")));
        assert!(!a.may_see(Some("b")));
        assert!(!a.may_see(None));
        assert_eq!(a.owner_for(None).as_deref(), Some("a"));
        assert_eq!(a.owner_for(Some("a")).as_deref(), Some("a"));
        assert!(a.receives_secrets_of("a"));
        assert!(!a.receives_secrets_of("b"));
    }

    #[test]
    fn cluster_principals_see_everything() {
        for principal in [Principal::Admin, Principal::Operator, Principal::ReadOnly] {
            let c = Caller::new(principal);
            assert_eq!(c.confined_to(), None);
            assert!(c.may_see(Some("b")));
            assert!(c.may_see(None));
            assert_eq!(c.owner_for(Some("b")).as_deref(), Some("b"));
        }
        assert!(Caller::system().receives_secrets_of("x"));
        assert!(!Caller::new(Principal::ReadOnly).receives_secrets_of("x"));
    }
}
