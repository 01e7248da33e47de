//! compatd's HTTP endpoints: translation engines, profiles and launched
//! processes. Handlers only translate; `CompatService` decides (what a
//! domain may launch and see, every field problem).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use corridor_model::compat::{
    BinfmtProfileRegistration, BinfmtStatus, CompatProcess, CompatProfile, EngineReport,
    LaunchRequest, ProfileRequest, ProfileSpec, RenderedConfig,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::caller::Authenticated;
use super::extract::{IfMatch, IfMatchHeader, ListParams, ListQuery, ParsedJson};
use super::list::list_or_watch;
use super::problem::ApiResult;
use super::responses::{BodyProblems, IfMatchProblems, ListProblems, NotFoundProblem};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_compat_engines))
        .routes(routes!(get_compat_binfmt))
        .routes(routes!(register_compat_binfmt, unregister_compat_binfmt))
        .routes(routes!(create_compat_profile, list_compat_profiles))
        .routes(routes!(
            get_compat_profile,
            replace_compat_profile,
            delete_compat_profile
        ))
        .routes(routes!(render_compat_profile))
        .routes(routes!(launch_compat_process, list_compat_processes))
        .routes(routes!(get_compat_process, stop_compat_process))
}

fn created<T: serde::Serialize>(path: String, body: T) -> Response {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&path) {
        headers.insert(header::LOCATION, v);
    }
    (StatusCode::CREATED, headers, Json(body)).into_response()
}

/// The translation engines: QEMU user mode (installed binaries, version,
/// guest architectures, plugin support), box64 and FEX-Emu (never run
/// here: their profiles are rendered only).
#[utoipa::path(
    get,
    path = "/v1/compat/engines",
    tag = "compatd",
    security(("mtls" = ["inventory"])),
    responses((status = 200, description = "Every engine compatd knows", body = Vec<EngineReport>))
)]
pub async fn list_compat_engines(
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<EngineReport>>> {
    let compat = state.plane.compat.clone();
    // Runs `qemu-<arch> --version` for each binary: off the runtime.
    let engines = tokio::task::spawn_blocking(move || compat.engines())
        .await
        .map_err(|e| corridor_model::problem::Problem::internal(format!("engine probe: {e}")))?;
    Ok(Json(engines))
}

/// binfmt_misc: the host's table as the kernel shows it (compatd never
/// writes it), whether this kernel gives user namespaces private instances
/// (what launches with `binfmt` use), and each profile's registration
/// string with the host entries that already claim its architecture.
#[utoipa::path(
    get,
    path = "/v1/compat/binfmt",
    tag = "compatd",
    security(("mtls" = ["infrastructure"])),
    responses((status = 200, description = "binfmt_misc on this host and every profile's registration", body = BinfmtStatus))
)]
pub async fn get_compat_binfmt(State(state): State<AppState>) -> ApiResult<Json<BinfmtStatus>> {
    Ok(Json(state.plane.compat.binfmt().await?))
}

