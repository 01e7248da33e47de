//! CorridorLabs analytics over the kept history: synchrony (which
//! corridors, lanes and memory bundles degrade together, and what they
//! share). The history service
//! computes; this module parses the query.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use corridor_model::analytics::{BundleMetric, Synchrony, SynchronyMetric};
use corridor_model::problem::Problem;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::caller::Authenticated;
use super::history::{date_time, violation};
use super::problem::{ApiError, ApiResult};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(synchrony))
}

/// The query of the synchrony analytics: the history's window and the
/// figure to correlate.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SynchronyParams {
    /// Start of the window, RFC 3339, inclusive [default: an hour before
    /// `to`]. After `to`, or more than a day before it, is a 422 with
    /// rule `compatible`.
    #[param(value_type = Option<String>, format = DateTime, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$")]
    from: Option<String>,
    /// End of the window, RFC 3339, inclusive [default: now]. Before
    /// `from`, or more than a day after it, is a 422 with rule
    /// `compatible`.
    #[param(value_type = Option<String>, format = DateTime, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$")]
    to: Option<String>,
    /// The figure of corridors and lanes correlated [default: temp_c].
    #[param(value_type = Option<SynchronyMetric>)]
    metric: Option<String>,
    /// The figure of memory bundles correlated [default: achieved_gbs].
    #[param(value_type = Option<BundleMetric>)]
    bundle_metric: Option<String>,
}

/// A parsed synchrony query.
#[derive(Debug, Default)]
pub struct SynchronyQuery {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub metric: SynchronyMetric,
    pub bundle_metric: BundleMetric,
}

impl<S: Send + Sync> FromRequestParts<S> for SynchronyQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or("");
        let params: SynchronyParams = serde_urlencoded::from_str(raw).map_err(|error| {
            violation(
                "query",
                "unknown_parameter",
                format!("{error}; this endpoint accepts from, to, metric, bundle_metric"),
            )
        })?;
        let metric = match params.metric.as_deref() {
            None | Some("temp_c") => SynchronyMetric::TempC,
            Some("pre_fec_ber") => SynchronyMetric::PreFecBer,
            Some("power_pj_per_bit") => SynchronyMetric::PowerPjPerBit,
            Some(other) => {
                return Err(violation(
                    "metric",
                    "enum",
                    format!(
                        "metric must be temp_c, pre_fec_ber or power_pj_per_bit, got {other:?}"
                    ),
                ));
            }
        };
        let bundle_metric = match params.bundle_metric.as_deref() {
            None | Some("achieved_gbs") => BundleMetric::AchievedGbs,
            Some("floor_ratio") => BundleMetric::FloorRatio,
            Some("tail_p99_ms") => BundleMetric::TailP99Ms,
            Some(other) => {
                return Err(violation(
                    "bundle_metric",
                    "enum",
                    format!(
                        "bundle_metric must be achieved_gbs, floor_ratio or tail_p99_ms, got {other:?}"
                    ),
                ));
            }
        };
        Ok(SynchronyQuery {
            from: date_time("from", params.from.as_deref()).map_err(|e| *e)?,
            to: date_time("to", params.to.as_deref()).map_err(|e| *e)?,
            metric,
            bundle_metric,
        })
    }
}

/// Synchrony analytics: which corridors, lanes and memory bundles degrade
/// together over the window (Pearson correlation of each pair's series of
/// one kind, averaged per sampling interval, at or above 0.8; a series
/// that does not move, or has fewer than 4 buckets, correlates with
/// nothing and `series` says so), grouped, each group with the most
/// specific part of the topology all its members share. Corridors and
/// lanes: a port (one module's case temperature and lasers), a link, a
/// host, else the rack and its ambient temperature. Bundles: a memory
/// device (its bandwidth shared by every bundle on it), a CXL switch port,
/// a host, a tier, else the rack. Computed from this corridord's kept
/// history, so the figures are what the samples hold, each series naming
/// its source (`model` on the twin; bundles' figures are memqosd's
/// bandwidth model, sampled every history interval).
#[utoipa::path(
    get,
    path = "/v1/analytics/synchrony",
    tag = "labs",
    security(("mtls" = ["infrastructure"])),
    params(SynchronyParams),
    responses(
        (status = 200, description = "Correlated pairs and their groups", body = Synchrony),
        (status = 422, description = "A window end is not an RFC 3339 date-time (rule `format`), the window is reversed or longer than a day (rule `compatible`, naming the parameter given), `metric` or `bundle_metric` is not one of its three (rule `enum`), or the query has another parameter (`?query`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn synchrony(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    query: SynchronyQuery,
) -> ApiResult<Json<Synchrony>> {
    Ok(Json(
        state
            .plane
            .history
            .synchrony(
                &caller,
                query.from,
                query.to,
                query.metric,
                query.bundle_metric,
            )
            .await?,
    ))
}
