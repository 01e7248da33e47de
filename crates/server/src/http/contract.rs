//! The API contract as the server enforces it, read from the one generated
//! OpenAPI document.
//!
//! Every operation declares, in its `#[utoipa::path]` attribute, its
//! authorisation scope (`security(("mtls" = ["tenant"]))`) and every
//! response it can give. This module turns the generated document into
//! the table the middleware uses, so the route, the document and the
//! authorisation policy come from one declaration:
//!
//! - [`Contract::scope`] is what [`super::middleware::authorize`] decides on;
//!   an operation without exactly one scope makes [`Contract::from_document`]
//!   fail, and the server does not start (a unit test builds it).
//! - [`Contract::documents`] is what [`super::middleware::observe`] checks
//!   every response against: a status or content type the document does
//!   not show is logged and counted, and in debug builds (every test)
//!   replaced by a 500, so no test can pass while the code and the document
//!   disagree.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use axum::http::Method;
use corridor_services::daemons::RfcDaemon;
use serde_json::Value;

/// The name of the security scheme every operation refers to: TLS client
/// certificates (OpenAPI 3.1 `mutualTLS`). Its requirement's "scopes" are
/// the role names OpenAPI 3.1 allows for non-OAuth schemes; we use them for
/// the route's [`Scope`].
pub const SECURITY_SCHEME: &str = "mtls";

/// What kind of data a route exposes, which decides who may call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `/healthz`, `/readyz`: anyone, even without a certificate, because
    /// probes (load balancers, kubelets) rarely hold one.
    Probe,
    /// `/openapi.json`: any authenticated principal.
    Discovery,
    /// Devices and ambient profiles: cluster-scoped inventory every
    /// principal may read (a tenant must see what it can ask for).
    Inventory,
    /// Corridors, bundles, policies, fabric paths and tickets: owned by a
    /// security domain. A domain principal may use these routes; the
    /// service shows it only its own objects (another domain's is a 404)
    /// and a `security_domain` in the body must be its own.
    Tenant,
    /// Calibration, device attestation and operations: run the cluster,
    /// not a tenant's share of it. Not for domain principals.
    Infrastructure,
    /// `/metrics`: cluster-wide figures; not for domain principals (counts
    /// per route would leak other tenants' activity).
    Observability,
    /// `/v1/admin/*`: acts on the (simulated) plant itself, e.g. injects
    /// faults into the digital twin. The admin principal only.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::Probe,
        Scope::Discovery,
        Scope::Inventory,
        Scope::Tenant,
        Scope::Infrastructure,
        Scope::Observability,
        Scope::Admin,
    ];

    /// The name used in the document's security requirement.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Probe => "probe",
            Scope::Discovery => "discovery",
            Scope::Inventory => "inventory",
            Scope::Tenant => "tenant",
            Scope::Infrastructure => "infrastructure",
            Scope::Observability => "observability",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = ContractError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == name)
            .ok_or_else(|| ContractError::UnknownScope(name.to_owned()))
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContractError {
    #[error(
        "{0:?} is not a scope (one of probe, discovery, inventory, tenant, infrastructure, observability, admin)"
    )]
    UnknownScope(String),
    #[error(
        "{method} {route} declares no authorisation scope: add security((\"{SECURITY_SCHEME}\" = [\"<scope>\"])) to its #[utoipa::path]"
    )]
    MissingScope { method: String, route: String },
    #[error("{method} {route} declares {count} scopes; exactly one decides who may call it")]
    AmbiguousScope {
        method: String,
        route: String,
        count: usize,
    },
    #[error("the document has no paths object")]
    NoPaths,
}

/// One operation: who may call it, and what it may answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationContract {
    pub scope: Scope,
    /// Status → the content types documented for it (empty: no body).
    pub responses: BTreeMap<u16, BTreeSet<String>>,
    /// Whether it takes `?dry_run` (a request with `dry_run=true` commits
    /// nothing, so it is not audited as a mutation).
    pub dry_run: bool,
    /// The RFC daemon that serves it, named by the operation's tag; `None`
    /// for routes every process serves. A process that does not run it
    /// answers 503 ([`super::middleware::serve_here`]).
    pub served_by: Option<RfcDaemon>,
}

