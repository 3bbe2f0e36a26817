//! The invariants of DESIGN.md §3, checked through the whole engine (codec + holdback +
//! detectors) for every API shape, over the byte-exact captures and synthetic clean streams.

use proptest::prelude::*;
use sluice_core::codec::{IdentityFilter, StreamKey, StreamKind, TextFilter, TextRef};
use sluice_core::holdback::Redactor;
use sluice_core::policy::DirectionPolicy;
use sluice_core::{Action, BodyOutcome, Engine, ExchangeContext, HeadersOutcome, Policy};
use std::sync::{Arc, OnceLock};

fn corpus(name: &str) -> Vec<u8> {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["../tests/corpus/streams", "../../shared/corpus/streams"] {
        let p = here.join(dir).join(name);
        if let Ok(b) = std::fs::read(&p) {
            return b;
        }
    }
    panic!("corpus stream {name} not found");
}

/// Every masking family on in both directions, e-mail in streams included, so the invariants
/// are checked with the most holdback the engine can do.
fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        let mut policy = Policy::default();
        policy.response.email_in_streams = Some(Action::Mask);
        Engine::new(policy).unwrap()
    })
}

/// Values planted in the captures, assembled so the source holds no secret-shaped literal.
fn planted() -> Vec<String> {
    vec![
        ["AKIA", "IX6EA6QOM66ZJOJY"].concat(),
        ["ops", "@example.com"].concat(),
        ["ghp_", "wZeA5jbsBXA3hcMNWcyTLvJ47rGpct3WUzkh"].concat(),
        ["biufMdI8X2Y4rUmer+BH3M1XS0", "DRdJuPnBIKpi99"].concat(),
        [
            "xoxp-614897071248-",
            "1075690072003-fQ7Dh3yEg42ipqnX1fkkjbd9",
        ]
        .concat(),
    ]
}

struct Case {
    file: &'static str,
    path: &'static str,
    content_type: &'static str,
}

const CASES: [Case; 6] = [
    Case {
        file: "openai-chat.sse",
        path: "/v1/chat/completions",
        content_type: "text/event-stream",
    },
    Case {
        file: "openai-responses.sse",
        path: "/v1/responses",
        content_type: "text/event-stream",
    },
    Case {
        file: "anthropic.sse",
        path: "/v1/messages",
        content_type: "text/event-stream",
    },
    Case {
        file: "gemini.sse",
        path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        content_type: "text/event-stream",
    },
    Case {
        file: "ollama.ndjson",
        path: "/api/chat",
        content_type: "application/x-ndjson",
    },
    Case {
        file: "mcp-tools-call-result.sse",
        path: "/mcp",
        content_type: "text/event-stream",
    },
];

/// Runs a response body through a fresh exchange, cut at `cuts`; returns what left.
fn run_response(path: &str, content_type: &str, body: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut ex = engine().exchange(ExchangeContext::default());
    let req = vec![
        (":path".to_string(), path.to_string()),
        (":method".to_string(), "POST".to_string()),
    ];
    assert!(matches!(
        ex.request_headers(&req),
        HeadersOutcome::Continue(_)
    ));
    let resp = vec![
        (":status".to_string(), "200".to_string()),
        ("content-type".to_string(), content_type.to_string()),
    ];
    assert!(matches!(
        ex.response_headers(&resp),
        HeadersOutcome::Continue(_)
    ));
    let mut out = Vec::new();
    let mut start = 0;
    let mut points: Vec<usize> = cuts
        .iter()
        .copied()
        .filter(|&c| c > 0 && c < body.len())
        .collect();
    points.sort_unstable();
    points.dedup();
    points.push(body.len());
    for (i, end) in points.iter().enumerate() {
        let chunk = &body[start..*end];
        let eos = i + 1 == points.len();
        match ex.response_body(chunk, eos) {
            BodyOutcome::Unchanged => out.extend_from_slice(chunk),
            BodyOutcome::Replace(b) => out.extend_from_slice(&b),
            BodyOutcome::Reply(r) => panic!("unexpected local reply {}", r.reason),
        }
        start = *end;
    }
    // Envoy may repeat the end of stream: nothing more may leave.
    match ex.response_body(&[], true) {
        BodyOutcome::Unchanged => {}
        BodyOutcome::Replace(b) => assert!(b.is_empty(), "bytes after the end"),
        BodyOutcome::Reply(_) => panic!("reply after the end"),
    }
    let record = ex.finish();
    assert!(record.errors.is_empty(), "errors: {:?}", record.errors);
    out
}

