//! A linearizability checker for the grant ledger, after Wing & Gong and
//! Lowe (the search Knossos and Porcupine run), decomposed per key.
//!
//! The model is the ledger of held resources: a map key → holder, where a
//! key is one (port, module lane). A grant of corridor `c` takes each of
//! its keys, which must be free; a release of `c` frees each key `c`
//! holds; a read observes each key's holder. Every key is an independent
//! lock object (an operation on a corridor touches its keys and nothing
//! else, and a grant takes all or none of them atomically, so a history is
//! linearizable iff its projection on every key is: P-compositionality,
//! Horn & Kroening 2015). The search per key is small: a lock admits one
//! holder at a time, so few operations are ever candidates together.
//!
//! Operations carry their invocation and completion times. One whose
//! outcome is unknown (a timeout, a broken connection, a 5xx) never
//! completed: it may be linearized at any point after its invocation, or
//! not at all (it may not have taken effect). One that definitely failed
//! took no effect and is left out.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;

/// What came of an operation, as its client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged: it took effect between invocation and completion.
    Ok,
    /// Refused: it took no effect.
    Failed,
    /// No answer: it took effect at some point after its invocation, or
    /// never.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<K> {
    /// The corridor takes every key in the set.
    Grant(Vec<K>),
    /// The corridor frees every key in the set (the keys it was granted).
    Release(Vec<K>),
    /// At this moment each key's holder was as given (`None`: free).
    Read(Vec<(K, Option<String>)>),
}

/// One client operation.
#[derive(Debug, Clone)]
pub struct Operation<K> {
    pub client: usize,
    /// When it was sent, in any monotonic unit (the test uses µs since
    /// the run began).
    pub invoke: u64,
    /// When its answer arrived; `None` for an unknown outcome.
    pub complete: Option<u64>,
    pub outcome: Outcome,
    /// The corridor granted or released (empty for a read).
    pub corridor: String,
    pub action: Action<K>,
}

/// Why a history is not linearizable: the key whose history admits no
/// order, and where the search got furthest.
#[derive(Debug)]
pub struct Violation<K> {
    pub key: K,
    /// How many of the key's operations there are.
    pub operations: usize,
    /// The most operations any order could linearize before it was stuck.
    pub linearized: usize,
    /// The key's holder at that point.
    pub holder: Option<String>,
    /// The operations that could have gone next there (in real time) but
    /// that the lock refused: the witness.
    pub stuck: Vec<Operation<K>>,
    /// The search gave up (too many configurations) rather than refuted.
    pub inconclusive: bool,
}

impl<K: Debug> std::fmt::Display for Violation<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.inconclusive {
            return write!(
                f,
                "the search gave up on key {:?} ({} operations)",
                self.key, self.operations
            );
        }
        writeln!(
            f,
            "no linearization of the {} operations on key {:?}: at best {} go in order, \
             the key then held by {:?}, and none of these can go next:",
            self.operations, self.key, self.linearized, self.holder
        )?;
        for op in &self.stuck {
            writeln!(
                f,
                "  client {:>3} [{} .. {}] {:?} {} {}",
                op.client,
                op.invoke,
                op.complete
                    .map_or_else(|| "?".to_owned(), |c| c.to_string()),
                op.outcome,
                kind(&op.action),
                op.corridor,
            )?;
        }
        Ok(())
    }
}

fn kind<K>(action: &Action<K>) -> &'static str {
    match action {
        Action::Grant(_) => "grant",
        Action::Release(_) => "release",
        Action::Read(_) => "read",
    }
}

/// Configurations one key's search may visit before it gives up.
const BUDGET: usize = 2_000_000;

/// What one operation does to one key, with the holder interned.
#[derive(Debug, Clone, Copy)]
enum Step {
    Take(u32),
    Free(u32),
    Observe(Option<u32>),
}

#[derive(Debug, Clone, Copy)]
struct KeyOp {
    invoke: u64,
    /// `u64::MAX` when unknown.
    complete: u64,
    /// It may also have taken no effect.
    optional: bool,
    step: Step,
}

