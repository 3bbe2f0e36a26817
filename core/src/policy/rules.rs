//! Ordered CEL rules over who is calling and what the exchange carries.
//!
//! Every `when` is compiled once, when the policy loads, so a syntax error or an unknown
//! variable refuses the policy instead of surfacing on traffic. Evaluation is fail-closed: a
//! rule that errors decides `block`, and so does a rule that reads `identity` when the exchange
//! has none, unless the rule itself tests `identity.principal` against `null`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cel::{Env, Program, Value};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Action;
use super::identity::Identity;
use super::roles::{ALL_ROLES, RoleScores};
use super::typecheck::{self, TypeErrorKind};
use crate::codec::role_name;
use crate::exchange::Direction;
use crate::finding::Category;

/// Variables a `when` may read; anything else is an error at load.
pub const VARIABLES: &[&str] = &[
    "identity",
    "request",
    "api",
    "model",
    "direction",
    "findings",
    "injection",
];

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    #[default]
    Enforce,
    DryRun,
}

/// One rule as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub when: String,
    pub action: Action,
    #[serde(default)]
    pub mode: Mode,
    /// Percent of exchanges (by a stable hash of the request id) the rule applies to.
    #[serde(default = "full_rollout")]
    pub rollout: f64,
    /// Overrides the guess of whether the rule needs an identity (see the module docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_identity: Option<bool>,
}

fn full_rollout() -> f64 {
    100.0
}

#[derive(Debug, thiserror::Error)]
pub enum RuleErrorKind {
    #[error("rule id must not be empty")]
    EmptyId,
    #[error("duplicate rule id `{0}`")]
    Duplicate(String),
    #[error("rollout must be a percentage between 0 and 100")]
    Rollout,
    #[error("`when` is not valid CEL: {0}")]
    Syntax(String),
    #[error("`when` reads unknown variable `{0}` (rules see {vars})", vars = VARIABLES.join(", "))]
    UnknownVariable(String),
    /// Refused by the static check (`typecheck`): the message names types and names from
    /// the expression, and ends with the position within it.
    #[error("`when`: {0}")]
    Type(String),
}

#[derive(Debug, thiserror::Error)]
#[error("rules[{index}] ({id}): {kind}")]
pub struct RuleError {
    /// Position of the rule in `rules`.
    pub index: usize,
    pub id: String,
    pub kind: RuleErrorKind,
}

impl RuleError {
    /// Whether the error is in the rule's `when` (so a locator points there, not at `id`).
    pub fn in_when(&self) -> bool {
        matches!(
            self.kind,
            RuleErrorKind::Syntax(_) | RuleErrorKind::UnknownVariable(_) | RuleErrorKind::Type(_)
        )
    }
}

/// Checks what can be checked without compiling: ids, duplicates, roll-out ranges.
pub fn validate_specs(specs: &[RuleSpec]) -> Result<(), RuleError> {
    let mut seen = std::collections::HashSet::new();
    for (index, spec) in specs.iter().enumerate() {
        let err = |kind| RuleError {
            index,
            id: spec.id.clone(),
            kind,
        };
        if spec.id.trim().is_empty() {
            return Err(err(RuleErrorKind::EmptyId));
        }
        if !seen.insert(spec.id.as_str()) {
            return Err(err(RuleErrorKind::Duplicate(spec.id.clone())));
        }
        if !(0.0..=100.0).contains(&spec.rollout) {
            return Err(err(RuleErrorKind::Rollout));
        }
    }
    Ok(())
}

/// Why a matching rule did not decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Skipped {
    DryRun,
    Rollout,
}

impl Skipped {
    /// The name in audit records and metrics labels (the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            Skipped::DryRun => "dry-run",
            Skipped::Rollout => "rollout",
        }
    }
}

/// A would-be decision: recorded, never applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DryRun {
    pub rule: String,
    pub action: Action,
    pub reason: Skipped,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The outcome of one evaluation of the rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RuleDecision {
    /// `None`: no rule decided, the per-category defaults apply.
    pub action: Option<Action>,
    pub rule: Option<String>,
    pub dry_run: Vec<DryRun>,
    /// Why the deciding rule denied when it denied by failing (never a value from the traffic).
    pub error: Option<String>,
}

