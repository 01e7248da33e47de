//! The caller of a request, handed to the services.
//!
//! The route-level check in [`super::middleware::authorize`] decides whether
//! a principal may use a route at all; everything that depends on an object
//! (visibility, ownership, who receives a token) is decided by the service
//! the handler calls with this [`Caller`].

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use corridor_services::Caller;

use super::auth::Identity;
use super::problem::ApiError;
use corridor_model::problem::Problem;

/// Extracts the [`Caller`] from the identity the accept loop attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // A request that did not come through the accept loop (a test
        // calling the router directly) has no identity: nobody. The
        // authorisation middleware refuses those before any handler runs;
        // this is the second line of defence.
        let identity = parts
            .extensions
            .get::<Identity>()
            .cloned()
            .unwrap_or(Identity::Anonymous);
        match identity.principal() {
            Some(principal) => Ok(Authenticated(Caller::new(principal.clone()))),
            None => Err(ApiError(Problem::unauthorized(
                "a client certificate naming a principal is required",
            ))),
        }
    }
}
