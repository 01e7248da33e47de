//! corrd's HTTP endpoints: photonic corridors.
//!
//! Until the corridor service lands (issue #3) they answer 501 naming it.

use corridor_model::problem::Problem;

use super::problem::ApiError;
use crate::pending_endpoint;

// corrd: photonic corridors (issue #3).
pending_endpoint!(
    create_corridor,
    post,
    "/v1/corridors",
    "corrd",
    "#3 (photonic corridors)"
);
pending_endpoint!(
    list_corridors,
    get,
    "/v1/corridors",
    "corrd",
    "#3 (photonic corridors)"
);
pending_endpoint!(
    get_corridor,
    get,
    "/v1/corridors/{id}",
    "corrd",
    "#3 (photonic corridors)"
);
pending_endpoint!(
    delete_corridor,
    delete,
    "/v1/corridors/{id}",
    "corrd",
    "#3 (photonic corridors)"
);
pending_endpoint!(
    corridor_telemetry,
    get,
    "/v1/corridors/{id}/telemetry",
    "corrd",
    "#3 (photonic corridors)"
);
pending_endpoint!(
    recalibrate_corridor,
    post,
    "/v1/corridors/{id}/recalibrate",
    "corrd",
    "#3 (photonic corridors)"
);
pending_endpoint!(
    renew_corridor_lease,
    post,
    "/v1/corridors/{id}/lease",
    "corrd",
    "#3 (photonic corridors)"
);
