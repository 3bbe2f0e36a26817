//! What the data classes cost the scanner: MiB/s of `Scanner::scan` with `source_code` and
//! `bulk_pii` off, and of `scan` + `classify` with both on, over a code text and over prose.
//!
//! `cargo run --release -p sluice-core --example classify_cost -- CODE_FILE PROSE_JSONL`
//! (PROSE_JSONL: the benign rows' `text` of a JSONL file, each scanned as one text).

use std::time::{Duration, Instant};

use sluice_core::detect::{DetectorOptions, Scanner};

fn rate(texts: &[String], run: &dyn Fn(&str)) -> f64 {
    let bytes: usize = texts.iter().map(String::len).sum();
    let mut rounds = 0u32;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) || rounds < 3 {
        for t in texts {
            run(t);
        }
        rounds += 1;
    }
    (bytes as f64 * f64::from(rounds)) / start.elapsed().as_secs_f64() / (1024.0 * 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let code = std::fs::read_to_string(args.get(1).expect("CODE_FILE")).expect("code file");
    let prose: Vec<String> = std::fs::read_to_string(args.get(2).expect("PROSE_JSONL"))
        .expect("prose file")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["label"] == "benign")
        .filter_map(|v| v["text"].as_str().map(str::to_owned))
        .collect();
    let off = Scanner::new(&DetectorOptions::default()).expect("scanner");
    let on = Scanner::new(&DetectorOptions {
        source_code: true,
        bulk_pii: true,
        ..DetectorOptions::default()
    })
    .expect("scanner");
    let scan_off = |t: &str| {
        let mut out = Vec::new();
        off.scan(t, &mut out);
        std::hint::black_box(out);
    };
    let scan_on = |t: &str| {
        let mut out = Vec::new();
        on.scan(t, &mut out);
        on.classify(t, &mut out);
        std::hint::black_box(out);
    };
    let classify_only = |t: &str| {
        std::hint::black_box(sluice_core::detect::classify::source_code_blocks(t));
    };
    for (name, texts) in [("code", vec![code]), ("prose", prose)] {
        let bytes: usize = texts.iter().map(String::len).sum();
        let a = rate(&texts, &scan_off);
        let b = rate(&texts, &scan_on);
        let c = rate(&texts, &classify_only);
        println!(
            "{name}: {} texts, {bytes} bytes; off {a:.1} MiB/s, on {b:.1} MiB/s ({:.1} % slower); source_code alone {c:.1} MiB/s",
            texts.len(),
            (a / b - 1.0) * 100.0
        );
    }
}
