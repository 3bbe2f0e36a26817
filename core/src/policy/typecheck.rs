//! A static check of a rule's `when` against the variables rules see.
//!
//! The `cel` crate parses and evaluates but has no type checker, so a typo in a field name
//! (`identity.princpal`) or a comparison that can never hold (`model == 1`) would load fine
//! and then decide `block` on every exchange at run time (evaluation errors fail closed). This
//! walks the parsed expression once, at load, with the declared type of every variable and
//! refuses what is certainly wrong: unknown variables and fields, unknown functions, operands
//! whose known types cannot meet, and a `when` whose known type is not `bool`.
//!
//! It is deliberately permissive where the type is not known: JWT claims are whatever the
//! token carried (`dyn`), and anything computed from a `dyn` is `dyn` too. A rule that passes
//! here can still fail at run time (a claim that is absent, `model` that is `null`), which the
//! evaluator handles fail-closed.

use cel::common::ast::{
    ComprehensionExpr, EntryExpr, Expr, IdedExpr, LiteralValue, SelectExpr, operators,
};

/// A type as far as the check knows it.
#[derive(Clone, Debug, PartialEq)]
enum Ty {
    /// Unknown until run time: passes every check.
    Dyn,
    /// The element type of an empty list literal: whatever is added to it later.
    Empty,
    Null,
    Bool,
    Int,
    UInt,
    Double,
    String,
    Bytes,
    /// A type name used as a value (`type(x) == string`).
    Type,
    List(Box<Ty>),
    Map(Box<Ty>, Box<Ty>),
    /// One of the fixed-shape maps of the activation.
    Object(Obj),
    /// The value or `null` (`model`, `identity.principal`).
    Nullable(Box<Ty>),
}

/// The fixed-shape maps rules read: their fields are known, so a misspelt one is an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Obj {
    Identity,
    Request,
    Injection,
    InjectionRoles,
    Finding,
}

impl Obj {
    fn name(self) -> &'static str {
        match self {
            Obj::Identity => "identity",
            Obj::Request => "request",
            Obj::Injection => "injection",
            Obj::InjectionRoles => "injection.roles",
            Obj::Finding => "a finding",
        }
    }

    fn fields(self) -> &'static [&'static str] {
        match self {
            Obj::Identity => &["principal", "source", "claims"],
            Obj::Request => &["method", "path", "host", "headers"],
            Obj::Injection => &["score", "roles"],
            Obj::InjectionRoles => &[
                "system",
                "user",
                "assistant",
                "tool_result",
                "tool_arguments",
                "tool_description",
                "reasoning",
                "other",
            ],
            Obj::Finding => &["rule", "category", "direction", "count"],
        }
    }

    fn field(self, name: &str) -> Option<Ty> {
        let nullable_string = || Ty::Nullable(Box::new(Ty::String));
        Some(match (self, name) {
            (Obj::Identity, "principal" | "source") => nullable_string(),
            (Obj::Identity, "claims") => Ty::Map(Box::new(Ty::String), Box::new(Ty::Dyn)),
            (Obj::Request, "method" | "path" | "host") => Ty::String,
            (Obj::Request, "headers") => Ty::Map(Box::new(Ty::String), Box::new(Ty::String)),
            (Obj::Injection, "score") => Ty::Double,
            (Obj::Injection, "roles") => Ty::Object(Obj::InjectionRoles),
            (Obj::InjectionRoles, n) if Obj::InjectionRoles.fields().contains(&n) => Ty::Double,
            (Obj::Finding, "rule" | "category" | "direction") => Ty::String,
            (Obj::Finding, "count") => Ty::Int,
            _ => return None,
        })
    }
}

/// The type of each variable of the activation (`rules::Activation` and `RuleSet::evaluate`
/// build the values; the two lists must agree).
fn variable(name: &str) -> Option<Ty> {
    Some(match name {
        "identity" => Ty::Object(Obj::Identity),
        "request" => Ty::Object(Obj::Request),
        "api" | "direction" => Ty::String,
        "model" => Ty::Nullable(Box::new(Ty::String)),
        "findings" => Ty::List(Box::new(Ty::Object(Obj::Finding))),
        "injection" => Ty::Object(Obj::Injection),
        _ => return None,
    })
}

