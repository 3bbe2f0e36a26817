//! The injection detector against the labelled development corpus.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sluice_core::InjectionDetector;

fn corpus_path() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        manifest.join("../tests/corpus/injection-dev.jsonl"),
        manifest.join("../../shared/corpus/injection-dev.jsonl"),
        // A checkout one directory deeper (a worktree under the project folder).
        manifest.join("../../../shared/corpus/injection-dev.jsonl"),
    ];
    for c in &candidates {
        if c.is_file() {
            return c.clone();
        }
    }
    panic!("injection-dev.jsonl not found in any of {candidates:?}");
}

struct Row {
    id: String,
    label: String,
    variant: String,
    text: String,
}

fn rows() -> Vec<Row> {
    let raw = std::fs::read_to_string(corpus_path()).expect("read corpus");
    raw.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("corpus line is JSON");
            let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
            Row {
                id: s("id"),
                label: s("label"),
                variant: s("variant"),
                text: s("text"),
            }
        })
        .collect()
}

#[derive(Default)]
struct Tally {
    total: usize,
    flagged: usize,
}

#[test]
fn corpus_recall_and_false_positives() {
    let detector = InjectionDetector::new();
    let threshold = InjectionDetector::DEFAULT_THRESHOLD;
    let rows = rows();
    assert!(
        rows.len() >= 50,
        "corpus looks truncated: {} rows",
        rows.len()
    );

    let mut per_variant: BTreeMap<(String, String), Tally> = BTreeMap::new();
    let mut missed = Vec::new();
    let mut false_alarms = Vec::new();
    for row in &rows {
        let report = detector.analyze(&row.text);
        for s in &report.signals {
            assert!(
                s.start <= s.end && s.end <= row.text.len(),
                "{}: {s:?}",
                row.id
            );
            assert!(row.text.is_char_boundary(s.start) && row.text.is_char_boundary(s.end));
        }
        let flagged = report.is_injection(threshold);
        let t = per_variant
            .entry((row.label.clone(), row.variant.clone()))
            .or_default();
        t.total += 1;
        t.flagged += usize::from(flagged);
        let names: Vec<&str> = report.signals.iter().map(|s| s.name).collect();
        if row.label == "injection" && !flagged {
            missed.push(format!("{} score={:.2} {names:?}", row.id, report.score));
        }
        if row.label != "injection" && flagged {
            false_alarms.push(format!("{} score={:.2} {names:?}", row.id, report.score));
        }
    }

    println!("label/variant: flagged/total");
    for ((label, variant), t) in &per_variant {
        println!(
            "  {label:9} {variant:22} {:3}/{:3} ({:.0}%)",
            t.flagged,
            t.total,
            100.0 * t.flagged as f64 / t.total.max(1) as f64
        );
    }
    println!("missed injections: {missed:#?}");
    println!("flagged benign: {false_alarms:#?}");

    let sum = |pred: &dyn Fn(&str, &str) -> bool| {
        per_variant
            .iter()
            .filter(|((l, v), _)| pred(l, v))
            .fold((0, 0), |(f, n), (_, t)| (f + t.flagged, n + t.total))
    };
    let (inj_hit, inj_total) = sum(&|l, _| l == "injection");
    let recall = inj_hit as f64 / inj_total.max(1) as f64;
    println!("recall {inj_hit}/{inj_total} = {recall:.3}");
    assert!(inj_total > 0);
    assert!(
        recall >= 0.85,
        "recall {recall:.3} < 0.85; missed {missed:?}"
    );

    for ((label, variant), t) in &per_variant {
        if label == "injection" {
            assert!(t.flagged > 0, "variant {variant} has no detection at all");
        }
    }

    let (hn_hit, hn_total) = sum(&|l, v| l != "injection" && v == "hard-negative");
    assert!(hn_total > 0, "corpus has no hard negatives");
    assert_eq!(hn_hit, 0, "hard negatives flagged: {false_alarms:?}");

    let (b_hit, b_total) = sum(&|l, _| l != "injection");
    let fp_rate = b_hit as f64 / b_total.max(1) as f64;
    println!("benign flagged {b_hit}/{b_total} = {fp_rate:.3}");
    assert!(fp_rate <= 0.05, "benign false-positive rate {fp_rate:.3}");
}
