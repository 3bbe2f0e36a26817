//! Token usage as each provider reports it in its answer: streamed and whole, cut anywhere,
//! absent or malformed; it never changes a byte that leaves, the decision, or whether the
//! audit record signs and verifies.

mod codec_support;

use std::sync::OnceLock;

use codec_support::corpus;
use sluice_core::audit::wire::{self, WireRecord};
use sluice_core::audit::{ChainState, Entry, FailureKind, Sealer, SigningKey, Timings, Verifier};
use sluice_core::codec::{Framing, IdentityFilter, ResponseRewriter};
use sluice_core::{
    Api, AuditRecord, BodyOutcome, Engine, ExchangeContext, HeadersOutcome, Policy, TokenUsage,
};

const SSE: &str = "text/event-stream";
const JSON: &str = "application/json";
const NDJSON: &str = "application/x-ndjson";

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn usage(input: Option<u64>, output: Option<u64>) -> TokenUsage {
    TokenUsage {
        input_tokens: input,
        output_tokens: output,
    }
}

/// A request path and body that make the exchange speak `api`.
fn request(api: Api) -> (&'static str, &'static str) {
    match api {
        Api::OpenAiChat => (
            "/v1/chat/completions",
            r#"{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#,
        ),
        Api::OpenAiResponses => (
            "/v1/responses",
            r#"{"model":"gpt-4.1","stream":true,"input":"hi"}"#,
        ),
        Api::Anthropic => (
            "/v1/messages",
            r#"{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
        ),
        Api::Gemini => (
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#,
        ),
        Api::Ollama => (
            "/api/chat",
            r#"{"model":"llama3.2","messages":[{"role":"user","content":"hi"}]}"#,
        ),
        Api::Mcp => (
            "/mcp",
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"read_ticket","arguments":{"id":"4411"}}}"#,
        ),
        Api::Text => ("/upload", "hello"),
    }
}

/// Built once: compiling the default policy's detectors dominates a short exchange.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new(Policy::default()).unwrap())
}

/// What left and what was recorded.
struct Answer {
    out: Vec<u8>,
    usage: TokenUsage,
    record: AuditRecord,
}

/// One exchange of `api` under the default policy whose answer is `body` (with `content_type`),
/// pushed in the pieces `cuts` (sorted offsets) makes.
fn answer(api: Api, content_type: &str, body: &[u8], cuts: &[usize]) -> Answer {
    let mut ex = engine().exchange(ExchangeContext::default());
    let (path, req) = request(api);
    assert!(matches!(
        ex.request_headers(&h(&[(":path", path), (":method", "POST")])),
        HeadersOutcome::Continue(_)
    ));
    assert!(!matches!(
        ex.request_body(req.as_bytes(), true),
        BodyOutcome::Reply(_)
    ));
    assert_eq!(ex.api(), Some(api));
    assert!(matches!(
        ex.response_headers(&h(&[(":status", "200"), ("content-type", content_type)])),
        HeadersOutcome::Continue(_)
    ));
    let mut out = Vec::new();
    let mut pos = 0;
    let ends = cuts.iter().copied().chain([body.len()]);
    let n = cuts.len();
    for (i, end) in ends.enumerate() {
        let end = end.clamp(pos, body.len());
        let chunk = &body[pos..end];
        match ex.response_body(chunk, i == n) {
            BodyOutcome::Unchanged => out.extend_from_slice(chunk),
            BodyOutcome::Replace(b) => out.extend_from_slice(&b),
            BodyOutcome::Reply(r) => panic!("local reply in the response: {r:?}"),
        }
        pos = end;
    }
    let usage = ex.usage();
    let record = ex.finish();
    Answer { out, usage, record }
}

fn whole(api: Api, content_type: &str, body: &str) -> Answer {
    answer(api, content_type, body.as_bytes(), &[])
}

/// The streamed captures, each API's framing, and the counts they report.
fn captures() -> Vec<(&'static str, Api, &'static str, TokenUsage)> {
    vec![
        // The last chunk (`"choices":[]`) carries the usage.
        (
            "openai-chat.sse",
            Api::OpenAiChat,
            SSE,
            usage(Some(19), Some(23)),
        ),
        // `response.completed` carries `response.usage`.
        (
            "openai-responses.sse",
            Api::OpenAiResponses,
            SSE,
            usage(Some(19), Some(23)),
        ),
        // `message_start` says 25 in, 1 out; `message_delta` raises the output to 23.
        (
            "anthropic.sse",
            Api::Anthropic,
            SSE,
            usage(Some(25), Some(23)),
        ),
        // Every chunk repeats the counts so far; the last says 23.
        ("gemini.sse", Api::Gemini, SSE, usage(Some(9), Some(23))),
        // The `"done": true` line has `eval_count` and no `prompt_eval_count`.
        ("ollama.ndjson", Api::Ollama, NDJSON, usage(None, Some(23))),
    ]
}

