//! The API shapes the mock serves, their captured streams and the planted values in them.
//!
//! Captures are compiled into the crate so the mock upstream binary needs no data directory.

use serde_json::{Value, json};

/// One provider API (or MCP) as seen on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApiShape {
    OpenAiChat,
    OpenAiResponses,
    Anthropic,
    Gemini,
    Ollama,
    Mcp,
}

/// How one response body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Server-sent events; every event's `data` is JSON (OpenAI Chat ends with `[DONE]`).
    Sse,
    /// One JSON document per line.
    Ndjson,
    /// One JSON document (non-streamed answers, Gemini without `alt=sse` as a JSON array).
    Json,
}

/// A value planted in the test data that must never reach the other side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planted {
    /// What it is, safe to print.
    pub kind: &'static str,
    /// The value itself (made up, checksums valid); never print it.
    pub value: &'static str,
}

pub const AWS_ACCESS_KEY_ID: Planted = Planted {
    kind: "aws-access-key-id",
    value: "AKIAIX6EA6QOM66ZJOJY",
};
pub const EMAIL: Planted = Planted {
    kind: "email",
    value: "ops@example.com",
};
pub const AWS_SECRET_KEY: Planted = Planted {
    kind: "aws-secret-access-key",
    value: "biufMdI8X2Y4rUmer+BH3M1XS0DRdJuPnBIKpi99",
};
pub const GITHUB_TOKEN: Planted = Planted {
    kind: "github-token",
    value: "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",
};
pub const SLACK_TOKEN: Planted = Planted {
    kind: "slack-token",
    value: "xoxp-614897071248-1075690072003-fQ7Dh3yEg42ipqnX1fkkjbd9",
};
/// The AWS key pair carried in `mcp-tools-call-request.json` and planted in test prompts.
pub const PROMPT_AWS_KEY_ID: Planted = Planted {
    kind: "aws-access-key-id",
    value: "ASIAUMPMHS6PJARB7LMY",
};
pub const PROMPT_AWS_SECRET: Planted = Planted {
    kind: "aws-secret-access-key",
    value: "xQPplH8ACyjkz4jmBQlm7knI4pShZFC8ZrXbeg+f",
};

/// The assistant text every capture streams (secrets included).
pub const CAPTURED_ANSWER: &str =
    "Your key is AKIAIX6EA6QOM66ZJOJY and the region is eu-west-1. Contact ops@example.com. Done.";

/// Benign text for clean-stream scenarios: nothing a detector should touch.
pub const CLEAN_DELTAS: &[&str] = &[
    "The", " weather", " in", " Paris", " is", " mild", " today", ",", " with", " light", " wind",
    " from", " the", " west", " and", " a", " few", " clouds", ". ", "Enjoy", " your", " walk",
    "!",
];

pub mod captures {
    pub const OPENAI_CHAT: &[u8] = include_bytes!("../corpus/streams/openai-chat.sse");
    pub const OPENAI_RESPONSES: &[u8] = include_bytes!("../corpus/streams/openai-responses.sse");
    pub const ANTHROPIC: &[u8] = include_bytes!("../corpus/streams/anthropic.sse");
    pub const GEMINI: &[u8] = include_bytes!("../corpus/streams/gemini.sse");
    pub const OLLAMA: &[u8] = include_bytes!("../corpus/streams/ollama.ndjson");
    pub const MCP_TOOLS_LIST: &[u8] = include_bytes!("../corpus/streams/mcp-tools-list.json");
    pub const MCP_TOOLS_CALL_REQUEST: &[u8] =
        include_bytes!("../corpus/streams/mcp-tools-call-request.json");
    pub const MCP_TOOLS_CALL_RESULT: &[u8] =
        include_bytes!("../corpus/streams/mcp-tools-call-result.sse");
}

