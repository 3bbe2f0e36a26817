//! Request bodies: every text field reaches the filter with its role; untouched bytes stay.

mod codec_support;

use codec_support::*;
use sluice_core::codec::{Api, CodecError, IdentityFilter, Role, rewrite_request};

fn roles(api: Api, body: &str) -> Vec<(Role, String)> {
    let mut r = Recorder::default();
    assert_eq!(rewrite_request(api, body.as_bytes(), &mut r).unwrap(), None);
    r.fulls
}

fn masked(api: Api, body: &str) -> String {
    let out = rewrite_request(api, body.as_bytes(), &mut Masker::new(&["SECRET"]))
        .unwrap()
        .expect("changed");
    let s = String::from_utf8(out).unwrap();
    serde_json::from_str::<serde_json::Value>(&s).unwrap();
    assert!(!s.contains("SECRET"));
    // Only the masked strings changed: same length difference per occurrence.
    let n = body.matches("SECRET").count();
    assert_eq!(
        s.len() + n * "SECRET".len(),
        body.len() + n * "[MASKED]".len(),
        "{s}"
    );
    s
}

#[test]
fn openai_chat_request() {
    let body = r#"{"model":"m","messages":[{"content":"be nice","role":"system"},{"role":"developer","content":"dev"},{"role":"user","content":[{"type":"text","text":"hi SECRET"},{"type":"image_url","image_url":{"url":"data:x"}}]},{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":\"SECRET\"}"}}]},{"role":"tool","tool_call_id":"c","content":"out SECRET"}],"tools":[{"type":"function","function":{"name":"f","description":"does f"}}]}"#;
    assert_eq!(
        roles(Api::OpenAiChat, body),
        vec![
            (Role::System, "be nice".into()),
            (Role::System, "dev".into()),
            (Role::User, "hi SECRET".into()),
            (Role::ToolArguments, "{\"a\":\"SECRET\"}".into()),
            (Role::ToolResult, "out SECRET".into()),
            (Role::ToolDescription, "does f".into()),
        ]
    );
    masked(Api::OpenAiChat, body);
}

