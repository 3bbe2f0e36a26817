//! The few facts about a decided exchange that the proxy itself may act on after it: access
//! log fields and rate-limit descriptors. Adapters hand them to Envoy (ext_proc dynamic
//! metadata, wasm filter state) under [`NAMESPACE`].
//!
//! Only bounded, non-secret values: names from fixed sets, counts, the model the request named
//! and the deciding rule's id. Never a matched value, a principal or a prompt.

use serde::Serialize;

use crate::exchange::{AuditRecord, Direction};

/// The namespace (ext_proc dynamic metadata) and key prefix (wasm filter state) the summary
/// is published under: `%DYNAMIC_METADATA(sluice:decision)%`.
pub const NAMESPACE: &str = "sluice";

/// Every key [`DecisionSummary::fields`] may give, for configurations that name them.
pub const FIELDS: &[&str] = &[
    "decision",
    "api",
    "model",
    "rule",
    "findings",
    "request_findings",
    "response_findings",
    "input_tokens",
    "output_tokens",
];

/// What Envoy's access logs and rate limits can read about one exchange.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DecisionSummary {
    /// `allow`, `flag`, `mask` or `block`.
    pub decision: &'static str,
    /// The recognised API (`openai-chat`, ...), or `unknown`.
    pub api: &'static str,
    /// The model the request named, where the API carries it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The policy rule that decided, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Matched values, each counted once, in both directions.
    pub findings: u64,
    pub request_findings: u64,
    pub response_findings: u64,
    /// Token counts as the provider reported them in the answer, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
}

impl DecisionSummary {
    pub fn of(record: &AuditRecord) -> DecisionSummary {
        let count = |direction: Option<Direction>| {
            record
                .findings
                .iter()
                .filter(|f| direction.is_none_or(|d| f.direction == d))
                .map(|f| u64::from(f.count))
                .sum()
        };
        DecisionSummary {
            decision: record.decision.as_str(),
            api: record.api.unwrap_or("unknown"),
            model: record.model.as_deref().map(bounded),
            rule: record.rule.clone(),
            findings: count(None),
            request_findings: count(Some(Direction::Request)),
            response_findings: count(Some(Direction::Response)),
            input_tokens: record.usage.and_then(|u| u.input_tokens),
            output_tokens: record.usage.and_then(|u| u.output_tokens),
        }
    }

    /// The summary as `(key, value)` pairs, values as JSON scalars (strings or numbers), for
    /// hosts that store one value per key.
    pub fn fields(&self) -> Vec<(&'static str, serde_json::Value)> {
        let mut out = vec![
            ("decision", self.decision.into()),
            ("api", self.api.into()),
            ("findings", self.findings.into()),
            ("request_findings", self.request_findings.into()),
            ("response_findings", self.response_findings.into()),
        ];
        if let Some(model) = &self.model {
            out.push(("model", model.as_str().into()));
        }
        if let Some(rule) = &self.rule {
            out.push(("rule", rule.as_str().into()));
        }
        if let Some(n) = self.input_tokens {
            out.push(("input_tokens", n.into()));
        }
        if let Some(n) = self.output_tokens {
            out.push(("output_tokens", n.into()));
        }
        out
    }
}

/// Longest model name published; longer ones are cut.
const MODEL_MAX: usize = 128;

/// A model name as the request gave it, made safe for a log line: characters outside
/// `[A-Za-z0-9_.:/@+-]` become `_` (no quote, space or newline reaches a text access log) and
/// the name is cut at [`MODEL_MAX`] bytes.
fn bounded(model: &str) -> String {
    model
        .chars()
        .take(MODEL_MAX)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/' | '@' | '+' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
