//! A policy's own detectors (`detectors.custom`) through Envoy, in both modes: masked in the
//! prompt before the upstream, masked in a streamed answer however it is cut, and read by a
//! rule that blocks on a custom category.

use sluice_e2e::api::{ApiShape, Framing};
use sluice_e2e::client::Request;
use sluice_e2e::harness::{Mode, Stack, StackOptions};
use sluice_e2e::inspect;
use sluice_e2e::scenario::{own_stack, received_once, send};
use sluice_e2e::upstream::{Chunking, Script};

const POLICY: &str = r#"{
  "version": 2,
  "policy_id": "custom-detectors-e2e",
  "detectors": {"custom": [
    {"id": "project-code", "category": "confidential", "pattern": "\\bPRJ-[0-9]{5}\\b"},
    {"id": "internal-host", "category": "confidential",
     "pattern": "\\b[a-z0-9-]+\\.corp\\.example\\.net\\b", "keywords": ["corp.example.net"]},
    {"id": "customer-id", "category": "pii", "pattern": "customer[ _-]?id[ =:]+(C[0-9]{8})\\b",
     "keywords": ["customer"]}
  ]},
  "rules": [
    {"id": "confidential-stays-inside",
     "when": "model == \"external-model\" && findings.exists(f, f.category == \"confidential\")",
     "action": "block"}
  ]
}"#;

async fn stack(mode: Mode) -> Stack {
    own_stack(
        mode,
        StackOptions {
            policy_json: Some(POLICY.to_owned()),
            ..StackOptions::default()
        },
    )
    .await
}

fn chat_body(model: &str, prompt: &str, stream: bool) -> Vec<u8> {
    serde_json::json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": prompt}]
    })
    .to_string()
    .into_bytes()
}

fn chat(model: &str, prompt: &str, stream: bool) -> Request {
    Request::post("/v1/chat/completions", chat_body(model, prompt, stream))
        .header("content-type", "application/json")
}

async fn custom_values_are_masked_both_ways(mode: Mode) {
    let stack = stack(mode).await;

    // The prompt: only the custom values change; the rest arrives byte for byte.
    let script = stack.mock().register(Script::deltas(&["fine"]));
    let prompt = "Is PRJ-12345 deployed on build7.corp.example.net for customer id: C12345678? PRJ-1234 is not a code.";
    let req = chat("internal-model", prompt, false).headers([script.header()]);
    let resp = send(&stack, &req).await;
    assert_eq!(resp.status, 200, "{}", stack.context());
    let received = received_once(&stack, "masked prompt", &script);
    let expected = chat_body(
        "internal-model",
        "Is [REDACTED:project-code] deployed on [REDACTED:internal-host] for customer id: [REDACTED:customer-id]? PRJ-1234 is not a code.",
        false,
    );
    assert_eq!(
        String::from_utf8_lossy(&received.body),
        String::from_utf8_lossy(&expected),
        "{}",
        stack.context()
    );
    let decision = resp.header("x-sluice-decision").unwrap_or_default();
    assert!(decision.contains("confidential=2"), "{decision}");

    // The answer, cut into sub-word deltas and then delivered byte by byte.
    let deltas = [
        "Ticket PR",
        "J-123",
        "45 runs on build",
        "7.corp.exam",
        "ple.net, customer",
        " id: C1234",
        "5678.",
    ];
    let want = "Ticket [REDACTED:project-code] runs on [REDACTED:internal-host], customer id: [REDACTED:customer-id].";
    for chunking in [Chunking::Events, Chunking::Bytes] {
        let script = stack.mock().register(Script {
            chunking,
            ..Script::deltas(&deltas)
        });
        let req = chat("internal-model", "status?", true).headers([script.header()]);
        let resp = send(&stack, &req).await;
        assert_eq!(resp.status, 200, "{chunking:?}\n{}", stack.context());
        let body = resp.body();
        let docs = inspect::json_documents(Framing::Sse, &body, false)
            .unwrap_or_else(|e| panic!("{chunking:?}: not valid SSE: {e:?}\n{}", stack.context()));
        let text = inspect::primary_text(ApiShape::OpenAiChat, &docs);
        assert_eq!(text, want, "{chunking:?}\n{}", stack.context());
        assert!(!inspect::contains(&body, b"PRJ-12345"));
        assert!(!inspect::contains(&body, b"C12345678"));
    }
}

async fn a_rule_blocks_on_a_custom_category(mode: Mode) {
    let stack = stack(mode).await;
    let script = stack.mock().register(Script::deltas(&["never"]));
    let req =
        chat("external-model", "Summarise PRJ-12345 for me", false).headers([script.header()]);
    let resp = send(&stack, &req).await;
    assert_eq!(resp.status, 403, "{}", stack.context());
    let v: serde_json::Value = serde_json::from_slice(&resp.body()).expect("OpenAI error JSON");
    assert!(v["error"]["message"].is_string(), "{v}");
    assert!(
        stack.mock().requests_for(&script).is_empty(),
        "a blocked request reached the upstream"
    );
    let decision = resp.header("x-sluice-decision").unwrap_or_default();
    assert!(decision.contains("confidential-stays-inside"), "{decision}");

    // The same model without a confidential value is served, untouched.
    let script = stack.mock().register(Script::deltas(&["ok"]));
    let req = chat("external-model", "Summarise the weather", false).headers([script.header()]);
    let resp = send(&stack, &req).await;
    assert_eq!(resp.status, 200, "{}", stack.context());
    let received = received_once(&stack, "clean prompt", &script);
    assert_eq!(received.body, req.body);
}

sluice_e2e::scenarios! {
    modes: [ext_proc => ExtProc, wasm => Wasm],
    tests: [
        custom_values_are_masked_both_ways,
        a_rule_blocks_on_a_custom_category,
    ]
}