impl ApiShape {
    pub const ALL: [ApiShape; 6] = [
        ApiShape::OpenAiChat,
        ApiShape::OpenAiResponses,
        ApiShape::Anthropic,
        ApiShape::Gemini,
        ApiShape::Ollama,
        ApiShape::Mcp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ApiShape::OpenAiChat => "openai-chat",
            ApiShape::OpenAiResponses => "openai-responses",
            ApiShape::Anthropic => "anthropic",
            ApiShape::Gemini => "gemini",
            ApiShape::Ollama => "ollama",
            ApiShape::Mcp => "mcp",
        }
    }

    /// Recognises the API from a request path (query included), as the mock routes it.
    pub fn from_path(path: &str) -> Option<ApiShape> {
        let path_only = path.split('?').next().unwrap_or(path);
        if path_only.ends_with("/chat/completions") {
            Some(ApiShape::OpenAiChat)
        } else if path_only.ends_with("/responses") {
            Some(ApiShape::OpenAiResponses)
        } else if path_only.ends_with("/messages") {
            Some(ApiShape::Anthropic)
        } else if path_only.contains(":streamGenerateContent")
            || path_only.contains(":generateContent")
        {
            Some(ApiShape::Gemini)
        } else if path_only == "/api/chat" {
            Some(ApiShape::Ollama)
        } else if path_only == "/mcp" {
            Some(ApiShape::Mcp)
        } else {
            None
        }
    }

    /// The path a client uses; `stream` picks Gemini's streaming method.
    pub fn path(self, stream: bool) -> &'static str {
        match self {
            ApiShape::OpenAiChat => "/v1/chat/completions",
            ApiShape::OpenAiResponses => "/v1/responses",
            ApiShape::Anthropic => "/v1/messages",
            ApiShape::Gemini if stream => {
                "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
            }
            ApiShape::Gemini => "/v1beta/models/gemini-2.5-flash:generateContent",
            ApiShape::Ollama => "/api/chat",
            ApiShape::Mcp => "/mcp",
        }
    }

    /// The captured stream for this API (MCP: the SSE `tools/call` answer).
    pub fn capture(self) -> &'static [u8] {
        match self {
            ApiShape::OpenAiChat => captures::OPENAI_CHAT,
            ApiShape::OpenAiResponses => captures::OPENAI_RESPONSES,
            ApiShape::Anthropic => captures::ANTHROPIC,
            ApiShape::Gemini => captures::GEMINI,
            ApiShape::Ollama => captures::OLLAMA,
            ApiShape::Mcp => captures::MCP_TOOLS_CALL_RESULT,
        }
    }

    /// Values planted in this API's capture.
    pub fn planted_in_capture(self) -> &'static [Planted] {
        match self {
            ApiShape::OpenAiChat => &[AWS_ACCESS_KEY_ID, EMAIL, AWS_SECRET_KEY],
            ApiShape::Anthropic => &[AWS_ACCESS_KEY_ID, EMAIL, GITHUB_TOKEN],
            ApiShape::OpenAiResponses | ApiShape::Gemini | ApiShape::Ollama => {
                &[AWS_ACCESS_KEY_ID, EMAIL]
            }
            ApiShape::Mcp => &[SLACK_TOKEN],
        }
    }

    /// The planted values the built-in policy masks when this API's capture streams: all but
    /// the e-mail address, which it flags in streamed answers.
    pub fn masked_by_default_in_stream(self) -> Vec<Planted> {
        self.planted_in_capture()
            .iter()
            .copied()
            .filter(|p| *p != EMAIL)
            .collect()
    }

    pub fn stream_framing(self) -> Framing {
        match self {
            ApiShape::Ollama => Framing::Ndjson,
            _ => Framing::Sse,
        }
    }

    pub fn stream_content_type(self) -> &'static str {
        match self {
            ApiShape::Ollama => "application/x-ndjson",
            _ => "text/event-stream",
        }
    }

    /// A request body carrying `prompt` as the user's text, streaming or not.
    pub fn request_body(self, prompt: &str, stream: bool) -> Vec<u8> {
        let v = match self {
            ApiShape::OpenAiChat => json!({
                "model": "gpt-4o-mini",
                "stream": stream,
                "messages": [
                    {"role": "system", "content": "You are a helpful assistant."},
                    {"role": "user", "content": prompt}
                ]
            }),
            ApiShape::OpenAiResponses => json!({
                "model": "gpt-4.1-mini",
                "stream": stream,
                "instructions": "You are a helpful assistant.",
                "input": prompt
            }),
            ApiShape::Anthropic => json!({
                "model": "claude-sonnet-4-5",
                "max_tokens": 256,
                "stream": stream,
                "system": "You are a helpful assistant.",
                "messages": [{"role": "user", "content": prompt}]
            }),
            ApiShape::Gemini => json!({
                "systemInstruction": {"parts": [{"text": "You are a helpful assistant."}]},
                "contents": [{"role": "user", "parts": [{"text": prompt}]}]
            }),
            ApiShape::Ollama => json!({
                "model": "llama3.2",
                "stream": stream,
                "messages": [{"role": "user", "content": prompt}]
            }),
            ApiShape::Mcp => json!({
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {"name": "lookup", "arguments": {"query": prompt}}
            }),
        };
        v.to_string().into_bytes()
    }

    /// Headers a client of this API sends besides `content-type`.
    pub fn request_headers(self, stream: bool) -> Vec<(String, String)> {
        let mut h = vec![("content-type".to_owned(), "application/json".to_owned())];
        match self {
            ApiShape::Anthropic => {
                h.push(("anthropic-version".to_owned(), "2023-06-01".to_owned()));
            }
            ApiShape::Mcp => {
                let accept = if stream {
                    "application/json, text/event-stream"
                } else {
                    "application/json"
                };
                h.push(("accept".to_owned(), accept.to_owned()));
            }
            _ => {}
        }
        h
    }

    /// The JSON paths (as produced by [`crate::inspect::strings_by_path`]) whose concatenation
    /// is the primary assistant text of a stream of this API.
    pub fn primary_text_paths(self) -> &'static [&'static str] {
        match self {
            ApiShape::OpenAiChat => &["choices.0.delta.content"],
            ApiShape::OpenAiResponses => &["delta"],
            ApiShape::Anthropic => &["delta.text"],
            ApiShape::Gemini => &["candidates.0.content.parts.0.text"],
            ApiShape::Ollama => &["message.content"],
            ApiShape::Mcp => &["result.content.0.text"],
        }
    }
}

