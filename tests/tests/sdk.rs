//! The official Python SDKs (`openai` Chat and Responses, `anthropic`, `google-genai`, `ollama`)
//! stream through Envoy + Sluice: what they send reaches the upstream intact (a masked e-mail
//! aside) and still asks for a stream, they parse the masked answer, and a refused request
//! raises their normal API error.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use sluice_e2e::api::{self, ApiShape, Planted};
use sluice_e2e::harness::{Mode, Stack, StackOptions, run_python};
use sluice_e2e::inspect;
use sluice_e2e::scenario::{asks_for_stream, own_stack, received_once};
use sluice_e2e::upstream::Script;

/// Masks credentials and PII in answers (the default) and refuses requests carrying a
/// credential, so the SDKs meet both outcomes.
const BLOCKING_POLICY: &str = r#"{
  "version": 1,
  "request": {"credential": "block", "pii": "mask", "injection": "flag"},
  "response": {"credential": "mask", "pii": "mask", "injection": "flag"}
}"#;

fn client_script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk/sdk_client.py")
}

fn sdk_run(sdk: &str, base_url: &str, mode: &str, prompt: &str, headers: Value) -> Value {
    let input = json!({"sdk": sdk, "base_url": base_url, "mode": mode, "prompt": prompt, "headers": headers});
    let planted = all_planted();
    match run_python(
        &client_script(),
        &input.to_string(),
        Duration::from_secs(60),
    ) {
        Ok(out) => serde_json::from_str(out.trim()).unwrap_or_else(|_| {
            panic!(
                "{sdk}: unreadable output {:?}",
                inspect::scrub(&out, &planted)
            )
        }),
        Err(e) => panic!("{sdk} {mode}: {}", inspect::scrub(&e, &planted)),
    }
}

/// The prompt the SDKs send: an e-mail address (masked on the way by the policy's
/// `request.pii: mask`) in text that must arrive unchanged around it.
fn sdk_prompt() -> String {
    format!(
        "Please draft a short note to {} about the river walk on Sunday; keep it friendly.",
        api::EMAIL.value
    )
}

/// The request body the upstream received holds the SDK's prompt, every character intact
/// except the e-mail address, which is masked.
fn assert_prompt_masked(stack: &Stack, sdk: &str, body: &[u8]) {
    let prompt = sdk_prompt();
    let doc: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!(
            "{sdk}: the upstream request is not JSON ({e})\n{}",
            stack.context()
        )
    });
    let texts = inspect::strings_by_path(std::slice::from_ref(&doc));
    let head = prompt.split(api::EMAIL.value).next().unwrap_or_default();
    let Some(text) = texts.values().find(|t| t.starts_with(head)) else {
        panic!(
            "{sdk}: the prompt is not in the upstream request: {}\n{}",
            inspect::scrub(&String::from_utf8_lossy(body), &all_planted()),
            stack.context()
        );
    };
    if let Err(e) = inspect::check_masked_text(&prompt, &[api::EMAIL], text) {
        panic!("{sdk}: upstream request: {e}\n{}", stack.context());
    }
}

fn all_planted() -> Vec<Planted> {
    vec![
        api::AWS_ACCESS_KEY_ID,
        api::EMAIL,
        api::AWS_SECRET_KEY,
        api::GITHUB_TOKEN,
        api::PROMPT_AWS_KEY_ID,
        api::PROMPT_AWS_SECRET,
    ]
}

async fn sdks_parse_masked_streams_and_raise_on_refusal(mode: Mode) {
    let options = StackOptions {
        policy_json: Some(BLOCKING_POLICY.to_owned()),
        ..StackOptions::default()
    };
    let stack = own_stack(mode, options).await;
    let base = format!("http://{}", stack.addr());
    let planted = all_planted();
    for (sdk, api) in [
        ("openai-chat", ApiShape::OpenAiChat),
        ("openai-responses", ApiShape::OpenAiResponses),
        ("anthropic", ApiShape::Anthropic),
        ("gemini", ApiShape::Gemini),
        ("ollama", ApiShape::Ollama),
    ] {
        let script = stack.mock().register(Script::default());
        let (name, id) = script.header();
        let out = sdk_run(sdk, &base, "stream", &sdk_prompt(), json!({ name: id }));
        let received = received_once(&stack, sdk, &script);
        assert!(
            asks_for_stream(api, &received),
            "{sdk}: the upstream was not asked for a stream\n{}",
            stack.context()
        );
        assert_prompt_masked(&stack, sdk, &received.body);
        let shown = inspect::scrub(&out.to_string(), &planted);
        println!("{sdk} through {mode:?}: {shown}");
        let text = out.get("text").and_then(Value::as_str).unwrap_or("");
        let tool = out.get("tool").and_then(Value::as_str).unwrap_or("");
        for p in api.planted_in_capture() {
            assert!(
                !text.contains(p.value) && !tool.contains(p.value),
                "{sdk}: the application received a planted {}\n{}",
                p.kind,
                stack.context()
            );
        }
        assert!(
            text.contains("[REDACTED"),
            "{sdk}: no mask in {shown}\n{}",
            stack.context()
        );
        if let Err(e) = inspect::check_masked_text(
            api::CAPTURED_ANSWER,
            &[api::AWS_ACCESS_KEY_ID, api::EMAIL],
            text,
        ) {
            panic!("{sdk}: {e}\n{}", stack.context());
        }

        let refused = stack.mock().register(Script::default());
        let (name, id) = refused.header();
        let prompt = format!(
            "aws_access_key_id = {}\naws_secret_access_key = {}",
            api::PROMPT_AWS_KEY_ID.value,
            api::PROMPT_AWS_SECRET.value
        );
        let out = sdk_run(sdk, &base, "blocked", &prompt, json!({ name: id }));
        let status = out.get("status").and_then(Value::as_u64).unwrap_or(0);
        assert!(
            out.get("error").and_then(Value::as_str).is_some() && (400..500).contains(&status),
            "{sdk}: a request with a credential did not raise the SDK's API error: {}\n{}",
            inspect::scrub(&out.to_string(), &planted),
            stack.context()
        );
        assert!(
            stack.mock().requests_for(&refused).is_empty(),
            "{sdk}: the refused request reached the upstream\n{}",
            stack.context()
        );
    }
}

sluice_e2e::scenarios! {
    modes: [ext_proc => ExtProc, wasm => Wasm],
    tests: [sdks_parse_masked_streams_and_raise_on_refusal]
}