/// Every operation of the document, by method and route template.
#[derive(Debug, Clone, Default)]
pub struct Contract {
    operations: HashMap<(Method, String), OperationContract>,
}

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "options", "head", "patch"];

impl Contract {
    /// Reads the table out of the generated document.
    pub fn from_document(document: &utoipa::openapi::OpenApi) -> Result<Self, ContractError> {
        let value = serde_json::to_value(document).map_err(|_| ContractError::NoPaths)?;
        Self::from_value(&value)
    }

    fn from_value(document: &Value) -> Result<Self, ContractError> {
        let paths = document
            .get("paths")
            .and_then(Value::as_object)
            .ok_or(ContractError::NoPaths)?;
        let mut operations = HashMap::new();
        for (route, item) in paths {
            for method in METHODS {
                let Some(operation) = item.get(method) else {
                    continue;
                };
                let method_upper = method.to_ascii_uppercase();
                let scope = scope_of_operation(operation, &method_upper, route)?;
                let responses = documented_responses(operation);
                let dry_run = operation
                    .get("parameters")
                    .and_then(Value::as_array)
                    .is_some_and(|parameters| {
                        parameters.iter().any(|p| {
                            p.get("name").and_then(Value::as_str) == Some("dry_run")
                                && p.get("in").and_then(Value::as_str) == Some("query")
                        })
                    });
                let served_by = operation
                    .get("tags")
                    .and_then(Value::as_array)
                    .and_then(|tags| {
                        tags.iter()
                            .filter_map(Value::as_str)
                            .find_map(RfcDaemon::serving_tag)
                    });
                let method = Method::from_bytes(method_upper.as_bytes())
                    .expect("the method names above are valid");
                operations.insert(
                    (method, route.clone()),
                    OperationContract {
                        scope,
                        responses,
                        dry_run,
                        served_by,
                    },
                );
            }
        }
        Ok(Contract { operations })
    }

    pub fn operation(&self, method: &Method, route: &str) -> Option<&OperationContract> {
        // HEAD is answered by the GET handler.
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.operations.get(&(method.clone(), route.to_owned()))
    }

    /// Whether `query` asks the operation for a dry run it declares: exactly
    /// one `dry_run`, and `true` (anything else is the handler's 422, and
    /// audited as the mutating call it then is).
    pub fn is_dry_run(&self, method: &Method, route: &str, query: Option<&str>) -> bool {
        let declared = self.operation(method, route).is_some_and(|op| op.dry_run);
        let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or(""))
        else {
            return false;
        };
        let mut flags = pairs.iter().filter(|(name, _)| name == "dry_run");
        declared && flags.next().is_some_and(|(_, v)| v == "true") && flags.next().is_none()
    }

    /// The scope of a route template with any method: the middleware asks
    /// before it knows whether the method is routed (a 405 still needs an
    /// authenticated caller).
    pub fn scope(&self, method: &Method, route: &str) -> Option<Scope> {
        if let Some(operation) = self.operation(method, route) {
            return Some(operation.scope);
        }
        // An unrouted method on a routed path: the strictest scope of the
        // path's operations decides who may learn it is a 405.
        self.operations
            .iter()
            .filter(|((_, r), _)| r == route)
            .map(|(_, op)| op.scope)
            .max()
    }

    /// Whether the document shows this answer for this operation. Content
    /// types compare by essence (`application/json; charset=utf-8` is
    /// `application/json`).
    pub fn documents(
        &self,
        method: &Method,
        route: &str,
        status: u16,
        content_type: Option<&str>,
    ) -> bool {
        let Some(operation) = self.operation(method, route) else {
            return false;
        };
        let Some(types) = operation.responses.get(&status) else {
            return false;
        };
        match content_type {
            None => true,
            Some(content_type) => {
                let essence = content_type
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                types.is_empty() && essence.is_empty() || types.contains(&essence)
            }
        }
    }

    /// Every (method, route, scope), sorted: for tests and the matrix.
    pub fn scopes(&self) -> Vec<(Method, String, Scope)> {
        let mut all: Vec<_> = self
            .operations
            .iter()
            .map(|((method, route), op)| (method.clone(), route.clone(), op.scope))
            .collect();
        all.sort_by(|a, b| (&a.1, a.0.as_str()).cmp(&(&b.1, b.0.as_str())));
        all
    }
}

