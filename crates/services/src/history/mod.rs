//! Kept history of corridors (telemetry samples and object changes by
//! wall time and store revision) and of memory bundles (memqosd's modelled
//! figures per sampling interval), with bounded retention, so "what did
//! corridor X look like at 03:12" is a query.
//!
//! One job per module: `window` (pure time arithmetic: the query window,
//! spans, retention), `record` (what a record holds and its encoding),
//! `log` (the span directories and their bucket files), `recorder` (the
//! tasks that sample corridor and bundle telemetry, follow the store's
//! watch and prune),
//! `synchrony` (pure: series, correlation, groups, shared causes) and
//! `analytics` (the synchrony query over the kept files).
//!
//! The history lives in files under corridord's state directory, not in
//! the `StateStore`: see ARCHITECTURE.md, "History", for why.

mod analytics;
pub mod log;
pub mod record;
mod recorder;
pub mod synchrony;
pub mod window;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use corridor_hal::{Clock, Topology};
use corridor_model::history::{CorridorHistory, MAX_HISTORY_SAMPLES};
use corridor_model::problem::{FieldViolation, Problem};
use corridor_store::StateStore;

use crate::corridors::CorridorService;
use crate::corridors::error::CorridorError;
use crate::error::ToProblem;
use crate::ffm::FfmService;
use crate::{Caller, ServiceError};
use log::HistoryLog;
use record::Record;
pub use recorder::RecorderHandle;
use window::WindowError;

/// Bytes one one-lane telemetry sample takes on disk, framed: measured by
/// `record::tests::a_one_lane_sample_takes_the_documented_bytes`. The
/// disk figures in ARCHITECTURE.md and the API document are this × lanes
/// sampled × samples kept.
pub const ONE_LANE_SAMPLE_BYTES: usize = 138;

/// Bytes each further lane adds to a sample (same test).
pub const PER_LANE_BYTES: usize = 60;

/// Bytes one memory bundle's sample takes on disk, framed, with one device
/// and short ids: measured by
/// `record::tests::a_bundle_sample_round_trips_and_takes_the_documented_bytes`.
pub const BUNDLE_SAMPLE_BYTES: usize = 90;

/// How often corridors are sampled and how long records are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistorySettings {
    /// Wall time between two samples of a corridor (10 s by default).
    pub interval: Duration,
    /// How long samples and changes are kept (7 days by default).
    pub retention: Duration,
}

