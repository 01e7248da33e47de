//! Revoked tickets. A ticket is revoked when what it vouched for stopped being true before
//! it expired: a device re-attested as contraindicated, a policy withdrawn, a key rotated
//! after a compromise. The verifier consults the list on every verification; the service
//! persists it in the store and watches it to degrade the corridors a revoked ticket bound.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::id::TicketId;

/// Why and when one ticket was revoked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub reason: String,
    /// Unix seconds.
    pub revoked_at: u64,
}

/// The set of revoked tickets, by ticket id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationList {
    revoked: BTreeMap<TicketId, Revocation>,
}

impl RevocationList {
    pub fn new() -> Self {
        RevocationList::default()
    }

    /// Revokes a ticket. Revoking it again keeps the first revocation: its time is the one
    /// that matters to anyone who relied on the ticket in between.
    pub fn revoke(&mut self, id: TicketId, reason: impl Into<String>, revoked_at: u64) -> bool {
        if self.revoked.contains_key(&id) {
            return false;
        }
        self.revoked.insert(
            id,
            Revocation {
                reason: reason.into(),
                revoked_at,
            },
        );
        true
    }

    pub fn get(&self, id: &TicketId) -> Option<&Revocation> {
        self.revoked.get(id)
    }

    pub fn is_revoked(&self, id: &TicketId) -> bool {
        self.revoked.contains_key(id)
    }

    /// Drops entries for tickets that have expired anyway (a caller who knows each
    /// ticket's `exp` passes a predicate), so the list does not grow without bound.
    pub fn retain(&mut self, mut keep: impl FnMut(&TicketId, &Revocation) -> bool) {
        self.revoked.retain(|id, r| keep(id, r));
    }

    pub fn len(&self) -> usize {
        self.revoked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.revoked.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&TicketId, &Revocation)> {
        self.revoked.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_revocation_wins() {
        let id = TicketId::of_envelope(b"t");
        let mut list = RevocationList::new();
        assert!(list.revoke(id.clone(), "device tampered", 10));
        assert!(!list.revoke(id.clone(), "later reason", 20));
        assert_eq!(list.get(&id).unwrap().revoked_at, 10);
        assert!(list.is_revoked(&id));
        assert!(!list.is_revoked(&TicketId::of_envelope(b"other")));
    }
}
