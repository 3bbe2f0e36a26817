//! One HTTP request/response pair, driven the same way by every adapter.
//!
//! Adapters call, in order: `request_headers`, `request_body` (one or more chunks, the last
//! with `end_of_stream`), `response_headers`, `response_body` (chunks), then `finish`. Calls
//! may stop early (the client or Envoy went away); `finish` is still valid then.

use std::sync::Arc;

use serde::Serialize;

use crate::codec::Api;
use crate::finding::Category;
use crate::policy::Policy;

/// Header list as adapters see it: lower-case names, values as text.
pub type Headers = [(String, String)];

/// Who is calling and over which route; filled by the adapter from what Envoy knows.
#[derive(Clone, Debug, Default)]
pub struct ExchangeContext {
    /// Principal (JWT subject, SPIFFE id, API-key fingerprint), if known.
    pub identity: Option<String>,
    /// Route name or path prefix, for the audit record.
    pub route: Option<String>,
    /// Forces the API shape; otherwise it is recognised from the request path and body.
    pub api: Option<Api>,
    /// Request id to put in error bodies and the audit record (`x-request-id`).
    pub request_id: Option<String>,
}

/// Header edits for the adapter to apply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderMutation {
    pub set: Vec<(String, String)>,
    pub remove: Vec<String>,
}

impl HeaderMutation {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }
}

/// A response Sluice sends instead of forwarding (request refused, body too large, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Short machine-readable reason, for logs and the audit record (never a secret).
    pub reason: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeadersOutcome {
    Continue(HeaderMutation),
    Reply(LocalReply),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyOutcome {
    /// Forward the chunk exactly as received.
    Unchanged,
    /// Forward these bytes instead of the chunk (possibly empty: held back for now). For a
    /// request body the adapter must make `content-length` match.
    Replace(Vec<u8>),
    /// Answer locally (request phase only; after response headers left, adapters turn this
    /// into a stream reset).
    Reply(LocalReply),
}

/// The decision taken for one exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Flag,
    Mask,
    Block,
}

/// Findings of one rule in one direction, without the value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FindingSummary {
    pub rule: &'static str,
    pub category: Category,
    pub direction: Direction,
    pub count: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Request,
    Response,
}

/// What `finish` returns: everything the audit log needs, and nothing secret.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditRecord {
    pub api: Option<&'static str>,
    pub identity: Option<String>,
    pub route: Option<String>,
    pub request_id: Option<String>,
    pub policy_version: u32,
    pub decision: Decision,
    pub findings: Vec<FindingSummary>,
    /// Errors that forced a fail-closed outcome (parse errors, limits, encodings).
    pub errors: Vec<String>,
    /// True when the API was not recognised and raw text was scanned best-effort.
    pub best_effort: bool,
    /// True when the exchange ended before both bodies completed.
    pub incomplete: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    #[error(transparent)]
    Detector(#[from] crate::detect::BuildError),
}

/// Compiled policy and detectors, shared by all exchanges (cheap to clone).
#[derive(Clone, Debug)]
pub struct Engine {
    policy: Arc<Policy>,
}

impl Engine {
    pub fn new(policy: Policy) -> Result<Engine, EngineError> {
        policy.validate()?;
        Ok(Engine {
            policy: Arc::new(policy),
        })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn exchange(&self, ctx: ExchangeContext) -> Exchange {
        Exchange {
            engine: self.clone(),
            ctx,
        }
    }
}

/// State of one request/response pair.
#[derive(Debug)]
pub struct Exchange {
    engine: Engine,
    ctx: ExchangeContext,
}

impl Exchange {
    /// `headers` includes pseudo-headers (`:path`, `:method`, `:authority`).
    pub fn request_headers(&mut self, _headers: &Headers) -> HeadersOutcome {
        HeadersOutcome::Continue(HeaderMutation::default())
    }

    pub fn request_body(&mut self, _chunk: &[u8], _end_of_stream: bool) -> BodyOutcome {
        BodyOutcome::Unchanged
    }

    /// `headers` includes `:status`.
    pub fn response_headers(&mut self, _headers: &Headers) -> HeadersOutcome {
        HeadersOutcome::Continue(HeaderMutation::default())
    }

    pub fn response_body(&mut self, _chunk: &[u8], _end_of_stream: bool) -> BodyOutcome {
        BodyOutcome::Unchanged
    }

    /// The audit record. Safe to call more than once and at any point.
    pub fn finish(&mut self) -> AuditRecord {
        AuditRecord {
            api: None,
            identity: self.ctx.identity.clone(),
            route: self.ctx.route.clone(),
            request_id: self.ctx.request_id.clone(),
            policy_version: self.engine.policy.version,
            decision: Decision::Allow,
            findings: Vec::new(),
            errors: Vec::new(),
            best_effort: false,
            incomplete: false,
        }
    }
}
