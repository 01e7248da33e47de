//! The history's background tasks: a sampler that records each lit
//! corridor's latest read-back and each memory bundle's modelled figures
//! every interval, a follower of the store's
//! watch that records every version of every corridor object, and a
//! pruning pass that removes what retention has passed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use corridor_model::corridor::CorridorStatus;
use corridor_model::history::HistoryChangeType;
use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::log::HistoryLog;
use super::record::{Record, StoredBundleSample, StoredChange, StoredSample};
use super::{HistoryError, HistoryService, HistorySettings, on_files};
use crate::ResourceEventType;
use crate::corridors::error::CorridorError;

/// A read-back older than this is not sampled: the reconciler reads every
/// lit corridor every second, so an older one means it has fallen behind
/// (the same bound `/metrics` shows figures within).
const FRESH: Duration = Duration::from_secs(10);

/// The running tasks; [`RecorderHandle::stop`] ends them.
#[derive(Debug)]
pub struct RecorderHandle {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RecorderHandle {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

pub(super) async fn spawn(
    service: Arc<HistoryService>,
    log: Arc<HistoryLog>,
    dir: PathBuf,
    settings: HistorySettings,
) -> Result<RecorderHandle, HistoryError> {
    // Changes are followed from the revision after the current one, read
    // before returning: every write after this call is recorded. What
    // changed while corridord was down is not (its samples still name the
    // revision they were taken at).
    let current = service.store.current_revision().await.map_err(|e| {
        HistoryError::Corridor(
            crate::ServiceError::store("read the store's revision for the history")(e).into(),
        )
    })?;
    let (stop, stopped) = watch::channel(false);
    let sampler = tokio::spawn(sample_loop(
        Arc::clone(&service),
        Arc::clone(&log),
        dir.clone(),
        settings,
        stopped.clone(),
    ));
    let follower = tokio::spawn(follow_changes(service, log, dir, current + 1, stopped));
    Ok(RecorderHandle {
        stop,
        tasks: vec![sampler, follower],
    })
}

async fn stopped_now(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

async fn sample_loop(
    service: Arc<HistoryService>,
    log: Arc<HistoryLog>,
    dir: PathBuf,
    settings: HistorySettings,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(settings.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Pruning is cheap (a directory listing) and retention is removed in
    // whole segments, so once a segment span (at most a minute) is enough.
    let span = Duration::from_millis(super::window::segment_span_ms(settings.retention) as u64);
    let prune_every = span.min(Duration::from_secs(60));
    let mut last_prune: Option<tokio::time::Instant> = None;
    // Newest sample recorded per corridor: a read-back is recorded once.
    let mut newest: HashMap<String, i64> = HashMap::new();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stopped_now(&mut stopped) => return,
        }
        if let Err(e) = sample_once(&service, &log, &dir, &mut newest).await {
            tracing::warn!(error = %crate::error::error_chain(&e), "history: sampling failed");
        }
        if last_prune.is_none_or(|at| at.elapsed() >= prune_every) {
            last_prune = Some(tokio::time::Instant::now());
            let now = service.wall.now();
            let pruner = Arc::clone(&log);
            match on_files(&dir, move || pruner.prune(now, settings.retention)).await {
                Ok(pruned) if pruned.files > 0 => tracing::debug!(
                    files = pruned.files,
                    bytes = pruned.bytes,
                    "history: pruned"
                ),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %crate::error::error_chain(&e), "history: pruning failed")
                }
            }
        }
    }
}