/// Type names CEL lets an expression use as values.
const TYPE_NAMES: &[&str] = &[
    "bool",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "list",
    "map",
    "null_type",
    "type",
    "dyn",
];

/// Functions the rules' environment (the CEL standard library of the `cel` crate, without
/// time types) provides, for the message listing them.
const FUNCTIONS: &[&str] = &[
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "string",
    "int",
    "uint",
    "double",
    "bool",
    "bytes",
    "dyn",
    "type",
    "has",
    "exists",
    "all",
    "exists_one",
    "map",
    "filter",
];

impl std::fmt::Display for Ty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ty::Dyn | Ty::Empty => f.write_str("dyn"),
            Ty::Null => f.write_str("null"),
            Ty::Bool => f.write_str("bool"),
            Ty::Int => f.write_str("int"),
            Ty::UInt => f.write_str("uint"),
            Ty::Double => f.write_str("double"),
            Ty::String => f.write_str("string"),
            Ty::Bytes => f.write_str("bytes"),
            Ty::Type => f.write_str("type"),
            Ty::List(e) => write!(f, "list({e})"),
            Ty::Map(k, v) => write!(f, "map({k}, {v})"),
            Ty::Object(o) => write!(f, "{}", o.name()),
            Ty::Nullable(t) => write!(f, "{t} or null"),
        }
    }
}

impl Ty {
    fn is_dyn(&self) -> bool {
        matches!(self, Ty::Dyn)
    }

    /// The type without its `null` alternative: operations on a `null` fail at run time
    /// (fail-closed), so statically they are checked against the value's type.
    fn strip(&self) -> &Ty {
        match self {
            Ty::Nullable(t) => t,
            t => t,
        }
    }

    fn is_numeric(&self) -> bool {
        matches!(self, Ty::Int | Ty::UInt | Ty::Double)
    }

    /// Whether a map of this type, or this object, has string keys and so can be read with
    /// a field selection.
    fn map_like(&self) -> bool {
        matches!(self, Ty::Map(..) | Ty::Object(_))
    }
}

/// Whether `==` between values of these types can ever be true. CEL's equality across types
/// is simply false, which in a rule is always a mistake.
fn can_equal(a: &Ty, b: &Ty) -> bool {
    match (a, b) {
        (Ty::Dyn | Ty::Empty, _) | (_, Ty::Dyn | Ty::Empty) => true,
        (Ty::Null, Ty::Null) | (Ty::Null, Ty::Nullable(_)) | (Ty::Nullable(_), Ty::Null) => true,
        (Ty::Nullable(x), y) | (y, Ty::Nullable(x)) => can_equal(x, y),
        (x, y) if x.is_numeric() && y.is_numeric() => true,
        (Ty::List(x), Ty::List(y)) => can_equal(x, y),
        (x, y) if x.map_like() && y.map_like() => true,
        (x, y) => std::mem::discriminant(x) == std::mem::discriminant(y),
    }
}

/// The type of either of two values: the common one, or `dyn`.
fn join(a: Ty, b: Ty) -> Ty {
    if a == b {
        return a;
    }
    match (a, b) {
        (Ty::Empty, t) | (t, Ty::Empty) => t,
        (Ty::List(x), Ty::List(y)) => Ty::List(Box::new(join(*x, *y))),
        (Ty::Null, Ty::Nullable(t)) | (Ty::Nullable(t), Ty::Null) => Ty::Nullable(t),
        (Ty::Null, t) | (t, Ty::Null) if !t.is_dyn() => Ty::Nullable(Box::new(t)),
        _ => Ty::Dyn,
    }
}

