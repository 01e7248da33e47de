//! RFC endpoints whose services arrive with later issues.
//!
//! They are routed and documented now so the API surface is complete and
//! stable, and each answers `501 Not Implemented` as problem+json naming
//! the capability that is missing: never a fake success.

use corridor_model::problem::Problem;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::problem::ApiError;
use super::responses::NotImplementedProblem;

/// Declares a documented endpoint that answers 501 until its service
/// lands: method, path (with its path parameters), tag, scope and the
/// capability that is missing.
macro_rules! pending_endpoint {
    (
        $name:ident, $method:ident, $path:literal, $tag:literal, $scope:literal,
        [$($param:literal),*], $missing:literal
    ) => {
        #[utoipa::path(
            $method,
            path = $path,
            tag = $tag,
            security(("mtls" = [$scope])),
            params($(($param = String, Path, description = "Identifier")),*),
            responses(NotImplementedProblem)
        )]
        pub async fn $name() -> ApiError {
            ApiError(Problem::not_implemented(
                concat!(stringify!($method), " ", $path),
                $missing,
            ))
        }
    };
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_path, list_paths))
        .routes(routes!(get_path, delete_path))
}

// fabmand: CXL fabric paths.
pending_endpoint!(
    create_path,
    post,
    "/v1/fabman/paths",
    "fabmand",
    "tenant",
    [],
    "the CXL fabric manager (fabmand: switch paths with QoS over the FM API)"
);
pending_endpoint!(
    list_paths,
    get,
    "/v1/fabman/paths",
    "fabmand",
    "tenant",
    [],
    "the CXL fabric manager (fabmand: switch paths with QoS over the FM API)"
);
pending_endpoint!(
    get_path,
    get,
    "/v1/fabman/paths/{id}",
    "fabmand",
    "tenant",
    ["id"],
    "the CXL fabric manager (fabmand: switch paths with QoS over the FM API)"
);
pending_endpoint!(
    delete_path,
    delete,
    "/v1/fabman/paths/{id}",
    "fabmand",
    "tenant",
    ["id"],
    "the CXL fabric manager (fabmand: switch paths with QoS over the FM API)"
);