/// Offsets after every newline: one event (or line) per push, as upstreams write them.
fn line_cuts(body: &[u8]) -> Vec<usize> {
    body.iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'\n')
        .map(|(i, _)| i + 1)
        .collect()
}

#[test]
fn streamed_captures_report_the_providers_counts() {
    for (name, api, ct, want) in captures() {
        let body = corpus(name);
        let a = answer(api, ct, &body, &line_cuts(&body));
        assert_eq!(a.usage, want, "{name}");
        assert_eq!(a.record.usage, Some(want), "{name}");
        assert!(a.record.errors.is_empty(), "{name}: {:?}", a.record.errors);
    }
}

#[test]
fn counts_are_the_same_at_every_split_point_and_byte_by_byte() {
    for (name, api, ct, want) in captures() {
        let body = corpus(name);
        let reference = answer(api, ct, &body, &[]);
        assert_eq!(reference.usage, want, "{name}");
        let every: Vec<usize> = (1..body.len()).collect();
        let a = answer(api, ct, &body, &every);
        assert_eq!(a.usage, want, "{name} byte by byte");
        assert_eq!(a.out, reference.out, "{name} byte by byte");
        // Every split point, through the codec alone (the exchange adds nothing to usage).
        let framing = if ct == SSE {
            Framing::Sse
        } else {
            Framing::Ndjson
        };
        for cut in 0..=body.len() {
            let mut rw = ResponseRewriter::new(api, framing, 1 << 20);
            let mut out = Vec::new();
            rw.push(&body[..cut], false, &mut IdentityFilter, &mut out)
                .unwrap();
            rw.push(&body[cut..], true, &mut IdentityFilter, &mut out)
                .unwrap();
            assert_eq!(rw.usage(), want, "{name} cut at {cut}");
            assert_eq!(out, body, "{name} cut at {cut}");
        }
    }
    // And every split point of a whole exchange, for the API whose counts come in two events.
    let body = corpus("anthropic.sse");
    let reference = answer(Api::Anthropic, SSE, &body, &[]);
    for cut in 0..=body.len() {
        let a = answer(Api::Anthropic, SSE, &body, &[cut]);
        assert_eq!(a.usage, usage(Some(25), Some(23)), "cut at {cut}");
        assert_eq!(a.record.decision, reference.record.decision, "cut at {cut}");
        assert_eq!(a.out, reference.out, "cut at {cut}");
    }
}

#[test]
fn usage_grows_as_the_stream_reports_it() {
    let mut ex = engine().exchange(ExchangeContext::default());
    let (path, req) = request(Api::Anthropic);
    ex.request_headers(&h(&[(":path", path), (":method", "POST")]));
    ex.request_body(req.as_bytes(), true);
    assert_eq!(ex.usage(), TokenUsage::default());
    ex.response_headers(&h(&[(":status", "200"), ("content-type", SSE)]));
    let events = [
        r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"cache_creation_input_tokens":0,"cache_read_input_tokens":2048,"output_tokens":2}}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":480,"output_tokens":15}}"#,
        r#"{"type":"message_stop"}"#,
    ];
    let mut seen = Vec::new();
    for (i, data) in events.iter().enumerate() {
        let ty = &data[9..data[9..].find('"').unwrap() + 9];
        let ev = format!("event: {ty}\ndata: {data}\n\n");
        ex.response_body(ev.as_bytes(), i + 1 == events.len());
        seen.push(ex.usage());
    }
    // Cache reads and writes are not input tokens here; `message_delta` replaces both counts.
    assert_eq!(seen[0], usage(Some(472), Some(2)));
    assert_eq!(seen[3], usage(Some(472), Some(2)));
    assert_eq!(seen[5], usage(Some(480), Some(15)));
    assert_eq!(ex.finish().usage, Some(usage(Some(480), Some(15))));
}

