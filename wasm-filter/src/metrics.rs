//! The filter's metrics, as Envoy stats (proxy-wasm `define_metric`): the same names, labels
//! and values as `sluice serve --metrics` (`ext-proc-server/src/metrics.rs`), so that they
//! line up in Envoy's `/stats/prometheus`.
//!
//! The ABI has no labels. Envoy puts every metric a module defines under `wasmcustom.`, and
//! its Prometheus output strips that namespace (no `envoy_` prefix) and sanitises the rest.
//! Labels therefore travel in the stat name, in the form Istio's tag extractors read:
//! `api=.=openai-chat;.;decision=.=mask;.;mode=.=wasm;.;sluice_exchanges_total`. With one
//! `stats_tags` extractor per label name (`(api=\.=(.*?);\.;)`, what `sluice envoy-bootstrap
//! --mode wasm` writes, and Istio's `extraStatTags`), `/stats/prometheus` shows
//! `sluice_exchanges_total{api="openai-chat",decision="mask",mode="wasm"}`.
//!
//! Each VM (one per worker thread) defines a metric once, on first use, and keeps its id;
//! Envoy resolves every VM's definition of one name to the same stat.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;
use sluice_core::{AuditRecord, TokenUsage, error_kind, metric_label};

/// The `mode` label of `sluice_exchanges_total` (the ext_proc service writes `ext_proc`).
pub const MODE: &str = "wasm";

/// The stat name of `metric` with `tags` encoded for Envoy's tag extractors.
pub fn stat_name(metric: &str, tags: &[(&str, &str)]) -> String {
    let mut name = String::with_capacity(metric.len() + tags.len() * 24);
    for (tag, value) in tags {
        name.push_str(tag);
        name.push_str("=.=");
        name.push_str(value);
        name.push_str(";.;");
    }
    name.push_str(metric);
    name
}

/// The host calls metrics need; [`EnvoyStats`] in the module, a recorder in tests.
pub trait StatHost {
    /// The id of the metric, defining it. `None` if the host refused.
    fn define(&self, kind: MetricType, name: &str) -> Option<u32>;
    fn increment(&self, id: u32, by: i64);
    fn record(&self, id: u32, value: u64);
}

/// Envoy's stats, through the proxy-wasm ABI.
#[derive(Debug, Default)]
pub struct EnvoyStats;

impl StatHost for EnvoyStats {
    fn define(&self, kind: MetricType, name: &str) -> Option<u32> {
        // The SDK traps on anything but success; Envoy fails a definition only for an unknown
        // metric type, which these three are not.
        hostcalls::define_metric(kind, name).ok()
    }
    fn increment(&self, id: u32, by: i64) {
        let _ = hostcalls::increment_metric(id, by);
    }
    fn record(&self, id: u32, value: u64) {
        let _ = hostcalls::record_metric(id, value);
    }
}

/// The metric ids of one VM, shared by its root context and every stream it creates.
#[derive(Debug, Default)]
pub struct FilterMetrics<H: StatHost = EnvoyStats> {
    host: H,
    ids: RefCell<HashMap<String, u32>>,
    /// Ids of the per-callback histograms by phase, looked up without building a stat name:
    /// these are recorded on every body chunk, the hot path.
    phase_ids: RefCell<Vec<(&'static str, u32)>>,
}

impl<H: StatHost> FilterMetrics<H> {
    pub fn with_host(host: H) -> Self {
        FilterMetrics {
            host,
            ids: RefCell::default(),
            phase_ids: RefCell::default(),
        }
    }

    fn id(&self, kind: MetricType, metric: &str, tags: &[(&str, &str)]) -> Option<u32> {
        let name = stat_name(metric, tags);
        if let Some(id) = self.ids.borrow().get(&name) {
            return Some(*id);
        }
        let id = self.host.define(kind, &name)?;
        self.ids.borrow_mut().insert(name, id);
        Some(id)
    }

    fn add(&self, kind: MetricType, metric: &str, tags: &[(&str, &str)], by: i64) {
        if let Some(id) = self.id(kind, metric, tags) {
            self.host.increment(id, by);
        }
    }

