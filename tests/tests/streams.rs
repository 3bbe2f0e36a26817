//! Streamed answers through Envoy + Sluice, for every API shape and in every mode:
//! planted values split across events never reach the client, everything else arrives
//! unchanged and still parses as the same API; clean streams pass byte-for-byte.

use std::collections::BTreeMap;
use std::time::Duration;

use sluice_e2e::api::{self, ApiShape, Planted};
use sluice_e2e::client::BodyEnd;
use sluice_e2e::harness::{Mode, Stack, StackOptions};
use sluice_e2e::inspect;
use sluice_e2e::scenario::{
    api_request, asks_for_stream, assert_no_planted, assert_request_intact, benign_prompt,
    documents, own_stack, received_once, send, shared_stack,
};
use sluice_e2e::upstream::{Chunking, Script};

/// Deliveries each stream is tried with: one event per write (paced like a model), random
/// cuts that fall inside events, escapes and UTF-8, and the whole body at once.
fn deliveries() -> [Script; 3] {
    [
        Script::default()
            .chunking(Chunking::Events)
            .gap(Duration::from_millis(2)),
        Script::default()
            .chunking(Chunking::Random(0x5eed))
            .gap(Duration::from_millis(1)),
        Script::default().chunking(Chunking::Whole),
    ]
}

/// The JSON-path texts of `docs` that must come through: every path whose text in the
/// capture holds a planted value, and the API's main text.
fn text_paths(
    api: ApiShape,
    capture: &BTreeMap<String, String>,
    planted: &[Planted],
) -> Vec<String> {
    let mut paths: Vec<String> = capture
        .iter()
        .filter(|(_, text)| planted.iter().any(|p| text.contains(p.value)))
        .map(|(path, _)| path.clone())
        .collect();
    for p in api.primary_text_paths() {
        if !paths.iter().any(|q| q == p) {
            paths.push((*p).to_owned());
        }
    }
    paths
}

/// The upstream got the client's request unchanged, so it was asked for a stream; the mock
/// (like a provider) answers a request without the stream flag with one JSON document.
fn assert_request_streams(
    stack: &sluice_e2e::harness::Stack,
    how: &str,
    api: ApiShape,
    req: &sluice_e2e::client::Request,
    script: &sluice_e2e::upstream::ScriptHandle,
) {
    let r = received_once(stack, how, script);
    assert_request_intact(stack, &format!("{how}: upstream request"), req, &r);
    assert!(
        asks_for_stream(api, &r),
        "{how}: the upstream was not asked for a stream\n{}",
        stack.context()
    );
}

/// Checks how a stream of `api` must end, so a client library sees a finished answer.
fn assert_finished(api: ApiShape, body: &[u8], docs: &[serde_json::Value], context: &str) {
    let last_type = docs
        .last()
        .and_then(|d| d.get("type"))
        .and_then(|t| t.as_str());
    let ok = match api {
        ApiShape::OpenAiChat => body.ends_with(b"data: [DONE]\n\n"),
        ApiShape::OpenAiResponses => last_type == Some("response.completed"),
        ApiShape::Anthropic => last_type == Some("message_stop"),
        ApiShape::Gemini => docs
            .last()
            .and_then(|d| d.pointer("/candidates/0/finishReason"))
            .is_some(),
        ApiShape::Ollama => {
            docs.last().and_then(|d| d.get("done")) == Some(&serde_json::Value::Bool(true))
        }
        ApiShape::Mcp => docs.last().and_then(|d| d.get("result")).is_some(),
    };
    assert!(
        ok,
        "{}: the stream does not end as the API ends a stream\n{context}",
        api.name()
    );
}

/// The built-in policy: credentials masked in streamed answers, e-mail addresses flagged
/// (they arrive unchanged, like every other character around the masks).
async fn capture_masked(mode: Mode, api: ApiShape) {
    let stack = shared_stack(mode).await;
    let masked = api.masked_by_default_in_stream();
    check_capture(&stack, api, &masked).await;
}

