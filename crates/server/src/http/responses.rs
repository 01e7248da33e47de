//! Response sets as types, for `responses(...)` in `#[utoipa::path]`.
//!
//! A handler lists the sets its errors come from (`responses((status = 201,
//! …), BodyProblems, NotFoundProblem)`) instead of typing statuses by hand;
//! the statuses every route shares because a layer, not the handler,
//! produces them (401/403 from authorisation, 413 for a domain's oversized
//! body, 500) are added to every operation by [`layer_responses`]. The
//! middleware then checks every answer against the document (see
//! [`super::contract`]), so a set that misses a status fails the tests.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use corridor_services::daemons::RfcDaemon;

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{OpenApi, Ref, RefOr, Response};

use super::problem::PROBLEM_JSON;

/// One problem+json response with `description`.
pub fn problem_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
        .into()
}

/// One server-sent event of a watch stream (`text/event-stream`), as a
/// client's event parser sees it.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // documents the wire format; the stream is built in `list.rs`
pub struct WatchStreamEvent {
    /// `ADDED`, `MODIFIED` or `DELETED`; `ERROR` when the watch fails (a
    /// compacted revision, a store failure), after which the stream ends.
    #[schema(pattern = "^(ADDED|MODIFIED|DELETED|ERROR)$")]
    pub event: String,
    /// The store revision of the change (absent on `ERROR`): reconnect with
    /// `Last-Event-ID` or `resource_version` to resume after it.
    pub id: Option<String>,
    /// JSON text: `{type, resource_version, object}` for a change, an RFC
    /// 9457 problem for `ERROR`.
    pub data: String,
}

/// Declares a unit type whose `IntoResponses` is a set of problem
/// responses.
macro_rules! problem_set {
    ($(#[$doc:meta])* $name:ident { $($status:literal => $description:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl $name {
            /// The statuses of this set.
            pub const STATUSES: &'static [u16] = &[$($status),+];
        }

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                [$(($status, $description)),+]
                    .into_iter()
                    .map(|(status, description): (u16, &str)| {
                        (status.to_string(), problem_response(description))
                    })
                    .collect()
            }
        }
    };
}

problem_set!(
    /// What reading a JSON body can fail with ([`super::extract::StrictJson`]).
    BodyProblems {
        400 => "The body is not JSON (or not the documented JSON type at its root)",
        415 => "The body was not sent as application/json",
        422 => "A field is invalid; `errors[].pointer` names it",
    }
);

problem_set!(
    /// What a list or watch request can fail with ([`super::extract::ListQuery`]).
    ListProblems {
        410 => "A watch asked for a revision the store has compacted; list again, then watch from the list's revision",
        422 => "A query parameter is invalid; `errors[].pointer` names it as `?name`",
    }
);

problem_set!(
    /// An id that names nothing the caller may see.
    NotFoundProblem {
        404 => "No such object, or another security domain's (indistinguishable on purpose)",
    }
);

problem_set!(
    /// Writes that take `If-Match` ([`super::extract::IfMatch`]).
    IfMatchProblems {
        409 => "If-Match names a stale resource_version (PreconditionFailed); re-read and retry",
        422 => "If-Match is not a resource_version the server returned",
    }
);

/// Statuses a layer in front of every handler can answer, added to every
/// operation of the document.
pub fn layer_responses(document: &mut OpenApi) {
    for item in document.paths.paths.values_mut() {
        let operations = [
            (&mut item.get, false),
            (&mut item.head, false),
            (&mut item.put, true),
            (&mut item.post, true),
            (&mut item.patch, true),
            (&mut item.delete, true),
        ];
        for (operation, mutates) in operations {
            let Some(operation) = operation.as_mut() else {
                continue;
            };
            let probe = operation
                .security
                .as_ref()
                .is_some_and(|requirements| requirements.iter().any(is_anonymous));
            let mut extra: Vec<(u16, &str)> = vec![(
                500,
                "The server failed (e.g. the store is unreachable); the server log has the error chain",
            )];
            if !probe {
                extra.push((
                    401,
                    "No client certificate; only /healthz and /readyz answer without one",
                ));
                extra.push((
                    403,
                    "The certificate is unusable, or its principal may not call this route",
                ));
            }
            if mutates {
                extra.push((
                    413,
                    "A security domain's request body is over the 1 MiB the domain check reads",
                ));
            }
            for (status, description) in extra {
                operation
                    .responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| problem_response(description));
            }
            // A route of one RFC daemon, asked of a process that does not
            // run it (`corridord memqosd` asked for a corridor).
            let daemon = operation
                .tags
                .iter()
                .flatten()
                .find_map(|tag| RfcDaemon::serving_tag(tag));
            if let Some(daemon) = daemon {
                let elsewhere = format!(
                    "This process does not run {daemon}, which serves this route (reason DaemonNotRunHere; the detail names the {daemon} process leading, where there is one)"
                );
                match operation.responses.responses.entry("503".to_owned()) {
                    Entry::Vacant(vacant) => {
                        vacant.insert(problem_response(&elsewhere));
                    }
                    // The handler's own 503 (a switch or the TPM did not
                    // answer) keeps its text; the layer's reason is added.
                    Entry::Occupied(mut occupied) => {
                        if let RefOr::T(response) = occupied.get_mut() {
                            response.description =
                                format!("{}; or: {elsewhere}", response.description);
                        }
                    }
                }
            }
        }
    }
}

/// An empty requirement (`{}`): the operation may be called anonymously.
fn is_anonymous(requirement: &utoipa::openapi::security::SecurityRequirement) -> bool {
    serde_json::to_value(requirement)
        .ok()
        .and_then(|value| value.as_object().map(|o| o.is_empty()))
        .unwrap_or(false)
}
