//! Scanner throughput inside a wasm VM, for the "≥ 200 MB/s in wasm" budget. Built as a WASI
//! command and run under V8 (Node's WASI, the engine family Envoy embeds) or wasmtime; see
//! `docs/wasm.md`. Natively it gives the comparison figure.
//!
//! Usage: `scan_throughput [FILE.jsonl]` — benign texts (`label` = `benign`/`negative`) from a
//! corpus file, else generated prose.

use std::time::Instant;

use sluice_core::{Policy, Scanner};

const TARGET_BYTES: usize = 64 * 1024 * 1024;

fn benign_text(path: Option<&str>) -> String {
    let from_file = path
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|jsonl| {
            jsonl
                .lines()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .filter(|row| matches!(row["label"].as_str(), Some("benign" | "negative")))
                .filter_map(|row| row["text"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
                .join("\n")
        });
    match from_file {
        Some(text) if !text.is_empty() => text,
        _ => "The committee reviewed the quarterly figures on Tuesday and agreed to defer the \
              decision until the auditors had finished; meanwhile the team will draft a short \
              summary, list the open questions, and circulate it before the next meeting.\n"
            .repeat(256),
    }
}

fn main() {
    let path = std::env::args().nth(1);
    let text = benign_text(path.as_deref());
    let options = Policy::default()
        .detectors
        .options()
        .expect("the default detectors compile");
    let scanner = match Scanner::new(&options) {
        Ok(scanner) => scanner,
        Err(err) => {
            eprintln!("scanner does not build: {err}");
            std::process::exit(1);
        }
    };
    let rounds = (TARGET_BYTES / text.len().max(1)).max(1);
    let mut findings = Vec::new();
    // Warm-up: lets the engine tier up before timing.
    for _ in 0..rounds.div_ceil(8) {
        findings.clear();
        scanner.scan(&text, &mut findings);
    }
    let start = Instant::now();
    let mut total = 0usize;
    for _ in 0..rounds {
        findings.clear();
        scanner.scan(&text, &mut findings);
        total += text.len();
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "scanned {} MB of benign text in {seconds:.3} s: {:.0} MB/s ({} findings in the last pass)",
        total / 1_000_000,
        total as f64 / 1e6 / seconds.max(1e-9),
        findings.len()
    );
}
