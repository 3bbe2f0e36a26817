//! Error bodies in each provider's own shape, so official SDKs raise their usual API error.
//!
//! Checked against the SDKs' stream readers: openai-python raises `APIError` for any SSE
//! event whose JSON has a truthy `error` member (chat and Responses alike); anthropic-python
//! raises its status error for `event: error`; the Ollama client raises `ResponseError` for a
//! line with an `error` member; MCP clients turn a JSON-RPC error object into their error type.

use serde_json::{Value, json};

use super::{Api, Framing};

/// JSON-RPC error code for a message refused by policy (server-defined range).
pub const MCP_POLICY_ERROR_CODE: i64 = -32001;

fn openai_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        500..=599 => "server_error",
        _ => "invalid_request_error",
    }
}

fn anthropic_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

fn gemini_status(status: u16) -> &'static str {
    match status {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        500..=599 => "INTERNAL",
        _ => "INVALID_ARGUMENT",
    }
}

fn to_vec(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// The provider-shaped JSON error object (not the framing around it).
fn error_json(api: Api, status: u16, message: &str, request_id: &str) -> Value {
    match api {
        Api::OpenAiChat | Api::OpenAiResponses | Api::Text => json!({
            "error": {
                "message": message,
                "type": openai_type(status),
                "param": null,
                "code": "sluice_blocked",
            }
        }),
        Api::Anthropic => {
            let mut v = json!({
                "type": "error",
                "error": {"type": anthropic_type(status), "message": message},
            });
            if !request_id.is_empty()
                && let Some(obj) = v.as_object_mut()
            {
                obj.insert("request_id".into(), Value::from(request_id));
            }
            v
        }
        Api::Gemini => json!({
            "error": {"code": status, "message": message, "status": gemini_status(status)}
        }),
        Api::Ollama => json!({"error": message}),
        Api::Mcp => mcp_error_value(None, message),
    }
}

fn mcp_error_value(id: Option<Value>, message: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id.unwrap_or(Value::Null),
        "error": {"code": MCP_POLICY_ERROR_CODE, "message": message},
    })
}

/// A complete error response body for a request Sluice refuses before the upstream sees it.
/// Returns `(content_type, body)`.
pub fn error_body(
    api: Api,
    status: u16,
    message: &str,
    request_id: &str,
) -> (&'static str, Vec<u8>) {
    match api {
        Api::Text => ("text/plain; charset=utf-8", message.as_bytes().to_vec()),
        _ => (
            "application/json",
            to_vec(&error_json(api, status, message, request_id)),
        ),
    }
}

/// A JSON-RPC error response answering the request `id` (read from the request body).
pub fn mcp_error_body(id: Option<Value>, message: &str) -> (&'static str, Vec<u8>) {
    ("application/json", to_vec(&mcp_error_value(id, message)))
}

/// The same, as a final event of an MCP SSE stream.
pub fn mcp_stream_error_event(id: Option<Value>, message: &str) -> Vec<u8> {
    let mut out = b"event: message\ndata: ".to_vec();
    out.extend_from_slice(&to_vec(&mcp_error_value(id, message)));
    out.extend_from_slice(b"\n\n");
    out
}

/// The JSON-RPC error(s) that replace one refused MCP message: an error answering the same
/// `id` (so the client's pending request fails instead of waiting for ever), or for a batch one
/// error per member that had an `id`. A document that cannot be read gets `id: null`.
fn mcp_refusal(doc: &[u8], message: &str) -> Value {
    let id_of = |v: &Value| v.get("id").filter(|id| !id.is_null()).cloned();
    match serde_json::from_slice::<Value>(doc) {
        Ok(Value::Array(batch)) => Value::Array(
            batch
                .iter()
                .filter_map(id_of)
                .map(|id| mcp_error_value(Some(id), message))
                .collect(),
        ),
        Ok(v) => mcp_error_value(id_of(&v), message),
        Err(_) => mcp_error_value(None, message),
    }
}

/// What replaces a refused non-streamed answer (`doc`, read whole): the API's own error body
/// (the status line has already left, so the body carries the refusal), or for MCP a JSON-RPC
/// error answering the same `id`.
pub fn refusal_document(api: Api, doc: &[u8], message: &str) -> Vec<u8> {
    // The status is already on the wire; the error names the policy (403-like).
    const STATUS: u16 = 403;
    match api {
        Api::Mcp => to_vec(&mcp_refusal(doc, message)),
        _ => error_body(api, STATUS, message, "").1,
    }
}