/// Builds the value of one text delta event for `api` (the JSON document, not the framing).
pub(crate) fn delta_event(api: ApiShape, seq: usize, text: &str) -> Value {
    match api {
        ApiShape::OpenAiChat => json!({
            "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1763700000,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"content": text}, "logprobs": null, "finish_reason": null}]
        }),
        ApiShape::OpenAiResponses => json!({
            "type": "response.output_text.delta", "sequence_number": seq, "item_id": "msg_mock",
            "output_index": 0, "content_index": 0, "delta": text, "logprobs": []
        }),
        ApiShape::Anthropic => json!({
            "type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": text}
        }),
        ApiShape::Gemini => json!({
            "candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}],
            "modelVersion": "gemini-2.5-flash", "responseId": "mock"
        }),
        ApiShape::Ollama => json!({
            "model": "llama3.2", "created_at": "2026-11-21T10:00:00.000000Z",
            "message": {"role": "assistant", "content": text}, "done": false
        }),
        ApiShape::Mcp => mcp_result(text),
    }
}

fn mcp_result(text: &str) -> Value {
    json!({
        "jsonrpc": "2.0", "id": 3,
        "result": {"content": [{"type": "text", "text": text}], "isError": false}
    })
}

fn sse_event(out: &mut Vec<u8>, event: Option<&str>, data: &Value, eol: &str) {
    if let Some(name) = event {
        out.extend_from_slice(format!("event: {name}{eol}").as_bytes());
    }
    out.extend_from_slice(format!("data: {data}{eol}{eol}").as_bytes());
}

