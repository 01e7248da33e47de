//! The scenario file: what a CorridorLabs run replays.
//!
//! TOML, parsed strictly (unknown keys are errors) and checked as a whole
//! before anything starts, every error naming the field at fault
//! (`arrivals[1].mean_holding_s`, `faults[0].fault`). Requests are the API's
//! own request bodies, so a scenario asks for exactly what a client could.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use corridor_model::corridor::{CorridorRequest, TwinFaultRequest};
use corridor_model::ffm::FfmAllocRequest;
use corridor_model::validate::Validate;
use serde::{Deserialize, Serialize};

use super::LabsError;

/// The longest run a scenario may ask for: a week of simulated time.
pub const MAX_DURATION_S: u64 = 7 * 24 * 3600;
/// The most steps a run may take (bounds a run's CPU: each step is a
/// reconciler pass, a tracking pass and a sample of every live object).
pub const MAX_STEPS: u64 = 2_000;
/// The most arrivals one process may offer.
pub const MAX_ARRIVALS: u32 = 500;

/// A scenario as written in its file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Short name, used in the report and as the default output directory.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Seeds the arrival process and the ids the run makes.
    pub seed: u64,
    /// `"default"`: the embedded default rack (the only topology so far).
    #[serde(default = "default_topology")]
    pub topology: String,
    /// One of the topology's ambient profiles; the topology's own if absent.
    #[serde(default)]
    pub ambient_profile: Option<String>,
    /// Simulated start (RFC 3339); the topology's `start_time` if absent.
    #[serde(default)]
    pub start: Option<String>,
    /// Simulated seconds the run lasts.
    pub duration_s: u64,
    /// Simulated seconds between samples (reconciler and tracking passes).
    pub step_s: u64,
    #[serde(default)]
    pub arrivals: Vec<ArrivalFile>,
    #[serde(default)]
    pub faults: Vec<FaultFile>,
}

fn default_topology() -> String {
    "default".into()
}

/// A Poisson arrival process of one kind of request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrivalFile {
    /// `"corridor"` or `"bundle"`.
    pub kind: String,
    /// Mean seconds between arrivals (exponential inter-arrival times).
    pub mean_interarrival_s: f64,
    /// Mean seconds an admitted request is held (exponential).
    pub mean_holding_s: f64,
    /// First arrival no earlier than this (seconds into the run).
    #[serde(default)]
    pub start_s: u64,
    /// No arrival after this; the run's end if absent.
    #[serde(default)]
    pub end_s: Option<u64>,
    /// At most this many arrivals.
    #[serde(default = "default_max_arrivals")]
    pub max_arrivals: u32,
    /// The request body, as the API takes it (`POST /v1/corridors` or
    /// `POST /v1/ffm/alloc`).
    pub request: toml::Value,
}

fn default_max_arrivals() -> u32 {
    MAX_ARRIVALS
}

/// A fault applied at a time, as `POST /v1/admin/twin/faults` takes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultFile {
    pub at_s: u64,
    /// The optical port (every fault but `link_cut`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// The link (`link_cut`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The fault, as the API's `fault` object (`{ kind = "link_cut", cut = true }`).
    pub fault: toml::Value,
}

/// What an arrival asks for, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Corridor(Box<CorridorRequest>),
    Bundle(Box<FfmAllocRequest>),
}

/// A checked arrival process.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrival {
    pub mean_interarrival_s: f64,
    pub mean_holding_s: f64,
    pub start_s: u64,
    pub end_s: u64,
    pub max_arrivals: u32,
    pub request: Request,
}

/// A checked fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub at_s: u64,
    pub request: TwinFaultRequest,
}

/// A checked scenario: what the runner replays.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file as written (echoed in the report).
    pub file: ScenarioFile,
    pub start: Option<DateTime<Utc>>,
    pub arrivals: Vec<Arrival>,
    pub faults: Vec<Fault>,
}

impl Scenario {
    /// Parses and checks a scenario; `source` names it in errors.
    pub fn from_toml_str(text: &str, source: &str) -> Result<Self, LabsError> {
        let file: ScenarioFile = toml::from_str(text).map_err(|e| LabsError::Parse {
            source_name: source.to_owned(),
            message: e.to_string(),
        })?;
        Self::check(file, source)
    }