/// Checks a whole history; the first key without a linearization.
pub fn check<K: Ord + Clone + Debug>(history: &[Operation<K>]) -> Result<(), Violation<K>> {
    let mut names: BTreeMap<String, u32> = BTreeMap::new();
    let mut intern = |name: &str| -> u32 {
        let next = names.len() as u32;
        *names.entry(name.to_owned()).or_insert(next)
    };
    let mut per_key: BTreeMap<K, (Vec<KeyOp>, Vec<usize>)> = BTreeMap::new();
    for (index, op) in history.iter().enumerate() {
        if op.outcome == Outcome::Failed {
            continue;
        }
        let complete = match (op.outcome, op.complete) {
            (Outcome::Ok, Some(at)) => at,
            _ => u64::MAX,
        };
        let optional = op.outcome == Outcome::Unknown;
        let mut add = |key: &K, step: Step| {
            let entry = per_key.entry(key.clone()).or_default();
            entry.0.push(KeyOp {
                invoke: op.invoke,
                complete,
                optional,
                step,
            });
            entry.1.push(index);
        };
        match &op.action {
            Action::Grant(keys) => {
                let holder = intern(&op.corridor);
                for key in keys {
                    add(key, Step::Take(holder));
                }
            }
            Action::Release(keys) => {
                let holder = intern(&op.corridor);
                for key in keys {
                    add(key, Step::Free(holder));
                }
            }
            Action::Read(observed) => {
                for (key, holder) in observed {
                    let holder = holder.as_deref().map(&mut intern);
                    add(key, Step::Observe(holder));
                }
            }
        }
    }
    let name_of: BTreeMap<u32, String> = names.into_iter().map(|(n, i)| (i, n)).collect();
    for (key, (ops, indices)) in per_key {
        if let Err(stuck) = check_key(&ops) {
            return Err(Violation {
                key,
                operations: ops.len(),
                linearized: stuck.linearized,
                holder: stuck.holder.and_then(|h| name_of.get(&h).cloned()),
                stuck: stuck
                    .candidates
                    .iter()
                    .map(|&i| history[indices[i]].clone())
                    .collect(),
                inconclusive: stuck.inconclusive,
            });
        }
    }
    Ok(())
}

/// The state of the lock after `op` takes effect from `holder`, if it can.
fn successors(holder: Option<u32>, op: &KeyOp) -> Vec<Option<u32>> {
    let mut next = Vec::with_capacity(1);
    match op.step {
        Step::Take(c) if holder.is_none() => next.push(Some(c)),
        Step::Free(c) if holder == Some(c) => next.push(None),
        Step::Observe(seen) if seen == holder => next.push(holder),
        _ => {}
    }
    // An optional operation that took no effect is simply never
    // linearized: the search ends once every required one is.
    next
}

/// Where one key's search got furthest.
struct Stuck {
    linearized: usize,
    holder: Option<u32>,
    /// Operations that could go next in real time there.
    candidates: Vec<usize>,
    inconclusive: bool,
}

