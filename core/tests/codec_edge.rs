//! Response codec edge cases: escapes and multi-byte text split everywhere, line endings,
//! interleaved choices, non-streamed bodies, raw text, malformed input.

mod codec_support;

use codec_support::*;
use proptest::prelude::*;
use sluice_core::codec::{Api, CodecError, Framing, IdentityFilter, ResponseRewriter};

fn chat_event(index: u32, content: &str) -> String {
    let v = serde_json::json!({"id":"c","object":"chat.completion.chunk","choices":[{"index":index,"delta":{"content":content},"finish_reason":null}]});
    format!("data: {v}\n\n")
}

fn chat_finish(index: u32) -> String {
    format!(
        "data: {{\"id\":\"c\",\"choices\":[{{\"index\":{index},\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\n\n"
    )
}

/// A chat stream whose deltas use `\u` escapes (ASCII-only JSON, as Python's json.dumps
/// writes) around multi-byte characters, emoji and newlines.
fn escaped_stream() -> Vec<u8> {
    let parts = [
        "caf\\u00e9 ",
        "\\ud83d\\ude00 sec",
        "ret-\\u00e9\\ud83d\\ude00",
        "-end\\n",
        r#"l\u00e9 \"q\\\"\" ✓"#,
    ];
    let mut s = String::new();
    for p in parts {
        s.push_str(&format!(
            "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{p}\"}},\"finish_reason\":null}}]}}\n\n"
        ));
    }
    s.push_str(&chat_finish(0));
    s.push_str("data: [DONE]\n\n");
    s.into_bytes()
}

#[test]
fn escapes_and_multibyte_text_split_everywhere() {
    let input = escaped_stream();
    // The masked value spans three events and two escape styles.
    let want = stream_texts(Api::OpenAiChat, Framing::Sse, &input);
    assert!(want["text/0"].starts_with("café 😀 secret-é"), "{want:?}");
    let m = Masker::new(&["secret-é"]);
    let base = run(
        Api::OpenAiChat,
        Framing::Sse,
        &input,
        &[],
        &mut Masker::new(&["secret-é"]),
    )
    .unwrap();
    let got = stream_texts(Api::OpenAiChat, Framing::Sse, &base);
    assert_eq!(got["text/0"], m.mask(&want["text/0"]));
    assert!(!String::from_utf8(base.clone()).unwrap().contains("secret-"));
    for cut in 0..=input.len() {
        let out = run(
            Api::OpenAiChat,
            Framing::Sse,
            &input,
            &[cut],
            &mut IdentityFilter,
        )
        .unwrap();
        assert_eq!(out, input, "identity, cut {cut}");
        let out = run(
            Api::OpenAiChat,
            Framing::Sse,
            &input,
            &[cut],
            &mut Masker::new(&["secret-é"]),
        )
        .unwrap();
        assert_eq!(out, base, "masker, cut {cut}");
    }
}

#[test]
fn raw_utf8_split_inside_characters() {
    let input = chat_event(0, "é😀✓ and a tóken").into_bytes();
    for a in 0..=input.len() {
        for b in a..=input.len() {
            let out = run(
                Api::OpenAiChat,
                Framing::Sse,
                &input,
                &[a, b],
                &mut Masker::new(&["tóken"]),
            )
            .unwrap();
            let texts = stream_texts(Api::OpenAiChat, Framing::Sse, &out);
            assert_eq!(texts["text/0"], "é😀✓ and a [MASKED]");
        }
    }
}

