//! Loading a policy document with errors a person can act on: `LINE:COL: message`, pointing at
//! the key at fault. Parse errors carry their position from the parser; errors found after
//! parsing (a rule's CEL, a duplicate id) are placed by finding the key in the text, which is
//! exact for block-style YAML and for JSON, the two shapes policy files are written in.

use super::rules::{RuleError, RuleSet};
use super::{Policy, PolicyError};

/// An error with the 1-based position it was found at (1:1 when nothing better is known).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct Diagnostic {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Parses, validates and compiles a policy document, as the engine would load it.
pub fn check(text: &str) -> Result<Policy, Diagnostic> {
    let policy = Policy::from_text(text).map_err(|e| diagnose(text, &e))?;
    RuleSet::compile(&policy.rules).map_err(|e| diagnose(text, &PolicyError::Rule(e)))?;
    Ok(policy)
}

/// Places an error from [`Policy::from_text`] or the rule compiler in `text`.
pub fn diagnose(text: &str, error: &PolicyError) -> Diagnostic {
    let at = |pos: Option<(usize, usize)>, message: String| {
        let (line, column) = pos.unwrap_or((1, 1));
        Diagnostic {
            line,
            column,
            message,
        }
    };
    match error {
        PolicyError::Json(e) => at(
            Some((e.line().max(1), e.column().max(1))),
            strip_position(&e.to_string(), " at line "),
        ),
        PolicyError::Yaml(e) => at(
            e.location().map(|l| (l.line(), l.column())),
            strip_position(&e.to_string(), " at line "),
        ),
        PolicyError::Version(_) => at(find_key(text, "version", 0, 0), error.to_string()),
        PolicyError::ZeroLimit(key) => at(find_key(text, key, 0, 0), error.to_string()),
        PolicyError::NeedsVersion2(key) => at(find_key(text, key, 0, 0), error.to_string()),
        PolicyError::Identity(_) => at(find_key(text, "identity", 0, 0), error.to_string()),
        PolicyError::Rule(e) => at(locate_rule(text, e), error.to_string()),
        PolicyError::Custom(e) => at(locate_custom(text, e), error.to_string()),
    }
}

fn locate_rule(text: &str, e: &RuleError) -> Option<(usize, usize)> {
    let rules_at = find_key_offset(text, "rules", 0, 0)?;
    let key = if e.in_when() { "when" } else { "id" };
    find_key(text, key, e.index, rules_at).or_else(|| Some(line_col(text, rules_at)))
}

fn locate_custom(text: &str, e: &crate::detect::custom::CustomError) -> Option<(usize, usize)> {
    let custom_at = find_key_offset(text, "custom", 0, 0)?;
    let entry = find_key_offset(text, "id", e.index(), custom_at);
    entry
        .and_then(|at| {
            // The key at fault in this entry, or the entry itself; `id` may follow the key.
            let next = find_key_offset(text, "id", e.index() + 1, custom_at).unwrap_or(text.len());
            let line_start = text
                .get(..at)
                .and_then(|t| t.rfind(['\n', '{']))
                .unwrap_or(0);
            find_key_offset(text, e.key(), 0, line_start).filter(|&k| k < next)
        })
        .or(entry)
        .or(Some(custom_at))
        .map(|o| line_col(text, o))
}

/// Removes the parser's own " at line N column M" (the position is reported in front).
fn strip_position(message: &str, marker: &str) -> String {
    match message.rfind(marker) {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

fn find_key(text: &str, key: &str, nth: usize, from: usize) -> Option<(usize, usize)> {
    find_key_offset(text, key, nth, from).map(|o| line_col(text, o))
}

/// Byte offset of the `nth` (0-based) occurrence of `key` used as a mapping key at or after
/// `from`: `key:`, `"key":` or `'key':`, preceded by nothing that could make it part of a
/// longer word.
fn find_key_offset(text: &str, key: &str, nth: usize, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut seen = 0;
    let mut i = from;
    while let Some(rel) = text.get(i..)?.find(key) {
        let start = i + rel;
        let end = start + key.len();
        i = end;
        let (before, quoted) = match start.checked_sub(1).map(|p| bytes[p]) {
            Some(q @ (b'"' | b'\'')) => (start.checked_sub(2).map(|p| bytes[p]), Some(q)),
            other => (other, None),
        };
        let word_start = before.is_none_or(|b| b.is_ascii_whitespace() || b"{,-[".contains(&b));
        if !word_start {
            continue;
        }
        let mut j = end;
        if let Some(q) = quoted {
            if bytes.get(j) != Some(&q) {
                continue;
            }
            j += 1;
        }
        while bytes.get(j).is_some_and(|b| *b == b' ' || *b == b'\t') {
            j += 1;
        }
        if bytes.get(j) != Some(&b':') {
            continue;
        }
        if seen == nth {
            return Some(if quoted.is_some() { start - 1 } else { start });
        }
        seen += 1;
    }
    None
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |n| before.len() - n - 1)
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "version: 2
policy_id: acme
rules:
  - id: a
    when: 'true'
    action: flag
  - id: b
    when: 'model == \"x\"'
    action: block
";

    #[test]
    fn a_good_document_checks() {
        let p = check(GOOD).unwrap();
        assert_eq!(p.rules.len(), 2);
    }

    #[test]
    fn unknown_key_points_at_it() {
        let text = GOOD.replace("    action: block", "    acton: block");
        let d = check(&text).unwrap_err();
        assert_eq!(d.line, 9, "{d}");
        assert!(d.message.contains("unknown field `acton`"), "{d}");
    }

    #[test]
    fn cel_error_points_at_the_rules_when() {
        let text = GOOD.replace("model == \"x\"", "model ==");
        let d = check(&text).unwrap_err();
        assert_eq!((d.line, d.column), (8, 5), "{d}");
        assert!(d.message.contains("rules[1] (b)"), "{d}");
    }

    #[test]
    fn duplicate_id_points_at_the_second() {
        let text = GOOD.replace("id: b", "id: a");
        let d = check(&text).unwrap_err();
        assert_eq!((d.line, d.column), (7, 5), "{d}");
        assert!(d.message.contains("duplicate rule id `a`"), "{d}");
    }

    #[test]
    fn yaml_syntax_and_json_errors_have_positions() {
        let d = check("version: 2\nrules: [\n").unwrap_err();
        assert!(d.line >= 2, "{d}");
        let d = check("{\n  \"version\": 1,\n  \"bogus\": true\n}").unwrap_err();
        assert_eq!(d.line, 3, "{d}");
        let d = check("{\"version\": 2, \"rules\": [{\"id\": \"r\", \"when\": \"(\", \"action\": \"block\"}]}")
            .unwrap_err();
        assert_eq!((d.line, d.column), (1, 38), "{d}");
    }

    #[test]
    fn version_1_keys_stay_version_1() {
        let d = check("version: 1\nrules: []\n");
        assert!(d.is_ok(), "an empty list is no rule");
        let d = check("version: 1\nrules:\n  - {id: a, when: 'true', action: flag}\n").unwrap_err();
        assert_eq!(d.line, 2, "{d}");
        assert!(d.message.contains("version: 2"));
    }
}