/// Depth-first search for an order of one key's operations that respects
/// real time (an operation goes before every one invoked after it
/// completed) and the lock's rules, memoising the configurations (set of
/// operations linearized, holder) already visited.
fn check_key(ops: &[KeyOp]) -> Result<(), Stuck> {
    let n = ops.len();
    let words = n.div_ceil(64);
    let required = ops.iter().filter(|op| !op.optional).count();
    let mut seen: HashSet<(Vec<u64>, Option<u32>)> = HashSet::new();
    let mut deepest = Stuck {
        linearized: 0,
        holder: None,
        candidates: Vec::new(),
        inconclusive: false,
    };
    // (done set, holder, how many operations are done, how many of them required)
    let mut stack: Vec<(Vec<u64>, Option<u32>, usize, usize)> = vec![(vec![0; words], None, 0, 0)];
    while let Some((done, holder, done_count, required_done)) = stack.pop() {
        if required_done == required {
            // What is left may all have taken no effect.
            return Ok(());
        }
        if !seen.insert((done.clone(), holder)) {
            continue;
        }
        if seen.len() > BUDGET {
            deepest.inconclusive = true;
            return Err(deepest);
        }
        let is_done = |i: usize| done[i / 64] & (1 << (i % 64)) != 0;
        // An operation may go next only if no pending one completed
        // before it was invoked.
        let earliest_completion = (0..n)
            .filter(|&i| !is_done(i))
            .map(|i| ops[i].complete)
            .min()
            .unwrap_or(u64::MAX);
        let candidates: Vec<usize> = (0..n)
            .filter(|&i| !is_done(i) && ops[i].invoke <= earliest_completion)
            .collect();
        if done_count >= deepest.linearized {
            deepest.linearized = done_count;
            deepest.holder = holder;
            deepest.candidates.clone_from(&candidates);
        }
        for i in candidates {
            for next in successors(holder, &ops[i]) {
                let mut after = done.clone();
                after[i / 64] |= 1 << (i % 64);
                let required_done = required_done + usize::from(!ops[i].optional);
                stack.push((after, next, done_count + 1, required_done));
            }
        }
    }
    Err(deepest)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Key = (&'static str, u8);

    fn op(
        client: usize,
        invoke: u64,
        complete: Option<u64>,
        outcome: Outcome,
        corridor: &str,
        action: Action<Key>,
    ) -> Operation<Key> {
        Operation {
            client,
            invoke,
            complete,
            outcome,
            corridor: corridor.to_owned(),
            action,
        }
    }

    fn lanes() -> Vec<Key> {
        vec![("p0", 0), ("p0", 1)]
    }

    #[test]
    fn grants_released_in_between_are_linearizable() {
        let history = vec![
            op(0, 0, Some(10), Outcome::Ok, "a", Action::Grant(lanes())),
            // Overlaps a's release in real time: the release may go first.
            op(1, 15, Some(40), Outcome::Ok, "b", Action::Grant(lanes())),
            op(0, 12, Some(30), Outcome::Ok, "a", Action::Release(lanes())),
            op(1, 50, Some(60), Outcome::Ok, "b", Action::Release(lanes())),
            // A refusal takes no effect; an unknown grant may have.
            op(
                2,
                55,
                Some(70),
                Outcome::Failed,
                "c",
                Action::Grant(lanes()),
            ),
            op(3, 65, None, Outcome::Unknown, "d", Action::Grant(lanes())),
            op(
                4,
                100,
                Some(100),
                Outcome::Ok,
                "",
                Action::Read(vec![(("p0", 0), Some("d".into()))]),
            ),
            op(
                4,
                101,
                Some(101),
                Outcome::Ok,
                "",
                Action::Read(vec![(("p0", 1), Some("d".into()))]),
            ),
        ];
        check(&history).unwrap();
        // And the unknown grant may equally not have happened.
        let mut freed = history.clone();
        freed.truncate(6);
        freed.push(op(
            4,
            100,
            Some(100),
            Outcome::Ok,
            "",
            Action::Read(vec![(("p0", 0), None)]),
        ));
        check(&freed).unwrap();
    }

    #[test]
    fn two_overlapping_acknowledged_grants_of_one_lane_are_rejected() {
        let history = vec![
            op(0, 0, Some(10), Outcome::Ok, "a", Action::Grant(lanes())),
            // b is granted ("p0", 1) after a holds it, with no release of
            // a anywhere: a double grant.
            op(
                1,
                20,
                Some(30),
                Outcome::Ok,
                "b",
                Action::Grant(vec![("p0", 1), ("p1", 0)]),
            ),
            op(0, 40, Some(50), Outcome::Ok, "a", Action::Release(lanes())),
        ];
        let violation = check(&history).unwrap_err();
        assert_eq!(violation.key, ("p0", 1));
        assert!(!violation.inconclusive);
        assert!(violation.to_string().contains("no linearization"));
        // The witness: a holds the lane, and b's grant cannot go next.
        assert_eq!(violation.holder.as_deref(), Some("a"));
        assert!(violation.stuck.iter().any(|op| op.corridor == "b"));
    }

    #[test]
    fn a_release_acknowledged_before_a_grant_was_invoked_must_precede_it() {
        // a's release finished at 30; b's grant of the lane began at 40 and
        // succeeded, but a read at 50 still sees a: the release was lost.
        let history = vec![
            op(0, 0, Some(10), Outcome::Ok, "a", Action::Grant(lanes())),
            op(0, 20, Some(30), Outcome::Ok, "a", Action::Release(lanes())),
            op(
                9,
                50,
                Some(50),
                Outcome::Ok,
                "",
                Action::Read(vec![(("p0", 0), Some("a".into()))]),
            ),
        ];
        assert!(check(&history).is_err());
    }

    #[test]
    fn a_lost_acknowledged_grant_is_rejected() {
        let history = vec![
            op(0, 0, Some(10), Outcome::Ok, "a", Action::Grant(lanes())),
            op(
                9,
                50,
                Some(50),
                Outcome::Ok,
                "",
                Action::Read(vec![(("p0", 0), None)]),
            ),
        ];
        assert!(check(&history).is_err());
    }

    #[test]
    fn an_unknown_release_may_or_may_not_have_happened() {
        let base = vec![
            op(0, 0, Some(10), Outcome::Ok, "a", Action::Grant(lanes())),
            op(0, 20, None, Outcome::Unknown, "a", Action::Release(lanes())),
        ];
        for holder in [None, Some("a".to_owned())] {
            let mut history = base.clone();
            history.push(op(
                9,
                50,
                Some(50),
                Outcome::Ok,
                "",
                Action::Read(vec![(("p0", 0), holder)]),
            ));
            check(&history).unwrap();
        }
    }

    #[test]
    fn many_clients_on_one_lane_stay_cheap() {
        // 200 clients take turns on one lane, each grant overlapping the
        // previous release: the search must not blow up.
        let mut history = Vec::new();
        for i in 0..200u64 {
            let name = format!("c{i}");
            let t = i * 10;
            history.push(op(
                i as usize,
                t,
                Some(t + 12),
                Outcome::Ok,
                &name,
                Action::Grant(vec![("p0", 0)]),
            ));
            history.push(op(
                i as usize,
                t + 5,
                Some(t + 9),
                Outcome::Ok,
                &name,
                Action::Release(vec![("p0", 0)]),
            ));
            // Unknown grants sprinkled in, never resolved.
            history.push(op(
                1000 + i as usize,
                t,
                None,
                Outcome::Unknown,
                &format!("u{i}"),
                Action::Grant(vec![("p0", 0)]),
            ));
        }
        check(&history).unwrap();
    }
}
