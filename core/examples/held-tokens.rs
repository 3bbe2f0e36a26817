//! Streams files through the response-side holdback decision token by token, as a model would
//! write them, and reports how many tokens would wait for the next one (and on what text).
//!
//! `cargo run --release -p sluice-core --example held-tokens -- FILE...`

use sluice_core::{DetectorOptions, Scanner};

/// Cuts text the way sub-word tokenizers do: a leading space joins the next word, long words
/// and identifiers split into 2–5 byte pieces (at case changes and `_` first), digits in groups
/// of up to three, every other byte on its own.
fn tokens(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut salt = 0usize;
    while i < b.len() {
        let start = i;
        if b[i] == b' ' && b.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic()) {
            i += 1;
        }
        if b[i].is_ascii_alphabetic() {
            let mut j = i;
            while j < b.len() && b[j].is_ascii_alphabetic() {
                j += 1;
            }
            // pieces inside the word
            let mut k = i;
            while k < j {
                salt = salt.wrapping_mul(31).wrapping_add(b[k] as usize);
                let mut e = k + 1;
                while e < j && !(b[e].is_ascii_uppercase() && b[e - 1].is_ascii_lowercase()) {
                    e += 1;
                }
                let piece_max = if e - k <= 6 { e - k } else { 3 + salt % 3 };
                let e = (k + piece_max).min(e);
                out.push(&text[if k == i { start } else { k }..e]);
                k = e;
            }
            i = j;
        } else if b[i].is_ascii_digit() {
            let mut j = i;
            while j < b.len() && b[j].is_ascii_digit() && j - i < 3 {
                j += 1;
            }
            out.push(&text[start..j]);
            i = j;
        } else {
            let mut j = i + 1;
            while j < b.len() && !text.is_char_boundary(j) {
                j += 1;
            }
            if b[i] == b' ' {
                while j < b.len() && b[j] == b' ' {
                    j += 1;
                }
            }
            out.push(&text[start..j]);
            i = j;
        }
    }
    out
}

fn main() {
    let options = DetectorOptions {
        email: false,
        ..DetectorOptions::default()
    };
    let scanner = Scanner::new(&options).expect("scanner");
    let mut total = 0usize;
    let mut held = 0usize;
    let mut examples: std::collections::BTreeMap<String, usize> = Default::default();
    for path in std::env::args().skip(1) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let text: String = text.chars().take(20_000).collect();
        let mut end = 0;
        for t in tokens(&text) {
            end += t.len();
            total += 1;
            let from = end.saturating_sub(600);
            let mut from = from;
            while !text.is_char_boundary(from) {
                from += 1;
            }
            let window = &text[from..end];
            let v = scanner.viable_from(window);
            if v < window.len() {
                held += 1;
                let tail: String = window[v..].chars().take(40).collect();
                *examples.entry(tail).or_default() += 1;
            }
        }
    }
    println!(
        "tokens {total} held {held} ({:.2} %)",
        held as f64 * 100.0 / total.max(1) as f64
    );
    let mut ex: Vec<_> = examples.into_iter().collect();
    ex.sort_by_key(|e| std::cmp::Reverse(e.1));
    for (t, n) in ex.iter().take(40) {
        println!("{n:6}  {t:?}");
    }
}
