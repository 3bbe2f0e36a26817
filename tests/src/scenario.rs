//! Running one scenario per mode, and the assertions scenarios share.

use std::future::Future;
use std::time::Duration;

use crate::api::{ApiShape, Framing, Planted};
use crate::client::Response;
use crate::harness::Stack;
use crate::inspect;
use crate::upstream::ScriptHandle;

/// Upper bound for one scenario, stack start included.
pub const SCENARIO_DEADLINE: Duration = Duration::from_secs(180);

/// Runs an async scenario on its own runtime, bounded by [`SCENARIO_DEADLINE`].
pub fn run<F: Future<Output = ()>>(scenario: F) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot build a runtime: {e}"));
    rt.block_on(async {
        if tokio::time::timeout(SCENARIO_DEADLINE, scenario)
            .await
            .is_err()
        {
            panic!("scenario did not finish within {SCENARIO_DEADLINE:?}");
        }
    });
}

/// Declares each scenario once per mode: `scenarios! { modes: [ext_proc => ExtProc],
/// tests: [a, b] }` makes tests `ext_proc::a` and `ext_proc::b`, calling `a(Mode::ExtProc)`.
#[macro_export]
macro_rules! scenarios {
    (modes: [$($module:ident => $mode:ident),+ $(,)?], tests: $tests:tt $(,)?) => {
        $( $crate::scenarios!(@mode $module, $mode, $tests); )+
    };
    (@mode $module:ident, $mode:ident, [$($test:ident),+ $(,)?]) => {
        mod $module {
            $(
                #[test]
                fn $test() {
                    $crate::scenario::run(super::$test($crate::harness::Mode::$mode));
                }
            )+
        }
    };
}

/// Panics (without printing any planted value) if `body` carries one of `planted`.
pub fn assert_no_planted(
    stack: &Stack,
    what: &str,
    framing: Framing,
    body: &[u8],
    planted: &[Planted],
) {
    let leaks = inspect::find_planted(framing, body, planted);
    assert!(
        leaks.is_empty(),
        "{what}: {}\n{}",
        leaks
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
        stack.context()
    );
}

/// The response's JSON documents, panicking with the reason when it does not parse as `api`.
pub fn documents(
    stack: &Stack,
    what: &str,
    framing: Framing,
    resp: &Response,
    planted: &[Planted],
) -> Vec<serde_json::Value> {
    match inspect::json_documents(framing, &resp.body(), false) {
        Ok(d) => d,
        Err(e) => panic!(
            "{what}: body does not parse ({e}); status {}, end {:?}, body {:?}\n{}",
            resp.status,
            resp.end,
            inspect::scrub(&resp.text(), planted),
            stack.context()
        ),
    }
}

/// The default prompt of scenarios that need one: benign.
pub fn benign_prompt(api: ApiShape) -> String {
    format!("Say hello in the style of {}.", api.name())
}

/// The `injection=N` count in an `x-sluice-decision` header
/// (`allow; credential=0; pii=0; injection=1`).
pub fn injection_count(decision: &str) -> Option<u32> {
    decision
        .split(';')
        .filter_map(|part| part.trim().strip_prefix("injection="))
        .find_map(|n| n.trim().parse().ok())
}

/// Standard request for `api` with the given prompt, streaming or not.
pub fn api_request(api: ApiShape, prompt: &str, stream: bool) -> crate::client::Request {
    crate::client::Request::post(api.path(stream), api.request_body(prompt, stream))
        .headers(api.request_headers(stream))
}

/// Starts a stack or fails the test with the harness's message (which names what to build).
pub async fn shared_stack(mode: crate::harness::Mode) -> std::sync::Arc<Stack> {
    match Stack::shared(mode).await {
        Ok(s) => s,
        Err(e) => panic!("cannot start the {mode:?} stack: {e}"),
    }
}

pub async fn own_stack(mode: crate::harness::Mode, options: crate::harness::StackOptions) -> Stack {
    match Stack::start(mode, options).await {
        Ok(s) => s,
        Err(e) => panic!("cannot start the {mode:?} stack: {e}"),
    }
}

/// Sends through the stack or fails with the logs.
pub async fn send(stack: &Stack, req: &crate::client::Request) -> Response {
    match stack.send(req).await {
        Ok(r) => r,
        Err(e) => panic!("request {} failed: {e}\n{}", req.path, stack.context()),
    }
}

