//! Resource ids in the RFC's style (`cor-7af3`, `ffm-9c2e`): a kind prefix
//! and random hex.
//!
//! The RFC's examples show 4 hex digits; we use 12 (48 bits) so that ids
//! stay unique for the life of a store without a collision check costing a
//! round trip (the create transaction still refuses a duplicate).

use rand::Rng;

pub fn new_id(prefix: &str) -> String {
    let value: u64 = rand::rng().random::<u64>() & 0xffff_ffff_ffff;
    format!("{prefix}-{value:012x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_prefix_and_twelve_hex_digits() {
        let id = new_id("op");
        assert!(id.starts_with("op-"));
        assert_eq!(id.len(), 15);
        assert!(id[3..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(new_id("op"), new_id("op"));
    }
}
