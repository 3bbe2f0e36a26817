//! OpenTelemetry traces: `sluice serve --otlp-endpoint URL` sends one span per exchange over
//! OTLP/gRPC, in the trace Envoy started for the request (docs/observability.md, "Traces").
//!
//! The span is made from the exchange's audit record once the exchange is decided, so it
//! carries exactly what the record's [`DecisionSummary`] publishes to Envoy: names from fixed
//! sets, counts, the sanitised model name and the deciding rule's id. No matched value,
//! prompt, principal, path or header value goes in.
//!
//! The data path never waits on the collector: ended spans go into the SDK's batch
//! processor through a bounded queue (`try_send`; a full queue drops the span), and a
//! background thread exports them. Without the flag, [`TraceHandle`] is empty and every hook
//! returns at once.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt};
use opentelemetry::trace::{SpanBuilder, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracer};
use opentelemetry_sdk::trace::{SdkTracerProvider, Span};
use sluice_core::{AuditRecord, DecisionSummary, error_kind};

use crate::trace_attributes as attr;

/// Spans waiting for export; past it, new spans are dropped rather than held in memory or
/// making an exchange wait.
const QUEUE_SPANS: usize = 4096;
/// Spans per OTLP export call.
const BATCH_SPANS: usize = 512;
/// How long ended spans may wait before a partial batch is sent.
const EXPORT_DELAY: Duration = Duration::from_secs(1);
/// How long one export call may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for the last spans to leave.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(5);
/// The `service.name` of Sluice's spans.
const SERVICE_NAME: &str = "sluice";

/// The W3C trace-context headers, as Envoy sends them on the ext_proc gRPC call and as a
/// client may send them on its request.
const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error(
        "--otlp-endpoint {0:?} must be an http:// URL of an OTLP/gRPC collector (such as http://127.0.0.1:4317)"
    )]
    Endpoint(String),
    #[error("starting the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// The exporter of a running server; [`OtlpExporter::shutdown`] sends what is queued.
pub struct OtlpExporter {
    provider: SdkTracerProvider,
}

/// Starts the batch exporter towards `endpoint`. Call from inside the Tokio runtime: the
/// gRPC channel's connection task runs on it.
pub fn start(endpoint: &str) -> Result<(OtlpExporter, TraceHandle), OtlpError> {
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|_| OtlpError::Endpoint(endpoint.to_owned()))?;
    if uri.scheme_str() != Some("http")
        || uri.authority().is_none()
        || uri.authority().is_some_and(|a| a.as_str().contains('@'))
    {
        return Err(OtlpError::Endpoint(endpoint.to_owned()));
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(EXPORT_TIMEOUT)
        .build()?;
    let batch = BatchConfigBuilder::default()
        .with_max_queue_size(QUEUE_SPANS)
        .with_max_export_batch_size(BATCH_SPANS)
        .with_scheduled_delay(EXPORT_DELAY)
        .build();
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(batch)
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(SERVICE_NAME)
                .build(),
        )
        .build();
    let tracer = provider.tracer("sluice");
    let handle = TraceHandle(Some(Arc::new(Tracing {
        tracer,
        propagator: TraceContextPropagator::new(),
    })));
    Ok((OtlpExporter { provider }, handle))
}

impl OtlpExporter {
    /// Exports the spans still queued, waiting at most [`SHUTDOWN_FLUSH`]. The SDK's shutdown
    /// blocks its caller while the export runs on this runtime, so it runs on a blocking
    /// thread and the runtime stays free to drive the gRPC call.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let flush =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(SHUTDOWN_FLUSH));
        match tokio::time::timeout(SHUTDOWN_FLUSH + Duration::from_secs(1), flush).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "spans not all exported at shutdown"),
            Ok(Err(_)) | Err(_) => tracing::warn!("spans not all exported at shutdown"),
        }
    }
}

struct Tracing {
    tracer: SdkTracer,
    propagator: TraceContextPropagator,
}

/// Where exchange spans go; the default (no `--otlp-endpoint`) makes none. Cheap to clone.
#[derive(Clone, Default)]
pub struct TraceHandle(Option<Arc<Tracing>>);

impl std::fmt::Debug for TraceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TraceHandle")
            .field(&self.0.is_some())
            .finish()
    }
}

/// The W3C headers of one carrier (gRPC metadata or request headers), owned: the request's
/// headers are gone by the time the exchange is decided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceHeaders {
    pub traceparent: String,
    pub tracestate: Option<String>,
}

