//! The `tests:` of a policy document, run through the real engine: the same `Exchange` the
//! adapters drive, with the identity given by the case instead of read from Envoy. A case
//! passing here means the deployed policy decides the same way on the same traffic.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::identity::Identity;
use crate::exchange::{BodyOutcome, Decision, Engine, ExchangeContext, HeadersOutcome};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    pub name: String,
    /// The caller; absent = anonymous.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    #[serde(default)]
    pub request: TestRequest,
    /// An answer to run through the response phase after the request passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<TestResponse>,
    pub expect: Expect,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default = "default_path")]
    pub path: String,
    #[serde(default = "default_host")]
    pub host: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON body (an object is serialised; a string is sent as it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// The `x-request-id` (roll-outs hash it); default: the case name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Default for TestRequest {
    fn default() -> Self {
        TestRequest {
            method: default_method(),
            path: default_path(),
            host: default_host(),
            headers: BTreeMap::new(),
            body: None,
            request_id: None,
        }
    }
}

fn default_method() -> String {
    "POST".to_owned()
}
fn default_path() -> String {
    "/v1/chat/completions".to_owned()
}
fn default_host() -> String {
    "api.openai.com".to_owned()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestResponse {
    #[serde(default = "default_content_type")]
    pub content_type: String,
    /// The body: a string as it is (an SSE stream, say), anything else serialised as JSON.
    pub body: serde_json::Value,
}

fn default_content_type() -> String {
    "application/json".to_owned()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub decision: Decision,
    /// The rule that decided: absent = not checked, `null` = no rule decided.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub rule: Option<Option<String>>,
    /// Rules whose would-be decision is recorded (dry-run or outside their roll-out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<Vec<String>>,
}

/// Tells a key written as `null` from an absent one.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// What one case did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CaseResult {
    pub name: String,
    pub passed: bool,
    pub decision: Decision,
    pub rule: Option<String>,
    pub dry_run: Vec<String>,
    /// Why it failed (what differed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mismatches: Vec<String>,
}

fn body_bytes(v: &serde_json::Value) -> Vec<u8> {
    match v {
        serde_json::Value::String(s) => s.clone().into_bytes(),
        other => serde_json::to_vec(other).unwrap_or_default(),
    }
}

/// Runs one case through a fresh exchange of `engine`.
pub fn run_case(engine: &Engine, case: &TestCase) -> CaseResult {
    let r = &case.request;
    let request_id = r.request_id.clone().unwrap_or_else(|| case.name.clone());
    let mut ex = engine.exchange(ExchangeContext {
        resolved_identity: Some(case.identity.clone().unwrap_or_default()),
        route: Some("policy-test".to_owned()),
        request_id: Some(request_id.clone()),
        ..Default::default()
    });
    let mut headers = vec![
        (":method".to_owned(), r.method.clone()),
        (":path".to_owned(), r.path.clone()),
        (":authority".to_owned(), r.host.clone()),
        ("x-request-id".to_owned(), request_id),
    ];
    headers.extend(
        r.headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone())),
    );
    let body = r.body.as_ref().map(body_bytes).unwrap_or_default();
    let mut refused = matches!(ex.request_headers(&headers), HeadersOutcome::Reply(_));
    if !refused {
        refused = matches!(ex.request_body(&body, true), BodyOutcome::Reply(_));
    }
    if !refused && let Some(resp) = &case.response {
        let headers = vec![
            (":status".to_owned(), "200".to_owned()),
            ("content-type".to_owned(), resp.content_type.clone()),
        ];
        if !matches!(ex.response_headers(&headers), HeadersOutcome::Reply(_)) {
            let _ = ex.response_body(&body_bytes(&resp.body), true);
        }
    }
    let record = ex.finish();
    let dry_run: Vec<String> = record.dry_run.iter().map(|d| d.rule.clone()).collect();
    let mut mismatches = Vec::new();
    if record.decision != case.expect.decision {
        mismatches.push(format!(
            "decision {} where {} was expected",
            record.decision.as_str(),
            case.expect.decision.as_str()
        ));
    }
    if let Some(want) = &case.expect.rule
        && want != &record.rule
    {
        mismatches.push(format!(
            "rule {} where {} was expected",
            record.rule.as_deref().unwrap_or("(none)"),
            want.as_deref().unwrap_or("(none)")
        ));
    }
    if let Some(want) = &case.expect.dry_run {
        let mut got = dry_run.clone();
        got.sort();
        let mut want = want.clone();
        want.sort();
        if got != want {
            mismatches.push(format!(
                "dry-run [{}] where [{}] was expected",
                got.join(", "),
                want.join(", ")
            ));
        }
    }
    CaseResult {
        name: case.name.clone(),
        passed: mismatches.is_empty(),
        decision: record.decision,
        rule: record.rule,
        dry_run,
        mismatches,
    }
}

