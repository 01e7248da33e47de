//! heliopassd: ring calibration as a long operation, and the twin's
//! ambient temperature.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use corridor_model::calibration::{CalibrationRequest, TwinAmbientRequest, TwinAmbientStatus};
use corridor_model::meta::Operation;
use corridor_model::problem::Problem;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::caller::Authenticated;
use super::extract::StrictJson;
use super::problem::ApiResult;
use super::responses::{BodyProblems, NotFoundProblem};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(calibrate))
        .routes(routes!(set_twin_ambient))
}

/// Calibrate a corridor's lanes (both ends) or one optical port's ring
/// bank: `full` sweeps every ring's heater with the others parked, measures
/// the thermal crosstalk K, assigns rings to lanes at the least heater
/// power, sweeps the modulator bias and locks the dither loop; `track`
/// re-acquires from the stored calibration. A long operation: its
/// `progress_detail` carries every lane's state, heater mW, bias V, lock
/// error pm and BER before/after; its `result` is the calibration.
#[utoipa::path(
    post,
    path = "/v1/heliopass/calibrate",
    tag = "heliopassd",
    security(("mtls" = ["infrastructure"])),
    request_body = CalibrationRequest,
    responses(
        (status = 202, description = "Started; poll or watch the operation", body = Operation,
            headers(("Location" = String, description = "The operation"))),
        BodyProblems,
        NotFoundProblem,
        (status = 409, description = "The corridor's lanes are dark (NotLit), a port is being calibrated already (CalibrationInProgress, naming the operation), `track` without a calibration or a module without ring pages (NotCalibratable), or this replica does not drive the optical plant and the problem names the leader (NotPlantOwner)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn calibrate(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    StrictJson(request): StrictJson<CalibrationRequest>,
) -> ApiResult<Response> {
    let operation = state.plane.heliopass.calibrate(&caller, request).await?;
    Ok(accepted(operation))
}

/// `202 Accepted` with the operation and its `Location`.
pub fn accepted(operation: Operation) -> Response {
    let location = format!("/v1/operations/{}", operation.id);
    let mut response = (StatusCode::ACCEPTED, Json(operation)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Make the digital twin's rack, one host or one optical port follow an
/// ambient profile (admin only), from now (the plant's simulated time) on.
#[utoipa::path(
    put,
    path = "/v1/admin/twin/ambient",
    tag = "heliopassd",
    security(("mtls" = ["admin"])),
    request_body = TwinAmbientRequest,
    responses(
        (status = 200, description = "Applied", body = TwinAmbientStatus),
        BodyProblems,
        (status = 409, description = "The optical plant is real modules, not the digital twin (reason NotATwin), or this replica does not drive the optical plant and the problem names the leader (reason NotPlantOwner)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn set_twin_ambient(
    State(state): State<AppState>,
    StrictJson(request): StrictJson<TwinAmbientRequest>,
) -> ApiResult<Json<TwinAmbientStatus>> {
    Ok(Json(state.plane.heliopass.apply_ambient(&request).await?))
}