/// Records the latest read-back of every lit corridor not recorded yet, and
/// every bundle's modelled figures now.
async fn sample_once(
    service: &HistoryService,
    log: &Arc<HistoryLog>,
    dir: &std::path::Path,
    newest: &mut HashMap<String, i64>,
) -> Result<(), HistoryError> {
    let corridors = service.corridors.list_all().await?;
    newest.retain(|id, _| corridors.iter().any(|c| &c.id == id));
    let mut batch: Vec<(String, Record)> = Vec::new();
    for corridor in &corridors {
        if !matches!(
            corridor.status,
            CorridorStatus::Active | CorridorStatus::Degraded
        ) {
            continue;
        }
        let telemetry = match service.corridors.latest_telemetry(corridor, FRESH).await {
            Ok(Some(t)) => t,
            // No fresh read-back, or lanes dark since the list: no sample.
            Ok(None) | Err(CorridorError::NotLit { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        let revision = corridor.meta.resource_version.parse().unwrap_or(0);
        // All lanes are lit (else there is no telemetry): the eye as the
        // reconciler judges it.
        let eye = crate::corridors::optics::eye_margin(
            telemetry.pre_fec_ber.unwrap_or(telemetry.ber),
            true,
        );
        let Some(sample) = StoredSample::of(&telemetry, revision, eye) else {
            continue;
        };
        if newest
            .get(&corridor.id)
            .is_some_and(|&at| at >= sample.at_us)
        {
            continue;
        }
        newest.insert(corridor.id.clone(), sample.at_us);
        batch.push((corridor.id.clone(), Record::Sample(sample)));
    }
    // Bundles: memqosd keeps no history of its own, and its model's figures
    // move only when the ledger or a policy window changes, so each
    // interval's reading is what the series is made of.
    for reading in service.ffm.readings().await {
        batch.push((
            reading.id.clone(),
            Record::Bundle(StoredBundleSample::of(&reading)),
        ));
    }
    append(log, dir, batch).await
}

/// Records every version of every corridor object from revision `next`
/// on, as the store's watch delivers them.
async fn follow_changes(
    service: Arc<HistoryService>,
    log: Arc<HistoryLog>,
    dir: PathBuf,
    mut next: corridor_store::Revision,
    mut stopped: watch::Receiver<bool>,
) {
    let mut failed_starts = 0;
    loop {
        let events = tokio::select! {
            events = service.corridors.watch_stored(next) => events,
            _ = stopped_now(&mut stopped) => return,
        };
        let mut events = match events {
            Ok(events) => {
                failed_starts = 0;
                events
            }
            Err(e) => {
                failed_starts += 1;
                tracing::warn!(error = %crate::error::error_chain(&e), from = next, "history: cannot follow corridor changes");
                if failed_starts >= 2 {
                    // Twice refused (the revision compacted away): go on
                    // from now, saying which changes are not recorded.
                    if let Ok(current) = service.store.current_revision().await {
                        tracing::warn!(
                            from = next,
                            to = current,
                            "history: corridor changes in these revisions are not recorded"
                        );
                        next = current + 1;
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = stopped_now(&mut stopped) => return,
                }
            }
        };
        loop {
            let first = tokio::select! {
                event = events.next() => event,
                _ = stopped_now(&mut stopped) => return,
            };
            // The changes that arrive within BURST_LINGER of the first go to
            // the files together: one blocking job and one write per file
            // per burst, not per change. Each is stamped as it arrives.
            let mut burst = vec![(first, service.wall.now())];
            let gathered_by = tokio::time::Instant::now() + BURST_LINGER;
            while burst.len() < MAX_BURST
                && matches!(burst.last(), Some((Some(Ok(_)), _)))
                && let Ok(event) = tokio::time::timeout_at(gathered_by, events.next()).await
            {
                burst.push((event, service.wall.now()));
            }
            let mut changes = Vec::with_capacity(burst.len());
            let mut ended = false;
            for (event, seen) in burst {
                let event = match event {
                    Some(Ok(event)) => event,
                    Some(Err(e)) => {
                        // Lagged or broken: start again after the last one.
                        tracing::warn!(error = %crate::error::error_chain(&e), "history: corridor watch ended");
                        ended = true;
                        break;
                    }
                    None => {
                        ended = true;
                        break;
                    }
                };
                let revision = event.revision;
                next = revision + 1;
                let change = match event.event_type {
                    ResourceEventType::Added => HistoryChangeType::Added,
                    ResourceEventType::Modified => HistoryChangeType::Modified,
                    ResourceEventType::Deleted => HistoryChangeType::Deleted,
                };
                changes.push((
                    event.id,
                    Record::Change(StoredChange::of(
                        event.value,
                        change,
                        u64::try_from(revision).unwrap_or(0),
                        seen,
                    )),
                ));
            }
            if let Err(e) = append(&log, &dir, changes).await {
                tracing::warn!(error = %crate::error::error_chain(&e), "history: corridor changes were not recorded");
            }
            if ended {
                break;
            }
        }
    }
}

/// The most changes written in one blocking job.
const MAX_BURST: usize = 1024;

/// How long a burst gathers changes after its first. A change reaches its
/// file at most this much later; under a grant load a burst then holds
/// hundreds of changes instead of one or two. The writes a burst costs
/// grow with the bucket files it touches, not with its changes: at 13,000
/// changes a second (the grant benchmark), 10 ms bursts touched about 100
/// of the 256 buckets each, 10,000 `write`s a second; 50 ms bursts touch
/// about 235, 4,700 a second.
const BURST_LINGER: Duration = Duration::from_millis(50);

/// Appends `(id, record)` pairs off the async workers: one write per bucket
/// file, and a file that fails does not drop the records of the others.
async fn append(
    log: &Arc<HistoryLog>,
    dir: &std::path::Path,
    records: Vec<(String, Record)>,
) -> Result<(), HistoryError> {
    if records.is_empty() {
        return Ok(());
    }
    let log = Arc::clone(log);
    on_files(dir, move || {
        log.append_all(records.iter().map(|(id, record)| (id.as_str(), record)))
    })
    .await
}
