//! Running one scenario per mode, and the assertions scenarios share.

use std::future::Future;
use std::time::Duration;

use crate::api::{ApiShape, Framing, Planted};
use crate::client::Response;
use crate::harness::Stack;
use crate::inspect;

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
