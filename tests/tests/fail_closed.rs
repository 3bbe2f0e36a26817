//! Fail-closed: when Sluice is gone, stopped, shut down or misconfigured, or the upstream or
//! the client goes away, nothing passes unscanned.
//!
//! ext_proc modes: `sluice serve` killed mid-stream (and restarted), down before the request,
//! stopped (SIGSTOP) until Envoy's message timeout, and shut down with SIGTERM while a stream is
//! open. These do not apply to wasm, whose filter runs inside Envoy; wasm instead gets a bad
//! plugin configuration, which Envoy must refuse, and VM traps provoked in the real module
//! built with the test-only `test-trap` feature. Both modes: the upstream resets mid-stream,
//! the client disconnects mid-stream, and an answer larger than every limit.
//! A repeated end-of-stream cannot be provoked through Envoy; it is sent to the real server
//! over gRPC in `ext-proc-server/tests/grpc_adapter.rs`.
//! Each scenario here harms its stack, so each starts its own.

use std::time::Duration;

use sluice_e2e::api::{self, ApiShape, Framing};
use sluice_e2e::client::{BodyEnd, Next, OpenResponse};
use sluice_e2e::harness::{HarnessError, Mode, Stack, StackOptions, trap_wasm_module};
use sluice_e2e::inspect;
use sluice_e2e::scenario::{api_request, assert_no_planted, own_stack, send};
use sluice_e2e::upstream::{Chunking, Script, ScriptHandle};

/// Byte offset just past the capture's event that carries `marker`.
fn cut_after(capture: &[u8], marker: &[u8]) -> usize {
    let at = capture
        .windows(marker.len())
        .position(|w| w == marker)
        .unwrap_or_else(|| panic!("marker not in capture"));
    let rest = capture.get(at..).unwrap_or_default();
    let end = rest.windows(2).position(|w| w == b"\n\n").unwrap_or(0);
    at + end + 2
}

