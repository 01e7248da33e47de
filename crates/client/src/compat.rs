//! compatd: translation engines, profiles and launched processes.

use corridor_model::compat::{
    BinfmtProfileRegistration, BinfmtStatus, CompatProcess, CompatProfile, EngineReport,
    LaunchRequest, ProfileRequest, RenderedConfig,
};

use crate::{Client, Result, encode_segment};

impl Client {
    /// `GET /v1/compat/engines`.
    pub async fn compat_engines(&self) -> Result<Vec<EngineReport>> {
        self.get_json("/v1/compat/engines").await
    }

    /// Every profile.
    pub async fn compat_profiles(&self) -> Result<Vec<CompatProfile>> {
        Ok(self
            .list_all::<CompatProfile>("/v1/compat/profiles", None)
            .await?
            .items)
    }

    /// `GET /v1/compat/profiles/{name}`.
    pub async fn compat_profile(&self, name: &str) -> Result<CompatProfile> {
        self.get_json(&format!("/v1/compat/profiles/{}", encode_segment(name)))
            .await
    }

    /// `POST /v1/compat/profiles`.
    pub async fn create_compat_profile(&self, request: &ProfileRequest) -> Result<CompatProfile> {
        self.send_json(reqwest::Method::POST, "/v1/compat/profiles", Some(request))
            .await
    }

    /// `DELETE /v1/compat/profiles/{name}`.
    pub async fn delete_compat_profile(&self, name: &str) -> Result<CompatProfile> {
        self.send_json(
            reqwest::Method::DELETE,
            &format!("/v1/compat/profiles/{}", encode_segment(name)),
            None::<&()>,
        )
        .await
    }

    /// `GET /v1/compat/profiles/{name}/render`.
    pub async fn render_compat_profile(&self, name: &str) -> Result<Vec<RenderedConfig>> {
        self.get_json(&format!(
            "/v1/compat/profiles/{}/render",
            encode_segment(name)
        ))
        .await
    }

    /// `POST /v1/compat/processes`.
    pub async fn launch(&self, request: &LaunchRequest) -> Result<CompatProcess> {
        self.send_json(reqwest::Method::POST, "/v1/compat/processes", Some(request))
            .await
    }

    /// `GET /v1/compat/processes`.
    /// `GET /v1/compat/binfmt`.
    pub async fn compat_binfmt(&self) -> Result<BinfmtStatus> {
        self.get_json("/v1/compat/binfmt").await
    }

    /// `PUT /v1/compat/binfmt/{name}`: registers the profile in the host's
    /// table (when the server allows it).
    pub async fn register_compat_binfmt(&self, name: &str) -> Result<BinfmtProfileRegistration> {
        self.send_json(
            reqwest::Method::PUT,
            &format!("/v1/compat/binfmt/{}", encode_segment(name)),
            None::<&()>,
        )
        .await
    }

    /// `DELETE /v1/compat/binfmt/{name}`.
    pub async fn unregister_compat_binfmt(&self, name: &str) -> Result<BinfmtProfileRegistration> {
        self.send_json(
            reqwest::Method::DELETE,
            &format!("/v1/compat/binfmt/{}", encode_segment(name)),
            None::<&()>,
        )
        .await
    }

    pub async fn compat_processes(&self) -> Result<Vec<CompatProcess>> {
        self.get_json("/v1/compat/processes").await
    }

    /// `GET /v1/compat/processes/{id}`.
    pub async fn compat_process(&self, id: &str) -> Result<CompatProcess> {
        self.get_json(&format!("/v1/compat/processes/{}", encode_segment(id)))
            .await
    }

    /// `DELETE /v1/compat/processes/{id}`: the process as stopped.
    pub async fn stop_compat_process(&self, id: &str) -> Result<CompatProcess> {
        self.send_json(
            reqwest::Method::DELETE,
            &format!("/v1/compat/processes/{}", encode_segment(id)),
            None::<&()>,
        )
        .await
    }
}
