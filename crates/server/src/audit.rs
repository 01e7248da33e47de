//! The audit log: one JSON line per mutating call and per denial in
//! `<state_dir>/audit.log`, append-only, `0600`, rotated by size.
//!
//! A single writer thread owns the file. It takes every record waiting in
//! its queue, writes them, and makes them durable with one `fdatasync`
//! before acknowledging any of them, so under load the sync cost is shared
//! by the whole group (as the store does with its commits). A caller whose
//! request changed something gets its response only after its record is on
//! disk.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde::Serialize;

use crate::config::AuditSettings;

/// File name of the live audit log in the state directory.
pub const AUDIT_FILE: &str = "audit.log";

/// One audit record.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditEntry {
    /// RFC 3339, UTC.
    pub time: String,
    pub request_id: String,
    /// `admin`, `read-only`, `domain/tenantA`, `anonymous`, …
    pub principal: String,
    /// Serial of the client certificate, when one was presented.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Method and route template, e.g. `POST /v1/corridors/{id}/lease`.
    pub action: String,
    /// The path as requested.
    pub resource: String,
    /// `allowed` or `denied`.
    pub result: &'static str,
    /// The HTTP status the caller got.
    pub status: u16,
    /// Why a request was denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot open the audit log {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

type Job = (String, tokio::sync::oneshot::Sender<()>);

/// Handle to the writer thread; cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditLog {
    queue: mpsc::Sender<Job>,
    path: PathBuf,
}

impl AuditLog {
    /// Opens (or creates) `dir/audit.log` and starts the writer thread.
    pub fn open(dir: &Path, settings: AuditSettings) -> Result<AuditLog, AuditError> {
        let path = dir.join(AUDIT_FILE);
        let writer = Writer::open(path.clone(), settings)?;
        let (queue, jobs) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("corridord-audit".into())
            .spawn(move || writer.run(jobs))
            .map_err(|source| AuditError::Open {
                path: path.clone(),
                source,
            })?;
        Ok(AuditLog { queue, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entry` and waits until it is durable.
    pub async fn record(&self, entry: &AuditEntry) {
        let mut line = serde_json::to_string(entry).expect("audit entries serialise");
        line.push('\n');
        let (done, written) = tokio::sync::oneshot::channel();
        if self.queue.send((line, done)).is_err() {
            tracing::error!("audit writer has stopped; record lost");
            return;
        }
        let _ = written.await;
    }
}

struct Writer {
    path: PathBuf,
    file: std::fs::File,
    size: u64,
    settings: AuditSettings,
}

fn open_append(path: &Path) -> Result<std::fs::File, AuditError> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| AuditError::Open {
            path: path.to_path_buf(),
            source,
        })
}

impl Writer {
    fn open(path: PathBuf, settings: AuditSettings) -> Result<Writer, AuditError> {
        let file = open_append(&path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Writer {
            path,
            file,
            size,
            settings,
        })
    }

    fn run(mut self, jobs: mpsc::Receiver<Job>) {
        while let Ok(first) = jobs.recv() {
            let mut batch = vec![first];
            batch.extend(jobs.try_iter());
            let mut acks = Vec::with_capacity(batch.len());
            for (line, ack) in batch {
                if self.size > 0 && self.size + line.len() as u64 > self.settings.max_bytes {
                    self.rotate();
                }
                match self.file.write_all(line.as_bytes()) {
                    Ok(()) => self.size += line.len() as u64,
                    Err(error) => {
                        tracing::error!(%error, path = %self.path.display(), "audit write failed")
                    }
                }
                acks.push(ack);
            }
            if let Err(error) = self.file.sync_data() {
                tracing::error!(%error, path = %self.path.display(), "audit fsync failed");
            }
            for ack in acks {
                let _ = ack.send(());
            }
        }
    }

    /// `audit.log` becomes `audit.log.1`, `.1` becomes `.2`, … and the
    /// oldest beyond `keep` is deleted.
    fn rotate(&mut self) {
        let _ = self.file.sync_data();
        let numbered = |n: usize| PathBuf::from(format!("{}.{n}", self.path.display()));
        let _ = std::fs::remove_file(numbered(self.settings.keep));
        for n in (1..self.settings.keep).rev() {
            let _ = std::fs::rename(numbered(n), numbered(n + 1));
        }
        if let Err(error) = std::fs::rename(&self.path, numbered(1)) {
            tracing::error!(%error, "audit rotation failed; continuing in the same file");
            return;
        }
        match open_append(&self.path) {
            Ok(file) => {
                self.file = file;
                self.size = 0;
            }
            Err(error) => tracing::error!(error = %error, "cannot reopen the audit log"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn entry(n: usize) -> AuditEntry {
        AuditEntry {
            time: "2026-01-01T00:00:00Z".into(),
            request_id: format!("req-{n}"),
            principal: "admin".into(),
            serial: None,
            action: "POST /v1/corridors".into(),
            resource: "/v1/corridors".into(),
            result: "allowed",
            status: 201,
            reason: None,
        }
    }

    #[tokio::test]
    async fn records_are_json_lines_0600_and_rotate_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let settings = AuditSettings {
            max_bytes: 1024,
            keep: 2,
        };
        let log = AuditLog::open(dir.path(), settings).unwrap();
        for n in 0..40 {
            log.record(&entry(n)).await;
        }
        let mode = std::fs::metadata(log.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let live = std::fs::read_to_string(log.path()).unwrap();
        assert!(live.len() <= 1024, "{}", live.len());
        let last: serde_json::Value = serde_json::from_str(live.lines().last().unwrap()).unwrap();
        assert_eq!(last["request_id"], "req-39");
        assert!(dir.path().join("audit.log.1").exists());
        assert!(dir.path().join("audit.log.2").exists());
        assert!(!dir.path().join("audit.log.3").exists());
    }
}
