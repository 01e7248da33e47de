//! Notes that ride writes (`corridor_store::rider`) on the embedded store:
//! durable with the write that carried them, kept in the log until their
//! sink settles them, and handed back after a crash or a close.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corridor_store::rider::{Rider, carry};
use corridor_store::{Compare, NoteSink, Op, RedbOptions, RedbStore, StateStore, Txn};

/// A sink that keeps what it is told and settles only what a test allows.
#[derive(Debug, Default)]
struct Recorder {
    committed: Mutex<Vec<Vec<u8>>>,
    recovered: Mutex<Vec<Vec<u8>>>,
    /// Whether `settle` makes the notes durable (else it hands them all back).
    settles: bool,
}

impl NoteSink for Recorder {
    fn committed(&self, notes: Vec<Arc<[u8]>>) {
        let mut committed = self.committed.lock().unwrap();
        committed.extend(notes.iter().map(|n| n.to_vec()));
    }

    fn settle(&self) -> std::io::Result<Vec<Arc<[u8]>>> {
        if self.settles {
            return Ok(Vec::new());
        }
        let committed = self.committed.lock().unwrap();
        let recovered = self.recovered.lock().unwrap();
        Ok(committed
            .iter()
            .chain(recovered.iter())
            .map(|n| Arc::from(n.as_slice()))
            .collect())
    }

    fn recovered(&self, notes: Vec<Arc<[u8]>>) -> std::io::Result<()> {
        let mut recovered = self.recovered.lock().unwrap();
        recovered.extend(notes.iter().map(|n| n.to_vec()));
        Ok(())
    }
}

fn options() -> RedbOptions {
    RedbOptions {
        // No checkpoint while a test runs unless it closes the store.
        checkpoint_interval: Duration::from_secs(3600),
        ..RedbOptions::default()
    }
}

async fn open(dir: &Path, settles: bool) -> (RedbStore, Arc<Recorder>) {
    let store = RedbStore::open(dir.join("s.redb"), options()).unwrap();
    let sink = Arc::new(Recorder {
        settles,
        ..Recorder::default()
    });
    assert!(store.carry_notes(sink.clone()).await.unwrap());
    (store, sink)
}

/// Whether the write-ahead log at `path` holds a record: its first frame
/// header, after the 8-byte file header, is not zero (the log is
/// preallocated with zeros). Reads those 12 bytes, not the whole log.
fn holds_a_record(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 12];
    std::fs::File::open(path)
        .and_then(|mut file| file.read_exact(&mut head))
        .is_ok_and(|()| head[8..] != [0; 4])
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[tokio::test]
async fn a_note_is_durable_with_the_first_write_that_changes_something() {
    let dir = tempfile::tempdir().unwrap();
    let (store, sink) = open(dir.path(), true).await;

    let rider = Rider::new(b"first".to_vec());
    carry(rider.clone(), async {
        store.put("/a", b"1".to_vec(), None).await.unwrap();
        // The request's later writes do not log it again.
        store.put("/b", b"2".to_vec(), None).await.unwrap();
    })
    .await;
    assert!(rider.is_durable());
    assert_eq!(*sink.committed.lock().unwrap(), vec![b"first".to_vec()]);

    // A write that changes nothing reaches no log: its note is not durable.
    let lost = Rider::new(b"lost".to_vec());
    let refused = Txn::new()
        .when([Compare::absent("/a")])
        .and_then([Op::put("/a", b"x".to_vec())]);
    let response = carry(lost.clone(), store.txn(refused)).await.unwrap();
    assert!(!response.succeeded);
    assert!(!lost.is_durable());
    assert_eq!(sink.committed.lock().unwrap().len(), 1);

    // Without a rider, writes carry nothing.
    store.put("/c", b"3".to_vec(), None).await.unwrap();
    assert_eq!(sink.committed.lock().unwrap().len(), 1);
}

/// A crash after the write: the note is in the log, and the sink attached
/// on the next open receives it.
#[tokio::test]
async fn a_note_survives_a_crash_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _sink) = open(dir.path(), true).await;
    let rider = Rider::new(b"kept".to_vec());
    carry(rider.clone(), store.put("/a", b"1".to_vec(), None))
        .await
        .unwrap();
    assert!(rider.is_durable());
    let crashed = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), crashed.path());

    let (reopened, sink) = open(crashed.path(), true).await;
    assert!(reopened.get("/a").await.unwrap().is_some());
    assert_eq!(*sink.recovered.lock().unwrap(), vec![b"kept".to_vec()]);
}

/// A checkpoint empties the log: the notes the sink could not settle are
/// logged again, those it settled are gone, and notes recovered on open
/// stay in the log until a sink takes them.
#[tokio::test]
async fn unsettled_notes_outlive_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), false).await;
    carry(
        Rider::new(b"unsettled".to_vec()),
        store.put("/a", b"1".to_vec(), None),
    )
    .await
    .unwrap();
    drop(store); // the final checkpoint

    // Opened without a sink, then closed again: still there.
    drop(RedbStore::open(dir.path().join("s.redb"), options()).unwrap());

    let (store, sink) = open(dir.path(), true).await;
    assert_eq!(*sink.recovered.lock().unwrap(), vec![b"unsettled".to_vec()]);
    drop(store);

    // That sink settled everything at the last checkpoint.
    let (_store, sink) = open(dir.path(), true).await;
    assert!(sink.recovered.lock().unwrap().is_empty());
}

/// Checkpoints while the store runs: each switches logs and empties the
/// one left once a thread has settled its notes, carrying those the sink
/// could not settle into the next record. A crash at any point after many
/// of them still finds the unsettled note in a log.
#[tokio::test]
async fn unsettled_notes_are_carried_across_live_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let options = RedbOptions {
        checkpoint_interval: Duration::from_millis(5),
        ..RedbOptions::default()
    };
    let store = RedbStore::open(dir.path().join("s.redb"), options).unwrap();
    let sink = Arc::new(Recorder::default()); // settles nothing
    assert!(store.carry_notes(sink.clone()).await.unwrap());
    carry(
        Rider::new(b"unsettled".to_vec()),
        store.put("/a", b"1".to_vec(), None),
    )
    .await
    .unwrap();
    let wal2 = dir.path().join("s.redb.wal2");
    let mut switched = false;
    for i in 0..40 {
        store
            .put("/b", i.to_string().into_bytes(), None)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        switched |= holds_a_record(&wal2);
    }
    assert!(switched, "no checkpoint switched to the other log");
    let crashed = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), crashed.path());

    let (reopened, sink) = open(crashed.path(), true).await;
    assert!(reopened.get("/a").await.unwrap().is_some());
    assert!(
        sink.recovered
            .lock()
            .unwrap()
            .contains(&b"unsettled".to_vec()),
        "the unsettled note was lost at a checkpoint"
    );
}
