//! corrd: photonic corridors.

use corridor_model::corridor::{
    Corridor, CorridorPlan, CorridorRequest, CorridorTelemetry, TwinFaultRequest,
};
use corridor_model::history::CorridorHistory;
use corridor_model::meta::Operation;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Client, Result, decode, encode_segment};

impl Client {
    pub(crate) async fn send_json<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&(impl Serialize + Sync)>,
    ) -> Result<T> {
        let (bytes, _) = self.send_raw(method, path, body).await?;
        decode(&self.url(path), &bytes)
    }

    /// `POST /v1/corridors`.
    pub async fn create_corridor(&self, request: &CorridorRequest) -> Result<Corridor> {
        self.send_json(reqwest::Method::POST, "/v1/corridors", Some(request))
            .await
    }

    /// `POST /v1/corridors?dry_run=true`: the plan a grant would make now,
    /// nothing committed.
    pub async fn plan_corridor(&self, request: &CorridorRequest) -> Result<CorridorPlan> {
        self.send_json(
            reqwest::Method::POST,
            "/v1/corridors?dry_run=true",
            Some(request),
        )
        .await
    }

    /// `GET /v1/corridors/{id}`.
    pub async fn corridor(&self, id: &str) -> Result<Corridor> {
        self.get_json(&format!("/v1/corridors/{}", encode_segment(id)))
            .await
    }

    /// Every corridor the caller may see.
    pub async fn corridors(&self, label_selector: Option<&str>) -> Result<Vec<Corridor>> {
        Ok(self
            .list_all::<Corridor>("/v1/corridors", label_selector)
            .await?
            .items)
    }

    /// `DELETE /v1/corridors/{id}`: the corridor as released.
    pub async fn delete_corridor(&self, id: &str) -> Result<Corridor> {
        self.send_json(
            reqwest::Method::DELETE,
            &format!("/v1/corridors/{}", encode_segment(id)),
            None::<&()>,
        )
        .await
    }

    /// `GET /v1/corridors/{id}/telemetry`.
    pub async fn corridor_telemetry(&self, id: &str) -> Result<CorridorTelemetry> {
        self.get_json(&format!("/v1/corridors/{}/telemetry", encode_segment(id)))
            .await
    }

    /// `GET /v1/corridors/{id}/history`: telemetry samples and object
    /// changes between `from` and `to` (RFC 3339; the server's defaults,
    /// the hour up to now, where absent).
    pub async fn corridor_history(
        &self,
        id: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<CorridorHistory> {
        let path = format!("/v1/corridors/{}/history", encode_segment(id));
        let query: Vec<(&str, String)> = [("from", from), ("to", to)]
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?.to_owned())))
            .collect();
        let (body, _) = self.get_raw(&path, &query).await?;
        decode(&self.url(&path), &body)
    }

    /// `POST /v1/corridors/{id}/recalibrate`: the started operation.
    pub async fn recalibrate_corridor(&self, id: &str) -> Result<Operation> {
        self.send_json(
            reqwest::Method::POST,
            &format!("/v1/corridors/{}/recalibrate", encode_segment(id)),
            None::<&()>,
        )
        .await
    }

    /// `POST /v1/heliopass/calibrate`: the started operation (poll it with
    /// [`Client::operation`]).
    pub async fn calibrate(
        &self,
        request: &corridor_model::calibration::CalibrationRequest,
    ) -> Result<Operation> {
        self.send_json(
            reqwest::Method::POST,
            "/v1/heliopass/calibrate",
            Some(request),
        )
        .await
    }

    /// `PUT /v1/admin/twin/ambient` (admin only).
    pub async fn set_twin_ambient(
        &self,
        request: &corridor_model::calibration::TwinAmbientRequest,
    ) -> Result<corridor_model::calibration::TwinAmbientStatus> {
        self.send_json(
            reqwest::Method::PUT,
            "/v1/admin/twin/ambient",
            Some(request),
        )
        .await
    }

    /// `POST /v1/corridors/{id}/lease`.
    pub async fn renew_corridor_lease(&self, id: &str) -> Result<Corridor> {
        self.send_json(
            reqwest::Method::POST,
            &format!("/v1/corridors/{}/lease", encode_segment(id)),
            None::<&()>,
        )
        .await
    }

    /// `POST /v1/admin/twin/faults` (admin only).
    pub async fn inject_twin_fault(&self, fault: &TwinFaultRequest) -> Result<()> {
        self.send_raw(reqwest::Method::POST, "/v1/admin/twin/faults", Some(fault))
            .await
            .map(|_| ())
    }
}