/// Renders a streamed answer made of `deltas` in `api`'s wire format, as the provider would.
pub fn render_stream(api: ApiShape, deltas: &[String]) -> Vec<u8> {
    let full: String = deltas.concat();
    let mut out = Vec::new();
    match api {
        ApiShape::OpenAiChat => {
            let first = json!({
                "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1763700000,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]
            });
            sse_event(&mut out, None, &first, "\n");
            for d in deltas {
                sse_event(&mut out, None, &delta_event(api, 0, d), "\n");
            }
            let last = json!({
                "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1763700000,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": {}, "logprobs": null, "finish_reason": "stop"}]
            });
            sse_event(&mut out, None, &last, "\n");
            out.extend_from_slice(b"data: [DONE]\n\n");
        }
        ApiShape::OpenAiResponses => {
            let response = |status: &str, output: Value| {
                json!({"id": "resp_mock", "object": "response", "created_at": 1763700000,
                       "status": status, "model": "gpt-4.1-mini", "output": output})
            };
            let part =
                json!({"type": "output_text", "annotations": [], "logprobs": [], "text": full});
            let item = json!({"id": "msg_mock", "type": "message", "status": "completed",
                              "content": [part.clone()], "role": "assistant"});
            let mut seq = 0usize;
            let mut ev = |out: &mut Vec<u8>, name: &str, mut v: Value| {
                if let Some(o) = v.as_object_mut() {
                    o.insert("type".to_owned(), json!(name));
                    o.insert("sequence_number".to_owned(), json!(seq));
                }
                seq += 1;
                sse_event(out, Some(name), &v, "\n");
            };
            ev(
                &mut out,
                "response.created",
                json!({"response": response("in_progress", json!([]))}),
            );
            ev(
                &mut out,
                "response.output_item.added",
                json!({"output_index": 0, "item": {"id": "msg_mock", "type": "message",
                       "status": "in_progress", "content": [], "role": "assistant"}}),
            );
            ev(
                &mut out,
                "response.content_part.added",
                json!({"item_id": "msg_mock", "output_index": 0, "content_index": 0,
                       "part": {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}}),
            );
            for d in deltas {
                ev(
                    &mut out,
                    "response.output_text.delta",
                    json!({"item_id": "msg_mock", "output_index": 0, "content_index": 0,
                           "delta": d, "logprobs": []}),
                );
            }
            ev(
                &mut out,
                "response.output_text.done",
                json!({"item_id": "msg_mock", "output_index": 0, "content_index": 0,
                       "text": full, "logprobs": []}),
            );
            ev(
                &mut out,
                "response.content_part.done",
                json!({"item_id": "msg_mock", "output_index": 0, "content_index": 0, "part": part}),
            );
            ev(
                &mut out,
                "response.output_item.done",
                json!({"output_index": 0, "item": item.clone()}),
            );
            ev(
                &mut out,
                "response.completed",
                json!({"response": response("completed", json!([item]))}),
            );
        }
        ApiShape::Anthropic => {
            let start = json!({"type": "message_start", "message": {"id": "msg_mock", "type": "message",
                "role": "assistant", "content": [], "model": "claude-sonnet-4-5", "stop_reason": null,
                "stop_sequence": null, "usage": {"input_tokens": 25, "output_tokens": 1}}});
            sse_event(&mut out, Some("message_start"), &start, "\n");
            sse_event(
                &mut out,
                Some("content_block_start"),
                &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                "\n",
            );
            for d in deltas {
                sse_event(
                    &mut out,
                    Some("content_block_delta"),
                    &delta_event(api, 0, d),
                    "\n",
                );
            }
            sse_event(
                &mut out,
                Some("content_block_stop"),
                &json!({"type": "content_block_stop", "index": 0}),
                "\n",
            );
            sse_event(
                &mut out,
                Some("message_delta"),
                &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                        "usage": {"output_tokens": deltas.len()}}),
                "\n",
            );
            sse_event(
                &mut out,
                Some("message_stop"),
                &json!({"type": "message_stop"}),
                "\n",
            );
        }
        ApiShape::Gemini => {
            for (i, d) in deltas.iter().enumerate() {
                let mut v = delta_event(api, i, d);
                if i + 1 == deltas.len()
                    && let Some(c) = v
                        .pointer_mut("/candidates/0")
                        .and_then(Value::as_object_mut)
                {
                    c.insert("finishReason".to_owned(), json!("STOP"));
                }
                sse_event(&mut out, None, &v, "\r\n");
            }
        }
        ApiShape::Ollama => {
            for d in deltas {
                out.extend_from_slice(delta_event(api, 0, d).to_string().as_bytes());
                out.push(b'\n');
            }
            let done = json!({"model": "llama3.2", "created_at": "2026-11-21T10:00:01.000000Z",
                "message": {"role": "assistant", "content": ""}, "done": true, "done_reason": "stop",
                "eval_count": deltas.len()});
            out.extend_from_slice(done.to_string().as_bytes());
            out.push(b'\n');
        }
        ApiShape::Mcp => {
            out.extend_from_slice(b"event: message\nid: 1\n");
            out.extend_from_slice(format!("data: {}\n\n", mcp_result(&full)).as_bytes());
        }
    }
    out
}

/// Renders a non-streamed answer carrying `text`, as the provider would.
pub fn render_whole(api: ApiShape, text: &str) -> Vec<u8> {
    let v = match api {
        ApiShape::OpenAiChat => json!({
            "id": "chatcmpl-mock", "object": "chat.completion", "created": 1763700000,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": null},
                         "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 19, "completion_tokens": 23, "total_tokens": 42}
        }),
        ApiShape::OpenAiResponses => json!({
            "id": "resp_mock", "object": "response", "created_at": 1763700000, "status": "completed",
            "model": "gpt-4.1-mini",
            "output": [{"id": "msg_mock", "type": "message", "status": "completed", "role": "assistant",
                        "content": [{"type": "output_text", "annotations": [], "text": text}]}]
        }),
        ApiShape::Anthropic => json!({
            "id": "msg_mock", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
            "stop_sequence": null, "usage": {"input_tokens": 25, "output_tokens": 23}
        }),
        ApiShape::Gemini => json!({
            "candidates": [{"content": {"parts": [{"text": text}], "role": "model"},
                            "finishReason": "STOP", "index": 0}],
            "modelVersion": "gemini-2.5-flash", "responseId": "mock"
        }),
        ApiShape::Ollama => json!({
            "model": "llama3.2", "created_at": "2026-11-21T10:00:01.000000Z",
            "message": {"role": "assistant", "content": text}, "done": true, "done_reason": "stop"
        }),
        ApiShape::Mcp => mcp_result(text),
    };
    v.to_string().into_bytes()
}

/// Gemini's streaming method without `alt=sse`: one JSON array of the chunk documents.
pub fn render_gemini_array(sse: &[u8]) -> Vec<u8> {
    let docs: Vec<Value> = crate::inspect::sse_events(sse)
        .events
        .iter()
        .filter_map(|e| serde_json::from_str(&e.data).ok())
        .collect();
    let mut out = b"[".to_vec();
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b",\r\n");
        }
        out.extend_from_slice(d.to_string().as_bytes());
    }
    out.extend_from_slice(b"]");
    out
}