impl Default for HistorySettings {
    fn default() -> Self {
        HistorySettings {
            interval: Duration::from_secs(10),
            retention: Duration::from_secs(7 * 86_400),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Window(#[from] WindowError),

    #[error("history files under {dir}")]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Only a plane nobody configured (services under test) has no files.
    #[error("history is not kept: no directory was configured for it")]
    NotConfigured,

    /// A blocking file job was dropped (the runtime is shutting down).
    #[error("a history file job was cancelled: corridord is shutting down")]
    Cancelled,

    #[error(transparent)]
    Corridor(#[from] CorridorError),
}

impl ToProblem for HistoryError {
    fn to_problem(&self) -> Problem {
        match self {
            // A window is a relation between `from`, `to` and now: no
            // schema can state it, hence the rule `compatible`.
            HistoryError::Window(e) => Problem::validation(vec![FieldViolation {
                pointer: format!("?{}", e.parameter),
                rule: corridor_model::validate::rule::COMPATIBLE.into(),
                message: e.message.clone(),
            }]),
            HistoryError::Cancelled => Problem::unavailable(self.to_string()),
            HistoryError::Io { .. } | HistoryError::NotConfigured => {
                Problem::internal(crate::error::error_chain(self))
            }
            HistoryError::Corridor(e) => e.to_problem(),
        }
    }
}

/// The configured log and its settings.
#[derive(Debug, Clone)]
struct Kept {
    log: Arc<HistoryLog>,
    dir: PathBuf,
    settings: HistorySettings,
}

/// The history service: records what corrd reads back and writes, and
/// answers windows of it.
#[derive(Debug)]
pub struct HistoryService {
    corridors: Arc<CorridorService>,
    ffm: Arc<FfmService>,
    store: Arc<dyn StateStore>,
    topology: Arc<Topology>,
    wall: Arc<dyn Clock>,
    kept: Mutex<Option<Kept>>,
}

impl HistoryService {
    /// A service that keeps nothing until [`Self::configure`]d.
    pub fn new(
        corridors: Arc<CorridorService>,
        ffm: Arc<FfmService>,
        store: Arc<dyn StateStore>,
        topology: Arc<Topology>,
        wall: Arc<dyn Clock>,
    ) -> Self {
        HistoryService {
            corridors,
            ffm,
            store,
            topology,
            wall,
            kept: Mutex::new(None),
        }
    }

    /// Keeps history in `dir` with `settings` (corridord: the state
    /// directory's `history/`).
    pub fn configure(&self, dir: &Path, settings: HistorySettings) -> Result<(), HistoryError> {
        let span_ms = window::segment_span_ms(settings.retention);
        let log = HistoryLog::open(dir, span_ms).map_err(|source| HistoryError::Io {
            dir: dir.to_path_buf(),
            source,
        })?;
        *crate::corridors::lock(&self.kept) = Some(Kept {
            log: Arc::new(log),
            dir: dir.to_path_buf(),
            settings,
        });
        Ok(())
    }

    fn kept(&self) -> Result<Kept, HistoryError> {
        crate::corridors::lock(&self.kept)
            .clone()
            .ok_or(HistoryError::NotConfigured)
    }

    /// The settings in force, if configured.
    pub fn settings(&self) -> Option<HistorySettings> {
        crate::corridors::lock(&self.kept)
            .as_ref()
            .map(|k| k.settings)
    }

    /// Starts sampling, following the store's watch and pruning; `None`
    /// when nothing is configured.
    pub async fn spawn(self: &Arc<Self>) -> Result<Option<RecorderHandle>, HistoryError> {
        let Ok(kept) = self.kept() else {
            return Ok(None);
        };
        recorder::spawn(Arc::clone(self), kept.log, kept.dir, kept.settings)
            .await
            .map(Some)
    }

    /// Bytes the history holds on disk.
    pub async fn bytes_on_disk(&self) -> Result<u64, HistoryError> {
        let kept = self.kept()?;
        let log = Arc::clone(&kept.log);
        on_files(&kept.dir, move || log.bytes_on_disk()).await
    }

    /// Corridor `id`'s samples and changes between `from` and `to`
    /// (wall-clock, inclusive; defaults: the hour up to now). A released
    /// corridor's history stays readable for the retention, by whoever
    /// could see the corridor (its last recorded version says); an id
    /// with neither a corridor nor history is `NotFound`.
    pub async fn corridor_history(
        &self,
        caller: &Caller,
        id: &str,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<CorridorHistory, HistoryError> {
        let window = window::resolve(from, to, self.wall.now())?;
        let kept = self.kept()?;
        match self.corridors.get(caller, id).await {
            Ok(_) => {}
            Err(CorridorError::Service(ServiceError::NotFound { kind, id: missing })) => {
                let log = Arc::clone(&kept.log);
                let owned = id.to_owned();
                let last = on_files(&kept.dir, move || log.latest_change(&owned)).await?;
                let visible = last
                    .and_then(|c| c.corridor())
                    .is_some_and(|c| caller.may_see(c.security_domain.as_deref()));
                if !visible {
                    return Err(CorridorError::Service(ServiceError::NotFound {
                        kind,
                        id: missing,
                    })
                    .into());
                }
            }
            Err(e) => return Err(e.into()),
        }
        let log = Arc::clone(&kept.log);
        let owned = id.to_owned();
        let records = on_files(&kept.dir, move || log.read(&owned, &window)).await?;
        let mut samples = Vec::new();
        let mut changes = Vec::new();
        let mut truncated = false;
        for record in records {
            match record {
                Record::Sample(s) if samples.len() < MAX_HISTORY_SAMPLES => {
                    samples.push(s.to_api())
                }
                Record::Sample(_) => truncated = true,
                Record::Change(c) => changes.extend(c.to_api()),
                // A bundle's id is not a corridor's: its records are not here.
                Record::Bundle(_) => {}
            }
        }
        Ok(CorridorHistory {
            id: id.to_owned(),
            from: window.from,
            to: window.to,
            sample_interval_s: kept.settings.interval.as_secs_f64(),
            retention_s: kept.settings.retention.as_secs_f64(),
            samples,
            changes,
            truncated,
        })
    }
}

/// Runs a file job off the async workers.
async fn on_files<T: Send + 'static>(
    dir: &Path,
    job: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, HistoryError> {
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|_| HistoryError::Cancelled)?
        .map_err(|source| HistoryError::Io {
            dir: dir.to_path_buf(),
            source,
        })
}
