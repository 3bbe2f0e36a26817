//! Scanner throughput on benign prose and on the labelled corpus, and the cost of one
//! `viable_from` call on a short streaming tail.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_core::detect::custom::{CustomDetector, Validator};
use sluice_core::{DetectorOptions, Scanner};

fn corpus_file(name: &str) -> Option<String> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [
        manifest.join("../tests/corpus"),
        manifest.join("../../shared/corpus"),
        manifest.join("../../../shared/corpus"),
    ]
    .into_iter()
    .chain(std::env::var_os("SLUICE_CORPUS").map(PathBuf::from))
    .map(|d| d.join(name))
    .find(|p| p.is_file())
    .and_then(|p| std::fs::read_to_string(p).ok())
}

fn texts_with_label(raw: &str, label: &str) -> Vec<String> {
    raw.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["label"] == label)
        .filter_map(|v| v["text"].as_str().map(str::to_string))
        .collect()
}

/// About 1 MB of English: the benign e-mails of the injection corpus, repeated; a fixed
/// paragraph when the corpus is not around.
fn prose() -> String {
    let mut seed = corpus_file("injection-dev.jsonl")
        .map(|raw| texts_with_label(&raw, "benign").join("\n\n"))
        .unwrap_or_default();
    if seed.len() < 1000 {
        seed = "The quarterly report is attached. Please review the figures before Friday's \
                meeting, and let me know whether the marketing budget needs another pass. \
                We moved the offsite to the second week of June; travel details will follow. "
            .repeat(8);
    }
    let mut text = String::with_capacity(1 << 20);
    while text.len() < 1 << 20 {
        text.push_str(&seed);
        text.push_str("\n\n");
    }
    text
}

