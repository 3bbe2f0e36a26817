//! The credential catalogue. The rules live in `core/rules/credentials.toml`, one `[[rule]]`
//! table per rule, read top to bottom like a table; the file is embedded at build time and
//! parsed once per process into [`RULES`].
//!
//! Fields of a `[[rule]]`:
//! - `id`: the rule id reported in findings (the corpus type name where one exists). Several
//!   entries may share an id (one provider, several token shapes).
//! - `category`: `"credential"` (or `"pii"`).
//! - `trigger` and `literals`: what must be present before the regex runs at all (the literal
//!   gate):
//!   - `"token"`: a case-sensitive literal that is part of the token itself; searched only
//!     inside runs of token characters at least 16 bytes long, so prose costs nothing.
//!   - `"assignment"`: an ASCII case-insensitive keyword inside the name of a binding, in any
//!     syntax the shared assignment grammar knows (`assign.rs`: operators, typed
//!     declarations, name/value pairs, setters, XML, flags). The `pattern` then describes
//!     only the value; the grammar's context is added when the rule is compiled, and the
//!     value must be a literal.
//!   - `"anywhere"`: a case-sensitive literal searched over the whole text (multi-line
//!     secrets such as PEM blocks).
//! - `pattern`: the regex (ASCII semantics, `\b` is an ASCII word boundary), written as a TOML
//!   literal string (`'...'` or `'''...'''`) so backslashes stay as written. Capture group
//!   `group` (default 1) is the secret, which becomes the finding span.
//! - `check`: the issuer's validator run on the secret: `none` (default), `crc32-base62`,
//!   `jwt`, `bech32`, `pem-body`, `luhn`, `mod97` (see [`Check`]).
//! - `min_entropy`: Shannon entropy floor (bits per byte) for the secret; 0 (default) disables.
//! - `generic`: a low-specificity rule that yields to any specific finding it overlaps
//!   (default false).
//! - `examples`: `positives`, lines in which the rule must report a finding under its id, and
//!   `negatives`, near misses it must not report. `core/tests/rule_examples.rs` runs them; the
//!   scanner never keeps them.
//!
//! Every credential rule also passes the placeholder filter (`xxxx`, `EXAMPLE`, `<your-key>`,
//! repeated or sequential characters, ...) unless its `check` is a checksum.
//!
//! Unknown fields, an unknown trigger, check or category, a rule without literals or an
//! entropy floor outside 0..=8 make the file fail to load, and the first use of [`RULES`]
//! panics: the file is part of the binary, and its unit test parses it.

use std::sync::LazyLock;

use serde::Deserialize;

use crate::finding::Category;

/// What must be present before a rule's regex runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Token(&'static [&'static str]),
    Assignment(&'static [&'static str]),
    Anywhere(&'static [&'static str]),
    /// A policy's custom detector: an ASCII case-insensitive keyword anywhere in the text, then
    /// the regex over the whole text.
    Keywords(&'static [&'static str]),
    /// A policy's custom detector without keywords: the regex (with its own literal
    /// prefilter) over the whole text.
    Always,
}

/// Issuer-defined validation run on the secret after the regex matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    None,
    /// Last 6 base62 characters are the CRC32 of the 30-character payload (GitHub, npm).
    Crc32Base62,
    /// Three base64url parts, the first a JSON object with an `alg` member.
    Jwt,
    /// Bech32 checksum (age secret keys). Not required: it marks the finding validated.
    Bech32,
    /// A PEM block whose body holds real base64, not `...`.
    PemBody,
    /// The Luhn check digit over the value's digits (card numbers, IMEIs, many account ids).
    Luhn,
    /// ISO 7064 mod-97 over the value's letters and digits, as IBANs use it.
    Mod97,
    /// Standard base64 of `user:password`, both parts printable and non-empty (HTTP Basic
    /// credentials, Docker's `auths` entries).
    Base64UserPassword,
}

impl Check {
    /// Checksums prove the value is issued, so the placeholder filter is skipped.
    pub fn is_checksum(self) -> bool {
        matches!(self, Check::Crc32Base62 | Check::Bech32)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule {
    pub id: &'static str,
    pub category: Category,
    pub trigger: Trigger,
    pub pattern: &'static str,
    pub group: usize,
    pub check: Check,
    pub min_entropy: f32,
    pub generic: bool,
}

/// The catalogue file, embedded at build time.
pub const SOURCE: &str = include_str!("../../rules/credentials.toml");

/// The credential catalogue, parsed from [`SOURCE`] on first use. Order matters only for
/// ties: on an identical span the earlier rule wins.
pub static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| match parse(SOURCE) {
    Ok(rules) => rules,
    Err(e) => panic!("core/rules/credentials.toml: {e}"),
});

/// The catalogue as a slice.
pub fn rules() -> &'static [Rule] {
    &RULES
}

