//! Resource ids in the RFC's style (`cor-7af3`, `ffm-9c2e`): a kind prefix
//! and random hex.
//!
//! The RFC's examples show 4 hex digits; we use 12 (48 bits) so that ids
//! stay unique for the life of a store without a collision check costing a
//! round trip (the create transaction still refuses a duplicate).
//!
//! A replay's clock numbers ids itself (`Clock::next_id`, CorridorLabs), so
//! every id is asked of the clock of the service that makes it.

use corridor_hal::Clock;
use rand::Rng;

/// The id of a new resource of kind `prefix`: the clock's, if it numbers
/// ids (a scenario replay), else random.
pub fn new_id(clock: &dyn Clock, prefix: &str) -> String {
    clock.next_id(prefix).unwrap_or_else(|| random_id(prefix))
}

fn random_id(prefix: &str) -> String {
    let value: u64 = rand::rng().random::<u64>() & 0xffff_ffff_ffff;
    format!("{prefix}-{value:012x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_prefix_and_twelve_hex_digits() {
        let wall = corridor_hal::WallClock;
        let id = new_id(&wall, "op");
        assert!(id.starts_with("op-"));
        assert_eq!(id.len(), 15);
        assert!(id[3..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(new_id(&wall, "op"), new_id(&wall, "op"));
    }
}
