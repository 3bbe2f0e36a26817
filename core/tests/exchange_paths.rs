//! Request-side decisions and fail-closed response paths of one exchange.

use std::io::Write;

use sluice_core::{Action, BodyOutcome, Engine, ExchangeContext, HeadersOutcome, Policy};

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn aws_key() -> String {
    ["AKIA", "IX6EA6QOM66ZJOJY"].concat()
}

fn request(engine: &Engine, path: &str, body: &[u8]) -> BodyOutcome {
    let mut ex = engine.exchange(ExchangeContext::default());
    match ex.request_headers(&h(&[(":path", path), (":method", "POST")])) {
        HeadersOutcome::Continue(m) => {
            assert!(
                m.set
                    .contains(&("accept-encoding".into(), "identity".into()))
            );
        }
        HeadersOutcome::Reply(r) => panic!("refused at headers: {}", r.reason),
    }
    ex.request_body(body, true)
}

#[test]
fn credential_in_prompt_is_masked_before_upstream() {
    let engine = Engine::new(Policy::default()).unwrap();
    let body = format!(
        r#"{{"model":"m","messages":[{{"role":"user","content":"my key is {} thanks"}}]}}"#,
        aws_key()
    );
    let BodyOutcome::Replace(new) = request(&engine, "/v1/chat/completions", body.as_bytes())
    else {
        panic!("expected a rewritten body");
    };
    let text = String::from_utf8(new).unwrap();
    assert!(!text.contains(&aws_key()));
    assert!(text.contains("[REDACTED:aws-access-key-id]"));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["model"], "m");
}

#[test]
fn clean_request_is_forwarded_unchanged() {
    let engine = Engine::new(Policy::default()).unwrap();
    let body =
        br#"{"model":"m","messages":[{"role":"user","content":"What is the capital of France?"}]}"#;
    assert_eq!(
        request(&engine, "/v1/chat/completions", body),
        BodyOutcome::Unchanged
    );
}

#[test]
fn mcp_tool_call_arguments_are_masked() {
    let engine = Engine::new(Policy::default()).unwrap();
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read(here.join("../tests/corpus/streams/mcp-tools-call-request.json"))
        .or_else(|_| {
            std::fs::read(here.join("../../shared/corpus/streams/mcp-tools-call-request.json"))
        })
        .unwrap();
    let BodyOutcome::Replace(new) = request(&engine, "/mcp", &body) else {
        panic!("expected a rewritten body");
    };
    let text = String::from_utf8(new).unwrap();
    assert!(text.contains("[REDACTED:aws-access-key-id]"));
    assert!(text.contains("[REDACTED:aws-secret-access-key]"));
}

#[test]
fn block_policy_answers_in_the_provider_shape() {
    let mut policy = Policy::default();
    policy.request.credential = Action::Block;
    let engine = Engine::new(policy).unwrap();
    let body = format!(
        r#"{{"model":"m","max_tokens":5,"messages":[{{"role":"user","content":"key {}"}}]}}"#,
        aws_key()
    );
    let BodyOutcome::Reply(r) = request(&engine, "/v1/messages", body.as_bytes()) else {
        panic!("expected a local reply");
    };
    assert_eq!(r.status, 403);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["type"], "error", "Anthropic error shape");
    assert!(!String::from_utf8_lossy(&r.body).contains(&aws_key()));
    let body = format!(
        r#"{{"model":"m","messages":[{{"role":"user","content":"key {}"}}]}}"#,
        aws_key()
    );
    let BodyOutcome::Reply(r) = request(&engine, "/v1/chat/completions", body.as_bytes()) else {
        panic!("expected a local reply");
    };
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(v["error"]["message"].is_string(), "OpenAI error shape");
}

#[test]
fn malformed_or_oversized_requests_fail_closed() {
    let mut policy = Policy::default();
    policy.limits.request_body_bytes = 1024;
    let engine = Engine::new(policy).unwrap();
    match request(&engine, "/v1/chat/completions", b"{\"messages\": [") {
        BodyOutcome::Reply(r) => assert_eq!(r.status, 400),
        other => panic!("malformed JSON was not refused: {other:?}"),
    }
    match request(&engine, "/v1/chat/completions", &[0xff, 0xfe, b'{']) {
        BodyOutcome::Reply(r) => assert_eq!(r.status, 400),
        other => panic!("invalid UTF-8 was not refused: {other:?}"),
    }
    let big = format!(
        r#"{{"messages":[{{"role":"user","content":"{}"}}]}}"#,
        "a".repeat(2000)
    );
    match request(&engine, "/v1/chat/completions", big.as_bytes()) {
        BodyOutcome::Reply(r) => assert_eq!(r.status, 413),
        other => panic!("oversized body was not refused: {other:?}"),
    }
}

#[test]
fn compressed_request_bodies_are_refused() {
    let engine = Engine::new(Policy::default()).unwrap();
    let mut ex = engine.exchange(ExchangeContext::default());
    let out = ex.request_headers(&h(&[
        (":path", "/v1/chat/completions"),
        ("content-encoding", "gzip"),
    ]));
    let HeadersOutcome::Reply(r) = out else {
        panic!("gzip request body accepted")
    };
    assert_eq!(r.status, 415);
}

