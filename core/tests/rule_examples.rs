//! The examples in `core/rules/credentials.toml`: every rule's positives are reported under its
//! id by the full scanner, and none of its negatives are.

use sluice_core::detect::RULES;
use sluice_core::detect::catalogue::{self, Check, Examples, SOURCE};
use sluice_core::{DetectorOptions, Finding, Scanner};

fn examples() -> Vec<(String, Examples)> {
    catalogue::examples(SOURCE).expect("core/rules/credentials.toml parses")
}

fn findings(scanner: &Scanner, text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    scanner.scan(text, &mut out);
    out
}

#[test]
fn examples_follow_the_rules() {
    let examples = examples();
    assert_eq!(examples.len(), RULES.len(), "one entry per rule");
    for (rule, (id, _)) in RULES.iter().zip(&examples) {
        assert_eq!(rule.id, id, "examples and rules in the same order");
    }
}

#[test]
fn every_rule_has_a_positive_and_a_negative() {
    let missing: Vec<String> = examples()
        .iter()
        .enumerate()
        .filter(|(_, (_, e))| e.positives.is_empty() || e.negatives.is_empty())
        .map(|(i, (id, e))| {
            format!(
                "rule {i} ({id}): {} positives, {} negatives",
                e.positives.len(),
                e.negatives.len()
            )
        })
        .collect();
    assert!(
        missing.is_empty(),
        "rules without examples:\n{}",
        missing.join("\n")
    );
}

#[test]
fn positives_are_reported_under_their_rule_id() {
    let scanner = Scanner::new(&DetectorOptions::default()).expect("scanner builds");
    let mut failures = Vec::new();
    for (i, (rule, (id, examples))) in RULES.iter().zip(examples()).enumerate() {
        for text in &examples.positives {
            let found = findings(&scanner, text);
            let hit = found.iter().find(|f| f.rule == id);
            match hit {
                None => failures.push(format!(
                    "rule {i} ({id}): positive {text:?} reported {:?}",
                    found.iter().map(|f| f.rule).collect::<Vec<_>>()
                )),
                // A checksum positive must pass its checksum, not just the pattern.
                Some(f) if rule.check != Check::None && !f.validated => failures.push(format!(
                    "rule {i} ({id}): positive {text:?} found but not validated by {:?}",
                    rule.check
                )),
                Some(_) => {}
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} positives missed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn negatives_are_not_reported_under_their_rule_id() {
    let scanner = Scanner::new(&DetectorOptions::default()).expect("scanner builds");
    let mut failures = Vec::new();
    for (i, (id, examples)) in examples().into_iter().enumerate() {
        for text in &examples.negatives {
            let found = findings(&scanner, text);
            if let Some(f) = found.iter().find(|f| f.rule == id) {
                failures.push(format!(
                    "rule {i} ({id}): negative {text:?} reported at {}..{}: {:?}",
                    f.start,
                    f.end,
                    text.get(f.start..f.end)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} negatives flagged:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn examples_count() {
    let examples = examples();
    let positives: usize = examples.iter().map(|(_, e)| e.positives.len()).sum();
    let negatives: usize = examples.iter().map(|(_, e)| e.negatives.len()).sum();
    println!(
        "{} rules, {positives} positives, {negatives} negatives",
        examples.len()
    );
}

/// `docs/detectors.md` lists every rule: a new entry without its line there fails here.
#[test]
fn the_detectors_doc_lists_every_rule() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/detectors.md"))
        .expect("docs/detectors.md");
    let missing: Vec<&str> = RULES
        .iter()
        .map(|r| r.id)
        .filter(|id| !doc.contains(&format!("| `{id}` |")))
        .collect();
    assert!(missing.is_empty(), "not in docs/detectors.md: {missing:?}");
}
