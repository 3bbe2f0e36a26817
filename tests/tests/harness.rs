//! The harness itself: the mock upstream answers every API shape, and a plain Envoy (no
//! Sluice) carries its streams byte-for-byte. Needs only Envoy, so it runs before Sluice.

use std::time::Duration;

use sluice_e2e::api::{self, ApiShape};
use sluice_e2e::client::{self, BodyEnd, Next, Request};
use sluice_e2e::harness::{Mode, Stack, StackOptions};
use sluice_e2e::inspect;
use sluice_e2e::scenario::run;
use sluice_e2e::upstream::{Chunking, MockUpstream, Script};

fn stream_request(api: ApiShape) -> Request {
    Request::post(api.path(true), api.request_body("hello", true))
        .headers(api.request_headers(true))
}

#[test]
fn mock_answers_every_api_with_its_capture() {
    run(async {
        let mock = MockUpstream::start().unwrap_or_else(|e| panic!("{e}"));
        for api in ApiShape::ALL {
            let resp = client::send(mock.addr(), &stream_request(api), Duration::from_secs(10))
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", api.name()));
            assert_eq!(resp.status, 200, "{}", api.name());
            assert_eq!(resp.end, BodyEnd::Complete, "{}", api.name());
            assert_eq!(
                resp.body(),
                api.capture(),
                "{}: body differs from the capture",
                api.name()
            );
            assert_eq!(
                resp.header("content-type"),
                Some(api.stream_content_type()),
                "{}",
                api.name()
            );

            let whole = Request::post(api.path(false), api.request_body("hello", false))
                .headers(api.request_headers(false));
            let resp = client::send(mock.addr(), &whole, Duration::from_secs(10))
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", api.name()));
            assert_eq!(
                resp.header("content-type"),
                Some("application/json"),
                "{}",
                api.name()
            );
            let docs = inspect::json_documents(api::Framing::Json, &resp.body(), false)
                .unwrap_or_else(|e| panic!("{}: {e}", api.name()));
            assert_eq!(docs.len(), 1);
        }
        let recorded = mock.requests();
        assert_eq!(recorded.len(), 2 * ApiShape::ALL.len());
        assert!(
            recorded
                .iter()
                .all(|r| r.method == "POST" && !r.body.is_empty())
        );
        assert!(mock.connections() >= 1);
    });
}

#[test]
fn mock_mcp_answers_json_or_sse_by_accept_header() {
    run(async {
        let mock = MockUpstream::start().unwrap_or_else(|e| panic!("{e}"));
        let list = Request::post("/mcp", r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        let resp = client::send(mock.addr(), &list, Duration::from_secs(10))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resp.body(), api::captures::MCP_TOOLS_LIST);
        let call = Request::post("/mcp", api::captures::MCP_TOOLS_CALL_REQUEST)
            .header("content-type", "application/json")
            .header("accept", "application/json");
        let resp = client::send(mock.addr(), &call, Duration::from_secs(10))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resp.header("content-type"), Some("application/json"));
        let v: serde_json::Value = serde_json::from_slice(&resp.body()).unwrap_or_default();
        assert_eq!(
            v.pointer("/result/isError"),
            Some(&serde_json::Value::Bool(false))
        );
    });
}

#[test]
fn mock_renders_scripted_deltas_in_each_api() {
    run(async {
        let mock = MockUpstream::start().unwrap_or_else(|e| panic!("{e}"));
        let script = mock.register(Script::deltas(api::CLEAN_DELTAS).chunking(Chunking::Random(9)));
        for api in ApiShape::ALL {
            let req = stream_request(api).headers([script.header()]);
            let resp = client::send(mock.addr(), &req, Duration::from_secs(10))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let docs = inspect::json_documents(api.stream_framing(), &resp.body(), false)
                .unwrap_or_else(|e| panic!("{}: {e}", api.name()));
            assert_eq!(
                inspect::primary_text(api, &docs),
                api::CLEAN_DELTAS.concat(),
                "{}",
                api.name()
            );
        }
        assert_eq!(mock.requests_for(&script).len(), ApiShape::ALL.len());
    });
}