#[test]
fn non_streamed_answers_report_their_counts() {
    let cases = [
        (
            Api::OpenAiChat,
            JSON,
            r#"{"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion","created":1741570283,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"The weather is mild today.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1117,"completion_tokens":46,"total_tokens":1163,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_fc9f1d7035"}"#,
            usage(Some(1117), Some(46)),
        ),
        (
            Api::OpenAiResponses,
            JSON,
            r#"{"id":"resp_67ccd2bed1ec8190","object":"response","created_at":1741476542,"status":"completed","error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"model":"gpt-4.1-2025-04-14","output":[{"type":"message","id":"msg_67ccd2bf17f08190","status":"completed","role":"assistant","content":[{"type":"output_text","text":"In a peaceful grove beneath a silver moon.","annotations":[]}]}],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"store":true,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":{"input_tokens":36,"input_tokens_details":{"cached_tokens":0},"output_tokens":87,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":123},"user":null,"metadata":{}}"#,
            usage(Some(36), Some(87)),
        ),
        (
            Api::Anthropic,
            JSON,
            r#"{"id":"msg_013Zva2CMHLNnXjNJJKqJ2EF","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hi! My name is Claude."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":2095,"cache_creation_input_tokens":0,"cache_read_input_tokens":1800,"output_tokens":503}}"#,
            usage(Some(2095), Some(503)),
        ),
        (
            Api::Gemini,
            JSON,
            r#"{"candidates":[{"content":{"parts":[{"text":"The sky is blue because of Rayleigh scattering."}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":12,"totalTokenCount":20,"promptTokensDetails":[{"modality":"TEXT","tokenCount":8}]},"modelVersion":"gemini-2.5-flash","responseId":"mAitaLmkHPPlz7IPvtfUqQ4"}"#,
            usage(Some(8), Some(12)),
        ),
        // `streamGenerateContent` without `alt=sse`: an array of chunks, the last one holds.
        (
            Api::Gemini,
            JSON,
            r#"[{"candidates":[{"content":{"parts":[{"text":"The sky"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":2,"totalTokenCount":10}},{"candidates":[{"content":{"parts":[{"text":" is blue."}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":5,"totalTokenCount":13}}]"#,
            usage(Some(8), Some(5)),
        ),
        // `/api/generate` with `"stream": false`, labelled JSON as Ollama does.
        (
            Api::Ollama,
            JSON,
            r#"{"model":"llama3.2","created_at":"2023-08-04T19:22:45.499127Z","response":"The sky is blue because of the way sunlight scatters.","done":true,"context":[1,2,3],"total_duration":5043500667,"load_duration":5025959,"prompt_eval_count":26,"prompt_eval_duration":325953000,"eval_count":290,"eval_duration":4709213000}"#,
            usage(Some(26), Some(290)),
        ),
        // The counts may come before `done`.
        (
            Api::Ollama,
            NDJSON,
            "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"Hi.\"},\"prompt_eval_count\":11,\"eval_count\":3,\"done_reason\":\"stop\",\"done\":true}\n",
            usage(Some(11), Some(3)),
        ),
    ];
    for (api, ct, body, want) in cases {
        let a = whole(api, ct, body);
        assert_eq!(a.usage, want, "{api}: {body}");
        assert_eq!(a.record.usage, Some(want), "{api}");
        assert_eq!(
            a.out,
            body.as_bytes(),
            "{api}: a clean answer leaves unchanged"
        );
        assert!(a.record.errors.is_empty(), "{api}: {:?}", a.record.errors);
    }
}

/// The capture without its final usage chunk, as a stream without `include_usage` ends.
fn chat_without_usage() -> Vec<u8> {
    let body = String::from_utf8(corpus("openai-chat.sse")).unwrap();
    let kept: Vec<&str> = body
        .split_inclusive("\n\n")
        .filter(|ev| !ev.contains("\"usage\""))
        .collect();
    assert!(kept.len() + 1 == body.split_inclusive("\n\n").count());
    kept.concat().into_bytes()
}