/// What replaces one refused event of a stream (`doc`: the event's data): for MCP an SSE
/// event carrying a JSON-RPC error with the message's `id`, so the stream goes on with the
/// messages after it; otherwise the API's final error event.
pub fn refusal_event(api: Api, framing: Framing, doc: &[u8], message: &str) -> Vec<u8> {
    match (api, framing) {
        (Api::Mcp, Framing::Sse) => {
            let mut out = b"event: message\ndata: ".to_vec();
            out.extend_from_slice(&to_vec(&mcp_refusal(doc, message)));
            out.extend_from_slice(b"\n\n");
            out
        }
        (Api::Mcp, Framing::Ndjson) => {
            let mut out = to_vec(&mcp_refusal(doc, message));
            out.push(b'\n');
            out
        }
        _ => stream_error_event(api, framing, message),
    }
}

/// A final event that ends a stream Sluice stopped mid-way, in the API's stream shape.
/// The adapter ends the body right after it.
pub fn stream_error_event(api: Api, framing: Framing, message: &str) -> Vec<u8> {
    // Mid-stream the HTTP status is already 200; the error names the policy (403-like).
    const STATUS: u16 = 403;
    match (api, framing) {
        (_, Framing::Raw) => format!("\n[sluice: {message}]\n").into_bytes(),
        (_, Framing::Json) => error_body(api, STATUS, message, "").1,
        (Api::OpenAiChat, Framing::Sse) => {
            let mut out = b"data: ".to_vec();
            out.extend_from_slice(&to_vec(&error_json(api, STATUS, message, "")));
            out.extend_from_slice(b"\n\ndata: [DONE]\n\n");
            out
        }
        (Api::OpenAiResponses, Framing::Sse) => {
            // The documented `error` event fields, plus an `error` member that makes the SDK
            // raise instead of yielding an event the caller may ignore.
            let v = json!({
                "type": "error",
                "code": "sluice_blocked",
                "message": message,
                "param": null,
                "error": {"type": openai_type(STATUS), "code": "sluice_blocked", "message": message},
            });
            let mut out = b"event: error\ndata: ".to_vec();
            out.extend_from_slice(&to_vec(&v));
            out.extend_from_slice(b"\n\n");
            out
        }
        (Api::Anthropic, Framing::Sse) => {
            let mut out = b"event: error\ndata: ".to_vec();
            out.extend_from_slice(&to_vec(&error_json(api, STATUS, message, "")));
            out.extend_from_slice(b"\n\n");
            out
        }
        (Api::Gemini, Framing::Sse) => {
            let mut out = b"data: ".to_vec();
            out.extend_from_slice(&to_vec(&error_json(api, STATUS, message, "")));
            out.extend_from_slice(b"\r\n\r\n");
            out
        }
        (Api::Mcp, Framing::Sse) => mcp_stream_error_event(None, message),
        (_, Framing::Sse) => {
            let mut out = b"event: error\ndata: ".to_vec();
            out.extend_from_slice(&to_vec(&error_json(api, STATUS, message, "")));
            out.extend_from_slice(b"\n\n");
            out
        }
        (_, Framing::Ndjson) => {
            let mut out = to_vec(&json!({"error": message}));
            out.push(b'\n');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let (ct, b) = error_body(Api::Anthropic, 403, "no", "req_1");
        assert_eq!(ct, "application/json");
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "permission_error");
        assert_eq!(v["request_id"], "req_1");
        let v: Value = serde_json::from_slice(&error_body(Api::Gemini, 400, "m", "").1).unwrap();
        assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
        assert_eq!(v["error"]["code"], 400);
        let v: Value =
            serde_json::from_slice(&error_body(Api::OpenAiChat, 400, "m", "").1).unwrap();
        assert_eq!(v["error"]["param"], Value::Null);
        let v: Value = serde_json::from_slice(&mcp_error_body(Some(json!(7)), "m").1).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["error"]["code"], MCP_POLICY_ERROR_CODE);
        assert_eq!(
            stream_error_event(Api::Ollama, Framing::Ndjson, "x"),
            b"{\"error\":\"x\"}\n"
        );
    }
}
