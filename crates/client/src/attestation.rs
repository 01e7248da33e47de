//! attestd: device attestation, SPDM, measured boot and ticket
//! verification.

use corridor_model::attestation::{
    AttestDeviceRequest, AttestationTicket, MeasuredBoot, SpdmAttestRequest, TicketVerification,
};

use crate::{Client, Result, encode_segment};

impl Client {
    /// `POST /v1/attest/device`.
    pub async fn attest_device(&self, request: &AttestDeviceRequest) -> Result<AttestationTicket> {
        self.send_json(reqwest::Method::POST, "/v1/attest/device", Some(request))
            .await
    }

    /// `POST /v1/attest/spdm`.
    pub async fn attest_spdm(&self, request: &SpdmAttestRequest) -> Result<AttestationTicket> {
        self.send_json(reqwest::Method::POST, "/v1/attest/spdm", Some(request))
            .await
    }

    /// `GET /v1/attest/{attestation_id}`.
    pub async fn attestation(&self, id: &str) -> Result<AttestationTicket> {
        self.get_json(&format!("/v1/attest/{}", encode_segment(id)))
            .await
    }

    /// `GET /v1/attest/measured-boot/{device_id}`.
    pub async fn measured_boot(&self, host: &str) -> Result<MeasuredBoot> {
        self.get_json(&format!(
            "/v1/attest/measured-boot/{}",
            encode_segment(host)
        ))
        .await
    }

    /// `GET /v1/fabman/attest/{ticket_id}`.
    pub async fn verify_ticket(&self, ticket_id: &str) -> Result<TicketVerification> {
        self.get_json(&format!("/v1/fabman/attest/{}", encode_segment(ticket_id)))
            .await
    }
}
