//! Hot policy reload through real Envoy.
//!
//! ext_proc: `sluice serve --policy FILE` follows its file (and SIGHUP). A valid new file
//! changes the decision for new requests; a broken one (YAML syntax, a CEL error) is logged
//! with `policy.json:LINE:COL` and counted while the old policy keeps deciding; a stream open
//! during a reload finishes under the policy it started with.
//!
//! wasm: the policy is the plugin configuration, so it changes the Envoy way: the listener
//! comes from a watched LDS file, and a new listener with a new configuration takes effect for
//! new requests; one whose configuration the filter refuses is rejected by Envoy, and the old
//! listener keeps serving.
//!
//! Every wait is bounded and polls for what it waits for (a log line, an admin counter, a
//! changed decision); no sleep stands in for synchronisation.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_e2e::api::{self, ApiShape, Framing};
use sluice_e2e::client::{BodyEnd, Next, Request};
use sluice_e2e::harness::{Mode, Stack, StackOptions};
use sluice_e2e::inspect;
use sluice_e2e::scenario::{api_request, assert_no_planted, own_stack, send};
use sluice_e2e::upstream::Script;

const WAIT: Duration = Duration::from_secs(20);

/// A version 2 policy whose one rule blocks requests for `model`.
fn blocking(id: &str, model: &str) -> String {
    json!({
        "version": 2,
        "policy_id": id,
        "rules": [{"id": format!("no-{model}"), "when": format!("model == \"{model}\""), "action": "block"}]
    })
    .to_string()
}

/// Blocks OpenAI's model: OpenAI Chat refused, Anthropic served.
fn p1() -> String {
    blocking("p1", "gpt-4o-mini")
}

/// Blocks Anthropic's model: the other way round.
fn p2() -> String {
    blocking("p2", "claude-sonnet-4-5")
}

const P1_DECIDES: (u16, u16) = (403, 200);
const P2_DECIDES: (u16, u16) = (200, 403);

/// YAML whose flow sequence never closes.
const BROKEN_YAML: &str =
    "version: 2\npolicy_id: broken\nrules: [\n  {id: r, when: 'true', action: flag}\n";

/// Valid JSON whose rule does not compile (CEL syntax error).
fn broken_cel() -> String {
    "{\n  \"version\": 2,\n  \"policy_id\": \"broken\",\n  \"rules\": [\n    {\"id\": \"r\", \"when\": \"model ==\", \"action\": \"block\"}\n  ]\n}\n".to_owned()
}

/// `LINE:COL` of the error the core's checker finds in `text`: what the log must report.
fn position(text: &str) -> String {
    match sluice_core::policy::document::check(text) {
        Ok(_) => panic!("the broken policy checks fine"),
        Err(d) => format!("{}:{}", d.line, d.column),
    }
}

/// (OpenAI Chat status, Anthropic status) for one non-streamed request each.
async fn decisions(stack: &Stack) -> (u16, u16) {
    let openai = send(stack, &api_request(ApiShape::OpenAiChat, "hello", false)).await;
    let anthropic = send(stack, &api_request(ApiShape::Anthropic, "hello", false)).await;
    (openai.status, anthropic.status)
}

async fn assert_decides(stack: &Stack, expected: (u16, u16), when: &str) {
    let got = decisions(stack).await;
    assert_eq!(
        got,
        expected,
        "{when}: (openai, anthropic) statuses\n{}",
        stack.context()
    );
}

