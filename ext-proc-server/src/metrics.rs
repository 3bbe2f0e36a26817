//! Prometheus metrics of `sluice serve --metrics ADDR` (`GET /metrics`, OpenMetrics text).
//!
//! Every value comes from what the core already reports: the exchange's [`AuditRecord`]
//! (decision, findings, errors, held-back text), the durations the session measured, the
//! audit writer's answers and the policy reloader's counts. Nothing here looks at traffic.
//! Label values are names from fixed sets (APIs, decisions, actions, phases, error kinds) or
//! from the policy (rule ids, custom categories, passed through [`metric_label`]); never a
//! matched value, a model name, a principal or a path. The proxy-wasm filter defines the same
//! metrics through Envoy's stats (`wasm-filter/src/metrics.rs`); `docs/observability.md`
//! lists them and how the two line up.

use std::borrow::Cow;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use envoy_types::pb::envoy::service::ext_proc::v3::ProcessingRequest;
use envoy_types::pb::envoy::service::ext_proc::v3::processing_request::Request as Phase;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use sluice_core::audit::Timings;
use sluice_core::{AuditRecord, TokenUsage, error_kind, metric_label};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::policy_reload::ReloadStats;

/// The one path served.
pub const METRICS_PATH: &str = "/metrics";

/// The `mode` label of `sluice_exchanges_total`: which adapter decided (the wasm filter
/// writes `wasm`).
pub const MODE: &str = "ext_proc";

/// Bucket bounds (microseconds) of every Sluice duration histogram, in both modes:
/// `sluice envoy-bootstrap --mode wasm` gives Envoy the same bounds for the filter's
/// histograms, so the two modes' buckets line up.
pub const MICROSECOND_BUCKETS: [f64; 19] = [
    1.0,
    2.5,
    5.0,
    10.0,
    25.0,
    50.0,
    100.0,
    250.0,
    500.0,
    1_000.0,
    2_500.0,
    5_000.0,
    10_000.0,
    25_000.0,
    50_000.0,
    100_000.0,
    250_000.0,
    500_000.0,
    1_000_000.0,
];

