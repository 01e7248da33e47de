//! Resource ids in the RFC's style (`cor-7af3`, `ffm-9c2e`): a kind prefix
//! and hex digits.
//!
//! The RFC's examples show 4 hex digits; we use 20 (80 bits): the creation
//! time in milliseconds since the Unix epoch (44 bits, until the year 2527),
//! then 36 random bits.
//!
//! Time first, because the store keeps its keys in a B-tree and every
//! object's keys are named by its id. With random ids each create and
//! delete rewrote a random page of each of the object's tables, so the
//! pages a checkpoint writes and frees grew with the number of requests
//! (about 10 MiB every 250 ms under memqosd's alloc/free load); ids that grow
//! with time put new objects' keys beside each other, and a burst of
//! short-lived objects rewrites a handful of pages (BENCHMARKS.md, "Ids in
//! creation order"). Ids made by one process only grow, so they never
//! repeat; two processes collide only by drawing the same 36 bits in the
//! same millisecond, and the create transaction still refuses a duplicate.
//! An id is never reused over time either, so a released corridor's kept
//! history cannot be mixed with a later one's.
//!
//! A replay's clock numbers ids itself (`Clock::next_id`, CorridorLabs), so
//! every id is asked of the clock of the service that makes it.

use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use corridor_hal::Clock;
use rand::Rng;

/// Bits of an id below its millisecond.
const RANDOM_BITS: u32 = 36;
/// Bits of an id's millisecond.
const TIME_BITS: u32 = 44;

/// The largest id value this process has handed out.
static LAST: Mutex<u128> = Mutex::new(0);

/// The id of a new resource of kind `prefix`: the clock's, if it numbers
/// ids (a scenario replay), else one in creation order.
pub fn new_id(clock: &dyn Clock, prefix: &str) -> String {
    clock
        .next_id(prefix)
        .unwrap_or_else(|| time_ordered_id(prefix))
}

fn time_ordered_id(prefix: &str) -> String {
    // Wall time of the machine, not the service's clock: the order is for the
    // store's pages, and a twin's clock may run fast or be set by a test.
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis())
        & ((1 << TIME_BITS) - 1);
    let random = u128::from(rand::rng().random::<u64>() & ((1 << RANDOM_BITS) - 1));
    let drawn = (millis << RANDOM_BITS) | random;
    let value = {
        let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
        // Within a millisecond (or after the clock stepped back) the draw may
        // not exceed the last id: take the next value instead, so ids from
        // one process strictly grow and cannot repeat.
        let value = if drawn > *last { drawn } else { *last + 1 };
        *last = value;
        value
    };
    let digits = ((TIME_BITS + RANDOM_BITS) / 4) as usize;
    format!("{prefix}-{value:0digits$x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_prefix_and_twenty_hex_digits() {
        let wall = corridor_hal::WallClock;
        let id = new_id(&wall, "op");
        assert!(id.starts_with("op-"));
        assert_eq!(id.len(), 23);
        assert!(id[3..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(new_id(&wall, "op"), new_id(&wall, "op"));
    }

    #[test]
    fn ids_made_one_after_another_sort_in_that_order() {
        let wall = corridor_hal::WallClock;
        // Many per millisecond, so most are ordered by the step past the
        // last id rather than by the clock.
        let ids: Vec<String> = (0..20_000).map(|_| new_id(&wall, "ffm")).collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "not in order");
    }

    #[test]
    fn an_id_starts_with_its_creation_time() {
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let id = new_id(&corridor_hal::WallClock, "cor");
        let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let value = u128::from_str_radix(&id[4..], 16).unwrap();
        let millis = value >> RANDOM_BITS;
        // The step past the last id can carry into the millisecond, by far
        // less than a second even after the order test above.
        assert!(millis >= before.as_millis(), "{id}: before {before:?}");
        assert!(millis <= after.as_millis() + 1_000, "{id}: after {after:?}");
    }

    #[test]
    fn ids_from_threads_at_once_never_repeat() {
        let ids: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        (0..5_000)
                            .map(|_| new_id(&corridor_hal::WallClock, "op"))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
    }
}
