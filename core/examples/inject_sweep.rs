//! Recall and false-positive rate of the injection detector over a range of thresholds, on a
//! labelled JSON Lines file (`{"text", "label": "injection"|"benign", "kind"}`), for the rules
//! alone and for the rules with the model: the numbers behind the per-role thresholds in
//! `docs/injection.md`.
//!
//! `cargo run --release -p sluice-core --example inject_sweep < dev.jsonl`

use std::collections::BTreeMap;
use std::io::BufRead;

use sluice_core::InjectionDetector;

fn main() {
    let rules = InjectionDetector::new();
    let model = InjectionDetector::with_model();
    let mut rows: Vec<(bool, String, f32, f32)> = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("read stdin");
        let Ok(row) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let text = row["text"].as_str().unwrap_or_default();
        let injection = row["label"].as_str() == Some("injection");
        let kind = row["kind"].as_str().unwrap_or("?").to_string();
        rows.push((
            injection,
            kind,
            rules.analyze(text).score,
            model.analyze(text).score,
        ));
    }
    for (name, pick) in [("rules", 2usize), ("rules+model", 3)] {
        println!("== {name}");
        for t in [0.3f32, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.614, 0.65, 0.7] {
            let mut pos: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
            let (mut neg, mut fp) = (0usize, 0usize);
            for (inj, kind, r, m) in &rows {
                let s = if pick == 2 { *r } else { *m };
                if *inj {
                    let e = pos.entry(kind.as_str()).or_default();
                    e.0 += 1;
                    e.1 += usize::from(s >= t);
                } else {
                    neg += 1;
                    fp += usize::from(s >= t);
                }
            }
            let (all, hit) = pos.values().fold((0, 0), |a, v| (a.0 + v.0, a.1 + v.1));
            let kinds: Vec<String> = pos
                .iter()
                .map(|(k, (n, h))| format!("{k} {h}/{n}"))
                .collect();
            println!(
                "t={t:.3} tpr={:.3} fpr={:.4} ({fp}/{neg}) | {}",
                hit as f64 / all.max(1) as f64,
                fp as f64 / neg.max(1) as f64,
                kinds.join(", ")
            );
        }
    }
}