/// Register profile `name` in the host's own binfmt_misc table (entry
/// `corridor-<name>`): from then on the kernel runs that architecture's
/// programs under the profile's interpreter for every process on the
/// host. Refused (409) unless `[compat] binfmt_system_wide = true` and
/// corridord is root; `SystemWideOff`, `NotPrivileged`,
/// `EngineNotInstalled`, `RegistrationInvalid` and `AlreadyRegistered` say
/// why.
#[utoipa::path(
    put,
    path = "/v1/compat/binfmt/{name}",
    tag = "compatd",
    security(("mtls" = ["infrastructure"])),
    params(("name" = String, Path, description = "Profile name")),
    responses(
        (status = 200, description = "Registered; the profile's registration as the host's table now shows it", body = BinfmtProfileRegistration),
        (status = 409, description = "Not allowed here, or registered already (reason)", body = corridor_model::problem::Problem, content_type = "application/problem+json"),
        NotFoundProblem,
    )
)]
pub async fn register_compat_binfmt(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<BinfmtProfileRegistration>> {
    Ok(Json(state.plane.compat.register_system_wide(&name).await?))
}

/// Remove profile `name`'s entry (`corridor-<name>`) from the host's
/// binfmt_misc table; 404 when it is not there, 409 as for `PUT`.
#[utoipa::path(
    delete,
    path = "/v1/compat/binfmt/{name}",
    tag = "compatd",
    security(("mtls" = ["infrastructure"])),
    params(("name" = String, Path, description = "Profile name")),
    responses(
        (status = 200, description = "Removed; the profile's registration as the host's table now shows it", body = BinfmtProfileRegistration),
        (status = 409, description = "Not allowed here (reason)", body = corridor_model::problem::Problem, content_type = "application/problem+json"),
        NotFoundProblem,
    )
)]
pub async fn unregister_compat_binfmt(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<BinfmtProfileRegistration>> {
    Ok(Json(
        state.plane.compat.unregister_system_wide(&name).await?,
    ))
}

/// Create a translation profile.
#[utoipa::path(
    post,
    path = "/v1/compat/profiles",
    tag = "compatd",
    security(("mtls" = ["infrastructure"])),
    request_body = ProfileRequest,
    responses(
        (status = 201, description = "Created", body = CompatProfile),
        (status = 409, description = "A profile of this name exists (AlreadyExists)", body = corridor_model::problem::Problem, content_type = "application/problem+json"),
        BodyProblems,
    )
)]
pub async fn create_compat_profile(
    State(state): State<AppState>,
    ParsedJson(request): ParsedJson<ProfileRequest>,
) -> ApiResult<Response> {
    let profile = state.plane.compat.create_profile(request).await?;
    Ok(created(
        format!("/v1/compat/profiles/{}", profile.id),
        profile,
    ))
}

/// List profiles, or watch them with `watch=true`.
#[utoipa::path(
    get,
    path = "/v1/compat/profiles",
    tag = "compatd",
    security(("mtls" = ["infrastructure"])),
    params(ListParams),
    responses(
        (status = 200, description = "The profiles: a bare JSON array (paging in the X-Continue, Link and X-Resource-Version headers), or with `watch=true` a server-sent event stream of ADDED/MODIFIED/DELETED events",
            content((Vec<CompatProfile> = "application/json"), (super::responses::WatchStreamEvent = "text/event-stream")),
            headers(
                ("X-Resource-Version" = String, description = "The store revision the page was read at; watch from it"),
                ("X-Continue" = String, description = "Token for the next page, absent on the last"),
                ("Link" = String, description = "rel=\"next\" link to the next page"),
            )),
        ListProblems,
    )
)]
pub async fn list_compat_profiles(
    State(state): State<AppState>,
    query: ListQuery,
) -> ApiResult<Response> {
    let registry = state.plane.compat.profile_registry().clone();
    list_or_watch(&state, &registry, "/v1/compat/profiles", query).await
}

/// One profile.
#[utoipa::path(
    get,
    path = "/v1/compat/profiles/{name}",
    tag = "compatd",
    security(("mtls" = ["infrastructure"])),
    params(("name" = String, Path, description = "Profile name")),
    responses((status = 200, description = "The profile", body = CompatProfile), NotFoundProblem)
)]
pub async fn get_compat_profile(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<CompatProfile>> {
    Ok(Json(state.plane.compat.get_profile(&name).await?))
}

/// Replace a profile's spec; `If-Match` makes it conditional.
#[utoipa::path(
    put,
    path = "/v1/compat/profiles/{name}",
    tag = "compatd",
    security(("mtls" = ["infrastructure"])),
    params(("name" = String, Path, description = "Profile name"), IfMatchHeader),
    request_body = ProfileSpec,
    responses(
        (status = 200, description = "Replaced", body = CompatProfile),
        NotFoundProblem,
        BodyProblems,
        IfMatchProblems,
    )
)]
pub async fn replace_compat_profile(
    State(state): State<AppState>,
    Path(name): Path<String>,
    IfMatch(precondition): IfMatch,
    ParsedJson(spec): ParsedJson<ProfileSpec>,
) -> ApiResult<Json<CompatProfile>> {
    Ok(Json(
        state
            .plane
            .compat
            .replace_profile(&name, precondition, spec)
            .await?,
    ))
}