/// What the check refused, and where in the `when` text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeError {
    pub kind: TypeErrorKind,
    /// 1-based line and column within the `when` expression, when known.
    pub position: Option<(usize, usize)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeErrorKind {
    /// A top-level name that is not a variable rules see.
    UnknownVariable(String),
    /// Anything else, as a message naming types and names from the expression only.
    Invalid(String),
}

impl std::fmt::Display for TypeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            TypeErrorKind::UnknownVariable(v) => write!(f, "unknown variable `{v}`")?,
            TypeErrorKind::Invalid(m) => f.write_str(m)?,
        }
        if let Some((line, column)) = self.position {
            write!(f, " (at {line}:{column})")?;
        }
        Ok(())
    }
}

/// Checks a compiled `when` (`source` is its text, for positions).
pub fn check(program: &cel::Program, source: &str) -> Result<(), TypeError> {
    let mut checker = Checker {
        scope: Vec::new(),
        error: None,
    };
    let ty = checker.expr(program.expression());
    let result = match checker.error.take() {
        Some(e) => Err(e),
        None => match ty {
            Ty::Bool | Ty::Dyn => Ok(()),
            _ => Err((
                program.expression().id,
                TypeErrorKind::Invalid(format!("`when` gives {ty}, not a bool")),
            )),
        },
    };
    result.map_err(|(id, kind)| TypeError {
        kind,
        position: program
            .source_info()
            .offset_for(id)
            .map(|(start, _)| position(source, start as usize)),
    })
}