    fn observe(&self, metric: &str, tags: &[(&str, &str)], value: u64) {
        if let Some(id) = self.id(MetricType::Histogram, metric, tags) {
            self.host.record(id, value);
        }
    }

    fn count(&self, metric: &str, tags: &[(&str, &str)], by: u64) {
        if by > 0 {
            self.add(
                MetricType::Counter,
                metric,
                tags,
                i64::try_from(by).unwrap_or(i64::MAX),
            );
        }
    }

    /// Defines the metrics without labels, so they show (at zero) before the first stream.
    pub fn define_fixed(&self) {
        for name in [
            "sluice_held_back_bytes_total",
            "sluice_held_back_tokens_total",
        ] {
            let _ = self.id(MetricType::Counter, name, &[]);
        }
        let _ = self.id(MetricType::Gauge, "sluice_open_streams", &[]);
        let _ = self.id(
            MetricType::Histogram,
            "sluice_exchange_processing_microseconds",
            &[],
        );
    }

    /// A plugin configuration applied (`ok`) or refused by this VM's `on_configure`.
    pub fn policy_load(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.count("sluice_policy_loads_total", &[("result", result)], 1);
    }

    /// Counts one concluded exchange from its audit record; `processing_us` is the time the
    /// filter's callbacks took.
    pub fn exchange(&self, record: &AuditRecord, processing_us: u64) {
        let tags = [
            ("api", record.api.unwrap_or("unknown")),
            ("decision", record.decision.as_str()),
            ("mode", MODE),
        ];
        self.count("sluice_exchanges_total", &tags, 1);
        let api = record.api.unwrap_or("unknown");
        for (token_type, n) in record.usage.iter().flat_map(TokenUsage::by_type) {
            self.count(
                "sluice_tokens_total",
                &[("api", api), ("token_type", token_type)],
                n,
            );
        }
        for f in &record.findings {
            let category = metric_label(f.category.as_str());
            let rule = metric_label(f.rule);
            let tags = [
                ("category", category.as_ref()),
                ("rule", rule.as_ref()),
                ("direction", f.direction.as_str()),
                ("action", f.action.as_str()),
            ];
            self.count("sluice_findings_total", &tags, u64::from(f.count));
        }
        for kind in record.errors.iter().filter_map(|e| error_kind(e)) {
            self.count("sluice_errors_total", &[("kind", kind)], 1);
        }
        for d in &record.dry_run {
            let rule = metric_label(&d.rule);
            let tags = [
                ("rule", rule.as_ref()),
                ("action", d.action.as_str()),
                ("reason", d.reason.as_str()),
            ];
            self.count("sluice_dry_run_matches_total", &tags, 1);
        }
        self.count("sluice_held_back_bytes_total", &[], record.held_back.bytes);
        self.count(
            "sluice_held_back_tokens_total",
            &[],
            record.held_back.tokens,
        );
        self.observe(
            "sluice_exchange_processing_microseconds",
            &[],
            processing_us,
        );
    }

    fn event(&self, phase: &'static str, micros: u64) {
        let cached = self
            .phase_ids
            .borrow()
            .iter()
            .find(|(p, _)| *p == phase)
            .map(|(_, id)| *id);
        let id = match cached {
            Some(id) => id,
            None => {
                let Some(id) = self.id(
                    MetricType::Histogram,
                    "sluice_event_processing_microseconds",
                    &[("phase", phase)],
                ) else {
                    return;
                };
                self.phase_ids.borrow_mut().push((phase, id));
                id
            }
        };
        self.host.record(id, micros);
    }

    fn open_streams(&self, by: i64) {
        self.add(MetricType::Gauge, "sluice_open_streams", &[], by);
    }

