//! OpenTelemetry traces in ext_proc mode, through real Envoy: `sluice envoy-bootstrap
//! --otlp-tracing` makes Envoy start a trace per request and send its spans to a collector,
//! and `sluice serve --otlp-endpoint` sends one span per exchange to the same collector, in
//! the trace Envoy started (its context rides the ext_proc call's metadata). The exchanges
//! are a masked one, a refused one and a clean one whose answer reports token usage; the
//! spans carry the GenAI attributes and Sluice's decision, and no planted value appears in
//! any span or in the server log.
//!
//! Without Envoy tracing, a client's own `traceparent` header parents the span.

use std::time::{Duration, Instant};

use serde_json::Value;
use sluice_e2e::api::{self, ApiShape};
use sluice_e2e::client::BodyEnd;
use sluice_e2e::harness::{Mode, OtlpReceiver, Stack, StackOptions, start_otlp_receiver};
use sluice_e2e::scenario::{api_request, own_stack, run, send};
use sluice_e2e::upstream::Script;

const POLICY: &str =
    r#"{"version": 1, "request": {"credential": "mask", "pii": "block", "injection": "flag"}}"#;

/// An AWS key id cut across events of the answer.
const SPLIT_KEY_DELTAS: &[&str] = &["Key ", "AK", "IAIX6EA6", "QOM66ZJOJY", " done."];

/// Both exporters batch (Sluice sends within a second, Envoy flushes every 5 s).
const SETTLE: Duration = Duration::from_secs(30);

/// The service names of the two sources of spans.
const SLUICE: &str = "sluice";
const ENVOY: &str = "envoy";

/// A clean streamed answer whose last chunk reports usage (`stream_options.include_usage`).
const SSE_WITH_USAGE: &str = concat!(
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",",
    "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Sunny.\"},",
    "\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",",
    "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",",
    "\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":34,\"total_tokens\":46}}\n\n",
    "data: [DONE]\n\n",
);

async fn receiver(dir: &std::path::Path) -> OtlpReceiver {
    match start_otlp_receiver(dir).await {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

/// The received spans once `done` holds for them, or a failure after [`SETTLE`].
async fn spans_until(
    receiver: &OtlpReceiver,
    stack: &Stack,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let spans = receiver.spans();
        if done(&spans) {
            return spans;
        }
        assert!(
            started.elapsed() < SETTLE,
            "spans after {SETTLE:?}:\n{}\n{}",
            receiver.raw(),
            stack.context()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn of_service<'a>(spans: &'a [Value], service: &str) -> Vec<&'a Value> {
    spans.iter().filter(|s| s["service"] == service).collect()
}

fn by_decision<'a>(spans: &[&'a Value], decision: &str) -> &'a Value {
    spans
        .iter()
        .find(|s| s["attributes"]["sluice.decision"] == decision)
        .copied()
        .unwrap_or_else(|| panic!("no span with decision {decision}: {spans:?}"))
}

fn int(span: &Value, key: &str) -> i64 {
    let v = &span["attributes"][key];
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("{key} is not a count in {span}"))
}

/// Envoy's spans of the trace Sluice's `span` belongs to, with Sluice's parent among them:
/// Envoy's span for the ext_proc call.
fn envoy_trace<'a>(spans: &'a [Value], span: &Value) -> Vec<&'a Value> {
    let trace: Vec<&Value> = of_service(spans, ENVOY)
        .into_iter()
        .filter(|s| s["trace_id"] == span["trace_id"])
        .collect();
    let parent = trace
        .iter()
        .find(|s| s["span_id"] == span["parent_span_id"])
        .unwrap_or_else(|| {
            panic!("Sluice's span {span} is not a child of one of Envoy's spans: {trace:?}")
        });
    // Envoy's span for the ext_proc gRPC call, whose context the call's metadata carried.
    assert!(
        parent["name"]
            .as_str()
            .is_some_and(|n| n.contains("ExternalProcessor.Process")),
        "{parent}"
    );
    trace
}