const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExchangeLabels {
    api: &'static str,
    decision: &'static str,
    mode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    api: &'static str,
    token_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    category: Cow<'static, str>,
    rule: Cow<'static, str>,
    direction: &'static str,
    action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DryRunLabels {
    rule: String,
    action: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuditLabels {
    source: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

fn histogram() -> Histogram {
    Histogram::new(MICROSECOND_BUCKETS)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Where an audit record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditSource {
    /// An ext_proc stream of this process.
    ExtProc,
    /// `POST /v1/audit` from a proxy-wasm filter (`--audit-sink-listen`).
    Sink,
}

/// How the wait for a record ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditOutcome {
    Durable,
    Failed,
    TimedOut,
}

impl AuditOutcome {
    /// The outcome of a wait that ended with `result`, `timed_out` being the error a
    /// timeout gives.
    pub fn of(result: &Result<(), String>, timed_out: &str) -> AuditOutcome {
        match result {
            Ok(()) => AuditOutcome::Durable,
            Err(e) if e == timed_out => AuditOutcome::TimedOut,
            Err(_) => AuditOutcome::Failed,
        }
    }
}

/// Every metric of the process, and the registry that renders them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    exchanges: Family<ExchangeLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
    findings: Family<FindingLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    dry_run: Family<DryRunLabels, Counter>,
    open_streams: Gauge,
    held_back_bytes: Counter,
    held_back_tokens: Counter,
    event_processing: Family<PhaseLabels, Histogram>,
    exchange_processing: Histogram,
    audit_records: Family<AuditLabels, Counter>,
    audit_commit: Family<AuditLabels, Histogram>,
}

/// Policy reloads, read from the reloader's own counts at each scrape.
#[derive(Debug)]
struct ReloadCollector(Arc<ReloadStats>);

impl Collector for ReloadCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "sluice_policy_reloads",
            "Policy reloads since start: ok = a new policy swapped in, failed = refused (the running policy stayed).",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (result, value) in [("ok", self.0.reloads()), ("failed", self.0.failures())] {
            let labels = ResultLabels { result };
            ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

impl Metrics {
    /// All metrics, registered. `reloads`: the policy reloader's counts, when a policy file
    /// is watched (without one there is nothing to reload and the metric is absent).
    pub fn new(reloads: Option<Arc<ReloadStats>>) -> Metrics {
        let mut m = Metrics {
            exchanges: Family::default(),
            tokens: Family::default(),
            findings: Family::default(),
            errors: Family::default(),
            dry_run: Family::default(),
            open_streams: Gauge::default(),
            held_back_bytes: Counter::default(),
            held_back_tokens: Counter::default(),
            event_processing: Family::new_with_constructor(histogram),
            exchange_processing: histogram(),
            audit_records: Family::default(),
            audit_commit: Family::new_with_constructor(histogram),
            registry: Registry::default(),
        };
        m.registry.register(
            "sluice_exchanges",
            "Exchanges (request/response pairs) decided, by recognised API, decision and adapter.",
            m.exchanges.clone(),
        );
        m.registry.register(
            "sluice_tokens",
            "Tokens the provider reported in its answers (never estimated), by recognised API and token_type (input, output).",
            m.tokens.clone(),
        );
        m.registry.register(
            "sluice_findings",
            "Findings (each matched value once), by category, detector rule, direction and what the policy did.",
            m.findings.clone(),
        );
        m.registry.register(
            "sluice_errors",
            "Failures that forced a fail-closed outcome, by kind (policy refusals are not errors: see decision=block).",
            m.errors.clone(),
        );
        m.registry.register(
            "sluice_dry_run_matches",
            "Policy rules that matched without deciding (mode dry-run, or outside their roll-out), by rule and would-be action.",
            m.dry_run.clone(),
        );
        m.registry.register(
            "sluice_open_streams",
            "Exchanges in progress (ext_proc gRPC streams open).",
            m.open_streams.clone(),
        );
        m.registry.register(
            "sluice_held_back_bytes",
            "Bytes of streamed answer text that left in a later event than the one that brought them.",
            m.held_back_bytes.clone(),
        );
        m.registry.register(
            "sluice_held_back_tokens",
            "Streamed text deltas (about one token each) not released whole with their own event.",
            m.held_back_tokens.clone(),
        );
        m.registry.register(
            "sluice_event_processing_microseconds",
            "Time Sluice spent on one message from Envoy, by phase.",
            m.event_processing.clone(),
        );
        m.registry.register(
            "sluice_exchange_processing_microseconds",
            "Time Sluice spent on all messages of one exchange.",
            m.exchange_processing.clone(),
        );
        m.registry.register(
            "sluice_audit_records",
            "Signed audit records handed to the writer, by source and how the wait ended.",
            m.audit_records.clone(),
        );
        m.registry.register(
            "sluice_audit_commit_microseconds",
            "From handing a record to the writer to its answer (durable, failed or timed out), by source.",
            m.audit_commit.clone(),
        );
        if let Some(stats) = reloads {
            m.registry
                .register_collector(Box::new(ReloadCollector(stats)));
        }
        m
    }

    /// The exposition: OpenMetrics text, ending with `# EOF`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    fn exchange(&self, record: &AuditRecord, timings: &Timings) {
        self.exchanges
            .get_or_create(&ExchangeLabels {
                api: record.api.unwrap_or("unknown"),
                decision: record.decision.as_str(),
                mode: MODE,
            })
            .inc();
        let api = record.api.unwrap_or("unknown");
        for (token_type, n) in record.usage.iter().flat_map(TokenUsage::by_type) {
            self.tokens
                .get_or_create(&TokenLabels { api, token_type })
                .inc_by(n);
        }
        for f in &record.findings {
            self.findings
                .get_or_create(&FindingLabels {
                    category: metric_label(f.category.as_str()),
                    rule: metric_label(f.rule),
                    direction: f.direction.as_str(),
                    action: f.action.as_str(),
                })
                .inc_by(u64::from(f.count));
        }
        for kind in record.errors.iter().filter_map(|e| error_kind(e)) {
            self.errors.get_or_create(&ErrorLabels { kind }).inc();
        }
        for d in &record.dry_run {
            self.dry_run
                .get_or_create(&DryRunLabels {
                    rule: metric_label(&d.rule).into_owned(),
                    action: d.action.as_str(),
                    reason: d.reason.as_str(),
                })
                .inc();
        }
        self.held_back_bytes.inc_by(record.held_back.bytes);
        self.held_back_tokens.inc_by(record.held_back.tokens);
        if let Some(us) = timings.processing_us {
            self.exchange_processing.observe(us as f64);
        }
    }
}

/// What the adapter code holds: the metrics, or nothing when `--metrics` is not given (every
/// call is then a no-op, so the hooks cost nothing).
#[derive(Clone, Debug, Default)]
pub struct MetricsHandle(Option<Arc<Metrics>>);

impl MetricsHandle {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        MetricsHandle(Some(metrics))
    }

    /// Counts one decided exchange from its audit record and timings.
    pub fn exchange(&self, record: &AuditRecord, timings: &Timings) {
        if let Some(m) = &self.0 {
            m.exchange(record, timings);
        }
    }

    /// Starts timing one message from Envoy; [`EventTimer::stop`] records it.
    pub fn event(&self, message: &ProcessingRequest) -> EventTimer {
        EventTimer(
            self.0
                .as_ref()
                .map(|m| (Arc::clone(m), phase(message), Instant::now())),
        )
    }

    /// Counts an open stream until the guard is dropped.
    pub fn open_stream(&self) -> OpenStream {
        if let Some(m) = &self.0 {
            m.open_streams.inc();
        }
        OpenStream(self.0.clone())
    }

    /// Records how the wait for one audit record ended and how long it took.
    pub fn audit_commit(&self, source: AuditSource, outcome: AuditOutcome, waited: Duration) {
        let Some(m) = &self.0 else { return };
        let labels = AuditLabels {
            source: match source {
                AuditSource::ExtProc => "ext_proc",
                AuditSource::Sink => "sink",
            },
            result: match outcome {
                AuditOutcome::Durable => "durable",
                AuditOutcome::Failed => "failed",
                AuditOutcome::TimedOut => "timeout",
            },
        };
        m.audit_records.get_or_create(&labels).inc();
        m.audit_commit
            .get_or_create(&labels)
            .observe(micros(waited));
    }
}

/// The `phase` label of one ext_proc message.
fn phase(message: &ProcessingRequest) -> &'static str {
    match &message.request {
        Some(Phase::RequestHeaders(_)) => "request_headers",
        Some(Phase::RequestBody(_)) => "request_body",
        Some(Phase::RequestTrailers(_)) => "request_trailers",
        Some(Phase::ResponseHeaders(_)) => "response_headers",
        Some(Phase::ResponseBody(_)) => "response_body",
        Some(Phase::ResponseTrailers(_)) => "response_trailers",
        None => "none",
    }
}

