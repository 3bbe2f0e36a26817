//! Scans files with the built-in detectors (credentials and PII, no injection scoring) and
//! reports findings per rule and the scanner's own throughput, so detection on real code can
//! be measured without process start or I/O in the figure:
//!
//! `cargo run --release -p sluice-core --example scan_tree -- [--show] FILE...`
//!
//! `--show` prints each credential finding's line with the value masked, to review what fired.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sluice_core::{Category, DetectorOptions, Scanner};

fn main() {
    let mut show = false;
    let mut files = Vec::new();
    for arg in std::env::args().skip(1) {
        if arg == "--show" {
            show = true;
        } else {
            files.push(arg);
        }
    }
    let scanner = match Scanner::new(&DetectorOptions::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("scanner: {e}");
            std::process::exit(2);
        }
    };
    let mut per_rule: BTreeMap<&str, usize> = BTreeMap::new();
    let mut bytes = 0usize;
    let mut spent = Duration::ZERO;
    let mut out = Vec::new();
    for path in &files {
        let raw = match std::fs::read(path) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(2);
            }
        };
        let text = String::from_utf8_lossy(&raw);
        bytes += text.len();
        out.clear();
        let t = Instant::now();
        scanner.scan(&text, &mut out);
        spent += t.elapsed();
        for f in &out {
            *per_rule.entry(f.rule).or_default() += 1;
            if show && f.category == Category::Credential {
                let ls = text[..f.start].rfind('\n').map_or(0, |p| p + 1);
                let le = text[f.end..].find('\n').map_or(text.len(), |p| f.end + p);
                let line = format!("{}[{}]{}", &text[ls..f.start], f.rule, &text[f.end..le]);
                println!("{path}: {}", line.trim());
            }
        }
    }
    let total: usize = per_rule.values().sum();
    let mb = bytes as f64 / 1e6;
    println!(
        "{} files, {:.2} MB, {total} findings ({:.2} / MB), scanner {:.1} MB/s",
        files.len(),
        mb,
        total as f64 / mb,
        mb / spent.as_secs_f64()
    );
    for (rule, n) in &per_rule {
        println!("  {rule:<28} {n:>6}  {:.3} / MB", *n as f64 / mb);
    }
}
