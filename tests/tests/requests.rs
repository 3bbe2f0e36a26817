//! What reaches the upstream, what Sluice reports, and compressed answers, in every mode.

use sluice_e2e::api::{self, ApiShape, Framing, Planted};
use sluice_e2e::client::Delivery;
use sluice_e2e::harness::Mode;
use sluice_e2e::inspect;
use sluice_e2e::scenario::{
    api_request, asks_for_stream, assert_no_planted, assert_request_intact, assert_request_masked,
    benign_prompt, injection_count, received_once, send, shared_stack,
};
use sluice_e2e::upstream::Script;

const PROMPT_PLANTED: [Planted; 2] = [api::PROMPT_AWS_KEY_ID, api::PROMPT_AWS_SECRET];

fn prompt_with_credentials() -> String {
    format!(
        "Why does this config fail?\n[default]\naws_access_key_id = {}\naws_secret_access_key = {}\nregion = eu-west-1\n",
        api::PROMPT_AWS_KEY_ID.value,
        api::PROMPT_AWS_SECRET.value
    )
}

/// A credential in the prompt never reaches the upstream: the request is either forwarded
/// masked (valid JSON, the client's bytes with only the secrets replaced, right length) or
/// refused before the upstream. Tried with every way a client hands Envoy the body.
async fn prompt_credential_never_reaches_upstream(mode: Mode) {
    let stack = shared_stack(mode).await;
    for api in ApiShape::ALL {
        for stream in [true, false] {
            for delivery in Delivery::ALL {
                let how = format!("{} stream={stream} {delivery:?}", api.name());
                let script = stack.mock().register(Script::default());
                let mut req = api_request(api, &prompt_with_credentials(), stream)
                    .headers([script.header()])
                    .delivery(delivery);
                if api == ApiShape::Mcp {
                    req.body = api::captures::MCP_TOOLS_CALL_REQUEST.to_vec();
                }
                let resp = send(&stack, &req).await;
                let received = stack.mock().requests_for(&script);
                if received.is_empty() {
                    assert!(
                        (400..500).contains(&resp.status),
                        "{how}: nothing reached the upstream but the client got {}\n{}",
                        resp.status,
                        stack.context()
                    );
                    continue;
                }
                let r = received_once(&stack, &how, &script);
                assert_request_masked(&stack, &how, &req, &r, &PROMPT_PLANTED);
                assert_eq!(resp.status, 200, "{how}\n{}", stack.context());
            }
        }
    }
}

/// A request with nothing to mask reaches the upstream byte for byte, with a matching
/// `content-length` when it has one, whatever the API and however the client delivered the
/// body; a streamed request still asks for a stream upstream and gets one back.
async fn clean_request_arrives_intact(mode: Mode) {
    let stack = shared_stack(mode).await;
    for api in ApiShape::ALL {
        for stream in [true, false] {
            for delivery in Delivery::ALL {
                let how = format!("{} stream={stream} {delivery:?}", api.name());
                let script = stack.mock().register(Script::deltas(api::CLEAN_DELTAS));
                let prompt = format!(
                    "{} Here is a longer passage so that the body spans several pieces: {}",
                    benign_prompt(api),
                    "the river runs past old mills and quiet fields. ".repeat(8)
                );
                let req = api_request(api, &prompt, stream)
                    .headers([script.header()])
                    .delivery(delivery);
                let resp = send(&stack, &req).await;
                assert_eq!(resp.status, 200, "{how}\n{}", stack.context());
                let r = received_once(&stack, &how, &script);
                assert_request_intact(&stack, &how, &req, &r);
                assert_eq!(
                    asks_for_stream(api, &r),
                    stream,
                    "{how}: the upstream request does not ask for what the client asked\n{}",
                    stack.context()
                );
                let streamed = resp.header("content-type").is_some_and(|t| {
                    t.contains("text/event-stream") || t.contains("application/x-ndjson")
                });
                if api != ApiShape::Mcp {
                    assert_eq!(
                        streamed,
                        stream,
                        "{how}: answer content type {:?}\n{}",
                        resp.header("content-type"),
                        stack.context()
                    );
                }
            }
        }
    }
}

/// An empty POST body stays empty (the upstream's own 400 comes back), and the upstream
/// never receives bytes the client did not send.
async fn empty_body_stays_empty(mode: Mode) {
    let stack = shared_stack(mode).await;
    for delivery in [Delivery::Whole, Delivery::Chunked, Delivery::Http2] {
        let how = format!("empty body {delivery:?}");
        let script = stack.mock().register(Script::default());
        let mut req = api_request(ApiShape::OpenAiChat, "", true)
            .headers([script.header()])
            .delivery(delivery);
        req.body.clear();
        let resp = send(&stack, &req).await;
        let received = stack.mock().requests_for(&script);
        for r in &received {
            assert!(
                r.body.is_empty(),
                "{how}: bytes appeared\n{}",
                stack.context()
            );
        }
        assert!(
            (400..500).contains(&resp.status),
            "{how}: status {}\n{}",
            resp.status,
            stack.context()
        );
    }
}

