//! Nonces: where the requester's come from, and the memory of the responders' ones.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use corridor_protocols::spdm::NONCE_LEN;

/// A source of 32-byte requester nonces.
pub trait NonceSource: Send {
    fn next_nonce(&mut self) -> [u8; NONCE_LEN];
}

/// Fresh nonces from aws-lc's system random generator (the default).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemNonces;

impl NonceSource for SystemNonces {
    fn next_nonce(&mut self) -> [u8; NONCE_LEN] {
        let mut n = [0u8; NONCE_LEN];
        // aws-lc's RNG fails only if the OS has no entropy source, which no
        // attestation can survive; an all-zero nonce would be a silent replay hole.
        aws_lc_rs::rand::fill(&mut n).expect("the system random generator failed");
        n
    }
}

/// Fixed nonces, in order, for replaying recorded transcripts; then repeats the last.
#[derive(Debug, Clone)]
pub struct FixedNonces {
    nonces: Vec<[u8; NONCE_LEN]>,
    next: usize,
}

impl FixedNonces {
    #[must_use]
    pub fn new(nonces: Vec<[u8; NONCE_LEN]>) -> Self {
        FixedNonces { nonces, next: 0 }
    }
}

impl NonceSource for FixedNonces {
    fn next_nonce(&mut self) -> [u8; NONCE_LEN] {
        let n = self
            .nonces
            .get(self.next)
            .or(self.nonces.last())
            .copied()
            .unwrap_or([0u8; NONCE_LEN]);
        self.next += 1;
        n
    }
}

/// Recent nonces: insertion order (to forget the oldest) and a set (to look up).
type Seen = (VecDeque<[u8; NONCE_LEN]>, HashSet<[u8; NONCE_LEN]>);

/// The responder nonces seen recently (bounded, oldest forgotten first). A responder must
/// answer every CHALLENGE and signed GET_MEASUREMENTS with a fresh nonce; one seen before
/// means a replayed answer.
#[derive(Debug)]
pub struct NonceHistory {
    capacity: usize,
    inner: Mutex<Seen>,
}

impl NonceHistory {
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        NonceHistory {
            capacity: capacity.max(1),
            inner: Mutex::new((VecDeque::new(), HashSet::new())),
        }
    }

    /// Whether `nonce` was recorded and not yet forgotten.
    #[must_use]
    pub fn seen(&self, nonce: &[u8; NONCE_LEN]) -> bool {
        self.lock().1.contains(nonce)
    }

    /// Records `nonce`.
    pub fn record(&self, nonce: [u8; NONCE_LEN]) {
        let mut g = self.lock();
        if g.1.insert(nonce) {
            g.0.push_back(nonce);
            if g.0.len() > self.capacity
                && let Some(old) = g.0.pop_front()
            {
                g.1.remove(&old);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for NonceHistory {
    /// Enough for a few attestations of every device of a large rack.
    fn default() -> Self {
        NonceHistory::new(65_536)
    }
}
