//! One HTTP request/response pair, driven the same way by every adapter.
//!
//! Adapters call, in order: `request_headers`, `request_body` (one or more chunks, the last
//! with `end_of_stream`), `response_headers`, `response_body` (chunks), then `finish`. Calls
//! may stop early (the client or Envoy went away); `finish` is still valid then.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::audit::FingerprintKey;
use crate::codec::{
    self, Api, CodecError, Framing, ResponseRewriter, Role, StreamKey, TextFilter, TextRef,
    TokenUsage,
};
use crate::decompress::{ContentEncoding, Decompressor};
use crate::detect::Scanner;
use crate::finding::Category;
use crate::holdback::{Counted, HeldBack, Redactor};
use crate::inject::InjectionDetector;
use crate::policy::identity::{Identity, IdentityInputs, IdentitySource};
use crate::policy::roles::{RoleScores, RoleThresholds};
use crate::policy::rules::{Activation, DryRun, RequestFacts, RuleDecision, RuleSet};
use crate::policy::{Action, DirectionPolicy, Policy};

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
    /// The `envoy.filters.http.jwt_authn` dynamic-metadata namespace (an object keyed by the
    /// `payload_in_metadata` names), when Envoy forwards it. Read only when the policy names a
    /// JWT source.
    pub jwt_metadata: Option<serde_json::Value>,
    /// An identity the caller already established (policy tests, embedders): the policy's
    /// identity sources are then not consulted. Adapters leave it empty.
    pub resolved_identity: Option<Identity>,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Flag,
    Mask,
    Block,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        decision_str(self)
    }
}

impl Action {
    /// The action's name as policies and audit records spell it.
    pub fn as_str(self) -> &'static str {
        action_str(self)
    }
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

impl Direction {
    /// The direction's name as audit records spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Request => "request",
            Direction::Response => "response",
        }
    }
}

/// Every label name Sluice's metrics use, in both modes. The proxy-wasm filter encodes labels
/// in Envoy stat names (`NAME=.=VALUE;.;`), and `sluice envoy-bootstrap` gives Envoy one tag
/// extractor per name here, so the two must agree.
pub const METRIC_LABELS: &[&str] = &[
    "api",
    "decision",
    "mode",
    "category",
    "rule",
    "direction",
    "action",
    "kind",
    "reason",
    "phase",
    "result",
    "token_type",
];

/// Longest label value [`metric_label`] keeps.
pub const METRIC_LABEL_MAX: usize = 64;

/// A name from the policy (a rule id, a custom category) as a metrics label value, the same
/// in both adapters: characters outside `[A-Za-z0-9_.:-]` become `_` and the value is cut at
/// [`METRIC_LABEL_MAX`] bytes. Neither exposition format escapes for us everywhere (Envoy
/// encodes labels in stat names, split at `;` and `=`), and a policy author's id may hold
/// anything.
pub fn metric_label(name: &str) -> std::borrow::Cow<'_, str> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-');
    if name.len() <= METRIC_LABEL_MAX && !name.is_empty() && name.chars().all(ok) {
        return std::borrow::Cow::Borrowed(name);
    }
    let mut out: String = name
        .chars()
        .map(|c| if ok(c) { c } else { '_' })
        .take(METRIC_LABEL_MAX)
        .collect();
    if out.is_empty() {
        out.push('_');
    }
    std::borrow::Cow::Owned(out)
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
    /// The policy rule that decided, when one did (otherwise the per-category defaults did).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Rules that matched but did not decide (dry-run, or outside their roll-out), with what
    /// they would have done.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    pub findings: Vec<FindingSummary>,
    /// Errors that forced a fail-closed outcome (parse errors, limits, encodings).
    pub errors: Vec<String>,
    /// True when the API was not recognised and raw text was scanned best-effort.
    pub best_effort: bool,
    /// True when the exchange ended before both bodies completed.
    pub incomplete: bool,
    /// Token counts the answer reported, for accounting per caller and model; `None` when it
    /// reported none (the API has no such field, or the request did not ask for them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<TokenUsage>,
    /// Streamed answer text that waited for a later event (for metrics; not part of the
    /// audit trail's format).
    #[serde(skip)]
    pub held_back: HeldBack,
}