/// Invariant 1: every event's data (or NDJSON line) is valid JSON, the body valid UTF-8.
fn assert_valid(content_type: &str, out: &[u8]) {
    let text = std::str::from_utf8(out).expect("output is valid UTF-8");
    if content_type == "application/x-ndjson" {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            serde_json::from_str::<serde_json::Value>(line).expect("NDJSON line is JSON");
        }
        return;
    }
    let normalised = text.replace("\r\n", "\n");
    for event in normalised.split("\n\n").filter(|e| !e.trim().is_empty()) {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        let data = data.join("\n");
        if data.is_empty() || data == "[DONE]" {
            continue;
        }
        serde_json::from_str::<serde_json::Value>(&data).expect("event data is JSON");
    }
}

fn assert_no_planted(out: &[u8]) {
    let text = String::from_utf8_lossy(out);
    for value in planted() {
        assert!(!text.contains(&value), "a planted value left the engine");
        // Also after JSON-unescaping (a value could hide behind escapes).
        let unescaped = text.replace("\\/", "/");
        assert!(
            !unescaped.contains(&value),
            "a planted value left the engine (escaped)"
        );
    }
}

#[test]
fn captures_are_masked_valid_and_chunking_independent() {
    for case in &CASES {
        let body = corpus(case.file);
        let whole = run_response(case.path, case.content_type, &body, &[]);
        assert_no_planted(&whole);
        assert_valid(case.content_type, &whole);
        assert!(
            String::from_utf8_lossy(&whole).contains("[REDACTED:"),
            "{}: nothing was masked",
            case.file
        );
        // Invariants 3 and 4: the same output for a split at every offset.
        for cut in 1..body.len() {
            let split = run_response(case.path, case.content_type, &body, &[cut]);
            assert!(
                split == whole,
                "{}: output differs when cut at {cut}",
                case.file
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_chunking_gives_the_same_masked_output(case in 0usize..CASES.len(), cuts in proptest::collection::vec(0usize..8000, 0..40)) {
        let c = &CASES[case];
        let body = corpus(c.file);
        let whole = run_response(c.path, c.content_type, &body, &[]);
        let cut: Vec<usize> = cuts.iter().map(|x| x % body.len().max(1)).collect();
        let out = run_response(c.path, c.content_type, &body, &cut);
        prop_assert!(out == whole);
    }
}

/// Builds a clean stream of `api` carrying `tokens`.
fn clean_stream(api: &str, tokens: &[&str]) -> (String, &'static str, &'static str) {
    let j = |s: &str| serde_json::to_string(s).unwrap();
    let mut out = String::new();
    match api {
        "openai-chat" => {
            for t in tokens {
                out.push_str(&format!(
                    "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}},\"finish_reason\":null}}]}}\n\n",
                    j(t)
                ));
            }
            out.push_str("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
            (out, "/v1/chat/completions", "text/event-stream")
        }
        "anthropic" => {
            out.push_str("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
            for t in tokens {
                out.push_str(&format!(
                    "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":{}}}}}\n\n",
                    j(t)
                ));
            }
            out.push_str("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
            (out, "/v1/messages", "text/event-stream")
        }
        "gemini" => {
            for (i, t) in tokens.iter().enumerate() {
                let finish = if i + 1 == tokens.len() {
                    ", \"finishReason\": \"STOP\""
                } else {
                    ""
                };
                out.push_str(&format!(
                    "data: {{\"candidates\": [{{\"content\": {{\"parts\": [{{\"text\": {}}}], \"role\": \"model\"}}{finish}, \"index\": 0}}]}}\r\n\r\n",
                    j(t)
                ));
            }
            (
                out,
                "/v1beta/models/m:streamGenerateContent?alt=sse",
                "text/event-stream",
            )
        }
        "ollama" => {
            for t in tokens {
                out.push_str(&format!(
                    "{{\"model\":\"m\",\"message\":{{\"role\":\"assistant\",\"content\":{}}},\"done\":false}}\n",
                    j(t)
                ));
            }
            out.push_str("{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true}\n");
            (out, "/api/chat", "application/x-ndjson")
        }
        _ => {
            for (n, t) in tokens.iter().enumerate() {
                out.push_str(&format!(
                    "event: response.output_text.delta\ndata: {{\"type\":\"response.output_text.delta\",\"sequence_number\":{n},\"item_id\":\"m\",\"output_index\":0,\"content_index\":0,\"delta\":{}}}\n\n",
                    j(t)
                ));
            }
            let full: String = tokens.concat();
            out.push_str(&format!(
                "event: response.output_text.done\ndata: {{\"type\":\"response.output_text.done\",\"item_id\":\"m\",\"output_index\":0,\"content_index\":0,\"text\":{}}}\n\n",
                j(&full)
            ));
            (out, "/v1/responses", "text/event-stream")
        }
    }
}

const CLEAN_TOKENS: &[&str] = &[
    "The",
    " café",
    " on",
    " the",
    " corner",
    " serves",
    " naïve",
    " \"quoted\"",
    " coffee",
    ".\n",
    "Line",
    " two",
    " has",
    " an",
    " emoji",
    " 🙂",
    " and",
    " a",
    " tab\t",
    "char",
    " (",
    "42",
    ")",
    ".",
    " Ask",
    " the",
    " team",
    " at",
    " 10",
    ":30",
    " tomorrow",
    ".",
];

#[test]
fn clean_streams_leave_byte_identical_whatever_the_chunking() {
    for api in [
        "openai-chat",
        "anthropic",
        "gemini",
        "ollama",
        "openai-responses",
    ] {
        let (body, path, ct) = clean_stream(api, CLEAN_TOKENS);
        let body = body.into_bytes();
        let whole = run_response(path, ct, &body, &[]);
        assert!(whole == body, "{api}: a clean stream changed");
        for cut in 1..body.len() {
            let out = run_response(path, ct, &body, &[cut]);
            assert!(
                out == body,
                "{api}: a clean stream changed when cut at {cut}"
            );
        }
        let every: Vec<usize> = (1..body.len()).collect();
        assert!(
            run_response(path, ct, &body, &every) == body,
            "{api}: byte-by-byte"
        );
    }
}

#[test]
fn a_secret_split_into_single_characters_is_masked_in_every_api() {
    let secret = ["AKIA", "IX6EA6QOM66ZJOJY"].concat();
    let mut tokens: Vec<String> = vec!["Your".into(), " key".into(), " is".into(), " ".into()];
    tokens.extend(secret.chars().map(|c| c.to_string()));
    tokens.push(" ok".into());
    let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    for api in [
        "openai-chat",
        "anthropic",
        "gemini",
        "ollama",
        "openai-responses",
    ] {
        let (body, path, ct) = clean_stream(api, &refs);
        let out = run_response(path, ct, body.as_bytes(), &[]);
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains(&secret), "{api}: secret leaked");
        assert!(
            text.contains("[REDACTED:aws-access-key-id]"),
            "{api}: no mask"
        );
        assert_valid(ct, &out);
    }
}

#[test]
fn held_text_never_exceeds_the_cap() {
    // A digit run stays viable (card, phone) for as long as it grows.
    let scanner = Arc::new(sluice_core::Scanner::new(&Default::default()).unwrap());
    let policy = DirectionPolicy {
        credential: Action::Mask,
        pii: Action::Mask,
        injection: Action::Flag,
        email: None,
        email_in_streams: None,
        phone: None,
        phone_in_streams: None,
    };
    let cap = 256;
    let mut r = Redactor::new(scanner.clone(), scanner, None, policy, cap);
    let key = StreamKey {
        kind: StreamKind::Text,
        index: 0,
        sub: 0,
    };
    let mut released = String::new();
    let mut out = String::new();
    for i in 0..5000 {
        out.clear();
        let digit = char::from(b'0' + (i % 10) as u8);
        r.delta(
            TextRef {
                key,
                role: sluice_core::codec::Role::Assistant,
                text: &digit.to_string(),
            },
            &mut out,
        );
        released.push_str(&out);
        assert!(r.held_bytes() <= cap, "held {} > cap {cap}", r.held_bytes());
    }
    out.clear();
    r.end(key, &mut out);
    released.push_str(&out);
    assert_eq!(r.held_bytes(), 0);
    assert!(!released.is_empty());
}

#[test]
fn identity_filter_is_the_baseline() {
    // The identity filter is what "no inspection" looks like; the engine with no finding must
    // produce the same bytes.
    let (body, path, ct) = clean_stream("openai-chat", CLEAN_TOKENS);
    let mut rw = sluice_core::codec::ResponseRewriter::new(
        sluice_core::Api::OpenAiChat,
        sluice_core::codec::Framing::Sse,
        1 << 20,
    );
    let mut out = Vec::new();
    rw.push(body.as_bytes(), true, &mut IdentityFilter, &mut out)
        .unwrap();
    assert_eq!(out, run_response(path, ct, body.as_bytes(), &[]));
}

/// Splits an SSE / NDJSON body after each event.
fn events_of(body: &[u8], ndjson: bool) -> Vec<&[u8]> {
    let sep: &[u8] = if ndjson { b"\n" } else { b"\n\n" };
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + sep.len() <= body.len() {
        if &body[i..i + sep.len()] == sep {
            out.push(&body[start..i + sep.len()]);
            start = i + sep.len();
            i = start;
        } else {
            i += 1;
        }
    }
    if start < body.len() {
        out.push(&body[start..]);
    }
    out
}

#[test]
fn clean_events_wait_at_most_two_events() {
    // With e-mail masking on, every trailing word could be an address being written, so an
    // event may wait for the next one — but never longer, and it leaves as its original bytes.
    // (Digit runs are held until they can no longer be a card or phone number.)
    let prose: Vec<&str> = CLEAN_TOKENS
        .iter()
        .copied()
        .filter(|t| {
            !t.chars()
                .any(|c| c.is_ascii_digit() || c == '(' || c == ')')
        })
        .collect();
    for api in ["openai-chat", "anthropic", "ollama", "openai-responses"] {
        let (body, path, ct) = clean_stream(api, &prose);
        let events = events_of(body.as_bytes(), ct == "application/x-ndjson");
        let mut ex = engine().exchange(ExchangeContext::default());
        ex.request_headers(&[(":path".to_string(), path.to_string())]);
        ex.response_headers(&[
            (":status".to_string(), "200".to_string()),
            ("content-type".to_string(), ct.to_string()),
        ]);
        let mut emitted = Vec::new();
        for (i, ev) in events.iter().enumerate() {
            match ex.response_body(ev, i + 1 == events.len()) {
                BodyOutcome::Unchanged => emitted.extend_from_slice(ev),
                BodyOutcome::Replace(b) => emitted.extend_from_slice(&b),
                BodyOutcome::Reply(_) => panic!("reply"),
            }
            // A word followed by `.` may still be the local part of an address (`jane.doe@`),
            // so an event can wait for two more; never longer on prose.
            let due: usize = events[..i.saturating_sub(1)].iter().map(|e| e.len()).sum();
            assert!(
                emitted.len() >= due,
                "{api}: event {} still held after event {i}",
                i.saturating_sub(2)
            );
            assert!(
                body.as_bytes().starts_with(&emitted),
                "{api}: emitted bytes are not the original prefix"
            );
        }
        assert_eq!(emitted, body.as_bytes());
    }
}

#[test]
fn a_secret_after_parked_events_is_masked_and_nothing_is_duplicated() {
    let secret = ["AKIA", "IX6EA6QOM66ZJOJY"].concat();
    let mut tokens: Vec<String> = ["Hello", " there", " my", " friend", ",", " key"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    tokens.push(" ".into());
    tokens.extend(
        secret
            .as_bytes()
            .chunks(3)
            .map(|c| String::from_utf8(c.to_vec()).unwrap()),
    );
    tokens.extend(
        [" and", " more", " words", "."]
            .iter()
            .map(|s| s.to_string()),
    );
    let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let expected_text =
        "Hello there my friend, key [REDACTED:aws-access-key-id] and more words.".to_string();
    for api in ["openai-chat", "anthropic", "ollama"] {
        let (body, path, ct) = clean_stream(api, &refs);
        let events = events_of(body.as_bytes(), ct == "application/x-ndjson");
        let cuts: Vec<usize> = events
            .iter()
            .scan(0, |acc, e| {
                *acc += e.len();
                Some(*acc)
            })
            .collect();
        let out = run_response(path, ct, body.as_bytes(), &cuts);
        assert_valid(ct, &out);
        // Reassemble the text the client reads.
        let mut text = String::new();
        for line in String::from_utf8(out).unwrap().lines() {
            let line = line.strip_prefix("data: ").unwrap_or(line);
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            for p in [
                "/choices/0/delta/content",
                "/delta/text",
                "/message/content",
            ] {
                if let Some(s) = v.pointer(p).and_then(|s| s.as_str()) {
                    text.push_str(s);
                }
            }
        }
        assert_eq!(text, expected_text, "{api}");
    }
}

#[test]
fn flagged_families_never_delay_text() {
    // Responses flag PII instead of masking it: e-mail viability must not hold words back.
    let mut policy = Policy::default();
    policy.response.pii = Action::Flag;
    let engine = Engine::new(policy).unwrap();
    let (body, path, ct) = clean_stream(
        "openai-chat",
        &["Write", " to", " ops", "@example", ".com", " today", "."],
    );
    let events = events_of(body.as_bytes(), false);
    let mut ex = engine.exchange(ExchangeContext::default());
    ex.request_headers(&[(":path".to_string(), path.to_string())]);
    ex.response_headers(&[
        (":status".to_string(), "200".to_string()),
        ("content-type".to_string(), ct.to_string()),
    ]);
    let mut emitted = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        let out = ex.response_body(ev, i + 1 == events.len());
        // Plain words leave at once; `@example` may wait (a `user:pass@host` credential could
        // be in progress, and credentials are still masked).
        if i < 3 {
            assert_eq!(
                out,
                BodyOutcome::Unchanged,
                "plain word {i} was held or changed"
            );
        }
        match out {
            BodyOutcome::Unchanged => emitted.extend_from_slice(ev),
            BodyOutcome::Replace(b) => emitted.extend_from_slice(&b),
            BodyOutcome::Reply(_) => panic!("reply"),
        }
    }
    assert_eq!(emitted, body.as_bytes(), "a flagged e-mail is not changed");
    let record = ex.finish();
    assert!(
        record.findings.iter().any(|f| f.rule == "email"),
        "the e-mail is still counted"
    );
}

/// The built-in policy flags e-mail addresses in streamed answers (the stream leaves
/// byte-identical, nothing waits for the next event), masks them in buffered answers and in
/// requests, and still masks credentials in streams.
#[test]
fn default_policy_flags_email_in_streams_only() {
    let engine = Engine::new(Policy::default()).unwrap();
    let email = ["ops", "@example.com"].concat();
    let key = ["AKIA", "IX6EA6QOM66ZJOJY"].concat();
    let event = |text: &str| {
        format!(
            "data: {}\n\n",
            serde_json::json!({"choices": [{"index": 0, "delta": {"content": text}}]})
        )
    };
    let run = |headers: &[(&str, &str)], body: &[u8], request: &[u8]| -> (Vec<u8>, Vec<u8>) {
        let mut ex = engine.exchange(ExchangeContext::default());
        let h: Vec<(String, String)> = [(":path", "/v1/chat/completions"), (":method", "POST")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let _ = ex.request_headers(&h);
        let forwarded = match ex.request_body(request, true) {
            BodyOutcome::Unchanged => request.to_vec(),
            BodyOutcome::Replace(b) => b,
            BodyOutcome::Reply(r) => panic!("request refused: {}", r.reason),
        };
        let rh: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let _ = ex.response_headers(&rh);
        let out = match ex.response_body(body, true) {
            BodyOutcome::Unchanged => body.to_vec(),
            BodyOutcome::Replace(b) => b,
            BodyOutcome::Reply(r) => panic!("response stopped: {}", r.reason),
        };
        (forwarded, out)
    };
    let request = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": format!("mail {email}")}]})
        .to_string();

    // Streamed: the e-mail passes, the key is masked; a first event ending in a word leaves
    // at once (nothing held for a possible address).
    let sse = [":status", "200"];
    let stream = format!(
        "{}{}data: [DONE]\n\n",
        event(&format!("write to {email} ")),
        event(&format!("key {key}"))
    );
    let (forwarded, out) = run(
        &[(sse[0], sse[1]), ("content-type", "text/event-stream")],
        stream.as_bytes(),
        request.as_bytes(),
    );
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains(&email), "e-mail masked in a streamed answer");
    assert!(!out.contains(&key), "key not masked in a streamed answer");
    let forwarded = String::from_utf8(forwarded).unwrap();
    assert!(
        !forwarded.contains(&email),
        "e-mail not masked in the request"
    );
    assert!(forwarded.contains("[REDACTED:email]"));

    let mut ex = engine.exchange(ExchangeContext::default());
    let _ = ex.request_headers(&[(":path".to_owned(), "/v1/chat/completions".to_owned())]);
    let _ = ex.request_body(b"{}", true);
    let _ = ex.response_headers(&[
        (":status".to_owned(), "200".to_owned()),
        ("content-type".to_owned(), "text/event-stream".to_owned()),
    ]);
    let first = event("The weather in Paris is mild today");
    match ex.response_body(first.as_bytes(), false) {
        BodyOutcome::Unchanged => {}
        BodyOutcome::Replace(b) => assert_eq!(b, first.as_bytes(), "prose held back"),
        BodyOutcome::Reply(r) => panic!("{}", r.reason),
    }

    // Buffered (non-streamed) answer: the e-mail is masked.
    let whole = serde_json::json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": format!("write to {email}")}}]})
        .to_string();
    let (_, out) = run(
        &[(sse[0], sse[1]), ("content-type", "application/json")],
        whole.as_bytes(),
        b"{}",
    );
    let out = String::from_utf8(out).unwrap();
    assert!(
        !out.contains(&email),
        "e-mail not masked in a buffered answer"
    );
    assert!(out.contains("[REDACTED:email]"));
}