#[test]
fn crlf_cr_and_lf_give_the_same_text() {
    let lf = corpus("openai-chat.sse");
    let lf_s = String::from_utf8(lf.clone()).unwrap();
    let crlf = lf_s.replace('\n', "\r\n").into_bytes();
    let cr = lf_s.replace('\n', "\r").into_bytes();
    let m = Masker::new(&["AKIAIX6EA6QOM66ZJOJY"]);
    let want = run(
        Api::OpenAiChat,
        Framing::Sse,
        &lf,
        &[],
        &mut Masker::new(&["AKIAIX6EA6QOM66ZJOJY"]),
    )
    .unwrap();
    let want = stream_texts(Api::OpenAiChat, Framing::Sse, &want);
    assert_eq!(
        want["text/0"],
        m.mask(&stream_texts(Api::OpenAiChat, Framing::Sse, &lf)["text/0"])
    );
    for input in [crlf, cr] {
        for cut in (0..=input.len()).step_by(7) {
            let out = run(
                Api::OpenAiChat,
                Framing::Sse,
                &input,
                &[cut],
                &mut IdentityFilter,
            )
            .unwrap();
            assert_eq!(out, input);
            let out = run(
                Api::OpenAiChat,
                Framing::Sse,
                &input,
                &[cut, cut + 1],
                &mut Masker::new(&["AKIAIX6EA6QOM66ZJOJY"]),
            )
            .unwrap();
            assert_eq!(stream_texts(Api::OpenAiChat, Framing::Sse, &out), want);
        }
    }
}

#[test]
fn multi_line_data_and_comments() {
    let input = b": keep-alive\n\ndata: {\"choices\":[{\"index\":0,\n data: \"delta\":{\"content\":\"my secret\"}}]}\nid: 4\n\n".to_vec();
    // The second data line starts with a space before `data:` so it is a bad field; use a
    // proper two-line payload instead.
    let input2 = b": keep-alive\n\ndata: {\"choices\":[{\"index\":0,\ndata: \"delta\":{\"content\":\"my secret\"}}]}\nid: 4\n\n".to_vec();
    let out = run(
        Api::OpenAiChat,
        Framing::Sse,
        &input2,
        &[],
        &mut Masker::new(&["secret"]),
    )
    .unwrap();
    let texts = stream_texts(Api::OpenAiChat, Framing::Sse, &out);
    assert_eq!(texts["text/0"], "my [MASKED]");
    assert!(
        String::from_utf8(out)
            .unwrap()
            .starts_with(": keep-alive\n\ndata: {\"choices\":[{\"index\":0,\ndata: ")
    );
    // Broken JSON (the field line is not a data line) is an error, not a pass.
    let err = run(
        Api::OpenAiChat,
        Framing::Sse,
        &input,
        &[],
        &mut IdentityFilter,
    )
    .unwrap_err();
    assert!(matches!(err, CodecError::Json(_)), "{err:?}");
}

#[test]
fn interleaved_choices_are_separate_streams() {
    let mut s = String::new();
    let a = ["The key ", "is AKIA", "IX6EA6QOM", "66ZJOJY ok"];
    let b = ["Other: AK", "IAIX6EA6", "QOM66ZJOJY", " done"];
    for i in 0..4 {
        s.push_str(&chat_event(0, a[i]));
        s.push_str(&chat_event(1, b[i]));
    }
    s.push_str(&chat_finish(1));
    s.push_str(&chat_finish(0));
    s.push_str("data: [DONE]\n\n");
    let input = s.into_bytes();
    for cut in 0..=input.len() {
        let out = run(
            Api::OpenAiChat,
            Framing::Sse,
            &input,
            &[cut],
            &mut Masker::new(&["AKIAIX6EA6QOM66ZJOJY"]),
        )
        .unwrap();
        let t = stream_texts(Api::OpenAiChat, Framing::Sse, &out);
        assert_eq!(t["text/0"], "The key is [MASKED] ok");
        assert_eq!(t["text/1"], "Other: [MASKED] done");
        let out = run(
            Api::OpenAiChat,
            Framing::Sse,
            &input,
            &[cut],
            &mut HoldAll::default(),
        )
        .unwrap();
        let t = stream_texts(Api::OpenAiChat, Framing::Sse, &out);
        assert_eq!(t["text/1"], b.concat());
        assert_eq!(t["text/0"], a.concat());
    }
}

#[test]
fn gemini_finish_event_carries_released_text() {
    let input = corpus("gemini.sse");
    let out = run(
        Api::Gemini,
        Framing::Sse,
        &input,
        &[],
        &mut HoldAll::default(),
    )
    .unwrap();
    // Held text released unchanged at the end: the parked events leave as they came.
    assert_eq!(out, input);
    // A release that differs from what was held rides in the finishing event.
    let out = run(
        Api::Gemini,
        Framing::Sse,
        &input,
        &[],
        &mut Masker::new(&["AKIAIX6EA6QOM66ZJOJY"]),
    )
    .unwrap();
    let events = sse_events(&out);
    let last = &events.last().unwrap().1;
    assert!(last.contains("\"finishReason\": \"STOP\""));
    // CRLF framing is kept.
    assert!(out.ends_with(b"}\r\n\r\n"));
}

