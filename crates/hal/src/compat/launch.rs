//! Launching one program as a confined child and watching it end.
//!
//! The child gets its own session and process group (so a stop reaches
//! whatever it forked), `PR_SET_PDEATHSIG` (it dies with corridord, never
//! an orphan), rlimits, and — when corridord is root — the configured
//! unprivileged uid and gid with no supplementary groups. stdout and
//! stderr share one pipe read into a bounded log.
//!
//! Reaping: a waiter thread waits for the exit *without* reaping
//! (`waitid(WNOWAIT)`), kills what is left of the process group — the
//! zombie leader keeps the group id from being reused, so the signal
//! cannot reach a stranger — and only then reaps with `wait4`, which
//! also gives the child's rusage. A stop signals the group only while the
//! leader is unreaped, under the same lock, for the same reason.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Resource limits set in the child before it executes the translator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `RLIMIT_CPU`, seconds of CPU (SIGXCPU, then SIGKILL).
    pub cpu_s: u64,
    /// `RLIMIT_NOFILE`.
    pub open_files: u64,
    /// `RLIMIT_FSIZE`, largest file it may write.
    pub file_size_bytes: u64,
    /// `RLIMIT_NPROC` (counted per uid by the kernel).
    pub processes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_s: 60,
            open_files: 256,
            file_size_bytes: 64 << 20,
            processes: 256,
        }
    }
}

/// What to start.
#[derive(Debug)]
pub struct LaunchSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// The whole environment (nothing of corridord's is inherited).
    pub env: Vec<(String, String)>,
    pub working_dir: PathBuf,
    /// Handed to the child as fd 3 (the guest program, opened by
    /// corridord, so the translator reads it as `/proc/self/fd/3`).
    pub exe_fd: Option<OwnedFd>,
    /// uid and gid to switch to; `None` keeps corridord's.
    pub credentials: Option<(u32, u32)>,
    pub limits: Limits,
    /// Most bytes of output kept (the oldest are dropped).
    pub output_limit: usize,
}

/// How a launched process ended, from `wait4`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub core_dumped: bool,
    pub utime_s: f64,
    pub stime_s: f64,
    pub peak_rss_bytes: u64,
}

/// A reading of a running process from `/proc/<pid>`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UsageSample {
    pub utime_s: f64,
    pub stime_s: f64,
    pub rss_bytes: u64,
    pub peak_rss_bytes: u64,
    pub threads: u32,
}

/// Why a launch failed.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("creating the output pipe")]
    Pipe(#[source] std::io::Error),
    #[error("starting {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("starting the {what} thread")]
    Thread {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// Starts programs.
pub trait ProcessLauncher: Send + Sync + std::fmt::Debug {
    fn launch(&self, spec: LaunchSpec) -> Result<Arc<Launched>, LaunchError>;
}

/// The `fork`/`exec` launcher of this host.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpawnLauncher;

#[derive(Debug, Default)]
struct State {
    exit: Option<ExitInfo>,
    /// The leader has exited (zombie or reaped): no signal may be sent.
    exited: bool,
    killed: bool,
    max_threads: u32,
}

#[derive(Debug)]
struct Output {
    bytes: VecDeque<u8>,
    dropped: u64,
    limit: usize,
}

/// A launched process.
#[derive(Debug)]
pub struct Launched {
    pid: u32,
    state: Mutex<State>,
    ended: Condvar,
    output: Mutex<Output>,
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096)
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// Reads `/proc/<pid>/stat` and `status`.
pub fn sample_proc(pid: u32) -> Option<UsageSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces and parens.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): utime 14, stime 15, threads 20, rss 24.
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    let ticks = clock_ticks();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    Some(UsageSample {
        utime_s: field(14)? as f64 / ticks,
        stime_s: field(15)? as f64 / ticks,
        threads: u32::try_from(field(20)?).unwrap_or(u32::MAX),
        rss_bytes: field(24)? * page_size(),
        peak_rss_bytes: peak_kb * 1024,
    })
}

impl Launched {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit, once the process has been reaped.
    pub fn exit(&self) -> Option<ExitInfo> {
        self.lock().exit
    }

    /// Whether [`Launched::kill`] stopped it.
    pub fn was_killed(&self) -> bool {
        self.lock().killed
    }

    /// The most threads seen by [`Launched::sample`].
    pub fn max_threads(&self) -> u32 {
        self.lock().max_threads
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A live reading while it runs.
    pub fn sample(&self) -> Option<UsageSample> {
        let mut state = self.lock();
        if state.exited {
            return None;
        }
        let sample = sample_proc(self.pid)?;
        state.max_threads = state.max_threads.max(sample.threads);
        Some(sample)
    }

    /// SIGKILL to its process group, if it has not exited yet. Returns
    /// whether a signal was sent.
    pub fn kill(&self) -> bool {
        let mut state = self.lock();
        if state.exited {
            return false;
        }
        state.killed = true;
        // SAFETY: plain syscall; the group id is the unreaped leader's pid,
        // which cannot be reused while we hold the lock (the waiter marks
        // `exited` under it before reaping).
        unsafe { libc::kill(-(self.pid as libc::pid_t), libc::SIGKILL) };
        true
    }

    /// Waits until the process is reaped, at most `timeout`.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<ExitInfo> {
        let state = self.lock();
        let (state, _) = self
            .ended
            .wait_timeout_while(state, timeout, |s| s.exit.is_none())
            .unwrap_or_else(|e| e.into_inner());
        state.exit
    }