/// 1-based line and column of a character offset (the parser counts characters).
fn position(source: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for c in source.chars().take(offset) {
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

/// A list's element type as a value read from it.
fn elem(e: &Ty) -> Ty {
    match e {
        Ty::Empty => Ty::Dyn,
        t => t.clone(),
    }
}

struct Checker {
    /// Names bound by comprehensions around the current node, innermost last.
    scope: Vec<(String, Ty)>,
    /// The first error found, with the node it is about.
    error: Option<(u64, TypeErrorKind)>,
}

impl Checker {
    /// Records an error (the first one wins) and gives `dyn` so the walk can finish.
    fn fail(&mut self, id: u64, message: String) -> Ty {
        if self.error.is_none() {
            self.error = Some((id, TypeErrorKind::Invalid(message)));
        }
        Ty::Dyn
    }

    fn expr(&mut self, e: &IdedExpr) -> Ty {
        if self.error.is_some() {
            return Ty::Dyn;
        }
        match &e.expr {
            Expr::Unspecified => Ty::Dyn,
            Expr::Literal(l) => match l {
                LiteralValue::Boolean(_) => Ty::Bool,
                LiteralValue::Bytes(_) => Ty::Bytes,
                LiteralValue::Double(_) => Ty::Double,
                LiteralValue::Int(_) => Ty::Int,
                LiteralValue::Null => Ty::Null,
                LiteralValue::String(_) => Ty::String,
                LiteralValue::UInt(_) => Ty::UInt,
            },
            Expr::Ident(name) => self.ident(e.id, name),
            Expr::List(list) => {
                let mut elem: Option<Ty> = None;
                for el in &list.elements {
                    let t = self.expr(el);
                    elem = Some(match elem {
                        None => t,
                        Some(prev) => join(prev, t),
                    });
                }
                Ty::List(Box::new(elem.unwrap_or(Ty::Empty)))
            }
            Expr::Map(map) => {
                let mut kv: Option<(Ty, Ty)> = None;
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(m) = &entry.expr {
                        let k = self.expr(&m.key);
                        let v = self.expr(&m.value);
                        kv = Some(match kv {
                            None => (k, v),
                            Some((pk, pv)) => (join(pk, k), join(pv, v)),
                        });
                    }
                }
                let (k, v) = kv.unwrap_or((Ty::Dyn, Ty::Dyn));
                Ty::Map(Box::new(k), Box::new(v))
            }
            Expr::Struct(s) => self.fail(
                e.id,
                format!(
                    "message construction `{}{{...}}` is not available to rules",
                    s.type_name
                ),
            ),
            Expr::Select(select) => self.select(e.id, select),
            Expr::Call(call) => {
                let target = call.target.as_deref();
                self.call(e.id, &call.func_name, target, &call.args)
            }
            Expr::Comprehension(c) => self.comprehension(e.id, c),
        }
    }

    fn ident(&mut self, id: u64, name: &str) -> Ty {
        if let Some((_, t)) = self.scope.iter().rev().find(|(n, _)| n == name) {
            return t.clone();
        }
        if let Some(t) = variable(name) {
            return t;
        }
        if TYPE_NAMES.contains(&name) {
            return Ty::Type;
        }
        if self.error.is_none() {
            self.error = Some((id, TypeErrorKind::UnknownVariable(name.to_owned())));
        }
        Ty::Dyn
    }

    /// `a.b`, and `has(a.b)` when `select.test`.
    fn select(&mut self, id: u64, select: &SelectExpr) -> Ty {
        let operand = self.expr(&select.operand);
        let field = select.field.as_str();
        let ty = match operand.strip() {
            Ty::Object(o) => match o.field(field) {
                Some(t) => t,
                None => {
                    return self.fail(
                        id,
                        format!(
                            "unknown field '{field}' on {} (known: {})",
                            o.name(),
                            o.fields().join(", ")
                        ),
                    );
                }
            },
            Ty::Map(k, v) if matches!(**k, Ty::String | Ty::Dyn) => (**v).clone(),
            Ty::Dyn => Ty::Dyn,
            other => {
                let other = other.clone();
                return self.fail(id, format!("cannot read field '{field}' of {other}"));
            }
        };
        if select.test { Ty::Bool } else { ty }
    }

    fn comprehension(&mut self, id: u64, c: &ComprehensionExpr) -> Ty {
        let range = self.expr(&c.iter_range);
        let (first, second) = match range.strip() {
            Ty::List(e) => (Ty::Int, elem(e)),
            Ty::Map(k, v) => ((**k).clone(), (**v).clone()),
            Ty::Object(_) => (Ty::String, Ty::Dyn),
            Ty::Dyn => (Ty::Dyn, Ty::Dyn),
            other => {
                let other = other.clone();
                return self.fail(id, format!("cannot iterate over {other}"));
            }
        };
        // One variable: a list's elements or a map's keys; two: index or key, then value.
        let vars = match &c.iter_var2 {
            None => {
                let t = if matches!(range.strip(), Ty::List(_)) {
                    second
                } else {
                    first
                };
                vec![(c.iter_var.clone(), t)]
            }
            Some(v2) => vec![(c.iter_var.clone(), first), (v2.clone(), second)],
        };
        let accu = self.expr(&c.accu_init);
        let depth = self.scope.len();
        self.scope.extend(vars);
        self.scope.push((c.accu_var.clone(), accu.clone()));
        self.expr(&c.loop_cond);
        // `map` and `filter` start from `[]`: the step says what the list holds.
        let step = self.expr(&c.loop_step);
        if let Some(last) = self.scope.last_mut() {
            last.1 = join(accu, step);
        }
        let result = self.expr(&c.result);
        self.scope.truncate(depth);
        result
    }

    fn call(&mut self, id: u64, name: &str, target: Option<&IdedExpr>, args: &[IdedExpr]) -> Ty {
        // `optional.of(x)` and friends: a namespace, not a variable.
        if let Some(IdedExpr {
            expr: Expr::Ident(ns),
            ..
        }) = target
            && ns == "optional"
            && !self.scope.iter().any(|(n, _)| n == ns)
        {
            for a in args {
                self.expr(a);
            }
            return Ty::Dyn;
        }
        // Before the arguments: a misspelt macro's arguments name variables it would bind.
        let operator = name.starts_with(['_', '@', '!', '-']);
        let optional_member = matches!(name, "hasValue" | "value" | "or" | "orValue");
        if !operator && !optional_member && !FUNCTIONS.contains(&name) {
            return self.fail(
                id,
                format!(
                    "unknown function '{name}' (known: {})",
                    FUNCTIONS.join(", ")
                ),
            );
        }
        if matches!(
            name,
            "has" | "exists" | "all" | "exists_one" | "existsOne" | "map" | "filter"
        ) {
            return self.fail(
                id,
                format!("`{name}` is a macro: write `has(a.b)` or `list.{name}(x, predicate)`"),
            );
        }
        let recv = target.map(|t| self.expr(t));
        let tys: Vec<Ty> = args.iter().map(|a| self.expr(a)).collect();
        if self.error.is_some() {
            return Ty::Dyn;
        }
        let arity = |n: usize| tys.len() == n;
        match (name, &recv) {
            (operators::LOGICAL_AND | operators::LOGICAL_OR, None) => {
                let op = if name == operators::LOGICAL_AND {
                    "&&"
                } else {
                    "||"
                };
                for t in &tys {
                    if !matches!(t, Ty::Bool | Ty::Dyn) {
                        return self.fail(id, format!("`{op}` needs bools, got {t}"));
                    }
                }
                Ty::Bool
            }
            (operators::LOGICAL_NOT, None) => match &tys[..] {
                [Ty::Bool | Ty::Dyn] => Ty::Bool,
                [t] => {
                    let t = t.clone();
                    self.fail(id, format!("`!` needs a bool, got {t}"))
                }
                _ => Ty::Bool,
            },
            (operators::NOT_STRICTLY_FALSE, None) => Ty::Bool,
            (operators::NEGATE, None) => match &tys[..] {
                [t @ (Ty::Int | Ty::Double | Ty::Dyn)] => t.clone(),
                [t] => {
                    let t = t.clone();
                    self.fail(id, format!("`-` needs an int or a double, got {t}"))
                }
                _ => Ty::Dyn,
            },
            (operators::EQUALS | operators::NOT_EQUALS, None) if arity(2) => {
                if !can_equal(&tys[0], &tys[1]) {
                    let op = if name == operators::EQUALS {
                        "=="
                    } else {
                        "!="
                    };
                    return self.fail(
                        id,
                        format!("`{op}` compares {} with {}: never equal", tys[0], tys[1]),
                    );
                }
                Ty::Bool
            }
            (
                operators::LESS
                | operators::LESS_EQUALS
                | operators::GREATER
                | operators::GREATER_EQUALS,
                None,
            ) if arity(2) => {
                let (a, b) = (tys[0].strip(), tys[1].strip());
                let ok = a.is_dyn()
                    || b.is_dyn()
                    || (a.is_numeric() && b.is_numeric())
                    || (std::mem::discriminant(a) == std::mem::discriminant(b)
                        && matches!(a, Ty::String | Ty::Bytes | Ty::Bool));
                if !ok {
                    return self.fail(id, format!("cannot order {} against {}", tys[0], tys[1]));
                }
                Ty::Bool
            }
            (
                operators::ADD
                | operators::SUBSTRACT
                | operators::MULTIPLY
                | operators::DIVIDE
                | operators::MODULO,
                None,
            ) if arity(2) => self.arithmetic(id, name, &tys[0], &tys[1]),
            (operators::IN, None) if arity(2) => {
                let ok = match tys[1].strip() {
                    Ty::List(e) => can_equal(&tys[0], e),
                    Ty::Map(k, _) => can_equal(&tys[0], k),
                    Ty::Object(_) => can_equal(&tys[0], &Ty::String),
                    Ty::Dyn => true,
                    other => {
                        let other = other.clone();
                        return self.fail(id, format!("`in` needs a list or a map, got {other}"));
                    }
                };
                if !ok {
                    return self.fail(
                        id,
                        format!("`in` looks for {} in {}: never found", tys[0], tys[1]),
                    );
                }
                Ty::Bool
            }
            (operators::INDEX, None) if arity(2) => self.index(id, &args[1], &tys[0], &tys[1]),
            (operators::OPT_INDEX | operators::OPT_SELECT, None) => Ty::Dyn,
            (operators::CONDITIONAL, None) if arity(3) => {
                if !matches!(tys[0], Ty::Bool | Ty::Dyn) {
                    let t = tys[0].clone();
                    return self.fail(id, format!("the condition of `?:` is {t}, not a bool"));
                }
                join(tys[1].clone(), tys[2].clone())
            }
            ("size", Some(r)) if arity(0) => self.sized(id, r),
            ("size", None) if arity(1) => self.sized(id, &tys[0]),
            ("contains" | "startsWith" | "endsWith" | "matches", Some(r)) if arity(1) => {
                for t in [r, &tys[0]] {
                    if !matches!(t.strip(), Ty::String | Ty::Dyn) {
                        let t = t.clone();
                        return self.fail(id, format!("`{name}` works on strings, got {t}"));
                    }
                }
                Ty::Bool
            }
            ("matches", None) if arity(2) => {
                for t in &tys {
                    if !matches!(t.strip(), Ty::String | Ty::Dyn) {
                        let t = t.clone();
                        return self.fail(id, format!("`matches` works on strings, got {t}"));
                    }
                }
                Ty::Bool
            }
            ("string", None) if arity(1) => Ty::String,
            ("int", None) if arity(1) => Ty::Int,
            ("uint", None) if arity(1) => Ty::UInt,
            ("double", None) if arity(1) => Ty::Double,
            ("bool", None) if arity(1) => Ty::Bool,
            ("bytes", None) if arity(1) => Ty::Bytes,
            ("dyn", None) if arity(1) => Ty::Dyn,
            ("type", None) if arity(1) => Ty::Type,
            ("hasValue" | "value" | "or" | "orValue", Some(_)) => Ty::Dyn,
            _ if !operator => self.fail(
                id,
                format!(
                    "`{name}` does not take {} argument(s){}",
                    tys.len(),
                    if recv.is_some() { " as a method" } else { "" }
                ),
            ),
            _ => Ty::Dyn,
        }
    }

    fn sized(&mut self, id: u64, t: &Ty) -> Ty {
        match t.strip() {
            Ty::String | Ty::Bytes | Ty::List(_) | Ty::Map(..) | Ty::Object(_) | Ty::Dyn => Ty::Int,
            other => {
                let other = other.clone();
                self.fail(
                    id,
                    format!("`size` needs a string, bytes, list or map, got {other}"),
                )
            }
        }
    }

    fn arithmetic(&mut self, id: u64, name: &str, a: &Ty, b: &Ty) -> Ty {
        let op = &name[1..name.len() - 1];
        let (sa, sb) = (a.strip(), b.strip());
        if sa.is_dyn() || sb.is_dyn() {
            return Ty::Dyn;
        }
        let same = std::mem::discriminant(sa) == std::mem::discriminant(sb);
        let ok = same
            && match name {
                operators::ADD => matches!(
                    sa,
                    Ty::Int | Ty::UInt | Ty::Double | Ty::String | Ty::Bytes | Ty::List(_)
                ),
                operators::MODULO => matches!(sa, Ty::Int | Ty::UInt),
                _ => sa.is_numeric(),
            };
        if !ok {
            return self.fail(id, format!("`{op}` cannot combine {a} and {b}"));
        }
        match (sa, sb) {
            (Ty::List(x), Ty::List(y)) => Ty::List(Box::new(join((**x).clone(), (**y).clone()))),
            _ => sa.clone(),
        }
    }

    /// `a[i]`: a list by int, a map by key, an object by a field name.
    fn index(&mut self, id: u64, key_expr: &IdedExpr, container: &Ty, key: &Ty) -> Ty {
        match container.strip() {
            Ty::List(e) => {
                if matches!(key.strip(), Ty::Int | Ty::UInt | Ty::Dyn) {
                    elem(e)
                } else {
                    let key = key.clone();
                    self.fail(id, format!("a list is indexed by int, not {key}"))
                }
            }
            Ty::Map(k, v) => {
                if can_equal(k, key) {
                    (**v).clone()
                } else {
                    let (k, key) = ((**k).clone(), key.clone());
                    self.fail(id, format!("a map with {k} keys is indexed by {key}"))
                }
            }
            Ty::Object(o) => {
                if let Expr::Literal(LiteralValue::String(s)) = &key_expr.expr {
                    let s = s.inner();
                    match o.field(s) {
                        Some(t) => t,
                        None => self.fail(
                            id,
                            format!(
                                "unknown field '{s}' on {} (known: {})",
                                o.name(),
                                o.fields().join(", ")
                            ),
                        ),
                    }
                } else if can_equal(key, &Ty::String) {
                    Ty::Dyn
                } else {
                    let key = key.clone();
                    self.fail(id, format!("{} is indexed by string, not {key}", o.name()))
                }
            }
            Ty::Dyn => Ty::Dyn,
            other => {
                let other = other.clone();
                self.fail(id, format!("cannot index {other}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(when: &str) -> Result<(), TypeError> {
        let program = cel::Env::stdlib().compile(when).expect("parses");
        check(&program, when)
    }

    fn rejected(when: &str) -> String {
        match run(when) {
            Ok(()) => panic!("`{when}` was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn accepts_what_rules_are_written_with() {
        for when in [
            "true",
            r#"!(model in ["gpt-4o-mini", "claude-sonnet-4-5"])"#,
            r#"identity.claims.groups.exists(g, g == "contractors") && findings.exists(f, f.category == "credential")"#,
            "identity.principal == null",
            r#"identity.source == "spiffe" && identity.principal == "spiffe://prod/ns/sec/sa/scanner""#,
            r#"!model.startsWith("internal-") && findings.exists(f, f.category == "pii")"#,
            r#"!(request.host in ["api.openai.com", "api.anthropic.com"])"#,
            r#"request.path.startsWith("/v1/") || request.path.matches("^/v1beta/")"#,
            r#""x-team" in request.headers && request.headers["x-team"] == "sec""#,
            "has(identity.claims.groups) && \"contractors\" in identity.claims.groups",
            "has(request.headers.foo) && has(identity.principal)",
            "injection.score > 0.8 || injection.score >= 1",
            "injection.roles.tool_result > 0.5 || injection.roles.system >= 0.9",
            "findings.filter(f, f.direction == direction).size() > 2",
            "size(findings.map(f, f.rule)) == 0",
            "findings.exists_one(f, f.count >= 3 && f.rule.contains(\"key\"))",
            "findings.all(f, f.count + 1 > 1)",
            "identity.claims.level > 3 && identity.claims.name + \"x\" == \"y\"",
            "dyn(model) == 1",
            "type(identity.claims.groups) == list",
            r#"identity["principal"] == "alice""#,
            r#"(model == null ? "none" : model) == "x""#,
            "request.headers.exists(k, k.startsWith(\"x-\"))",
            "identity.claims.exists(k, k == \"groups\")",
            "int(identity.claims.level) + 1 > 2",
            "[1, 2].exists(x, x == 2)",
        ] {
            if let Err(e) = run(when) {
                panic!("`{when}` was refused: {e}");
            }
        }
    }

    #[test]
    fn unknown_variables_outside_comprehensions() {
        let e = run("user == 1").unwrap_err();
        assert_eq!(e.kind, TypeErrorKind::UnknownVariable("user".into()));
        let e = run("findings.exists(f, g.count > 1)").unwrap_err();
        assert_eq!(e.kind, TypeErrorKind::UnknownVariable("g".into()));
        // The bound name is gone after its comprehension.
        let e = run("findings.exists(f, true) && f.count > 1").unwrap_err();
        assert_eq!(e.kind, TypeErrorKind::UnknownVariable("f".into()));
    }

    #[test]
    fn unknown_fields_on_known_objects() {
        let m = rejected("identity.princpal == \"alice\"");
        assert!(
            m.starts_with(
                "unknown field 'princpal' on identity (known: principal, source, claims)"
            ),
            "{m}"
        );
        assert!(m.ends_with("(at 1:9)"), "{m}");
        let m = rejected(r#"findings.exists(f, f.categry == "pii")"#);
        assert!(m.contains("unknown field 'categry' on a finding"), "{m}");
        let m = rejected("injection.scroe > 0.5");
        assert!(m.contains("'scroe' on injection"), "{m}");
        let m = rejected("injection.roles.tool_results > 0.5");
        assert!(m.contains("'tool_results' on injection.roles"), "{m}");
        let m = rejected(r#"request.hots == "x""#);
        assert!(m.contains("'hots' on request"), "{m}");
        let m = rejected(r#"identity["princpal"] == "x""#);
        assert!(m.contains("'princpal' on identity"), "{m}");
        let m = rejected("has(identity.princpal)");
        assert!(m.contains("'princpal' on identity"), "{m}");
        let m = rejected("model.name == \"x\"");
        assert!(m.contains("cannot read field 'name' of string"), "{m}");
    }

    #[test]
    fn unknown_functions_and_macros() {
        let m = rejected("findings.any(f, f.count > 1)");
        assert!(m.starts_with("unknown function 'any'"), "{m}");
        let m = rejected(r#"model.startswith("gpt")"#);
        assert!(m.contains("unknown function 'startswith'"), "{m}");
        let m = rejected("lower(model) == \"x\"");
        assert!(m.contains("unknown function 'lower'"), "{m}");
        let m = rejected("findings.exists(f)");
        assert!(m.contains("`exists` is a macro"), "{m}");
        let m = rejected("model.size(1) == 1");
        assert!(
            m.contains("`size` does not take 1 argument(s) as a method"),
            "{m}"
        );
    }

    #[test]
    fn literal_against_known_type_mismatches() {
        let m = rejected("model == 1");
        assert!(m.contains("`==` compares string or null with int"), "{m}");
        let m = rejected(r#"injection.score > "x""#);
        assert!(m.contains("cannot order double against string"), "{m}");
        let m = rejected(r#"findings.size() + "a" == "b""#);
        assert!(m.contains("`+` cannot combine int and string"), "{m}");
        let m = rejected(r#"findings.exists(f, f.count == "3")"#);
        assert!(m.contains("compares int with string"), "{m}");
        let m = rejected(r#"request.path == null"#);
        assert!(m.contains("compares string with null"), "{m}");
        let m = rejected(r#"model in [1, 2]"#);
        assert!(
            m.contains("`in` looks for string or null in list(int)"),
            "{m}"
        );
        let m = rejected("injection.score + 1 > 2.0");
        assert!(m.contains("cannot combine double and int"), "{m}");
        let m = rejected("size(1) > 0");
        assert!(m.contains("`size` needs"), "{m}");
        let m = rejected("model && true");
        assert!(m.contains("`&&` needs bools, got string or null"), "{m}");
        let m = rejected("findings.exists(f, f.count)");
        assert!(m.contains("needs bools, got int"), "{m}");
        let m = rejected(r#"request.headers[1] == "x""#);
        assert!(m.contains("indexed by int"), "{m}");
    }

    #[test]
    fn a_when_must_give_a_bool() {
        let m = rejected("model");
        assert!(
            m.starts_with("`when` gives string or null, not a bool"),
            "{m}"
        );
        let m = rejected("findings.size()");
        assert!(m.contains("gives int"), "{m}");
        let m = rejected("findings.map(f, f.rule)");
        assert!(m.contains("gives list(string)"), "{m}");
        // Dynamic values are for the evaluator to judge.
        assert!(run("identity.claims.admin").is_ok());
    }

    #[test]
    fn positions_are_within_the_expression() {
        let e = run("true &&\n  identity.princpal == \"a\"").unwrap_err();
        assert_eq!(e.position, Some((2, 11)), "{e}");
    }
}
