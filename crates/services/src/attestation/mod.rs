//! attestd: device attestation over SPDM 1.2 and the tickets that state it.
//!
//! An attestation challenges one device through its [`SpdmConnector`] (the
//! twin's in-process responders, or a real responder over the DMTF
//! spdm-emu socket framing), appraises the evidence against the
//! [`TrustAnchors`] (vendor root, pinned device key, reference
//! measurements), and issues a ticket: an EAR claims set in a COSE_Sign
//! signed by ML-DSA-65 and ECDSA P-384 together (`corridor_attest::ticket`).
//! Every attestation issues a ticket, whatever its verdict, so a refusal is
//! as verifiable as an approval.
//!
//! The record and its nonce are written in one transaction under one lease
//! of the ticket's lifetime: a nonce is single-use for as long as any ticket
//! naming it could be presented, and records of expired tickets disappear
//! with their lease.
//!
//! - [`anchors`]: what is trusted, and its policy hash.
//! - [`appraisal`]: an SPDM report as API measurements and EAR claims.
//! - [`error`]: refusals and their problems.

pub mod anchors;
pub mod appraisal;
pub mod error;
pub mod issuers;
pub mod measured_boot;
pub mod platform;
mod presence;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use corridor_attest::spdm::{
    AttestOptions, AttestationReport, Contraindication, Requester, SystemNonces, Verdict,
};
use corridor_attest::ticket::{RevocationList, TicketSigner, TicketVerifier};
use corridor_hal::Clock;
use corridor_hal::attestation::SpdmConnector;
use corridor_model::attestation::{
    AttestDeviceRequest, AttestationTicket, AttestationVerdict, FabricAttestRequest, MeasuredBoot,
    RevokeRequest, SignatureAlgorithm, SpdmAttestRequest, TicketVerification,
};
use corridor_model::corridor::Corridor;
use corridor_model::ffm::FfmBundle;
use corridor_model::meta::{ResourceKind, ResourceMeta, ResourceRef};
use corridor_store::{Compare, Op, StateStore};

pub use anchors::TrustAnchors;
pub use platform::{BootTamper, PlatformTpm};

pub use error::AttestationError;

use crate::corridors::trust::DeviceStanding;
use crate::{Caller, ListOptions, Registry, ServiceError};

crate::meta_resource!(AttestationTicket, "attestations", leased);

/// How long a ticket vouches for its device. A day: long enough that
/// re-attestation is rare work, short enough that a firmware change or a
/// revoked vendor key stops being trusted within a day even if nobody
/// revokes the ticket by hand.
pub const TICKET_TTL: Duration = Duration::from_secs(24 * 3600);

/// Store key of a used nonce (hex): present while any ticket naming it is alive.
fn nonce_key(nonce_hex: &str) -> String {
    format!("/attest/nonces/{nonce_hex}")
}

#[derive(Debug)]
pub struct AttestationService {
    attestations: Registry<AttestationTicket>,
    corridors: Registry<Corridor>,
    bundles: Registry<FfmBundle>,
    store: Arc<dyn StateStore>,
    connector: Arc<dyn SpdmConnector>,
    anchors: TrustAnchors,
    /// Shared by every attestation: it remembers responder nonces, so a
    /// device replaying an old answer is caught across attestations.
    requester: Arc<Requester>,
    signer: TicketSigner,
    /// This replica's verifier and the other replicas' published ones.
    issuers: issuers::Issuers,
    clock: Arc<dyn Clock>,
    /// This host's TPM, when corridord was started with one.
    platform: std::sync::OnceLock<Arc<PlatformTpm>>,
    /// Bumped after every attestation recorded or revoked, for those who
    /// show the current one (the device inventory).
    changed: tokio::sync::watch::Sender<u64>,
    /// Devices FM API discovery last found gone: not attested until they are back.
    absent: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// Whether devices are attested without being asked (the attestation loop runs):
    /// then a device that comes back is attested at once.
    automatic: std::sync::atomic::AtomicBool,
}