/// Polls until the decisions are `expected` (bounded).
async fn wait_decides(stack: &Stack, expected: (u16, u16), when: &str) {
    let started = Instant::now();
    loop {
        let got = decisions(stack).await;
        if got == expected {
            return;
        }
        assert!(
            started.elapsed() < WAIT,
            "{when}: still deciding {got:?} after {WAIT:?}, expected {expected:?}\n{}",
            stack.context()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Replaces `path` atomically (write a sibling, rename it over), as editors and ConfigMap
/// volumes do.
fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap_or_else(|e| panic!("writing {}: {e}", tmp.display()));
    std::fs::rename(&tmp, path).unwrap_or_else(|e| panic!("renaming onto {}: {e}", path.display()));
}

fn policy_path(stack: &Stack) -> PathBuf {
    stack.dir().join("policy.json")
}

/// Lines of the sluice log containing `needle`.
fn log_lines(stack: &Stack, needle: &str) -> Vec<String> {
    stack
        .sluice_log()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// Waits until the log holds more than `seen` lines containing `needle`; returns the newest.
async fn wait_log_line(stack: &Stack, needle: &str, seen: usize) -> String {
    let started = Instant::now();
    loop {
        let lines = log_lines(stack, needle);
        if lines.len() > seen {
            return lines.last().cloned().unwrap_or_default();
        }
        assert!(
            started.elapsed() < WAIT,
            "no new log line with {needle:?} within {WAIT:?}\n{}",
            stack.context()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Writes a broken policy and checks the failure line and that `still` keeps deciding.
async fn assert_broken_is_refused(stack: &Stack, text: &str, still: (u16, u16), what: &str) {
    let failed = "policy reload failed";
    let seen = log_lines(stack, failed).len();
    replace_file(&policy_path(stack), text);
    let line = wait_log_line(stack, failed, seen).await;
    let at = format!("policy.json:{}: ", position(text));
    assert!(
        line.contains(&at),
        "{what}: the failure line does not point at {at}: {line}"
    );
    assert!(
        line.contains("ERROR"),
        "{what}: not logged at error level: {line}"
    );
    assert!(
        line.contains(&format!("failures: {}", seen + 1)),
        "{what}: the failure is not counted: {line}"
    );
    assert_decides(stack, still, &format!("after {what}")).await;
}

fn sha256(text: &str) -> String {
    sluice_core::audit::sha256_hex(text.as_bytes())
}

/// The file is watched: a valid new file changes the decision, broken ones are refused with
/// their position and counted while the running policy keeps deciding, and an in-place write
/// (no rename) is seen too.
async fn file_change_reloads_and_broken_files_keep_the_old_policy(mode: Mode) {
    let stack = own_stack(
        mode,
        StackOptions {
            policy_json: Some(p1()),
            ..StackOptions::default()
        },
    )
    .await;
    assert_decides(&stack, P1_DECIDES, "at start").await;

    let reloaded = "policy reloaded: id=p2";
    replace_file(&policy_path(&stack), &p2());
    let line = wait_log_line(&stack, reloaded, 0).await;
    assert!(
        line.contains(&format!("sha256={}", sha256(&p2()))),
        "the reload line does not carry the new file's hash: {line}"
    );
    assert!(line.contains("reloads: 1"), "{line}");
    assert_decides(&stack, P2_DECIDES, "after the reload to p2").await;

    assert_broken_is_refused(&stack, BROKEN_YAML, P2_DECIDES, "a YAML syntax error").await;
    assert_broken_is_refused(&stack, &broken_cel(), P2_DECIDES, "a CEL error").await;

    // Written in place: truncate and write, several events for one edit.
    std::fs::write(policy_path(&stack), p1()).unwrap_or_else(|e| panic!("{e}"));
    wait_log_line(&stack, "policy reloaded: id=p1", 0).await;
    assert_decides(&stack, P1_DECIDES, "after the reload back to p1").await;
}

/// With the watch off, SIGHUP alone reloads: a rewritten file changes nothing until the
/// signal, a broken file on SIGHUP keeps the old policy.
async fn sighup_reloads(mode: Mode) {
    let stack = own_stack(
        mode,
        StackOptions {
            policy_json: Some(p1()),
            sluice_args: vec!["--no-policy-watch".to_owned()],
            ..StackOptions::default()
        },
    )
    .await;
    let hup = || {
        let pid = stack
            .sluice_pid()
            .unwrap_or_else(|| panic!("no sluice process"));
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP)
            .unwrap_or_else(|e| panic!("SIGHUP: {e}"));
    };
    assert_decides(&stack, P1_DECIDES, "at start").await;

    replace_file(&policy_path(&stack), &p2());
    // Without a watch the new file waits for the signal.
    assert_decides(&stack, P1_DECIDES, "file rewritten, no SIGHUP yet").await;
    hup();
    let line = wait_log_line(&stack, "policy reloaded: id=p2", 0).await;
    assert!(line.contains("SIGHUP"), "{line}");
    assert_decides(&stack, P2_DECIDES, "after SIGHUP").await;

    let failed = "policy reload failed";
    replace_file(&policy_path(&stack), &broken_cel());
    hup();
    let line = wait_log_line(&stack, failed, 0).await;
    let at = format!("policy.json:{}: ", position(&broken_cel()));
    assert!(line.contains(&at), "{line}");
    assert!(line.contains("failures: 1"), "{line}");
    assert_decides(&stack, P2_DECIDES, "after SIGHUP with a broken file").await;
    assert!(
        stack.sluice_pid().is_some() && stack.sluice_exit(Duration::ZERO).await.is_none(),
        "SIGHUP ended sluice serve\n{}",
        stack.context()
    );
}

/// Response credentials masked (the built-in default for answers).
fn masking() -> String {
    json!({"version": 2, "policy_id": "masking"}).to_string()
}

/// Response credentials let through.
fn letting_through() -> String {
    json!({
        "version": 2,
        "policy_id": "letting",
        "response": {"credential": "allow", "pii": "allow", "injection": "flag"}
    })
    .to_string()
}

/// A stream open while the policy is replaced finishes under the one it started with: the
/// key the upstream sends after the reload is still masked; the next stream gets the new
/// policy (the key passes).
async fn open_stream_keeps_its_policy(mode: Mode) {
    let stack = own_stack(
        mode,
        StackOptions {
            policy_json: Some(masking()),
            ..StackOptions::default()
        },
    )
    .await;
    // Pause just past the event with the first words, before the key is sent.
    let capture = ApiShape::OpenAiChat.capture();
    let marker = br#""content":"r ""#;
    let start = capture
        .windows(marker.len())
        .position(|w| w == marker)
        .unwrap_or_else(|| panic!("marker not in the capture"));
    let rest = capture.get(start..).unwrap_or_default();
    let at = start + rest.windows(2).position(|w| w == b"\n\n").unwrap_or(0) + 2;
    let key = api::AWS_ACCESS_KEY_ID;
    assert!(
        inspect::find_planted(Framing::Sse, capture.get(..at).unwrap_or_default(), &[key])
            .is_empty()
            && !inspect::find_planted(Framing::Sse, capture, &[key]).is_empty(),
        "the capture must send the key after the pause point"
    );
    let script = stack.mock().register(Script::default().pause_after(at));
    let req = api_request(ApiShape::OpenAiChat, "hello", true).headers([script.header()]);
    let mut open = match stack.open(&req).await {
        Ok(o) => o,
        Err(e) => panic!("request failed: {e}\n{}", stack.context()),
    };
    assert_eq!(open.status, 200, "{}", stack.context());
    assert!(
        script.wait_paused(WAIT).await,
        "upstream never reached its pause point\n{}",
        stack.context()
    );
    while let Next::Data(_) = open.next_chunk(Duration::from_millis(200)).await {}

    replace_file(&policy_path(&stack), &letting_through());
    wait_log_line(&stack, "policy reloaded: id=letting", 0).await;
    script.release();
    let resp = open.collect(WAIT).await;
    assert_eq!(resp.end, BodyEnd::Complete, "{}", stack.context());
    assert_no_planted(
        &stack,
        "stream opened before the reload",
        Framing::Sse,
        &resp.body(),
        &[key],
    );
    assert!(
        inspect::contains(&resp.body(), b"[REDACTED"),
        "the open stream was not masked\n{}",
        stack.context()
    );

    let after = stack.mock().register(Script::default());
    let req = api_request(ApiShape::OpenAiChat, "hello", true).headers([after.header()]);
    let resp = send(&stack, &req).await;
    assert_eq!(resp.end, BodyEnd::Complete, "{}", stack.context());
    assert!(
        !inspect::find_planted(Framing::Sse, &resp.body(), &[key]).is_empty(),
        "a stream after the reload was still masked: the new policy lets credentials through\n{}",
        stack.context()
    );
}

// ---- wasm: the listener through a watched LDS file ----

/// Where the LDS file lives and the listener Envoy was started with.
#[derive(Clone)]
struct Lds {
    dir: Arc<tempfile::TempDir>,
    listener: Arc<Mutex<Option<Value>>>,
}

impl Lds {
    fn new() -> Lds {
        let dir = tempfile::Builder::new()
            .prefix("sluice-lds-")
            .tempdir()
            .unwrap_or_else(|e| panic!("temp dir: {e}"));
        Lds {
            dir: Arc::new(dir),
            listener: Arc::default(),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("lds.json")
    }

    /// Moves the generated bootstrap's listener into the LDS file.
    fn patch(&self, yaml: &str) -> Result<String, String> {
        let mut bootstrap: Value = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
        let listener = bootstrap
            .pointer_mut("/static_resources/listeners")
            .and_then(Value::as_array_mut)
            .and_then(|l| (l.len() == 1).then(|| l.remove(0)))
            .ok_or("the bootstrap has not exactly one static listener")?;
        if let Some(sr) = bootstrap
            .get_mut("static_resources")
            .and_then(Value::as_object_mut)
        {
            sr.remove("listeners");
        }
        // Envoy requires a node identity once any xDS source is configured.
        bootstrap["node"] = json!({"id": "sluice-e2e", "cluster": "sluice-e2e"});
        bootstrap["dynamic_resources"] = json!({
            "lds_config": {
                "resource_api_version": "V3",
                "path_config_source": {
                    "path": self.path().display().to_string(),
                    "watched_directory": {"path": self.dir.path().display().to_string()}
                }
            }
        });
        self.write(&listener)?;
        *self.listener.lock().map_err(|e| e.to_string())? = Some(listener);
        serde_json::to_string(&bootstrap).map_err(|e| e.to_string())
    }

    /// Publishes `listener` (rename into place: Envoy reacts to the move).
    fn write(&self, listener: &Value) -> Result<(), String> {
        let doc = json!({
            "resources": [
                {"@type": "type.googleapis.com/envoy.config.listener.v3.Listener"}
            ]
        });
        let mut doc = doc;
        if let (Some(slot), Some(fields)) = (
            doc.pointer_mut("/resources/0")
                .and_then(Value::as_object_mut),
            listener.as_object(),
        ) {
            for (k, v) in fields {
                slot.insert(k.clone(), v.clone());
            }
        }
        let tmp = self.dir.path().join("lds.json.tmp");
        std::fs::write(&tmp, doc.to_string()).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, self.path()).map_err(|e| e.to_string())
    }

    /// Publishes the listener with `policy` as the plugin configuration.
    fn publish_policy(&self, policy: &str) {
        let mut listener = self
            .listener
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| panic!("the bootstrap was never patched"));
        let filters = listener
            .pointer_mut("/filter_chains/0/filters/0/typed_config/http_filters")
            .and_then(Value::as_array_mut)
            .unwrap_or_else(|| panic!("no http_filters in the listener"));
        let wasm = filters
            .iter_mut()
            .find(|f| f["name"] == "envoy.filters.http.wasm")
            .unwrap_or_else(|| panic!("no wasm filter in the listener"));
        wasm["typed_config"]["config"]["configuration"]["value"] = json!(policy);
        self.write(&listener).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// `listener_manager.lds.<name>` from Envoy's admin.
async fn lds_stat(stack: &Stack, name: &str) -> u64 {
    let path = format!("/stats?filter=^listener_manager\\.lds\\.{name}$");
    let resp = match sluice_e2e::client::send(stack.admin(), &Request::get(&path), WAIT).await {
        Ok(r) => r,
        Err(e) => panic!("admin {path}: {e}\n{}", stack.context()),
    };
    resp.text()
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("listener_manager.lds.{name}: "))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

async fn wait_lds_stat(stack: &Stack, name: &str, want: u64) {
    let started = Instant::now();
    loop {
        let got = lds_stat(stack, name).await;
        if got >= want {
            assert_eq!(
                got,
                want,
                "listener_manager.lds.{name}\n{}",
                stack.context()
            );
            return;
        }
        assert!(
            started.elapsed() < WAIT,
            "listener_manager.lds.{name} is {got} after {WAIT:?}, expected {want}\n{}",
            stack.context()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A configuration update applies to new requests; one the filter refuses is rejected by
/// Envoy and the old listener keeps serving its policy.
async fn listener_update_reloads_and_bad_update_keeps_the_old(mode: Mode) {
    let lds = Lds::new();
    let patcher = lds.clone();
    let stack = own_stack(
        mode,
        StackOptions {
            policy_json: Some(p1()),
            patch_bootstrap: Some(Arc::new(move |yaml: &str| patcher.patch(yaml))),
            ..StackOptions::default()
        },
    )
    .await;
    wait_lds_stat(&stack, "update_success", 1).await;
    assert_decides(&stack, P1_DECIDES, "at start").await;

    lds.publish_policy(&p2());
    wait_lds_stat(&stack, "update_success", 2).await;
    wait_decides(&stack, P2_DECIDES, "after the listener update to p2").await;
    assert!(
        stack
            .envoy_log()
            .contains(&format!("id=p2, sha256={}", sha256(&p2()))),
        "the filter did not log the new policy\n{}",
        stack.context()
    );

    for (n, (broken, what)) in [
        (broken_cel(), "a CEL error"),
        (BROKEN_YAML.to_owned(), "a YAML syntax error"),
    ]
    .into_iter()
    .enumerate()
    {
        lds.publish_policy(&broken);
        wait_lds_stat(&stack, "update_rejected", n as u64 + 1).await;
        assert_eq!(lds_stat(&stack, "update_success").await, 2);
        assert_decides(&stack, P2_DECIDES, &format!("after an update with {what}")).await;
        let refused = format!(
            "plugin configuration refused: invalid policy in plugin configuration at {}: ",
            position(&broken)
        );
        assert!(
            stack.envoy_log().contains(&refused),
            "{what}: Envoy's log lacks {refused:?}\n{}",
            stack.context()
        );
    }
    assert!(stack.envoy_running(), "{}", stack.context());

    lds.publish_policy(&p1());
    wait_lds_stat(&stack, "update_success", 3).await;
    wait_decides(&stack, P1_DECIDES, "after the listener update back to p1").await;
}

sluice_e2e::scenarios! {
    modes: [ext_proc => ExtProc, ext_proc_unix => ExtProcUnix],
    tests: [
        file_change_reloads_and_broken_files_keep_the_old_policy,
        sighup_reloads,
        open_stream_keeps_its_policy,
    ]
}

sluice_e2e::scenarios! {
    modes: [wasm => Wasm],
    tests: [listener_update_reloads_and_bad_update_keeps_the_old]
}
