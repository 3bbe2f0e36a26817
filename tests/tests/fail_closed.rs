//! Fail-closed: when Sluice is gone, stopped or misconfigured, nothing passes unscanned.
//!
//! ext_proc modes: `sluice serve` killed mid-stream, down before the request, and stopped
//! (SIGSTOP) until Envoy's message timeout. These do not apply to wasm, whose filter runs
//! inside Envoy and cannot be killed or stopped apart from it; wasm instead gets a bad plugin
//! configuration, which Envoy must refuse. A trapped VM is not provoked: the filter offers no
//! input that traps it on purpose (that would be a bug to fix, not a knob to test), and the
//! FAIL_CLOSED `failure_policy` that governs it is part of the generated bootstrap.
//! Each scenario here harms its stack, so each starts its own.

use std::time::Duration;

use sluice_e2e::api::{self, ApiShape, Framing};
use sluice_e2e::client::{BodyEnd, Next, OpenResponse};
use sluice_e2e::harness::{HarnessError, Mode, Stack, StackOptions};
use sluice_e2e::scenario::{api_request, assert_no_planted, own_stack, send};
use sluice_e2e::upstream::{Script, ScriptHandle};

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
            match yaml.matches("4099").count() {
                1 => Ok(yaml.replace("4099", "0")),
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
    ]
}

sluice_e2e::scenarios! {
    modes: [ext_proc_policy => ExtProc, wasm => Wasm],
    tests: [bad_policy_is_refused]
}
