//! The history's HTTP endpoint: a corridor's telemetry samples and object
//! changes over a window of wall-clock time. The history service decides
//! visibility and the window; this module parses the query.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use corridor_model::history::CorridorHistory;
use corridor_model::problem::{FieldViolation, Problem};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::caller::Authenticated;
use super::problem::{ApiError, ApiResult};
use super::responses::NotFoundProblem;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(corridor_history))
}

/// The query of a history window: parsed here and documented from the
/// same declaration. Strings, so a bad value is a problem naming the
/// parameter; any other parameter is refused naming it.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Start of the window, RFC 3339 (`2026-12-04T03:12:00Z`), inclusive
    /// [default: an hour before `to`]. After `to`, or more than a day
    /// before it, is a 422 with rule `compatible` (a relation between the
    /// two, or with now when `to` is left to default).
    #[param(value_type = Option<String>, format = DateTime, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$")]
    from: Option<String>,
    /// End of the window, RFC 3339, inclusive [default: now]. Before
    /// `from`, or more than a day after it, is a 422 with rule
    /// `compatible`.
    #[param(value_type = Option<String>, format = DateTime, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$")]
    to: Option<String>,
}

/// A parsed history query: the window's ends as given.
#[derive(Debug, Default)]
pub struct HistoryQuery {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

pub(super) fn violation(parameter: &str, rule: &str, message: String) -> ApiError {
    ApiError(Problem::validation(vec![FieldViolation {
        pointer: format!("?{parameter}"),
        rule: rule.into(),
        message,
    }]))
}

pub(super) fn date_time(
    parameter: &str,
    text: Option<&str>,
) -> Result<Option<DateTime<Utc>>, Box<ApiError>> {
    let Some(text) = text else {
        return Ok(None);
    };
    let pattern_ok = is_documented_date_time(text);
    match DateTime::parse_from_rfc3339(text) {
        Ok(at) if pattern_ok => Ok(Some(at.with_timezone(&Utc))),
        _ => Err(Box::new(violation(
            parameter,
            "format",
            format!(
                "{parameter} must be an RFC 3339 date-time such as 2026-12-04T03:12:00Z, got {text:?}"
            ),
        ))),
    }
}

/// The parameters' documented pattern (a `T` between date and time,
/// seconds, up to nine fraction digits, `Z` or an offset), checked
/// without a regex engine: the parser (chrono) also takes a space or a
/// lower-case `t`, which the document does not allow.
fn is_documented_date_time(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range)
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    if b.len() < 20
        || !(digits(0..4)
            && b[4] == b'-'
            && digits(5..7)
            && b[7] == b'-'
            && digits(8..10)
            && b[10] == b'T'
            && digits(11..13)
            && b[13] == b':'
            && digits(14..16)
            && b[16] == b':'
            && digits(17..19))
    {
        return false;
    }
    let mut at = 19;
    if b[at] == b'.' {
        let fraction = b[at + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if !(1..=9).contains(&fraction) {
            return false;
        }
        at += 1 + fraction;
    }
    match &b[at..] {
        [b'Z'] => true,
        [sign, h1, h2, b':', m1, m2] => {
            matches!(sign, b'+' | b'-') && [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

impl<S: Send + Sync> FromRequestParts<S> for HistoryQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or("");
        let params: HistoryParams = serde_urlencoded::from_str(raw).map_err(|error| {
            violation(
                "query",
                "unknown_parameter",
                format!("{error}; this endpoint accepts from, to"),
            )
        })?;
        Ok(HistoryQuery {
            from: date_time("from", params.from.as_deref()).map_err(|e| *e)?,
            to: date_time("to", params.to.as_deref()).map_err(|e| *e)?,
        })
    }
}

/// A corridor's history: its telemetry samples (one per lit corridor per
/// sampling interval, 10 s of wall time by default, the figures
/// `…/telemetry` served, marked `model` on the twin) and every version of
/// its object, in a window of wall-clock time, each with the store
/// revision it belongs to.
///
/// Kept 7 days by default (`--history-retention-s`), in files under
/// corridord's state directory, not in the store. A one-lane sample
/// takes 138 bytes on disk (each further lane 60 more): 7 days at the
/// default 10 s take 534 MB for the default twin's at most 64 one-lane
/// corridors and 8.3 GB for a rack of 1,000 one-lane corridors, plus the
/// object changes (the corridor's JSON, once per change). A released
/// corridor's history stays readable until retention removes it; an id
/// with neither a corridor nor kept history is 404. Each corridord keeps
/// what it read back itself: in a cluster, ask the replica whose history
/// you want.
#[utoipa::path(
    get,
    path = "/v1/corridors/{id}/history",
    tag = "corrd",
    security(("mtls" = ["tenant"])),
    params(
        ("id" = String, Path, description = "Corridor id"),
        HistoryParams,
    ),
    responses(
        (status = 200, description = "The samples and changes in the window", body = CorridorHistory),
        (status = 422, description = "A parameter is not an RFC 3339 date-time (rule `format`), the window is reversed or longer than a day (rule `compatible`, naming the parameter given), or the query has another parameter (`?query`)", body = Problem, content_type = "application/problem+json"),
        NotFoundProblem,
    )
)]
pub async fn corridor_history(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    query: HistoryQuery,
) -> ApiResult<Json<CorridorHistory>> {
    Ok(Json(
        state
            .plane
            .history
            .corridor_history(&caller, &id, query.from, query.to)
            .await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_date_time_check_is_the_documented_pattern() {
        for good in [
            "2026-12-04T03:12:00Z",
            "2026-12-04T03:12:00.5+01:00",
            "2026-12-04T03:12:00.123456789-05:30",
        ] {
            assert!(is_documented_date_time(good), "{good}");
            assert!(date_time("from", Some(good)).is_ok(), "{good}");
        }
        for bad in [
            "2026-12-04 03:12:00Z",
            "2026-12-04t03:12:00Z",
            "2026-12-04T03:12Z",
            "2026-12-04T03:12:00.Z",
            "2026-12-04T03:12:00.1234567890Z",
            "2026-12-04T03:12:00+0100",
            "2026-13-04T03:12:00Z",
            "yesterday",
        ] {
            assert!(date_time("from", Some(bad)).is_err(), "{bad}");
        }
    }
}