/// Findings of one detector rule in one direction, as rules see them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FindingFact {
    pub rule: &'static str,
    pub category: Category,
    pub direction: Direction,
    pub count: u32,
}

/// The per-exchange part of the activation, built once and reused by each evaluation.
#[derive(Clone, Debug)]
pub struct Activation {
    identity: Value,
    request: Value,
    api: Value,
    model: Value,
    has_principal: bool,
    request_id: Option<String>,
}

/// Request facts for the activation.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestFacts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub host: &'a str,
    /// Lower-case names; values already stripped of credentials.
    pub headers: &'a [(String, String)],
    pub api: &'a str,
    pub model: Option<&'a str>,
    pub request_id: Option<&'a str>,
}

impl Activation {
    pub fn new(identity: &Identity, request: RequestFacts<'_>) -> Activation {
        let mut id = HashMap::new();
        id.insert("principal", opt_string(identity.principal.as_deref()));
        id.insert("source", opt_string(identity.source.map(|s| s.as_str())));
        id.insert(
            "claims",
            json_to_cel(&serde_json::Value::Object(identity.claims.clone())),
        );
        let mut headers: HashMap<String, Value> = HashMap::new();
        for (k, v) in request.headers {
            if k.starts_with(':') {
                continue;
            }
            match headers.get_mut(k.as_str()) {
                // Repeated headers read as one, comma-joined, as HTTP defines them.
                Some(Value::String(prev)) => {
                    *prev = Arc::new(format!("{prev},{v}"));
                }
                _ => {
                    headers.insert(k.clone(), Value::String(Arc::new(v.clone())));
                }
            }
        }
        let mut req = HashMap::new();
        req.insert("method", Value::from(request.method.to_owned()));
        req.insert("path", Value::from(request.path.to_owned()));
        req.insert("host", Value::from(request.host.to_owned()));
        req.insert("headers", Value::from(headers));
        Activation {
            identity: Value::from(id),
            request: Value::from(req),
            api: Value::from(request.api.to_owned()),
            model: opt_string(request.model),
            has_principal: identity.principal.is_some(),
            request_id: request.request_id.map(str::to_owned),
        }
    }
}

fn opt_string(s: Option<&str>) -> Value {
    match s {
        Some(s) => Value::from(s.to_owned()),
        None => Value::Null,
    }
}

fn json_to_cel(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::UInt(u),
            _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::from(s.clone()),
        serde_json::Value::Array(a) => Value::List(Arc::new(a.iter().map(json_to_cel).collect())),
        serde_json::Value::Object(o) => {
            let m: HashMap<String, Value> =
                o.iter().map(|(k, v)| (k.clone(), json_to_cel(v))).collect();
            Value::from(m)
        }
    }
}

struct Rule {
    id: String,
    action: Action,
    mode: Mode,
    rollout: f64,
    needs_identity: bool,
    program: Program,
}

