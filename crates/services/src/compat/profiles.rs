//! Profiles: a cluster-wide resource (`/registry/compat-profiles/{name}`),
//! seeded from the built-in catalogue into an empty store.

use corridor_compat::render::{box64, fex, qemu};
use corridor_model::Validate;
use corridor_model::compat::{
    CompatProfile, EngineKind, ProfileRequest, ProfileSpec, RenderedConfig,
};
use corridor_model::meta::ResourceMeta;
use corridor_store::Revision;

use super::{CompatError, CompatService};
use crate::{ListOptions, ServiceError};

impl CompatService {
    /// Loads the built-in catalogue when no profile exists yet, so a
    /// deleted built-in stays deleted across restarts.
    pub(crate) async fn load_catalogue(&self) -> Result<(), ServiceError> {
        let page = self
            .profiles
            .list(&ListOptions {
                limit: Some(1),
                ..ListOptions::default()
            })
            .await?;
        if !page.items.is_empty() {
            return Ok(());
        }
        let catalogue =
            corridor_compat::catalogue::builtin().map_err(|e| ServiceError::Startup {
                service: "compatd",
                message: format!("the built-in profile catalogue: {e}"),
            })?;
        let now = chrono::Utc::now();
        for request in catalogue {
            let profile = CompatProfile {
                id: request.name,
                spec: request.spec,
                builtin: true,
                meta: ResourceMeta::new(now),
            };
            match self.profiles.create(&profile).await {
                Ok(_) | Err(ServiceError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// `POST /v1/compat/profiles`.
    pub async fn create_profile(
        &self,
        request: ProfileRequest,
    ) -> Result<CompatProfile, CompatError> {
        request.validate().map_err(CompatError::Invalid)?;
        let profile = CompatProfile {
            id: request.name,
            spec: request.spec,
            builtin: false,
            meta: ResourceMeta::new(chrono::Utc::now()),
        };
        Ok(self.profiles.create(&profile).await?)
    }

    pub async fn get_profile(&self, name: &str) -> Result<CompatProfile, CompatError> {
        Ok(self.profiles.get(name).await?)
    }

    /// `PUT /v1/compat/profiles/{name}`: replaces the spec.
    pub async fn replace_profile(
        &self,
        name: &str,
        precondition: Option<Revision>,
        spec: ProfileSpec,
    ) -> Result<CompatProfile, CompatError> {
        spec.validate().map_err(CompatError::Invalid)?;
        let now = chrono::Utc::now();
        Ok(self
            .profiles
            .update(name, precondition, |profile| {
                profile.spec = spec.clone();
                profile.meta.updated_at = now;
                Ok(())
            })
            .await?)
    }

    pub async fn delete_profile(
        &self,
        name: &str,
        precondition: Option<Revision>,
    ) -> Result<CompatProfile, CompatError> {
        Ok(self.profiles.delete(name, precondition).await?)
    }

    /// `GET /v1/compat/profiles/{name}/render`: the profile as each engine
    /// reads it — the QEMU command and binfmt environment, the box64rc
    /// section, the FEX `AppConfig` file — whatever engine it names.
    pub async fn render_profile(&self, name: &str) -> Result<Vec<RenderedConfig>, CompatError> {
        let profile = self.profiles.get(name).await?;
        let spec = &profile.spec;
        let interpreter = self
            .translator(EngineKind::Qemu, spec.guest_arch)
            .map(|t| t.path.display().to_string())
            .unwrap_or_else(|| format!("qemu-{}", spec.guest_arch));
        let command = qemu::command(spec, &interpreter, "<exe>", &[], None);
        let (env, env_notes) = qemu::binfmt_env(spec);
        let box64 = box64::section(name, spec);
        let fex = fex::app_config(spec);
        Ok(vec![
            RenderedConfig {
                engine: EngineKind::Qemu,
                path: "argv".into(),
                text: qemu::shell_line(&command),
                notes: command.notes,
            },
            RenderedConfig {
                engine: EngineKind::Qemu,
                path: "binfmt environment".into(),
                text: env.iter().map(|(k, v)| format!("{k}={v}\n")).collect(),
                notes: env_notes,
            },
            RenderedConfig {
                engine: EngineKind::Box64,
                path: box64.path,
                text: box64.text,
                notes: box64.notes,
            },
            RenderedConfig {
                engine: EngineKind::Fex,
                path: fex.path,
                text: fex.text,
                notes: fex.notes,
            },
        ])
    }
}