    /// How the audit sink's answer ended the wait for one record, and how long it took.
    pub fn audit_answered(&self, status: Option<u16>, waited_us: u64) {
        let result = match status {
            Some(200) => "durable",
            Some(_) => "failed",
            None => "unanswered",
        };
        let tags = [("result", result)];
        self.count("sluice_audit_records_total", &tags, 1);
        self.observe("sluice_audit_commit_microseconds", &tags, waited_us);
    }
}

/// A monotonic-enough clock in microseconds (Envoy's wall clock; a step backwards reads as 0).
pub trait Clock {
    fn now_us(&self) -> u64;
}

impl Clock for crate::host::ProxyHost {
    fn now_us(&self) -> u64 {
        crate::filter::HttpHost::now_unix_micros(self)
    }
}

/// One stream's share of the metrics: counts it open while it lives, times its callbacks,
/// and counts its exchange once.
pub struct StreamMetrics<H: StatHost = EnvoyStats, C: Clock = crate::host::ProxyHost> {
    shared: Rc<FilterMetrics<H>>,
    clock: C,
    processing_us: u64,
    counted: bool,
}

impl<H: StatHost, C: Clock> StreamMetrics<H, C> {
    pub fn new(shared: Rc<FilterMetrics<H>>, clock: C) -> Self {
        shared.open_streams(1);
        StreamMetrics {
            shared,
            clock,
            processing_us: 0,
            counted: false,
        }
    }

    /// Runs one callback's work and records how long it took under `phase`.
    pub fn timed<R>(&mut self, phase: &'static str, work: impl FnOnce() -> R) -> R {
        let began = self.clock.now_us();
        let result = work();
        let took = self.clock.now_us().saturating_sub(began);
        self.processing_us = self.processing_us.saturating_add(took);
        self.shared.event(phase, took);
        result
    }

    /// The stream concluded with `record` (at access-log time); counted once.
    pub fn concluded(&mut self, record: Option<&AuditRecord>) {
        if let (false, Some(record)) = (self.counted, record) {
            self.counted = true;
            self.shared.exchange(record, self.processing_us);
        }
    }

