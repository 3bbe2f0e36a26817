//! Policy version 2 rules through real Envoy, ext_proc and wasm: a dry-run rule changes no
//! byte on the wire and is recorded, roll-outs of 0, 50 and 100 % decide by the request id the
//! client sent (the same id always getting the same answer), a model allow-list refuses in
//! the provider's error shape before anything goes upstream, a `when` that fails to
//! evaluate denies and is audited, and a rule on the `source-code` data class refuses a prompt
//! carrying a code block while prose passes.
//!
//! One policy holds every rule; each case picks its rule by the model it names, so one stack
//! per mode serves all cases. The audit record is read from `sluice serve --audit` (ext_proc)
//! or from the `sluice audit {...}` lines the wasm filter logs to Envoy at info.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Weak};
use std::time::{Duration, Instant};

use sluice_core::policy::rules::rolled_in;
use sluice_e2e::client::{BodyEnd, Request, Response};
use sluice_e2e::harness::{Mode, Stack, StackOptions};
use sluice_e2e::scenario::{own_stack, send};
use sluice_e2e::scenarios;
use sluice_e2e::upstream::{RecordedRequest, Script, ScriptHandle};

/// Models the allow-list admits: one per rule under test, and one no rule matches.
const PLAIN_MODEL: &str = "gpt-4o-mini";

fn policy() -> String {
    serde_json::json!({
        "version": 2,
        "policy_id": "e2e-rules",
        "detectors": {"source_code": true},
        "rules": [
            {"id": "no-source-code",
             "when": "findings.exists(f, f.rule.startsWith(\"source-code\"))",
             "action": "block"},
            {"id": "would-block", "when": "model == \"dry-run-model\"", "action": "block",
             "mode": "dry-run"},
            {"id": "rollout-zero", "when": "model == \"rollout-0\"", "action": "block",
             "rollout": 0},
            {"id": "rollout-half", "when": "model == \"rollout-50\"", "action": "block",
             "rollout": 50},
            {"id": "rollout-full", "when": "model == \"rollout-100\"", "action": "block",
             "rollout": 100},
            // Reading a header the request does not carry is an evaluation error (no such
            // key); `&&` keeps it from firing for the other models.
            {"id": "needs-header", "when": "model == \"cel-error\" && request.headers[\"x-absent\"] == \"yes\"",
             "action": "allow"},
            {"id": "approved-models",
             "when": "!(model in [\"gpt-4o-mini\", \"dry-run-model\", \"rollout-0\", \"rollout-50\", \"rollout-100\", \"cel-error\"])",
             "action": "block"},
        ],
    })
    .to_string()
}

/// Where one mode's audit records are.
enum Audit {
    /// `sluice serve --audit FILE`.
    File(PathBuf),
    /// The wasm filter's `sluice audit {json}` lines in Envoy's log.
    EnvoyLog,
}

struct RulesStack {
    stack: Stack,
    audit: Audit,
    /// A benign answer: the per-category defaults find nothing in it, so a passed exchange
    /// is `allow` unless a rule says otherwise.
    answer: ScriptHandle,
    /// Keys and the audit file (ext_proc); kept as long as the stack.
    _dir: tempfile::TempDir,
}

/// `sluice serve` arguments for a signed audit trail in `dir`.
fn audit_args(dir: &Path) -> (Vec<String>, PathBuf) {
    let prefix = dir.join("audit");
    sluice_e2e::harness::audit_keygen(&prefix);
    let file = dir.join("audit.jsonl");
    let args = vec![
        "--audit".into(),
        file.display().to_string(),
        "--audit-key".into(),
        format!("{}.key", prefix.display()),
        "--audit-instance".into(),
        "e2e-rules".into(),
    ];
    (args, file)
}

static STACKS: LazyLock<tokio::sync::Mutex<HashMap<Mode, Weak<RulesStack>>>> =
    LazyLock::new(|| tokio::sync::Mutex::new(HashMap::new()));

