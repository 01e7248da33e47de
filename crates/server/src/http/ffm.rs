//! memqosd's HTTP endpoints: free-form memory bundles and bandwidth policies.
//!
//! Until the memory service lands (issue #4) they answer 501 naming it.

use corridor_model::problem::Problem;

use super::problem::ApiError;
use crate::pending_endpoint;

// memqosd: free-form memory and policies (issue #4).
pending_endpoint!(
    alloc_ffm,
    post,
    "/v1/ffm/alloc",
    "memqosd",
    "#4 (free-form memory)"
);
pending_endpoint!(list_ffm, get, "/v1/ffm", "memqosd", "#4 (free-form memory)");
pending_endpoint!(
    get_ffm,
    get,
    "/v1/ffm/{id}",
    "memqosd",
    "#4 (free-form memory)"
);
pending_endpoint!(
    delete_ffm,
    delete,
    "/v1/ffm/{id}",
    "memqosd",
    "#4 (free-form memory)"
);
pending_endpoint!(
    ffm_telemetry,
    get,
    "/v1/ffm/{id}/telemetry",
    "memqosd",
    "#4 (free-form memory)"
);
pending_endpoint!(
    patch_ffm_bandwidth,
    patch,
    "/v1/ffm/{id}/bandwidth",
    "memqosd",
    "#4 (free-form memory)"
);
pending_endpoint!(
    patch_ffm_latency_class,
    patch,
    "/v1/ffm/{id}/latency_class",
    "memqosd",
    "#4 (free-form memory)"
);
pending_endpoint!(
    renew_ffm_lease,
    post,
    "/v1/ffm/{id}/lease",
    "memqosd",
    "#4 (free-form memory)"
);
pending_endpoint!(
    create_policy,
    post,
    "/v1/policies",
    "memqosd",
    "#4 (free-form memory)"
);
pending_endpoint!(
    list_policies,
    get,
    "/v1/policies",
    "memqosd",
    "#4 (free-form memory)"
);
pending_endpoint!(
    get_policy,
    get,
    "/v1/policies/{id}",
    "memqosd",
    "#4 (free-form memory)"
);
pending_endpoint!(
    delete_policy,
    delete,
    "/v1/policies/{id}",
    "memqosd",
    "#4 (free-form memory)"
);