#[test]
fn openai_responses_request() {
    let body = r#"{"model":"m","instructions":"sys","input":[{"role":"user","content":[{"type":"input_text","text":"q SECRET"}]},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"res SECRET"}],"tools":[{"type":"function","name":"f","description":"d"}]}"#;
    assert_eq!(
        roles(Api::OpenAiResponses, body),
        vec![
            (Role::System, "sys".into()),
            (Role::User, "q SECRET".into()),
            (Role::ToolArguments, "{}".into()),
            (Role::ToolResult, "res SECRET".into()),
            (Role::ToolDescription, "d".into()),
        ]
    );
    masked(Api::OpenAiResponses, body);
    assert_eq!(
        roles(Api::OpenAiResponses, r#"{"input":"just text"}"#),
        vec![(Role::User, "just text".into())]
    );
}

#[test]
fn anthropic_request() {
    let body = r#"{"system":[{"type":"text","text":"sys SECRET"}],"messages":[{"role":"user","content":"u1"},{"role":"assistant","content":[{"type":"text","text":"a1"},{"type":"tool_use","id":"t","name":"n","input":{"cmd":"SECRET","deep":{"x":["y"]}}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"r SECRET"}]},{"type":"tool_result","tool_use_id":"t2","content":"r2"}]}],"tools":[{"name":"n","description":"desc","input_schema":{"type":"object"}}]}"#;
    assert_eq!(
        roles(Api::Anthropic, body),
        vec![
            (Role::System, "sys SECRET".into()),
            (Role::User, "u1".into()),
            (Role::Assistant, "a1".into()),
            (Role::ToolArguments, "SECRET".into()),
            (Role::ToolArguments, "y".into()),
            (Role::ToolResult, "r SECRET".into()),
            (Role::ToolResult, "r2".into()),
            (Role::ToolDescription, "desc".into()),
        ]
    );
    masked(Api::Anthropic, body);
    assert_eq!(
        roles(Api::Anthropic, r#"{"system":"s","messages":[]}"#),
        vec![(Role::System, "s".into())]
    );
}

#[test]
fn gemini_request() {
    let body = r#"{"systemInstruction":{"parts":[{"text":"sys"}]},"contents":[{"role":"user","parts":[{"text":"q SECRET"}]},{"role":"model","parts":[{"functionCall":{"name":"f","args":{"k":"v"}}}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"out":"SECRET"}}}]}]}"#;
    assert_eq!(
        roles(Api::Gemini, body),
        vec![
            (Role::System, "sys".into()),
            (Role::User, "q SECRET".into()),
            (Role::ToolArguments, "v".into()),
            (Role::ToolResult, "SECRET".into()),
        ]
    );
    masked(Api::Gemini, body);
}

#[test]
fn ollama_request() {
    let body = r#"{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"u SECRET"}],"stream":true}"#;
    assert_eq!(
        roles(Api::Ollama, body),
        vec![(Role::System, "s".into()), (Role::User, "u SECRET".into())]
    );
    masked(Api::Ollama, body);
    assert_eq!(
        roles(Api::Ollama, r#"{"model":"m","prompt":"p","system":"s"}"#),
        vec![(Role::User, "p".into()), (Role::System, "s".into())]
    );
}

#[test]
fn mcp_tools_call_request_from_corpus() {
    let body = corpus("mcp-tools-call-request.json");
    let mut r = Recorder::default();
    assert_eq!(rewrite_request(Api::Mcp, &body, &mut r).unwrap(), None);
    assert_eq!(r.fulls.len(), 1);
    assert_eq!(r.fulls[0].0, Role::ToolArguments);
    assert!(r.fulls[0].1.contains("aws_secret_access_key = "));
    let out = rewrite_request(Api::Mcp, &body, &mut Masker::new(&["ASIAUMPMHS6PJARB7LMY"]))
        .unwrap()
        .unwrap();
    let s = String::from_utf8(out).unwrap();
    assert!(!s.contains("ASIAUMPMHS6PJARB7LMY"));
    // Pretty-printing and other members are kept byte for byte.
    let orig = String::from_utf8(body).unwrap();
    assert_eq!(s.replace("[MASKED]", "ASIAUMPMHS6PJARB7LMY"), orig);
}

#[test]
fn text_request_and_errors() {
    let out = rewrite_request(
        Api::Text,
        "plain SECRET".as_bytes(),
        &mut Masker::new(&["SECRET"]),
    )
    .unwrap();
    assert_eq!(out.as_deref(), Some(&b"plain [MASKED]"[..]));
    assert_eq!(
        rewrite_request(Api::Text, b"plain", &mut IdentityFilter).unwrap(),
        None
    );
    assert_eq!(
        rewrite_request(Api::OpenAiChat, b"{\"a\":\"\xff\"}", &mut IdentityFilter).unwrap_err(),
        CodecError::Utf8
    );
    assert!(matches!(
        rewrite_request(Api::OpenAiChat, b"{\"messages\":[", &mut IdentityFilter).unwrap_err(),
        CodecError::Json(_)
    ));
    assert!(matches!(
        rewrite_request(Api::Anthropic, b"", &mut IdentityFilter).unwrap_err(),
        CodecError::Json(_)
    ));
}

#[test]
fn replacement_is_escaped_with_serde_json_rules() {
    struct Quote;
    impl sluice_core::codec::TextFilter for Quote {
        fn delta(&mut self, t: sluice_core::codec::TextRef<'_>, out: &mut String) {
            out.push_str(t.text)
        }
        fn full(&mut self, t: sluice_core::codec::TextRef<'_>, out: &mut String) {
            out.push_str(&t.text.replace('x', "\"\\\n\u{1}é"));
        }
        fn end(&mut self, _: sluice_core::codec::StreamKey, _: &mut String) {}
        fn held_keys(&self, _: &mut Vec<sluice_core::codec::StreamKey>) {}
    }
    let body = br#"{"messages":[{"role":"user","content":"axb"}]}"#;
    let out = rewrite_request(Api::OpenAiChat, body, &mut Quote)
        .unwrap()
        .unwrap();
    assert_eq!(
        out,
        r#"{"messages":[{"role":"user","content":"a\"\\\n\u0001éb"}]}"#
            .as_bytes()
            .to_vec()
    );
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["messages"][0]["content"], "a\"\\\n\u{1}éb");
}