/// A policy that masks e-mail addresses in streams too (`response.email_in_streams: mask`):
/// every planted value of every capture is masked, split across events as it is.
async fn every_capture_masked_with_email_in_streams(mode: Mode) {
    let stack = own_stack(
        mode,
        StackOptions {
            policy_json: Some(
                r#"{"version": 1, "response": {"credential": "mask", "pii": "mask", "injection": "flag", "email_in_streams": "mask"}}"#
                    .to_owned(),
            ),
            ..StackOptions::default()
        },
    )
    .await;
    for api in ApiShape::ALL {
        check_capture(&stack, api, api.planted_in_capture()).await;
    }
}

/// Streams `api`'s capture in every delivery and checks `planted` are masked and every other
/// character of every text field arrived unchanged.
async fn check_capture(stack: &Stack, api: ApiShape, planted: &[Planted]) {
    let framing = api.stream_framing();
    let capture_docs = inspect::json_documents(framing, api.capture(), false).unwrap_or_default();
    let capture_texts = inspect::strings_by_path(&capture_docs);
    for delivery in deliveries() {
        let how = format!("{} {:?}", api.name(), delivery.chunking);
        let script = stack.mock().register(delivery);
        let req = api_request(api, &benign_prompt(api), true).headers([script.header()]);
        let resp = send(stack, &req).await;
        assert_request_streams(stack, &how, api, &req, &script);
        assert_eq!(resp.status, 200, "{how}\n{}", stack.context());
        assert_eq!(resp.end, BodyEnd::Complete, "{how}\n{}", stack.context());
        let body = resp.body();
        assert_no_planted(stack, &how, framing, &body, planted);
        let docs = documents(stack, &how, framing, &resp, planted);
        assert_finished(api, &body, &docs, &stack.context());
        let texts = inspect::strings_by_path(&docs);
        for path in text_paths(api, &capture_texts, planted) {
            let original = capture_texts.get(&path).map(String::as_str).unwrap_or("");
            let received = texts.get(&path).map(String::as_str).unwrap_or("");
            if let Err(e) = inspect::check_masked_text(original, planted, received) {
                panic!("{how}, JSON path {path}: {e}\n{}", stack.context());
            }
        }
        assert!(
            inspect::contains(&body, b"[REDACTED"),
            "{how}: no mask in the answer\n{}",
            stack.context()
        );
    }
}

async fn clean_byte_exact(mode: Mode, api: ApiShape) {
    let stack = shared_stack(mode).await;
    let expected = api::render_stream(
        api,
        &api::CLEAN_DELTAS
            .iter()
            .map(|d| (*d).to_owned())
            .collect::<Vec<_>>(),
    );
    for chunking in [Chunking::Events, Chunking::Random(7), Chunking::Bytes] {
        let script = stack
            .mock()
            .register(Script::deltas(api::CLEAN_DELTAS).chunking(chunking));
        let req = api_request(api, &benign_prompt(api), true).headers([script.header()]);
        let resp = send(&stack, &req).await;
        assert_request_streams(
            &stack,
            &format!("{} {chunking:?}", api.name()),
            api,
            &req,
            &script,
        );
        assert_eq!(
            resp.status,
            200,
            "{} {chunking:?}\n{}",
            api.name(),
            stack.context()
        );
        assert_eq!(resp.end, BodyEnd::Complete, "{} {chunking:?}", api.name());
        let body = resp.body();
        if body != expected {
            let at = body
                .iter()
                .zip(expected.iter())
                .position(|(a, b)| a != b)
                .unwrap_or(body.len().min(expected.len()));
            panic!(
                "{} {chunking:?}: clean stream changed (first difference at byte {at}; got {} bytes, sent {})\ngot:  {:?}\nsent: {:?}\n{}",
                api.name(),
                body.len(),
                expected.len(),
                String::from_utf8_lossy(&body),
                String::from_utf8_lossy(&expected),
                stack.context()
            );
        }
    }
}