/// The rules stack of `mode`, shared by the tests of this binary that run while it is alive.
async fn rules_stack(mode: Mode) -> Arc<RulesStack> {
    let mut map = STACKS.lock().await;
    if let Some(s) = map.get(&mode).and_then(Weak::upgrade) {
        return s;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut options = StackOptions {
        policy_json: Some(policy()),
        ..StackOptions::default()
    };
    let audit = if mode.uses_sluice_process() {
        let (args, file) = audit_args(dir.path());
        options.sluice_args = args;
        Audit::File(file)
    } else {
        Audit::EnvoyLog
    };
    let stack = own_stack(mode, options).await;
    let answer = stack
        .mock()
        .register(Script::deltas(&["Hello", " there", "!"]));
    let s = Arc::new(RulesStack {
        stack,
        audit,
        answer,
        _dir: dir,
    });
    map.insert(mode, Arc::downgrade(&s));
    s
}

impl RulesStack {
    fn records(&self) -> Vec<serde_json::Value> {
        let text = match &self.audit {
            Audit::File(f) => std::fs::read_to_string(f).unwrap_or_default(),
            Audit::EnvoyLog => self.stack.envoy_log(),
        };
        text.lines()
            .filter_map(|l| match &self.audit {
                Audit::File(_) => Some(l),
                Audit::EnvoyLog => l
                    .find("sluice audit {")
                    .map(|i| &l[i + "sluice audit ".len()..]),
            })
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The audit record of `request_id`. The wasm filter logs it when the exchange is done,
    /// which can be just after the client has the end of the response: wait for it, bounded.
    async fn record(&self, request_id: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(r) = self
                .records()
                .into_iter()
                .find(|r| r["request_id"] == request_id)
            {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "no audit record for {request_id}\n{}",
                self.stack.context()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What the upstream received carrying `request_id`.
    fn upstream_got(&self, request_id: &str) -> Vec<RecordedRequest> {
        self.stack
            .mock()
            .requests()
            .into_iter()
            .filter(|r| r.header("x-request-id") == Some(request_id))
            .collect()
    }
}

fn chat_body(model: &str) -> Vec<u8> {
    serde_json::json!({
        "model": model,
        "stream": false,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Say hello in one word."}
        ]
    })
    .to_string()
    .into_bytes()
}

impl RulesStack {
    fn chat(&self, model: &str, request_id: &str) -> Request {
        Request::post("/v1/chat/completions", chat_body(model))
            .header("content-type", "application/json")
            .header("x-request-id", request_id)
            .headers([self.answer.header()])
    }
}

fn decision(resp: &Response) -> &str {
    resp.header("x-sluice-decision").unwrap_or("")
}

/// A refusal by `rule`: 403 in OpenAI's error shape, the request id echoed, nothing upstream.
fn assert_refused_by(s: &RulesStack, resp: &Response, request_id: &str, rule: &str, reason: &str) {
    let ctx = || s.stack.context();
    assert_eq!(resp.status, 403, "{request_id}: {}\n{}", resp.text(), ctx());
    assert_eq!(resp.end, BodyEnd::Complete);
    let d = decision(resp);
    assert!(
        d.starts_with(&format!("block; reason={reason}")) && d.contains(&format!("; rule={rule}")),
        "{request_id}: decision {d:?}"
    );
    let body: serde_json::Value = serde_json::from_slice(&resp.body())
        .unwrap_or_else(|e| panic!("{request_id}: not JSON ({e}): {}", resp.text()));
    assert_eq!(body["error"]["type"], "permission_error", "{body}");
    assert_eq!(body["error"]["code"], "sluice_blocked", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(rule)),
        "{body}"
    );
    assert_eq!(resp.header("x-request-id"), Some(request_id));
    assert!(
        s.upstream_got(request_id).is_empty(),
        "{request_id}: a refused request reached the upstream"
    );
}

/// Passed untouched: 200, and the upstream got exactly the client's bytes once.
fn assert_passed_intact(s: &RulesStack, resp: &Response, req: &Request, request_id: &str) {
    assert_eq!(
        resp.status,
        200,
        "{request_id}: {} {:?}\n{}",
        resp.text(),
        decision(resp),
        s.stack.context()
    );
    assert_eq!(resp.end, BodyEnd::Complete);
    let got = s.upstream_got(request_id);
    assert_eq!(
        got.len(),
        1,
        "{request_id}: upstream got {} requests",
        got.len()
    );
    assert!(
        got[0].body == req.body,
        "{request_id}: the upstream body differs from what the client sent"
    );
}

/// Sends every request, a few at a time, and gives the responses in the same order.
async fn send_all(stack: &Stack, reqs: &[Request]) -> Vec<Response> {
    let mut out = Vec::with_capacity(reqs.len());
    for batch in reqs.chunks(16) {
        let futures = batch.iter().map(|r| send(stack, r));
        out.extend(join_all(futures).await);
    }
    out
}

/// Awaits futures concurrently on the current task (no extra dependency).
async fn join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, fut) in out.iter_mut().zip(pinned.iter_mut()) {
            if slot.is_none() {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

fn ids(mode: Mode, case: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{case}-{mode:?}-{i:04}")).collect()
}

async fn dry_run_changes_nothing_on_the_wire_but_is_recorded(mode: Mode) {
    let s = rules_stack(mode).await;
    let id = format!("dry-run-{mode:?}");
    let req = s.chat("dry-run-model", &id);
    let resp = send(&s.stack, &req).await;
    assert_passed_intact(&s, &resp, &req, &id);
    let d = decision(&resp);
    assert!(
        d.starts_with("allow;") && d.ends_with("; dry-run=would-block:block"),
        "decision {d:?}"
    );
    assert!(!d.contains("rule="), "no rule decided: {d:?}");
    // The same answer as a request no rule matches, byte for byte.
    let plain_id = format!("dry-run-plain-{mode:?}");
    let plain = send(&s.stack, &s.chat(PLAIN_MODEL, &plain_id)).await;
    assert_eq!(plain.status, 200);
    assert_eq!(resp.body(), plain.body(), "the dry-run changed the answer");

    let r = s.record(&id).await;
    assert_eq!(r["decision"], "allow", "{r}");
    assert!(r.get("rule").is_none_or(|v| v.is_null()), "{r}");
    assert_eq!(
        r["dry_run"],
        serde_json::json!([{"rule": "would-block", "action": "block", "reason": "dry-run"}]),
        "{r}"
    );
    // ext_proc writes `policy: {id, ...}` (docs/audit.md); the wasm log line `policy_id`.
    let policy_id = if r["policy"].is_object() {
        &r["policy"]["id"]
    } else {
        &r["policy_id"]
    };
    assert_eq!(policy_id, "e2e-rules", "{r}");
    let r = s.record(&plain_id).await;
    assert!(r.get("dry_run").is_none_or(|v| v.is_null()), "{r}");
}

async fn rollout_0_and_100_behave_as_such(mode: Mode) {
    let s = rules_stack(mode).await;
    let zero = ids(mode, "r0", 20);
    let full = ids(mode, "r100", 20);
    let reqs: Vec<Request> = zero
        .iter()
        .map(|id| s.chat("rollout-0", id))
        .chain(full.iter().map(|id| s.chat("rollout-100", id)))
        .collect();
    let resps = send_all(&s.stack, &reqs).await;
    for ((id, req), resp) in zero.iter().zip(&reqs).zip(&resps) {
        assert_passed_intact(&s, resp, req, id);
        assert!(
            decision(resp).ends_with("; dry-run=rollout-zero:block"),
            "{id}: {:?}",
            decision(resp)
        );
    }
    for (id, resp) in full.iter().zip(&resps[zero.len()..]) {
        assert_refused_by(&s, resp, id, "rollout-full", "policy-rule-block");
    }
    let r = s.record(&zero[0]).await;
    assert_eq!(r["decision"], "allow", "{r}");
    assert_eq!(r["dry_run"][0]["rule"], "rollout-zero", "{r}");
    assert_eq!(r["dry_run"][0]["reason"], "rollout", "{r}");
    let r = s.record(&full[0]).await;
    assert_eq!(r["decision"], "block", "{r}");
    assert_eq!(r["rule"], "rollout-full", "{r}");
}

/// 300 distinct request ids at 50 %: exactly the ids the hash rolls in are refused (which
/// also shows Envoy handed Sluice the client's `x-request-id`), near half of them, and sending
/// the same ids again gives every one the same answer.
async fn rollout_50_splits_by_request_id_and_repeats(mode: Mode) {
    let s = rules_stack(mode).await;
    let ids = ids(mode, "r50", 300);
    let reqs: Vec<Request> = ids.iter().map(|id| s.chat("rollout-50", id)).collect();
    let first = send_all(&s.stack, &reqs).await;
    let expected: Vec<bool> = ids
        .iter()
        .map(|id| rolled_in("rollout-half", 50.0, Some(id)))
        .collect();
    let blocked: Vec<bool> = first.iter().map(|r| r.status == 403).collect();
    for (((id, req), resp), want) in ids.iter().zip(&reqs).zip(&first).zip(&expected) {
        if *want {
            assert_refused_by(&s, resp, id, "rollout-half", "policy-rule-block");
        } else {
            assert_passed_intact(&s, resp, req, id);
            assert!(
                decision(resp).ends_with("; dry-run=rollout-half:block"),
                "{id}: {:?}",
                decision(resp)
            );
        }
    }
    let n_blocked = blocked.iter().filter(|b| **b).count();
    let n_expected = expected.iter().filter(|b| **b).count();
    assert_eq!(n_blocked, n_expected);
    // Binomial(300, 0.5) has a standard deviation of 8.7: 0.5 ± 0.12 is over four of them.
    assert!(
        (114..=186).contains(&n_blocked),
        "{n_blocked} of 300 refused at 50 %"
    );

    let again = send_all(&s.stack, &reqs).await;
    for ((id, a), b) in ids.iter().zip(&first).zip(&again) {
        assert_eq!(
            a.status, b.status,
            "{id} got a different answer the second time"
        );
        assert_eq!(decision(a), decision(b), "{id}");
    }
    // Inside the roll-out nothing reached the upstream either time; outside it, both did.
    for (id, want) in ids.iter().zip(&expected) {
        let n = s.upstream_got(id).len();
        assert_eq!(n, if *want { 0 } else { 2 }, "{id}");
    }
    let (inside, outside) = (
        ids.iter().zip(&expected).find(|(_, w)| **w).unwrap().0,
        ids.iter().zip(&expected).find(|(_, w)| !**w).unwrap().0,
    );
    let r = s.record(inside).await;
    assert_eq!(
        (&r["decision"], &r["rule"]),
        (&"block".into(), &"rollout-half".into()),
        "{r}"
    );
    let r = s.record(outside).await;
    assert_eq!(r["decision"], "allow", "{r}");
    assert_eq!(r["dry_run"][0]["reason"], "rollout", "{r}");
}

async fn model_allow_list_refuses_before_upstream(mode: Mode) {
    let s = rules_stack(mode).await;
    let id = format!("allow-list-{mode:?}");
    let resp = send(&s.stack, &s.chat("o1-preview", &id)).await;
    assert_refused_by(&s, &resp, &id, "approved-models", "policy-rule-block");
    let r = s.record(&id).await;
    assert_eq!(r["decision"], "block", "{r}");
    assert_eq!(r["rule"], "approved-models", "{r}");
    assert_eq!(r["model"], "o1-preview", "{r}");

    // Another provider's shape: Anthropic's error object, same rule.
    let id = format!("allow-list-anthropic-{mode:?}");
    let body = serde_json::json!({
        "model": "claude-opus-4",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "Say hello."}]
    })
    .to_string();
    let req = Request::post("/v1/messages", body)
        .header("content-type", "application/json")
        .header("anthropic-version", "2023-06-01")
        .header("x-request-id", &id)
        .headers([s.answer.header()]);
    let resp = send(&s.stack, &req).await;
    assert_eq!(resp.status, 403, "{}", resp.text());
    let v: serde_json::Value = serde_json::from_slice(&resp.body()).unwrap();
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], "permission_error", "{v}");
    assert!(decision(&resp).contains("; rule=approved-models"));
    assert!(s.upstream_got(&id).is_empty());

    // An approved model passes untouched.
    let id = format!("allow-list-ok-{mode:?}");
    let req = s.chat(PLAIN_MODEL, &id);
    let resp = send(&s.stack, &req).await;
    assert_passed_intact(&s, &resp, &req, &id);
    assert!(!decision(&resp).contains("rule="), "{:?}", decision(&resp));
}