    /// The kept output (lossy UTF-8) and how many bytes were dropped.
    pub fn output(&self) -> (String, u64) {
        let out = self.output.lock().unwrap_or_else(|e| e.into_inner());
        let (a, b) = out.bytes.as_slices();
        let mut bytes = Vec::with_capacity(a.len() + b.len());
        bytes.extend_from_slice(a);
        bytes.extend_from_slice(b);
        (String::from_utf8_lossy(&bytes).into_owned(), out.dropped)
    }

    fn append(&self, chunk: &[u8]) {
        let mut out = self.output.lock().unwrap_or_else(|e| e.into_inner());
        out.bytes.extend(chunk);
        let excess = out.bytes.len().saturating_sub(out.limit);
        if excess > 0 {
            out.bytes.drain(..excess);
            out.dropped += excess as u64;
        }
    }

    /// The waiter: see the module comment for the order of steps.
    fn wait_and_reap(&self) {
        let pid = self.pid as libc::pid_t;
        loop {
            // SAFETY: siginfo_t is plain data; waitid writes it.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: waits on our own child without reaping it.
            let r = unsafe {
                libc::waitid(
                    libc::P_PID,
                    pid as libc::id_t,
                    &mut info,
                    libc::WEXITED | libc::WNOWAIT,
                )
            };
            if r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                break;
            }
        }
        {
            let mut state = self.lock();
            state.exited = true;
            // Stragglers it forked into its group; the zombie leader still
            // holds the group id.
            // SAFETY: plain syscall on a group whose leader is unreaped.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
        let mut status = 0;
        // SAFETY: rusage is plain data that wait4 fills.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: reaps our own child, writing into locals.
            let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            if r == pid || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                break;
            }
        }
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        let exit = ExitInfo {
            code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
            signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
            core_dumped: libc::WIFSIGNALED(status) && libc::WCOREDUMP(status),
            utime_s: seconds(usage.ru_utime),
            stime_s: seconds(usage.ru_stime),
            // ru_maxrss is in KiB on Linux.
            peak_rss_bytes: u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
        };
        self.lock().exit = Some(exit);
        self.ended.notify_all();
    }
}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: setrlimit reads the struct; async-signal-safe.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl ProcessLauncher for SpawnLauncher {
    fn launch(&self, spec: LaunchSpec) -> Result<Arc<Launched>, LaunchError> {
        let (reader, writer) = std::io::pipe().map_err(LaunchError::Pipe)?;
        let writer2 = writer.try_clone().map_err(LaunchError::Pipe)?;
        let mut command = Command::new(&spec.program);
        command
            .args(&spec.args)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&spec.working_dir)
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(writer2);
        let exe_fd = spec.exe_fd.as_ref().map(AsRawFd::as_raw_fd);
        let credentials = spec.credentials;
        let limits = spec.limits;
        // SAFETY: the closure runs between fork and exec and calls only
        // async-signal-safe functions (setsid, prctl, dup2, fcntl,
        // setrlimit, setgroups, setgid, setuid), allocating nothing.
        unsafe {
            command.pre_exec(move || {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if let Some(fd) = exe_fd {
                    if fd == 3 {
                        if libc::fcntl(3, libc::F_SETFD, 0) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    } else if libc::dup2(fd, 3) != 3 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                set_limit(libc::RLIMIT_CPU, limits.cpu_s)?;
                set_limit(libc::RLIMIT_NOFILE, limits.open_files)?;
                set_limit(libc::RLIMIT_FSIZE, limits.file_size_bytes)?;
                set_limit(libc::RLIMIT_CORE, 0)?;
                if let Some((uid, gid)) = credentials {
                    if libc::setgroups(0, std::ptr::null()) != 0
                        || libc::setgid(gid) != 0
                        || libc::setuid(uid) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                    // Per-uid, so only meaningful once it has its own uid.
                    set_limit(libc::RLIMIT_NPROC, limits.processes)?;
                }
                Ok(())
            });
        }
        let child = command.spawn().map_err(|source| LaunchError::Spawn {
            program: spec.program.display().to_string(),
            source,
        });
        // The parent's copies of the pipe's write ends went into `command`;
        // drop it so the reader sees EOF when the child's group exits.
        drop(command);
        let child = child?;
        let launched = Arc::new(Launched {
            pid: child.id(),
            state: Mutex::new(State::default()),
            ended: Condvar::new(),
            output: Mutex::new(Output {
                bytes: VecDeque::new(),
                dropped: 0,
                limit: spec.output_limit,
            }),
        });
        // `child` is dropped without waiting: the waiter reaps it.
        drop(child);
        let waiter = Arc::clone(&launched);
        std::thread::Builder::new()
            .name(format!("compat-wait-{}", launched.pid))
            .spawn(move || waiter.wait_and_reap())
            .map_err(|source| LaunchError::Thread {
                what: "waiter",
                source,
            })?;
        let sink = Arc::clone(&launched);
        let mut reader = reader;
        std::thread::Builder::new()
            .name(format!("compat-out-{}", launched.pid))
            .spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = reader.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.append(&buf[..n]);
                }
            })
            .map_err(|source| LaunchError::Thread {
                what: "output reader",
                source,
            })?;
        Ok(launched)
    }
}
