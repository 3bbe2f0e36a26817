//! Prometheus metrics through real Envoy in both modes: `sluice serve --metrics` (ext_proc)
//! and the filter's stats in Envoy's `/stats/prometheus` (wasm) move by exactly what a known
//! set of exchanges gives (one clean, one whose key is masked both ways, one refused), open
//! streams come back to 0, the histograms count every exchange, and no planted value appears
//! anywhere in the metrics.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use sluice_e2e::api::{self, ApiShape};
use sluice_e2e::client::{self, BodyEnd, Request};
use sluice_e2e::harness::{Mode, Stack, StackOptions, start_audit_sink, unused_loopback_addr};
use sluice_e2e::scenario::{api_request, own_stack, run, send};
use sluice_e2e::upstream::Script;

/// Credentials masked, personal data refused in prompts: one policy gives all three decisions.
const POLICY: &str =
    r#"{"version": 1, "request": {"credential": "mask", "pii": "block", "injection": "flag"}}"#;

/// The answer of the masked exchange: an AWS key id cut across four events.
const SPLIT_KEY_DELTAS: &[&str] = &["Key ", "AK", "IAIX6EA6", "QOM66ZJOJY", " done."];

/// How long counters may take to show what happened (the wasm filter counts at access-log
/// time, Envoy merges histograms at its stats flush, every 5 s by default).
const SETTLE: Duration = Duration::from_secs(30);

/// Every value planted in this suite's traffic.
fn planted() -> Vec<&'static str> {
    vec![
        api::PROMPT_AWS_KEY_ID.value,
        api::AWS_ACCESS_KEY_ID.value,
        api::EMAIL.value,
    ]
}

/// One sample: metric name and labels.
type Series = (String, BTreeMap<String, String>);

/// Parses Prometheus / OpenMetrics text into samples (comments skipped).
fn parse(text: &str) -> BTreeMap<Series, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some((head, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match head.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (head, ""),
        };
        let mut map = BTreeMap::new();
        for pair in labels.split("\",").filter(|p| !p.is_empty()) {
            if let Some((k, v)) = pair.split_once("=\"") {
                map.insert(k.to_owned(), v.trim_end_matches('"').to_owned());
            }
        }
        out.insert((name.to_owned(), map), value);
    }
    out
}