#[test]
fn gemini_json_array_without_alt_sse() {
    let body = br#"[{"candidates": [{"content": {"parts": [{"text": "key AKIAIX6EA6QOM66ZJOJY"}], "role": "model"}, "index": 0}]},
{"candidates": [{"content": {"parts": [{"text": " bye"}], "role": "model"}, "finishReason": "STOP", "index": 0}]}]"#;
    let mut r = Recorder::default();
    run(Api::Gemini, Framing::Json, body, &[], &mut r).unwrap();
    assert_eq!(r.fulls.len(), 2);
    let out = run(
        Api::Gemini,
        Framing::Json,
        body,
        &[10, 50],
        &mut Masker::new(&["AKIAIX6EA6QOM66ZJOJY"]),
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v[0]["candidates"][0]["content"]["parts"][0]["text"],
        "key [MASKED]"
    );
    assert_eq!(
        out.len(),
        body.len() - "AKIAIX6EA6QOM66ZJOJY".len() + "[MASKED]".len()
    );
}

#[test]
fn non_streamed_answers_pass_every_text_through_full() {
    let cases: &[(Api, &str, &[&str])] = &[
        (
            Api::OpenAiChat,
            r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"a SECRET","tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{\"x\":\"SECRET\"}"}}]},"finish_reason":"stop"}]}"#,
            &["a SECRET", "{\"x\":\"SECRET\"}"],
        ),
        (
            Api::OpenAiResponses,
            r#"{"id":"r","output":[{"type":"message","content":[{"type":"output_text","text":"b SECRET"}]},{"type":"function_call","arguments":"{\"y\":\"SECRET\"}"}]}"#,
            &["b SECRET", "{\"y\":\"SECRET\"}"],
        ),
        (
            Api::Anthropic,
            r#"{"type":"message","content":[{"type":"thinking","thinking":"t SECRET","signature":"sig"},{"type":"text","text":"c SECRET"},{"type":"tool_use","id":"x","name":"n","input":{"cmd":"SECRET","n":1}}]}"#,
            &["t SECRET", "c SECRET", "SECRET"],
        ),
        (
            Api::Gemini,
            r#"{"candidates":[{"content":{"parts":[{"text":"d SECRET"}]},"finishReason":"STOP"}]}"#,
            &["d SECRET"],
        ),
        (
            Api::Ollama,
            r#"{"model":"m","message":{"role":"assistant","content":"e SECRET","thinking":"th SECRET"},"done":true}"#,
            &["e SECRET", "th SECRET"],
        ),
        (
            Api::Mcp,
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"f SECRET"}],"structuredContent":{"k":"SECRET"}}}"#,
            &["f SECRET", "SECRET"],
        ),
    ];
    for (api, body, texts) in cases {
        let mut r = Recorder::default();
        let out = run(*api, Framing::Json, body.as_bytes(), &[7], &mut r).unwrap();
        assert_eq!(out, body.as_bytes(), "{api}");
        let got: Vec<&str> = r.fulls.iter().map(|f| f.1.as_str()).collect();
        assert_eq!(&got, texts, "{api}");
        let out = run(
            *api,
            Framing::Json,
            body.as_bytes(),
            &[],
            &mut Masker::new(&["SECRET"]),
        )
        .unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(!s.contains("SECRET"), "{api}: {s}");
        serde_json::from_str::<serde_json::Value>(&s).unwrap();
    }
}

#[test]
fn mcp_tools_list_descriptions_are_tool_descriptions() {
    let body = corpus("mcp-tools-list.json");
    let mut r = Recorder::default();
    run(Api::Mcp, Framing::Json, &body, &[], &mut r).unwrap();
    assert!(r.fulls.iter().any(
        |(role, t)| *role == sluice_core::codec::Role::ToolDescription && t.contains("<IMPORTANT>")
    ));
    let mut r = Recorder::default();
    run(
        Api::Mcp,
        Framing::Sse,
        &corpus("mcp-tools-call-result.sse"),
        &[],
        &mut r,
    )
    .unwrap();
    assert_eq!(r.fulls.len(), 1);
    assert_eq!(r.fulls[0].0, sluice_core::codec::Role::ToolResult);
}