/// Prefix of the `errors` entry of a response that could not be inspected.
const RESPONSE_ERROR_PREFIX: &str = "response: ";
/// Prefix of the `errors` entry of a rule whose evaluation failed.
const RULE_ERROR_PREFIX: &str = "rule ";

/// Reasons a local reply records in `errors` that name a failure (not a policy refusal).
const FAILURE_REASONS: &[&str] = &[
    "request-too-large",
    "request-unreadable",
    "request-content-encoding",
    "response-content-encoding",
    "policy-rule-error",
    "audit-write-failed",
];

/// The bounded kind of one [`AuditRecord::errors`] entry, for metrics labels: entries carry
/// detail (a parse position, a rule's message) that must never become a label value. `None`
/// for the entries that record a policy refusal (`policy-block`, `policy-rule-block`): those
/// are the `block` decision, not a failure.
pub fn error_kind(entry: &str) -> Option<&'static str> {
    if let Some(kind) = FAILURE_REASONS.iter().find(|k| **k == entry) {
        return Some(kind);
    }
    match entry {
        "policy-block" | "policy-rule-block" => None,
        e if e.starts_with(RESPONSE_ERROR_PREFIX) => Some("response-uninspectable"),
        e if e.starts_with(RULE_ERROR_PREFIX) => Some("policy-rule-error"),
        _ => Some("other"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    #[error(transparent)]
    Detector(#[from] crate::detect::BuildError),
    #[error("policy not serialisable: {0}")]
    Serialise(#[from] serde_json::Error),
    #[error(transparent)]
    Rule(#[from] crate::policy::rules::RuleError),
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
    /// The policy's per-role thresholds, resolved once.
    injection_roles: RoleThresholds,
    /// Hex SHA-256 of the policy document (of its JSON serialisation until one is given).
    policy_sha256: Arc<str>,
    fingerprint: Option<Arc<FingerprintKey>>,
    rules: Arc<RuleSet>,
    /// Holdback scanners for a direction a rule decided as a whole: every family when it
    /// masks, none when it lets findings through.
    hold_all: Arc<Scanner>,
    hold_none: Arc<Scanner>,
}

impl Engine {
    pub fn new(policy: Policy) -> Result<Engine, EngineError> {
        policy.validate()?;
        let options = policy
            .detectors
            .options()
            .map_err(crate::policy::PolicyError::from)?;
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
                dp.masks_phone(),
                true,
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
        let injection_roles = policy
            .detectors
            .injection_roles
            .thresholds(policy.detectors.injection_threshold);
        let rules = Arc::new(RuleSet::compile(&policy.rules)?);
        let hold_none = if rules.is_empty() {
            scanner.clone()
        } else {
            Arc::new(Scanner::new(&hold_options(
                &options, false, false, false, false, false,
            ))?)
        };
        Ok(Engine {
            rules,
            hold_all: scanner.clone(),
            hold_none,
            policy: Arc::new(policy),
            scanner,
            hold_request,
            hold_response,
            injection,
            injection_roles,
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

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    pub fn exchange(&self, ctx: ExchangeContext) -> Exchange {
        Exchange {
            engine: self.clone(),
            ctx,
            identity: None,
            method: String::new(),
            rule_headers: Vec::new(),
            activation: None,
            decided: None,
            dry_run: Vec::new(),
            rule_errors: Vec::new(),
            request_uniform: None,
            response_uniform: None,
            request_injection: RoleScores::default(),
            evaluated_findings: usize::MAX,
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
    /// `uniform`: a rule decided the direction, so its action applies to every finding.
    fn redactor(&self, direction: Direction, streamed: bool, uniform: Option<Action>) -> Redactor {
        let p = &self.policy;
        let injection = p
            .detectors
            .injection
            .then(|| (self.injection.clone(), self.injection_roles));
        let (dp, hold) = match (direction, uniform) {
            (_, Some(a)) => {
                // `allow` still counts what passed (relabelled at the audit), so the record
                // shows what a rule let through.
                let a = if a == Action::Allow { Action::Flag } else { a };
                let hold = if matches!(a, Action::Mask | Action::Block) {
                    &self.hold_all
                } else {
                    &self.hold_none
                };
                (uniform_policy(a), hold)
            }
            (Direction::Request, None) => (p.request, &self.hold_request),
            (Direction::Response, None) => (p.response, &self.hold_response),
        };
        let dp = if streamed && uniform.is_none() {
            dp.for_streams()
        } else {
            dp
        };
        // Rules must see what the defaults allow; `relabel` sets those back to `allow`.
        let dp = if uniform.is_none() && !self.rules.is_empty() {
            counting(dp)
        } else {
            dp
        };
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

fn counting(dp: DirectionPolicy) -> DirectionPolicy {
    let f = |a: Action| if a == Action::Allow { Action::Flag } else { a };
    DirectionPolicy {
        credential: f(dp.credential),
        pii: f(dp.pii),
        injection: f(dp.injection),
        email: dp.email.map(f),
        email_in_streams: dp.email_in_streams.map(f),
        phone: dp.phone.map(f),
        phone_in_streams: dp.phone_in_streams.map(f),
    }
}

fn uniform_policy(a: Action) -> DirectionPolicy {
    DirectionPolicy {
        credential: a,
        pii: a,
        injection: a,
        email: Some(a),
        email_in_streams: Some(a),
        phone: Some(a),
        phone_in_streams: Some(a),
    }
}

/// The detector families whose findings are masked (or blocked) in a direction: only those
/// need text held back while it streams. `custom`: keep the custom detectors of the policy's
/// own categories whose action masks or blocks.
fn hold_options(
    all: &crate::detect::DetectorOptions,
    credentials: bool,
    pii: bool,
    email: bool,
    phone: bool,
    custom: bool,
) -> crate::detect::DetectorOptions {
    let keep = |r: &&crate::detect::Rule| match r.category {
        Category::Credential => credentials,
        Category::Pii => pii,
        Category::Injection => false,
        Category::Custom(c) => custom && matches!(c.action, Action::Mask | Action::Block),
    };
    let custom: Vec<crate::detect::Rule> = all.custom.iter().filter(keep).copied().collect();
    crate::detect::DetectorOptions {
        decoders: all.decoders && (credentials || pii || email || !custom.is_empty()),
        custom,
        credentials: all.credentials && credentials,
        email: all.email && email,
        phone: all.phone && phone,
        payment_card: all.payment_card && pii,
        us_ssn: all.us_ssn && pii,
        iban: all.iban && pii,
        ip_address: all.ip_address && pii,
        uk_nino: all.uk_nino && pii,
        ca_sin: all.ca_sin && pii,
        in_aadhaar: all.in_aadhaar && pii,
        in_pan: all.in_pan && pii,
        br_cpf: all.br_cpf && pii,
        br_cnpj: all.br_cnpj && pii,
        es_dni: all.es_dni && pii,
        es_nie: all.es_nie && pii,
        it_codice_fiscale: all.it_codice_fiscale && pii,
        fr_nir: all.fr_nir && pii,
        de_steuer_id: all.de_steuer_id && pii,
        au_tfn: all.au_tfn && pii,
        us_itin: all.us_itin && pii,
        us_aba_routing: all.us_aba_routing && pii,
        us_npi: all.us_npi && pii,
        us_dea: all.us_dea && pii,
        ipv6_address: all.ipv6_address && pii,
        mac_address: all.mac_address && pii,
        bitcoin_address: all.bitcoin_address && pii,
        ethereum_address: all.ethereum_address && pii,
        decode_depth: all.decode_depth,
        // Data classes are never held back for (they judge whole texts only): kept as they
        // are so the holdback scanner can be the main one when nothing else differs.
        source_code: all.source_code,
        bulk_pii: all.bulk_pii,
    }
}

/// Response-side state, created when the response headers arrive.
#[derive(Debug)]
struct ResponseState {
    api: Api,
    framing: Framing,
    rewriter: ResponseRewriter,
    /// Streamed (not one JSON answer): the policy's stream overrides apply.
    streamed: bool,
    redactor: Redactor,
    decompressor: Option<Decompressor>,
    /// Text per stream kept for the injection score rules read, and the highest score seen.
    scored: BTreeMap<StreamKey, (Role, String)>,
    injection: RoleScores,
    /// Messages the rewriter had refused at the last chunk (see `holding_messages`).
    refused: u32,
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
    /// The caller as rules see it, resolved at the request headers.
    identity: Option<Identity>,
    method: String,
    /// Request headers as rules see them (credentials blanked); empty without rules.
    rule_headers: Vec<(String, String)>,
    activation: Option<Activation>,
    /// The most severe rule decision so far, and the rule that took it.
    decided: Option<(Action, String)>,
    dry_run: Vec<DryRun>,
    rule_errors: Vec<String>,
    /// A rule decided the whole direction: its action replaced the category defaults.
    request_uniform: Option<Action>,
    response_uniform: Option<Action>,
    request_injection: RoleScores,
    /// Response findings count at the last evaluation (re-evaluate only when it grows).
    evaluated_findings: usize,
}

/// Headers whose values rules never see: they carry credentials, and an evaluation error or
/// a careless rule must have nothing secret to echo.
const SECRET_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie"];

/// The highest injection score over the texts a filter sees, for rules that read
/// `injection.score`; the inner filter does the actual work.
struct Scoring<'a> {
    inner: &'a mut dyn TextFilter,
    detector: &'a InjectionDetector,
    /// Which roles are scored at all (the policy's `injection_roles`).
    roles: RoleThresholds,
    scores: &'a mut RoleScores,
    pending: Option<&'a mut BTreeMap<StreamKey, (Role, String)>>,
}

impl Scoring<'_> {
    fn score(&mut self, role: Role, text: &str) {
        if self.roles.get(role).is_some() {
            let s = self.detector.analyze(text).score;
            self.scores.record(role, s);
        }
    }
}

/// Streamed text scored per stream, bounded like the redactor's own injection window.
const SCORE_WINDOW: usize = 8 * 1024;

impl TextFilter for Scoring<'_> {
    fn delta(&mut self, text: TextRef<'_>, out: &mut String) {
        if let Some(p) = self.pending.as_deref_mut() {
            let (role, buf) = p
                .entry(text.key)
                .or_insert_with(|| (text.role, String::new()));
            *role = text.role;
            let mut room = SCORE_WINDOW.saturating_sub(buf.len()).min(text.text.len());
            while !text.text.is_char_boundary(room) {
                room -= 1;
            }
            buf.push_str(&text.text[..room]);
        }
        self.inner.delta(text, out);
    }
    fn full(&mut self, text: TextRef<'_>, out: &mut String) {
        self.score(text.role, text.text);
        self.inner.full(text, out);
    }
    fn end(&mut self, key: StreamKey, out: &mut String) {
        if let Some((role, text)) = self.pending.as_deref_mut().and_then(|p| p.remove(&key)) {
            self.score(role, &text);
        }
        self.inner.end(key, out);
    }
    fn held_keys(&self, out: &mut Vec<StreamKey>) {
        self.inner.held_keys(out);
    }
    fn refuse_message(&mut self) -> Option<String> {
        self.inner.refuse_message()
    }
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

    /// The token counts the answer has reported so far (empty before the response, and for
    /// APIs that report none).
    pub fn usage(&self) -> TokenUsage {
        self.response
            .as_ref()
            .map_or_else(TokenUsage::default, |s| s.rewriter.usage())
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
        let mut decision = format!("block; reason={reason}");
        self.append_rules(&mut decision);
        headers.push(("x-sluice-decision".to_string(), decision));
        LocalReply {
            status,
            headers,
            body,
            reason,
        }
    }

    /// `; rule=<id>` and `; dry-run=<id>:<action>,...` for the decision header, when rules
    /// took part.
    fn append_rules(&self, out: &mut String) {
        if let Some((_, rule)) = &self.decided {
            out.push_str("; rule=");
            out.push_str(rule);
        }
        if !self.dry_run.is_empty() {
            out.push_str("; dry-run=");
            for (i, d) in self.dry_run.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&d.rule);
                out.push(':');
                out.push_str(action_str(d.action));
            }
        }
    }

    /// Who the caller is under this policy: the identity a caller established, the policy's
    /// sources, or (no `identity:` section) the peer certificate's id as version 1 reads it.
    fn resolve_identity(&mut self, headers: &Headers) {
        let policy = &self.engine.policy;
        let identity = if let Some(id) = self.ctx.resolved_identity.clone() {
            id
        } else if let Some(cfg) = &policy.identity {
            cfg.resolve(IdentityInputs {
                jwt_metadata: self.ctx.jwt_metadata.as_ref(),
                peer: self.ctx.identity.as_deref(),
                headers,
            })
        } else {
            Identity {
                principal: self.ctx.identity.clone(),
                source: self.ctx.identity.as_ref().map(|_| IdentitySource::Spiffe),
                claims: Default::default(),
            }
        };
        if !self.engine.rules.is_empty() {
            let secret: Vec<&str> = policy
                .identity
                .iter()
                .flat_map(|c| c.secret_headers())
                .collect();
            self.rule_headers = headers
                .iter()
                .filter(|(k, _)| !k.starts_with(':'))
                .map(|(k, v)| {
                    let k = k.to_ascii_lowercase();
                    let blank = SECRET_HEADERS.contains(&k.as_str())
                        || secret.iter().any(|s| s.eq_ignore_ascii_case(&k));
                    let v = if blank {
                        "[redacted]".to_owned()
                    } else {
                        v.clone()
                    };
                    (k, v)
                })
                .collect();
        }
        self.identity = Some(identity);
    }

    /// The principal and its source as the audit record names them.
    fn audit_identity(&self) -> (Option<String>, Option<String>) {
        let resolved =
            self.ctx.resolved_identity.is_some() || self.engine.policy.identity.is_some();
        match (&self.identity, resolved) {
            (Some(id), true) => (
                id.principal.clone(),
                id.source.map(|s| s.as_str().to_owned()),
            ),
            _ => (self.ctx.identity.clone(), self.ctx.identity_source.clone()),
        }
    }

    /// Runs the policy's rules for one phase and records what they did. `None` when the
    /// policy has no rules.
    fn evaluate(&mut self, direction: Direction) -> Option<RuleDecision> {
        if self.engine.rules.is_empty() {
            return None;
        }
        if self.activation.is_none() {
            let identity = self.identity.clone().unwrap_or_default();
            self.activation = Some(Activation::new(
                &identity,
                RequestFacts {
                    method: &self.method,
                    path: &self.path,
                    host: self.ctx.host.as_deref().unwrap_or(""),
                    headers: &self.rule_headers,
                    api: self.api.unwrap_or(Api::Text).as_str(),
                    model: self.model.as_deref(),
                    request_id: self.ctx.request_id.as_deref(),
                },
            ));
        }
        let response = self.response.as_ref();
        let facts = crate::policy::rules::facts(
            self.request_findings
                .iter()
                .map(|f| (Direction::Request, f.rule, f.category))
                .chain(response.into_iter().flat_map(|s| {
                    s.redactor
                        .findings()
                        .iter()
                        .map(|f| (Direction::Response, f.rule, f.category))
                })),
        );
        let scores = self
            .request_injection
            .merge(&response.map_or_else(RoleScores::default, |s| s.injection));
        let activation = self.activation.as_ref()?;
        let d = self
            .engine
            .rules
            .evaluate_scored(activation, direction, &facts, &scores);
        for dr in &d.dry_run {
            if !self
                .dry_run
                .iter()
                .any(|x| x.rule == dr.rule && x.action == dr.action)
            {
                self.dry_run.push(dr.clone());
            }
        }
        if let (Some(e), Some(rule)) = (&d.error, &d.rule) {
            let msg = format!("{RULE_ERROR_PREFIX}{rule}: {e}");
            if !self.rule_errors.contains(&msg) {
                self.rule_errors.push(msg);
            }
        }
        if let (Some(a), Some(rule)) = (d.action, &d.rule) {
            let more_severe = self
                .decided
                .as_ref()
                .is_none_or(|(prev, _)| action_rank(a) > action_rank(*prev));
            if more_severe {
                self.decided = Some((a, rule.clone()));
            }
        }
        Some(d)
    }

    /// Findings the category defaults allow are counted while rules exist (rules must see
    /// them); their action is set back to `allow` here, and so is every finding of a direction
    /// a rule allowed as a whole.
    fn relabel(&self, direction: Direction, streamed: bool, list: &mut [Counted]) {
        if self.engine.rules.is_empty() {
            return;
        }
        let uniform = match direction {
            Direction::Request => self.request_uniform,
            Direction::Response => self.response_uniform,
        };
        let p = &self.engine.policy;
        let dp = match direction {
            Direction::Request => p.request,
            Direction::Response => p.response,
        };
        let dp = if streamed { dp.for_streams() } else { dp };
        for f in list {
            let allowed = match uniform {
                Some(a) => a == Action::Allow,
                None => dp.action_for(f.rule, f.category) == Action::Allow,
            };
            if allowed {
                f.action = Action::Allow;
            }
        }
    }

    fn rule_refusal(&mut self, d: &RuleDecision, phase: &str) -> LocalReply {
        let rule = d.rule.as_deref().unwrap_or("?");
        match &d.error {
            Some(e) => {
                let msg = format!("{phase} denied by policy rule {rule}: {e}");
                self.reply(403, &msg, "policy-rule-error")
            }
            None => {
                let msg = format!("{phase} blocked by policy rule {rule}");
                self.reply(403, &msg, "policy-rule-block")
            }
        }
    }

    /// `headers` includes pseudo-headers (`:path`, `:method`, `:authority`).
    pub fn request_headers(&mut self, headers: &Headers) -> HeadersOutcome {
        self.path = header(headers, ":path").unwrap_or("").to_string();
        self.method = header(headers, ":method").unwrap_or("").to_string();
        if self.ctx.request_id.is_none() {
            self.ctx.request_id = header(headers, "x-request-id").map(str::to_string);
        }
        if self.ctx.host.is_none() {
            self.ctx.host = header(headers, ":authority")
                .or_else(|| header(headers, "host"))
                .map(str::to_string);
        }
        self.resolve_identity(headers);
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

    /// Rewrites a request body through `redactor`, scoring injection when rules read it.
    fn rewrite_request(
        &mut self,
        api: Api,
        body: &[u8],
        redactor: &mut Redactor,
    ) -> Result<Option<Vec<u8>>, CodecError> {
        if self.engine.rules.reads_injection() {
            let engine = self.engine.clone();
            let mut scoring = Scoring {
                inner: redactor,
                detector: &engine.injection,
                roles: engine.injection_roles,
                scores: &mut self.request_injection,
                pending: None,
            };
            codec::rewrite_request(api, body, &mut scoring)
        } else {
            codec::rewrite_request(api, body, redactor)
        }
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
            // Nothing to scan, but the rules still decide on who is asking for what.
            if let Some(d) = self.evaluate(Direction::Request) {
                match d.action {
                    Some(Action::Block) => {
                        return BodyOutcome::Reply(self.rule_refusal(&d, "request"));
                    }
                    Some(a) => self.request_uniform = Some(a),
                    None => {}
                }
            }
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
        let mut redactor = self.engine.redactor(Direction::Request, false, None);
        let result = self.rewrite_request(detected, &body, &mut redactor);
        self.request_findings.extend_from_slice(redactor.findings());
        let mut rewritten = match result {
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
        if let Some(d) = self.evaluate(Direction::Request) {
            match d.action {
                Some(Action::Block) => {
                    return BodyOutcome::Reply(self.rule_refusal(&d, "request"));
                }
                Some(a) => {
                    // The rule decided the request as a whole: its action replaces the
                    // category defaults for every finding.
                    self.request_uniform = Some(a);
                    let mut uniform = self.engine.redactor(Direction::Request, false, Some(a));
                    match codec::rewrite_request(detected, &body, &mut uniform) {
                        Ok(r) => rewritten = r,
                        Err(e) => {
                            let msg = format!("request body could not be inspected: {e}");
                            return BodyOutcome::Reply(self.reply(400, &msg, "request-unreadable"));
                        }
                    }
                    self.request_findings = uniform.findings().to_vec();
                }
                None => {}
            }
        }
        let mut findings = std::mem::take(&mut self.request_findings);
        self.relabel(Direction::Request, false, &mut findings);
        self.request_findings = findings;
        if self.request_uniform.is_none() && redactor.blocked() {
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
        let limits = self.engine.policy.limits.clone();
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
        // Nothing of the answer has left yet: a rule deciding now can still refuse it whole,
        // or set how every finding of the answer is handled.
        if let Some(d) = self.evaluate(Direction::Response) {
            match d.action {
                Some(Action::Block) => {
                    return HeadersOutcome::Reply(self.rule_refusal(&d, "response"));
                }
                other => self.response_uniform = other,
            }
        }
        self.evaluated_findings = 0;
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
            streamed,
            // A tool result or a tools/list answer is one JSON-RPC message, and a non-streamed
            // answer is one message too: each is decided whole before it leaves.
            rewriter: ResponseRewriter::new(api, framing, limits.response_buffer_bytes)
                .holding_messages(api == Api::Mcp || !streamed),
            redactor: self
                .engine
                .redactor(Direction::Response, streamed, self.response_uniform),
            decompressor,
            scored: BTreeMap::new(),
            injection: RoleScores::default(),
            refused: 0,
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
        if self.replied {
            return BodyOutcome::Replace(Vec::new());
        }
        if end_of_stream {
            self.response_done = true;
        }
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        let mut failure: Option<String> = None;
        let score = self.engine.rules.reads_injection();
        let engine = self.engine.clone();
        let Some(state) = self.response.as_mut() else {
            return BodyOutcome::Replace(Vec::new());
        };
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
        if failure.is_none() {
            let pushed = if score {
                let mut scoring = Scoring {
                    inner: &mut state.redactor,
                    detector: &engine.injection,
                    roles: engine.injection_roles,
                    scores: &mut state.injection,
                    pending: Some(&mut state.scored),
                };
                state
                    .rewriter
                    .push(input, end_of_stream, &mut scoring, &mut out)
            } else {
                state
                    .rewriter
                    .push(input, end_of_stream, &mut state.redactor, &mut out)
            };
            if let Err(e) = pushed {
                failure = Some(e.to_string());
            }
        }
        let (api, framing) = (state.api, state.framing);
        let refused = state.rewriter.refused();
        let newly_refused = refused > state.refused;
        state.refused = refused;
        if newly_refused && !self.errors.iter().any(|e| e == "policy-block") {
            // A message was replaced by the API's error: the policy refused it, and the
            // audit record says so as it does for a refused request.
            self.errors.push("policy-block".to_string());
        }
        let mut blocked = state.redactor.blocked() && self.response_uniform.is_none();
        let found = state.redactor.findings().len();
        let mut message = "response stopped by policy".to_string();
        // Rules see each new finding as the stream goes; only a block can still change the
        // wire (text already released stays released).
        if failure.is_none() && !blocked && found != self.evaluated_findings {
            self.evaluated_findings = found;
            if let Some(d) = self.evaluate(Direction::Response)
                && d.action == Some(Action::Block)
            {
                blocked = true;
                let rule = d.rule.as_deref().unwrap_or("?");
                message = format!("response stopped by policy rule {rule}");
            }
        }
        if failure.is_some() || blocked {
            if !blocked {
                message = "response could not be inspected; stopped".to_string();
            }
            if let Some(f) = failure {
                self.errors.push(format!("{RESPONSE_ERROR_PREFIX}{f}"));
            }
            // What the rewriter released before the failure was inspected; the rest is not.
            out.extend_from_slice(&codec::stream_error_event(api, framing, &message));
            self.stopped = true;
        }
        let passthrough = self
            .response
            .as_ref()
            .is_some_and(|s| s.decompressor.is_none());
        if !self.stopped && passthrough && out == chunk {
            // Keep the buffer for the next chunk: the common passthrough allocates nothing.
            self.scratch = out;
            BodyOutcome::Unchanged
        } else {
            BodyOutcome::Replace(out)
        }
    }

    /// The response was stopped (a block, a failure to inspect it, or a record that could not
    /// be written): its stop event has been emitted and every later chunk is dropped, so an
    /// adapter may stop reading the upstream.
    pub fn response_stopped(&self) -> bool {
        self.stopped
    }

    /// `x-sluice-decision` value: the decision so far and counts by category, never a value;
    /// the deciding rule and dry-run rules when there are rules.
    pub fn decision_header(&self) -> String {
        let all = self
            .request_findings
            .iter()
            .chain(self.response_findings.iter())
            .filter(|f| f.action != Action::Allow);
        let mut counts = [0u32; 3];
        let mut custom: BTreeMap<&str, u32> = BTreeMap::new();
        for f in all.clone() {
            match f.category.builtin_index().and_then(|i| counts.get_mut(i)) {
                Some(n) => *n += 1,
                None => *custom.entry(f.category.as_str()).or_default() += 1,
            }
        }
        let decision = self.with_rule(decide(all.map(|f| f.action)));
        let mut out = format!(
            "{}; credential={}; pii={}; injection={}",
            decision_str(decision),
            counts[0],
            counts[1],
            counts[2]
        );
        for (name, n) in custom {
            out.push_str(&format!("; {name}={n}"));
        }
        self.append_rules(&mut out);
        out
    }

    /// The findings' decision raised to the deciding rule's action (a rule's `flag` with no
    /// finding is still a flag).
    fn with_rule(&self, d: Decision) -> Decision {
        match &self.decided {
            Some((a, _)) => {
                let r = action_decision(*a);
                if rank(r) > rank(d) { r } else { d }
            }
            None => d,
        }
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
            let mut list = state.redactor.findings().to_vec();
            self.relabel(Direction::Response, state.streamed, &mut list);
            self.response_findings = list;
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
        let mut decision = self.with_rule(decide(actions));
        if self.replied || self.stopped {
            decision = Decision::Block;
        }
        let (identity, identity_source) = self.audit_identity();
        let mut errors = self.errors.clone();
        errors.extend(self.rule_errors.iter().cloned());
        AuditRecord {
            api: self.api.map(Api::as_str),
            identity,
            identity_source,
            route: self.ctx.route.clone(),
            host: self.ctx.host.clone(),
            model: self.model.clone(),
            request_id: self.ctx.request_id.clone(),
            policy_id: self.engine.policy.policy_id.clone(),
            policy_version: self.engine.policy.version,
            policy_sha256: Some(self.engine.policy_sha256.to_string()),
            decision,
            rule: self.decided.as_ref().map(|(_, r)| r.clone()),
            dry_run: self.dry_run.clone(),
            findings,
            errors,
            best_effort: self.best_effort,
            incomplete: !(self.replied
                || (self.request_done || self.path.is_empty()) && self.response_done),
            usage: Some(self.usage()).filter(|u| !u.is_empty()),
            held_back: self
                .response
                .as_ref()
                .map_or_else(HeldBack::default, |s| s.redactor.held_back()),
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

fn action_decision(a: Action) -> Decision {
    match a {
        Action::Allow => Decision::Allow,
        Action::Flag => Decision::Flag,
        Action::Mask => Decision::Mask,
        Action::Block => Decision::Block,
    }
}

fn action_rank(a: Action) -> u8 {
    rank(action_decision(a))
}

fn action_str(a: Action) -> &'static str {
    decision_str(action_decision(a))
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