/// The compiled rules of a policy.
pub struct RuleSet {
    rules: Vec<Rule>,
    env: Arc<Env>,
    reads_injection: bool,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field(
                "rules",
                &self.rules.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Whether the expression tests the principal (or its source) against `null`: such a rule
/// was written for anonymous callers too, so a missing identity is not a reason to deny.
fn handles_missing_identity(when: &str) -> bool {
    let compact: String = when.chars().filter(|c| !c.is_whitespace()).collect();
    ["identity.principal", "identity.source"].iter().any(|v| {
        ["==null", "!=null"]
            .iter()
            .any(|op| compact.contains(&format!("{v}{op}")))
            || ["null==", "null!="]
                .iter()
                .any(|op| compact.contains(&format!("{op}{v}")))
    })
}

impl RuleSet {
    pub fn compile(specs: &[RuleSpec]) -> Result<RuleSet, RuleError> {
        validate_specs(specs)?;
        let env = Arc::new(Env::stdlib());
        let mut rules = Vec::with_capacity(specs.len());
        let mut reads_injection = false;
        for (index, spec) in specs.iter().enumerate() {
            let err = |kind| RuleError {
                index,
                id: spec.id.clone(),
                kind,
            };
            let program = env.compile(&spec.when).map_err(|e| {
                let first = e.errors.first();
                err(RuleErrorKind::Syntax(match first {
                    Some(p) => format!("{} (at {}:{})", p.msg, p.pos.0, p.pos.1),
                    None => e.to_string(),
                }))
            })?;
            typecheck::check(&program, &spec.when).map_err(|e| {
                err(match e.kind {
                    TypeErrorKind::UnknownVariable(v) => RuleErrorKind::UnknownVariable(v),
                    TypeErrorKind::Invalid(_) => RuleErrorKind::Type(e.to_string()),
                })
            })?;
            let refs = program.references();
            reads_injection |= refs.has_variable("injection");
            let needs_identity = spec.requires_identity.unwrap_or_else(|| {
                refs.has_variable("identity") && !handles_missing_identity(&spec.when)
            });
            rules.push(Rule {
                id: spec.id.clone(),
                action: spec.action,
                mode: spec.mode,
                rollout: spec.rollout,
                needs_identity,
                program,
            });
        }
        Ok(RuleSet {
            rules,
            env,
            reads_injection,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether any rule reads `injection`: only then is the score computed.
    pub fn reads_injection(&self) -> bool {
        self.reads_injection
    }

    /// Evaluates the rules in order for one phase of an exchange, with one injection score
    /// and no per-role scores.
    pub fn evaluate(
        &self,
        base: &Activation,
        direction: Direction,
        findings: &[FindingFact],
        injection_score: f32,
    ) -> RuleDecision {
        self.evaluate_scored(
            base,
            direction,
            findings,
            &RoleScores::overall(injection_score),
        )
    }

    /// Evaluates the rules in order for one phase of an exchange; `injection.roles` holds the
    /// highest score per role.
    pub fn evaluate_scored(
        &self,
        base: &Activation,
        direction: Direction,
        findings: &[FindingFact],
        scores: &RoleScores,
    ) -> RuleDecision {
        let mut decision = RuleDecision::default();
        if self.rules.is_empty() {
            return decision;
        }
        let mut ctx = cel::Context::with_env(self.env.clone());
        ctx.add_variable_from_value("identity", base.identity.clone());
        ctx.add_variable_from_value("request", base.request.clone());
        ctx.add_variable_from_value("api", base.api.clone());
        ctx.add_variable_from_value("model", base.model.clone());
        ctx.add_variable_from_value(
            "direction",
            match direction {
                Direction::Request => "request",
                Direction::Response => "response",
            },
        );
        let list: Vec<Value> = findings
            .iter()
            .map(|f| {
                let mut m: HashMap<&str, Value> = HashMap::new();
                m.insert("rule", Value::from(f.rule));
                m.insert("category", Value::from(f.category.as_str()));
                m.insert(
                    "direction",
                    Value::from(match f.direction {
                        Direction::Request => "request",
                        Direction::Response => "response",
                    }),
                );
                m.insert("count", Value::Int(i64::from(f.count)));
                Value::from(m)
            })
            .collect();
        ctx.add_variable_from_value("findings", Value::List(Arc::new(list)));
        let mut inj = HashMap::new();
        inj.insert("score", Value::Float(f64::from(scores.max)));
        let roles: HashMap<String, Value> = ALL_ROLES
            .iter()
            .zip(scores.by_role)
            .map(|(&r, s)| (role_name(r).to_string(), Value::Float(f64::from(s))))
            .collect();
        inj.insert("roles", Value::from(roles));
        ctx.add_variable_from_value("injection", Value::from(inj));

        for rule in &self.rules {
            let outcome = if rule.needs_identity && !base.has_principal {
                Err("the rule needs an identity and the exchange has none".to_owned())
            } else {
                match rule.program.execute(&ctx) {
                    Ok(Value::Bool(b)) => Ok(b),
                    Ok(other) => Err(format!(
                        "`when` gave a {} where a bool was expected",
                        other.type_of()
                    )),
                    Err(e) => Err(safe_message(&e)),
                }
            };
            let (action, error) = match outcome {
                Ok(false) => continue,
                Ok(true) => (rule.action, None),
                Err(e) => (Action::Block, Some(e)),
            };
            let skipped = if rule.mode == Mode::DryRun {
                Some(Skipped::DryRun)
            } else if !rolled_in(&rule.id, rule.rollout, base.request_id.as_deref()) {
                Some(Skipped::Rollout)
            } else {
                None
            };
            match skipped {
                Some(reason) => decision.dry_run.push(DryRun {
                    rule: rule.id.clone(),
                    action,
                    reason,
                    error,
                }),
                None => {
                    decision.action = Some(action);
                    decision.rule = Some(rule.id.clone());
                    decision.error = error;
                    break;
                }
            }
        }
        decision
    }
}

/// Whether an exchange falls inside a rule's roll-out: a stable hash of the rule id and the
/// request id, so a request id always gets the same answer and rules at the same percentage
/// pick independent sets. Without a request id only a full roll-out applies.
pub fn rolled_in(rule: &str, rollout: f64, request_id: Option<&str>) -> bool {
    if rollout >= 100.0 {
        return true;
    }
    if rollout <= 0.0 {
        return false;
    }
    let Some(id) = request_id else {
        return false;
    };
    let mut h = Sha256::new();
    h.update(rule.as_bytes());
    h.update([0]);
    h.update(id.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let bucket = u64::from_be_bytes(first) % 10_000;
    (bucket as f64) < rollout * 100.0
}

/// An evaluation error as it may be audited: the kind of failure and names from the
/// expression, never a value from the traffic (several `cel` errors print the values they
/// compared, and a header value can be a credential).
fn safe_message(e: &cel::ExecutionError) -> String {
    use cel::ExecutionError as E;
    let short = |s: &str| {
        if s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            s.to_owned()
        } else {
            "…".to_owned()
        }
    };
    match e {
        E::NoSuchKey(k) => format!("no such key: {}", short(k)),
        E::UndeclaredReference(n) => format!("undeclared reference to {}", short(n)),
        E::NoSuchOverload(o) => o.to_string(),
        E::UnexpectedType { got, want } => format!("unexpected type: got {got}, want {want}"),
        E::FunctionError { function, .. } => format!("function {} failed", short(function)),
        E::InvalidArgumentCount { expected, actual } => {
            format!("wrong argument count: expected {expected}, got {actual}")
        }
        E::ValuesNotComparable(..) => "values cannot be compared".to_owned(),
        E::UnsupportedBinaryOperator(op, ..) => format!("operator {op} not supported here"),
        E::DivisionByZero(_) | E::RemainderByZero(_) => "division by zero".to_owned(),
        E::Overflow(op, ..) => format!("overflow in {op}"),
        E::IndexOutOfBounds(_) => "index out of bounds".to_owned(),
        _ => "evaluation error".to_owned(),
    }
}

/// Aggregates counted findings per (rule, direction), in first-seen order.
pub fn facts<'a>(
    findings: impl Iterator<Item = (Direction, &'static str, Category)> + 'a,
) -> Vec<FindingFact> {
    let mut order: Vec<FindingFact> = Vec::new();
    let mut index: BTreeMap<(&'static str, u8), usize> = BTreeMap::new();
    for (direction, rule, category) in findings {
        let key = (rule, direction as u8);
        match index.get(&key) {
            Some(&i) => order[i].count += 1,
            None => {
                index.insert(key, order.len());
                order.push(FindingFact {
                    rule,
                    category,
                    direction,
                    count: 1,
                });
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::identity::IdentitySource;

    fn spec(id: &str, when: &str, action: Action) -> RuleSpec {
        RuleSpec {
            id: id.into(),
            description: None,
            when: when.into(),
            action,
            mode: Mode::Enforce,
            rollout: 100.0,
            requires_identity: None,
        }
    }

    fn alice() -> Identity {
        Identity {
            principal: Some("alice".into()),
            source: Some(IdentitySource::Jwt),
            claims: serde_json::json!({"groups": ["contractors"]})
                .as_object()
                .cloned()
                .unwrap(),
        }
    }

    fn base(identity: &Identity, model: Option<&str>, request_id: &str) -> Activation {
        let headers = vec![("x-team".to_owned(), "red".to_owned())];
        Activation::new(
            identity,
            RequestFacts {
                method: "POST",
                path: "/v1/chat/completions",
                host: "api.openai.com",
                headers: &headers,
                api: "openai-chat",
                model,
                request_id: Some(request_id),
            },
        )
    }

    fn cred() -> Vec<FindingFact> {
        vec![FindingFact {
            rule: "aws-access-key-id",
            category: Category::Credential,
            direction: Direction::Request,
            count: 1,
        }]
    }

    #[test]
    fn first_enforced_match_decides() {
        let rules = RuleSet::compile(&[
            spec(
                "contractors-no-secrets",
                r#"identity.claims.groups.exists(g, g == "contractors") && findings.exists(f, f.category == "credential")"#,
                Action::Block,
            ),
            spec(
                "approved-models",
                r#"!(model in ["gpt-4o-mini"])"#,
                Action::Block,
            ),
            spec("everything", "true", Action::Flag),
        ])
        .unwrap();
        let a = alice();
        let d = rules.evaluate(
            &base(&a, Some("gpt-4o-mini"), "r"),
            Direction::Request,
            &cred(),
            0.0,
        );
        assert_eq!(d.action, Some(Action::Block));
        assert_eq!(d.rule.as_deref(), Some("contractors-no-secrets"));
        let d = rules.evaluate(
            &base(&a, Some("gpt-4o-mini"), "r"),
            Direction::Request,
            &[],
            0.0,
        );
        assert_eq!(d.rule.as_deref(), Some("everything"));
        let d = rules.evaluate(&base(&a, Some("o1"), "r"), Direction::Request, &[], 0.0);
        assert_eq!(d.rule.as_deref(), Some("approved-models"));
        let d = rules.evaluate(&base(&a, None, "r"), Direction::Request, &[], 0.0);
        assert_eq!(
            d.action,
            Some(Action::Block),
            "no model is not an approved model"
        );
    }

    #[test]
    fn request_fields_are_visible() {
        let rules = RuleSet::compile(&[spec(
            "r",
            r#"request.method == "POST" && request.path.startsWith("/v1/") && request.host == "api.openai.com" && request.headers["x-team"] == "red" && api == "openai-chat" && direction == "response" && injection.score > 0.5"#,
            Action::Mask,
        )])
        .unwrap();
        assert!(rules.reads_injection());
        let a = alice();
        let d = rules.evaluate(&base(&a, None, "r"), Direction::Response, &[], 0.9);
        assert_eq!(d.action, Some(Action::Mask));
        let d = rules.evaluate(&base(&a, None, "r"), Direction::Request, &[], 0.9);
        assert_eq!(d.action, None);
    }

    #[test]
    fn dry_run_records_and_goes_on() {
        let mut dry = spec("would-block", "true", Action::Block);
        dry.mode = Mode::DryRun;
        let rules = RuleSet::compile(&[dry, spec("flag", "true", Action::Flag)]).unwrap();
        let a = alice();
        let d = rules.evaluate(&base(&a, None, "r"), Direction::Request, &[], 0.0);
        assert_eq!(d.action, Some(Action::Flag));
        assert_eq!(
            d.dry_run,
            vec![DryRun {
                rule: "would-block".into(),
                action: Action::Block,
                reason: Skipped::DryRun,
                error: None
            }]
        );
    }

    #[test]
    fn missing_identity_denies_unless_handled() {
        let rules = RuleSet::compile(&[spec(
            "only-alice",
            r#"identity.principal == "mallory""#,
            Action::Block,
        )])
        .unwrap();
        let anon = Identity::default();
        let d = rules.evaluate(&base(&anon, None, "r"), Direction::Request, &[], 0.0);
        assert_eq!(d.action, Some(Action::Block));
        assert!(d.error.unwrap().contains("identity"));

        let rules = RuleSet::compile(&[spec(
            "anonymous-flagged",
            "identity.principal == null",
            Action::Flag,
        )])
        .unwrap();
        let d = rules.evaluate(&base(&anon, None, "r"), Direction::Request, &[], 0.0);
        assert_eq!(d.action, Some(Action::Flag));
        assert!(d.error.is_none());
    }

    #[test]
    fn evaluation_errors_deny_without_values() {
        let secret_headers = vec![("x-secret".to_owned(), "hunter2".to_owned())];
        let a = alice();
        let act = Activation::new(
            &a,
            RequestFacts {
                headers: &secret_headers,
                ..Default::default()
            },
        );
        // `dyn()` hides the type from the load-time check (which refuses the plain
        // forms), so what is left to catch them is the evaluator.
        for when in [
            "identity.claims.nope == 1",
            r#"dyn(request.headers["x-secret"]) > 5"#,
            r#"dyn(request.headers["x-secret"]) + 1 == 2"#,
            "dyn(model)",
        ] {
            let rules = RuleSet::compile(&[spec("r", when, Action::Allow)]).unwrap();
            let d = rules.evaluate(&act, Direction::Request, &[], 0.0);
            assert_eq!(d.action, Some(Action::Block), "{when}");
            let e = d.error.expect("error recorded");
            assert!(!e.contains("hunter2"), "{when}: {e}");
        }
    }

    #[test]
    fn load_errors() {
        let e = RuleSet::compile(&[spec("r", "identity.principal ==", Action::Block)]).unwrap_err();
        assert!(matches!(e.kind, RuleErrorKind::Syntax(_)) && e.in_when());
        let e = RuleSet::compile(&[spec("r", "user == 1", Action::Block)]).unwrap_err();
        assert!(matches!(e.kind, RuleErrorKind::UnknownVariable(ref v) if v == "user"));
        for when in [
            r#"request.headers["x-secret"] > 5"#,
            r#"request.headers["x-secret"] + 1 == 2"#,
            "model",
            "identity.princpal == \"a\"",
        ] {
            let e = RuleSet::compile(&[spec("r", when, Action::Allow)]).unwrap_err();
            assert!(
                matches!(e.kind, RuleErrorKind::Type(_)) && e.in_when(),
                "{when}"
            );
        }
        let e = RuleSet::compile(&[spec("r", "identity.princpal == \"a\"", Action::Block)])
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "rules[0] (r): `when`: unknown field 'princpal' on identity (known: principal, source, claims) (at 1:9)"
        );
        let e = RuleSet::compile(&[
            spec("r", "true", Action::Block),
            spec("r", "true", Action::Flag),
        ])
        .unwrap_err();
        assert!(matches!(e.kind, RuleErrorKind::Duplicate(_)) && e.index == 1);
        let mut s = spec("r", "true", Action::Block);
        s.rollout = 101.0;
        assert!(RuleSet::compile(&[s]).is_err());
    }

    #[test]
    fn rollout_is_deterministic_and_proportional() {
        let ids: Vec<String> = (0..400).map(|i| format!("req-{i:04}")).collect();
        let count = |pct: f64| {
            ids.iter()
                .filter(|id| rolled_in("rule", pct, Some(id)))
                .count()
        };
        assert_eq!(count(0.0), 0);
        assert_eq!(count(100.0), 400);
        let half = count(50.0);
        assert!((160..=240).contains(&half), "50 % picked {half} of 400");
        for id in &ids {
            assert_eq!(
                rolled_in("rule", 50.0, Some(id)),
                rolled_in("rule", 50.0, Some(id))
            );
        }
        assert!(!rolled_in("rule", 50.0, None));
        assert!(rolled_in("rule", 100.0, None));
    }

    #[test]
    fn facts_aggregate() {
        let f = facts(
            [
                (Direction::Request, "email", Category::Pii),
                (Direction::Request, "email", Category::Pii),
                (Direction::Response, "email", Category::Pii),
            ]
            .into_iter(),
        );
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].count, 2);
    }
}
