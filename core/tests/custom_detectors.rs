//! `detectors.custom`: a policy's own detectors go through the same scanner, holdback and
//! rules as the built-in catalogue.

use sluice_core::policy::document;
use sluice_core::{BodyOutcome, Engine, ExchangeContext, HeadersOutcome, Policy};

const POLICY: &str = r#"version: 2
policy_id: custom-detectors
detectors:
  custom:
    - id: project-code
      category: confidential
      pattern: '\bPRJ-[0-9]{5}\b'
    - id: customer-id
      category: pii
      pattern: 'customer[ _-]?id[ =:]+(C[0-9]{8})\b'
      keywords: [customer]
    - id: internal-host
      category: confidential
      pattern: '\b[a-z0-9-]+\.corp\.example\.net\b'
      keywords: [corp.example.net]
    - id: account-number
      category: pii
      pattern: '\bACCT-([0-9]{12})\b'
      validator: luhn
    - id: build-tag
      category: internal
      pattern: '\bbld-[a-z0-9]{10}\b'
      action: flag
rules:
  - id: no-confidential-to-other-models
    when: 'model == "external-model" && findings.exists(f, f.category == "confidential")'
    action: block
"#;

fn engine() -> Engine {
    Engine::new(Policy::from_text(POLICY).expect("policy parses")).expect("engine builds")
}

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn chat(model: &str, content: &str) -> String {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": content}]})
        .to_string()
}

/// A valid Luhn number and the same with its check digit changed.
const ACCOUNT_OK: &str = "ACCT-424242424242";
const ACCOUNT_BAD: &str = "ACCT-424242424243";

#[test]
fn custom_findings_are_masked_in_a_request_and_the_rest_is_intact() {
    let engine = engine();
    let prompt = format!(
        "see PRJ-12345 on build7.corp.example.net for customer id: C12345678, \
         pay {ACCOUNT_OK} not {ACCOUNT_BAD}, tag bld-a1b2c3d4e5 and PRJ-1234 stays"
    );
    let mut ex = engine.exchange(ExchangeContext::default());
    let req = h(&[(":path", "/v1/chat/completions"), (":method", "POST")]);
    assert!(matches!(
        ex.request_headers(&req),
        HeadersOutcome::Continue(_)
    ));
    let body = chat("internal-model", &prompt);
    let BodyOutcome::Replace(out) = ex.request_body(body.as_bytes(), true) else {
        panic!("expected a masked body");
    };
    let v: serde_json::Value = serde_json::from_slice(&out).expect("still JSON");
    let expected = format!(
        "see [REDACTED:project-code] on [REDACTED:internal-host] for customer id: \
         [REDACTED:customer-id], pay ACCT-[REDACTED:account-number] not {ACCOUNT_BAD}, \
         tag bld-a1b2c3d4e5 and PRJ-1234 stays"
    );
    assert_eq!(v["messages"][0]["content"], expected.as_str());
    assert_eq!(v["model"], "internal-model");
    let header = ex.decision_header();
    assert!(header.contains("; pii=2;"), "{header}");
    assert!(header.contains("; confidential=2"), "{header}");
    assert!(header.contains("; internal=1"), "{header}");
    let record = ex.finish();
    let json = serde_json::to_string(&record).unwrap();
    assert!(json.contains(r#""category":"confidential""#), "{json}");
    assert!(!json.contains("PRJ-12345") && !json.contains("C12345678"));
}

#[test]
fn a_rule_reads_a_custom_category() {
    let engine = engine();
    let mut ex = engine.exchange(ExchangeContext::default());
    let req = h(&[(":path", "/v1/chat/completions"), (":method", "POST")]);
    assert!(matches!(
        ex.request_headers(&req),
        HeadersOutcome::Continue(_)
    ));
    let body = chat("external-model", "status of PRJ-12345?");
    let BodyOutcome::Reply(reply) = ex.request_body(body.as_bytes(), true) else {
        panic!("expected the rule to block");
    };
    assert_eq!(reply.status, 403);
    assert!(
        ex.decision_header()
            .contains("no-confidential-to-other-models")
    );
    // Without the custom finding, the same model passes.
    let mut ex = engine.exchange(ExchangeContext::default());
    assert!(matches!(
        ex.request_headers(&req),
        HeadersOutcome::Continue(_)
    ));
    let body = chat("external-model", "status of the project?");
    assert_eq!(
        ex.request_body(body.as_bytes(), true),
        BodyOutcome::Unchanged
    );
}

/// An OpenAI chat stream of `tokens`, run through a fresh exchange one event per chunk; the
/// concatenated content deltas that left.
fn stream_through(engine: &Engine, tokens: &[&str]) -> String {
    let mut ex = engine.exchange(ExchangeContext::default());
    let req = h(&[(":path", "/v1/chat/completions"), (":method", "POST")]);
    assert!(matches!(
        ex.request_headers(&req),
        HeadersOutcome::Continue(_)
    ));
    let clean = chat("internal-model", "hi");
    assert_eq!(
        ex.request_body(clean.as_bytes(), true),
        BodyOutcome::Unchanged
    );
    let resp = h(&[(":status", "200"), ("content-type", "text/event-stream")]);
    assert!(matches!(
        ex.response_headers(&resp),
        HeadersOutcome::Continue(_)
    ));
    let mut events: Vec<String> = tokens
        .iter()
        .map(|t| {
            let chunk = serde_json::json!({"id": "c1", "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": null}]});
            format!("data: {chunk}\n\n")
        })
        .collect();
    events.push("data: [DONE]\n\n".into());
    let mut out = Vec::new();
    let n = events.len();
    for (i, e) in events.iter().enumerate() {
        match ex.response_body(e.as_bytes(), i + 1 == n) {
            BodyOutcome::Unchanged => out.extend_from_slice(e.as_bytes()),
            BodyOutcome::Replace(b) => out.extend_from_slice(&b),
            BodyOutcome::Reply(r) => panic!("unexpected reply {}", r.reason),
        }
    }
    let text = String::from_utf8(out).expect("UTF-8");
    let mut content = String::new();
    for event in text.split("\n\n") {
        let Some(data) = event.strip_prefix("data: ") else {
            continue;
        };
        if data == "[DONE]" {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(data).expect("event data is JSON");
        if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
            content.push_str(c);
        }
    }
    content
}

