//! Process-crash test for the redb store: a child process writes as fast as it
//! can and reports each write only after the store acknowledged it; the parent
//! kills it with SIGKILL at a random moment, reopens the file and checks that
//! every acknowledged write is there and the event log has no holes.
//!
//! This is not a power cut: the kernel's page cache outlives the process, so
//! a write that was never fsync'd still reaches the file and a missing fsync
//! goes unnoticed here. `power_cut/` covers that, on a simulated disk that
//! loses whatever was not synced. What this test adds is the real thing: a
//! real file, a real process death at an arbitrary instruction, real redb
//! file locks released by the kernel.
//!
//! The child is this same test binary, re-run with `--exact crash_child` and
//! [`CHILD_ENV`] set; in a normal run `crash_child` does nothing.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use corridor_store::{Compare, CompareOp, Op, RedbOptions, RedbStore, Revision, StateStore, Txn};
use futures::StreamExt;
use rand::Rng;

const CHILD_ENV: &str = "CORRIDOR_STORE_CRASH_CHILD";
const ROUND_ENV: &str = "CORRIDOR_STORE_CRASH_ROUND";
const ROUNDS: usize = 30;
const PUT_TASKS: usize = 4;
const INC_TASKS: usize = 4;
const COUNTER: &str = "/crash/counter";
/// Starts each report: the harness prints "test crash_child ... " without a
/// newline, so the first report shares a line with it.
const MARKER: &str = "crash-report: ";