impl TraceHeaders {
    /// The trace-context headers among `headers` (lower-case names), if a `traceparent` is.
    pub fn find<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<Self> {
        let (mut traceparent, mut tracestate) = (None, None);
        for (name, value) in headers {
            match name {
                TRACEPARENT => traceparent = Some(value),
                TRACESTATE => tracestate = Some(value),
                _ => {}
            }
        }
        Some(TraceHeaders {
            traceparent: traceparent?.to_owned(),
            tracestate: tracestate.map(str::to_owned),
        })
    }

    /// From the gRPC call's metadata, where Envoy's ext_proc filter puts the context of its
    /// own span for the call when tracing is on.
    pub fn from_metadata(metadata: &tonic::metadata::MetadataMap) -> Option<Self> {
        let text = |name: &str| metadata.get(name).and_then(|v| v.to_str().ok());
        Some(TraceHeaders {
            traceparent: text(TRACEPARENT)?.to_owned(),
            tracestate: text(TRACESTATE).map(str::to_owned),
        })
    }
}

impl Extractor for TraceHeaders {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            TRACEPARENT => Some(&self.traceparent),
            TRACESTATE => self.tracestate.as_deref(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT, TRACESTATE]
    }
}

impl TraceHandle {
    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    /// The span of one decided exchange, started at `start`, parented to the first valid
    /// context among `parents` (Envoy's call metadata first, then the request's own
    /// headers); a root span without one. `None` when tracing is off.
    pub fn exchange_span(
        &self,
        parents: [Option<&TraceHeaders>; 2],
        start: SystemTime,
        record: &AuditRecord,
    ) -> Option<ExchangeSpan> {
        let tracing = self.0.as_ref()?;
        let parent = parents
            .into_iter()
            .flatten()
            .map(|headers| tracing.propagator.extract(headers))
            .find(|cx| cx.span().span_context().is_valid())
            .unwrap_or_else(Context::new);
        let (name, attributes) = span_fields(&DecisionSummary::of(record));
        let mut span = SpanBuilder::from_name(name)
            .with_kind(SpanKind::Internal)
            .with_start_time(start)
            .with_attributes(attributes)
            .start_with_context(&tracing.tracer, &parent);
        if let Some(kind) = record.errors.iter().find_map(|e| error_kind(e)) {
            span.set_attribute(KeyValue::new(attr::ERROR_TYPE, kind));
            span.set_status(Status::error(kind));
        }
        Some(ExchangeSpan(span))
    }
}

/// The span name and attributes of a decided exchange. GenAI convention: the name is
/// `{operation} {model}` for model calls.
fn span_fields(summary: &DecisionSummary) -> (String, Vec<KeyValue>) {
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let mut attributes = vec![
        KeyValue::new(attr::SLUICE_API, summary.api),
        KeyValue::new(attr::SLUICE_DECISION, summary.decision),
        KeyValue::new(attr::SLUICE_FINDINGS, count(summary.findings)),
        KeyValue::new(
            attr::SLUICE_REQUEST_FINDINGS,
            count(summary.request_findings),
        ),
        KeyValue::new(
            attr::SLUICE_RESPONSE_FINDINGS,
            count(summary.response_findings),
        ),
    ];
    if let Some(rule) = &summary.rule {
        attributes.push(KeyValue::new(attr::SLUICE_RULE, rule.clone()));
    }
    if let Some(n) = summary.input_tokens {
        attributes.push(KeyValue::new(attr::GEN_AI_USAGE_INPUT_TOKENS, count(n)));
    }
    if let Some(n) = summary.output_tokens {
        attributes.push(KeyValue::new(attr::GEN_AI_USAGE_OUTPUT_TOKENS, count(n)));
    }
    let name = match attr::gen_ai_of(summary.api) {
        Some((operation, provider)) => {
            attributes.push(KeyValue::new(attr::GEN_AI_OPERATION_NAME, operation));
            attributes.push(KeyValue::new(attr::GEN_AI_PROVIDER_NAME, provider));
            match &summary.model {
                Some(model) => format!("{operation} {model}"),
                None => operation.to_owned(),
            }
        }
        None => attr::EXCHANGE_SPAN_NAME.to_owned(),
    };
    if let Some(model) = &summary.model {
        attributes.push(KeyValue::new(attr::GEN_AI_REQUEST_MODEL, model.clone()));
    }
    (name, attributes)
}

/// An exchange's span, open until the answer that ends the exchange is settled (its audit
/// record durable or failed). Dropping it ends it too.
pub struct ExchangeSpan(Span);

