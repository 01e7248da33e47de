//! Sealing to a PCR policy with tss-esapi: the TPM commands behind [`super::Tpm::seal`] and
//! [`super::Tpm::unseal`], run on the [`TssTpm`](super::TssTpm) worker's session.
//!
//! * Seal: a storage primary key (owner hierarchy, ECC P-256, AES-128-CFB for its children,
//!   re-derived from the owner seed by TPM2_CreatePrimary, so no key blob is kept); a trial
//!   policy session runs TPM2_PolicyPCR over the selection with an empty PCR digest, which
//!   makes the TPM digest the PCRs' *current* values into the policy; TPM2_Create makes a
//!   keyedHash sealed data object holding the secret whose authPolicy is that digest and
//!   which has no `userWithAuth` (no password can stand in for the policy).
//! * Unseal: the same primary, TPM2_Load, a real policy session (salted by the primary, the
//!   response encrypted, so the secret does not cross the TPM's bus or socket in the clear),
//!   TPM2_PolicyPCR over the selection (again the current values), TPM2_Unseal: the TPM
//!   compares the session's policy digest with the object's and answers
//!   `TPM_RC_POLICY_FAIL` when any selected PCR changed.
//!
//! Every transient handle (primary, loaded object, sessions) is flushed before the call
//! returns, on success and on every error: swtpm has no resource manager.

use tss_esapi::Context;
use tss_esapi::attributes::{ObjectAttributesBuilder, SessionAttributesBuilder};
use tss_esapi::constants::SessionType;
use tss_esapi::constants::response_code::Tss2ResponseCodeKind;
use tss_esapi::handles::{KeyHandle, ObjectHandle, SessionHandle};
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, PublicAlgorithm};
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::interface_types::resource_handles::Hierarchy;
use tss_esapi::interface_types::session_handles::{AuthSession, PolicySession};
use tss_esapi::structures::{
    Digest, EccPoint, KeyedHashScheme, PcrSelectionList, Private, Public, PublicBuilder,
    PublicEccParametersBuilder, PublicKeyedHashParameters, SensitiveData, SymmetricDefinition,
    SymmetricDefinitionObject,
};
use tss_esapi::traits::{Marshall, UnMarshall};

use super::sealed::{MAX_SEALED_SECRET, SealedSecret, UnsealedSecret};
use super::{Result, TpmError};

fn cmd(command: &'static str) -> impl FnOnce(tss_esapi::Error) -> TpmError {
    move |source| TpmError::Command { command, source }
}

/// Seals `secret` to the current values of the PCRs in `selection`.
pub(super) fn seal(
    ctx: &mut Context,
    secret: &[u8],
    selection: PcrSelectionList,
) -> Result<SealedSecret> {
    if secret.is_empty() || secret.len() > MAX_SEALED_SECRET {
        return Err(TpmError::Invalid(format!(
            "a secret of {} bytes (1 to {MAX_SEALED_SECRET})",
            secret.len()
        )));
    }
    let sensitive = SensitiveData::try_from(secret.to_vec()).map_err(cmd("Create (secret)"))?;
    let primary = storage_primary(ctx)?;
    let result = (|| {
        let policy = trial_pcr_policy(ctx, selection)?;
        let template = sealed_object_template(policy)?;
        let created = ctx
            .execute_with_nullauth_session(|ctx| {
                ctx.create(primary, template, None, Some(sensitive), None, None)
            })
            .map_err(cmd("Create (sealed object)"))?;
        Ok(SealedSecret {
            public: tpm2b(
                &created
                    .out_public
                    .marshall()
                    .map_err(cmd("Create (marshal public)"))?,
            )?,
            private: tpm2b(created.out_private.value())?,
        })
    })();
    flush(ctx, primary.into());
    result
}

/// Unseals `sealed` in a policy session over the current values of `selection`.
pub(super) fn unseal(
    ctx: &mut Context,
    sealed: &SealedSecret,
    selection: PcrSelectionList,
) -> Result<UnsealedSecret> {
    let public = Public::unmarshall(untpm2b(&sealed.public, "TPM2B_PUBLIC")?)
        .map_err(|e| TpmError::SealedFormat(format!("TPM2B_PUBLIC: {e}")))?;
    let private = Private::try_from(untpm2b(&sealed.private, "TPM2B_PRIVATE")?)
        .map_err(|e| TpmError::SealedFormat(format!("TPM2B_PRIVATE: {e}")))?;
    let primary = storage_primary(ctx)?;
    let result = (|| {
        let object = ctx
            .execute_with_nullauth_session(|ctx| ctx.load(primary, private, public))
            .map_err(cmd("Load (sealed object)"))?;
        let unsealed = (|| {
            let session = start_session(ctx, SessionType::Policy, Some(primary))?;
            let out = (|| {
                let attributes = SessionAttributesBuilder::new()
                    .with_encrypt(true)
                    .with_continue_session(true)
                    .build();
                ctx.tr_sess_set_attributes(session, attributes.0, attributes.1)
                    .map_err(cmd("TRSess_SetAttributes"))?;
                let policy = PolicySession::try_from(session).map_err(cmd("PolicyPCR"))?;
                ctx.policy_pcr(policy, Digest::default(), selection)
                    .map_err(cmd("PolicyPCR"))?;
                ctx.execute_with_session(Some(session), |ctx| ctx.unseal(object.into()))
                    .map_err(|source| {
                        if policy_failed(&source) {
                            TpmError::PolicyMismatch { source }
                        } else {
                            TpmError::Command {
                                command: "Unseal",
                                source,
                            }
                        }
                    })
            })();
            flush(ctx, SessionHandle::from(session).into());
            out
        })();
        flush(ctx, object.into());
        unsealed
    })();
    flush(ctx, primary.into());
    Ok(UnsealedSecret::new(result?.value().to_vec()))
}