fn response_exchange(
    engine: &Engine,
    extra: &[(&str, &str)],
) -> (sluice_core::Exchange, HeadersOutcome) {
    let mut ex = engine.exchange(ExchangeContext::default());
    ex.request_headers(&h(&[(":path", "/v1/chat/completions")]));
    let mut headers = h(&[(":status", "200"), ("content-type", "text/event-stream")]);
    headers.extend(h(extra));
    let outcome = ex.response_headers(&headers);
    (ex, outcome)
}

#[test]
fn gzip_answers_are_decoded_and_masked() {
    let engine = Engine::new(Policy::default()).unwrap();
    let (mut ex, outcome) = response_exchange(&engine, &[("content-encoding", "gzip")]);
    let HeadersOutcome::Continue(m) = outcome else {
        panic!("gzip refused")
    };
    assert!(m.remove.contains(&"content-encoding".to_string()));
    let plain = format!(
        "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"key {} ok\"}}}}]}}\n\ndata: [DONE]\n\n",
        aws_key()
    );
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(plain.as_bytes()).unwrap();
    let z = enc.finish().unwrap();
    let mut out = Vec::new();
    for (i, piece) in z.chunks(7).enumerate() {
        let eos = (i + 1) * 7 >= z.len();
        match ex.response_body(piece, eos) {
            BodyOutcome::Replace(b) => out.extend_from_slice(&b),
            other => panic!("a compressed chunk passed unread: {other:?}"),
        }
    }
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains(&aws_key()));
    assert!(text.contains("[REDACTED:aws-access-key-id]"));
    assert!(text.ends_with("data: [DONE]\n\n"));
}

#[test]
fn unknown_content_encoding_is_refused_before_the_body() {
    let engine = Engine::new(Policy::default()).unwrap();
    let (_, outcome) = response_exchange(&engine, &[("content-encoding", "compress")]);
    let HeadersOutcome::Reply(r) = outcome else {
        panic!("unreadable encoding accepted")
    };
    assert_eq!(r.status, 502);
}

#[test]
fn corrupt_stream_stops_with_an_error_event_and_drops_the_rest() {
    let engine = Engine::new(Policy::default()).unwrap();
    let (mut ex, _) = response_exchange(&engine, &[]);
    let good = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hello \"}}]}\n\n";
    assert_eq!(ex.response_body(good, false), BodyOutcome::Unchanged);
    let BodyOutcome::Replace(b) = ex.response_body(
        b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"AKIA\n\n",
        false,
    ) else {
        panic!("corrupt event passed");
    };
    let text = String::from_utf8(b).unwrap();
    assert!(text.contains("error"), "no error event: {text}");
    let after = format!(
        "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{}\"}}}}]}}\n\n",
        aws_key()
    );
    assert_eq!(
        ex.response_body(after.as_bytes(), true),
        BodyOutcome::Replace(Vec::new())
    );
    let record = ex.finish();
    assert_eq!(record.decision, sluice_core::Decision::Block);
    assert!(!record.errors.is_empty());
}

#[test]
fn block_in_response_ends_the_stream_in_the_provider_shape() {
    let mut policy = Policy::default();
    policy.response.credential = Action::Block;
    let engine = Engine::new(policy).unwrap();
    let (mut ex, _) = response_exchange(&engine, &[]);
    let ev = format!(
        "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"key {} \"}}}}]}}\n\n",
        aws_key()
    );
    let mut out = Vec::new();
    for (chunk, eos) in [
        (ev.as_bytes(), false),
        (
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"more.\"}}]}\n\n".as_slice(),
            false,
        ),
    ] {
        match ex.response_body(chunk, eos) {
            BodyOutcome::Replace(b) => out.extend_from_slice(&b),
            BodyOutcome::Unchanged => out.extend_from_slice(chunk),
            BodyOutcome::Reply(_) => panic!("reply mid-stream"),
        }
    }
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains(&aws_key()));
    assert!(text.contains("\"error\""), "no error event: {text}");
    // Nothing leaves after the stop.
    assert_eq!(
        ex.response_body(b"data: [DONE]\n\n", true),
        BodyOutcome::Replace(Vec::new())
    );
    assert_eq!(ex.finish().decision, sluice_core::Decision::Block);
}

#[test]
fn audit_record_counts_without_values() {
    let engine = Engine::new(Policy::default()).unwrap();
    let mut ex = engine.exchange(ExchangeContext {
        request_id: Some("r1".into()),
        ..Default::default()
    });
    ex.request_headers(&h(&[(":path", "/v1/chat/completions")]));
    let body = format!(
        r#"{{"messages":[{{"role":"user","content":"key {}"}}]}}"#,
        aws_key()
    );
    let _ = ex.request_body(body.as_bytes(), true);
    let HeadersOutcome::Continue(m) = ex.response_headers(&h(&[
        (":status", "200"),
        ("content-type", "application/json"),
    ])) else {
        panic!()
    };
    let decision = m
        .set
        .iter()
        .find(|(k, _)| k == "x-sluice-decision")
        .unwrap();
    assert_eq!(decision.1, "mask; credential=1; pii=0; injection=0");
    let _ = ex.response_body(
        br#"{"choices":[{"index":0,"message":{"role":"assistant","content":"ok"}}]}"#,
        true,
    );
    let record = ex.finish();
    let json = serde_json::to_string(&record).unwrap();
    assert!(!json.contains(&aws_key()));
    assert!(json.contains("aws-access-key-id"));
    assert!(!record.incomplete);
    assert_eq!(record.decision, sluice_core::Decision::Mask);
}