#[test]
fn a_custom_value_split_anywhere_in_a_stream_is_masked() {
    let engine = engine();
    let text = "Ticket PRJ-12345 runs on build7.corp.example.net today.";
    let expected = "Ticket [REDACTED:project-code] runs on [REDACTED:internal-host] today.";
    // Every pair of cut points: the text arrives in three events.
    let cuts: Vec<usize> = (1..text.len()).collect();
    for &a in &cuts {
        for &b in cuts.iter().filter(|&&b| b > a).step_by(3) {
            let tokens = [&text[..a], &text[a..b], &text[b..]];
            assert_eq!(
                stream_through(&engine, &tokens),
                expected,
                "cut at {a} and {b}"
            );
        }
    }
    // One character per event.
    let chars: Vec<String> = text.chars().map(String::from).collect();
    let tokens: Vec<&str> = chars.iter().map(String::as_str).collect();
    assert_eq!(stream_through(&engine, &tokens), expected);
}

#[test]
fn a_flagged_custom_category_does_not_delay_or_change_text() {
    let engine = engine();
    let tokens = ["tag ", "bld-", "a1b2c3", "d4e5", " done"];
    assert_eq!(stream_through(&engine, &tokens), tokens.concat());
}

#[test]
fn custom_values_hidden_in_base64_are_found() {
    use base64::Engine as _;
    let engine = engine();
    let hidden = base64::engine::general_purpose::STANDARD.encode("project PRJ-12345 is late");
    let mut ex = engine.exchange(ExchangeContext::default());
    let req = h(&[(":path", "/v1/chat/completions"), (":method", "POST")]);
    assert!(matches!(
        ex.request_headers(&req),
        HeadersOutcome::Continue(_)
    ));
    let body = chat("internal-model", &format!("decode {hidden} please"));
    let BodyOutcome::Replace(out) = ex.request_body(body.as_bytes(), true) else {
        panic!("expected a masked body");
    };
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v["messages"][0]["content"],
        "decode [REDACTED:project-code] please"
    );
}

#[test]
fn bad_custom_detectors_are_reported_at_their_line() {
    let bad = "version: 2\ndetectors:\n  custom:\n    - id: ok-one\n      category: pii\n      pattern: 'x[0-9]+'\n    - id: broken\n      category: pii\n      pattern: '(unclosed'\n";
    let e = document::check(bad).expect_err("refused");
    assert_eq!((e.line, e.column), (9, 7), "{e}");
    assert!(e.message.contains("custom[1] (broken).pattern"), "{e}");

    let v1 = "version: 1\ndetectors:\n  custom:\n    - {id: a, category: pii, pattern: 'x+'}\n";
    let e = document::check(v1).expect_err("version 1 refused");
    assert!(e.message.contains("version: 2"), "{e}");

    let dup =
        "version: 2\ndetectors:\n  custom:\n    - {id: email, category: pii, pattern: 'x+'}\n";
    let e = document::check(dup).expect_err("duplicate refused");
    assert_eq!(e.line, 4, "{e}");
    assert!(e.message.contains("already a detector id"), "{e}");
    // The data classes' ids are taken too, whether their switches are on or not.
    for taken in ["source-code-rust", "bulk-pii"] {
        let dup = format!(
            "version: 2\ndetectors:\n  custom:\n    - {{id: {taken}, category: pii, pattern: 'x+'}}\n"
        );
        let e = document::check(&dup).expect_err("data-class id refused");
        assert!(e.message.contains("already a detector id"), "{taken}: {e}");
    }
}
