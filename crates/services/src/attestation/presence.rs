//! Devices coming and going on the fabric: a device that leaves loses its ticket, and one
//! that comes back is attested afresh before anything trusts it again.
//!
//! Why revoke rather than wait for expiry: what answers on that port next may be another
//! device, or the same one tampered with while it was out; a ticket issued before it left
//! says nothing about it. The device inventory reports the moves (FM API discovery).

use std::sync::atomic::Ordering;

use corridor_model::attestation::AttestationTicket;

use super::{AttestOptions, AttestationService};
use crate::ServiceError;

/// The reason a departed device's ticket carries.
pub const LEFT_THE_FABRIC: &str = "the device left the fabric (FM API discovery)";

impl AttestationService {
    pub(super) fn is_absent(&self, device_id: &str) -> bool {
        self.absent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(device_id)
    }

    /// `device_id` is gone from the fabric: it is not attested while away, and the ticket
    /// that vouched for it is revoked. Answers the revoked attestation, if there was one.
    ///
    /// # Errors
    /// Store failures.
    pub async fn device_left(
        &self,
        device_id: &str,
    ) -> Result<Option<AttestationTicket>, ServiceError> {
        let newly_gone = self
            .absent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(device_id.to_owned());
        if !newly_gone {
            // Revoked when it left; the inventory reports it every poll while it is
            // away, and that costs no store scan.
            return Ok(None);
        }
        match self.newest(device_id).await? {
            Some(a) if a.revoked.is_none() => {
                Ok(Some(self.revoke_unasked(&a.id, LEFT_THE_FABRIC).await?))
            }
            _ => Ok(None),
        }
    }

    /// `device_id` is back (hot-plugged, or its link retrained): when devices are attested
    /// without being asked, it is attested now with a fresh nonce. Answers the new
    /// attestation, if one was made.
    pub async fn device_arrived(&self, device_id: &str) -> Option<AttestationTicket> {
        let was_absent = self
            .absent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(device_id);
        if !was_absent || !self.automatic.load(Ordering::Acquire) || !self.anchors.knows(device_id)
        {
            return None;
        }
        let mut nonce = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut nonce);
        match self
            .attest(
                device_id,
                &corridor_attest::hex::encode(&nonce),
                Vec::new(),
                None,
                AttestOptions::default(),
            )
            .await
        {
            Ok(a) => Some(a),
            Err(error) => {
                tracing::warn!(device = %device_id, error = %crate::error::error_chain(&error), "a device back on the fabric was not attested");
                None
            }
        }
    }
}
