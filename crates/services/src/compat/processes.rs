//! Launching programs under their engine and observing them.
//!
//! Processes are corridord's children and end with it (`PR_SET_PDEATHSIG`),
//! so their records live in this process's memory, not in the store: a
//! restarted corridord has no processes to show. Ended ones are kept for
//! `GET` up to `keep_finished`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};
use corridor_compat::elf::ElfHeader;
use corridor_compat::matching::best_profile;
use corridor_compat::render::qemu;
use corridor_compat::tcg_counts::TcgCounts;
use corridor_hal::compat::{self as hal, LaunchSpec, Launched, ProgramError};
use corridor_model::Validate;
use corridor_model::compat::{
    CompatProcess, CompatProfile, EngineKind, ExitStatus, LaunchRequest, ProcessState,
    ProcessUsage, RunAs,
};
use corridor_model::validate::rule;

use super::{CompatError, CompatService};
use crate::{Caller, ListOptions};

/// The fd the guest program is handed on, and the path QEMU opens it by.
const PROGRAM_FD_PATH: &str = "/proc/self/fd/3";

/// What is known of a process at launch.
#[derive(Debug)]
struct Entry {
    record: CompatProcess,
    handle: Arc<Launched>,
    finished_at: Mutex<Option<DateTime<Utc>>>,
    /// What the TCG plugin reported, read once after the exit (before the
    /// working directory holding the report is removed).
    counts: OnceLock<Option<TcgCounts>>,
}

/// The launched processes, by id, in launch order.
#[derive(Debug, Default)]
pub(crate) struct ProcessTable {
    entries: Mutex<BTreeMap<u64, Arc<Entry>>>,
    next: Mutex<u64>,
}

fn new_id(seq: u64) -> String {
    format!("proc-{seq:06}-{:08x}", rand::random::<u32>())
}

impl Entry {
    /// The record as of now: live usage while it runs, rusage once reaped.
    fn snapshot(&self) -> CompatProcess {
        let mut record = self.record.clone();
        let handle = &self.handle;
        match handle.exit() {
            Some(exit) => {
                record.state = if handle.was_killed() {
                    ProcessState::Killed
                } else {
                    ProcessState::Exited
                };
                record.exit = Some(ExitStatus {
                    code: exit.code,
                    signal: exit.signal,
                    core_dumped: exit.core_dumped,
                });
                let mut finished = self.finished_at.lock().unwrap_or_else(|e| e.into_inner());
                record.finished_at = Some(*finished.get_or_insert_with(Utc::now));
                let counts = self.counts();
                record.usage = ProcessUsage {
                    utime_s: exit.utime_s,
                    stime_s: exit.stime_s,
                    peak_rss_bytes: exit.peak_rss_bytes,
                    threads: handle.max_threads(),
                    guest_instructions: counts.map(|c| c.instructions),
                    blocks_translated: counts.map(|c| c.blocks),
                };
            }
            None => {
                record.state = ProcessState::Running;
                if let Some(sample) = handle.sample() {
                    record.usage = ProcessUsage {
                        utime_s: sample.utime_s,
                        stime_s: sample.stime_s,
                        peak_rss_bytes: sample.peak_rss_bytes,
                        threads: sample.threads,
                        guest_instructions: None,
                        blocks_translated: None,
                    };
                }
            }
        }
        let (output, dropped) = handle.output();
        record.output = output;
        record.output_dropped_bytes = dropped;
        record
    }

    /// The plugin's counts; call only once the process has exited (the
    /// report is written by QEMU's exit hook).
    fn counts(&self) -> Option<TcgCounts> {
        *self.counts.get_or_init(|| {
            if self.record.tcg_plugin {
                hal::tcg::read_counts(Path::new(&self.record.working_dir))
            } else {
                None
            }
        })
    }
}

fn program_error(e: ProgramError) -> CompatError {
    let rule = match e {
        ProgramError::OutsideRoots { .. } => "allowed_roots",
        ProgramError::Resolve { .. } | ProgramError::NotAFile { .. } => "exists",
        ProgramError::Read { .. } => "readable",
    };
    CompatError::field("/exe", rule, crate::error::error_chain(&e))
}

impl CompatService {
    /// Profiles a caller may launch with: all for the cluster's
    /// principals, those granting its domain for a domain.
    pub(crate) async fn launchable_profiles(
        &self,
        caller: &Caller,
    ) -> Result<Vec<CompatProfile>, CompatError> {
        let mut all = Vec::new();
        let mut options = ListOptions::default();
        loop {
            let page = self.profiles.list(&options).await?;
            all.extend(page.items);
            match page.continue_token {
                Some(token) => options.continue_token = Some(token),
                None => break,
            }
        }
        Ok(match caller.confined_to() {
            None => all,
            Some(domain) => all
                .into_iter()
                .filter(|p| p.spec.launch_domains.iter().any(|d| d == domain))
                .collect(),
        })
    }