impl ExchangeSpan {
    /// The record could not be made durable: the exchange failed, released or not.
    pub fn audit_failed(&mut self) {
        const KIND: &str = "audit-write-failed";
        self.0.set_attribute(KeyValue::new(attr::ERROR_TYPE, KIND));
        self.0.set_status(Status::error(KIND));
    }

    pub fn end(mut self) {
        self.0.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> DecisionSummary {
        DecisionSummary {
            decision: "mask",
            api: "openai-chat",
            model: Some("gpt-4o-mini".into()),
            rule: None,
            findings: 2,
            request_findings: 1,
            response_findings: 1,
            input_tokens: Some(12),
            output_tokens: Some(34),
        }
    }

    fn value<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a opentelemetry::Value> {
        attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    #[test]
    fn a_model_call_is_named_and_attributed_the_gen_ai_way() {
        let (name, attributes) = span_fields(&summary());
        assert_eq!(name, "chat gpt-4o-mini");
        assert_eq!(
            value(&attributes, attr::GEN_AI_PROVIDER_NAME),
            Some(&"openai".into())
        );
        assert_eq!(
            value(&attributes, attr::GEN_AI_USAGE_OUTPUT_TOKENS),
            Some(&34i64.into())
        );
        assert_eq!(
            value(&attributes, attr::SLUICE_FINDINGS),
            Some(&2i64.into())
        );
        assert_eq!(value(&attributes, attr::SLUICE_RULE), None);
    }

    #[test]
    fn traffic_that_is_not_a_model_call_has_no_gen_ai_operation() {
        let mut s = summary();
        s.api = "mcp";
        s.model = None;
        let (name, attributes) = span_fields(&s);
        assert_eq!(name, attr::EXCHANGE_SPAN_NAME);
        assert_eq!(value(&attributes, attr::GEN_AI_OPERATION_NAME), None);
        assert_eq!(value(&attributes, attr::GEN_AI_PROVIDER_NAME), None);
    }

    fn headers(trace_id: &str) -> TraceHeaders {
        TraceHeaders {
            traceparent: format!("00-{trace_id}-b7ad6b7169203331-01"),
            tracestate: None,
        }
    }

    /// A handle whose spans go nowhere: enough to read the trace each span joined.
    fn local_handle() -> TraceHandle {
        let provider = SdkTracerProvider::builder().build();
        TraceHandle(Some(Arc::new(Tracing {
            tracer: provider.tracer("test"),
            propagator: TraceContextPropagator::new(),
        })))
    }

    fn trace_of(span: &ExchangeSpan) -> String {
        span.0.span_context().trace_id().to_string()
    }

    #[test]
    fn envoys_call_context_comes_before_the_request_header() {
        let handle = local_handle();
        let record = sluice_core::Engine::new(sluice_core::Policy::default())
            .unwrap()
            .exchange(sluice_core::ExchangeContext::default())
            .finish();
        let call = headers("0af7651916cd43dd8448eb211c80319c");
        let request = headers("4bf92f3577b34da6a3ce929d0e0e4736");
        let now = SystemTime::now();
        let span = handle
            .exchange_span([Some(&call), Some(&request)], now, &record)
            .unwrap();
        assert_eq!(trace_of(&span), "0af7651916cd43dd8448eb211c80319c");
        let span = handle
            .exchange_span([None, Some(&request)], now, &record)
            .unwrap();
        assert_eq!(trace_of(&span), "4bf92f3577b34da6a3ce929d0e0e4736");
        // A malformed call context does not hide the request's.
        let broken = TraceHeaders {
            traceparent: "00-nonsense".into(),
            tracestate: None,
        };
        let span = handle
            .exchange_span([Some(&broken), Some(&request)], now, &record)
            .unwrap();
        assert_eq!(trace_of(&span), "4bf92f3577b34da6a3ce929d0e0e4736");
        // Without any, a trace of its own; without tracing, no span.
        let span = handle.exchange_span([None, None], now, &record).unwrap();
        assert!(span.0.span_context().is_valid());
        assert!(
            TraceHandle::default()
                .exchange_span([Some(&call), None], now, &record)
                .is_none()
        );
    }

    #[test]
    fn trace_headers_are_found_among_request_headers() {
        let headers = [
            (":path", "/v1/chat/completions"),
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
        ];
        let found = TraceHeaders::find(headers).unwrap();
        assert_eq!(
            found.traceparent,
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        );
        assert_eq!(found.tracestate, None);
        assert_eq!(TraceHeaders::find([("x", "y")]), None);
    }
}
