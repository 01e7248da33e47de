//! [`verify_quote`]: every check a TPM quote needs before its PCRs mean anything.

use aws_lc_rs::signature::{
    self, RsaPublicKeyComponents, UnparsedPublicKey, VerificationAlgorithm,
};
use corridor_protocols::tcg::public::attributes;
use corridor_protocols::tcg::{
    ClockInfo, EccCurve, HashAlg, Hasher, PcrSelection, PublicKey, QuoteAttest, ReplayedPcrs,
    TpmPublic, TpmSignature,
};

use super::error::QuoteError;
use super::hasher::AwsLcHasher;

/// What the TPM returned for a quote, as raw marshalled structures.
#[derive(Debug, Clone, Copy)]
pub struct QuoteEvidence<'a> {
    /// `TPMS_ATTEST`.
    pub attest: &'a [u8],
    /// `TPMT_SIGNATURE` over `attest`.
    pub signature: &'a [u8],
    /// `TPMT_PUBLIC` of the key that signed.
    pub ak_public: &'a [u8],
}

/// What the verifier expects of a quote.
#[derive(Debug, Clone, Copy)]
pub struct QuoteCheck<'a> {
    /// The nonce the verifier sent (fresh, single-use); `extraData` must equal it.
    pub nonce: &'a [u8],
    /// The bank the policy PCRs must be quoted in.
    pub bank: HashAlg,
    /// The PCRs the policy needs: the quote must cover each, and the log must extend each.
    pub policy_pcrs: &'a [u8],
    /// The enrolled attestation key (`TPMT_PUBLIC` bytes); `None` accepts any restricted
    /// key, which only makes sense for a first enrolment.
    pub pinned_ak: Option<&'a [u8]>,
}

/// A quote that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedQuote {
    /// The TPM's clock, reset and restart counts at the quote: a changed `reset_count` since
    /// the last quote means the platform rebooted; a changed `restart_count`, that it resumed.
    pub clock_info: ClockInfo,
    /// `firmwareVersion`.
    pub firmware_version: u64,
    /// The PCR selection the TPM quoted.
    pub selections: Vec<PcrSelection>,
    /// The quoted PCR values (from the replay that matched `pcrDigest`), in selection order.
    pub pcrs: Vec<(HashAlg, u8, Vec<u8>)>,
    /// The hash the signature and `pcrDigest` used.
    pub hash: HashAlg,
}

impl VerifiedQuote {
    /// Whether the platform rebooted or resumed since `earlier` (a previous quote's clock).
    #[must_use]
    pub fn restarted_since(&self, earlier: &ClockInfo) -> bool {
        self.clock_info.reset_count != earlier.reset_count
            || self.clock_info.restart_count != earlier.restart_count
    }
}

/// Verifies a quote against `check` and the PCR values `replayed` from the event log.
///
/// Checks, in order: the attestation key decodes and is restricted, sign-only and fixedTPM
/// (and is the pinned one, if given); the signature verifies over the attest bytes
/// (ECDSA P-256 with SHA-256 or P-384 with SHA-384, RSASSA or RSAPSS with SHA-256/384/512,
/// with aws-lc-rs); the signed bytes are a
/// `TPMS_ATTEST` with magic `0xff544347` and type `TPM_ST_ATTEST_QUOTE`; `extraData` equals
/// the nonce; the selection covers every policy PCR in the policy bank (CVE-2022-0317); the
/// log extends every policy PCR; and `pcrDigest` equals the hash of the replayed values of
/// every selected PCR, concatenated in selection order.
///
/// # Errors
/// The [`QuoteError`] of the first check that fails.
pub fn verify_quote(
    evidence: &QuoteEvidence<'_>,
    check: &QuoteCheck<'_>,
    replayed: &ReplayedPcrs,
) -> Result<VerifiedQuote, QuoteError> {
    let ak = TpmPublic::parse(evidence.ak_public).map_err(QuoteError::AkPublic)?;
    if !ak.has(attributes::RESTRICTED | attributes::SIGN | attributes::FIXED_TPM)
        || ak.has(attributes::DECRYPT)
    {
        return Err(QuoteError::AkNotRestricted);
    }
    if check
        .pinned_ak
        .is_some_and(|pinned| pinned != evidence.ak_public)
    {
        return Err(QuoteError::AkNotPinned);
    }
    let sig = TpmSignature::parse(evidence.signature).map_err(QuoteError::SignatureFormat)?;
    verify_signature(&ak.key, &sig, evidence.attest)?;

    // Only now are the attest bytes known to come from the TPM.
    let quote = QuoteAttest::parse(evidence.attest).map_err(QuoteError::NotAQuote)?;
    if quote.extra_data != check.nonce {
        return Err(QuoteError::NonceMismatch);
    }
    for &pcr in check.policy_pcrs {
        if !quote.selects(check.bank, pcr) {
            return Err(QuoteError::PcrNotQuoted {
                bank: check.bank,
                pcr,
            });
        }
        if !replayed.was_extended(pcr) {
            return Err(QuoteError::NoEventsForPcr(pcr));
        }
    }
    let hash = sig.hash();
    let mut pcrs = Vec::new();
    for s in &quote.selections {
        for &pcr in &s.pcrs {
            let value = replayed
                .value(s.bank, pcr)
                .ok_or(QuoteError::BankNotInLog(s.bank))?;
            pcrs.push((s.bank, pcr, value.to_vec()));
        }
    }
    let parts: Vec<&[u8]> = pcrs.iter().map(|(_, _, v)| v.as_slice()).collect();
    let expected = AwsLcHasher
        .digest(hash, &parts)
        .ok_or_else(|| QuoteError::Unsupported(format!("{hash} pcrDigest")))?;
    if expected != quote.pcr_digest {
        return Err(QuoteError::PcrDigestMismatch);
    }
    Ok(VerifiedQuote {
        clock_info: quote.clock_info,
        firmware_version: quote.firmware_version,
        selections: quote.selections,
        pcrs,
        hash,
    })
}

