//! The signed audit trail of the proxy-wasm filter through real Envoy: each record is posted to
//! `sluice serve --audit-sink-listen` and the end of the response waits for the sink's 200, so
//! the record is on disk when the client has the whole stream; a sink that is down ends the
//! response fail-closed (or releases it, with `on_audit_error: allow`).

use std::path::{Path, PathBuf};
use std::process::Command;

use sluice_e2e::api::{self, ApiShape};
use sluice_e2e::client::BodyEnd;
use sluice_e2e::harness::{
    AuditSinkServer, Mode, Stack, StackOptions, sluice_binary, start_audit_sink,
    unused_loopback_addr,
};
use sluice_e2e::scenario::{api_request, assert_no_planted, benign_prompt, own_stack, run, send};
use sluice_e2e::upstream::Script;

/// Every family masked in both directions, so every planted value is one nobody may see.
const MASK_ALL: &str = r#"{"version": 1, "response": {"credential": "mask", "pii": "mask", "injection": "flag", "email_in_streams": "mask"}}"#;
const MASK_ALL_RELEASE_ON_AUDIT_ERROR: &str = r#"{"version": 1, "on_audit_error": "allow", "response": {"credential": "mask", "pii": "mask", "injection": "flag", "email_in_streams": "mask"}}"#;

/// What the core's error event says when a record could not be written.
const AUDIT_FAILED: &str = "audit record could not be written";

fn keygen(dir: &Path) -> PathBuf {
    let prefix = dir.join("audit");
    sluice_e2e::harness::audit_keygen(&prefix);
    prefix
}

fn sink_args(file: &Path, prefix: &Path) -> Vec<String> {
    vec![
        "--audit".into(),
        file.display().to_string(),
        "--audit-key".into(),
        format!("{}.key", prefix.display()),
        "--audit-instance".into(),
        "wasm-e2e".into(),
    ]
}

fn records(file: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn verify(file: &Path, prefix: &Path) -> (i32, String) {
    let out = Command::new(sluice_binary().unwrap_or_else(|e| panic!("{e}")))
        .args(["audit", "verify", "--key"])
        .arg(format!("{}.pub", prefix.display()))
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// A wasm stack whose filter posts its records to `sink` (an address; nothing need listen).
async fn wasm_stack(policy: &str, sink: std::net::SocketAddr) -> Stack {
    own_stack(
        Mode::Wasm,
        StackOptions {
            policy_json: Some(policy.to_owned()),
            bootstrap_args: vec![
                "--audit-sink".into(),
                sink.to_string(),
                "--audit-sink-timeout-ms".into(),
                "2000".into(),
            ],
            ..StackOptions::default()
        },
    )
    .await
}

/// Whether the upstream's own `[DONE]` reached the client: one before the error event (the
/// error event ends with a `[DONE]` of its own, as the API's error events do).
fn completed_normally(body: &str) -> bool {
    match (body.find("[DONE]"), body.find(AUDIT_FAILED)) {
        (Some(done), Some(error)) => done < error,
        (done, None) => done.is_some(),
        (None, Some(_)) => false,
    }
}

fn secret_prompt() -> String {
    format!(
        "Deploy with {} and {} please.",
        api::PROMPT_AWS_KEY_ID.value,
        api::PROMPT_AWS_SECRET.value
    )
}

fn planted() -> Vec<api::Planted> {
    let mut all = vec![api::PROMPT_AWS_KEY_ID, api::PROMPT_AWS_SECRET];
    all.extend_from_slice(ApiShape::OpenAiChat.planted_in_capture());
    all
}

fn context(stack: &Stack, sink: &AuditSinkServer) -> String {
    format!(
        "{}\n--- audit sink log ---\n{}",
        stack.context(),
        sink.log()
    )
}

#[test]
fn every_streamed_exchange_is_durable_before_its_end_and_the_trail_verifies() {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let prefix = keygen(dir.path());
        let file = dir.path().join("audit.jsonl");
        let sink = start_audit_sink(dir.path(), &sink_args(&file, &prefix))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let stack = wasm_stack(MASK_ALL, sink.addr()).await;
        let exchanges = [
            (ApiShape::OpenAiChat, benign_prompt(ApiShape::OpenAiChat)),
            (ApiShape::OpenAiChat, secret_prompt()),
            (ApiShape::Anthropic, benign_prompt(ApiShape::Anthropic)),
        ];
        for (n, (shape, prompt)) in exchanges.iter().enumerate() {
            let script = stack.mock().register(Script::default());
            let req = api_request(*shape, prompt, true).headers([script.header()]);
            let resp = send(&stack, &req).await;
            // Read first: the record must be on disk once the client has the whole stream.
            let on_disk = records(&file).len();
            assert_eq!(resp.status, 200, "{}", context(&stack, &sink));
            assert_eq!(resp.end, BodyEnd::Complete, "{}", context(&stack, &sink));
            assert_eq!(on_disk, n + 1, "{}", context(&stack, &sink));
            assert!(!resp.text().contains(AUDIT_FAILED), "{}", resp.text());
            assert_no_planted(
                &stack,
                "response",
                shape.stream_framing(),
                &resp.body(),
                &planted(),
            );
        }
        let all = records(&file);
        assert_eq!(all.len(), exchanges.len());
        for (r, (shape, _)) in all.iter().zip(&exchanges) {
            assert_eq!(r["instance"], "wasm-e2e");
            assert_eq!(r["api"], shape.name(), "{r}");
            assert!(r["timings"]["total_us"].is_u64(), "{r}");
        }
        assert_eq!(all[1]["decision"], "mask", "{}", all[1]);
        let (code, out) = verify(&file, &prefix);
        assert_eq!(code, 0, "{out}");
        let text = std::fs::read_to_string(&file).unwrap() + &sink.log();
        for p in planted() {
            assert!(
                !text.contains(p.value),
                "{} found in the trail or the sink's log",
                p.kind
            );
        }
        // The operators' log line stays.
        assert!(
            stack.envoy_log().contains("sluice audit {"),
            "{}",
            stack.context()
        );
    });
}

