//! The event-log replay hasher over aws-lc-rs.

use aws_lc_rs::digest;
use corridor_protocols::tcg::{HashAlg, Hasher};

/// SHA-1, SHA-256, SHA-384 and SHA-512 through aws-lc-rs. SM3 is not offered (aws-lc has
/// none), so a log with an SM3 bank replays to [`corridor_protocols::tcg::TcgError::HasherLacks`].
/// SHA-1 is only ever used to replay a SHA-1 PCR bank, never to sign.
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsLcHasher;

impl AwsLcHasher {
    pub(crate) fn algorithm(alg: HashAlg) -> Option<&'static digest::Algorithm> {
        Some(match alg {
            HashAlg::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            HashAlg::Sha256 => &digest::SHA256,
            HashAlg::Sha384 => &digest::SHA384,
            HashAlg::Sha512 => &digest::SHA512,
            HashAlg::Sm3_256 => return None,
        })
    }
}

impl Hasher for AwsLcHasher {
    fn digest(&self, alg: HashAlg, parts: &[&[u8]]) -> Option<Vec<u8>> {
        let mut ctx = digest::Context::new(Self::algorithm(alg)?);
        for p in parts {
            ctx.update(p);
        }
        Some(ctx.finish().as_ref().to_vec())
    }
}