    /// The audit sink answered (`None`: no answer) a record posted at `sent_us`.
    pub fn audit_answered(&self, sent_us: Option<u64>, status: Option<u16>) {
        if let Some(sent) = sent_us {
            let waited = self.clock.now_us().saturating_sub(sent);
            self.shared.audit_answered(status, waited);
        }
    }
}

impl<H: StatHost, C: Clock> Drop for StreamMetrics<H, C> {
    fn drop(&mut self) {
        self.shared.open_streams(-1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Envoy's side: defined names by id, and each stat's value (counters and gauges) or
    /// recorded values (histograms).
    #[derive(Default)]
    struct Recorder {
        names: RefCell<Vec<(MetricType, String)>>,
        values: RefCell<HashMap<u32, i64>>,
        samples: RefCell<HashMap<u32, Vec<u64>>>,
    }

    impl StatHost for Rc<Recorder> {
        fn define(&self, kind: MetricType, name: &str) -> Option<u32> {
            let mut names = self.names.borrow_mut();
            names.push((kind, name.to_owned()));
            Some(u32::try_from(names.len() - 1).unwrap())
        }
        fn increment(&self, id: u32, by: i64) {
            *self.values.borrow_mut().entry(id).or_default() += by;
        }
        fn record(&self, id: u32, value: u64) {
            self.samples.borrow_mut().entry(id).or_default().push(value);
        }
    }

    impl Recorder {
        fn id(&self, name: &str) -> Option<u32> {
            let names = self.names.borrow();
            let pos = names.iter().position(|(_, n)| n == name)?;
            u32::try_from(pos).ok()
        }
        fn value(&self, name: &str) -> i64 {
            self.id(name)
                .and_then(|id| self.values.borrow().get(&id).copied())
                .unwrap_or(0)
        }
        fn samples(&self, name: &str) -> Vec<u64> {
            self.id(name)
                .and_then(|id| self.samples.borrow().get(&id).cloned())
                .unwrap_or_default()
        }
    }

    struct FakeClock(Rc<Cell<u64>>);
    impl Clock for FakeClock {
        fn now_us(&self) -> u64 {
            self.0.get()
        }
    }

    fn record() -> AuditRecord {
        use sluice_core::{Engine, ExchangeContext, Policy};
        let h = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let engine = Engine::new(Policy::default()).unwrap();
        let mut ex = engine.exchange(ExchangeContext::default());
        ex.request_headers(&h(&[
            (":path", "/v1/chat/completions"),
            (":method", "POST"),
        ]));
        ex.request_body(
            br#"{"model":"gpt-private","messages":[{"role":"user","content":"key AKIAIX6EA6QOM66ZJOJY"}]}"#,
            true,
        );
        ex.response_headers(&h(&[
            (":status", "200"),
            ("content-type", "application/json"),
        ]));
        ex.response_body(br#"{"choices":[]}"#, true);
        ex.finish()
    }

    #[test]
    fn names_carry_labels_in_the_istio_tag_form() {
        assert_eq!(
            stat_name("sluice_errors_total", &[("kind", "request-unreadable")]),
            "kind=.=request-unreadable;.;sluice_errors_total"
        );
        assert_eq!(stat_name("sluice_open_streams", &[]), "sluice_open_streams");
    }

    #[test]
    fn a_stream_counts_its_exchange_once_and_closes() {
        let recorder = Rc::new(Recorder::default());
        let shared = Rc::new(FilterMetrics::with_host(Rc::clone(&recorder)));
        shared.define_fixed();
        let defined = recorder.names.borrow().len();
        let time = Rc::new(Cell::new(1_000));
        let mut stream = StreamMetrics::new(Rc::clone(&shared), FakeClock(Rc::clone(&time)));
        assert_eq!(recorder.value("sluice_open_streams"), 1);
        let r = stream.timed("request_body", || {
            time.set(time.get() + 7);
            42
        });
        assert_eq!(r, 42);
        let record = record();
        stream.concluded(Some(&record));
        stream.concluded(Some(&record));
        drop(stream);
        assert_eq!(recorder.value("sluice_open_streams"), 0);
        assert_eq!(
            recorder.value(
                "api=.=openai-chat;.;decision=.=mask;.;mode=.=wasm;.;sluice_exchanges_total"
            ),
            1
        );
        assert_eq!(
            recorder.value(
                "category=.=credential;.;rule=.=aws-access-key-id;.;direction=.=request;.;action=.=mask;.;sluice_findings_total"
            ),
            1
        );
        assert_eq!(
            recorder.samples("phase=.=request_body;.;sluice_event_processing_microseconds"),
            vec![7]
        );
        assert_eq!(
            recorder.samples("sluice_exchange_processing_microseconds"),
            vec![7]
        );
        // Fixed metrics were not defined again; no name carries a value or the model.
        let names = recorder.names.borrow();
        assert_eq!(
            names[..defined]
                .iter()
                .filter(|(_, n)| n == "sluice_open_streams")
                .count(),
            1
        );
        for (_, n) in names.iter() {
            assert!(!n.contains("AKIA") && !n.contains("gpt-private"), "{n}");
        }
    }

    #[test]
    fn audit_answers_and_policy_loads_are_counted() {
        let recorder = Rc::new(Recorder::default());
        let shared = Rc::new(FilterMetrics::with_host(Rc::clone(&recorder)));
        let time = Rc::new(Cell::new(5_000));
        let stream = StreamMetrics::new(Rc::clone(&shared), FakeClock(Rc::clone(&time)));
        stream.audit_answered(Some(4_000), Some(200));
        stream.audit_answered(Some(4_500), None);
        stream.audit_answered(None, Some(200));
        shared.policy_load(true);
        assert_eq!(
            recorder.value("result=.=durable;.;sluice_audit_records_total"),
            1
        );
        assert_eq!(
            recorder.value("result=.=unanswered;.;sluice_audit_records_total"),
            1
        );
        assert_eq!(
            recorder.samples("result=.=durable;.;sluice_audit_commit_microseconds"),
            vec![1_000]
        );
        assert_eq!(recorder.value("result=.=ok;.;sluice_policy_loads_total"), 1);
    }
}