/// One message being timed.
#[must_use = "stop() records the time"]
pub struct EventTimer(Option<(Arc<Metrics>, &'static str, Instant)>);

impl EventTimer {
    pub fn stop(self) {
        if let Some((m, phase, began)) = self.0 {
            m.event_processing
                .get_or_create(&PhaseLabels { phase })
                .observe(micros(began.elapsed()));
        }
    }
}

/// An open stream, counted in `sluice_open_streams` while it lives.
#[derive(Debug)]
pub struct OpenStream(Option<Arc<Metrics>>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        if let Some(m) = &self.0 {
            m.open_streams.dec();
        }
    }
}

/// Binds `addr` and logs the readiness line `metrics served on ADDR` (not "listening on":
/// tools wait for that phrase as the gRPC listener's, and this line comes first).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics endpoint on {addr}"))?;
    let bound = listener
        .local_addr()
        .context("reading the metrics endpoint's bound address")?;
    tracing::info!(target: "sluice::ready", "metrics served on {bound}");
    Ok(listener)
}

/// Serves `GET /metrics` until the task is aborted.
pub fn spawn(listener: TcpListener, metrics: Arc<Metrics>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics endpoint accept failed");
                    continue;
                }
            };
            let metrics = Arc::clone(&metrics);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let answer = answer(&metrics, req.method(), req.uri().path());
                    async move { Ok::<_, Infallible>(answer) }
                });
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(%peer, error = %e, "metrics connection ended");
                }
            });
        }
    })
}

