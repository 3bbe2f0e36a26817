//! Detectors a policy defines (`detectors.custom`): an organisation's project codes, customer
//! ids or internal host names, compiled into the same gated scanner and the same holdback
//! automata as the built-in catalogue, so a custom value split across stream events is masked
//! like an AWS key is.
//!
//! The scanner's rules are `'static` (the catalogue is parsed once and leaked); a custom rule's
//! strings are interned here to fit that shape. Interning keeps one copy of each distinct
//! string for the life of the process: reloading the same policy costs nothing, and each
//! reload that changes a detector keeps its few old strings (bytes, not a growth per request).

use std::collections::BTreeSet;
use std::sync::Mutex;

use regex_automata::util::syntax;
use serde::{Deserialize, Serialize};

use super::catalogue::{Check, Rule, Trigger};
use super::syntax_config;
use crate::finding::{Category, CustomCategory};
use crate::policy::Action;

/// One `detectors.custom` entry as written in the policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomDetector {
    /// Rule id in findings, masks (`[REDACTED:<id>]`) and audit records.
    pub id: String,
    /// `credential` or `pii` (then `request`/`response` decide its action), or a name of the
    /// policy's own (`confidential`), which rules see as `f.category`.
    pub category: String,
    /// Regex (ASCII semantics; `(?i)` for case-insensitive). With a capture group, group 1 is
    /// the finding (what gets masked); otherwise the whole match.
    pub pattern: String,
    /// Any of these (ASCII case-insensitive) must occur in the text before the regex runs.
    /// Empty: the regex runs on every text (its own literal prefilter still applies).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    #[serde(default, skip_serializing_if = "Validator::is_none")]
    pub validator: Validator,
    /// Shannon entropy floor (bits per byte) of the finding; 0 disables.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_entropy: f32,
    /// For a category of the policy's own: what happens to its findings when no rule decides
    /// (`flag`, `mask` or `block`; default `mask`). Built-in categories take theirs from
    /// `request`/`response`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
}

fn is_zero(v: &f32) -> bool {
    *v == 0.0
}

/// A check on the matched value that must pass for a finding to count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Validator {
    #[default]
    None,
    /// Luhn check digit over the value's digits.
    Luhn,
    /// IBAN structure and ISO 7064 mod-97 (separators ignored).
    IbanMod97,
    /// Last six base62 characters are the CRC32 of the rest after the prefix (GitHub, npm).
    Crc32Base62,
    /// A JSON Web Token whose header decodes and names an `alg`.
    Jwt,
}

impl Validator {
    fn is_none(&self) -> bool {
        *self == Validator::None
    }

    fn check(self) -> Check {
        match self {
            Validator::None => Check::None,
            Validator::Luhn => Check::Luhn,
            Validator::IbanMod97 => Check::Mod97,
            Validator::Crc32Base62 => Check::Crc32Base62,
            Validator::Jwt => Check::Jwt,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CustomError {
    #[error(
        "detectors.custom[{index}].id {id:?}: use lower-case letters, digits and '-' (1 to 64)"
    )]
    BadId { index: usize, id: String },
    #[error("detectors.custom[{index}].id {id:?} is already a detector id")]
    DuplicateId { index: usize, id: String },
    #[error(
        "detectors.custom[{index}] ({id}).category {category:?}: use lower-case letters, digits, '-' or '_' (1 to 64); `injection` is reserved"
    )]
    BadCategory {
        index: usize,
        id: String,
        category: String,
    },
    #[error(
        "detectors.custom[{index}] ({id}).action: only a category of the policy's own takes an action here; `{category}` follows request/response"
    )]
    ActionOnBuiltin {
        index: usize,
        id: String,
        category: String,
    },
    #[error(
        "detectors.custom[{index}] ({id}).action: `allow` would hide findings from rules; use `flag`"
    )]
    AllowAction { index: usize, id: String },
    #[error(
        "detectors.custom[{index}] ({id}): category `{category}` is given action `{action}` here and another action by an earlier detector"
    )]
    CategoryActions {
        index: usize,
        id: String,
        category: String,
        action: String,
    },
    #[error("detectors.custom[{index}] ({id}).pattern: {reason}")]
    Pattern {
        index: usize,
        id: String,
        reason: String,
    },
    #[error("detectors.custom[{index}] ({id}).keywords: a keyword must not be empty")]
    EmptyKeyword { index: usize, id: String },
    #[error("detectors.custom[{index}] ({id}).min_entropy must be between 0 and 8")]
    Entropy { index: usize, id: String },
}

impl CustomError {
    /// Which `detectors.custom` entry is at fault, for placing the error in the document.
    pub fn index(&self) -> usize {
        match self {
            CustomError::BadId { index, .. }
            | CustomError::DuplicateId { index, .. }
            | CustomError::BadCategory { index, .. }
            | CustomError::ActionOnBuiltin { index, .. }
            | CustomError::AllowAction { index, .. }
            | CustomError::CategoryActions { index, .. }
            | CustomError::Pattern { index, .. }
            | CustomError::EmptyKeyword { index, .. }
            | CustomError::Entropy { index, .. } => *index,
        }
    }