/// A rule's example lines, as the catalogue file gives them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Examples {
    /// Lines in which the rule must report a finding under its id.
    #[serde(default)]
    pub positives: Vec<String>,
    /// Near misses in which it must not.
    #[serde(default)]
    pub negatives: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    #[error("rule {index} ({id}): {reason}")]
    Rule {
        index: usize,
        id: String,
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    rule: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    category: CategoryName,
    trigger: TriggerKind,
    literals: Vec<String>,
    pattern: String,
    #[serde(default = "first_group")]
    group: usize,
    #[serde(default)]
    check: CheckName,
    #[serde(default)]
    min_entropy: f32,
    #[serde(default)]
    generic: bool,
    #[serde(default)]
    examples: Examples,
}

fn first_group() -> usize {
    1
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum CategoryName {
    Credential,
    Pii,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum TriggerKind {
    Token,
    Assignment,
    Anywhere,
}

#[derive(Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum CheckName {
    #[default]
    None,
    Crc32Base62,
    Jwt,
    Bech32,
    PemBody,
    Luhn,
    Mod97,
    Base64UserPassword,
}

impl CheckName {
    fn check(self) -> Check {
        match self {
            CheckName::None => Check::None,
            CheckName::Crc32Base62 => Check::Crc32Base62,
            CheckName::Jwt => Check::Jwt,
            CheckName::Bech32 => Check::Bech32,
            CheckName::PemBody => Check::PemBody,
            CheckName::Luhn => Check::Luhn,
            CheckName::Mod97 => Check::Mod97,
            CheckName::Base64UserPassword => Check::Base64UserPassword,
        }
    }
}

/// Why an entry cannot be a rule, if it cannot.
fn invalid(entry: &Entry) -> Option<String> {
    if entry.id.is_empty() {
        return Some("empty id".into());
    }
    if entry.literals.is_empty() || entry.literals.iter().any(String::is_empty) {
        return Some("`literals` must list at least one non-empty literal".into());
    }
    if entry.pattern.is_empty() {
        return Some("empty pattern".into());
    }
    if !(0.0..=8.0).contains(&entry.min_entropy) {
        return Some(format!("min_entropy {} outside 0..=8", entry.min_entropy));
    }
    None
}

/// Reads and checks the file; the entries still own their strings.
fn load(text: &str) -> Result<Vec<Entry>, CatalogueError> {
    let file: File = toml::from_str(text)?;
    for (index, entry) in file.rule.iter().enumerate() {
        if let Some(reason) = invalid(entry) {
            return Err(CatalogueError::Rule {
                index,
                id: entry.id.clone(),
                reason,
            });
        }
    }
    Ok(file.rule)
}

/// Parses a catalogue file into scanner rules. Strings are leaked so the rules are
/// `'static` like the rest of the scanner's: call it once per process ([`RULES`] does).
/// The examples are dropped here.
pub fn parse(text: &str) -> Result<Vec<Rule>, CatalogueError> {
    Ok(load(text)?.into_iter().map(into_rule).collect())
}

fn into_rule(entry: Entry) -> Rule {
    let literals: Vec<&'static str> = entry.literals.into_iter().map(|l| &*l.leak()).collect();
    let literals: &'static [&'static str] = literals.leak();
    Rule {
        id: entry.id.leak(),
        category: match entry.category {
            CategoryName::Credential => Category::Credential,
            CategoryName::Pii => Category::Pii,
        },
        trigger: match entry.trigger {
            TriggerKind::Token => Trigger::Token(literals),
            TriggerKind::Assignment => Trigger::Assignment(literals),
            TriggerKind::Anywhere => Trigger::Anywhere(literals),
        },
        pattern: entry.pattern.leak(),
        group: entry.group,
        check: entry.check.check(),
        min_entropy: entry.min_entropy,
        generic: entry.generic,
    }
}