impl AttestationService {
    /// # Errors
    /// The signer's public keys do not make a verifier (a key bug).
    pub fn new(
        store: Arc<dyn StateStore>,
        clock: Arc<dyn Clock>,
        connector: Arc<dyn SpdmConnector>,
        anchors: TrustAnchors,
        signer: TicketSigner,
    ) -> Result<Self, ServiceError> {
        let verifier = signer.verifier().map_err(|e| ServiceError::Startup {
            service: "attestd",
            message: format!(
                "the ticket keys do not verify their own signatures: {}",
                crate::error::error_chain(&e)
            ),
        })?;
        Ok(Self {
            attestations: Registry::new(Arc::clone(&store)),
            corridors: Registry::new(Arc::clone(&store)),
            bundles: Registry::new(Arc::clone(&store)),
            issuers: issuers::Issuers::new(Arc::clone(&store), &signer, verifier),
            store,
            connector,
            anchors,
            requester: Arc::new(Requester::default()),
            signer,
            clock,
            platform: std::sync::OnceLock::new(),
            changed: tokio::sync::watch::Sender::new(0),
            absent: std::sync::Mutex::new(std::collections::BTreeSet::new()),
            automatic: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Attaches this host's TPM (once; measured boot answers 404 until then).
    pub fn attach_platform(&self, platform: Arc<PlatformTpm>) {
        // One TPM per host: a second attachment is ignored.
        let _ = self.platform.set(platform);
    }

    /// `POST /v1/attest/{attestation_id}/revoke`: the ticket stops
    /// vouching for its device at once (verification says `revoked: …`,
    /// the corridors bound to it degrade on the reconciler's next pass).
    /// Revoking a revoked ticket keeps the first reason.
    ///
    /// # Errors
    /// Not found (also when the caller's domain may not see it).
    pub async fn revoke(
        &self,
        caller: &Caller,
        id: &str,
        request: RevokeRequest,
    ) -> Result<AttestationTicket, ServiceError> {
        self.get(caller, id).await?;
        self.revoke_unasked(id, &request.reason).await
    }

    /// Revokes attestation `id` with `reason` (a first reason stays).
    async fn revoke_unasked(
        &self,
        id: &str,
        reason: &str,
    ) -> Result<AttestationTicket, ServiceError> {
        let revoked = self
            .attestations
            .update(id, None, |a| {
                if a.revoked.is_none() {
                    a.revoked = Some(reason.to_owned());
                }
                Ok(())
            })
            .await?;
        self.changed.send_modify(|n| *n += 1);
        Ok(revoked)
    }

    /// Wakes after each attestation recorded or revoked.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// This host's TPM, if one is attached.
    pub fn platform(&self) -> Option<&Arc<PlatformTpm>> {
        self.platform.get()
    }

    /// `GET /v1/attest/measured-boot/{device_id}`: quotes this host's TPM
    /// now and appraises its boot.
    ///
    /// # Errors
    /// No TPM for `device_id` (404), the TPM does not answer (503).
    pub async fn measured_boot(
        &self,
        _caller: &Caller,
        device_id: &str,
    ) -> Result<MeasuredBoot, AttestationError> {
        let platform = self
            .platform
            .get()
            .filter(|p| p.host == device_id)
            .ok_or_else(|| AttestationError::NoMeasuredBoot(device_id.to_owned()))?;
        measured_boot::report(platform, self.clock.now()).await
    }

    /// Publishes this replica's ticket keys so that every replica on the
    /// store verifies its tickets (corridord does this at start).
    ///
    /// # Errors
    /// The store refuses the write.
    pub async fn publish_issuer(&self) -> Result<(), ServiceError> {
        self.issuers.publish().await
    }

    /// The verifier of this service's tickets (its public keys).
    pub fn verifier(&self) -> &TicketVerifier {
        self.issuers.own()
    }

    /// `POST /v1/attest/device`: attests one device now.
    ///
    /// # Errors
    /// Unknown device (404), a nonce used before (409), store failures.
    pub async fn attest_device(
        &self,
        _caller: &Caller,
        request: AttestDeviceRequest,
    ) -> Result<AttestationTicket, AttestationError> {
        self.attest(
            &request.device_id,
            &request.nonce,
            Vec::new(),
            None,
            AttestOptions::default(),
        )
        .await
    }

    /// `POST /v1/attest/spdm`: an SPDM attestation as the caller asks it:
    /// its 32-byte nonce is the one the device signs its measurements
    /// over, from the slot and blocks it names.
    ///
    /// # Errors
    /// As [`Self::attest_device`].
    pub async fn attest_spdm(
        &self,
        _caller: &Caller,
        request: SpdmAttestRequest,
    ) -> Result<AttestationTicket, AttestationError> {
        let nonce: [u8; corridor_model::attestation::SPDM_NONCE_BYTES] =
            corridor_attest::hex::decode(&request.nonce)
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| AttestationError::Field {
                    pointer: "/nonce",
                    rule: "hex",
                    message: "must be 32 bytes of hex".into(),
                })?;
        let options = AttestOptions {
            slot_id: request.slot_id,
            indices: request.measurement_indices,
            measurement_nonce: Some(nonce),
        };
        self.attest(
            &request.device_id,
            &request.nonce,
            Vec::new(),
            None,
            options,
        )
        .await
    }

    /// `POST /v1/fabman/attest`: attests a fabric device and binds the
    /// ticket to the allocations that rely on it (which must exist and be
    /// visible to the caller).
    ///
    /// # Errors
    /// As [`Self::attest_device`], and a bound object that does not exist
    /// (422 on `/bind_to`).
    pub async fn fabric_attest(
        &self,
        caller: &Caller,
        request: FabricAttestRequest,
    ) -> Result<AttestationTicket, AttestationError> {
        let mut domain = None;
        for bound in &request.bind_to {
            let owner = match bound.kind {
                ResourceKind::Corridor => self
                    .corridors
                    .get(&bound.id)
                    .await
                    .ok()
                    .map(|c| c.security_domain),
                ResourceKind::FfmBundle => self
                    .bundles
                    .get(&bound.id)
                    .await
                    .ok()
                    .map(|b| Some(b.security_domain)),
                _ => None,
            };
            match owner {
                Some(owner) if caller.may_see(owner.as_deref()) => {
                    domain = domain.or(owner);
                }
                _ => {
                    return Err(AttestationError::BoundObjectMissing {
                        kind: bound.kind.as_str(),
                        id: bound.id.clone(),
                    });
                }
            }
        }
        let nonce = match request.nonce {
            Some(nonce) => nonce,
            None => {
                let mut bytes = [0u8; 32];
                rand::Rng::fill(&mut rand::rng(), &mut bytes);
                corridor_attest::hex::encode(&bytes)
            }
        };
        self.attest(
            &request.device_id,
            &nonce,
            request.bind_to,
            domain,
            AttestOptions::default(),
        )
        .await
    }

    async fn attest(
        &self,
        device_id: &str,
        nonce_hex: &str,
        bound_to: Vec<ResourceRef>,
        security_domain: Option<String>,
        options: AttestOptions,
    ) -> Result<AttestationTicket, AttestationError> {
        let nonce_hex = nonce_hex.to_ascii_lowercase();
        let now = self.clock.now();
        let policy = self
            .anchors
            .policy(device_id, now.timestamp())
            .ok_or_else(|| AttestationError::UnknownDevice(device_id.to_owned()))?;
        // Refuse a replay before challenging the device; the transaction
        // below decides races between two requests with one nonce.
        if self
            .store
            .get(&nonce_key(&nonce_hex))
            .await
            .map_err(ServiceError::store("read a nonce"))?
            .is_some()
        {
            return Err(AttestationError::NonceReplayed(nonce_hex));
        }
        let connector = Arc::clone(&self.connector);
        let requester = Arc::clone(&self.requester);
        let device = device_id.to_owned();
        let slot_id = options.slot_id;
        // The exchange is blocking device I/O (or, on the twin, signing).
        let report = tokio::task::spawn_blocking(move || match connector.connect(&device) {
            Ok(mut transport) => {
                requester.attest_with(transport.as_mut(), &policy, &mut SystemNonces, &options)
            }
            Err(e) => AttestationReport {
                verdict: Verdict::Contraindicated(Contraindication::Unreachable {
                    detail: crate::error::error_chain(&e),
                }),
                negotiated: None,
                leaf_pin: None,
                measurements: Vec::new(),
                exchanges: 0,
            },
        })
        .await
        .map_err(|e| AttestationError::Exchange(e.to_string()))?;

        let id = appraisal::new_attestation_id();
        let issued_at = now;
        let expires_at =
            now + chrono::Duration::from_std(TICKET_TTL).unwrap_or(chrono::Duration::MAX);
        let claims = appraisal::claims(appraisal::ClaimsInput {
            attestation_id: &id,
            device_id,
            report: &report,
            nonce_hex: &nonce_hex,
            issued_at,
            expires_at,
            bound_to: &bound_to,
            security_domain: security_domain.as_deref(),
            policy_hash: self.anchors.hash(),
        })?;
        let signed = self.signer.sign(&claims).map_err(AttestationError::Sign)?;
        let mut record = AttestationTicket {
            id: id.clone(),
            device_id: device_id.to_owned(),
            verdict: if report.verdict.is_affirming() {
                AttestationVerdict::Affirming
            } else {
                AttestationVerdict::Contraindicated
            },
            nonce: nonce_hex.clone(),
            measurements: appraisal::measurements(&report),
            issued_at,
            expires_at,
            signature_algs: vec![
                SignatureAlgorithm::MlDsa65,
                SignatureAlgorithm::EcdsaP384Sha384,
            ],
            ticket_id: signed.id.as_str().to_owned(),
            ticket: base64::engine::general_purpose::STANDARD.encode(&signed.bytes),
            bound_to,
            security_domain,
            reason: report.verdict.reason().map(ToString::to_string),
            revoked: None,
            spdm: Some(appraisal::session(&report, slot_id)),
            meta: ResourceMeta::new(now).with_labels(
                [
                    ("device".to_string(), device_id.to_owned()),
                    ("ticket".to_string(), signed.id.as_str().to_owned()),
                ]
                .into(),
            ),
        };
        record.meta.lease_expires_at = Some(expires_at);
        let lease = self
            .store
            .lease_grant(TICKET_TTL)
            .await
            .map_err(ServiceError::store("grant an attestation lease"))?;
        let key = nonce_key(&nonce_hex);
        let created = self
            .attestations
            .create_with(
                &record,
                Some(lease),
                vec![Compare::absent(&key)],
                vec![Op::Put {
                    key,
                    value: id.into_bytes(),
                    lease: Some(lease),
                }],
            )
            .await;
        match created {
            Ok(created) => {
                self.changed.send_modify(|n| *n += 1);
                Ok(created)
            }
            Err(e) => {
                let _ = self.store.lease_revoke(lease).await;
                Err(match e {
                    ServiceError::ConditionFailed { .. } => {
                        AttestationError::NonceReplayed(nonce_hex)
                    }
                    other => other.into(),
                })
            }
        }
    }

    /// `GET /v1/attest/{attestation_id}`.
    ///
    /// # Errors
    /// Not found (also when the caller's domain may not see it).
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<AttestationTicket, ServiceError> {
        let record = self.attestations.get(id).await?;
        if caller.may_see(record.security_domain.as_deref()) {
            Ok(record)
        } else {
            Err(ServiceError::NotFound {
                kind: "attestations",
                id: id.to_owned(),
            })
        }
    }

    /// The attestation whose ticket is `ticket_id`.
    async fn by_ticket(
        &self,
        caller: &Caller,
        ticket_id: &str,
    ) -> Result<AttestationTicket, ServiceError> {
        let page = self
            .attestations
            .list_visible(&ListOptions::default(), |a| {
                a.ticket_id == ticket_id && caller.may_see(a.security_domain.as_deref())
            })
            .await?;
        page.items
            .into_iter()
            .next()
            .ok_or_else(|| ServiceError::NotFound {
                kind: "tickets",
                id: ticket_id.to_owned(),
            })
    }

    /// `GET /v1/fabman/attest/{ticket_id}`: verifies the ticket as a
    /// relying party would, from its bytes: both signatures, expiry,
    /// revocation, verdict.
    ///
    /// # Errors
    /// Not found (also when the caller's domain may not see it).
    pub async fn verify_ticket(
        &self,
        caller: &Caller,
        ticket_id: &str,
    ) -> Result<TicketVerification, ServiceError> {
        let record = self.by_ticket(caller, ticket_id).await?;
        let now = self.clock.now();
        let reason = self.ticket_fault(&record, now).await;
        Ok(TicketVerification {
            ticket_id: record.ticket_id,
            attestation_id: record.id,
            device_id: record.device_id,
            valid: reason.is_none(),
            verdict: record.verdict,
            reason,
            expires_at: record.expires_at,
            bound_to: record.bound_to,
            checked_at: now,
        })
    }

    /// Why `record`'s ticket does not vouch for its device at `now`, or
    /// `None` when it does.
    async fn ticket_fault(&self, record: &AttestationTicket, now: DateTime<Utc>) -> Option<String> {
        let bytes = match base64::engine::general_purpose::STANDARD.decode(&record.ticket) {
            Ok(bytes) => bytes,
            Err(e) => return Some(format!("the stored ticket is not base64: {e}")),
        };
        let verifier = match self.issuers.verifier_for(&bytes).await {
            Ok(verifier) => verifier,
            Err(why) => return Some(why),
        };
        let unix = u64::try_from(now.timestamp()).unwrap_or(0);
        match verifier.verify(&bytes, unix, &RevocationList::new()) {
            Err(e) => Some(crate::error::error_chain(&e)),
            Ok(verified) if !verified.claims.is_affirming() => {
                Some(record.reason.clone().unwrap_or_else(|| {
                    format!("the ticket's verdict is {}", verified.claims.status())
                }))
            }
            Ok(_) => record.revoked.clone().map(|why| format!("revoked: {why}")),
        }
    }

    /// The device's newest attestation, whatever its verdict.
    ///
    /// # Errors
    /// Store failures.
    pub async fn newest(&self, device_id: &str) -> Result<Option<AttestationTicket>, ServiceError> {
        let page = self
            .attestations
            .list_visible(&ListOptions::default(), |a| a.device_id == device_id)
            .await?;
        // Two attestations can share an instant (a coarse or manual clock):
        // the later write, by store revision, is the newer.
        Ok(page.items.into_iter().max_by_key(|a| {
            (
                a.issued_at,
                a.meta.resource_version.parse::<i64>().unwrap_or(0),
            )
        }))
    }

    /// The ticket that vouches for `device_id` now: its newest attestation,
    /// if that one is affirming, unexpired, unrevoked and verifies. A newer
    /// contraindicated attestation supersedes an older affirming one. A
    /// device reported gone from the fabric has none, even while the
    /// revocation its departure started is still being written: a second
    /// inventory pass racing the first must not publish the old ticket on
    /// the offline record.
    ///
    /// # Errors
    /// Store failures.
    pub async fn current_ticket(
        &self,
        device_id: &str,
    ) -> Result<Option<AttestationTicket>, ServiceError> {
        if self.is_absent(device_id) {
            return Ok(None);
        }
        let now = self.clock.now();
        match self.newest(device_id).await? {
            Some(a) if self.vouch_fault(&a, now).await.is_none() => Ok(Some(a)),
            _ => Ok(None),
        }
    }

    /// Why attestation `a` does not vouch for its device at `now` (not
    /// affirming, expired, or a ticket that does not verify or is
    /// revoked), or `None` when it does.
    async fn vouch_fault(&self, a: &AttestationTicket, now: DateTime<Utc>) -> Option<String> {
        if a.verdict != AttestationVerdict::Affirming {
            Some(format!(
                "attestation {} is contraindicated: {}",
                a.id,
                a.reason.as_deref().unwrap_or("no reason given")
            ))
        } else if now >= a.expires_at {
            Some(format!(
                "the ticket of attestation {} expired at {}",
                a.id, a.expires_at
            ))
        } else {
            self.ticket_fault(a, now)
                .await
                .map(|why| format!("the ticket of attestation {}: {why}", a.id))
        }
    }

    /// Attests every known device whose standing is not a ticket valid for
    /// at least `margin` more, with a nonce of its own. Returns how many it
    /// attested.
    pub async fn attest_due(&self, margin: Duration) -> usize {
        let now = self.clock.now();
        let soon = now + chrono::Duration::from_std(margin).unwrap_or(chrono::Duration::MAX);
        let mut attested = 0;
        for device in self.anchors.device_ids() {
            if self.is_absent(&device) {
                continue;
            }
            let due = match self.newest(&device).await {
                Ok(Some(a)) => !(a.is_valid_at(now) && a.expires_at > soon),
                Ok(None) => true,
                Err(error) => {
                    tracing::warn!(%device, error = %crate::error::error_chain(&error), "cannot read attestations");
                    continue;
                }
            };
            if !due {
                continue;
            }
            let mut nonce = [0u8; 32];
            rand::Rng::fill(&mut rand::rng(), &mut nonce);
            match self
                .attest(
                    &device,
                    &corridor_attest::hex::encode(&nonce),
                    Vec::new(),
                    None,
                    AttestOptions::default(),
                )
                .await
            {
                Ok(a) => {
                    attested += 1;
                    if a.verdict != AttestationVerdict::Affirming {
                        tracing::warn!(%device, reason = a.reason.as_deref().unwrap_or(""), "device contraindicated");
                    }
                }
                Err(error) => {
                    tracing::warn!(%device, error = %crate::error::error_chain(&error), "attestation failed");
                }
            }
        }
        attested
    }

    /// Attests every device now and keeps re-attesting those whose ticket
    /// is within [`REATTEST_MARGIN`] of expiry, every [`REATTEST_PERIOD`],
    /// until the service is dropped or the returned task is aborted (which
    /// drops its hold on the service, and so on the store, at once).
    pub fn spawn_attestation_loop(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        self.automatic
            .store(true, std::sync::atomic::Ordering::Release);
        let service = Arc::downgrade(self);
        corridor_store::fencing::spawn(async move {
            loop {
                let Some(s) = service.upgrade() else { return };
                s.attest_due(REATTEST_MARGIN).await;
                drop(s);
                tokio::time::sleep(REATTEST_PERIOD).await;
            }
        })
    }
}

/// A ticket this close to expiry is renewed by a fresh attestation.
pub const REATTEST_MARGIN: Duration = Duration::from_secs(3600);
/// How often due devices are looked for.
pub const REATTEST_PERIOD: Duration = Duration::from_secs(60);

#[async_trait::async_trait]
impl crate::corridors::trust::DeviceTrust for AttestationService {
    async fn standing(&self, device_id: &str) -> DeviceStanding {
        // memqosd asks about every node a bundle lands on, NUMA nodes
        // included: only devices with reference values can have an
        // attestation, so the others cost no store scan.
        if !self.anchors.knows(device_id) {
            return DeviceStanding::Untrusted {
                reason: "attestd holds no reference values for it".into(),
            };
        }
        let now = self.clock.now();
        match self.newest(device_id).await {
            Err(e) => DeviceStanding::Untrusted {
                reason: format!(
                    "its attestations cannot be read: {}",
                    crate::error::error_chain(&e)
                ),
            },
            Ok(None) => DeviceStanding::Untrusted {
                reason: "not attested yet".into(),
            },
            Ok(Some(a)) => {
                let fault = self.vouch_fault(&a, now).await;
                match fault {
                    None => DeviceStanding::Trusted {
                        attestation_id: a.id,
                    },
                    Some(reason) => DeviceStanding::Untrusted { reason },
                }
            }
        }
    }
}