    fn check(file: ScenarioFile, source: &str) -> Result<Self, LabsError> {
        let invalid = |field: String, message: String| LabsError::Invalid {
            source_name: source.to_owned(),
            field,
            message,
        };
        if file.name.is_empty()
            || !file
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(
                "name".into(),
                "1 or more of A-Z, a-z, 0-9, - and _ (it names the output directory)".into(),
            ));
        }
        if file.topology != "default" {
            return Err(invalid(
                "topology".into(),
                format!(
                    "{:?}: only \"default\" (the embedded default rack) is supported",
                    file.topology
                ),
            ));
        }
        if file.duration_s == 0 || file.duration_s > MAX_DURATION_S {
            return Err(invalid(
                "duration_s".into(),
                format!("must be 1..={MAX_DURATION_S} seconds"),
            ));
        }
        if file.step_s == 0 || file.step_s > file.duration_s {
            return Err(invalid(
                "step_s".into(),
                "must be at least 1 and at most duration_s".into(),
            ));
        }
        if file.duration_s.div_ceil(file.step_s) > MAX_STEPS {
            return Err(invalid(
                "step_s".into(),
                format!("duration_s / step_s must be at most {MAX_STEPS} steps"),
            ));
        }
        let start = match &file.start {
            None => None,
            Some(text) => Some(
                DateTime::parse_from_rfc3339(text)
                    .map_err(|e| invalid("start".into(), format!("not RFC 3339: {e}")))?
                    .with_timezone(&Utc),
            ),
        };
        let mut arrivals = Vec::new();
        for (i, a) in file.arrivals.iter().enumerate() {
            let at = |field: &str| format!("arrivals[{i}].{field}");
            for (name, value) in [
                ("mean_interarrival_s", a.mean_interarrival_s),
                ("mean_holding_s", a.mean_holding_s),
            ] {
                if !(value.is_finite() && value > 0.0) {
                    return Err(invalid(at(name), "must be a number above 0".into()));
                }
            }
            let end_s = a.end_s.unwrap_or(file.duration_s);
            if end_s > file.duration_s || a.start_s > end_s {
                return Err(invalid(
                    at("end_s"),
                    "must satisfy start_s <= end_s <= duration_s".into(),
                ));
            }
            if a.max_arrivals > MAX_ARRIVALS {
                return Err(invalid(
                    at("max_arrivals"),
                    format!("at most {MAX_ARRIVALS}"),
                ));
            }
            let body = serde_json::to_value(&a.request)
                .map_err(|e| invalid(at("request"), e.to_string()))?;
            let request = match a.kind.as_str() {
                "corridor" => Request::Corridor(Box::new(api_request(&body, |e| {
                    invalid(format!("arrivals[{i}].request{e}"), String::new())
                })?)),
                "bundle" => Request::Bundle(Box::new(api_request(&body, |e| {
                    invalid(format!("arrivals[{i}].request{e}"), String::new())
                })?)),
                other => {
                    return Err(invalid(
                        at("kind"),
                        format!("{other:?}: \"corridor\" or \"bundle\""),
                    ));
                }
            };
            arrivals.push(Arrival {
                mean_interarrival_s: a.mean_interarrival_s,
                mean_holding_s: a.mean_holding_s,
                start_s: a.start_s,
                end_s,
                max_arrivals: a.max_arrivals,
                request,
            });
        }
        let mut faults = Vec::new();
        for (i, f) in file.faults.iter().enumerate() {
            if f.at_s > file.duration_s {
                return Err(invalid(
                    format!("faults[{i}].at_s"),
                    "after the end of the run".into(),
                ));
            }
            let mut body = BTreeMap::new();
            body.insert("fault", f.fault.clone());
            if let Some(port) = &f.port {
                body.insert("port", toml::Value::String(port.clone()));
            }
            if let Some(link) = &f.link {
                body.insert("link", toml::Value::String(link.clone()));
            }
            let body = serde_json::to_value(&body)
                .map_err(|e| invalid(format!("faults[{i}]"), e.to_string()))?;
            let request: TwinFaultRequest =
                api_request(&body, |e| invalid(format!("faults[{i}]{e}"), String::new()))?;
            faults.push(Fault {
                at_s: f.at_s,
                request,
            });
        }
        Ok(Self {
            file,
            start,
            arrivals,
            faults,
        })
    }
}

/// Decodes and validates an API request body as the HTTP layer does;
/// `error` gets the field's JSON pointer and a message (which it names).
fn api_request<T, F>(body: &serde_json::Value, error: F) -> Result<T, LabsError>
where
    T: serde::de::DeserializeOwned + Validate,
    F: Fn(String) -> LabsError,
{
    let named = |pointer: String, message: String| match error(pointer) {
        LabsError::Invalid {
            source_name, field, ..
        } => LabsError::Invalid {
            source_name,
            field,
            message,
        },
        other => other,
    };
    let request: T = serde_json::from_value(body.clone())
        .map_err(|e| named(String::new(), format!("not a valid request body: {e}")))?;
    request.validate().map_err(|violations| {
        let first = &violations[0];
        named(first.pointer.clone(), first.message.clone())
    })?;
    Ok(request)
}
