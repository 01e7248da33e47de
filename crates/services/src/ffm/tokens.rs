//! Hand-off tokens: a bundle's secret for the fd hand-off socket, kept in
//! the store beside the bundle (`/ffm/tokens/{id}`, on its lease) so a
//! restart keeps it, and given out only to callers that receive the
//! owner's secrets.

use corridor_model::ffm::FfmBundle;
use rand::Rng;

use super::{FfmService, lock};
use crate::Caller;

const TOKEN_PREFIX: &str = "/ffm/tokens/";

pub(super) fn token_key(id: &str) -> String {
    format!("{TOKEN_PREFIX}{id}")
}

/// 256 random bits, hex.
pub(super) fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time comparison, so the socket's answer time does not reveal
/// how much of a guessed token was right.
pub(super) fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl FfmService {
    /// The hand-off token of a live bundle, if `caller` may receive it:
    /// the owning domain and the principals that run the cluster, never a
    /// read-only one.
    pub(super) fn token_for(&self, caller: &Caller, bundle: &FfmBundle) -> Option<String> {
        if !caller.receives_secrets_of(&bundle.security_domain) {
            return None;
        }
        lock(&self.live).get(&bundle.id).map(|l| l.token.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_compared_exactly() {
        let a = random_token();
        let b = random_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(same_token(&a, &a.clone()));
        assert!(!same_token(&a, &b));
        assert!(!same_token(&a, &a[..63]));
    }
}