    /// The key of the entry the error is about (`pattern`, `id`, ...).
    pub fn key(&self) -> &'static str {
        match self {
            CustomError::BadId { .. } | CustomError::DuplicateId { .. } => "id",
            CustomError::BadCategory { .. } | CustomError::CategoryActions { .. } => "category",
            CustomError::ActionOnBuiltin { .. } | CustomError::AllowAction { .. } => "action",
            CustomError::Pattern { .. } => "pattern",
            CustomError::EmptyKeyword { .. } => "keywords",
            CustomError::Entropy { .. } => "min_entropy",
        }
    }
}

/// Longest a custom regex may make the scanner's automaton (it is built once per policy).
const PATTERN_SIZE_LIMIT: usize = 8 << 20;

fn valid_name(s: &str, extra: &[u8]) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || extra.contains(&b))
}

/// Checks the entries and turns them into scanner rules.
pub fn compile(specs: &[CustomDetector]) -> Result<Vec<Rule>, CustomError> {
    let mut rules = Vec::with_capacity(specs.len());
    let mut actions: Vec<(&str, Action)> = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        let id = spec.id.clone();
        if !valid_name(&spec.id, b"-") {
            return Err(CustomError::BadId { index, id });
        }
        let taken = super::RULES.iter().any(|r| r.id == spec.id)
            || super::BUILTIN_IDS.contains(&spec.id.as_str())
            || super::classify::RULE_IDS.contains(&spec.id.as_str())
            || specs
                .get(..index)
                .unwrap_or_default()
                .iter()
                .any(|s| s.id == spec.id);
        if taken {
            return Err(CustomError::DuplicateId { index, id });
        }
        let category = match spec.category.as_str() {
            "credential" | "pii" => {
                if spec.action.is_some() {
                    return Err(CustomError::ActionOnBuiltin {
                        index,
                        id,
                        category: spec.category.clone(),
                    });
                }
                if spec.category == "pii" {
                    Category::Pii
                } else {
                    Category::Credential
                }
            }
            name if valid_name(name, b"-_")
                && name != "injection"
                && name != super::classify::DATA_CLASS.name =>
            {
                let action = spec.action.unwrap_or(Action::Mask);
                if action == Action::Allow {
                    return Err(CustomError::AllowAction { index, id });
                }
                match actions.iter().find(|(n, _)| *n == name) {
                    Some((_, a)) if *a != action => {
                        return Err(CustomError::CategoryActions {
                            index,
                            id,
                            category: name.to_owned(),
                            action: format!("{action:?}").to_lowercase(),
                        });
                    }
                    Some(_) => {}
                    None => actions.push((name, action)),
                }
                Category::Custom(intern_category(CustomCategory {
                    name: intern(name),
                    action,
                }))
            }
            _ => {
                return Err(CustomError::BadCategory {
                    index,
                    id,
                    category: spec.category.clone(),
                });
            }
        };
        if spec.keywords.iter().any(|k| k.is_empty()) {
            return Err(CustomError::EmptyKeyword { index, id });
        }
        if !(0.0..=8.0).contains(&spec.min_entropy) {
            return Err(CustomError::Entropy { index, id });
        }
        let group = check_pattern(&spec.pattern).map_err(|reason| CustomError::Pattern {
            index,
            id: id.clone(),
            reason,
        })?;
        let trigger = if spec.keywords.is_empty() {
            Trigger::Always
        } else {
            let keywords: Vec<&'static str> = spec.keywords.iter().map(|k| intern(k)).collect();
            Trigger::Keywords(intern_slice(&keywords))
        };
        rules.push(Rule {
            id: intern(&spec.id),
            category,
            trigger,
            pattern: intern(&spec.pattern),
            group,
            check: spec.validator.check(),
            min_entropy: spec.min_entropy,
            generic: false,
        });
    }
    Ok(rules)
}

/// Parses a custom pattern as the scanner will compile it; the capture group the finding is
/// (1 when there is one, else 0). A pattern that matches the empty string would report a
/// finding at every position, so it is refused, as is more than one capture group (which one
/// is the secret would be a guess).
fn check_pattern(pattern: &str) -> Result<usize, String> {
    let hir = syntax::parse_with(pattern, &syntax_config()).map_err(|e| e.to_string())?;
    let props = hir.properties();
    if props.minimum_len().is_none_or(|n| n == 0) {
        return Err("the pattern can match the empty string".into());
    }
    let groups = props.explicit_captures_len();
    if groups > 1 {
        return Err(format!(
            "{groups} capture groups; use one for the part to mask, (?:...) for the others"
        ));
    }
    regex_automata::meta::Regex::builder()
        .syntax(syntax_config())
        .configure(regex_automata::meta::Config::new().nfa_size_limit(Some(PATTERN_SIZE_LIMIT)))
        .build(pattern)
        .map_err(|e| e.to_string())?;
    Ok(groups)
}