/// Delete a profile (a built-in one stays deleted).
#[utoipa::path(
    delete,
    path = "/v1/compat/profiles/{name}",
    tag = "compatd",
    security(("mtls" = ["infrastructure"])),
    params(("name" = String, Path, description = "Profile name"), IfMatchHeader),
    responses(
        (status = 200, description = "The deleted profile", body = CompatProfile),
        NotFoundProblem,
        IfMatchProblems,
    )
)]
pub async fn delete_compat_profile(
    State(state): State<AppState>,
    Path(name): Path<String>,
    IfMatch(precondition): IfMatch,
) -> ApiResult<Json<CompatProfile>> {
    Ok(Json(
        state
            .plane
            .compat
            .delete_profile(&name, precondition)
            .await?,
    ))
}

/// The profile as every engine reads it: QEMU's command line and its
/// binfmt environment, a box64rc section, a FEX AppConfig file, each with
/// notes on the settings that engine cannot express.
#[utoipa::path(
    get,
    path = "/v1/compat/profiles/{name}/render",
    tag = "compatd",
    security(("mtls" = ["infrastructure"])),
    params(("name" = String, Path, description = "Profile name")),
    responses((status = 200, description = "The renderings", body = Vec<RenderedConfig>), NotFoundProblem)
)]
pub async fn render_compat_profile(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<RenderedConfig>>> {
    Ok(Json(state.plane.compat.render_profile(&name).await?))
}

/// Launch a program under its engine: the named profile, or the one its
/// ELF header and file name select. It runs as its own unprivileged user
/// (when corridord is root), with rlimits, in a working directory of its
/// own, killed after `timeout_s`. With `binfmt` it is executed directly
/// through its profile's registration in a private binfmt_misc instance of
/// a user namespace of its own. A domain may launch only with profiles
/// that grant it. A path outside the allowed roots, a non-ELF file, an
/// architecture or engine not served here are 422 naming the field
/// (`/exe`, `/profile`).
#[utoipa::path(
    post,
    path = "/v1/compat/processes",
    tag = "compatd",
    security(("mtls" = ["tenant"])),
    request_body = LaunchRequest,
    responses(
        (status = 201, description = "Started", body = CompatProcess),
        BodyProblems,
    )
)]
pub async fn launch_compat_process(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ParsedJson(request): ParsedJson<LaunchRequest>,
) -> ApiResult<Response> {
    let process = state.plane.compat.launch(&caller, request).await?;
    Ok(created(
        format!("/v1/compat/processes/{}", process.id),
        process,
    ))
}

/// Running and ended processes the caller may see, in launch order.
#[utoipa::path(
    get,
    path = "/v1/compat/processes",
    tag = "compatd",
    security(("mtls" = ["tenant"])),
    responses((status = 200, description = "The processes", body = Vec<CompatProcess>))
)]
pub async fn list_compat_processes(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> ApiResult<Json<Vec<CompatProcess>>> {
    Ok(Json(state.plane.compat.processes(&caller)))
}

/// One process: pid, profile, engine, CPU time, peak RSS, threads, exit
/// and the last of its output.
#[utoipa::path(
    get,
    path = "/v1/compat/processes/{id}",
    tag = "compatd",
    security(("mtls" = ["tenant"])),
    params(("id" = String, Path, description = "Process id")),
    responses((status = 200, description = "The process", body = CompatProcess), NotFoundProblem)
)]
pub async fn get_compat_process(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<CompatProcess>> {
    Ok(Json(state.plane.compat.process(&caller, &id)?))
}

/// Stop a process (SIGKILL to its process group); answers it as ended.
#[utoipa::path(
    delete,
    path = "/v1/compat/processes/{id}",
    tag = "compatd",
    security(("mtls" = ["tenant"])),
    params(("id" = String, Path, description = "Process id")),
    responses((status = 200, description = "The stopped process", body = CompatProcess), NotFoundProblem)
)]
pub async fn stop_compat_process(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<CompatProcess>> {
    Ok(Json(state.plane.compat.stop(&caller, &id).await?))
}
