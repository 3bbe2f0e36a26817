//! Recall and false-positive rate over the labelled corpus, for plain rows and for encoded
//! variants (base64, hex, percent-encoding of each labelled value, put back in its row).

use std::path::PathBuf;

use base64::Engine as _;
use sluice_core::{DetectorOptions, Finding, Scanner};

struct Row {
    id: String,
    text: String,
    /// Byte spans and types of the labelled values.
    spans: Vec<(usize, usize, String)>,
    positive: bool,
}

fn corpus_dir() -> Option<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // In the repository first; then the shared checkout next to it (one level further up
    // from a worktree).
    [
        manifest.join("../tests/corpus"),
        manifest.join("../../shared/corpus"),
        manifest.join("../../../shared/corpus"),
    ]
    .into_iter()
    .chain(std::env::var_os("SLUICE_CORPUS").map(PathBuf::from))
    .find(|d| d.join("secrets-pii.jsonl").is_file())
}

/// Python character offsets to byte offsets.
fn byte_offset(text: &str, chars: usize) -> usize {
    text.char_indices()
        .nth(chars)
        .map_or(text.len(), |(b, _)| b)
}

fn load() -> Vec<Row> {
    let dir = corpus_dir().expect("corpus not found: set SLUICE_CORPUS");
    let raw = std::fs::read_to_string(dir.join("secrets-pii.jsonl")).expect("read corpus");
    raw.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("corpus line is JSON");
            let text = v["text"].as_str().expect("text").to_string();
            let spans = v["findings"]
                .as_array()
                .expect("findings")
                .iter()
                .map(|f| {
                    let s = byte_offset(&text, f["start"].as_u64().expect("start") as usize);
                    let e = byte_offset(&text, f["end"].as_u64().expect("end") as usize);
                    (s, e, f["type"].as_str().expect("type").to_string())
                })
                .collect();
            Row {
                id: v["id"].as_str().unwrap_or("?").to_string(),
                positive: v["label"] == "positive",
                text,
                spans,
            }
        })
        .collect()
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn hex_encode(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The row with every labelled value replaced by `encode(value)`, and the new spans.
fn encoded(row: &Row, encode: &dyn Fn(&str) -> String) -> (String, Vec<(usize, usize, String)>) {
    let mut text = String::new();
    let mut spans = Vec::new();
    let mut last = 0;
    for (s, e, t) in &row.spans {
        text.push_str(&row.text[last..*s]);
        let enc = encode(&row.text[*s..*e]);
        spans.push((text.len(), text.len() + enc.len(), t.clone()));
        text.push_str(&enc);
        last = *e;
    }
    text.push_str(&row.text[last..]);
    (text, spans)
}

fn recalled(scanner: &Scanner, text: &str, spans: &[(usize, usize, String)]) -> bool {
    let mut found: Vec<Finding> = Vec::new();
    scanner.scan(text, &mut found);
    spans
        .iter()
        .all(|(s, e, _)| found.iter().any(|f| f.start < *e && *s < f.end))
}

#[test]
fn corpus_recall_and_false_positives() {
    let rows = load();
    let scanner = Scanner::new(&DetectorOptions::default()).expect("scanner builds");
    let positives: Vec<&Row> = rows.iter().filter(|r| r.positive).collect();
    let negatives: Vec<&Row> = rows.iter().filter(|r| !r.positive).collect();
    assert!(
        positives.len() >= 100 && negatives.len() >= 50,
        "corpus looks truncated"
    );

    type Encoder = Box<dyn Fn(&str) -> String>;
    let variants: Vec<(&str, Encoder)> = vec![
        ("plain", Box::new(|s: &str| s.to_string())),
        (
            "base64",
            Box::new(|s: &str| base64::engine::general_purpose::STANDARD.encode(s)),
        ),
        (
            "base64url",
            Box::new(|s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)),
        ),
        ("hex", Box::new(|s: &str| hex_encode(s))),
        ("percent", Box::new(|s: &str| percent_encode(s))),
    ];
    for (name, encode) in &variants {
        let mut missed = Vec::new();
        for row in &positives {
            let (text, spans) = encoded(row, encode.as_ref());
            if !recalled(&scanner, &text, &spans) {
                missed.push(row.id.as_str());
            }
        }
        let recall = 1.0 - missed.len() as f64 / positives.len() as f64;
        println!(
            "recall[{name}] = {recall:.4} ({} of {} missed: {missed:?})",
            missed.len(),
            positives.len()
        );
        assert!(
            recall >= 0.95,
            "{name} recall {recall:.3} below 0.95; missed {missed:?}"
        );
    }

    let mut flagged = Vec::new();
    for row in &negatives {
        let mut found = Vec::new();
        scanner.scan(&row.text, &mut found);
        if !found.is_empty() {
            flagged.push((
                row.id.as_str(),
                found.iter().map(|f| f.rule).collect::<Vec<_>>(),
            ));
        }
    }
    let rate = flagged.len() as f64 / negatives.len() as f64;
    println!(
        "negatives flagged = {rate:.4} ({} of {}: {flagged:?})",
        flagged.len(),
        negatives.len()
    );
    assert!(
        rate <= 0.02,
        "false-positive rate {rate:.3} above 0.02: {flagged:?}"
    );
}

