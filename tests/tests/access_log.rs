//! Sluice's summary reaches Envoy's own access log in both modes (ext_proc dynamic metadata,
//! wasm filter state) through `sluice envoy-bootstrap --access-log PATH`: the decision, the
//! finding counts per direction, the model and the token usage the answer reported, for an
//! exchange that was masked, one that was refused and a clean one; and no planted value
//! appears in the log.

use std::path::Path;
use std::time::{Duration, Instant};

use sluice_e2e::api::{self, ApiShape};
use sluice_e2e::client::BodyEnd;
use sluice_e2e::harness::{Mode, StackOptions};
use sluice_e2e::scenario::{api_request, own_stack, run, send};
use sluice_e2e::upstream::Script;

const POLICY: &str =
    r#"{"version": 1, "request": {"credential": "mask", "pii": "block", "injection": "flag"}}"#;

/// An AWS key id cut across events of the answer.
const SPLIT_KEY_DELTAS: &[&str] = &["Key ", "AK", "IAIX6EA6", "QOM66ZJOJY", " done."];

/// Envoy writes file access logs on a timer (1 s by default).
const SETTLE: Duration = Duration::from_secs(30);

/// The log's JSON lines, once there are `n` of them.
async fn lines(path: &Path, n: usize) -> Vec<serde_json::Value> {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        if lines.len() >= n {
            return lines;
        }
        assert!(
            started.elapsed() < SETTLE,
            "{} access log lines after {SETTLE:?}, want {n}:\n{text}",
            lines.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn by_decision<'a>(lines: &'a [serde_json::Value], decision: &str) -> &'a serde_json::Value {
    lines
        .iter()
        .find(|l| l["sluice_decision"] == decision)
        .unwrap_or_else(|| panic!("no line with decision {decision}: {lines:?}"))
}

fn access_log_publishes_the_summary(mode: Mode) {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        let stack = own_stack(
            mode,
            StackOptions {
                policy_json: Some(POLICY.to_owned()),
                bootstrap_args: vec!["--access-log".into(), log.display().to_string()],
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

        // A clean answer whose last chunk reports usage (`stream_options.include_usage`).
        let sse = concat!(
            "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",",
            "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Sunny.\"},",
            "\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",",
            "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
            "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",",
            "\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":34,\"total_tokens\":46}}\n\n",
            "data: [DONE]\n\n",
        );
        let script = stack.mock().register(Script::raw(sse, "text/event-stream"));
        let resp = send(
            &stack,
            &api_request(api, "What is the weather like?", true).headers([script.header()]),
        )
        .await;
        assert_eq!(resp.status, 200, "{}", stack.context());
        assert_eq!(resp.end, BodyEnd::Complete, "{}", stack.context());

        let lines = lines(&log, 3).await;
        let masked = by_decision(&lines, "mask");
        assert_eq!(masked["sluice_api"], "openai-chat", "{masked}");
        // One key in the prompt, one split across the answer.
        let count = |v: &serde_json::Value| -> f64 {
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .unwrap_or_else(|| panic!("not a count: {v}"))
        };
        assert_eq!(count(&masked["sluice_findings"]), 2.0, "{masked}");
        assert_eq!(count(&masked["sluice_request_findings"]), 1.0, "{masked}");
        assert_eq!(count(&masked["sluice_response_findings"]), 1.0, "{masked}");
        assert!(
            masked["sluice_model"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{masked}"
        );

        let refused = by_decision(&lines, "block");
        assert_eq!(refused["status"], 403, "{refused}");
        assert_eq!(count(&refused["sluice_request_findings"]), 1.0, "{refused}");

        let clean = by_decision(&lines, "allow");
        assert_eq!(count(&clean["sluice_input_tokens"]), 12.0, "{clean}");
        assert_eq!(count(&clean["sluice_output_tokens"]), 34.0, "{clean}");
        assert_eq!(count(&clean["sluice_findings"]), 0.0, "{clean}");
        // Without usage in the answer, nothing is published.
        assert!(masked["sluice_output_tokens"].is_null(), "{masked}");

        let text = std::fs::read_to_string(&log).unwrap();
        for value in [
            api::PROMPT_AWS_KEY_ID.value,
            api::AWS_ACCESS_KEY_ID.value,
            api::EMAIL.value,
        ] {
            assert!(
                !text.contains(value),
                "a planted value is in the access log"
            );
        }
    });
}

#[test]
fn ext_proc_summary_reaches_the_access_log_as_dynamic_metadata() {
    access_log_publishes_the_summary(Mode::ExtProc);
}

#[test]
fn wasm_summary_reaches_the_access_log_as_filter_state() {
    access_log_publishes_the_summary(Mode::Wasm);
}
