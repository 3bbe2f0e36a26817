//! Names of the attributes on Sluice's exchange span (docs/observability.md, "Traces").
//!
//! The `gen_ai.*` and `error.type` names follow the OpenTelemetry GenAI semantic conventions.
//! They are spelled out here rather than taken from `opentelemetry-semantic-conventions`,
//! whose GenAI constants are still marked experimental or deprecated as the convention moves;
//! a rename upstream then is a one-line change here, not a surprise in a dependency update.
//! `sluice.*` names are Sluice's own.
//!
//! Every value put under these names is bounded and non-secret: names from fixed sets, counts,
//! the model name as [`sluice_core::DecisionSummary`] sanitises it, and a policy rule id.

/// What the call does in GenAI terms: `chat` or `generate_content`.
pub const GEN_AI_OPERATION_NAME: &str = "gen_ai.operation.name";
/// Who serves the model: `openai`, `anthropic`, `gcp.gemini`, `ollama`.
pub const GEN_AI_PROVIDER_NAME: &str = "gen_ai.provider.name";
/// The model the request named (sanitised and cut at 128 bytes).
pub const GEN_AI_REQUEST_MODEL: &str = "gen_ai.request.model";
/// Input (prompt) tokens as the provider reported them in its answer.
pub const GEN_AI_USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
/// Output (completion) tokens as the provider reported them in its answer.
pub const GEN_AI_USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
/// The bounded kind of the failure that ended the exchange fail-closed
/// (`sluice_errors_total{kind}`'s values), set with an error status.
pub const ERROR_TYPE: &str = "error.type";

/// The recognised API: `openai-chat`, `openai-responses`, `anthropic`, `gemini`, `ollama`,
/// `mcp`, `text` or `unknown`.
pub const SLUICE_API: &str = "sluice.api";
/// The exchange's decision: `allow`, `flag`, `mask` or `block`.
pub const SLUICE_DECISION: &str = "sluice.decision";
/// Matched values in both directions, each counted once.
pub const SLUICE_FINDINGS: &str = "sluice.findings";
/// Matched values in the request.
pub const SLUICE_REQUEST_FINDINGS: &str = "sluice.request_findings";
/// Matched values in the answer.
pub const SLUICE_RESPONSE_FINDINGS: &str = "sluice.response_findings";
/// The policy rule that decided, when one did.
pub const SLUICE_RULE: &str = "sluice.rule";

/// Span name when the API has no GenAI operation (MCP, raw text, unrecognised traffic).
pub const EXCHANGE_SPAN_NAME: &str = "sluice.exchange";

/// The GenAI operation and provider of a recognised API, `None` for traffic that is not a
/// model call: MCP is tool traffic (its own conventions, not a model provider) and `text` is
/// a best-effort scan of an unrecognised body.
pub fn gen_ai_of(api: &str) -> Option<(&'static str, &'static str)> {
    match api {
        "openai-chat" | "openai-responses" => Some(("chat", "openai")),
        "anthropic" => Some(("chat", "anthropic")),
        "gemini" => Some(("generate_content", "gcp.gemini")),
        "ollama" => Some(("chat", "ollama")),
        _ => None,
    }
}