fn series(name: &str, labels: &[(&str, &str)]) -> Series {
    (
        name.to_owned(),
        labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

/// Where a mode's metrics are read.
struct Scrape {
    addr: SocketAddr,
    path: &'static str,
}

impl Scrape {
    async fn text(&self) -> String {
        let resp = client::send(self.addr, &Request::get(self.path), Duration::from_secs(10))
            .await
            .unwrap_or_else(|e| panic!("scraping {}{}: {e}", self.addr, self.path));
        assert_eq!(
            resp.status,
            200,
            "{}",
            String::from_utf8_lossy(&resp.body())
        );
        String::from_utf8_lossy(&resp.body()).into_owned()
    }

    /// Polls until every `(series, value)` in `want` reads exactly that value, or panics with
    /// the last scrape after [`SETTLE`].
    async fn settle(&self, want: &[(Series, f64)]) -> String {
        let started = Instant::now();
        loop {
            let text = self.text().await;
            let samples = parse(&text);
            let missing: Vec<String> = want
                .iter()
                .filter(|(s, v)| samples.get(s).copied().unwrap_or(0.0) != *v)
                .map(|(s, v)| format!("{s:?} = {:?}, want {v}", samples.get(s)))
                .collect();
            if missing.is_empty() {
                return text;
            }
            assert!(
                started.elapsed() < SETTLE,
                "metrics did not settle:\n{}\n--- scrape:\n{text}",
                missing.join("\n")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn assert_nothing_planted(what: &str, text: &str) {
    for value in planted() {
        assert!(
            !text.contains(value),
            "{what}: a planted value appears in the metrics"
        );
    }
}

/// The three exchanges: clean (its answer reports token usage), masked (a key in the prompt
/// and one split across the answer's events), refused (an e-mail address in the prompt).
async fn traffic(stack: &Stack) {
    let api = ApiShape::OpenAiChat;
    // A clean answer whose last chunk reports usage (`stream_options.include_usage`).
    let sse = concat!(
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",",
        "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Sunny.\"},",
        "\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",",
        "\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":34,\"total_tokens\":46}}\n\n",
        "data: [DONE]\n\n",
    );
    let script = stack.mock().register(Script::raw(sse, "text/event-stream"));
    let resp = send(
        stack,
        &api_request(api, "What is the weather like?", true).headers([script.header()]),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", stack.context());
    assert_eq!(resp.end, BodyEnd::Complete, "{}", stack.context());

    let script = stack.mock().register(Script::deltas(SPLIT_KEY_DELTAS));
    let prompt = format!("Deploy with {} please.", api::PROMPT_AWS_KEY_ID.value);
    let resp = send(
        stack,
        &api_request(api, &prompt, true).headers([script.header()]),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", stack.context());
    assert_eq!(resp.end, BodyEnd::Complete, "{}", stack.context());
    let body = String::from_utf8_lossy(&resp.body()).into_owned();
    assert!(
        body.contains("[REDACTED:aws-access-key-id]"),
        "{}",
        stack.context()
    );

    let script = stack.mock().register(Script::deltas(api::CLEAN_DELTAS));
    let prompt = format!("Write to {} today.", api::EMAIL.value);
    let resp = send(
        stack,
        &api_request(api, &prompt, false).headers([script.header()]),
    )
    .await;
    assert_eq!(resp.status, 403, "{}", stack.context());
}

/// What both modes must show after [`traffic`], with `mode` the adapter's label value.
fn expected(mode: &str) -> Vec<(Series, f64)> {
    let exchange = |decision| {
        series(
            "sluice_exchanges_total",
            &[
                ("api", "openai-chat"),
                ("decision", decision),
                ("mode", mode),
            ],
        )
    };
    let finding = |category, rule, direction, action| {
        series(
            "sluice_findings_total",
            &[
                ("category", category),
                ("rule", rule),
                ("direction", direction),
                ("action", action),
            ],
        )
    };
    vec![
        (exchange("allow"), 1.0),
        (exchange("mask"), 1.0),
        (exchange("block"), 1.0),
        (
            finding("credential", "aws-access-key-id", "request", "mask"),
            1.0,
        ),
        (
            finding("credential", "aws-access-key-id", "response", "mask"),
            1.0,
        ),
        (finding("pii", "email", "request", "block"), 1.0),
        // Only the clean answer reported usage.
        (
            series(
                "sluice_tokens_total",
                &[("api", "openai-chat"), ("token_type", "input")],
            ),
            12.0,
        ),
        (
            series(
                "sluice_tokens_total",
                &[("api", "openai-chat"), ("token_type", "output")],
            ),
            34.0,
        ),
        (series("sluice_open_streams", &[]), 0.0),
        // "AK", "IAIX6EA6", "QOM66ZJOJY" each wait for the next event: 20 bytes in 3 deltas.
        (series("sluice_held_back_tokens_total", &[]), 3.0),
        (series("sluice_held_back_bytes_total", &[]), 20.0),
        (
            series("sluice_exchange_processing_microseconds_count", &[]),
            3.0,
        ),
        (
            series(
                "sluice_event_processing_microseconds_count",
                &[("phase", "request_headers")],
            ),
            3.0,
        ),
        // Envoy runs the wasm filter's response callbacks on the refusal it sent itself too
        // (the filter lets it pass); ext_proc is not asked about it.
        (
            series(
                "sluice_event_processing_microseconds_count",
                &[("phase", "response_headers")],
            ),
            if mode == "wasm" { 3.0 } else { 2.0 },
        ),
    ]
}

fn audit_args(dir: &Path) -> Vec<String> {
    let prefix = dir.join("audit");
    sluice_e2e::harness::audit_keygen(&prefix);
    vec![
        "--audit".into(),
        dir.join("audit.jsonl").display().to_string(),
        "--audit-key".into(),
        format!("{}.key", prefix.display()),
    ]
}

#[test]
fn ext_proc_metrics_move_by_the_exchanges() {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let metrics = unused_loopback_addr().unwrap();
        let mut args = audit_args(dir.path());
        args.extend(["--metrics".to_owned(), metrics.to_string()]);
        let stack = own_stack(
            Mode::ExtProc,
            StackOptions {
                policy_json: Some(POLICY.to_owned()),
                sluice_args: args,
                ..StackOptions::default()
            },
        )
        .await;
        let scrape = Scrape {
            addr: metrics,
            path: "/metrics",
        };
        let before = parse(&scrape.text().await);
        assert!(
            !before.keys().any(|(n, _)| n == "sluice_exchanges_total"),
            "{before:?}"
        );
        traffic(&stack).await;
        let mut want = expected("ext_proc");
        want.push((
            series(
                "sluice_audit_records_total",
                &[("source", "ext_proc"), ("result", "durable")],
            ),
            3.0,
        ));
        want.push((
            series(
                "sluice_audit_commit_microseconds_count",
                &[("source", "ext_proc"), ("result", "durable")],
            ),
            3.0,
        ));
        // A watched policy file: reloads are reported (none happened).
        want.push((
            series("sluice_policy_reloads_total", &[("result", "ok")]),
            0.0,
        ));
        let text = scrape.settle(&want).await;
        assert!(
            text.contains("# TYPE sluice_policy_reloads counter"),
            "{text}"
        );
        assert_nothing_planted("ext_proc /metrics", &text);
        assert_nothing_planted("sluice serve log", &stack.sluice_log());
    });
}

#[test]
fn wasm_metrics_move_by_the_exchanges_in_envoy_stats() {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let sink_metrics = unused_loopback_addr().unwrap();
        let mut args = audit_args(dir.path());
        args.extend(["--metrics".to_owned(), sink_metrics.to_string()]);
        let sink = start_audit_sink(dir.path(), &args)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let stack = own_stack(
            Mode::Wasm,
            StackOptions {
                policy_json: Some(POLICY.to_owned()),
                bootstrap_args: vec!["--audit-sink".into(), sink.addr().to_string()],
                ..StackOptions::default()
            },
        )
        .await;
        let scrape = Scrape {
            addr: stack.admin(),
            path: "/stats/prometheus",
        };
        traffic(&stack).await;
        let mut want = expected("wasm");
        // The filter posts records of answers that came from the upstream (the refusal is
        // logged only, docs/audit.md).
        want.push((
            series("sluice_audit_records_total", &[("result", "durable")]),
            2.0,
        ));
        want.push((
            series(
                "sluice_audit_commit_microseconds_count",
                &[("result", "durable")],
            ),
            2.0,
        ));
        let text = scrape.settle(&want).await;
        // Every VM (main thread and the one worker) applied the configuration.
        let loads = parse(&text)
            .get(&series("sluice_policy_loads_total", &[("result", "ok")]))
            .copied()
            .unwrap_or(0.0);
        assert!(loads >= 1.0, "{text}");
        assert_nothing_planted("Envoy /stats/prometheus", &text);
        let stats = client::send(
            stack.admin(),
            &Request::get("/stats"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert_nothing_planted("Envoy /stats", &String::from_utf8_lossy(&stats.body()));

        // The sink's own metrics count the same records, as arriving over HTTP.
        let sink_scrape = Scrape {
            addr: sink_metrics,
            path: "/metrics",
        };
        let sink_text = sink_scrape
            .settle(&[(
                series(
                    "sluice_audit_records_total",
                    &[("source", "sink"), ("result", "durable")],
                ),
                2.0,
            )])
            .await;
        assert_nothing_planted("audit sink /metrics", &sink_text);
    });
}
