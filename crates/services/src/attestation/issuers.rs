//! The ticket issuers a control plane trusts: its own keys, and the public
//! keys every other replica on the same store published when it started.
//!
//! Each corridord signs tickets with keys of its own (`<state dir>/attestd/`,
//! never shared). Replicas on one store must still agree on whether a
//! ticket vouches for a device, or one would light a corridor the other
//! darkens: so each publishes its public keys under
//! `/attest/issuers/<ES384 kid>` and verifies a ticket with the issuer its
//! signatures name. Writing that key needs write access to the store, which
//! is already total authority over the control plane's state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use corridor_attest::hex;
use corridor_attest::ticket::{TicketSigner, TicketVerifier, signature_key_ids};
use corridor_store::StateStore;
use serde::{Deserialize, Serialize};

use crate::ServiceError;

fn issuer_key(kid: &[u8]) -> String {
    format!("/attest/issuers/{}", hex::encode(kid))
}

/// What a replica publishes: its two public keys, base64.
#[derive(Debug, Serialize, Deserialize)]
struct PublishedIssuer {
    ml_dsa_65: String,
    es384: String,
}

#[derive(Debug)]
pub struct Issuers {
    store: Arc<dyn StateStore>,
    own: Arc<TicketVerifier>,
    own_kids: [Vec<u8>; 2],
    published: PublishedIssuer,
    /// Verifiers of other replicas, by ES384 kid, built once each.
    others: Mutex<HashMap<Vec<u8>, Arc<TicketVerifier>>>,
}

impl Issuers {
    pub fn new(store: Arc<dyn StateStore>, signer: &TicketSigner, own: TicketVerifier) -> Self {
        let b64 = &base64::engine::general_purpose::STANDARD;
        Self {
            store,
            own_kids: [
                signer.mldsa_key_id().to_vec(),
                signer.ecdsa_key_id().to_vec(),
            ],
            own: Arc::new(own),
            published: PublishedIssuer {
                ml_dsa_65: b64.encode(signer.mldsa_public_key()),
                es384: b64.encode(signer.ecdsa_public_key()),
            },
            others: Mutex::new(HashMap::new()),
        }
    }

    /// This replica's verifier.
    pub fn own(&self) -> &TicketVerifier {
        &self.own
    }

    /// Publishes this replica's public keys for the others.
    ///
    /// # Errors
    /// The store refuses the write.
    pub async fn publish(&self) -> Result<(), ServiceError> {
        let value = serde_json::to_vec(&self.published).map_err(|e| ServiceError::Startup {
            service: "attestd",
            message: format!("encoding the issuer keys: {e}"),
        })?;
        self.store
            .put(&issuer_key(&self.own_kids[1]), value, None)
            .await
            .map_err(ServiceError::store("publish the ticket issuer keys"))?;
        Ok(())
    }

    /// The verifier of the issuer whose keys signed `ticket`, or why there
    /// is none.
    pub async fn verifier_for(&self, ticket: &[u8]) -> Result<Arc<TicketVerifier>, String> {
        let kids = signature_key_ids(ticket).map_err(|e| e.to_string())?;
        if kids.iter().any(|kid| self.own_kids.contains(kid)) {
            return Ok(Arc::clone(&self.own));
        }
        for kid in &kids {
            let cached = self
                .others
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(kid)
                .cloned();
            if let Some(verifier) = cached {
                return Ok(verifier);
            }
            let Ok(Some(kv)) = self.store.get(&issuer_key(kid)).await else {
                continue;
            };
            let verifier = decode(&kv.value)?;
            self.others
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(kid.clone(), Arc::clone(&verifier));
            return Ok(verifier);
        }
        Err("signed by keys of no issuer this control plane knows".into())
    }
}

fn decode(value: &[u8]) -> Result<Arc<TicketVerifier>, String> {
    let b64 = &base64::engine::general_purpose::STANDARD;
    let published: PublishedIssuer =
        serde_json::from_slice(value).map_err(|e| format!("a published issuer: {e}"))?;
    let mldsa = b64
        .decode(&published.ml_dsa_65)
        .map_err(|e| format!("a published ML-DSA-65 key: {e}"))?;
    let es384 = b64
        .decode(&published.es384)
        .map_err(|e| format!("a published ES384 key: {e}"))?;
    TicketVerifier::from_public_keys(&mldsa, &es384)
        .map(Arc::new)
        .map_err(|e| format!("a published issuer: {e}"))
}
