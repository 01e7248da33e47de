//! `PATCH /v1/ffm/{id}/bandwidth`: the new floor is re-admitted on the
//! bundle's own devices and weights; one that does not fit is a 409 naming
//! the binding device and window, and nothing changes.

use corridor_model::ffm::{BandwidthPatch, FfmBundle};
use corridor_model::validate::Validate;
use corridor_planner::memory::MBps;
use corridor_store::Revision;

use super::error::FfmError;
use super::{FfmService, lock, visibility};
use crate::Caller;
use crate::registry::check_precondition;

impl FfmService {
    pub async fn set_floor(
        &self,
        caller: &Caller,
        id: &str,
        patch: BandwidthPatch,
        precondition: Option<Revision>,
    ) -> Result<FfmBundle, FfmError> {
        patch.validate().map_err(FfmError::Invalid)?;
        let (bundle, kv) = visibility::get(&self.bundles, caller, id).await?;
        check_precondition::<FfmBundle>(id, precondition, &kv)?;
        let old = bundle.bandwidth_floor_gbs;
        // Only the memqosd serving the bundle's host writes its grant.
        self.epoch_unchanged(&bundle.host).await?;
        let (grant, policies) = {
            let mut ledger = lock(&self.ledger);
            // A floor resized mid-migration would be committed on one
            // placement and enforced on the other.
            if ledger.bundle(id).is_some_and(|b| b.migrating_to.is_some()) {
                return Err(FfmError::MigrationInProgress(id.to_owned()));
            }
            ledger.resize(id, MBps::from_gbps(patch.floor_gbs.get()))?;
            (ledger.bundle(id).cloned(), self.policies_unchanged())
        };
        let mut updated = bundle;
        updated.bandwidth_floor_gbs = patch.floor_gbs;
        updated.meta.updated_at = self.clock.now();
        match self
            .write_with_grant_if(&kv, &updated, grant.as_ref(), vec![policies])
            .await
        {
            Ok(revision) => {
                updated.meta.resource_version = revision.to_string();
                Ok(self.with_telemetry(updated).await)
            }
            Err(e) => {
                let _ = lock(&self.ledger).resize(id, MBps::from_gbps(old.get()));
                Err(e)
            }
        }
    }
}