#[test]
fn answers_without_usage_record_none() {
    let a = answer(Api::OpenAiChat, SSE, &chat_without_usage(), &[]);
    assert_eq!(a.usage, TokenUsage::default());
    assert_eq!(a.record.usage, None);
    let json = serde_json::to_string(&a.record).unwrap();
    assert!(!json.contains("usage"), "{json}");

    let mcp = corpus("mcp-tools-call-result.sse");
    assert_eq!(answer(Api::Mcp, SSE, &mcp, &[]).record.usage, None);
    // A text body that merely looks like a usage report is text.
    let text = r#"{"usage":{"prompt_tokens":5,"completion_tokens":7}}"#;
    assert_eq!(whole(Api::Text, "text/plain", text).record.usage, None);
    let bodies = [
        (
            Api::OpenAiChat,
            r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":null}"#,
        ),
        (
            Api::Anthropic,
            r#"{"type":"message","role":"assistant","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn"}"#,
        ),
        (
            Api::Gemini,
            r#"{"candidates":[{"content":{"parts":[{"text":"ok"}],"role":"model"},"finishReason":"STOP","index":0}]}"#,
        ),
        // Counts not in the final object are not the answer's.
        (
            Api::Ollama,
            r#"{"model":"llama3.2","response":"ok","done":false,"prompt_eval_count":26,"eval_count":1}"#,
        ),
        // Another API's field names are not counts.
        (
            Api::OpenAiResponses,
            r#"{"object":"response","status":"completed","output":[],"usage":{"prompt_tokens":5,"completion_tokens":7}}"#,
        ),
    ];
    for (api, body) in bodies {
        let a = whole(api, JSON, body);
        assert_eq!(a.record.usage, None, "{api}: {body}");
        assert_eq!(a.out, body.as_bytes());
    }
}

#[test]
fn malformed_counts_are_ignored_and_change_nothing() {
    let bad = [
        "-5",
        "1.5",
        "1e3",
        "12.0",
        "\"19\"",
        "true",
        "null",
        "{\"n\":1}",
        "[1]",
        "99999999999999999999999",
        "18446744073709551616",
    ];
    for v in bad {
        let body = format!(
            r#"{{"choices":[{{"index":0,"message":{{"role":"assistant","content":"ok"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":{v},"completion_tokens":{v},"total_tokens":{v}}}}}"#
        );
        let a = whole(Api::OpenAiChat, JSON, &body);
        assert_eq!(a.record.usage, None, "{v}");
        assert_eq!(a.out, body.as_bytes(), "{v}");
        assert!(a.record.errors.is_empty(), "{v}: {:?}", a.record.errors);
        assert_eq!(a.record.decision, sluice_core::Decision::Allow, "{v}");
    }
    // One good count and one bad: the good one stands.
    let body = r#"{"type":"message","content":[{"type":"text","text":"ok"}],"usage":{"input_tokens":12,"output_tokens":-1}}"#;
    assert_eq!(
        whole(Api::Anthropic, JSON, body).record.usage,
        Some(usage(Some(12), None))
    );
    // A bad later report does not erase an earlier good one.
    let stream = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":\"many\"}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let a = whole(Api::Anthropic, SSE, stream);
    assert_eq!(a.record.usage, Some(usage(Some(9), Some(1))));
    assert_eq!(a.out, stream.as_bytes());
}

/// `body` with the number of every `"name":` (or `"name": `) in `names` replaced by `null`.
fn null_counts(body: &[u8], names: &[&str]) -> Vec<u8> {
    let mut s = String::from_utf8(body.to_vec()).unwrap();
    for name in names {
        let key = format!("\"{name}\":");
        let mut out = String::with_capacity(s.len());
        let mut rest = s.as_str();
        while let Some(at) = rest.find(&key) {
            let after = at + key.len();
            out.push_str(&rest[..after]);
            rest = &rest[after..];
            let spaces = rest.len() - rest.trim_start_matches(' ').len();
            out.push_str(&rest[..spaces]);
            rest = &rest[spaces..];
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits > 0 {
                out.push_str("null");
                rest = &rest[digits..];
            }
        }
        out.push_str(rest);
        s = out;
    }
    s.into_bytes()
}

#[test]
fn usage_fields_change_no_byte_that_leaves_and_no_decision() {
    let names = [
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "input_tokens",
        "output_tokens",
        "promptTokenCount",
        "candidatesTokenCount",
        "totalTokenCount",
        "prompt_eval_count",
        "eval_count",
    ];
    for (name, api, ct, _) in captures() {
        let with = corpus(name);
        let without = null_counts(&with, &names);
        assert_ne!(with, without, "{name}: nothing to blank");
        let cuts = line_cuts(&with);
        let a = answer(api, ct, &with, &cuts);
        let b = answer(api, ct, &without, &line_cuts(&without));
        assert!(
            a.record.usage.is_some() && b.record.usage.is_none(),
            "{name}"
        );
        assert_eq!(null_counts(&a.out, &names), b.out, "{name}");
        assert_eq!(a.record.decision, b.record.decision, "{name}");
        assert_eq!(a.record.findings, b.record.findings, "{name}");
        assert_eq!(a.record.errors, b.record.errors, "{name}");
    }
    // With no finding, the answer leaves exactly as it came, usage and all.
    for (api, ct, body) in [
        (Api::OpenAiChat, SSE, chat_stream_clean()),
        (Api::Gemini, SSE, gemini_stream_clean()),
    ] {
        for cut in 0..=body.len() {
            let a = answer(api, ct, body.as_bytes(), &[cut]);
            assert_eq!(a.out, body.as_bytes(), "{api} cut at {cut}");
            assert!(a.record.usage.is_some());
        }
    }
}