    /// `POST /v1/compat/processes`: checks the program and the profile,
    /// then starts it under its engine.
    pub async fn launch(
        &self,
        caller: &Caller,
        request: LaunchRequest,
    ) -> Result<CompatProcess, CompatError> {
        request.validate().map_err(CompatError::Invalid)?;
        let config = self.config();
        let program = hal::open_program(
            Path::new(&request.exe),
            &config.allowed_roots,
            config.state_dir.as_deref(),
        )
        .map_err(program_error)?;
        let header = ElfHeader::parse(&program.head)
            .map_err(|e| CompatError::field("/exe", "elf", format!("{}: {e}", request.exe)))?;
        let arch = header.guest_arch().ok_or_else(|| {
            CompatError::field(
                "/exe",
                "elf",
                format!(
                    "{} is an {}, an architecture no engine here serves",
                    request.exe,
                    header.describe()
                ),
            )
        })?;
        let file_name = program
            .canonical
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let profiles = self.launchable_profiles(caller).await?;
        let profile = match &request.profile {
            Some(name) => profiles
                .into_iter()
                .find(|p| &p.id == name)
                .ok_or_else(|| {
                    CompatError::field(
                        "/profile",
                        "exists",
                        format!("no profile {name:?} is available to this caller"),
                    )
                })?,
            None => {
                let chosen = best_profile(
                    profiles.iter().map(|p| (p.id.as_str(), &p.spec)),
                    arch,
                    &file_name,
                    |engine, arch| self.translator(engine, arch).is_some(),
                )
                .map(str::to_owned);
                let Some(chosen) = chosen else {
                    return Err(CompatError::field(
                        "/exe",
                        "exists",
                        format!(
                            "no profile available to this caller runs {arch} programs named {file_name:?}"
                        ),
                    ));
                };
                profiles
                    .into_iter()
                    .find(|p| p.id == chosen)
                    .ok_or_else(|| CompatError::field("/profile", "exists", "profile vanished"))?
            }
        };
        if profile.spec.guest_arch != arch {
            return Err(CompatError::field(
                "/profile",
                rule::COMPATIBLE,
                format!(
                    "profile {} is for {} programs; {} is {arch}",
                    profile.id, profile.spec.guest_arch, request.exe
                ),
            ));
        }
        let engine = profile.spec.engine;
        let translator = self.translator(engine, arch).ok_or_else(|| {
            CompatError::field(
                "/profile",
                "installed",
                match engine {
                    EngineKind::Qemu => format!(
                        "profile {} needs qemu-{arch}, which is not installed",
                        profile.id
                    ),
                    other => format!(
                        "profile {} runs under {other}, which is not installed here (its configuration is rendered only)",
                        profile.id
                    ),
                },
            )
        })?;
        let interpreter = translator.path.display().to_string();
        // A launch through binfmt_misc: its registration, checked before
        // anything is created.
        let registration = if request.binfmt {
            Some(self.private_registration(&profile, arch, &interpreter)?)
        } else {
            None
        };

        let seq = {
            let mut next = self
                .processes
                .next
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            *next += 1;
            *next
        };
        let id = new_id(seq);
        let working_dir = config.work_root.join(&id);
        let root = hal::running_as_root();
        let run_as = if root {
            RunAs {
                uid: config.run_as.0,
                gid: config.run_as.1,
                isolated: true,
                note: String::new(),
            }
        } else {
            let (uid, gid) = hal::own_ids();
            RunAs {
                uid,
                gid,
                isolated: false,
                note: "corridord is not root: the program runs as corridord's own user and can read what corridord can".into(),
            }
        };
        let credentials = root.then_some(config.run_as);
        hal::prepare_working_dir(&working_dir, credentials).map_err(|source| {
            CompatError::WorkingDir {
                path: working_dir.display().to_string(),
                source,
            }
        })?;

        let mut spec = profile.spec.clone();
        // The guest sees its own name, not the fd path QEMU opens (through
        // binfmt_misc the kernel names it, by its path).
        if spec.options.argv0.is_none() && registration.is_none() {
            spec.options.argv0 = Some(file_name.clone());
        }
        let plugin = if config.count_instructions && !translator.static_build {
            Some(self.tcg_plugin(&config)?)
        } else {
            None
        };
        let plugin_args = [hal::tcg::counts_argument(&working_dir)];
        let plugin = plugin.as_deref().map(|path| qemu::Plugin {
            path,
            args: &plugin_args,
        });
        let (launcher, launcher_args, engine_env, exe_fd) = match &registration {
            None => {
                let command = qemu::command(
                    &spec,
                    &interpreter,
                    PROGRAM_FD_PATH,
                    &request.args,
                    plugin.clone(),
                );
                let args = command.args.iter().map(OsString::from).collect();
                (command.program, args, command.env, Some(program.fd))
            }
            // The kernel starts QEMU with no flags: the profile's options
            // and the plugin travel as QEMU's environment twins. The
            // kernel opens the program by its path.
            Some(registration) => {
                let (unshare, argv) = hal::binfmt::private_namespace_command(
                    registration,
                    &program.canonical,
                    &request.args,
                )?;
                let (mut env, _) = qemu::binfmt_env(&spec);
                if let Some(plugin) = &plugin {
                    env.push(("QEMU_PLUGIN".to_owned(), plugin.option()));
                }
                (unshare, argv, env, None)
            }
        };
        let mut env = vec![
            ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
            ("HOME".to_owned(), working_dir.display().to_string()),
        ];
        env.extend(engine_env);
        env.extend(request.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let timeout = request
            .timeout_s
            .map(|s| std::time::Duration::from_secs(u64::from(s)))
            .unwrap_or(config.default_timeout);
        let mut limits = config.limits;
        // CPU time can never usefully exceed the wall-clock limit.
        limits.cpu_s = limits.cpu_s.min(timeout.as_secs().max(1));
        let handle = self.launcher.launch(LaunchSpec {
            program: launcher.into(),
            args: launcher_args,
            env,
            working_dir: working_dir.clone(),
            exe_fd,
            credentials,
            limits,
            output_limit: config.output_limit,
        });
        let handle = match handle {
            Ok(handle) => handle,
            Err(e) => {
                let _ = hal::remove_working_dir(&working_dir);
                return Err(e.into());
            }
        };
        let record = CompatProcess {
            id: id.clone(),
            pid: handle.pid(),
            profile: profile.id.clone(),
            engine,
            guest_arch: arch,
            interpreter,
            exe: program.canonical.display().to_string(),
            args: request.args.clone(),
            security_domain: caller.owner_for(request.security_domain.as_deref()),
            run_as,
            working_dir: working_dir.display().to_string(),
            tcg_plugin: plugin.is_some(),
            binfmt: registration.is_some(),
            state: ProcessState::Running,
            started_at: Utc::now(),
            finished_at: None,
            exit: None,
            usage: ProcessUsage::default(),
            output: String::new(),
            output_dropped_bytes: 0,
        };
        let entry = Arc::new(Entry {
            record,
            handle: Arc::clone(&handle),
            finished_at: Mutex::new(None),
            counts: OnceLock::new(),
        });
        self.insert(seq, Arc::clone(&entry), config.keep_finished);
        // The wall-clock limit, and the working directory's removal once
        // it has ended, off the request path.
        let watcher = Arc::clone(&entry);
        tokio::task::spawn_blocking(move || {
            if watcher.handle.wait_timeout(timeout).is_none() {
                watcher.handle.kill();
            }
            while watcher
                .handle
                .wait_timeout(std::time::Duration::from_secs(3600))
                .is_none()
            {}
            *watcher
                .finished_at
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(Utc::now());
            watcher.counts();
            let _ = hal::remove_working_dir(Path::new(&watcher.record.working_dir));
        });
        Ok(entry.snapshot())
    }

    fn insert(&self, seq: u64, entry: Arc<Entry>, keep_finished: usize) {
        let mut entries = self
            .processes
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        entries.insert(seq, entry);
        let finished: Vec<u64> = entries
            .iter()
            .filter(|(_, e)| e.handle.exit().is_some())
            .map(|(k, _)| *k)
            .collect();
        for key in finished
            .iter()
            .take(finished.len().saturating_sub(keep_finished))
        {
            entries.remove(key);
        }
    }

    fn visible(&self, caller: &Caller) -> Vec<Arc<Entry>> {
        let entries = self
            .processes
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        entries
            .values()
            .filter(|e| caller.may_see(e.record.security_domain.as_deref()))
            .cloned()
            .collect()
    }

    fn find(&self, caller: &Caller, id: &str) -> Result<Arc<Entry>, CompatError> {
        self.visible(caller)
            .into_iter()
            .find(|e| e.record.id == id)
            .ok_or_else(|| CompatError::ProcessNotFound(id.to_owned()))
    }

    /// `GET /v1/compat/processes`: running and ended, in launch order.
    pub fn processes(&self, caller: &Caller) -> Vec<CompatProcess> {
        self.visible(caller).iter().map(|e| e.snapshot()).collect()
    }

    /// `GET /v1/compat/processes/{id}`.
    pub fn process(&self, caller: &Caller, id: &str) -> Result<CompatProcess, CompatError> {
        Ok(self.find(caller, id)?.snapshot())
    }

    /// Waits up to `timeout` for the process to end, then answers it as
    /// it is (still running if it did not end).
    pub async fn wait(
        &self,
        caller: &Caller,
        id: &str,
        timeout: std::time::Duration,
    ) -> Result<CompatProcess, CompatError> {
        let entry = self.find(caller, id)?;
        let waiter = Arc::clone(&entry);
        let _ = tokio::task::spawn_blocking(move || waiter.handle.wait_timeout(timeout)).await;
        Ok(entry.snapshot())
    }

    /// `DELETE /v1/compat/processes/{id}`: stops it (SIGKILL to its group)
    /// and waits briefly for the kernel to reap it, so the answer shows
    /// the exit.
    pub async fn stop(&self, caller: &Caller, id: &str) -> Result<CompatProcess, CompatError> {
        let entry = self.find(caller, id)?;
        entry.handle.kill();
        let waiter = Arc::clone(&entry);
        let _ = tokio::task::spawn_blocking(move || {
            waiter
                .handle
                .wait_timeout(std::time::Duration::from_secs(5))
        })
        .await;
        Ok(entry.snapshot())
    }
}
