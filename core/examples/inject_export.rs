//! Exports what the injection model reads, for `scripts/train-injection-model.py`: for each
//! JSON line `{"id", "text", ...}` on standard input, one JSON line on standard output with the
//! row's `id`, the normalised and decoded `views` the model scores, the rules' own score
//! `heuristic` and the names of the rules that fired.
//!
//! `cargo run -p sluice-core --example inject_export < rows.jsonl > views.jsonl`

use std::io::{BufRead, Write};

use sluice_core::InjectionDetector;

fn main() {
    let detector = InjectionDetector::new();
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for line in stdin.lock().lines() {
        let line = line.expect("read stdin");
        if line.trim().is_empty() {
            continue;
        }
        let row: serde_json::Value = serde_json::from_str(&line).expect("JSON line");
        let text = row.get("text").and_then(|t| t.as_str()).unwrap_or_default();
        let (report, views) = detector.rules_and_views(text);
        let mut names: Vec<&str> = report.signals.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        let rec = serde_json::json!({
            "id": row.get("id").cloned().unwrap_or_default(),
            "views": views,
            "heuristic": report.score,
            "signals": names,
        });
        writeln!(out, "{rec}").expect("write stdout");
    }
}