#[test]
fn corpus_findings_carry_the_corpus_type_names() {
    let rows = load();
    let scanner = Scanner::new(&DetectorOptions::default()).expect("scanner builds");
    let mut matched = 0;
    let mut total = 0;
    let mut wrong = Vec::new();
    for row in rows.iter().filter(|r| r.positive) {
        let mut found = Vec::new();
        scanner.scan(&row.text, &mut found);
        for (s, e, t) in &row.spans {
            total += 1;
            if found
                .iter()
                .any(|f| f.start < *e && *s < f.end && f.rule == t)
            {
                matched += 1;
            } else {
                wrong.push((
                    row.id.clone(),
                    found.iter().map(|f| f.rule).collect::<Vec<_>>(),
                ));
            }
        }
    }
    let share = matched as f64 / total as f64;
    println!("type agreement = {share:.4}; mismatches: {wrong:?}");
    assert!(
        share >= 0.95,
        "only {share:.3} of labelled spans found under their own type: {wrong:?}"
    );
}

/// `sluice scan` reads long inputs in stretches; over the whole corpus joined into one text,
/// stretches far smaller than any real window (so dozens of edges fall inside rows, some
/// inside values) must report exactly what one scan of the text reports, zero-width
/// characters included, as long as the margin exceeds the longest finding (a PEM key here).
#[test]
fn windowed_scan_equals_one_scan_of_the_joined_corpus() {
    let rows = load();
    let mut text = String::new();
    for (i, row) in rows.iter().enumerate() {
        text.push_str(&row.text);
        text.push_str(if i % 7 == 3 { "\u{200b}\n" } else { "\n" });
    }
    let scanner = Scanner::new(&DetectorOptions::default()).expect("scanner");
    let mut whole = Vec::new();
    scanner.scan(&text, &mut whole);
    assert!(whole.len() > 100, "the joined corpus has findings");
    for (size, margin) in [(1500, 2000), (700, 2500), (usize::MAX, 0)] {
        let mut windowed = Vec::new();
        scanner.scan_windowed(&text, size, margin, &mut windowed);
        let key = |f: &Finding| (f.start, f.end, f.rule);
        assert_eq!(
            windowed.iter().map(key).collect::<Vec<_>>(),
            whole.iter().map(key).collect::<Vec<_>>(),
            "stretches of {size} bytes, margin {margin}"
        );
    }
    let windows = sluice_core::detect::windows(&text, 700, 2500);
    assert!(windows.len() > 40);
    assert_eq!(windows.first().map(|w| w.own.start), Some(0));
    assert_eq!(windows.last().map(|w| w.own.end), Some(text.len()));
    for pair in windows.windows(2) {
        assert_eq!(
            pair[0].own.end, pair[1].own.start,
            "stretches tile the text"
        );
    }
}
