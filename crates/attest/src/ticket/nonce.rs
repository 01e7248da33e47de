//! Challenge nonces: the `eat_nonce` a ticket echoes, and the ledger that makes each one
//! single-use within a time-to-live.
//!
//! The flow: a relying party (or attestd itself) asks for a nonce ([`NonceLedger::issue`]),
//! the attester puts it into its evidence (SPDM `GET_MEASUREMENTS`, TPM quote `extraData`),
//! and when the evidence comes back the verifier consumes it ([`NonceLedger::consume`])
//! before it issues a ticket that echoes the nonce. A second presentation of the same nonce
//! is refused as [`NonceError::Replayed`], one presented after its TTL as
//! [`NonceError::Expired`], one the ledger never issued as [`NonceError::Unknown`].
//!
//! Time is passed in (Unix seconds), never read here, so the ledger is deterministic under
//! test and follows the twin's simulated clock when it runs on one.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::error::{ClaimsError, NonceError};

/// Bytes in the nonces a ledger issues: 32, as SPDM's nonces and the research notes'
/// "at least 32 bytes, single-use" ask.
pub const ISSUED_NONCE_LEN: usize = 32;
/// EAT's bounds on `eat_nonce` (RFC 9711 §4.1): 8 to 64 bytes.
pub const MIN_NONCE_LEN: usize = 8;
pub const MAX_NONCE_LEN: usize = 64;

/// An `eat_nonce`: 8 to 64 bytes (base64url without padding in JSON).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nonce(Vec<u8>);

impl Nonce {
    pub fn new(bytes: Vec<u8>) -> Result<Nonce, ClaimsError> {
        if !(MIN_NONCE_LEN..=MAX_NONCE_LEN).contains(&bytes.len()) {
            return Err(ClaimsError::NonceLength { len: bytes.len() });
        }
        Ok(Nonce(bytes))
    }

    /// A fresh nonce of [`ISSUED_NONCE_LEN`] bytes from the system random generator.
    pub fn random() -> Result<Nonce, NonceError> {
        let mut bytes = vec![0u8; ISSUED_NONCE_LEN];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| NonceError::Random)?;
        Ok(Nonce(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.0)
    }

    pub fn from_base64url(text: &str) -> Result<Nonce, ClaimsError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| ClaimsError::BadNonceEncoding)?;
        Nonce::new(bytes)
    }
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nonce({})", self.to_base64url())
    }
}

impl Serialize for Nonce {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64url())
    }
}

impl<'de> Deserialize<'de> for Nonce {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Nonce::from_base64url(&text).map_err(serde::de::Error::custom)
    }
}

/// Single-use nonces with a TTL. Implementations must make `consume` atomic: of two
/// concurrent consumers of one nonce exactly one succeeds. The in-memory ledger below does
/// it with a mutex; a store-backed one does it with a compare-and-swap transaction.
pub trait NonceLedger: Send + Sync {
    /// Issues a fresh nonce that can be consumed once until `now + ttl_secs`.
    fn issue(&self, now: u64, ttl_secs: u64) -> Result<Nonce, NonceError>;

    /// Consumes a nonce: `Ok` the first time within its TTL, an error ever after.
    fn consume(&self, nonce: &Nonce, now: u64) -> Result<(), NonceError>;
}

/// Default bound on nonces a ledger tracks at once (live ones plus consumed ones not yet
/// past their TTL), so that a client asking for nonces in a loop cannot exhaust memory.
pub const DEFAULT_MAX_OUTSTANDING: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Live {
        expires_at: u64,
    },
    /// Remembered until `expires_at` so a replay is reported as such, not as unknown.
    Consumed {
        expires_at: u64,
    },
}

impl Entry {
    fn expires_at(self) -> u64 {
        match self {
            Entry::Live { expires_at } | Entry::Consumed { expires_at } => expires_at,
        }
    }
}

/// A [`NonceLedger`] in process memory (lost on restart, which only invalidates
/// outstanding challenges: attesters ask again).
#[derive(Debug)]
pub struct InMemoryNonceLedger {
    entries: Mutex<HashMap<Nonce, Entry>>,
    max_outstanding: usize,
}

impl Default for InMemoryNonceLedger {
    fn default() -> Self {
        InMemoryNonceLedger::with_capacity(DEFAULT_MAX_OUTSTANDING)
    }
}

impl InMemoryNonceLedger {
    pub fn with_capacity(max_outstanding: usize) -> Self {
        InMemoryNonceLedger {
            entries: Mutex::new(HashMap::new()),
            max_outstanding,
        }
    }

