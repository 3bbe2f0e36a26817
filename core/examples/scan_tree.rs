//! Scans files with the built-in detectors (credentials and PII, no injection scoring) and
//! reports findings per rule and the scanner's own throughput, so detection on real code can
//! be measured without process start or I/O in the figure:
//!
//! `cargo run --release -p sluice-core --example scan_tree -- [--show] [--all-pii] FILE...`
//!
//! `--show` prints each credential finding's line with the value masked, to review what fired.
//! `--all-pii` switches on every PII class the defaults leave off (IP addresses and the
//! opt-in identifier and address classes); with `--show` their findings are printed too.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sluice_core::{Category, DetectorOptions, Scanner};

fn main() {
    let mut show = false;
    let mut all_pii = false;
    let mut files = Vec::new();
    for arg in std::env::args().skip(1) {
        if arg == "--show" {
            show = true;
        } else if arg == "--all-pii" {
            all_pii = true;
        } else {
            files.push(arg);
        }
    }
    let options = if all_pii {
        DetectorOptions {
            ip_address: true,
            uk_nino: true,
            ca_sin: true,
            in_aadhaar: true,
            in_pan: true,
            br_cpf: true,
            br_cnpj: true,
            es_dni: true,
            es_nie: true,
            it_codice_fiscale: true,
            fr_nir: true,
            de_steuer_id: true,
            au_tfn: true,
            us_itin: true,
            us_aba_routing: true,
            us_npi: true,
            us_dea: true,
            ipv6_address: true,
            mac_address: true,
            bitcoin_address: true,
            ethereum_address: true,
            ..DetectorOptions::default()
        }
    } else {
        DetectorOptions::default()
    };
    let opt_in = |rule: &str| {
        all_pii
            && sluice_core::detect::BUILTIN_IDS.contains(&rule)
            && !["email", "phone", "credit-card", "us-ssn", "iban"].contains(&rule)
    };
    let scanner = match Scanner::new(&options) {
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
            if show && (f.category == Category::Credential || opt_in(f.rule)) {
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