/// Each rule's id and examples, in file order (the order of [`RULES`]). Nothing is leaked.
pub fn examples(text: &str) -> Result<Vec<(String, Examples)>, CatalogueError> {
    Ok(load(text)?
        .into_iter()
        .map(|e| (e.id, e.examples))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::syntax_config;
    use regex_automata::util::syntax;

    const ONE: &str = r#"
[[rule]]
id = "acme-key"
category = "credential"
trigger = "token"
literals = ["acme_"]
pattern = '\b(acme_[a-z0-9]{20})\b'
"#;

    fn error(text: &str) -> String {
        match parse(text) {
            Ok(rules) => panic!("parsed: {rules:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_embedded_file_parses() {
        let rules = parse(SOURCE).expect("core/rules/credentials.toml parses");
        assert!(rules.len() >= 80, "{} rules", rules.len());
        assert_eq!(rules, *RULES);
        let examples = examples(SOURCE).expect("examples parse");
        assert_eq!(examples.len(), rules.len());
        for (rule, (id, _)) in rules.iter().zip(&examples) {
            assert_eq!(rule.id, id);
        }
    }

    #[test]
    fn every_pattern_parses_and_has_its_group() {
        for rule in rules() {
            let hir = syntax::parse_with(rule.pattern, &syntax_config())
                .unwrap_or_else(|e| panic!("{}: {e}", rule.id));
            let groups = hir.properties().explicit_captures_len();
            assert!(
                (1..=groups).contains(&rule.group),
                "{}: group {} of {groups}",
                rule.id,
                rule.group
            );
        }
    }

    #[test]
    fn defaults_apply() {
        let rules = parse(ONE).expect("parses");
        let [rule] = rules.as_slice() else {
            panic!("{rules:?}")
        };
        assert_eq!(rule.id, "acme-key");
        assert_eq!(rule.category, Category::Credential);
        assert_eq!(rule.trigger, Trigger::Token(&["acme_"]));
        assert_eq!(rule.pattern, r"\b(acme_[a-z0-9]{20})\b");
        assert_eq!(rule.group, 1);
        assert_eq!(rule.check, Check::None);
        assert_eq!(rule.min_entropy, 0.0);
        assert!(!rule.generic);
    }

    #[test]
    fn every_field_is_read() {
        let text = ONE.replace("trigger = \"token\"", "trigger = \"assignment\"")
            + "group = 2\ncheck = \"crc32-base62\"\nmin_entropy = 3.5\ngeneric = true\n"
            + "examples.positives = ['a']\nexamples.negatives = ['b', 'c']\n";
        let rules = parse(&text).expect("parses");
        let [rule] = rules.as_slice() else {
            panic!("{rules:?}")
        };
        assert_eq!(rule.trigger, Trigger::Assignment(&["acme_"]));
        assert_eq!(
            (rule.group, rule.check, rule.min_entropy, rule.generic),
            (2, Check::Crc32Base62, 3.5, true)
        );
        let examples = examples(&text).expect("parses");
        assert_eq!(
            examples,
            vec![(
                "acme-key".to_string(),
                Examples {
                    positives: vec!["a".into()],
                    negatives: vec!["b".into(), "c".into()],
                }
            )]
        );
    }

    #[test]
    fn check_names_are_kebab_case() {
        for (name, check) in [
            ("none", Check::None),
            ("crc32-base62", Check::Crc32Base62),
            ("jwt", Check::Jwt),
            ("bech32", Check::Bech32),
            ("pem-body", Check::PemBody),
            ("luhn", Check::Luhn),
            ("mod97", Check::Mod97),
            ("base64-user-password", Check::Base64UserPassword),
        ] {
            let rules = parse(&format!("{ONE}check = \"{name}\"\n")).expect(name);
            assert_eq!(rules.first().map(|r| r.check), Some(check), "{name}");
        }
    }

    #[test]
    fn malformed_files_fail() {
        let unknown_field = error(&format!("{ONE}severity = \"high\"\n"));
        assert!(unknown_field.contains("severity"), "{unknown_field}");
        let unknown_check = error(&format!("{ONE}check = \"crc64\"\n"));
        assert!(unknown_check.contains("crc64"), "{unknown_check}");
        let bad_case = error(&format!("{ONE}check = \"Crc32Base62\"\n"));
        assert!(bad_case.contains("Crc32Base62"), "{bad_case}");
        let unknown_trigger = error(&ONE.replace("\"token\"", "\"keywords\""));
        assert!(unknown_trigger.contains("keywords"), "{unknown_trigger}");
        let unknown_category = error(&ONE.replace("\"credential\"", "\"secret\""));
        assert!(unknown_category.contains("secret"), "{unknown_category}");
        let examples_field = error(&format!("{ONE}examples.positive = ['a']\n"));
        assert!(examples_field.contains("positive"), "{examples_field}");
        let missing = error(&ONE.replace("pattern = ", "# pattern = "));
        assert!(missing.contains("pattern"), "{missing}");
        let no_literals = error(&ONE.replace("[\"acme_\"]", "[]"));
        assert!(no_literals.contains("acme-key"), "{no_literals}");
        let entropy = error(&format!("{ONE}min_entropy = 9.0\n"));
        assert!(entropy.contains("min_entropy"), "{entropy}");
        assert!(parse("[[rule]\nid = 'x'").is_err());
        assert!(parse("rules = []").is_err());
    }
}