/// The MCP tool result with an indirect injection, as an agent sends it back to the model
/// in its next request. Asserted: the `x-sluice-decision` response header counts at least
/// one injection (the header reflects request findings, which are known before the answer
/// starts), and the Slack token in the same text is masked before the upstream.
async fn injection_in_tool_result_flagged(mode: Mode) {
    let stack = shared_stack(mode).await;
    let tool_text = inspect::sse_events(api::captures::MCP_TOOLS_CALL_RESULT)
        .events
        .last()
        .and_then(|e| serde_json::from_str::<serde_json::Value>(&e.data).ok())
        .and_then(|v| {
            v.pointer("/result/content/0/text")
                .and_then(|t| t.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    assert!(!tool_text.is_empty());
    let bodies = [
        (
            ApiShape::OpenAiChat,
            serde_json::json!({
                "model": "gpt-4o-mini", "stream": true,
                "messages": [
                    {"role": "user", "content": "What does ticket 4411 say?"},
                    {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                        "function": {"name": "get_ticket", "arguments": "{\"id\": 4411}"}}]},
                    {"role": "tool", "tool_call_id": "call_1", "content": tool_text}
                ]
            }),
        ),
        (
            ApiShape::Anthropic,
            serde_json::json!({
                "model": "claude-sonnet-4-5", "max_tokens": 256, "stream": true,
                "messages": [
                    {"role": "user", "content": "What does ticket 4411 say?"},
                    {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_ticket", "input": {"id": 4411}}]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": tool_text}]}
                ]
            }),
        ),
    ];
    for (api, body) in bodies {
        let script = stack.mock().register(Script::deltas(api::CLEAN_DELTAS));
        let req = api_request(api, "", true).headers([script.header()]);
        let req = sluice_e2e::client::Request {
            body: body.to_string().into_bytes(),
            ..req
        };
        let resp = send(&stack, &req).await;
        let decision = resp.header("x-sluice-decision").unwrap_or("");
        assert!(
            injection_count(decision).is_some_and(|n| n >= 1),
            "{}: x-sluice-decision {decision:?} does not count the injection\n{}",
            api.name(),
            stack.context()
        );
        let r = received_once(&stack, api.name(), &script);
        assert_request_masked(&stack, api.name(), &req, &r, &[api::SLACK_TOKEN]);
    }
}

/// The same injection arriving in an MCP server's SSE answer. The response headers leave
/// before the body is read, so the header cannot carry it; asserted instead: the Slack token
/// is masked, and the finding shows either in the header or in a log line of Sluice (ext_proc)
/// or Envoy (wasm) that names an injection with a non-zero count.
async fn injection_in_mcp_answer_reported(mode: Mode) {
    let stack = shared_stack(mode).await;
    let script = stack.mock().register(Script::default());
    let req = api_request(ApiShape::Mcp, "ticket 4411", true).headers([script.header()]);
    let resp = send(&stack, &req).await;
    assert_eq!(resp.status, 200, "{}", stack.context());
    assert_no_planted(
        &stack,
        "mcp answer",
        Framing::Sse,
        &resp.body(),
        &[api::SLACK_TOKEN],
    );
    let in_header = resp
        .header("x-sluice-decision")
        .and_then(injection_count)
        .is_some_and(|n| n >= 1);
    let logs = format!("{}\n{}", stack.sluice_log(), stack.envoy_log());
    let in_logs = logs.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.contains("injection") && !l.contains("injection=0") && !l.contains("\"injection\":0")
    });
    assert!(
        in_header || in_logs,
        "the injection in the MCP answer is reported neither in x-sluice-decision nor in a log line\n{}",
        stack.context()
    );
}

/// The upstream forces `content-encoding: gzip`. The client gets decoded, masked text or an
/// error, never the planted value and never gzip it could decode into the planted value.
async fn gzip_answer_never_leaks(mode: Mode) {
    let stack = shared_stack(mode).await;
    let mut no_response = 0;
    for api in ApiShape::ALL {
        for stream in [true, false] {
            let how = format!("{} stream={stream} gzip", api.name());
            let script = stack.mock().register(Script::default().gzip(true));
            let req = api_request(api, "hello", stream).headers([script.header()]);
            let resp = match stack.send(&req).await {
                Ok(r) => r,
                // Reset before any byte: nothing leaked.
                Err(_) => {
                    no_response += 1;
                    continue;
                }
            };
            let body = resp.body();
            let framing = if stream {
                api.stream_framing()
            } else {
                Framing::Json
            };
            // Streamed answers: what the built-in policy masks there (e-mail is flagged).
            let planted: Vec<Planted> = if stream || api == ApiShape::Mcp {
                api.masked_by_default_in_stream()
            } else {
                vec![api::AWS_ACCESS_KEY_ID, api::EMAIL]
            };
            assert_no_planted(&stack, &how, framing, &body, &planted);
            let gzip_magic = body.starts_with(&[0x1f, 0x8b]);
            match resp.header("content-encoding") {
                Some(enc) if enc.contains("gzip") => {}
                _ => assert!(
                    !gzip_magic,
                    "{how}: gzip bytes delivered without content-encoding\n{}",
                    stack.context()
                ),
            }
            if resp.status == 200 && resp.header("content-encoding").is_none() {
                assert!(
                    inspect::json_documents(framing, &body, true).is_ok_and(|d| !d.is_empty()),
                    "{how}: a 200 answer that does not parse\n{}",
                    stack.context()
                );
            }
        }
    }
    assert!(
        no_response < 2 * ApiShape::ALL.len(),
        "no gzip request got any response at all\n{}",
        stack.context()
    );
}

sluice_e2e::scenarios! {
    modes: [ext_proc => ExtProc, wasm => Wasm],
    tests: [
        prompt_credential_never_reaches_upstream,
        clean_request_arrives_intact,
        empty_body_stays_empty,
        injection_in_tool_result_flagged,
        injection_in_mcp_answer_reported,
        gzip_answer_never_leaks,
    ]
}