/// About 1 MB of generated English sentences (deterministic): the common case of an answer
/// with no structured data in it.
fn generated_prose() -> String {
    const WORDS: &[&str] = &[
        "the",
        "model",
        "answered",
        "question",
        "about",
        "weather",
        "in",
        "a",
        "short",
        "and",
        "friendly",
        "way",
        "because",
        "users",
        "prefer",
        "clear",
        "explanations",
        "of",
        "how",
        "systems",
        "work",
        "together",
        "when",
        "they",
        "are",
        "deployed",
        "across",
        "several",
        "regions",
        "with",
        "careful",
        "monitoring",
        "is",
        "important",
        "for",
        "reliability",
        "teams",
        "should",
        "review",
        "their",
        "configuration",
        "before",
        "each",
        "release",
        "it",
        "was",
        "not",
        "obvious",
        "that",
        "performance",
        "would",
        "improve",
        "so",
        "much",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut text = String::with_capacity(1 << 20);
    while text.len() < 1 << 20 {
        let n = 6 + (next() % 14) as usize;
        for i in 0..n {
            let w = WORDS[(next() % WORDS.len() as u64) as usize];
            if i == 0 {
                let mut c = w.chars();
                if let Some(f) = c.next() {
                    text.extend(f.to_uppercase());
                    text.push_str(c.as_str());
                }
            } else {
                text.push_str(w);
            }
            text.push(if i + 1 == n {
                '.'
            } else if next() % 11 == 0 {
                ','
            } else {
                ' '
            });
            if i + 1 == n {
                text.push(' ');
            }
        }
        if next() % 9 == 0 {
            text.push_str("\n\n");
        }
    }
    text
}

fn bench(c: &mut Criterion) {
    let scanner = Scanner::new(&DetectorOptions::default()).expect("scanner builds");

    let prose = prose();
    let mut group = c.benchmark_group("scan");
    group.throughput(Throughput::Bytes(prose.len() as u64));
    group.bench_function("bipia_emails_1mb", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            out.clear();
            scanner.scan(black_box(&prose), &mut out);
            black_box(out.len())
        })
    });
    let generated = generated_prose();
    group.throughput(Throughput::Bytes(generated.len() as u64));
    // Baseline for ratios: one memchr pass over the same bytes (memory-bound reading speed of
    // this machine, measured in the same run).
    group.bench_function("baseline_memchr_newlines_1mb", |b| {
        b.iter(|| black_box(memchr::memchr_iter(b'\n', black_box(generated.as_bytes())).count()))
    });
    group.bench_function("generated_prose_1mb", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            out.clear();
            scanner.scan(black_box(&generated), &mut out);
            black_box(out.len())
        })
    });
    if let Some(raw) = corpus_file("secrets-pii.jsonl") {
        let mut corpus = texts_with_label(&raw, "positive");
        corpus.extend(texts_with_label(&raw, "negative"));
        let corpus = corpus.join("\n");
        group.throughput(Throughput::Bytes(corpus.len() as u64));
        group.bench_function("secrets_corpus", |b| {
            let mut out = Vec::new();
            b.iter(|| {
                out.clear();
                scanner.scan(black_box(&corpus), &mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("viable_from");
    let tails = [
        (
            "prose_ending_in_space",
            "The model answered the question about the weather. ",
        ),
        (
            "prose_ending_in_word",
            "The model answered the question about the weath",
        ),
        ("secret_prefix", "Sure, your key is AKIAIX6EA6QO"),
        ("assignment", "export AWS_SECRET_ACCESS_KEY=biufMdI8X2Y4rU"),
    ];
    for (name, tail) in tails {
        let text = format!(
            "{}{}",
            "Some earlier context that was already released. ".repeat(4),
            tail
        );
        group.bench_function(name, |b| {
            b.iter(|| black_box(scanner.viable_from(black_box(&text))))
        });
    }
    group.finish();
}

/// Ten detectors such as an organisation adds: project codes, ticket ids, customer ids (with
/// and without keywords), internal hosts, and one whose start is a class.
fn custom_options() -> DetectorOptions {
    let spec = |id: &str, category: &str, pattern: &str, keywords: &[&str]| CustomDetector {
        id: id.into(),
        category: category.into(),
        pattern: pattern.into(),
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
        validator: Validator::None,
        min_entropy: 0.0,
        action: None,
    };
    let specs = [
        spec("project-code", "confidential", r"\bPRJ-[0-9]{5}\b", &[]),
        spec("ticket", "confidential", r"\bSEC-[0-9]{4,6}\b", &[]),
        spec(
            "customer-id",
            "pii",
            r"customer[ _-]?id[ =:]+(C[0-9]{8})\b",
            &["customer"],
        ),
        spec(
            "contract",
            "confidential",
            r"\bCTR/[0-9]{4}/[0-9]{3}\b",
            &["ctr/"],
        ),
        spec("employee-id", "pii", r"\bE[0-9]{7}\b", &[]),
        spec(
            "acme-build",
            "internal",
            r"\bacme-build-[0-9]+\b",
            &["acme-build"],
        ),
        spec(
            "vault-path",
            "confidential",
            r"\bsecret/data/[a-z0-9/_-]+",
            &["secret/data/"],
        ),
        spec(
            "codename",
            "confidential",
            r"(?i)\bproject (?:falcon|osprey|kestrel)\b",
            &["project"],
        ),
        spec(
            "deal-id",
            "confidential",
            r"\bDEAL-[A-Z]{2}-[0-9]{6}\b",
            &[],
        ),
        spec(
            "internal-host",
            "confidential",
            r"\b[a-z0-9-]+\.corp\.example\.net\b",
            &["corp.example.net"],
        ),
    ];
    DetectorOptions {
        custom: sluice_core::detect::custom::compile(&specs).expect("custom detectors compile"),
        ..DetectorOptions::default()
    }
}

/// The cost of ten custom detectors, against the built-in scanner in the same run.
fn bench_custom(c: &mut Criterion) {
    let builtin = Scanner::new(&DetectorOptions::default()).expect("scanner builds");
    let custom = Scanner::new(&custom_options()).expect("scanner with custom detectors builds");
    let generated = generated_prose();
    let mut group = c.benchmark_group("scan_custom");
    group.throughput(Throughput::Bytes(generated.len() as u64));
    for (name, scanner) in [("builtin", &builtin), ("builtin_plus_10_custom", &custom)] {
        group.bench_function(format!("generated_prose_1mb/{name}"), |b| {
            let mut out = Vec::new();
            b.iter(|| {
                out.clear();
                scanner.scan(black_box(&generated), &mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();
    let mut group = c.benchmark_group("viable_from_custom");
    let text = format!(
        "{}{}",
        "Some earlier context that was already released. ".repeat(4),
        "The model answered the question about the weath"
    );
    for (name, scanner) in [("builtin", &builtin), ("builtin_plus_10_custom", &custom)] {
        group.bench_function(format!("prose_ending_in_word/{name}"), |b| {
            b.iter(|| black_box(scanner.viable_from(black_box(&text))))
        });
    }
    group.finish();
}

criterion_group!(benches, bench, bench_custom);
criterion_main!(benches);
