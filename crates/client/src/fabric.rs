//! fabmand: CXL fabric paths and the ports they hold bandwidth on.

use corridor_model::fabric::{FabricPath, FabricPathRequest, FabricPort, FmApiCommand, FmApiReply};

use crate::{Client, Result, encode_segment};

impl Client {
    /// `POST /v1/fabman/paths`: the path as admitted and programmed.
    pub async fn create_path(&self, request: &FabricPathRequest) -> Result<FabricPath> {
        self.send_json(reqwest::Method::POST, "/v1/fabman/paths", Some(request))
            .await
    }

    /// `GET /v1/fabman/paths/{id}`.
    pub async fn path(&self, id: &str) -> Result<FabricPath> {
        self.get_json(&format!("/v1/fabman/paths/{}", encode_segment(id)))
            .await
    }

    /// Every fabric path.
    pub async fn paths(&self) -> Result<Vec<FabricPath>> {
        Ok(self
            .list_all::<FabricPath>("/v1/fabman/paths", None)
            .await?
            .items)
    }

    /// `GET /v1/fabman/ports`: every port paths route over, with its bandwidth.
    pub async fn ports(&self) -> Result<Vec<FabricPort>> {
        self.get_json("/v1/fabman/ports").await
    }

    /// `POST /v1/fabman/switches/{switch_id}/commands`: one FM API query, answered.
    pub async fn query_switch(
        &self,
        switch_id: &str,
        command: &FmApiCommand,
    ) -> Result<FmApiReply> {
        self.send_json(
            reqwest::Method::POST,
            &format!("/v1/fabman/switches/{}/commands", encode_segment(switch_id)),
            Some(command),
        )
        .await
    }

    /// `DELETE /v1/fabman/paths/{id}`: the path as released.
    pub async fn delete_path(&self, id: &str) -> Result<FabricPath> {
        self.send_json(
            reqwest::Method::DELETE,
            &format!("/v1/fabman/paths/{}", encode_segment(id)),
            None::<&()>,
        )
        .await
    }
}