#[test]
fn plain_envoy_carries_every_capture_byte_for_byte() {
    run(async {
        let stack = Stack::start(Mode::Plain, StackOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for chunking in [Chunking::Events, Chunking::Random(42), Chunking::Whole] {
            let script = stack.mock().register(
                Script::default()
                    .chunking(chunking)
                    .gap(Duration::from_millis(1)),
            );
            for api in ApiShape::ALL {
                let req = stream_request(api).headers([script.header()]);
                let resp = stack
                    .send(&req)
                    .await
                    .unwrap_or_else(|e| panic!("{}: {e}\n{}", api.name(), stack.context()));
                assert_eq!(resp.status, 200, "{} {chunking:?}", api.name());
                assert_eq!(resp.end, BodyEnd::Complete, "{} {chunking:?}", api.name());
                assert!(
                    resp.body() == api.capture(),
                    "{} {chunking:?}: body changed in Envoy",
                    api.name()
                );
            }
        }
        let byte_script = stack
            .mock()
            .register(Script::default().chunking(Chunking::Bytes));
        let resp = stack
            .send(&stream_request(ApiShape::Anthropic).headers([byte_script.header()]))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(resp.body() == ApiShape::Anthropic.capture());
    });
}

#[test]
fn plain_envoy_passes_forced_gzip_as_it_is() {
    run(async {
        let stack = Stack::start(Mode::Plain, StackOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let script = stack.mock().register(Script::default().gzip(true));
        let resp = stack
            .send(&stream_request(ApiShape::OpenAiChat).headers([script.header()]))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resp.header("content-encoding"), Some("gzip"));
        assert!(inspect::gunzip_lenient(&resp.body()) == ApiShape::OpenAiChat.capture());
        // The leak search sees through gzip: without Sluice the planted values are there.
        let leaks = inspect::find_planted(
            api::Framing::Sse,
            &resp.body(),
            ApiShape::OpenAiChat.planted_in_capture(),
        );
        assert!(leaks.iter().any(|l| l.place.starts_with("gzip-decoded")));
    });
}

#[test]
fn pause_point_holds_the_rest_until_released() {
    run(async {
        let stack = Stack::start(Mode::Plain, StackOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let capture = ApiShape::Ollama.capture();
        let cut = 700;
        let script = stack.mock().register(Script::default().pause_after(cut));
        let mut open = stack
            .open(&stream_request(ApiShape::Ollama).headers([script.header()]))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            script.wait_paused(Duration::from_secs(10)).await,
            "mock never reached its pause point"
        );
        while open.received().len() < cut {
            match open.next_chunk(Duration::from_secs(10)).await {
                Next::Data(_) => {}
                Next::End(end) => panic!("stream ended before the pause point: {end:?}"),
            }
        }
        assert!(open.received() == capture.get(..cut).unwrap_or_default());
        script.release();
        let resp = open.collect(Duration::from_secs(10)).await;
        assert_eq!(resp.end, BodyEnd::Complete);
        assert!(resp.body() == capture);
    });
}

#[test]
fn dropping_a_stack_ends_envoy() {
    run(async {
        let stack = Stack::start(Mode::Plain, StackOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let pid = nix::unistd::Pid::from_raw(i32::try_from(stack.envoy_pid()).unwrap_or(i32::MAX));
        assert!(nix::sys::signal::kill(pid, None).is_ok());
        drop(stack);
        assert_eq!(
            nix::sys::signal::kill(pid, None),
            Err(nix::errno::Errno::ESRCH)
        );
    });
}

#[test]
fn mock_upstream_binary_reports_its_port() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sluice-mock-upstream"))
        .args(["--listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut line = String::new();
    if let Some(stderr) = child.stderr.take() {
        let _ = std::io::BufReader::new(stderr).read_line(&mut line);
    }
    let addr: Option<std::net::SocketAddr> =
        line.trim().rsplit(' ').next().and_then(|a| a.parse().ok());
    let result = addr.map(|addr| {
        run(async move {
            let resp = client::send(
                addr,
                &stream_request(ApiShape::Gemini),
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            assert!(resp.body() == ApiShape::Gemini.capture());
        })
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(result.is_some(), "no address in {line:?}");
}