    /// Nonces tracked right now (live and consumed-but-remembered).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Nonce, Entry>> {
        // A panic while holding the lock cannot leave the map half-updated (every update is
        // one insert or remove), so a poisoned lock is still consistent.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl NonceLedger for InMemoryNonceLedger {
    fn issue(&self, now: u64, ttl_secs: u64) -> Result<Nonce, NonceError> {
        if ttl_secs == 0 {
            return Err(NonceError::ZeroTtl);
        }
        let mut entries = self.lock();
        if entries.len() >= self.max_outstanding {
            entries.retain(|_, e| e.expires_at() > now);
            if entries.len() >= self.max_outstanding {
                return Err(NonceError::LedgerFull {
                    outstanding: entries.len(),
                });
            }
        }
        let nonce = Nonce::random()?;
        entries.insert(
            nonce.clone(),
            Entry::Live {
                expires_at: now.saturating_add(ttl_secs),
            },
        );
        Ok(nonce)
    }

    fn consume(&self, nonce: &Nonce, now: u64) -> Result<(), NonceError> {
        let mut entries = self.lock();
        match entries.get(nonce).copied() {
            None => Err(NonceError::Unknown),
            Some(Entry::Consumed { .. }) => Err(NonceError::Replayed),
            Some(Entry::Live { expires_at }) if now >= expires_at => {
                entries.remove(nonce);
                Err(NonceError::Expired {
                    expired_at: expires_at,
                    now,
                })
            }
            Some(Entry::Live { expires_at }) => {
                entries.insert(nonce.clone(), Entry::Consumed { expires_at });
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_consumed_once_and_a_replay_is_refused() {
        let ledger = InMemoryNonceLedger::default();
        let nonce = ledger.issue(1_000, 60).unwrap();
        assert_eq!(nonce.as_bytes().len(), ISSUED_NONCE_LEN);
        assert_eq!(ledger.consume(&nonce, 1_010), Ok(()));
        assert_eq!(ledger.consume(&nonce, 1_011), Err(NonceError::Replayed));
    }

    #[test]
    fn a_nonce_past_its_ttl_is_expired_then_unknown() {
        let ledger = InMemoryNonceLedger::default();
        let nonce = ledger.issue(1_000, 60).unwrap();
        assert_eq!(
            ledger.consume(&nonce, 1_060),
            Err(NonceError::Expired {
                expired_at: 1_060,
                now: 1_060
            })
        );
        assert_eq!(ledger.consume(&nonce, 1_061), Err(NonceError::Unknown));
    }

    #[test]
    fn a_nonce_the_ledger_never_issued_is_unknown() {
        let ledger = InMemoryNonceLedger::default();
        let _ = ledger.issue(1_000, 60).unwrap();
        let stranger = Nonce::new(vec![7; 32]).unwrap();
        assert_eq!(ledger.consume(&stranger, 1_001), Err(NonceError::Unknown));
    }

    #[test]
    fn issued_nonces_differ() {
        let ledger = InMemoryNonceLedger::default();
        let a = ledger.issue(0, 60).unwrap();
        let b = ledger.issue(0, 60).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn a_full_ledger_refuses_then_frees_expired_entries() {
        let ledger = InMemoryNonceLedger::with_capacity(2);
        ledger.issue(0, 10).unwrap();
        ledger.issue(0, 10).unwrap();
        assert_eq!(
            ledger.issue(5, 10),
            Err(NonceError::LedgerFull { outstanding: 2 })
        );
        // Both entries have expired by t=10, so they are pruned and issuing works again.
        ledger.issue(10, 10).unwrap();
        assert_eq!(ledger.len(), 1);
    }

    #[test]
    fn zero_ttl_is_refused() {
        let ledger = InMemoryNonceLedger::default();
        assert_eq!(ledger.issue(0, 0), Err(NonceError::ZeroTtl));
    }

    #[test]
    fn nonce_length_follows_eat() {
        assert!(Nonce::new(vec![0; 7]).is_err());
        assert!(Nonce::new(vec![0; 8]).is_ok());
        assert!(Nonce::new(vec![0; 64]).is_ok());
        assert!(Nonce::new(vec![0; 65]).is_err());
    }

    #[test]
    fn concurrent_consumers_of_one_nonce_get_one_success() {
        let ledger = std::sync::Arc::new(InMemoryNonceLedger::default());
        let nonce = ledger.issue(0, 60).unwrap();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let ledger = ledger.clone();
                let nonce = nonce.clone();
                std::thread::spawn(move || ledger.consume(&nonce, 1).is_ok())
            })
            .collect();
        let successes = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|ok| *ok)
            .count();
        assert_eq!(successes, 1);
    }
}
