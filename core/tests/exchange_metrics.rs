//! What the audit record gives adapters for their metrics: text held back by the streaming
//! redaction, and bounded kinds of the record's errors.

use sluice_core::{
    BodyOutcome, Engine, ExchangeContext, HeldBack, Policy, error_kind, metric_label,
};

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// One OpenAI chat stream event carrying `text` as its delta.
fn event(text: &str) -> Vec<u8> {
    let delta = serde_json::json!({"choices": [{"index": 0, "delta": {"content": text}}]});
    format!("data: {delta}\n\n").into_bytes()
}

/// Streams `deltas` as an OpenAI chat answer, one event per chunk, and returns the record.
fn stream(deltas: &[&str]) -> sluice_core::AuditRecord {
    let engine = Engine::new(Policy::default()).unwrap();
    let mut ex = engine.exchange(ExchangeContext::default());
    ex.request_headers(&h(&[
        (":path", "/v1/chat/completions"),
        (":method", "POST"),
    ]));
    let body = br#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    ex.request_body(body, true);
    ex.response_headers(&h(&[
        (":status", "200"),
        ("content-type", "text/event-stream"),
    ]));
    for d in deltas {
        let out = ex.response_body(&event(d), false);
        assert!(!matches!(out, BodyOutcome::Reply(_)));
    }
    ex.response_body(b"data: [DONE]\n\n", true);
    ex.finish()
}

#[test]
fn prose_holds_nothing_back() {
    let record = stream(&["The", " weather", " is", " mild", " today", "."]);
    assert_eq!(record.held_back, HeldBack::default());
}

#[test]
fn a_key_split_across_events_counts_what_waited() {
    // "AK", "IAIX6EA6" and "QOM66ZJOJY" could each still be (or grow into) a key: all wait
    // until " done" shows where the key ends, and the key leaves masked with it.
    let record = stream(&["key ", "AK", "IAIX6EA6", "QOM66ZJOJY", " done"]);
    assert_eq!(
        record.held_back,
        HeldBack {
            tokens: 3,
            bytes: 2 + 8 + 10
        },
        "{record:?}"
    );
    assert_eq!(record.findings[0].rule, "aws-access-key-id");
}

#[test]
fn no_response_means_nothing_held() {
    let engine = Engine::new(Policy::default()).unwrap();
    let mut ex = engine.exchange(ExchangeContext::default());
    assert_eq!(ex.finish().held_back, HeldBack::default());
}

#[test]
fn error_kinds_are_bounded_and_refusals_are_not_errors() {
    assert_eq!(error_kind("request-too-large"), Some("request-too-large"));
    assert_eq!(error_kind("request-unreadable"), Some("request-unreadable"));
    assert_eq!(error_kind("audit-write-failed"), Some("audit-write-failed"));
    assert_eq!(
        error_kind("response: invalid JSON at byte 17"),
        Some("response-uninspectable")
    );
    assert_eq!(
        error_kind("rule team-a: no such key 'tier'"),
        Some("policy-rule-error")
    );
    assert_eq!(error_kind("policy-block"), None);
    assert_eq!(error_kind("policy-rule-block"), None);
    assert_eq!(
        error_kind("anything an adapter wrote, AKIAIX6EA6QOM66ZJOJY"),
        Some("other")
    );
}

#[test]
fn a_response_that_cannot_be_read_records_a_bounded_kind() {
    let engine = Engine::new(Policy::default()).unwrap();
    let mut ex = engine.exchange(ExchangeContext::default());
    ex.request_headers(&h(&[
        (":path", "/v1/chat/completions"),
        (":method", "POST"),
    ]));
    ex.request_body(br#"{"model":"m","messages":[]}"#, true);
    ex.response_headers(&h(&[
        (":status", "200"),
        ("content-type", "application/json"),
    ]));
    ex.response_body(b"{not json", true);
    let record = ex.finish();
    let kinds: Vec<_> = record.errors.iter().filter_map(|e| error_kind(e)).collect();
    assert_eq!(kinds, vec!["response-uninspectable"], "{:?}", record.errors);
}

#[test]
fn metric_labels_keep_plain_ids_and_neutralise_the_rest() {
    assert_eq!(metric_label("aws-access-key-id"), "aws-access-key-id");
    assert_eq!(metric_label("team.a:rule_1"), "team.a:rule_1");
    assert_eq!(metric_label(r#"a"b;c=d e\n"#), "a_b_c_d_e_n");
    assert_eq!(metric_label(""), "_");
    assert_eq!(metric_label("é"), "_");
    assert_eq!(metric_label(&"x".repeat(100)).len(), 64);
}