fn chat_stream_clean() -> String {
    [
        r#"{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"The weather"},"finish_reason":null}],"usage":null}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" is mild."},"finish_reason":null}],"usage":null}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":8,"completion_tokens":4,"total_tokens":12}}"#,
        "[DONE]",
    ]
    .iter()
    .map(|d| format!("data: {d}\n\n"))
    .collect()
}

fn gemini_stream_clean() -> String {
    [
        r#"{"candidates":[{"content":{"parts":[{"text":"The weather"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":2,"totalTokenCount":10}}"#,
        r#"{"candidates":[{"content":{"parts":[{"text":" is mild."}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":4,"totalTokenCount":12}}"#,
    ]
    .iter()
    .map(|d| format!("data: {d}\r\n\r\n"))
    .collect()
}

#[test]
fn records_with_and_without_usage_sign_verify_and_travel() {
    let with = answer(Api::OpenAiChat, SSE, chat_stream_clean().as_bytes(), &[]).record;
    let partial = whole(
        Api::Ollama,
        NDJSON,
        "{\"model\":\"m\",\"response\":\"ok\",\"done\":true,\"eval_count\":3}\n",
    )
    .record;
    let without = answer(Api::OpenAiChat, SSE, &chat_without_usage(), &[]).record;
    assert_eq!(with.usage, Some(usage(Some(8), Some(4))));
    assert_eq!(partial.usage, Some(usage(None, Some(3))));
    assert_eq!(without.usage, None);
    let json = serde_json::to_string(&partial).unwrap();
    assert!(
        json.contains(r#""incomplete":false,"usage":{"output_tokens":3}"#),
        "{json}"
    );

    let key = SigningKey::from_seed([7; 32]);
    let mut sealer = Sealer::new(ChainState::new("trail-1"), key.clone());
    let lines: Vec<Vec<u8>> = [&with, &without, &partial]
        .iter()
        .enumerate()
        .map(|(i, r)| sealer.seal(r, 1_000_000 + i as u64, Timings::default()))
        .collect();
    let text: Vec<String> = lines
        .iter()
        .map(|l| String::from_utf8(l.clone()).unwrap())
        .collect();
    assert!(
        text[0].contains(r#","usage":{"input_tokens":8,"output_tokens":4},"timings":"#),
        "{}",
        text[0]
    );
    assert!(!text[1].contains("usage"), "{}", text[1]);
    let mut v = Verifier::new(vec![key.verifying_key()]);
    v.add_file("audit.jsonl", &lines.concat());
    let report = v.finish();
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.chains[0].records, 3);

    // The counts are signed: changing one is a bad signature.
    let mut forged = lines.clone();
    forged[0] = text[0]
        .replace(r#""output_tokens":4"#, r#""output_tokens":1"#)
        .into_bytes();
    let mut v = Verifier::new(vec![key.verifying_key()]);
    v.add_file("audit.jsonl", &forged.concat());
    let report = v.finish();
    assert_eq!(report.failures[0].line, 1);
    assert_eq!(report.failures[0].kind, FailureKind::BadSignature);

    // A record handed over the wire seals to the same bytes as one sealed where it was made.
    for record in [&with, &without, &partial] {
        let body = wire::encode(record, 5, Timings::default()).unwrap();
        let back = wire::decode(&body).unwrap();
        assert_eq!(back.record, WireRecord::from(record));
        assert_eq!(
            serde_json::to_string(&back.record).unwrap(),
            serde_json::to_string(record).unwrap()
        );
        let prev = [0u8; 32];
        let local = Entry::new(record, "i", 0, &prev, 5, Timings::default());
        let remote = Entry::from_wire(&back.record, "i", 0, &prev, 5, Timings::default());
        assert_eq!(local.canonical(), remote.canonical());
    }
}
