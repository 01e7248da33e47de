//! Logs and traces: one `tracing` subscriber with the log formatter
//! (JSON or text, to stderr) and, when an OTLP endpoint is configured, an
//! OpenTelemetry layer that exports every span over OTLP/HTTP (JSON).
//!
//! Spans: one per HTTP request (`http.request`, named `METHOD /route`),
//! one per store transaction (`store.txn`), one per FM API command
//! (`fmapi.command`). A request span records its OpenTelemetry trace id in
//! its `trace_id` field, so every JSON log line emitted inside a request
//! carries it (`span.trace_id`), collector or not.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{Config, LogFormat};

/// Why tracing could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("the OTLP exporter for {endpoint} cannot be built")]
    Exporter {
        endpoint: String,
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
}

/// Keeps the trace exporter alive; dropping it (at exit) flushes the spans
/// not yet sent.
#[derive(Debug)]
pub struct LoggingGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for LoggingGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("corridord: flushing traces: {error}");
        }
    }
}

/// Installs the global subscriber for `config`.
///
/// # Errors
/// [`LoggingError::Exporter`] when the OTLP endpoint cannot be used.
pub fn init(config: &Config) -> Result<LoggingGuard, LoggingError> {
    let filter = EnvFilter::try_new(&config.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = match config.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            // The innermost span's fields (a request's trace id) on each line.
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let provider = match &config.otlp_endpoint {
        None => None,
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpJson)
                .with_endpoint(endpoint)
                .build()
                .map_err(|source| LoggingError::Exporter {
                    endpoint: endpoint.clone(),
                    source,
                })?;
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(
                        opentelemetry_sdk::Resource::builder()
                            .with_service_name("corridord")
                            .build(),
                    )
                    .build(),
            )
        }
    };
    let traces = provider
        .as_ref()
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer("corridord")));
    tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(traces)
        .init();
    Ok(LoggingGuard { provider })
}

/// A span's OpenTelemetry trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanTrace {
    /// The trace id, 32 lowercase hex digits.
    pub trace_id: String,
    /// Whether the trace is sampled, i.e. exported: only then can a metric's
    /// exemplar point at it.
    pub sampled: bool,
}

/// The OpenTelemetry trace of `span`, when traces are exported (`None`
/// without an OTLP layer: the span then has no OpenTelemetry context).
pub fn trace(span: &tracing::Span) -> Option<SpanTrace> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| SpanTrace {
        trace_id: span_context.trace_id().to_string(),
        sampled: span_context.is_sampled(),
    })
}