/// Opens an OpenAI Chat stream whose upstream stops after the first words (before any
/// planted value), and waits until the upstream is paused there and the client has read
/// what Sluice let through of it (bounded; Sluice may hold it).
async fn open_paused_stream(stack: &Stack) -> (OpenResponse, ScriptHandle, usize) {
    let capture = ApiShape::OpenAiChat.capture();
    let cut = cut_after(capture, br#""content":"r ""#);
    let script = stack.mock().register(Script::default().pause_after(cut));
    let req = api_request(ApiShape::OpenAiChat, "hello", true).headers([script.header()]);
    let mut open = match stack.open(&req).await {
        Ok(o) => o,
        Err(e) => panic!("request failed: {e}\n{}", stack.context()),
    };
    assert_eq!(open.status, 200, "{}", stack.context());
    assert!(
        script.wait_paused(Duration::from_secs(20)).await,
        "upstream never reached its pause point\n{}",
        stack.context()
    );
    // Read until no more arrives for a short while: whatever Sluice releases of the first
    // part. The assertions below hold however much that is.
    while let Next::Data(_) = open.next_chunk(Duration::from_millis(500)).await {}
    (open, script, cut)
}

/// `body` holds only bytes the upstream wrote before the failure at `cut`.
fn only_early_bytes(capture: &[u8], body: &[u8], cut: usize) -> bool {
    body.len() <= cut && capture.starts_with(body)
}

/// The client saw a cut stream and nothing the upstream wrote after the failure.
fn assert_cut_without_late_bytes(stack: &Stack, resp: &sluice_e2e::client::Response, cut: usize) {
    let capture = ApiShape::OpenAiChat.capture();
    let body = resp.body();
    assert!(
        matches!(resp.end, BodyEnd::Cut(_)),
        "the stream ended {:?} instead of being cut\n{}",
        resp.end,
        stack.context()
    );
    assert!(
        only_early_bytes(capture, &body, cut),
        "the client got {} bytes that the upstream wrote after Sluice failed (cut at {cut})\n{}",
        body.len(),
        stack.context()
    );
    assert_no_planted(
        stack,
        "cut stream",
        Framing::Sse,
        &body,
        ApiShape::OpenAiChat.planted_in_capture(),
    );
}

async fn sluice_killed_mid_stream_cuts_the_stream(mode: Mode) {
    let stack = own_stack(mode, StackOptions::default()).await;
    let (open, script, cut) = open_paused_stream(&stack).await;
    stack.kill_sluice();
    script.release();
    let resp = open.collect(Duration::from_secs(20)).await;
    assert_cut_without_late_bytes(&stack, &resp, cut);
}

async fn sluice_down_before_request_gives_5xx_and_upstream_untouched(mode: Mode) {
    let stack = own_stack(mode, StackOptions::default()).await;
    stack.kill_sluice();
    for api in ApiShape::ALL {
        let resp = send(&stack, &api_request(api, "hello", true)).await;
        assert!(
            (500..600).contains(&resp.status),
            "{}: status {} with Sluice down\n{}",
            api.name(),
            resp.status,
            stack.context()
        );
    }
    assert_eq!(
        stack.mock().requests().len(),
        0,
        "the upstream got requests\n{}",
        stack.context()
    );
    assert_eq!(
        stack.mock().connections(),
        0,
        "the upstream was contacted\n{}",
        stack.context()
    );
}

fn short_timeout() -> StackOptions {
    StackOptions {
        timeout_ms: Some(500),
        ..StackOptions::default()
    }
}

async fn sluice_stopped_times_out_without_pass_through(mode: Mode) {
    let stack = own_stack(mode, short_timeout()).await;
    stack.stop_sluice();
    let script = stack.mock().register(Script::default());
    let req = api_request(ApiShape::Anthropic, "hello", true).headers([script.header()]);
    let outcome = stack.send(&req).await;
    stack.cont_sluice();
    // An `Err` is a reset before the head: nothing passed.
    if let Ok(resp) = outcome {
        assert!(
            (500..600).contains(&resp.status),
            "status {} while Sluice was stopped\n{}",
            resp.status,
            stack.context()
        );
        assert_no_planted(
            &stack,
            "stopped",
            Framing::Sse,
            &resp.body(),
            ApiShape::Anthropic.planted_in_capture(),
        );
    }
    assert!(
        stack.mock().requests_for(&script).is_empty(),
        "the request went upstream unscanned\n{}",
        stack.context()
    );

    // Once it runs again, Sluice serves new requests.
    let again = stack.mock().register(Script::deltas(api::CLEAN_DELTAS));
    let req = api_request(ApiShape::Anthropic, "hello", true).headers([again.header()]);
    let resp = send(&stack, &req).await;
    assert_eq!(resp.status, 200, "after SIGCONT\n{}", stack.context());
    assert_eq!(
        resp.end,
        BodyEnd::Complete,
        "after SIGCONT\n{}",
        stack.context()
    );
}

async fn sluice_stopped_mid_stream_cuts_the_stream(mode: Mode) {
    let stack = own_stack(mode, short_timeout()).await;
    let (open, script, cut) = open_paused_stream(&stack).await;
    stack.stop_sluice();
    script.release();
    let resp = open.collect(Duration::from_secs(20)).await;
    stack.cont_sluice();
    assert_cut_without_late_bytes(&stack, &resp, cut);
}

/// A valid policy whose one distinctive number lets the test break it after the bootstrap
/// is generated, so Envoy itself (not the generator) meets the bad configuration.
const MARKED_POLICY: &str = r#"{"version": 1, "limits": {"holdback_bytes": 4099}}"#;

/// A policy the engine rejects (a zero limit) must stop the stack from serving: `sluice
/// serve` exits (ext_proc), or Envoy refuses the plugin configuration (wasm); in either
/// case nothing reaches the upstream.
async fn bad_policy_is_refused(mode: Mode) {
    // The same policy unbroken starts fine, so a failure below is the broken value's doing.
    let good = own_stack(
        mode,
        StackOptions {
            policy_json: Some(MARKED_POLICY.to_owned()),
            ..StackOptions::default()
        },
    )
    .await;
    drop(good);

    let mut options = StackOptions {
        policy_json: Some(MARKED_POLICY.replace("4099", "0")),
        ready_timeout: Duration::from_secs(15),
        ..StackOptions::default()
    };
    if mode == Mode::Wasm {
        options.policy_json = Some(MARKED_POLICY.to_owned());
        options.patch_bootstrap = Some(std::sync::Arc::new(|yaml: &str| {
            // The key and the value together: a port of the stack may hold the digits too.
            let marker = r#""holdback_bytes":4099"#;
            match yaml.matches(marker).count() {
                1 => Ok(yaml.replace(marker, r#""holdback_bytes":0"#)),
                n => Err(format!(
                    "the policy marker appears {n} times in the bootstrap, expected once"
                )),
            }
        }));
    }
    match Stack::start(mode, options).await {
        Err(HarnessError::SluiceExited { .. }) if mode != Mode::Wasm => {}
        Err(HarnessError::EnvoyExited { .. } | HarnessError::EnvoyNotReady { .. })
            if mode == Mode::Wasm => {}
        Err(e) => panic!("unexpected failure: {e}"),
        Ok(stack) => {
            // Envoy came up: then no request may pass the broken filter.
            let resp = stack
                .send(&api_request(ApiShape::OpenAiChat, "hello", true))
                .await;
            if let Ok(resp) = resp {
                assert!(
                    resp.status >= 500,
                    "a stack with a broken policy answered {}\n{}",
                    resp.status,
                    stack.context()
                );
            }
            assert_eq!(stack.mock().connections(), 0, "{}", stack.context());
        }
    }
}

/// A clean streamed request that must come back whole (status 200, body complete).
async fn assert_serves_clean_stream(stack: &Stack, when: &str) {
    let script = stack.mock().register(Script::deltas(api::CLEAN_DELTAS));
    let req = api_request(ApiShape::OpenAiChat, "hello", true).headers([script.header()]);
    let resp = send(stack, &req).await;
    assert_eq!(resp.status, 200, "{when}\n{}", stack.context());
    assert_eq!(resp.end, BodyEnd::Complete, "{when}\n{}", stack.context());
    assert!(
        resp.body().ends_with(b"data: [DONE]\n\n"),
        "{when}: the stream did not finish\n{}",
        stack.context()
    );
}

/// Killed mid-stream, then started again: the open stream is cut, requests while it is down
/// get a 5xx without reaching the upstream, and once it is back (its readiness line printed)
/// requests pass again.
async fn sluice_killed_then_restarted(mode: Mode) {
    let stack = own_stack(mode, StackOptions::default()).await;
    let (open, script, cut) = open_paused_stream(&stack).await;
    stack.kill_sluice();
    script.release();
    let resp = open.collect(Duration::from_secs(20)).await;
    assert_cut_without_late_bytes(&stack, &resp, cut);

    let down = stack.mock().register(Script::default());
    let req = api_request(ApiShape::OpenAiChat, "hello", true).headers([down.header()]);
    let resp = send(&stack, &req).await;
    assert!(
        (500..600).contains(&resp.status),
        "status {} while Sluice is down\n{}",
        resp.status,
        stack.context()
    );
    assert!(
        stack.mock().requests_for(&down).is_empty(),
        "a request reached the upstream while Sluice was down\n{}",
        stack.context()
    );

    if let Err(e) = stack.restart_sluice().await {
        panic!("sluice did not start again: {e}\n{}", stack.context());
    }
    assert_serves_clean_stream(&stack, "after the restart").await;
    assert_serves_clean_stream(&stack, "second request after the restart").await;
}

/// SIGTERM while a stream is open: the open stream runs to its end (masked, finished), new
/// requests are refused with a 5xx without reaching the upstream, and the process exits
/// cleanly within its grace period once the stream is done.
async fn sigterm_drains_open_streams_and_refuses_new_ones(mode: Mode) {
    let stack = own_stack(mode, StackOptions::default()).await;
    let (open, script, _) = open_paused_stream(&stack).await;
    stack.term_sluice();
    let started = std::time::Instant::now();
    while !stack.sluice_log().contains("shutting down") {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no shutdown line after SIGTERM\n{}",
            stack.context()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let refused = stack.mock().register(Script::default());
    let req = api_request(ApiShape::OpenAiChat, "hello", true).headers([refused.header()]);
    if let Ok(resp) = stack.send(&req).await {
        assert!(
            (500..600).contains(&resp.status),
            "a new request during shutdown got {}\n{}",
            resp.status,
            stack.context()
        );
    }
    assert!(
        stack.mock().requests_for(&refused).is_empty(),
        "a new request reached the upstream during shutdown\n{}",
        stack.context()
    );

    script.release();
    let resp = open.collect(Duration::from_secs(20)).await;
    assert_eq!(
        resp.end,
        BodyEnd::Complete,
        "the open stream was not drained\n{}",
        stack.context()
    );
    let body = resp.body();
    assert!(
        body.ends_with(b"data: [DONE]\n\n"),
        "the drained stream did not finish\n{}",
        stack.context()
    );
    assert_no_planted(
        &stack,
        "drained stream",
        Framing::Sse,
        &body,
        &ApiShape::OpenAiChat.masked_by_default_in_stream(),
    );
    assert!(
        inspect::contains(&body, b"[REDACTED"),
        "{}",
        stack.context()
    );
    match stack.sluice_exit(Duration::from_secs(25)).await {
        Some(status) => assert!(status.success(), "exit {status}\n{}", stack.context()),
        None => panic!(
            "sluice still running after the grace period\n{}",
            stack.context()
        ),
    }
}

/// The deltas of an answer whose AWS key id is cut by an upstream reset: the stream carries
/// the key's first characters, then the connection drops.
const RESET_DELTAS: &[&str] = &[
    "Sure",
    ", here",
    " is",
    " the",
    " key",
    ": ",
    "AKIAIX6E",
    "A6QOM66ZJOJY",
    " and",
    " more",
];

/// The upstream resets the connection after a partial secret: the client sees a cut (or an
/// error), never the partial secret that was held, and no stream that looks finished.
async fn upstream_reset_mid_stream_leaks_nothing_held(mode: Mode) {
    let stack = own_stack(mode, StackOptions::default()).await;
    let deltas: Vec<String> = RESET_DELTAS.iter().map(|d| (*d).to_owned()).collect();
    let rendered = api::render_stream(ApiShape::OpenAiChat, &deltas);
    let cut = cut_after(&rendered, b"AKIAIX6E");
    let script = stack.mock().register(
        Script::deltas(RESET_DELTAS)
            .gap(Duration::from_millis(2))
            .reset_after(cut),
    );
    let req = api_request(ApiShape::OpenAiChat, "hello", true).headers([script.header()]);
    let Ok(resp) = stack.send(&req).await else {
        return; // Reset before the head: nothing passed.
    };
    let body = resp.body();
    assert!(
        !inspect::contains(&body, b"AKIAIX6E"),
        "the partial key held when the upstream reset reached the client\n{}",
        stack.context()
    );
    assert!(
        !body.ends_with(b"data: [DONE]\n\n"),
        "a reset stream looks finished to the client\n{}",
        stack.context()
    );
    if resp.end == BodyEnd::Complete {
        assert!(
            inspect::contains(&body, b"error"),
            "the stream ended cleanly without an error after the upstream reset\n{}",
            stack.context()
        );
    }
}

/// The client goes away mid-stream: Sluice ends the exchange (its audit record, written when
/// the exchange is freed, appears marked incomplete) and a new request is served.
async fn client_disconnect_frees_the_exchange(mode: Mode) {
    let stack = own_stack(mode, StackOptions::default()).await;
    let (open, script, _) = open_paused_stream(&stack).await;
    let request_id = stack
        .mock()
        .requests_for(&script)
        .first()
        .and_then(|r| r.header("x-request-id").map(str::to_owned))
        .unwrap_or_else(|| panic!("no x-request-id upstream\n{}", stack.context()));
    drop(open);
    let started = std::time::Instant::now();
    loop {
        let logs = format!("{}\n{}", stack.sluice_log(), stack.envoy_log());
        let freed = logs
            .lines()
            .any(|l| l.contains(&request_id) && l.contains(r#""incomplete":true"#));
        if freed {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no audit record of the abandoned exchange {request_id}\n{}",
            stack.context()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    script.release();
    assert_serves_clean_stream(&stack, "after a client disconnect").await;
}

/// Limits far below the answers sent, so every limit is exceeded.
const SMALL_LIMITS: &str =
    r#"{"version": 1, "limits": {"response_buffer_bytes": 8192, "holdback_bytes": 1024}}"#;

/// Text beyond every limit: if it reached the client, bytes passed that were never scanned
/// as a whole (or the answer was not stopped).
const TAIL_MARKER: &str = "tail-beyond-every-limit";

/// An answer larger than every limit — a non-streamed JSON answer and a stream with one huge
/// event — ends in an error or a reset; the planted key and the text past the limit never
/// reach the client.
async fn answer_over_every_limit_is_stopped(mode: Mode) {
    let stack = own_stack(
        mode,
        StackOptions {
            policy_json: Some(SMALL_LIMITS.to_owned()),
            ..StackOptions::default()
        },
    )
    .await;
    let filler = "the river runs past old mills and quiet fields ".repeat(1400);
    let text = format!("{filler}{} {TAIL_MARKER}", api::AWS_ACCESS_KEY_ID.value);
    let whole = serde_json::json!({
        "id": "chatcmpl-big", "object": "chat.completion", "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]
    })
    .to_string();
    let event = serde_json::json!({
        "id": "chatcmpl-big", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]
    });
    let stream = format!("data: {event}\n\ndata: [DONE]\n\n");
    for (what, body, content_type, streamed) in [
        ("non-streamed answer", whole, "application/json", false),
        ("one huge event", stream, "text/event-stream", true),
    ] {
        let script = stack
            .mock()
            .register(Script::raw(body.into_bytes(), content_type).chunking(Chunking::Random(9)));
        let req = api_request(ApiShape::OpenAiChat, "hello", streamed).headers([script.header()]);
        let Ok(resp) = stack.send(&req).await else {
            continue; // Reset before the head: nothing passed.
        };
        let received = resp.body();
        assert_no_planted(
            &stack,
            what,
            Framing::Json,
            &received,
            &[api::AWS_ACCESS_KEY_ID],
        );
        assert!(
            !inspect::contains(&received, TAIL_MARKER.as_bytes()),
            "{what}: text past every limit reached the client (status {}, end {:?})\n{}",
            resp.status,
            resp.end,
            stack.context()
        );
        let stopped = resp.status >= 400
            || matches!(resp.end, BodyEnd::Cut(_))
            || inspect::contains(&received, b"error");
        assert!(
            stopped,
            "{what}: status {}, end {:?}, and no error: the answer was neither delivered nor stopped clearly\n{}",
            resp.status,
            resp.end,
            stack.context()
        );
    }
}

/// Traps the real module (built with `test-trap`) in `callback` and checks Envoy's
/// FAIL_CLOSED outcome: a 5xx (or a reset) with no upstream byte, and no request of the
/// trapped stream reaching the upstream when the trap is on the request path.
async fn wasm_trap_fails_closed(callback: &str) {
    let module = match trap_wasm_module() {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    let stack = own_stack(
        Mode::Wasm,
        StackOptions {
            wasm_module: Some(module),
            ..StackOptions::default()
        },
    )
    .await;
    let script = stack.mock().register(Script::default());
    let req = api_request(ApiShape::OpenAiChat, "hello", true)
        .headers([script.header()])
        .header("x-sluice-test-trap", callback);
    let how = format!("trap in {callback}");
    match stack.send(&req).await {
        Err(_) => {} // Reset before the head.
        Ok(resp) => {
            let body = resp.body();
            let upstream_bytes = inspect::contains(&body, b"chatcmpl");
            assert!(
                !upstream_bytes,
                "{how}: upstream bytes reached the client (status {}, end {:?})\n{}",
                resp.status,
                resp.end,
                stack.context()
            );
            assert!(
                resp.status >= 500 || matches!(resp.end, BodyEnd::Cut(_)),
                "{how}: status {} end {:?}\n{}",
                resp.status,
                resp.end,
                stack.context()
            );
        }
    }
    if callback.starts_with("request") {
        assert!(
            stack.mock().requests_for(&script).is_empty(),
            "{how}: the request reached the upstream\n{}",
            stack.context()
        );
    }
    // The failed VM stays failed on this worker: later requests are refused too, never
    // passed uninspected.
    let after = stack.mock().register(Script::default());
    let req = api_request(ApiShape::OpenAiChat, "hello", true).headers([after.header()]);
    if let Ok(resp) = stack.send(&req).await {
        assert!(
            resp.status >= 500 || matches!(resp.end, BodyEnd::Cut(_)),
            "{how}: a later request got {} through a trapped VM\n{}",
            resp.status,
            stack.context()
        );
        assert_no_planted(
            &stack,
            "after a trap",
            Framing::Sse,
            &resp.body(),
            ApiShape::OpenAiChat.planted_in_capture(),
        );
    }
}

mod wasm_trap {
    #[test]
    fn in_request_headers() {
        sluice_e2e::scenario::run(super::wasm_trap_fails_closed("request-headers"));
    }
    #[test]
    fn in_request_body() {
        sluice_e2e::scenario::run(super::wasm_trap_fails_closed("request-body"));
    }
    #[test]
    fn in_response_headers() {
        sluice_e2e::scenario::run(super::wasm_trap_fails_closed("response-headers"));
    }
    #[test]
    fn in_response_body() {
        sluice_e2e::scenario::run(super::wasm_trap_fails_closed("response-body"));
    }
}

/// The cut check accepts the early part and rejects any byte written after the cut.
#[test]
fn cut_check_rejects_late_bytes() {
    let capture = ApiShape::OpenAiChat.capture();
    let cut = cut_after(capture, br#""content":"r ""#);
    assert!(cut > 0 && cut < capture.len());
    assert!(only_early_bytes(
        capture,
        capture.get(..cut).unwrap_or_default(),
        cut
    ));
    assert!(only_early_bytes(capture, b"", cut));
    assert!(!only_early_bytes(
        capture,
        capture.get(..=cut).unwrap_or_default(),
        cut
    ));
    assert!(!only_early_bytes(capture, capture, cut));
}

sluice_e2e::scenarios! {
    modes: [ext_proc => ExtProc, ext_proc_unix => ExtProcUnix],
    tests: [
        sluice_killed_mid_stream_cuts_the_stream,
        sluice_down_before_request_gives_5xx_and_upstream_untouched,
        sluice_stopped_times_out_without_pass_through,
        sluice_stopped_mid_stream_cuts_the_stream,
        sluice_killed_then_restarted,
        sigterm_drains_open_streams_and_refuses_new_ones,
    ]
}

sluice_e2e::scenarios! {
    modes: [ext_proc_peer => ExtProc, wasm_peer => Wasm],
    tests: [
        upstream_reset_mid_stream_leaks_nothing_held,
        client_disconnect_frees_the_exchange,
        answer_over_every_limit_is_stopped,
    ]
}

sluice_e2e::scenarios! {
    modes: [ext_proc_policy => ExtProc, wasm => Wasm],
    tests: [bad_policy_is_refused]
}