fn scope_of_operation(
    operation: &Value,
    method: &str,
    route: &str,
) -> Result<Scope, ContractError> {
    let mut scopes = Vec::new();
    for requirement in operation
        .get("security")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(names) = requirement.get(SECURITY_SCHEME).and_then(Value::as_array) {
            for name in names {
                scopes.push(name.as_str().unwrap_or_default().parse::<Scope>()?);
            }
        }
    }
    match scopes.as_slice() {
        [scope] => Ok(*scope),
        [] => Err(ContractError::MissingScope {
            method: method.to_owned(),
            route: route.to_owned(),
        }),
        many => Err(ContractError::AmbiguousScope {
            method: method.to_owned(),
            route: route.to_owned(),
            count: many.len(),
        }),
    }
}

fn documented_responses(operation: &Value) -> BTreeMap<u16, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for (status, response) in operation
        .get("responses")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let Ok(status) = status.parse::<u16>() else {
            continue;
        };
        let types = response
            .get("content")
            .and_then(Value::as_object)
            .map(|content| content.keys().map(|k| k.to_ascii_lowercase()).collect())
            .unwrap_or_default();
        out.insert(status, types);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc(security: Value) -> Value {
        json!({"paths": {"/v1/x": {"get": {
            "security": security,
            "responses": {
                "200": {"content": {"application/json": {}, "text/event-stream": {}}},
                "204": {},
                "404": {"content": {"application/problem+json": {}}}
            }
        }}}})
    }

    #[test]
    fn reads_scope_and_responses() {
        let c = Contract::from_value(&doc(json!([{}, {"mtls": ["tenant"]}]))).unwrap();
        assert_eq!(c.scope(&Method::GET, "/v1/x"), Some(Scope::Tenant));
        assert_eq!(c.scope(&Method::POST, "/v1/x"), Some(Scope::Tenant));
        assert_eq!(c.scope(&Method::GET, "/v1/y"), None);
        assert!(c.documents(&Method::GET, "/v1/x", 200, Some("application/json")));
        assert!(c.documents(&Method::GET, "/v1/x", 200, Some("text/event-stream")));
        assert!(c.documents(
            &Method::HEAD,
            "/v1/x",
            404,
            Some("application/problem+json")
        ));
        assert!(!c.documents(&Method::GET, "/v1/x", 404, Some("application/json")));
        assert!(!c.documents(&Method::GET, "/v1/x", 409, Some("application/problem+json")));
        assert!(c.documents(&Method::GET, "/v1/x", 204, None));
        assert!(!c.documents(&Method::POST, "/v1/x", 200, None));
    }

    #[test]
    fn an_operation_needs_exactly_one_known_scope() {
        assert!(matches!(
            Contract::from_value(&doc(json!([]))),
            Err(ContractError::MissingScope { .. })
        ));
        assert!(matches!(
            Contract::from_value(&doc(json!([{"mtls": ["tenant", "admin"]}]))),
            Err(ContractError::AmbiguousScope { count: 2, .. })
        ));
        assert_eq!(
            Contract::from_value(&doc(json!([{"mtls": ["root"]}]))).unwrap_err(),
            ContractError::UnknownScope("root".into())
        );
    }
}