/// Non-streamed answers (one JSON document) with the capture's text are masked too.
async fn whole_answers_masked(mode: Mode) {
    let stack = shared_stack(mode).await;
    let planted = [api::AWS_ACCESS_KEY_ID, api::EMAIL];
    for api in ApiShape::ALL {
        if api == ApiShape::Mcp {
            continue; // Covered by mcp_json_result_masked with its own planted value.
        }
        let resp = send(&stack, &api_request(api, &benign_prompt(api), false)).await;
        assert_eq!(resp.status, 200, "{}\n{}", api.name(), stack.context());
        let body = resp.body();
        assert_no_planted(&stack, api.name(), api::Framing::Json, &body, &planted);
        let docs = documents(&stack, api.name(), api::Framing::Json, &resp, &planted);
        let texts = inspect::strings_by_path(&docs);
        let text = texts
            .iter()
            .find(|(_, t)| t.starts_with("Your key is"))
            .map(|(_, t)| t.as_str())
            .unwrap_or("");
        if let Err(e) = inspect::check_masked_text(api::CAPTURED_ANSWER, &planted, text) {
            panic!("{}: {e}\n{}", api.name(), stack.context());
        }
    }
}

async fn mcp_json_result_masked(mode: Mode) {
    let stack = shared_stack(mode).await;
    let resp = send(&stack, &api_request(ApiShape::Mcp, "lookup", false)).await;
    assert_eq!(resp.status, 200, "{}", stack.context());
    let planted = [api::SLACK_TOKEN];
    assert_no_planted(
        &stack,
        "mcp json",
        api::Framing::Json,
        &resp.body(),
        &planted,
    );
    let docs = documents(&stack, "mcp json", api::Framing::Json, &resp, &planted);
    let original = inspect::sse_events(api::captures::MCP_TOOLS_CALL_RESULT)
        .events
        .last()
        .and_then(|e| serde_json::from_str::<serde_json::Value>(&e.data).ok())
        .and_then(|v| {
            v.pointer("/result/content/0/text")
                .and_then(|t| t.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let received = docs
        .first()
        .and_then(|d| d.pointer("/result/content/0/text"))
        .and_then(|t| t.as_str())
        .unwrap_or("");
    if let Err(e) = inspect::check_masked_text(&original, &planted, received) {
        panic!("mcp json: {e}\n{}", stack.context());
    }
}

async fn openai_chat_capture_masked(mode: Mode) {
    capture_masked(mode, ApiShape::OpenAiChat).await;
}
async fn openai_responses_capture_masked(mode: Mode) {
    capture_masked(mode, ApiShape::OpenAiResponses).await;
}
async fn anthropic_capture_masked(mode: Mode) {
    capture_masked(mode, ApiShape::Anthropic).await;
}
async fn gemini_capture_masked(mode: Mode) {
    capture_masked(mode, ApiShape::Gemini).await;
}
async fn ollama_capture_masked(mode: Mode) {
    capture_masked(mode, ApiShape::Ollama).await;
}
async fn mcp_sse_result_masked(mode: Mode) {
    capture_masked(mode, ApiShape::Mcp).await;
}
async fn openai_chat_clean_byte_exact(mode: Mode) {
    clean_byte_exact(mode, ApiShape::OpenAiChat).await;
}
async fn openai_responses_clean_byte_exact(mode: Mode) {
    clean_byte_exact(mode, ApiShape::OpenAiResponses).await;
}
async fn anthropic_clean_byte_exact(mode: Mode) {
    clean_byte_exact(mode, ApiShape::Anthropic).await;
}
async fn gemini_clean_byte_exact(mode: Mode) {
    clean_byte_exact(mode, ApiShape::Gemini).await;
}
async fn ollama_clean_byte_exact(mode: Mode) {
    clean_byte_exact(mode, ApiShape::Ollama).await;
}
async fn mcp_clean_byte_exact(mode: Mode) {
    clean_byte_exact(mode, ApiShape::Mcp).await;
}

sluice_e2e::scenarios! {
    modes: [ext_proc => ExtProc, ext_proc_unix => ExtProcUnix, wasm => Wasm],
    tests: [
        openai_chat_capture_masked,
        openai_responses_capture_masked,
        anthropic_capture_masked,
        gemini_capture_masked,
        ollama_capture_masked,
        mcp_sse_result_masked,
        openai_chat_clean_byte_exact,
        openai_responses_clean_byte_exact,
        anthropic_clean_byte_exact,
        gemini_clean_byte_exact,
        ollama_clean_byte_exact,
        mcp_clean_byte_exact,
        whole_answers_masked,
        mcp_json_result_masked,
        every_capture_masked_with_email_in_streams,
    ]
}