fn answer(metrics: &Metrics, method: &Method, path: &str) -> Response<Full<Bytes>> {
    let (status, content_type, body) = if path != METRICS_PATH {
        (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_owned(),
        )
    } else if method != Method::GET && method != Method::HEAD {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".to_owned(),
        )
    } else {
        (StatusCode::OK, OPENMETRICS_CONTENT_TYPE, metrics.render())
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::{BodyOutcome, Engine, ExchangeContext, Policy};

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const AWS_KEY: &str = "AKIAIX6EA6QOM66ZJOJY";

    /// A non-streamed OpenAI chat exchange whose prompt carries `prompt`.
    fn record(prompt: &str) -> AuditRecord {
        let engine = Engine::new(Policy::default()).unwrap();
        let mut ex = engine.exchange(ExchangeContext::default());
        ex.request_headers(&h(&[
            (":path", "/v1/chat/completions"),
            (":method", "POST"),
        ]));
        let body = serde_json::json!({"model": "gpt-secret-model", "messages": [{"role": "user", "content": prompt}]});
        let out = ex.request_body(body.to_string().as_bytes(), true);
        assert!(!matches!(out, BodyOutcome::Reply(_)));
        ex.response_headers(&h(&[
            (":status", "200"),
            ("content-type", "application/json"),
        ]));
        ex.response_body(
            br#"{"choices":[{"message":{"role":"assistant","content":"ok"}}]}"#,
            true,
        );
        ex.finish()
    }

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn an_exchange_moves_its_counters_with_bounded_labels() {
        let metrics = Arc::new(Metrics::new(None));
        let handle = MetricsHandle::new(Arc::clone(&metrics));
        let timings = Timings {
            processing_us: Some(42),
            ..Timings::default()
        };
        handle.exchange(&record("hello"), &timings);
        handle.exchange(&record(&format!("my key {AWS_KEY}")), &timings);
        let text = metrics.render();
        assert_eq!(
            value(
                &text,
                r#"sluice_exchanges_total{api="openai-chat",decision="allow",mode="ext_proc"}"#
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            value(
                &text,
                r#"sluice_exchanges_total{api="openai-chat",decision="mask",mode="ext_proc"}"#
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            value(
                &text,
                r#"sluice_findings_total{category="credential",rule="aws-access-key-id",direction="request",action="mask"}"#
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            value(&text, "sluice_exchange_processing_microseconds_count"),
            Some(2.0),
            "{text}"
        );
        assert_eq!(
            value(&text, "sluice_exchange_processing_microseconds_sum"),
            Some(84.0),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
        // Neither the value nor the model (unbounded user data) is a label.
        assert!(!text.contains(AWS_KEY));
        assert!(!text.contains("gpt-secret-model"));
    }

    #[test]
    fn open_streams_follow_their_guards_and_events_are_timed_by_phase() {
        let metrics = Arc::new(Metrics::new(None));
        let handle = MetricsHandle::new(Arc::clone(&metrics));
        let a = handle.open_stream();
        let b = handle.open_stream();
        assert_eq!(value(&metrics.render(), "sluice_open_streams"), Some(2.0));
        drop(a);
        let message = ProcessingRequest {
            request: Some(Phase::ResponseBody(Default::default())),
            ..Default::default()
        };
        handle.event(&message).stop();
        let text = metrics.render();
        assert_eq!(value(&text, "sluice_open_streams"), Some(1.0));
        assert_eq!(
            value(
                &text,
                r#"sluice_event_processing_microseconds_count{phase="response_body"}"#
            ),
            Some(1.0),
            "{text}"
        );
        drop(b);
        assert_eq!(value(&metrics.render(), "sluice_open_streams"), Some(0.0));
    }

    #[test]
    fn audit_commits_and_reloads_are_counted() {
        let stats = Arc::new(ReloadStats::default());
        let metrics = Arc::new(Metrics::new(Some(stats)));
        let handle = MetricsHandle::new(Arc::clone(&metrics));
        handle.audit_commit(
            AuditSource::ExtProc,
            AuditOutcome::Durable,
            Duration::from_micros(300),
        );
        handle.audit_commit(
            AuditSource::Sink,
            AuditOutcome::TimedOut,
            Duration::from_millis(1),
        );
        let text = metrics.render();
        assert_eq!(
            value(
                &text,
                r#"sluice_audit_records_total{source="ext_proc",result="durable"}"#
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            value(
                &text,
                r#"sluice_audit_commit_microseconds_bucket{le="500.0",source="ext_proc",result="durable"}"#
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            value(&text, r#"sluice_policy_reloads_total{result="failed"}"#),
            Some(0.0),
            "{text}"
        );
    }

    #[test]
    fn a_disabled_handle_records_nothing_and_costs_no_allocation() {
        let handle = MetricsHandle::default();
        let _open = handle.open_stream();
        handle.exchange(&record("hello"), &Timings::default());
        handle.event(&ProcessingRequest::default()).stop();
    }

    #[test]
    fn only_get_metrics_is_served() {
        let metrics = Metrics::new(None);
        assert_eq!(
            answer(&metrics, &Method::GET, METRICS_PATH).status(),
            StatusCode::OK
        );
        assert_eq!(
            answer(&metrics, &Method::POST, METRICS_PATH).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            answer(&metrics, &Method::GET, "/other").status(),
            StatusCode::NOT_FOUND
        );
    }
}
