//! The audit record of a real exchange: model, host, policy hash, fingerprints, and never the
//! matched value; sealed into a line that verifies.

use sluice_core::audit::{ChainState, FingerprintKey, Sealer, SigningKey, Timings, Verifier};
use sluice_core::{BodyOutcome, Engine, ExchangeContext, HeadersOutcome, Policy};

const SECRET: &str = "AKIAIX6EA6QOM66ZJOJY";

fn run(engine: &Engine, body: &str) -> sluice_core::AuditRecord {
    let mut ex = engine.exchange(ExchangeContext {
        identity: Some("spiffe://cluster/ns/app".into()),
        identity_source: Some("xfcc".into()),
        ..Default::default()
    });
    let headers = vec![
        (":path".to_string(), "/v1/chat/completions".to_string()),
        (":authority".to_string(), "llm.internal".to_string()),
        ("x-request-id".to_string(), "rid-7".to_string()),
    ];
    assert!(matches!(
        ex.request_headers(&headers),
        HeadersOutcome::Continue(_)
    ));
    assert!(matches!(
        ex.request_body(body.as_bytes(), true),
        BodyOutcome::Replace(_)
    ));
    ex.finish()
}

#[test]
fn record_names_model_host_policy_and_fingerprints_without_the_value() {
    let doc = br#"{"version":1,"policy_id":"team-a"}"#;
    let policy = Policy::from_json(std::str::from_utf8(doc).unwrap()).unwrap();
    let key = FingerprintKey::new(b"deployment-key-0123456789").unwrap();
    let engine = Engine::new(policy)
        .unwrap()
        .with_policy_document(doc)
        .with_fingerprint_key(key);
    let body = format!(
        r#"{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"key {SECRET} and again {SECRET}"}}]}}"#
    );
    let a = run(&engine, &body);
    let b = run(&engine, &body);
    assert_eq!(a.model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(a.host.as_deref(), Some("llm.internal"));
    assert_eq!(a.policy_id.as_deref(), Some("team-a"));
    assert_eq!(
        a.policy_sha256.as_deref(),
        Some(sluice_core::audit::sha256_hex(doc).as_str())
    );
    let f = &a.findings[0];
    assert_eq!(f.count, 2);
    assert_eq!(f.roles, vec!["user"]);
    // Two occurrences of one value: one fingerprint, the same in the next exchange.
    assert_eq!(f.fingerprints.len(), 1);
    assert_eq!(f.fingerprints, b.findings[0].fingerprints);

    let signing = SigningKey::from_seed([3; 32]);
    let mut sealer = Sealer::new(ChainState::new("test"), signing.clone());
    let timings = Timings {
        ttfb_us: Some(1200),
        total_us: Some(3400),
        processing_us: Some(56),
    };
    let mut trail = sealer.seal(&a, 1_796_154_155_000_001, timings);
    trail.extend(sealer.seal(&b, 1_796_154_155_000_002, timings));
    let text = String::from_utf8(trail.clone()).unwrap();
    assert!(!text.contains(SECRET), "{text}");
    assert!(!text.contains("IX6EA6QOM66"), "{text}");
    let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(v["model"], "gpt-4o-mini");
    assert_eq!(v["identity"]["principal"], "spiffe://cluster/ns/app");
    assert_eq!(v["policy"]["id"], "team-a");
    assert_eq!(v["timings"]["ttfb_us"], 1200);
    assert_eq!(v["time"], "2026-12-01T19:42:35.000001Z");
    let mut verifier = Verifier::new(vec![signing.verifying_key()]);
    verifier.add_file("t", &trail);
    assert!(verifier.finish().intact());
}

#[test]
fn without_a_key_there_are_no_fingerprints_and_gemini_model_comes_from_the_path() {
    let engine = Engine::new(Policy::default()).unwrap();
    let body = format!(r#"{{"model":"m","messages":[{{"role":"user","content":"{SECRET}"}}]}}"#);
    let r = run(&engine, &body);
    assert!(r.findings[0].fingerprints.is_empty());
    assert!(r.policy_id.is_none());
    assert!(r.policy_sha256.is_some());

    let mut ex = engine.exchange(ExchangeContext::default());
    let headers = vec![(
        ":path".to_string(),
        "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse".to_string(),
    )];
    ex.request_headers(&headers);
    assert_eq!(ex.finish().model.as_deref(), Some("gemini-2.0-flash"));
}
