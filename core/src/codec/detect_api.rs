//! Recognising the API shape from the request path and body, and the response framing from
//! its content type.

use super::{Api, Framing};

/// The API an exchange speaks, from the request path (query string allowed) and, for MCP,
/// the JSON-RPC body. Unknown shapes are [`Api::Text`]: scanned as plain text.
pub fn detect_api(path: &str, request_body: Option<&[u8]>) -> Api {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let path = path.trim_end_matches('/');
    if request_body.is_some_and(is_json_rpc) {
        Api::Mcp
    } else if path.ends_with("/chat/completions") || path.ends_with("/completions") {
        Api::OpenAiChat
    } else if path.ends_with("/responses") {
        Api::OpenAiResponses
    } else if path.ends_with("/messages") && !path.contains("/threads/") {
        Api::Anthropic
    } else if path.ends_with(":streamGenerateContent") || path.ends_with(":generateContent") {
        Api::Gemini
    } else if path.ends_with("/api/chat") || path.ends_with("/api/generate") {
        Api::Ollama
    } else if path.ends_with("/mcp") {
        Api::Mcp
    } else {
        Api::Text
    }
}

/// Whether a body looks like JSON-RPC 2.0 (a `"jsonrpc"` member near the start of an object
/// or a batch array).
fn is_json_rpc(body: &[u8]) -> bool {
    let trimmed = body.trim_ascii_start();
    matches!(trimmed.first(), Some(b'{' | b'['))
        && memchr::memmem::find(trimmed, b"\"jsonrpc\"").is_some()
}

/// The framing of a response body from its `content-type`.
pub fn framing_for(api: Api, content_type: Option<&str>) -> Framing {
    let mime = content_type
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match mime.as_str() {
        "text/event-stream" => Framing::Sse,
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => Framing::Ndjson,
        // Ollama streams NDJSON; some servers label it plain JSON.
        "application/json" if api == Api::Ollama => Framing::Ndjson,
        m if m == "application/json" || m.ends_with("+json") => Framing::Json,
        _ => Framing::Raw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(detect_api("/v1/chat/completions", None), Api::OpenAiChat);
        assert_eq!(detect_api("/v1/responses?x=1", None), Api::OpenAiResponses);
        assert_eq!(detect_api("/v1/messages", None), Api::Anthropic);
        assert_eq!(
            detect_api(
                "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
                None
            ),
            Api::Gemini
        );
        assert_eq!(detect_api("/api/chat", None), Api::Ollama);
        assert_eq!(detect_api("/api/generate", None), Api::Ollama);
        assert_eq!(
            detect_api(
                "/",
                Some(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
            ),
            Api::Mcp
        );
        assert_eq!(detect_api("/upload", Some(b"hello")), Api::Text);
    }

    #[test]
    fn framings() {
        assert_eq!(
            framing_for(Api::OpenAiChat, Some("text/event-stream; charset=utf-8")),
            Framing::Sse
        );
        assert_eq!(
            framing_for(Api::Ollama, Some("application/x-ndjson")),
            Framing::Ndjson
        );
        assert_eq!(
            framing_for(Api::Ollama, Some("application/json")),
            Framing::Ndjson
        );
        assert_eq!(
            framing_for(Api::Gemini, Some("application/json")),
            Framing::Json
        );
        assert_eq!(framing_for(Api::Text, Some("text/plain")), Framing::Raw);
        assert_eq!(framing_for(Api::Text, None), Framing::Raw);
    }
}