#[test]
fn raw_text_is_one_endless_stream() {
    let mut rw = ResponseRewriter::new(Api::Text, Framing::Raw, 16);
    let mut f = Masker::new(&["AKIAIX6EA6QOM66ZJOJY"]);
    let mut out = Vec::new();
    let unit = "plain é text AKIAIX6EA6QOM66ZJOJY ".as_bytes();
    let mut total = 0;
    for i in 0..5000 {
        let chunk = &unit[i % 7..];
        let chunk = [chunk, &unit[..i % 7]].concat();
        rw.push(&chunk, false, &mut f, &mut out).unwrap();
        total += chunk.len();
    }
    rw.push(b"", true, &mut f, &mut out).unwrap();
    let s = String::from_utf8(out).unwrap();
    assert!(!s.contains("AKIAIX6EA6QOM66ZJOJY"));
    assert_eq!(s.matches("[MASKED]").count(), 5000);
    assert!(total > 16 * 1000, "limit does not apply to raw text");
}

#[test]
fn malformed_inputs_give_defined_errors() {
    let e = run(
        Api::OpenAiChat,
        Framing::Sse,
        b"data: {\"choices\":[\n\n",
        &[],
        &mut IdentityFilter,
    )
    .unwrap_err();
    assert!(matches!(e, CodecError::Json(_)));
    let e = run(
        Api::OpenAiChat,
        Framing::Sse,
        b"data: {\"a\":\"\xff\"}\n\n",
        &[],
        &mut IdentityFilter,
    )
    .unwrap_err();
    assert_eq!(e, CodecError::Utf8);
    let e = run(
        Api::Ollama,
        Framing::Ndjson,
        b"{\"message\":{\"content\":\"x\"}\n",
        &[],
        &mut IdentityFilter,
    )
    .unwrap_err();
    assert!(matches!(e, CodecError::Json(_)));
    let e = run(
        Api::Text,
        Framing::Raw,
        b"abc\xff",
        &[],
        &mut IdentityFilter,
    )
    .unwrap_err();
    assert_eq!(e, CodecError::Utf8);
    let e = run(
        Api::Text,
        Framing::Raw,
        b"abc\xe2\x82",
        &[],
        &mut IdentityFilter,
    )
    .unwrap_err();
    assert_eq!(e, CodecError::Utf8);
    let big = format!("data: {{\"x\":\"{}\"}}", "a".repeat(70_000));
    let e = run(
        Api::OpenAiChat,
        Framing::Sse,
        big.as_bytes(),
        &[70_000],
        &mut IdentityFilter,
    )
    .unwrap_err();
    assert_eq!(e, CodecError::TooLarge { limit: 64 * 1024 });
    let e = run(
        Api::OpenAiChat,
        Framing::Json,
        big.as_bytes(),
        &[],
        &mut IdentityFilter,
    )
    .unwrap_err();
    assert_eq!(e, CodecError::TooLarge { limit: 64 * 1024 });
    // After an error the rewriter stays failed; after the end, empty pushes are fine.
    let mut rw = ResponseRewriter::new(Api::OpenAiChat, Framing::Sse, 1024);
    let mut out = Vec::new();
    assert!(
        rw.push(b"data: {x\n\n", false, &mut IdentityFilter, &mut out)
            .is_err()
    );
    assert!(
        rw.push(b"data: {}\n\n", false, &mut IdentityFilter, &mut out)
            .is_err()
    );
    let mut rw = ResponseRewriter::new(Api::OpenAiChat, Framing::Sse, 1024);
    rw.push(b"data: {}\n\n", true, &mut IdentityFilter, &mut out)
        .unwrap();
    rw.push(b"", true, &mut IdentityFilter, &mut out).unwrap();
    assert!(
        rw.push(b"data: {}\n\n", true, &mut IdentityFilter, &mut out)
            .is_err()
    );
}

