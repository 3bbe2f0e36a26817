//! Protocol codecs: where the text lives in each LLM API's request and response bodies, and
//! how to put masked text back while every other byte stays as it was.
//!
//! The codecs know nothing of detection: they hand decoded text to a [`TextFilter`] and splice
//! back what it returns. The holdback redactor is one such filter; tests use simpler ones.

use std::fmt;

pub mod detect_api;
pub mod errors;
pub mod json_str;
pub mod ndjson;
mod request;
mod response;
pub mod shapes;
pub mod sse;
mod usage;

pub use detect_api::{detect_api, framing_for};
pub use errors::{
    error_body, mcp_error_body, mcp_stream_error_event, refusal_document, refusal_event,
    stream_error_event,
};
pub use response::ResponseRewriter;
pub use usage::TokenUsage;

/// The API shape of one exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Api {
    OpenAiChat,
    OpenAiResponses,
    Anthropic,
    Gemini,
    Ollama,
    Mcp,
    /// Unknown or plain text: the whole body is one text stream.
    Text,
}

impl Api {
    pub const ALL: [Api; 7] = [
        Api::OpenAiChat,
        Api::OpenAiResponses,
        Api::Anthropic,
        Api::Gemini,
        Api::Ollama,
        Api::Mcp,
        Api::Text,
    ];

    /// The name used on the command line and in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Api::OpenAiChat => "openai-chat",
            Api::OpenAiResponses => "openai-responses",
            Api::Anthropic => "anthropic",
            Api::Gemini => "gemini",
            Api::Ollama => "ollama",
            Api::Mcp => "mcp",
            Api::Text => "text",
        }
    }

    pub fn parse(s: &str) -> Option<Api> {
        Api::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who wrote a piece of text. Policies treat a system prompt, a tool result and model output
/// differently (injection in a tool result is indirect injection, say).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    System,
    User,
    Assistant,
    /// Output of a tool fed back to the model (OpenAI `role: tool`, Anthropic `tool_result`,
    /// MCP `tools/call` result content).
    ToolResult,
    /// Arguments of a tool call (model output or MCP request).
    ToolArguments,
    /// Tool descriptions (`tools[]`, MCP `tools/list`): an injection vector.
    ToolDescription,
    /// Model reasoning (`thinking_delta`).
    Reasoning,
    Other,
}

/// The role's name in audit records.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::ToolResult => "tool_result",
        Role::ToolArguments => "tool_arguments",
        Role::ToolDescription => "tool_description",
        Role::Reasoning => "reasoning",
        Role::Other => "other",
    }
}

/// Which field kind a stream key belongs to, so that text, tool arguments and reasoning of the
/// same index are held back separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamKind {
    Text,
    ToolArguments,
    Reasoning,
    Refusal,
}

/// Identifies one logical text stream inside a response (one per choice / content block /
/// tool call / output item part).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    pub kind: StreamKind,
    /// choice index, content block index, output index, candidate index ...
    pub index: u32,
    /// tool-call index, content index, part index ... (0 when unused)
    pub sub: u32,
}

/// One decoded text field handed to a filter.
#[derive(Clone, Copy, Debug)]
pub struct TextRef<'a> {
    pub key: StreamKey,
    pub role: Role,
    pub text: &'a str,
}

/// Decides what text leaves. Implemented by the holdback redactor; codecs call it.
///
/// Every method appends the text to release to `out` (cleared by the caller first). Returning
/// exactly the input text means "unchanged"; codecs then pass the original bytes through.
pub trait TextFilter {
    /// A delta of a streamed text field. The filter may hold some of it back and release it
    /// with a later call for the same key.
    fn delta(&mut self, text: TextRef<'_>, out: &mut String);
    /// A complete text (a request field, a non-streamed answer, or the full text an API repeats
    /// in a `*.done` event). Nothing may be held back.
    fn full(&mut self, text: TextRef<'_>, out: &mut String);
    /// The stream `key` ended: release everything held for it.
    fn end(&mut self, key: StreamKey, out: &mut String);
    /// Keys that still hold text, so the codec can flush them at the end of the body.
    fn held_keys(&self, out: &mut Vec<StreamKey>);
    /// Every text of one self-contained message has been filtered and the message has not
    /// left yet: a non-streamed answer read whole, or one MCP JSON-RPC message (a JSON body,
    /// or one SSE event). `Some(reason)` refuses it, and the codec sends an error in the API's
    /// own shape in its place (for MCP a JSON-RPC error with the message's `id`), so a finding
    /// the policy blocks never leaves with the message that carries it. Token streams are
    /// never asked: their text leaves as it streams, and a block stops the stream instead.
    fn refuse_message(&mut self) -> Option<String> {
        None
    }
}

/// A filter that changes nothing; useful as a baseline and in tests.
#[derive(Debug, Default)]
pub struct IdentityFilter;

impl TextFilter for IdentityFilter {
    fn delta(&mut self, text: TextRef<'_>, out: &mut String) {
        out.push_str(text.text);
    }
    fn full(&mut self, text: TextRef<'_>, out: &mut String) {
        out.push_str(text.text);
    }
    fn end(&mut self, _key: StreamKey, _out: &mut String) {}
    fn held_keys(&self, _out: &mut Vec<StreamKey>) {}
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("body is not valid JSON: {0}")]
    Json(String),
    #[error("body is not valid UTF-8")]
    Utf8,
    #[error("malformed stream: {0}")]
    Stream(String),
    #[error("body exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("unsupported shape: {0}")]
    Unsupported(String),
}

/// How a response body is framed on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `text/event-stream`.
    Sse,
    /// `application/x-ndjson` (Ollama).
    Ndjson,
    /// One JSON document, buffered up to a bound (non-streamed answers, Gemini without
    /// `alt=sse`).
    Json,
    /// Anything else: the whole body is one text stream.
    Raw,
}

/// Rewrites a request body: every text field goes through `filter.full`; returns `None` when
/// nothing changed (the original bytes are forwarded), or the new body.
pub fn rewrite_request(
    api: Api,
    body: &[u8],
    filter: &mut dyn TextFilter,
) -> Result<Option<Vec<u8>>, CodecError> {
    request::rewrite(api, body, filter)
}
