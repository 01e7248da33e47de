//! `GET /v1/compat/binfmt`: the host's binfmt_misc table, whether this
//! kernel has private instances, and every profile's registration.

use std::path::Path;

use corridor_compat::binfmt::{Entry, Matcher, Registration};
use corridor_compat::elf::binfmt_magic;
use corridor_compat::registration_for;
use corridor_hal::compat::binfmt::{self as host, HOST_BINFMT_ROOT};
use corridor_model::compat::{
    BinfmtHostEntry, BinfmtHostTable, BinfmtProfileRegistration, BinfmtStatus, CompatProfile,
    EngineKind, GuestArch,
};
use corridor_model::validate::rule;

use super::{CompatError, CompatService};
use crate::Caller;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn host_entry(
    name: &str,
    entry: &Result<Entry, corridor_compat::binfmt::BinfmtError>,
) -> BinfmtHostEntry {
    let mut view = BinfmtHostEntry {
        name: name.to_owned(),
        enabled: None,
        interpreter: None,
        flags: None,
        offset: None,
        magic_hex: None,
        mask_hex: None,
        extension: None,
        error: None,
    };
    match entry {
        Err(e) => view.error = Some(e.to_string()),
        Ok(entry) => {
            view.enabled = Some(entry.enabled);
            view.interpreter = Some(entry.interpreter.clone());
            view.flags = Some(entry.flags.letters());
            match &entry.matcher {
                Matcher::Magic {
                    offset,
                    magic,
                    mask,
                } => {
                    view.offset = Some(*offset);
                    view.magic_hex = Some(hex(magic));
                    view.mask_hex = mask.as_deref().map(hex);
                }
                Matcher::Extension(extension) => view.extension = Some(extension.clone()),
            }
        }
    }
    view
}

impl CompatService {
    /// The registration a launch with `binfmt` writes into its private
    /// instance: refused on a kernel without private instances (422 on
    /// `/binfmt`) or when the profile's registration cannot be written.
    pub(crate) fn private_registration(
        &self,
        profile: &CompatProfile,
        arch: GuestArch,
        interpreter: &str,
    ) -> Result<Registration, CompatError> {
        let (release, supported) = host::private_instances();
        if !supported {
            return Err(CompatError::field(
                "/binfmt",
                "supported",
                format!(
                    "kernel {release} gives user namespaces no binfmt_misc instance of their own (Linux 6.7 and later do)"
                ),
            ));
        }
        let registration =
            registration_for(&profile.id, arch, interpreter, &profile.spec.binfmt_flags)
                .and_then(|r| r.render().map(|_| r))
                .map_err(|e| {
                    CompatError::field(
                        "/profile",
                        rule::COMPATIBLE,
                        format!("profile {}'s binfmt_misc registration: {e}", profile.id),
                    )
                })?;
        Ok(registration)
    }