#[test]
fn ext_proc_exchange_spans_join_envoys_trace_with_gen_ai_attributes() {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let receiver = receiver(dir.path()).await;
        let collector = receiver.addr().to_string();
        let stack = own_stack(
            Mode::ExtProc,
            StackOptions {
                policy_json: Some(POLICY.to_owned()),
                sluice_args: vec!["--otlp-endpoint".into(), format!("http://{collector}")],
                bootstrap_args: vec!["--otlp-tracing".into(), collector.clone()],
                ..StackOptions::default()
            },
        )
        .await;
        let api = ApiShape::OpenAiChat;

        let script = stack.mock().register(Script::deltas(SPLIT_KEY_DELTAS));
        let prompt = format!("Deploy with {} please.", api::PROMPT_AWS_KEY_ID.value);
        let resp = send(
            &stack,
            &api_request(api, &prompt, true).headers([script.header()]),
        )
        .await;
        assert_eq!(resp.status, 200, "{}", stack.context());
        assert_eq!(resp.end, BodyEnd::Complete, "{}", stack.context());

        let script = stack.mock().register(Script::deltas(api::CLEAN_DELTAS));
        let prompt = format!("Write to {} today.", api::EMAIL.value);
        let resp = send(
            &stack,
            &api_request(api, &prompt, false).headers([script.header()]),
        )
        .await;
        assert_eq!(resp.status, 403, "{}", stack.context());

        let script = stack
            .mock()
            .register(Script::raw(SSE_WITH_USAGE, "text/event-stream"));
        let resp = send(
            &stack,
            &api_request(api, "What is the weather like?", true).headers([script.header()]),
        )
        .await;
        assert_eq!(resp.status, 200, "{}", stack.context());
        assert_eq!(resp.end, BodyEnd::Complete, "{}", stack.context());

        // Done once Sluice's three spans are in and Envoy's spans of each of their traces.
        let spans = spans_until(&receiver, &stack, |spans| {
            let ours = of_service(spans, SLUICE);
            ours.len() >= 3
                && ours.iter().all(|s| {
                    of_service(spans, ENVOY)
                        .iter()
                        .any(|e| e["span_id"] == s["parent_span_id"])
                })
        })
        .await;
        let ours = of_service(&spans, SLUICE);
        assert_eq!(ours.len(), 3, "one span per exchange: {ours:?}");
        let traces: std::collections::HashSet<String> =
            ours.iter().map(|s| s["trace_id"].to_string()).collect();
        assert_eq!(traces.len(), 3, "one trace per request: {ours:?}");

        for span in &ours {
            let a = &span["attributes"];
            assert_eq!(a["gen_ai.operation.name"], "chat", "{span}");
            assert_eq!(a["gen_ai.provider.name"], "openai", "{span}");
            assert_eq!(a["gen_ai.request.model"], "gpt-4o-mini", "{span}");
            assert_eq!(a["sluice.api"], "openai-chat", "{span}");
            assert_eq!(span["name"], "chat gpt-4o-mini", "{span}");
            // SPAN_KIND_INTERNAL
            assert_eq!(span["kind"], 1, "{span}");
            // Envoy started the trace: its root span is the request's.
            let envoy = envoy_trace(&spans, span);
            assert!(
                envoy.iter().any(|s| s["parent_span_id"] == ""),
                "no root span of Envoy's in {envoy:?}"
            );
        }

        let masked = by_decision(&ours, "mask");
        assert_eq!(int(masked, "sluice.findings"), 2, "{masked}");
        assert_eq!(int(masked, "sluice.request_findings"), 1, "{masked}");
        assert_eq!(int(masked, "sluice.response_findings"), 1, "{masked}");
        assert!(
            masked["attributes"]["gen_ai.usage.output_tokens"].is_null(),
            "{masked}"
        );

        let refused = by_decision(&ours, "block");
        assert_eq!(int(refused, "sluice.request_findings"), 1, "{refused}");
        let refused_root = envoy_trace(&spans, refused)
            .into_iter()
            .find(|s| s["parent_span_id"] == "")
            .unwrap();
        assert_eq!(
            refused_root["attributes"]["http.status_code"], "403",
            "{refused_root}"
        );
        // A policy refusal is a decision, not an error.
        assert_ne!(refused["status"]["code"], 2, "{refused}");

        let clean = by_decision(&ours, "allow");
        assert_eq!(int(clean, "gen_ai.usage.input_tokens"), 12, "{clean}");
        assert_eq!(int(clean, "gen_ai.usage.output_tokens"), 34, "{clean}");
        assert_eq!(int(clean, "sluice.findings"), 0, "{clean}");

        // Nothing planted reaches a span (of either source) or the server log.
        let raw = receiver.raw();
        let log = stack.sluice_log();
        for value in [
            api::PROMPT_AWS_KEY_ID.value,
            api::AWS_ACCESS_KEY_ID.value,
            api::EMAIL.value,
        ] {
            assert!(!raw.contains(value), "a planted value is in a span");
            assert!(!log.contains(value), "a planted value is in the server log");
        }
    });
}

#[test]
fn ext_proc_exchange_span_follows_the_clients_traceparent_without_envoy_tracing() {
    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT_ID: &str = "00f067aa0ba902b7";
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let receiver = receiver(dir.path()).await;
        let stack = own_stack(
            Mode::ExtProc,
            StackOptions {
                sluice_args: vec![
                    "--otlp-endpoint".into(),
                    format!("http://{}", receiver.addr()),
                ],
                ..StackOptions::default()
            },
        )
        .await;
        let script = stack.mock().register(Script::deltas(api::CLEAN_DELTAS));
        let req = api_request(ApiShape::Anthropic, "Hello there.", true)
            .headers([script.header()])
            .header("traceparent", &format!("00-{TRACE_ID}-{PARENT_ID}-01"));
        let resp = send(&stack, &req).await;
        assert_eq!(resp.status, 200, "{}", stack.context());

        let spans = spans_until(&receiver, &stack, |s| !of_service(s, SLUICE).is_empty()).await;
        let ours = of_service(&spans, SLUICE);
        assert_eq!(ours.len(), 1, "{ours:?}");
        let span = ours[0];
        assert_eq!(span["trace_id"], TRACE_ID, "{span}");
        assert_eq!(span["parent_span_id"], PARENT_ID, "{span}");
        assert_eq!(
            span["attributes"]["gen_ai.provider.name"], "anthropic",
            "{span}"
        );
        assert_eq!(span["attributes"]["sluice.decision"], "allow", "{span}");
        assert!(
            of_service(&spans, ENVOY).is_empty(),
            "Envoy traced without --otlp-tracing: {spans:?}"
        );
    });
}
