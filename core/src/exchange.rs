//! One HTTP request/response pair, driven the same way by every adapter.
//!
//! Adapters call, in order: `request_headers`, `request_body` (one or more chunks, the last
//! with `end_of_stream`), `response_headers`, `response_body` (chunks), then `finish`. Calls
//! may stop early (the client or Envoy went away); `finish` is still valid then.

use std::sync::Arc;

use serde::Serialize;

use crate::audit::FingerprintKey;
use crate::codec::{self, Api, CodecError, Framing, ResponseRewriter};
use crate::decompress::{ContentEncoding, Decompressor};
use crate::detect::Scanner;
use crate::finding::Category;
use crate::holdback::{Counted, Redactor};
use crate::inject::InjectionDetector;
use crate::policy::{Action, Policy};

/// Header list as adapters see it: lower-case names, values as text.
pub type Headers = [(String, String)];

/// Who is calling and over which route; filled by the adapter from what Envoy knows.
#[derive(Clone, Debug, Default)]
pub struct ExchangeContext {
    /// Principal (JWT subject, SPIFFE id, API-key fingerprint), if known. Never a credential.
    pub identity: Option<String>,
    /// Where the principal came from (`peer-certificate`, `xfcc`, ...), for the audit record.
    pub identity_source: Option<String>,
    /// Host the request was sent to (`:authority`); read from the headers when absent.
    pub host: Option<String>,
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
    /// What the policy did with them (`flag`, `mask`, `block`).
    pub action: Action,
    pub count: u32,
    /// Where the findings were: the roles of the text fields (`user`, `tool_result`, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<&'static str>,
    /// Distinct keyed fingerprints of the matched values (hex, see `audit::fingerprint`),
    /// when a fingerprint key is configured. Never the value.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fingerprints: Vec<String>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_source: Option<String>,
    pub route: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The `model` the request named, where the API carries it (body field or Gemini path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    pub policy_version: u32,
    /// SHA-256 (hex) of the policy document's bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_sha256: Option<String>,
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
    #[error("policy not serialisable: {0}")]
    Serialise(#[from] serde_json::Error),
}

/// Compiled policy and detectors, shared by all exchanges (cheap to clone).
#[derive(Clone, Debug)]
pub struct Engine {
    policy: Arc<Policy>,
    scanner: Arc<Scanner>,
    /// Per direction, the scanner whose `viable_from` decides holdback (masked families only).
    hold_request: Arc<Scanner>,
    hold_response: Arc<Scanner>,
    injection: Arc<InjectionDetector>,
    /// Hex SHA-256 of the policy document (of its JSON serialisation until one is given).
    policy_sha256: Arc<str>,
    fingerprint: Option<Arc<FingerprintKey>>,
}

impl Engine {
    pub fn new(policy: Policy) -> Result<Engine, EngineError> {
        policy.validate()?;
        let options = policy.detectors.options();
        let scanner = Arc::new(Scanner::new(&options)?);
        // Holdback only matters where text streams out in pieces, so it follows the policy as
        // it applies to streamed bodies.
        let hold_for = |dp: &crate::policy::DirectionPolicy| -> Result<Arc<Scanner>, EngineError> {
            let dp = dp.for_streams();
            let masks = |a: Action| matches!(a, Action::Mask | Action::Block);
            let held = hold_options(
                &options,
                masks(dp.credential),
                masks(dp.pii),
                dp.masks_email(),
            );
            Ok(if held == options {
                scanner.clone()
            } else {
                Arc::new(Scanner::new(&held)?)
            })
        };
        let hold_request = hold_for(&policy.request)?;
        let hold_response = if policy.response == policy.request {
            hold_request.clone()
        } else {
            hold_for(&policy.response)?
        };
        let policy_sha256 = crate::audit::sha256_hex(&serde_json::to_vec(&policy)?).into();
        let injection = Arc::new(if policy.detectors.injection_model {
            InjectionDetector::with_model()
        } else {
            InjectionDetector::new()
        });
        Ok(Engine {
            policy: Arc::new(policy),
            scanner,
            hold_request,
            hold_response,
            injection,
            policy_sha256,
            fingerprint: None,
        })
    }

    /// Records the bytes of the policy document this engine was built from: audit records
    /// carry their SHA-256.
    pub fn with_policy_document(mut self, document: &[u8]) -> Engine {
        self.policy_sha256 = crate::audit::sha256_hex(document).into();
        self
    }

    /// Fingerprints matched values under this key in audit records.
    pub fn with_fingerprint_key(mut self, key: FingerprintKey) -> Engine {
        self.fingerprint = Some(Arc::new(key));
        self
    }

    pub fn policy_sha256(&self) -> &str {
        &self.policy_sha256
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn scanner(&self) -> &Scanner {
        &self.scanner
    }

    pub fn injection(&self) -> &InjectionDetector {
        &self.injection
    }

    pub fn exchange(&self, ctx: ExchangeContext) -> Exchange {
        Exchange {
            engine: self.clone(),
            ctx,
            api: None,
            model: None,
            path: String::new(),
            request_body: Vec::new(),
            request_done: false,
            request_findings: Vec::new(),
            response: None,
            response_findings: Vec::new(),
            response_done: false,
            stopped: false,
            replied: false,
            errors: Vec::new(),
            best_effort: false,
            scratch: Vec::new(),
        }
    }

    /// The redactor of one direction; `streamed` bodies get the policy's stream overrides.
    fn redactor(&self, direction: Direction, streamed: bool) -> Redactor {
        let p = &self.policy;
        let injection = p
            .detectors
            .injection
            .then(|| (self.injection.clone(), p.detectors.injection_threshold));
        let (dp, hold) = match direction {
            Direction::Request => (p.request, &self.hold_request),
            Direction::Response => (p.response, &self.hold_response),
        };
        let dp = if streamed { dp.for_streams() } else { dp };
        Redactor::new(
            self.scanner.clone(),
            hold.clone(),
            injection,
            dp,
            p.limits.holdback_bytes,
        )
        .with_fingerprints(self.fingerprint.clone())
    }
}

/// The detector families whose findings are masked (or blocked) in a direction: only those
/// need text held back while it streams.
fn hold_options(
    all: &crate::detect::DetectorOptions,
    credentials: bool,
    pii: bool,
    email: bool,
) -> crate::detect::DetectorOptions {
    crate::detect::DetectorOptions {
        credentials: all.credentials && credentials,
        email: all.email && email,
        phone: all.phone && pii,
        payment_card: all.payment_card && pii,
        us_ssn: all.us_ssn && pii,
        iban: all.iban && pii,
        ip_address: all.ip_address && pii,
        decoders: all.decoders && (credentials || pii || email),
        decode_depth: all.decode_depth,
    }
}

/// Response-side state, created when the response headers arrive.
#[derive(Debug)]
struct ResponseState {
    api: Api,
    framing: Framing,
    rewriter: ResponseRewriter,
    redactor: Redactor,
    decompressor: Option<Decompressor>,
}

/// State of one request/response pair.
#[derive(Debug)]
pub struct Exchange {
    engine: Engine,
    ctx: ExchangeContext,
    api: Option<Api>,
    model: Option<String>,
    path: String,
    request_body: Vec<u8>,
    request_done: bool,
    request_findings: Vec<Counted>,
    response: Option<ResponseState>,
    response_findings: Vec<Counted>,
    response_done: bool,
    /// The response stream was stopped (block or fail-closed error); later chunks are dropped.
    stopped: bool,
    /// A local reply was produced; nothing else is forwarded.
    replied: bool,
    errors: Vec<String>,
    best_effort: bool,
    scratch: Vec<u8>,
}

fn header<'h>(headers: &'h Headers, name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl Exchange {
    /// The API this exchange was recognised as (after the request headers / body).
    pub fn api(&self) -> Option<Api> {
        self.api
    }

    fn reply(&mut self, status: u16, message: &str, reason: &'static str) -> LocalReply {
        self.replied = true;
        self.errors.push(reason.to_string());
        let api = self.api.unwrap_or(Api::Text);
        let request_id = self.ctx.request_id.clone().unwrap_or_default();
        let (content_type, body) = codec::error_body(api, status, message, &request_id);
        let mut headers = vec![("content-type".to_string(), content_type.to_string())];
        if !request_id.is_empty() {
            headers.push(("x-request-id".to_string(), request_id));
        }
        headers.push((
            "x-sluice-decision".to_string(),
            format!("block; reason={reason}"),
        ));
        LocalReply {
            status,
            headers,
            body,
            reason,
        }
    }

    /// `headers` includes pseudo-headers (`:path`, `:method`, `:authority`).
    pub fn request_headers(&mut self, headers: &Headers) -> HeadersOutcome {
        self.path = header(headers, ":path").unwrap_or("").to_string();
        if self.ctx.request_id.is_none() {
            self.ctx.request_id = header(headers, "x-request-id").map(str::to_string);
        }
        if self.ctx.host.is_none() {
            self.ctx.host = header(headers, ":authority")
                .or_else(|| header(headers, "host"))
                .map(str::to_string);
        }
        self.model = gemini_model(&self.path);
        self.api = self
            .ctx
            .api
            .or_else(|| Some(codec::detect_api(&self.path, None)));
        match ContentEncoding::parse(header(headers, "content-encoding")) {
            Ok(None) => {}
            Ok(Some(_)) | Err(_) => {
                let r = self.reply(
                    415,
                    "compressed request bodies are not accepted by the inspection layer",
                    "request-content-encoding",
                );
                return HeadersOutcome::Reply(r);
            }
        }
        let mut m = HeaderMutation::default();
        // Ask for an uncompressed answer so it can be read as it streams.
        m.set
            .push(("accept-encoding".to_string(), "identity".to_string()));
        HeadersOutcome::Continue(m)
    }

    pub fn request_body(&mut self, chunk: &[u8], end_of_stream: bool) -> BodyOutcome {
        if self.replied || self.request_done {
            return BodyOutcome::Replace(Vec::new());
        }
        let limit = self.engine.policy.limits.request_body_bytes;
        if self.request_body.len() + chunk.len() > limit {
            self.request_body = Vec::new();
            let msg = format!("request body exceeds the inspection limit of {limit} bytes");
            return BodyOutcome::Reply(self.reply(413, &msg, "request-too-large"));
        }
        if !end_of_stream {
            self.request_body.extend_from_slice(chunk);
            return BodyOutcome::Replace(Vec::new());
        }
        self.request_done = true;
        let body: std::borrow::Cow<'_, [u8]> = if self.request_body.is_empty() {
            std::borrow::Cow::Borrowed(chunk)
        } else {
            let mut b = std::mem::take(&mut self.request_body);
            b.extend_from_slice(chunk);
            std::borrow::Cow::Owned(b)
        };
        if body.is_empty() {
            return BodyOutcome::Unchanged;
        }
        let detected = self
            .ctx
            .api
            .unwrap_or_else(|| codec::detect_api(&self.path, Some(&body)));
        self.api = Some(detected);
        self.best_effort = detected == Api::Text;
        if self.model.is_none() {
            self.model = body_model(detected, &body);
        }
        let mut redactor = self.engine.redactor(Direction::Request, false);
        let result = codec::rewrite_request(detected, &body, &mut redactor);
        self.request_findings.extend_from_slice(redactor.findings());
        let rewritten = match result {
            Ok(r) => r,
            Err(e) => {
                let (status, reason) = match e {
                    CodecError::TooLarge { .. } => (413, "request-too-large"),
                    _ => (400, "request-unreadable"),
                };
                let msg = format!("request body could not be inspected: {e}");
                return BodyOutcome::Reply(self.reply(status, &msg, reason));
            }
        };
        if redactor.blocked() {
            let cats = summarise_categories(&self.request_findings, Action::Block);
            let msg = format!("request blocked by policy: it contains {cats}");
            return BodyOutcome::Reply(self.reply(403, &msg, "policy-block"));
        }
        match rewritten {
            // A request body is always buffered whole, so emitting it unchanged is exactly the
            // chunk when it came in one piece; otherwise the adapter must get the whole body.
            None if body.len() == chunk.len() => BodyOutcome::Unchanged,
            None => BodyOutcome::Replace(body.into_owned()),
            Some(new) => BodyOutcome::Replace(new),
        }
    }

    /// `headers` includes `:status`.
    pub fn response_headers(&mut self, headers: &Headers) -> HeadersOutcome {
        let api = self.api.unwrap_or(Api::Text);
        let framing = codec::framing_for(api, header(headers, "content-type"));
        // A JSON-labelled body is one answer read whole (an Ollama line under that label too):
        // the policy's stream overrides apply to the others.
        let streamed = framing != Framing::Json
            && !header(headers, "content-type").is_some_and(|c| {
                c.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/json")
            });
        let limits = &self.engine.policy.limits;
        let decompressor = match ContentEncoding::parse(header(headers, "content-encoding")) {
            Ok(None) => None,
            Ok(Some(enc)) => Some(Decompressor::new(
                enc,
                limits.response_buffer_bytes.max(1 << 20),
            )),
            Err(_) => {
                let r = self.reply(
                    502,
                    "the upstream answered with a content-encoding the inspection layer cannot read",
                    "response-content-encoding",
                );
                return HeadersOutcome::Reply(r);
            }
        };
        let mut m = HeaderMutation::default();
        // The body may change length (masks, holdback, decompression).
        m.remove.push("content-length".to_string());
        if decompressor.is_some() {
            m.remove.push("content-encoding".to_string());
        }
        m.set
            .push(("x-sluice-decision".to_string(), self.decision_header()));
        self.response = Some(ResponseState {
            api,
            framing,
            rewriter: ResponseRewriter::new(api, framing, limits.response_buffer_bytes),
            redactor: self.engine.redactor(Direction::Response, streamed),
            decompressor,
        });
        HeadersOutcome::Continue(m)
    }

    pub fn response_body(&mut self, chunk: &[u8], end_of_stream: bool) -> BodyOutcome {
        if self.stopped || self.response_done || self.replied {
            return BodyOutcome::Replace(Vec::new());
        }
        if self.response.is_none() {
            // Headers were never seen (adapter skipped them): read as raw text, fail closed.
            let _ = self.response_headers(&[]);
        }
        let Some(state) = self.response.as_mut() else {
            return BodyOutcome::Replace(Vec::new());
        };
        if end_of_stream {
            self.response_done = true;
        }
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        let mut failure: Option<String> = None;
        let decoded;
        let input: &[u8] = match state.decompressor.as_mut() {
            None => chunk,
            Some(d) => {
                let mut plain = Vec::new();
                match d.push(chunk, end_of_stream, &mut plain) {
                    Ok(()) => {}
                    Err(e) => failure = Some(e.to_string()),
                }
                decoded = plain;
                &decoded
            }
        };
        if failure.is_none()
            && let Err(e) = state
                .rewriter
                .push(input, end_of_stream, &mut state.redactor, &mut out)
        {
            failure = Some(e.to_string());
        }
        let blocked = state.redactor.blocked();
        if failure.is_some() || blocked {
            let message = if blocked {
                "response stopped by policy".to_string()
            } else {
                "response could not be inspected; stopped".to_string()
            };
            if let Some(f) = failure {
                self.errors.push(format!("response: {f}"));
            }
            // What the rewriter released before the failure was inspected; the rest is not.
            out.extend_from_slice(&codec::stream_error_event(
                state.api,
                state.framing,
                &message,
            ));
            self.stopped = true;
        }
        if !self.stopped && state.decompressor.is_none() && out == chunk {
            // Keep the buffer for the next chunk: the common passthrough allocates nothing.
            self.scratch = out;
            BodyOutcome::Unchanged
        } else {
            BodyOutcome::Replace(out)
        }
    }

    /// `x-sluice-decision` value: the decision so far and counts by category, never a value.
    pub fn decision_header(&self) -> String {
        let all = self
            .request_findings
            .iter()
            .chain(self.response_findings.iter());
        let mut counts = [0u32; 3];
        for f in all.clone() {
            counts[f.category as usize] += 1;
        }
        let decision = decide(all.map(|f| f.action));
        format!(
            "{}; credential={}; pii={}; injection={}",
            decision_str(decision),
            counts[0],
            counts[1],
            counts[2]
        )
    }

    /// The exchange's audit record could not be made durable in time: the response must not
    /// end as if it had been inspected and recorded. Returns what the adapter sends instead of
    /// the final response chunk (the API's own error event) and stops the stream.
    pub fn audit_failed(&mut self) -> Vec<u8> {
        self.errors.push("audit-write-failed".to_string());
        self.stopped = true;
        let (api, framing) = match self.response.as_ref() {
            Some(s) => (s.api, s.framing),
            None => (self.api.unwrap_or(Api::Text), Framing::Raw),
        };
        codec::stream_error_event(
            api,
            framing,
            "response stopped: the audit record could not be written",
        )
    }

    /// The audit record. Safe to call more than once and at any point.
    pub fn finish(&mut self) -> AuditRecord {
        if let Some(state) = self.response.as_ref() {
            self.response_findings = state.redactor.findings().to_vec();
        }
        let mut findings: Vec<FindingSummary> = Vec::new();
        for (direction, list) in [
            (Direction::Request, &self.request_findings),
            (Direction::Response, &self.response_findings),
        ] {
            for f in list {
                match findings
                    .iter_mut()
                    .find(|s| s.rule == f.rule && s.direction == direction && s.action == f.action)
                {
                    Some(s) => {
                        s.count += 1;
                        add_where(s, f);
                    }
                    None => {
                        let mut s = FindingSummary {
                            rule: f.rule,
                            category: f.category,
                            direction,
                            action: f.action,
                            count: 1,
                            roles: Vec::new(),
                            fingerprints: Vec::new(),
                        };
                        add_where(&mut s, f);
                        findings.push(s);
                    }
                }
            }
        }
        let actions = self
            .request_findings
            .iter()
            .chain(self.response_findings.iter())
            .map(|f| f.action);
        let mut decision = decide(actions);
        if self.replied || self.stopped {
            decision = Decision::Block;
        }
        AuditRecord {
            api: self.api.map(Api::as_str),
            identity: self.ctx.identity.clone(),
            identity_source: self.ctx.identity_source.clone(),
            route: self.ctx.route.clone(),
            host: self.ctx.host.clone(),
            model: self.model.clone(),
            request_id: self.ctx.request_id.clone(),
            policy_id: self.engine.policy.policy_id.clone(),
            policy_version: self.engine.policy.version,
            policy_sha256: Some(self.engine.policy_sha256.to_string()),
            decision,
            findings,
            errors: self.errors.clone(),
            best_effort: self.best_effort,
            incomplete: !(self.replied
                || (self.request_done || self.path.is_empty()) && self.response_done),
        }
    }
}

fn add_where(s: &mut FindingSummary, f: &Counted) {
    let role = crate::codec::role_name(f.role);
    if !s.roles.contains(&role) {
        s.roles.push(role);
    }
    if let Some(fp) = f.fingerprint {
        let fp = hex::encode(fp);
        if !s.fingerprints.contains(&fp) {
            s.fingerprints.push(fp);
        }
    }
}

/// The model a Gemini path names: `/v1beta/models/{model}:generateContent`.
fn gemini_model(path: &str) -> Option<String> {
    let rest = path.split('?').next()?.split("/models/").nth(1)?;
    let model = rest.split([':', '/']).next()?;
    (!model.is_empty() && model.len() <= 256).then(|| model.to_string())
}

/// The top-level `model` string of a JSON request body, for the APIs that carry one.
fn body_model(api: Api, body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct M<'a> {
        #[serde(borrow)]
        model: Option<std::borrow::Cow<'a, str>>,
    }
    match api {
        Api::OpenAiChat | Api::OpenAiResponses | Api::Anthropic | Api::Ollama => {}
        Api::Gemini | Api::Mcp | Api::Text => return None,
    }
    let m: M<'_> = serde_json::from_slice(body).ok()?;
    let model = m.model?;
    (model.len() <= 256).then(|| model.into_owned())
}

fn decide(actions: impl Iterator<Item = Action>) -> Decision {
    let mut d = Decision::Allow;
    for a in actions {
        let this = match a {
            Action::Allow => Decision::Allow,
            Action::Flag => Decision::Flag,
            Action::Mask => Decision::Mask,
            Action::Block => Decision::Block,
        };
        if rank(this) > rank(d) {
            d = this;
        }
    }
    d
}

fn rank(d: Decision) -> u8 {
    match d {
        Decision::Allow => 0,
        Decision::Flag => 1,
        Decision::Mask => 2,
        Decision::Block => 3,
    }
}

fn decision_str(d: Decision) -> &'static str {
    match d {
        Decision::Allow => "allow",
        Decision::Flag => "flag",
        Decision::Mask => "mask",
        Decision::Block => "block",
    }
}

fn summarise_categories(findings: &[Counted], action: Action) -> String {
    let mut cats: Vec<&str> = findings
        .iter()
        .filter(|f| f.action == action)
        .map(|f| f.category.as_str())
        .collect();
    cats.sort_unstable();
    cats.dedup();
    if cats.is_empty() {
        "disallowed content".to_string()
    } else {
        cats.join(", ")
    }
}