async fn evaluation_error_denies_and_is_audited(mode: Mode) {
    let s = rules_stack(mode).await;
    let id = format!("cel-error-{mode:?}");
    let resp = send(&s.stack, &s.chat("cel-error", &id)).await;
    // The rule's action is `allow`: failing to evaluate it denies all the same.
    assert_refused_by(&s, &resp, &id, "needs-header", "policy-rule-error");
    let r = s.record(&id).await;
    assert_eq!(r["decision"], "block", "{r}");
    assert_eq!(r["rule"], "needs-header", "{r}");
    let errors = r["errors"].to_string();
    assert!(errors.contains("no such key: x-absent"), "{r}");

    // With the header, the same rule evaluates and allows.
    let id = format!("cel-ok-{mode:?}");
    let req = s.chat("cel-error", &id).header("x-absent", "yes");
    let resp = send(&s.stack, &req).await;
    assert_passed_intact(&s, &resp, &req, &id);
    assert!(
        decision(&resp).contains("; rule=needs-header"),
        "{:?}",
        decision(&resp)
    );
}

/// A prompt carrying a block of code, for the `source-code` data class.
const CODE_PROMPT: &str = "Why does this panic?\n\n```rust\nuse std::collections::HashMap;\n\npub fn counts(text: &str) -> HashMap<&str, usize> {\n    let mut counts = HashMap::new();\n    for word in text.split_whitespace() {\n        *counts.entry(word).or_insert(0) += 1;\n    }\n    let first = text.split(' ').next().unwrap();\n    counts.remove(first).unwrap();\n    counts\n}\n```\n";