fn verify_signature(key: &PublicKey, sig: &TpmSignature, message: &[u8]) -> Result<(), QuoteError> {
    let unsupported = || QuoteError::Unsupported(format!("{sig:?} with {key:?}"));
    match (key, sig) {
        (PublicKey::Ecc { curve, x, y }, TpmSignature::Ecdsa { hash, r, s }) => {
            let (n, alg): (usize, &'static dyn VerificationAlgorithm) = match (curve, hash) {
                (EccCurve::NistP256, HashAlg::Sha256) => (32, &signature::ECDSA_P256_SHA256_FIXED),
                (EccCurve::NistP384, HashAlg::Sha384) => (48, &signature::ECDSA_P384_SHA384_FIXED),
                _ => return Err(unsupported()),
            };
            let mut point = vec![0x04];
            point.extend(left_pad(x, n).ok_or(QuoteError::SignatureInvalid)?);
            point.extend(left_pad(y, n).ok_or(QuoteError::SignatureInvalid)?);
            let mut rs = left_pad(r, n).ok_or(QuoteError::SignatureInvalid)?;
            rs.extend(left_pad(s, n).ok_or(QuoteError::SignatureInvalid)?);
            UnparsedPublicKey::new(alg, point)
                .verify(message, &rs)
                .map_err(|_| QuoteError::SignatureInvalid)
        }
        (PublicKey::Rsa { modulus, exponent }, TpmSignature::RsaSsa { hash, sig: bytes })
        | (PublicKey::Rsa { modulus, exponent }, TpmSignature::RsaPss { hash, sig: bytes }) => {
            let pss = matches!(sig, TpmSignature::RsaPss { .. });
            let params: &'static signature::RsaParameters = match (pss, hash) {
                (false, HashAlg::Sha256) => &signature::RSA_PKCS1_2048_8192_SHA256,
                (false, HashAlg::Sha384) => &signature::RSA_PKCS1_2048_8192_SHA384,
                (false, HashAlg::Sha512) => &signature::RSA_PKCS1_2048_8192_SHA512,
                (true, HashAlg::Sha256) => &signature::RSA_PSS_2048_8192_SHA256,
                (true, HashAlg::Sha384) => &signature::RSA_PSS_2048_8192_SHA384,
                (true, HashAlg::Sha512) => &signature::RSA_PSS_2048_8192_SHA512,
                _ => return Err(unsupported()),
            };
            let e = exponent.to_be_bytes();
            let first = e.iter().position(|b| *b != 0).unwrap_or(e.len() - 1);
            RsaPublicKeyComponents {
                n: modulus.as_slice(),
                e: &e[first..],
            }
            .verify(params, message, bytes)
            .map_err(|_| QuoteError::SignatureInvalid)
        }
        _ => Err(unsupported()),
    }
}

/// `bytes` as an `n`-byte big-endian integer, or `None` if it does not fit.
fn left_pad(bytes: &[u8], n: usize) -> Option<Vec<u8>> {
    let trimmed = &bytes[bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len())..];
    (trimmed.len() <= n).then(|| {
        let mut out = vec![0; n - trimmed.len()];
        out.extend_from_slice(trimmed);
        out
    })
}