#[test]
fn a_sink_that_is_down_ends_the_stream_without_a_normal_completion() {
    run(async {
        let stack = wasm_stack(MASK_ALL, unused_loopback_addr().unwrap()).await;
        for _ in 0..2 {
            let script = stack.mock().register(Script::default());
            let req = api_request(ApiShape::OpenAiChat, &secret_prompt(), true)
                .headers([script.header()]);
            let resp = send(&stack, &req).await;
            let body = resp.text();
            let error_event = body.contains(AUDIT_FAILED);
            let reset = resp.end != BodyEnd::Complete;
            assert!(error_event || reset, "{body}\n{}", stack.context());
            assert!(!completed_normally(&body), "{body}\n{}", stack.context());
            assert_no_planted(
                &stack,
                "response",
                ApiShape::OpenAiChat.stream_framing(),
                &resp.body(),
                &planted(),
            );
        }
        // Still the same VM: the second stream above was filtered too, no trap.
        assert!(
            !stack.envoy_log().contains("panicked") && !stack.envoy_log().contains("RuntimeError"),
            "{}",
            stack.context()
        );
        assert!(
            stack.envoy_log().contains("audit record not durable"),
            "{}",
            stack.context()
        );
    });
}

#[test]
fn a_sink_killed_mid_run_stops_the_next_stream() {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let prefix = keygen(dir.path());
        let file = dir.path().join("audit.jsonl");
        let mut sink = start_audit_sink(dir.path(), &sink_args(&file, &prefix))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let stack = wasm_stack(MASK_ALL, sink.addr()).await;
        let exchange = || async {
            let script = stack.mock().register(Script::default());
            let req = api_request(ApiShape::OpenAiChat, &secret_prompt(), true)
                .headers([script.header()]);
            send(&stack, &req).await
        };
        let first = exchange().await;
        assert_eq!(first.end, BodyEnd::Complete, "{}", context(&stack, &sink));
        assert!(first.text().contains("[DONE]"), "{}", first.text());
        sink.kill();
        let second = exchange().await;
        let body = second.text();
        assert!(
            body.contains(AUDIT_FAILED) || second.end != BodyEnd::Complete,
            "{body}\n{}",
            stack.context()
        );
        assert!(!completed_normally(&body), "{body}");
        assert_eq!(records(&file).len(), 1);
        let (code, out) = verify(&file, &prefix);
        assert_eq!(code, 0, "{out}");
    });
}

#[test]
fn on_audit_error_allow_completes_the_stream_with_the_sink_down() {
    run(async {
        let stack = wasm_stack(
            MASK_ALL_RELEASE_ON_AUDIT_ERROR,
            unused_loopback_addr().unwrap(),
        )
        .await;
        let script = stack.mock().register(Script::default());
        let req =
            api_request(ApiShape::OpenAiChat, &secret_prompt(), true).headers([script.header()]);
        let resp = send(&stack, &req).await;
        let body = resp.text();
        assert_eq!(resp.status, 200, "{}", stack.context());
        assert_eq!(resp.end, BodyEnd::Complete, "{}", stack.context());
        assert!(body.contains("[DONE]"), "{body}\n{}", stack.context());
        assert!(!body.contains(AUDIT_FAILED), "{body}");
        assert_no_planted(
            &stack,
            "response",
            ApiShape::OpenAiChat.stream_framing(),
            &resp.body(),
            &planted(),
        );
        assert!(
            stack.envoy_log().contains("on_audit_error: allow"),
            "{}",
            stack.context()
        );
    });
}