static STRINGS: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
static SLICES: Mutex<Vec<&'static [&'static str]>> = Mutex::new(Vec::new());
static CATEGORIES: Mutex<Vec<&'static CustomCategory>> = Mutex::new(Vec::new());

pub(crate) fn intern_str(s: &str) -> &'static str {
    intern(s)
}

fn intern(s: &str) -> &'static str {
    let mut set = STRINGS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&known) = set.get(s) {
        return known;
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    set.insert(leaked);
    leaked
}

fn intern_slice(items: &[&'static str]) -> &'static [&'static str] {
    let mut all = SLICES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&known) = all.iter().find(|s| **s == items) {
        return known;
    }
    let leaked: &'static [&'static str] = Box::leak(items.to_vec().into_boxed_slice());
    all.push(leaked);
    leaked
}

fn intern_category(c: CustomCategory) -> &'static CustomCategory {
    let mut all = CATEGORIES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&known) = all.iter().find(|k| ***k == c) {
        return known;
    }
    let leaked: &'static CustomCategory = Box::leak(Box::new(c));
    all.push(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: &str, category: &str, pattern: &str) -> CustomDetector {
        CustomDetector {
            id: id.into(),
            category: category.into(),
            pattern: pattern.into(),
            keywords: Vec::new(),
            validator: Validator::None,
            min_entropy: 0.0,
            action: None,
        }
    }

    #[test]
    fn custom_categories_are_interned_and_keep_their_action() {
        let a = compile(&[spec("project-code", "confidential", r"\bPRJ-[0-9]{5}\b")]).unwrap();
        let b = compile(&[spec("project-code", "confidential", r"\bPRJ-[0-9]{5}\b")]).unwrap();
        assert_eq!(a, b);
        let (Category::Custom(ca), Category::Custom(cb)) = (a[0].category, b[0].category) else {
            panic!("custom category expected");
        };
        assert!(std::ptr::eq(ca, cb), "one interned category");
        assert_eq!(ca.name, "confidential");
        assert_eq!(ca.action, Action::Mask);
        assert_eq!(a[0].group, 0);
        assert!(std::ptr::eq(a[0].id, b[0].id));
    }

    #[test]
    fn capture_group_is_the_finding() {
        let r = compile(&[spec("cust", "pii", r"customer[ =:]+(C[0-9]{8})")]).unwrap();
        assert_eq!(r[0].group, 1);
        assert_eq!(r[0].category, Category::Pii);
        assert_eq!(r[0].trigger, Trigger::Always);
    }

    #[test]
    fn bad_entries_are_refused_with_the_key_at_fault() {
        let cases: Vec<(CustomDetector, &str)> = vec![
            (spec("Bad Id", "pii", "x+"), "id"),
            (spec("aws-access-key-id", "credential", "AKIA[0-9]+"), "id"),
            (spec("email", "pii", "x+@y"), "id"),
            (spec("ok", "Injection", "x+"), "category"),
            (spec("ok", "injection", "x+"), "category"),
            (spec("ok", "pii", "(unclosed"), "pattern"),
            (spec("ok", "pii", "a*"), "pattern"),
            (spec("ok", "pii", "(a)(b)"), "pattern"),
            (
                CustomDetector {
                    action: Some(Action::Block),
                    ..spec("ok", "credential", "x+")
                },
                "action",
            ),
            (
                CustomDetector {
                    action: Some(Action::Allow),
                    ..spec("ok", "confidential", "x+")
                },
                "action",
            ),
            (
                CustomDetector {
                    keywords: vec![String::new()],
                    ..spec("ok", "pii", "x+")
                },
                "keywords",
            ),
            (
                CustomDetector {
                    min_entropy: 9.0,
                    ..spec("ok", "pii", "x+")
                },
                "min_entropy",
            ),
        ];
        for (s, key) in cases {
            let e = compile(std::slice::from_ref(&s)).expect_err(&format!("{s:?} refused"));
            assert_eq!(e.key(), key, "{e}");
            assert_eq!(e.index(), 0);
        }
        let dup = compile(&[spec("a", "pii", "x+"), spec("a", "pii", "y+")]).unwrap_err();
        assert_eq!((dup.key(), dup.index()), ("id", 1));
        let clash = compile(&[
            CustomDetector {
                action: Some(Action::Flag),
                ..spec("a", "confidential", "x+")
            },
            spec("b", "confidential", "y+"),
        ])
        .unwrap_err();
        assert_eq!((clash.key(), clash.index()), ("category", 1));
    }
}