fn policy_failed(e: &tss_esapi::Error) -> bool {
    matches!(e, tss_esapi::Error::Tss2Error(rc)
        if rc.kind() == Some(Tss2ResponseCodeKind::PolicyFail))
}

/// Flushes a transient object or session; a failure here leaves a slot taken until the TPM
/// restarts, which the next command's `TPM_RC_OBJECT_MEMORY` would report.
fn flush(ctx: &mut Context, handle: ObjectHandle) {
    let _ = ctx.flush_context(handle);
}

fn start_session(
    ctx: &mut Context,
    kind: SessionType,
    salt: Option<KeyHandle>,
) -> Result<AuthSession> {
    let symmetric = if salt.is_some() {
        SymmetricDefinition::AES_128_CFB
    } else {
        SymmetricDefinition::Null
    };
    ctx.start_auth_session(salt, None, None, kind, symmetric, HashingAlgorithm::Sha256)
        .map_err(cmd("StartAuthSession"))?
        .ok_or_else(|| TpmError::Invalid("StartAuthSession returned no session".into()))
}

/// The policy digest of PolicyPCR over the current values of `selection`.
fn trial_pcr_policy(ctx: &mut Context, selection: PcrSelectionList) -> Result<Digest> {
    let session = start_session(ctx, SessionType::Trial, None)?;
    let digest = (|| {
        let policy = PolicySession::try_from(session).map_err(cmd("PolicyPCR (trial)"))?;
        ctx.policy_pcr(policy, Digest::default(), selection)
            .map_err(cmd("PolicyPCR (trial)"))?;
        ctx.policy_get_digest(policy)
            .map_err(cmd("PolicyGetDigest"))
    })();
    flush(ctx, SessionHandle::from(session).into());
    digest
}

/// The storage primary key, created (re-derived) and loaded; the caller flushes it.
fn storage_primary(ctx: &mut Context) -> Result<KeyHandle> {
    let attributes = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_restricted(true)
        .with_decrypt(true)
        .with_sign_encrypt(false)
        .build()
        .map_err(cmd("SRK attributes"))?;
    let ecc = PublicEccParametersBuilder::new_restricted_decryption_key(
        SymmetricDefinitionObject::AES_128_CFB,
        EccCurve::NistP256,
    )
    .build()
    .map_err(cmd("SRK parameters"))?;
    let template = PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::Ecc)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attributes)
        .with_ecc_parameters(ecc)
        .with_ecc_unique_identifier(EccPoint::default())
        .build()
        .map_err(cmd("SRK template"))?;
    Ok(ctx
        .execute_with_nullauth_session(|ctx| {
            ctx.create_primary(Hierarchy::Owner, template, None, None, None, None)
        })
        .map_err(cmd("CreatePrimary (SRK)"))?
        .key_handle)
}

/// A sealed data object: keyedHash with no scheme, its secret given by the caller
/// (`sensitiveDataOrigin` clear), authorised by `policy` alone (no `userWithAuth`), never
/// duplicated (`fixedTPM`, `fixedParent`).
fn sealed_object_template(policy: Digest) -> Result<Public> {
    let attributes = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_no_da(true)
        .with_admin_with_policy(true)
        .with_user_with_auth(false)
        .build()
        .map_err(cmd("sealed object attributes"))?;
    PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::KeyedHash)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attributes)
        .with_auth_policy(policy)
        .with_keyed_hash_parameters(PublicKeyedHashParameters::new(KeyedHashScheme::Null))
        .with_keyed_hash_unique_identifier(Digest::default())
        .build()
        .map_err(cmd("sealed object template"))
}

/// `bytes` as a `TPM2B_*`: big-endian u16 size, then the bytes.
fn tpm2b(bytes: &[u8]) -> Result<Vec<u8>> {
    let size = u16::try_from(bytes.len())
        .map_err(|_| TpmError::Invalid(format!("a TPM2B of {} bytes", bytes.len())))?;
    Ok([&size.to_be_bytes()[..], bytes].concat())
}

/// The body of a `TPM2B_*` whose size matches its length.
fn untpm2b<'a>(bytes: &'a [u8], what: &str) -> Result<&'a [u8]> {
    match bytes.split_first_chunk::<2>() {
        Some((size, body)) if usize::from(u16::from_be_bytes(*size)) == body.len() => Ok(body),
        _ => Err(TpmError::SealedFormat(format!("{what}: size mismatch"))),
    }
}