    /// `PUT /v1/compat/binfmt/{name}`: registers profile `name` in the
    /// host's own table, when `binfmt_system_wide` allows it and corridord
    /// is root. The entry is named `corridor-<name>`.
    pub async fn register_system_wide(
        &self,
        name: &str,
    ) -> Result<BinfmtProfileRegistration, CompatError> {
        self.system_wide_allowed()?;
        let profile = self.profiles.get(name).await?;
        let interpreter = self
            .translator(profile.spec.engine, profile.spec.guest_arch)
            .ok_or_else(|| CompatError::BinfmtConflict {
                reason: "EngineNotInstalled",
                message: format!(
                    "profile {name} runs under {} for {}, which is not installed here",
                    profile.spec.engine, profile.spec.guest_arch
                ),
            })?
            .path
            .display()
            .to_string();
        let registration = registration_for(
            &profile.id,
            profile.spec.guest_arch,
            &interpreter,
            &profile.spec.binfmt_flags,
        )
        .map_err(|e| CompatError::BinfmtConflict {
            reason: "RegistrationInvalid",
            message: format!("profile {name}'s binfmt_misc registration: {e}"),
        })?;
        let root = Path::new(HOST_BINFMT_ROOT);
        if root.join(&registration.name).exists() {
            return Err(CompatError::BinfmtConflict {
                reason: "AlreadyRegistered",
                message: format!(
                    "{} is registered already (DELETE /v1/compat/binfmt/{name} first)",
                    registration.name
                ),
            });
        }
        match host::register(root, &registration) {
            // Registered by someone else since the check.
            Err(host::BinfmtHostError::Write { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                return Err(CompatError::BinfmtConflict {
                    reason: "AlreadyRegistered",
                    message: format!("{} is registered already", registration.name),
                });
            }
            other => other?,
        }
        let table = host::read_table(root)?;
        Ok(self.registration_view(&profile, &table.entries))
    }

    /// `DELETE /v1/compat/binfmt/{name}`: removes `corridor-<name>` from
    /// the host's table.
    pub async fn unregister_system_wide(
        &self,
        name: &str,
    ) -> Result<BinfmtProfileRegistration, CompatError> {
        self.system_wide_allowed()?;
        let profile = self.profiles.get(name).await?;
        let root = Path::new(HOST_BINFMT_ROOT);
        let entry = format!("corridor-{}", profile.id);
        if !root.join(&entry).exists() {
            return Err(CompatError::BinfmtEntryNotFound(entry));
        }
        match host::unregister(root, &entry) {
            // Removed by someone else since the check.
            Err(host::BinfmtHostError::Write { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(CompatError::BinfmtEntryNotFound(entry));
            }
            other => other?,
        }
        let table = host::read_table(root)?;
        Ok(self.registration_view(&profile, &table.entries))
    }

    fn system_wide_allowed(&self) -> Result<(), CompatError> {
        if !self.config().binfmt_system_wide {
            return Err(CompatError::BinfmtConflict {
                reason: "SystemWideOff",
                message: "system-wide binfmt_misc registration is off ([compat] binfmt_system_wide = true enables it); a launch with binfmt uses a private registration instead".into(),
            });
        }
        if !corridor_hal::compat::running_as_root() {
            return Err(CompatError::BinfmtConflict {
                reason: "NotPrivileged",
                message: "corridord is not root: only root writes the host's binfmt_misc table"
                    .into(),
            });
        }
        Ok(())
    }

    /// `GET /v1/compat/binfmt`.
    pub async fn binfmt(&self) -> Result<BinfmtStatus, CompatError> {
        let profiles = self.launchable_profiles(&Caller::system()).await?;
        let table = host::read_table(Path::new(HOST_BINFMT_ROOT))?;
        let (kernel_release, private_instances) = host::private_instances();
        let registrations = profiles
            .iter()
            .map(|profile| self.registration_view(profile, &table.entries))
            .collect();
        Ok(BinfmtStatus {
            host: BinfmtHostTable {
                path: HOST_BINFMT_ROOT.to_owned(),
                mounted: table.mounted,
                enabled: table.enabled,
                entries: table
                    .entries
                    .iter()
                    .map(|(name, entry)| host_entry(name, entry))
                    .collect(),
            },
            kernel_release,
            private_instances,
            profiles: registrations,
        })
    }

    fn registration_view(
        &self,
        profile: &CompatProfile,
        host_entries: &[(String, Result<Entry, corridor_compat::binfmt::BinfmtError>)],
    ) -> BinfmtProfileRegistration {
        let arch = profile.spec.guest_arch;
        let (head, _) = binfmt_magic(arch);
        let claimed_by = host_entries
            .iter()
            .filter(|(_, entry)| entry.as_ref().is_ok_and(|e| e.matcher.claims("", &head)))
            .map(|(name, _)| name.clone())
            .collect();
        let mut view = BinfmtProfileRegistration {
            profile: profile.id.clone(),
            guest_arch: arch,
            engine: profile.spec.engine,
            registration: None,
            host_entries: claimed_by,
            note: String::new(),
        };
        match self.translator(profile.spec.engine, arch) {
            None if profile.spec.engine == EngineKind::Qemu => {
                view.note = format!("qemu-{arch} is not installed");
            }
            None => {
                view.note = format!(
                    "{} is not installed here: its profiles are rendered only",
                    profile.spec.engine
                );
            }
            Some(translator) => {
                match registration_for(
                    &profile.id,
                    arch,
                    &translator.path.display().to_string(),
                    &profile.spec.binfmt_flags,
                )
                .and_then(|r| r.render())
                {
                    Ok(line) => view.registration = Some(line),
                    Err(e) => view.note = format!("no registration can be written: {e}"),
                }
            }
        }
        view
    }
}