/// The request the upstream received for `script`, exactly one, or a failure with the logs.
pub fn received_once(
    stack: &Stack,
    what: &str,
    script: &ScriptHandle,
) -> crate::upstream::RecordedRequest {
    let mut received = stack.mock().requests_for(script);
    assert_eq!(
        received.len(),
        1,
        "{what}: the upstream received {} requests, expected one\n{}",
        received.len(),
        stack.context()
    );
    received.remove(0)
}

/// A request with nothing to mask reached the upstream exactly as the client sent it: the
/// same method, path and body bytes, and a `content-length` (when present) that matches.
pub fn assert_request_intact(
    stack: &Stack,
    what: &str,
    sent: &crate::client::Request,
    received: &crate::upstream::RecordedRequest,
) {
    assert_eq!(received.method, sent.method, "{what}: method changed");
    assert_eq!(received.path, sent.path, "{what}: path changed");
    assert_length_matches(stack, what, received);
    if received.body != sent.body {
        let at = received
            .body
            .iter()
            .zip(&sent.body)
            .position(|(a, b)| a != b)
            .unwrap_or(received.body.len().min(sent.body.len()));
        panic!(
            "{what}: the upstream received {} body bytes, the client sent {}; first difference at byte {at}: received {:?}\n{}",
            received.body.len(),
            sent.body.len(),
            String::from_utf8_lossy(
                received
                    .body
                    .get(at..(at + 80).min(received.body.len()))
                    .unwrap_or_default()
            ),
            stack.context()
        );
    }
}

/// A request carrying `planted` values reached the upstream as valid JSON that is the
/// client's body byte for byte except that each planted value is replaced by a mask.
pub fn assert_request_masked(
    stack: &Stack,
    what: &str,
    sent: &crate::client::Request,
    received: &crate::upstream::RecordedRequest,
    planted: &[Planted],
) {
    assert_eq!(received.path, sent.path, "{what}: path changed");
    assert_length_matches(stack, what, received);
    assert_no_planted(stack, what, Framing::Json, &received.body, planted);
    assert!(
        serde_json::from_slice::<serde_json::Value>(&received.body).is_ok(),
        "{what}: the forwarded request is not JSON: {:?}\n{}",
        inspect::scrub(&String::from_utf8_lossy(&received.body), planted),
        stack.context()
    );
    let original = String::from_utf8_lossy(&sent.body);
    let forwarded = String::from_utf8_lossy(&received.body);
    if let Err(e) = inspect::check_masked_text(&original, planted, &forwarded) {
        panic!("{what}: {e}\n{}", stack.context());
    }
    assert!(
        inspect::contains(&received.body, b"[REDACTED"),
        "{what}: forwarded without a mask where the planted value was\n{}",
        stack.context()
    );
}

fn assert_length_matches(stack: &Stack, what: &str, received: &crate::upstream::RecordedRequest) {
    if let Some(len) = received.header("content-length") {
        assert_eq!(
            len.trim(),
            received.body.len().to_string(),
            "{what}: content-length does not match the body the upstream received\n{}",
            stack.context()
        );
    }
}

/// Whether the request the upstream received asks for a streamed answer, the way `api`
/// says so (a body flag, the Gemini path, or the MCP `accept` header).
pub fn asks_for_stream(api: ApiShape, received: &crate::upstream::RecordedRequest) -> bool {
    match api {
        ApiShape::Gemini => received.path.contains(":streamGenerateContent"),
        ApiShape::Mcp => received
            .header("accept")
            .is_some_and(|a| a.contains("text/event-stream")),
        _ => {
            let flag = serde_json::from_slice::<serde_json::Value>(&received.body)
                .ok()
                .and_then(|v| v.get("stream").and_then(serde_json::Value::as_bool));
            // Ollama streams unless told not to; the other APIs only when told to.
            if api == ApiShape::Ollama {
                flag != Some(false)
            } else {
                flag == Some(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn injection_count_reads_the_decision_header() {
        assert_eq!(
            super::injection_count("flag; credential=0; pii=0; injection=2"),
            Some(2)
        );
        assert_eq!(super::injection_count("block; reason=x"), None);
    }
}