#[test]
fn unterminated_tail_with_held_text_stays_valid() {
    let input = chat_event(0, "held text");
    let input = input.trim_end().as_bytes().to_vec();
    let out = run(
        Api::OpenAiChat,
        Framing::Sse,
        &input,
        &[],
        &mut HoldAll::default(),
    )
    .unwrap();
    assert_eq!(
        stream_texts(Api::OpenAiChat, Framing::Sse, &out)["text/0"],
        "held text"
    );
    let line = b"{\"message\":{\"content\":\"held\"},\"done\":false}".to_vec();
    let out = run(
        Api::Ollama,
        Framing::Ndjson,
        &line,
        &[],
        &mut HoldAll::default(),
    )
    .unwrap();
    assert_eq!(
        stream_texts(Api::Ollama, Framing::Ndjson, &out)["text"],
        "held"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..400), cut in any::<usize>(), api in 0usize..7, fr in 0usize..4) {
        let api = Api::ALL[api];
        let framing = [Framing::Sse, Framing::Ndjson, Framing::Json, Framing::Raw][fr];
        let _ = run(api, framing, &body, &[cut % (body.len() + 1)], &mut HoldAll::default());
        let _ = sluice_core::codec::rewrite_request(api, &body, &mut Masker::new(&["a"]));
    }

    #[test]
    fn mutated_corpus_never_panics(pos in any::<usize>(), byte in any::<u8>(), which in 0usize..6) {
        let (name, api, framing) = streams()[which];
        let mut input = corpus(name);
        let p = pos % input.len();
        input[p] = byte;
        let _ = run(api, framing, &input, &[p], &mut Masker::new(&["AKIA"]));
    }
}

/// The event that tells a client its answer is complete leaves only with the end of the body,
/// so an adapter can still replace the end (and the client never sees a normal completion);
/// everything before it leaves at once, and nothing is lost.
#[test]
fn the_terminal_event_leaves_only_with_the_end_of_the_body() {
    let cases: [(Api, Framing, &str, &str, &str); 4] = [
        (
            Api::OpenAiChat,
            Framing::Sse,
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
            "data: [DONE]\n\n",
            "",
        ),
        (
            Api::Anthropic,
            Framing::Sse,
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
            ": trailing comment\n\n",
        ),
        (
            Api::OpenAiResponses,
            Framing::Sse,
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hi\"}\n\n",
            "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"status\":\"completed\"}}\n\n",
            "",
        ),
        (
            Api::Ollama,
            Framing::Ndjson,
            "{\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}\n",
            "{\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true}\n",
            "",
        ),
    ];
    for (api, framing, delta, terminal, after) in cases {
        let mut rw = ResponseRewriter::new(api, framing, 1 << 16);
        let mut first = Vec::new();
        rw.push(delta.as_bytes(), false, &mut IdentityFilter, &mut first)
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&first), delta, "{api:?}");
        let mut second = Vec::new();
        rw.push(terminal.as_bytes(), false, &mut IdentityFilter, &mut second)
            .unwrap();
        assert!(
            second.is_empty(),
            "{api:?}: {}",
            String::from_utf8_lossy(&second)
        );
        let mut third = Vec::new();
        rw.push(after.as_bytes(), false, &mut IdentityFilter, &mut third)
            .unwrap();
        assert!(third.is_empty(), "{api:?}");
        let mut end = Vec::new();
        rw.push(b"", true, &mut IdentityFilter, &mut end).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&end),
            format!("{terminal}{after}"),
            "{api:?}"
        );
    }
    // A terminal event in the last chunk itself is not delayed at all.
    let mut rw = ResponseRewriter::new(Api::OpenAiChat, Framing::Sse, 1024);
    let mut out = Vec::new();
    rw.push(b"data: [DONE]\n\n", true, &mut IdentityFilter, &mut out)
        .unwrap();
    assert_eq!(out, b"data: [DONE]\n\n");
    // Gemini has no terminal event: every chunk leaves as it comes.
    let mut rw = ResponseRewriter::new(Api::Gemini, Framing::Sse, 1024);
    let mut out = Vec::new();
    let ev = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]},\"finishReason\":\"STOP\"}]}\n\n";
    rw.push(ev.as_bytes(), false, &mut IdentityFilter, &mut out)
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out), ev);
}
