//! Which tokens of the benchmark's stream kinds the built-in policy holds back in a streamed
//! answer, and why: the held texts are printed, the counts asserted against what the holdback
//! rules promise (`docs/architecture.md`, "What holdback costs").

use sluice_core::{DetectorOptions, Scanner};
use sluice_e2e::latency::kinds::StreamKind;

/// The response-side holdback scanner of the built-in policy: everything masked except
/// e-mail, which is flagged in streams.
fn hold_scanner() -> Scanner {
    Scanner::new(&DetectorOptions {
        email: false,
        ..DetectorOptions::default()
    })
    .expect("scanner builds")
}

/// Tokens after which some text is still held, with the held text.
fn held(kind: StreamKind, n: usize, seed: u64) -> (usize, Vec<String>) {
    let s = hold_scanner();
    let tokens = kind.tokens(n, seed);
    let mut text = String::new();
    let mut out = Vec::new();
    for t in &tokens {
        text.push_str(t);
        let v = s.viable_from(&text);
        if v < text.len() {
            if std::env::var_os("HOLD_DEBUG").is_some() && text[v..].len() < 3 {
                let mut from = text.len().saturating_sub(60);
                while !text.is_char_boundary(from) {
                    from += 1;
                }
                eprintln!("held {:?} after {:?}", &text[v..], &text[from..]);
            }
            out.push(text[v..].to_string());
        }
    }
    (tokens.len(), out)
}

/// What the built-in policy may still hold in a benign answer: a number (it may be the first
/// group of a card, phone or SSN), the word `a` (it may open `api_org_…`), a lone `A` (an IBAN
/// such as `AT61…`, or `AKIA…`), or a `.` right after a 14-letter word (a Terraform token id
/// before `.atlasv1.`), or a short run of letters with digits (`f64`, `u32`: it may be the
/// start of a bare AWS secret). Never a keyword, a plain identifier, a long word or other
/// punctuation.
fn allowed(held: &str) -> bool {
    let numeric = held.starts_with(|c: char| c.is_ascii_digit() || c == '(' || c == '+')
        && held
            .chars()
            .all(|c| c.is_ascii_digit() || " .()/-+".contains(c));
    let short_alnum = held.len() <= 4
        && held.chars().all(|c| c.is_ascii_alphanumeric())
        && held.chars().any(|c| c.is_ascii_digit());
    numeric || short_alnum || matches!(held, "a" | "A" | ".")
}

#[test]
fn benign_answers_hold_only_what_a_mask_can_cover() {
    for kind in StreamKind::ALL {
        for seed in [1, 7, 42] {
            let (n, held) = held(kind, 2000, seed);
            let bad: Vec<&String> = held.iter().filter(|h| !allowed(h)).collect();
            assert!(
                bad.is_empty(),
                "{kind} seed {seed}: {} of {n} tokens held on text no mask can cover: {:?}",
                bad.len(),
                &bad[..bad.len().min(20)]
            );
            if kind == StreamKind::Words {
                assert!(held.is_empty(), "whole words are never held: {held:?}");
            }
        }
    }
}

/// How much of each kind is held (printed with `--nocapture`; the figures in
/// docs/performance.md come from here and from the benchmark), bounded so that a rule that
/// starts holding ordinary text again fails here.
#[test]
fn held_share_per_kind_stays_small() {
    for (kind, max_percent) in [
        (StreamKind::Words, 0.0),
        (StreamKind::Subword, 2.0),
        (StreamKind::Code, 4.0),
        (StreamKind::Json, 16.0),
    ] {
        let (n, h) = held(kind, 2000, 7);
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for x in &h {
            *counts.entry(x.as_str()).or_default() += 1;
        }
        let mut v: Vec<_> = counts.into_iter().collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.1));
        eprintln!(
            "{kind}: {} of {n} held; {:?}",
            h.len(),
            &v[..v.len().min(12)]
        );
        let percent = h.len() as f64 * 100.0 / n as f64;
        assert!(
            percent <= max_percent,
            "{kind}: {percent:.1} % of tokens held (at most {max_percent} %)"
        );
    }
}
