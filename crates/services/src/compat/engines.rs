//! Which engines this host has: QEMU user mode found and versioned; box64
//! and FEX-Emu are not packaged for Debian 12 and compatd never runs them
//! (their configuration is rendered only).

use corridor_hal::compat::TranslatorBinary;
use corridor_model::compat::{EngineBinary, EngineKind, EngineReport, GuestArch};

use super::CompatService;

fn guest_of(target: &str) -> Option<GuestArch> {
    GuestArch::ALL.into_iter().find(|g| g.as_str() == target)
}

impl CompatService {
    /// QEMU binaries of every guest architecture, looked up now.
    pub(crate) fn qemu_binaries(&self) -> Vec<TranslatorBinary> {
        let targets: Vec<&str> = GuestArch::ALL.iter().map(|g| g.as_str()).collect();
        self.probe.qemu(&targets, true)
    }

    /// The binary that runs `arch` under `engine`, preferring QEMU's
    /// dynamic build (it accepts plugins).
    pub(crate) fn translator(
        &self,
        engine: EngineKind,
        arch: GuestArch,
    ) -> Option<TranslatorBinary> {
        if engine != EngineKind::Qemu {
            return None;
        }
        let targets = [arch.as_str()];
        self.probe.qemu(&targets, false).into_iter().next()
    }

    /// `GET /v1/compat/engines`.
    pub fn engines(&self) -> Vec<EngineReport> {
        let binaries = self.qemu_binaries();
        let mut guests: Vec<GuestArch> = binaries
            .iter()
            .filter_map(|b| guest_of(&b.target))
            .collect();
        guests.dedup();
        let qemu = EngineReport {
            engine: EngineKind::Qemu,
            installed: !binaries.is_empty(),
            version: binaries.iter().find_map(|b| b.version.clone()),
            guests,
            binaries: binaries
                .iter()
                .filter_map(|b| {
                    Some(EngineBinary {
                        guest_arch: guest_of(&b.target)?,
                        path: b.path.display().to_string(),
                        static_build: b.static_build,
                        plugins: !b.static_build,
                    })
                })
                .collect(),
            note: if binaries.is_empty() {
                "no qemu-<arch> binary found; scripts/install-compat.sh installs Debian's qemu-user"
                    .into()
            } else {
                "QEMU user mode: programs are launched under it".into()
            },
        };
        let rendered_only = |engine: EngineKind| EngineReport {
            engine,
            guests: Vec::new(),
            installed: false,
            version: None,
            binaries: Vec::new(),
            note: format!(
                "{engine} is not packaged for this host's distribution and is never run here; profiles for it are rendered only (GET /v1/compat/profiles/{{name}}/render)"
            ),
        };
        vec![
            qemu,
            rendered_only(EngineKind::Box64),
            rendered_only(EngineKind::Fex),
        ]
    }
}
