//! A simulated CMIS module playing on a file laid out as an optoe `eeprom` image, so the Linux
//! backend ([`super::OptoePort`], [`super::LinuxOptics`]) can be driven end to end without
//! hardware: in tests, and to try `corridord --optics linux` on a laptop.
//!
//! A thread loops: read the file, hand every byte the host changed to the
//! [`ModuleSim`] as a host write (read-only bytes are refused, as a module refuses them), step
//! the simulator's state machines once, and write back the bytes the module changed. The host
//! therefore sees the module and data-path states move exactly as the simulator moves them.
//! Every distinct (module state, data-path states) the module passes through is recorded, so a
//! test can assert the sequence a provisioning walked.
//!
//! A file is not a bus: a host write landing between the thread's read and its write-back of
//! the same byte would be lost. The thread only writes bytes the module changed in that step
//! (status and monitor bytes the host does not write), which keeps that window to bytes a real
//! module owns too.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use corridor_protocols::cmis::{ByteAddr, DataPathState, Lane, ModuleSim, ModuleState};

/// The states the module was in after one of its steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSnapshot {
    /// Module state (lower page byte 3); `None` for an undefined code.
    pub module: Option<ModuleState>,
    /// Data-path state of each lane, lane 1 first.
    pub data_paths: Vec<Option<DataPathState>>,
}

impl ModuleSnapshot {
    fn of(sim: &ModuleSim) -> Self {
        let map = sim.map();
        Self {
            module: map.module_state().ok(),
            data_paths: (1..=sim.profile().lanes)
                .map(|n| Lane::new(n).ok().and_then(|l| map.dp_state(l).ok()))
                .collect(),
        }
    }
}

/// A [`ModuleSim`] playing on a file until [`FileModule::stop`] (or drop).
#[derive(Debug)]
pub struct FileModule {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<ModuleSnapshot>>>,
    thread: Option<JoinHandle<io::Result<ModuleSim>>>,
}

impl FileModule {
    /// Writes `sim`'s memory map to `path` (created or truncated) as a linear optoe image and
    /// starts playing the module on it, one simulator step every `step`.
    ///
    /// # Errors
    /// The file cannot be written, or the thread cannot be started.
    pub fn spawn(path: impl Into<PathBuf>, sim: ModuleSim, step: Duration) -> io::Result<Self> {
        let path = path.into();
        std::fs::write(&path, sim.map().to_linear())?;
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(vec![ModuleSnapshot::of(&sim)]));
        let thread = {
            let (path, stop, seen) = (path.clone(), Arc::clone(&stop), Arc::clone(&seen));
            std::thread::Builder::new()
                .name("cmis-file-module".into())
                .spawn(move || play(&path, sim, step, &stop, &seen))?
        };
        Ok(Self {
            path,
            stop,
            seen,
            thread: Some(thread),
        })
    }

    /// The file the module plays on.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every distinct state the module has been in so far, oldest first (consecutive
    /// repeats collapsed).
    #[must_use]
    pub fn transitions(&self) -> Vec<ModuleSnapshot> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops the thread and returns the simulator as the module left it.
    ///
    /// # Errors
    /// The file became unreadable while playing.
    ///
    /// # Panics
    /// If the playing thread panicked (a simulator bug).
    pub fn stop(mut self) -> io::Result<ModuleSim> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .expect("joined only here or on drop")
            .join()
            .expect("the module thread does not panic")
    }
}

impl Drop for FileModule {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn play(
    path: &Path,
    mut sim: ModuleSim,
    step: Duration,
    stop: &AtomicBool,
    seen: &Mutex<Vec<ModuleSnapshot>>,
) -> io::Result<ModuleSim> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let len = sim.map().to_linear().len();
    let mut image = vec![0u8; len];
    while !stop.load(Ordering::Relaxed) {
        file.read_exact_at(&mut image, 0)?;
        let mine = sim.map().to_linear();
        for (i, (&host, &module)) in image.iter().zip(&mine).enumerate() {
            if host != module
                && let Ok(at) = ByteAddr::from_linear(i)
            {
                // A byte the module refuses (read-only, out of range) keeps the module's value,
                // which the write-back below restores in the file.
                let _ = sim.write(at, &[host]);
            }
        }
        sim.tick();
        // Recorded before the file shows it: a host that sees a state in the
        // file and then asks what the module passed through must find it.
        let now = ModuleSnapshot::of(&sim);
        {
            let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
            if seen.last() != Some(&now) {
                seen.push(now);
            }
        }
        let after = sim.map().to_linear();
        for (i, (&new, &old)) in after.iter().zip(&image).enumerate() {
            if new != old {
                file.write_all_at(&[new], i as u64)?;
            }
        }
        std::thread::sleep(step);
    }
    Ok(sim)
}