/// Runs every case of the engine's policy.
pub fn run(engine: &Engine) -> Vec<CaseResult> {
    engine
        .policy()
        .tests
        .iter()
        .map(|c| run_case(engine, c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    fn engine(yaml: &str) -> Engine {
        Engine::new(Policy::from_text(yaml).unwrap()).unwrap()
    }

    const KEY: &str = "AKIAIX6EA6QOM66ZJOJY";

    fn chat(content: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": content}]
        }))
        .unwrap()
    }

    fn headers(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut h = vec![
            (":method".to_owned(), "POST".to_owned()),
            (":path".to_owned(), "/v1/chat/completions".to_owned()),
            (":authority".to_owned(), "api.openai.com".to_owned()),
            ("x-request-id".to_owned(), "rid-1".to_owned()),
        ];
        h.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        h
    }

    fn sse(text: &str) -> Vec<u8> {
        let ev = serde_json::json!({"choices": [{"index": 0, "delta": {"content": text}}]});
        format!("data: {ev}\n\n").into_bytes()
    }

    #[test]
    fn a_block_rule_refuses_before_upstream_and_names_itself() {
        let e = engine(
            "version: 2\nrules:\n  - {id: no-keys, when: 'findings.exists(f, f.category == \"credential\")', action: block}\n",
        );
        let mut ex = e.exchange(ExchangeContext::default());
        ex.request_headers(&headers(&[]));
        let BodyOutcome::Reply(r) = ex.request_body(&chat(&format!("key {KEY}")), true) else {
            panic!("not refused");
        };
        assert_eq!(r.status, 403);
        assert_eq!(r.reason, "policy-rule-block");
        let decision = r
            .headers
            .iter()
            .find(|(k, _)| k == "x-sluice-decision")
            .unwrap();
        assert!(decision.1.contains("rule=no-keys"), "{decision:?}");
        let rec = ex.finish();
        assert_eq!(rec.decision, Decision::Block);
        assert_eq!(rec.rule.as_deref(), Some("no-keys"));
    }

    #[test]
    fn dry_run_changes_no_byte_and_is_recorded() {
        let plain = engine("version: 2\n");
        let dry = engine(
            "version: 2\nrules:\n  - {id: would-block, when: 'true', action: block, mode: dry-run}\n",
        );
        let body = chat(&format!("key {KEY}"));
        let mut outs = Vec::new();
        for e in [&plain, &dry] {
            let mut ex = e.exchange(ExchangeContext::default());
            ex.request_headers(&headers(&[]));
            let out = ex.request_body(&body, true);
            let HeadersOutcome::Continue(m) = ex.response_headers(&[
                (":status".into(), "200".into()),
                ("content-type".into(), "text/event-stream".into()),
            ]) else {
                panic!("refused");
            };
            let resp = ex.response_body(&sse("hello"), true);
            outs.push((out, resp, ex.finish(), m));
        }
        assert_eq!(outs[0].0, outs[1].0);
        assert_eq!(outs[0].1, outs[1].1);
        assert_eq!(outs[1].2.decision, Decision::Mask);
        assert_eq!(outs[1].2.rule, None);
        assert_eq!(outs[1].2.dry_run[0].rule, "would-block");
        let header = &outs[1]
            .3
            .set
            .iter()
            .find(|(k, _)| k == "x-sluice-decision")
            .unwrap()
            .1;
        assert!(header.ends_with("; dry-run=would-block:block"), "{header}");
        let json = serde_json::to_string(&outs[1].2).unwrap();
        assert!(
            json.contains(
                r#""dry_run":[{"rule":"would-block","action":"block","reason":"dry-run"}]"#
            ),
            "{json}"
        );
    }

    #[test]
    fn allow_and_mask_rules_replace_the_defaults() {
        let e = engine(
            "version: 2\nrequest: {credential: mask, pii: flag, injection: flag}\nrules:\n  - {id: scanner, when: '\"x-team\" in request.headers && request.headers[\"x-team\"] == \"sec\"', action: allow}\n  - {id: mask-all, when: 'findings.exists(f, f.category == \"pii\")', action: mask}\n",
        );
        let body = chat(&format!("key {KEY} mail ops@example.com"));
        let mut ex = e.exchange(ExchangeContext::default());
        ex.request_headers(&headers(&[("x-team", "sec")]));
        let out = ex.request_body(&body, true);
        assert_eq!(out, BodyOutcome::Unchanged, "allowed as it is");
        let rec = ex.finish();
        assert_eq!(
            (rec.decision, rec.rule.as_deref()),
            (Decision::Allow, Some("scanner"))
        );
        assert!(
            rec.findings
                .iter()
                .all(|f| f.action == crate::Action::Allow)
        );
        assert!(!rec.findings.is_empty(), "what was allowed is still listed");

        let mut ex = e.exchange(ExchangeContext::default());
        ex.request_headers(&headers(&[]));
        let BodyOutcome::Replace(out) = ex.request_body(&body, true) else {
            panic!("not rewritten");
        };
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains("[REDACTED:email]") && !out.contains(KEY),
            "{out}"
        );
        assert_eq!(ex.finish().rule.as_deref(), Some("mask-all"));
    }

    #[test]
    fn a_response_rule_stops_the_stream_as_findings_appear() {
        let e = engine(
            "version: 2\nrules:\n  - {id: no-keys-out, when: 'findings.exists(f, f.direction == \"response\" && f.category == \"credential\")', action: block}\n",
        );
        let mut ex = e.exchange(ExchangeContext::default());
        ex.request_headers(&headers(&[]));
        assert_eq!(
            ex.request_body(&chat("hello"), true),
            BodyOutcome::Unchanged
        );
        ex.response_headers(&[
            (":status".into(), "200".into()),
            ("content-type".into(), "text/event-stream".into()),
        ]);
        assert_eq!(
            ex.response_body(&sse("Sure, "), false),
            BodyOutcome::Unchanged
        );
        let BodyOutcome::Replace(out) =
            ex.response_body(&sse(&format!("here: {KEY} and more")), false)
        else {
            panic!("stream not stopped");
        };
        let out = String::from_utf8(out).unwrap();
        assert!(!out.contains(KEY), "{out}");
        assert!(out.contains("no-keys-out"), "{out}");
        assert_eq!(
            ex.response_body(&sse("late"), true),
            BodyOutcome::Replace(Vec::new())
        );
        let rec = ex.finish();
        assert_eq!(
            (rec.decision, rec.rule.as_deref()),
            (Decision::Block, Some("no-keys-out"))
        );
    }

    #[test]
    fn identity_from_api_key_and_jwt_metadata_never_records_the_key() {
        let e = engine(
            "version: 2\nidentity:\n  jwt: {payload_key: jwt_payload}\n  api_keys:\n    principals: {9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08: svc-ci}\nrules:\n  - {id: contractors, when: 'has(identity.claims.groups) && \"contractors\" in identity.claims.groups', action: block}\n  - {id: ci-header-hidden, when: '\"authorization\" in request.headers && request.headers[\"authorization\"] == \"Bearer test\"', action: block}\n  - {id: who, when: 'identity.principal == \"svc-ci\" || identity.principal == \"bob\"', action: flag}\n",
        );
        let mut ex = e.exchange(ExchangeContext::default());
        ex.request_headers(&headers(&[("authorization", "Bearer test")]));
        assert_eq!(
            ex.request_body(&chat("hello"), true),
            BodyOutcome::Unchanged
        );
        let rec = ex.finish();
        assert_eq!(rec.identity.as_deref(), Some("svc-ci"));
        assert_eq!(rec.identity_source.as_deref(), Some("api_key"));
        assert_eq!(rec.rule.as_deref(), Some("who"));
        assert!(!serde_json::to_string(&rec).unwrap().contains("Bearer test"));

        for (groups, want) in [
            (serde_json::json!(["contractors"]), "contractors"),
            (serde_json::json!([]), "who"),
        ] {
            let mut ex = e.exchange(ExchangeContext {
                jwt_metadata: Some(
                    serde_json::json!({"jwt_payload": {"sub": "bob", "groups": groups}}),
                ),
                ..Default::default()
            });
            ex.request_headers(&headers(&[]));
            let _ = ex.request_body(&chat("hello"), true);
            let rec = ex.finish();
            assert_eq!(rec.identity.as_deref(), Some("bob"));
            assert_eq!(rec.rule.as_deref(), Some(want));
        }

        // No token, no key: `who` reads identity and there is none, so it denies.
        let mut ex = e.exchange(ExchangeContext::default());
        ex.request_headers(&headers(&[]));
        assert!(matches!(
            ex.request_body(&chat("hello"), true),
            BodyOutcome::Reply(_)
        ));
        let rec = ex.finish();
        assert_eq!(rec.rule.as_deref(), Some("contractors"));
        assert!(
            rec.errors.iter().any(|e| e.contains("needs an identity")),
            "{:?}",
            rec.errors
        );
    }

    #[test]
    fn version_1_policies_decide_as_before() {
        let e = Engine::new(Policy::default()).unwrap();
        let mut ex = e.exchange(ExchangeContext {
            identity: Some("spiffe://c/ns/a".into()),
            identity_source: Some("xfcc".into()),
            ..Default::default()
        });
        ex.request_headers(&headers(&[]));
        let _ = ex.request_body(&chat(&format!("key {KEY}")), true);
        let rec = ex.finish();
        assert_eq!(rec.decision, Decision::Mask);
        assert_eq!(rec.identity_source.as_deref(), Some("xfcc"));
        assert!(rec.rule.is_none() && rec.dry_run.is_empty());
        let json = serde_json::to_string(&rec).unwrap();
        assert!(
            !json.contains("dry_run") && !json.contains("\"rule\":null"),
            "{json}"
        );
        assert!(
            json.contains("\"decision\":\"mask\",\"findings\""),
            "{json}"
        );
    }
}