async fn source_code_rule_refuses_code_and_passes_prose(mode: Mode) {
    let s = rules_stack(mode).await;
    let id = format!("source-code-{mode:?}");
    let body = serde_json::json!({
        "model": PLAIN_MODEL,
        "stream": false,
        "messages": [{"role": "user", "content": CODE_PROMPT}]
    })
    .to_string();
    let req = Request::post("/v1/chat/completions", body)
        .header("content-type", "application/json")
        .header("x-request-id", &id)
        .headers([s.answer.header()]);
    let resp = send(&s.stack, &req).await;
    assert_refused_by(&s, &resp, &id, "no-source-code", "policy-rule-block");
    let r = s.record(&id).await;
    assert_eq!(r["rule"], "no-source-code", "{r}");
    assert!(
        r["findings"].to_string().contains("source-code-rust"),
        "{r}"
    );

    // Prose, even prose that names code, passes untouched.
    let id = format!("source-code-prose-{mode:?}");
    let body = serde_json::json!({
        "model": PLAIN_MODEL,
        "stream": false,
        "messages": [{"role": "user", "content":
            "In Rust, what does `unwrap()` do when the value is `None`? Please answer in two sentences."}]
    })
    .to_string();
    let req = Request::post("/v1/chat/completions", body)
        .header("content-type", "application/json")
        .header("x-request-id", &id)
        .headers([s.answer.header()]);
    let resp = send(&s.stack, &req).await;
    assert_passed_intact(&s, &resp, &req, &id);
}

scenarios! {
    modes: [ext_proc => ExtProc, wasm => Wasm],
    tests: [
        source_code_rule_refuses_code_and_passes_prose,
        dry_run_changes_nothing_on_the_wire_but_is_recorded,
        rollout_0_and_100_behave_as_such,
        rollout_50_splits_by_request_id_and_repeats,
        model_allow_list_refuses_before_upstream,
        evaluation_error_denies_and_is_audited,
    ],
}
