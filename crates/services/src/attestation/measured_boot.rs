//! `GET /v1/attest/measured-boot/{device_id}`: a fresh quote of the host's
//! TPM, its event log replayed against the quote, and the enrolled policy's
//! verdict on the log, in the API's shape.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use corridor_attest::hex;
use corridor_attest::tpm::{Appraisal, QuoteEvidence, RejectReason, appraise};
use corridor_hal::tpm::PcrSelection;
use corridor_model::attestation::{
    BootEvent, BootPolicyVerdict, ConfidentialComputingReport, EventLogSummary, MeasuredBoot,
    PcrBank, PcrValue, RejectedBootEvent, TpmInfo,
};
use corridor_protocols::tcg::{EventType, HashAlg};

use super::error::AttestationError;
use super::platform::{POLICY_BANK, PlatformTpm};

/// Quotes `platform`'s TPM with a fresh nonce and appraises the result.
///
/// # Errors
/// The TPM does not answer ([`AttestationError::Tpm`]); a log that does not
/// parse is reported the same way, since nothing can be appraised.
pub async fn report(
    platform: &Arc<PlatformTpm>,
    now: DateTime<Utc>,
) -> Result<MeasuredBoot, AttestationError> {
    let mut nonce = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut nonce);
    let p = Arc::clone(platform);
    // TPM commands block (milliseconds on swtpm, more on a discrete TPM).
    let appraisal = tokio::task::spawn_blocking(move || -> Result<Appraisal, AttestationError> {
        let tpm_error =
            |e: &dyn std::error::Error| AttestationError::Tpm(crate::error::error_chain(e));
        let selection = [PcrSelection::new(p.policy.bank, &p.policy.pcrs)];
        let quote = p.tpm.quote(&nonce, &selection).map_err(|e| tpm_error(&e))?;
        let log = p
            .tpm
            .event_log()
            .map_err(|e| tpm_error(&e))?
            .unwrap_or_default();
        let evidence = QuoteEvidence {
            attest: &quote.attest,
            signature: &quote.signature,
            ak_public: &quote.ak_public,
        };
        appraise(&evidence, &log, &nonce, Some(&p.pinned_ak), &p.policy).map_err(|e| tpm_error(&e))
    })
    .await
    .map_err(|e| AttestationError::Tpm(e.to_string()))??;
    Ok(shape(platform, &appraisal, &nonce, now))
}

fn bank(alg: HashAlg) -> PcrBank {
    match alg {
        HashAlg::Sha1 => PcrBank::Sha1,
        HashAlg::Sha384 => PcrBank::Sha384,
        HashAlg::Sha512 => PcrBank::Sha512,
        // The policy bank is SHA-256 and SM3 is never quoted (no hasher).
        HashAlg::Sha256 | HashAlg::Sm3_256 => PcrBank::Sha256,
    }
}

/// Event data worth showing: printable ASCII (paths, versions, variable
/// names), trailing NULs dropped.
fn printable(data: &[u8]) -> Option<String> {
    let text = data.strip_suffix(&[0]).unwrap_or(data);
    (!text.is_empty() && text.iter().all(|b| b.is_ascii_graphic() || *b == b' '))
        .then(|| String::from_utf8_lossy(text).into_owned())
}

fn reason(r: &RejectReason) -> &'static str {
    match r {
        RejectReason::UnexpectedEvent => "unexpected_event",
        RejectReason::DigestNotAllowed => "digest_not_allowed",
        RejectReason::MissingBank => "missing_bank",
    }
}

fn shape(
    platform: &PlatformTpm,
    appraisal: &Appraisal,
    nonce: &[u8],
    now: DateTime<Utc>,
) -> MeasuredBoot {
    let policy = &platform.policy;
    let events: Vec<BootEvent> = appraisal
        .log
        .events
        .iter()
        .map(|e| BootEvent {
            number: e.number as u64,
            pcr: e.pcr,
            event_type: e.event_type.to_string(),
            digest: e.digest(POLICY_BANK).map(hex::encode),
            description: printable(&e.data),
        })
        .collect();
    let components = appraisal
        .log
        .events
        .iter()
        .filter(|e| {
            matches!(
                e.event_type,
                EventType::EV_S_CRTM_VERSION
                    | EventType::EV_EFI_BOOT_SERVICES_APPLICATION
                    | EventType::EV_EFI_BOOT_SERVICES_DRIVER
                    | EventType::EV_IPL
            )
        })
        .filter_map(|e| printable(&e.data))
        .collect();
    // The signed values when the quote verified; else what the log
    // replays to, which is all there is to show.
    let pcrs = match &appraisal.quote {
        Ok(verified) => verified
            .pcrs
            .iter()
            .filter(|(alg, _, _)| *alg == policy.bank)
            .map(|(_, index, value)| PcrValue {
                index: *index,
                digest: hex::encode(value),
            })
            .collect(),
        Err(_) => policy
            .pcrs
            .iter()
            .filter_map(|pcr| {
                appraisal
                    .replayed
                    .value(policy.bank, *pcr)
                    .map(|v| PcrValue {
                        index: *pcr,
                        digest: hex::encode(v),
                    })
            })
            .collect(),
    };
    let verdict = &appraisal.policy;
    MeasuredBoot {
        device_id: platform.host.clone(),
        pcr_bank: bank(policy.bank),
        pcrs,
        event_log: EventLogSummary {
            event_count: events.len() as u64,
            replay_matches_pcrs: appraisal.quote.is_ok(),
            components,
            origin: platform.origin.as_str().to_owned(),
            events,
        },
        quote_verified: appraisal.quote.is_ok(),
        quote_failure: appraisal.quote.as_ref().err().map(ToString::to_string),
        nonce: hex::encode(nonce),
        policy: BootPolicyVerdict {
            accepted: verdict.accepted(),
            policy_digest: hex::encode(&policy.digest()),
            source: "enrolled_at_start".to_owned(),
            pcrs: policy.pcrs.clone(),
            rejected_events: verdict
                .rejected
                .iter()
                .map(|r| RejectedBootEvent {
                    number: r.number as u64,
                    pcr: r.pcr,
                    event_type: r.event_type.to_string(),
                    digest: hex::encode(&r.digest),
                    reason: reason(&r.reason).to_owned(),
                })
                .collect(),
            missing: verdict
                .missing
                .iter()
                .map(|(pcr, ty)| format!("{pcr}:{ty}"))
                .collect(),
        },
        trusted: appraisal.passed(),
        tpm: TpmInfo {
            transport: platform.tpm.transport(),
            software: platform.tpm.is_software(),
        },
        confidential_computing: ConfidentialComputingReport {
            technology: platform.confidential.summary().to_owned(),
            virtualised: platform.confidential.virtualised,
            evidence: platform.confidential.evidence.clone(),
        },
        collected_at: now,
    }
}