#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let round: usize = std::env::var(ROUND_ENV).unwrap().parse().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let store: Arc<dyn StateStore> =
            Arc::new(RedbStore::open(&path, RedbOptions::default()).unwrap());
        report("READY");
        let mut tasks = Vec::new();
        for task in 0..PUT_TASKS {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                for seq in 0.. {
                    let key = format!("/crash/{round}/{task}/{seq}");
                    let revision = store
                        .put(&key, key.clone().into_bytes(), None)
                        .await
                        .unwrap();
                    report(&format!("PUT {key} {revision}"));
                }
            }));
        }
        for _ in 0..INC_TASKS {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                loop {
                    let current = store.get(COUNTER).await.unwrap();
                    let (guard, value) = match &current {
                        None => (Compare::absent(COUNTER), 0),
                        Some(kv) => (
                            Compare::mod_revision(COUNTER, CompareOp::Equal, kv.mod_revision),
                            parse_counter(&kv.value),
                        ),
                    };
                    let txn = Txn::new()
                        .when([guard])
                        .and_then([Op::put(COUNTER, (value + 1).to_string())]);
                    let response = store.txn(txn).await.unwrap();
                    if response.succeeded {
                        report(&format!("INC {} {}", value + 1, response.revision));
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
}

/// Writes a line straight to the process's stdout (not the test harness's
/// capture) and flushes, so the parent has it before the next write starts.
fn report(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{MARKER}{line}").unwrap();
    out.flush().unwrap();
}

fn parse_counter(value: &[u8]) -> u64 {
    std::str::from_utf8(value).unwrap().parse().unwrap()
}

/// Kills the child (by pid, SIGKILL) and reaps it however the test ends.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Default)]
struct Acknowledged {
    puts: Vec<(String, Revision)>,
    increments: Vec<(u64, Revision)>,
}

fn run_child(path: &Path, round: usize, rng: &mut impl Rng) -> Acknowledged {
    let mut child = ChildGuard(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, path)
            .env(ROUND_ENV, round.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    let mut acknowledged = Acknowledged::default();
    let report_in = |line: &str| {
        line.find(MARKER)
            .map(|at| line[at + MARKER.len()..].to_owned())
    };
    let record = |line: String, acknowledged: &mut Acknowledged| {
        let Some(report) = report_in(&line) else {
            return; // the test harness's own chatter
        };
        let fields: Vec<_> = report.split_whitespace().collect();
        match fields.as_slice() {
            ["PUT", key, revision] => acknowledged
                .puts
                .push((key.to_string(), revision.parse().unwrap())),
            ["INC", value, revision] => acknowledged
                .increments
                .push((value.parse().unwrap(), revision.parse().unwrap())),
            other => panic!("unexpected report {other:?}"),
        }
    };

    // Kill only once the store is open, at a random point of the write storm.
    let ready_by = Instant::now() + Duration::from_secs(20);
    loop {
        let wait = ready_by.saturating_duration_since(Instant::now());
        match lines.recv_timeout(wait) {
            Ok(line) if report_in(&line).as_deref() == Some("READY") => break,
            Ok(line) => record(line, &mut acknowledged),
            Err(_) => panic!("round {round}: child never became ready"),
        }
    }
    std::thread::sleep(Duration::from_millis(rng.random_range(5..150)));
    child.0.kill().unwrap();
    let status = child.0.wait().unwrap();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.0.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "round {round}: the child stopped by itself ({status}):\n{stderr}"
    );
    reader.join().unwrap();
    for line in lines.try_iter() {
        record(line, &mut acknowledged);
    }
    acknowledged
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.redb");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rng = rand::rng();
    let mut all_puts: BTreeMap<String, Revision> = BTreeMap::new();
    let mut counter = 0u64;
    let mut checked_through: Revision = 1;
    let mut total_increments = 0;
    let mut rounds_with_a_log_to_replay = 0;

    for round in 0..ROUNDS {
        let acked = run_child(&path, round, &mut rng);
        if corridor_store::wal_paths(&path)
            .iter()
            .any(|log| corridor_store::wal_pending_records(log).unwrap() > 0)
        {
            rounds_with_a_log_to_replay += 1;
        }
        all_puts.extend(acked.puts.iter().cloned());
        total_increments += acked.increments.len();

        let store = RedbStore::open(&path, RedbOptions::default()).unwrap();
        runtime.block_on(async {
            for (key, revision) in &all_puts {
                let kv = store
                    .get(key)
                    .await
                    .unwrap()
                    .unwrap_or_else(|| panic!("round {round}: acknowledged {key}@{revision} is lost"));
                assert_eq!(kv.value, key.as_bytes(), "round {round}: {key}");
                assert_eq!(kv.mod_revision, *revision, "round {round}: {key}");
            }

            let now = store.get(COUNTER).await.unwrap().map_or(0, |kv| parse_counter(&kv.value));
            let acked_count = acked.increments.len() as u64;
            assert!(
                now >= counter + acked_count && now <= counter + acked_count + INC_TASKS as u64,
                "round {round}: counter went {counter} -> {now} with {acked_count} acknowledged increments"
            );
            let mut values = HashSet::new();
            for (value, revision) in &acked.increments {
                assert!(values.insert(*value), "round {round}: two increments acknowledged {value}");
                assert!(*value <= now, "round {round}: acknowledged {value}@{revision} is lost");
            }
            counter = now;

            let current = store.current_revision().await.unwrap();
            check_log(&store, checked_through + 1, current, round).await;
            checked_through = current;
        });
    }
    assert!(
        all_puts.len() > ROUNDS && total_increments > ROUNDS,
        "the children barely wrote ({} puts, {total_increments} increments): the test proves nothing",
        all_puts.len()
    );

    assert!(
        rounds_with_a_log_to_replay > 0,
        "no kill left write-ahead log records behind: replay was never exercised"
    );
    eprintln!(
        "{} puts and {total_increments} increments acknowledged across {ROUNDS} SIGKILLs \
         ({rounds_with_a_log_to_replay} left log records to replay); none lost",
        all_puts.len()
    );

    // One last pass over the whole log, from the first revision ever written.
    let store = RedbStore::open(&path, RedbOptions::default()).unwrap();
    runtime.block_on(async {
        let current = store.current_revision().await.unwrap();
        check_log(&store, 2, current, ROUNDS).await;
    });
}

/// Every revision in `from..=to` has events, in order, each exactly once.
async fn check_log(store: &RedbStore, from: Revision, to: Revision, round: usize) {
    if from > to {
        return;
    }
    let mut watch = store.watch("", from).await.unwrap();
    let mut expected = from;
    let mut keys_at_revision = HashSet::new();
    while expected <= to {
        let event = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .unwrap_or_else(|_| panic!("round {round}: log stops before revision {expected}"))
            .unwrap()
            .unwrap();
        let revision = event.revision();
        if revision == expected - 1 {
            assert!(
                keys_at_revision.insert(event.kv.key.clone()),
                "round {round}: {} twice at revision {revision}",
                event.kv.key
            );
            continue;
        }
        assert_eq!(
            revision, expected,
            "round {round}: hole or repeat in the event log"
        );
        keys_at_revision.clear();
        keys_at_revision.insert(event.kv.key);
        expected += 1;
    }
}
