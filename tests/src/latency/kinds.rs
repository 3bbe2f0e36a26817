//! What the benchmark's streams say: the token sequences a provider would stream for a few
//! kinds of answer.
//!
//! Whole prose words (`words`) are the easy case for a streaming scanner: every event ends on
//! a word boundary. Real tokenizers cut long words into pieces (` config` `uration`), write
//! punctuation and newlines as tokens of their own, and answers are often code or JSON, where
//! identifiers are split into sub-word pieces, string literals open in one event and close
//! several events later, and quotes and braces arrive alone. Those shapes decide how often a
//! trailing fragment looks like the start of something a detector must wait for, so each
//! kind is measured on its own.
//!
//! Every generator is deterministic for a seed and returns exactly the number of tokens
//! asked for; the `code` and `json` kinds always form a complete document (functions and a
//! closing comment line; one JSON object), so a stream's text is what a model would have
//! written in full. All text is benign: no credential-looking values, no e-mail addresses,
//! no digit runs longer than three.

use std::fmt;
use std::str::FromStr;

use crate::upstream::synthetic_tokens;

/// One kind of streamed answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StreamKind {
    /// Whole prose words with a leading space, one per event (` the`, ` river`).
    Words,
    /// Prose cut as a BPE tokenizer cuts it: long words in pieces, punctuation and newlines
    /// as tokens of their own.
    Subword,
    /// Source code (Rust, Python, TypeScript) in sub-word pieces, operators, indentation.
    Code,
    /// A JSON object written piece by piece: `{"`, key pieces, `":`, values in pieces.
    Json,
}

impl StreamKind {
    pub const ALL: [StreamKind; 4] = [
        StreamKind::Words,
        StreamKind::Subword,
        StreamKind::Code,
        StreamKind::Json,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StreamKind::Words => "words",
            StreamKind::Subword => "subword",
            StreamKind::Code => "code",
            StreamKind::Json => "json",
        }
    }

    /// Exactly `n` tokens of this kind, the same for the same `seed`.
    pub fn tokens(self, n: usize, seed: u64) -> Vec<String> {
        match self {
            StreamKind::Words => synthetic_tokens(n),
            StreamKind::Subword => subword_tokens(n, seed),
            StreamKind::Code => code_tokens(n, seed),
            StreamKind::Json => json_tokens(n, seed),
        }
    }
}

impl fmt::Display for StreamKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown stream kind {0:?} (expected words, subword, code or json)")]
pub struct UnknownKind(String);

impl FromStr for StreamKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StreamKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// Common words a tokenizer keeps whole (all shorter than eight letters).
const SHORT_WORDS: &[&str] = &[
    "the", "river", "runs", "past", "old", "mills", "and", "quiet", "fields", "where", "play",
    "until", "evening", "falls", "a", "of", "to", "in", "is", "it", "that", "with", "as", "for",
    "on", "was", "at", "by", "from", "light", "water", "stone", "bridge", "slowly", "over", "each",
    "small", "town", "garden", "walls", "trees", "soft", "wind", "across", "valley", "people",
    "walk", "along", "path", "near", "house", "warm", "bread", "morning", "long", "shadows",
    "green", "hills", "birds", "above", "clear", "sky",
];

/// Words of eight letters or more, cut where a BPE vocabulary typically cuts them (2–4
/// pieces; the first carries the leading space when the word does).
const LONG_WORDS: &[&[&str]] = &[
    &["config", "uration"],
    &["un", "believ", "able"],
    &["understand", "ing"],
    &["perform", "ance"],
    &["after", "noon"],
    &["mount", "ains"],
    &["every", "where"],
    &["beaut", "ifully"],
    &["comfort", "able"],
    &["neigh", "bour", "hood"],
    &["temper", "ature"],
    &["reflect", "ions"],
    &["surround", "ing"],
    &["wander", "ing"],
    &["light", "house"],
    &["photograph", "ers"],
    &["indep", "end", "ently"],
    &["extra", "ordin", "ary"],
    &["inter", "connect", "ed"],
    &["character", "ist", "ically"],
    &["gradu", "ally"],
    &["measure", "ments"],
    &["experi", "ence"],
    &["country", "side"],
];

/// Prose in BPE-like pieces: sentences of short words and split long words, commas and full
/// stops as their own tokens, a paragraph break (`\n\n`) every few sentences.
fn subword_tokens(n: usize, seed: u64) -> Vec<String> {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5b5b);
    let mut out = Vec::with_capacity(n);
    let mut sentence_left = 0usize;
    let mut sentences_in_paragraph = 0usize;
    let mut line_start = true;
    let mut sentence_start = true;
    while out.len() < n {
        if sentence_left == 0 && !sentence_start {
            out.push(".".to_owned());
            sentences_in_paragraph += 1;
            sentence_start = true;
            if sentences_in_paragraph >= 3 + rng.usize(0..3) && out.len() < n {
                out.push("\n\n".to_owned());
                sentences_in_paragraph = 0;
                line_start = true;
            }
            continue;
        }
        if sentence_start {
            sentence_left = 6 + rng.usize(0..9);
        }
        let space = if line_start { "" } else { " " };
        let long = rng.usize(0..4) == 0;
        let mut pieces: Vec<String> = if long {
            let word = LONG_WORDS[rng.usize(0..LONG_WORDS.len())];
            word.iter().map(|p| (*p).to_owned()).collect()
        } else {
            vec![SHORT_WORDS[rng.usize(0..SHORT_WORDS.len())].to_owned()]
        };
        if sentence_start && let Some(first) = pieces.first_mut() {
            *first = capitalise(first);
        }
        if let Some(first) = pieces.first_mut() {
            first.insert_str(0, space);
        }
        for piece in pieces {
            if out.len() < n {
                out.push(piece);
            }
        }
        sentence_left -= 1;
        sentence_start = false;
        line_start = false;
        if sentence_left > 2 && rng.usize(0..7) == 0 && out.len() < n {
            out.push(",".to_owned());
        }
    }
    out.truncate(n);
    out
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Functions as a model writes them, one source per language. Benign: no credential-shaped
/// names or values, numbers of at most three digits.
const RUST_SAMPLES: &[&str] = &[
    "fn get_user_account(store: &Store, user_id: u32) -> Option<Account> {\n    let account = store.accounts.get(&user_id)?;\n    if account.is_active {\n        Some(account.clone())\n    } else {\n        None\n    }\n}\n\n",
    "pub fn parse_config_line(line: &str) -> Result<(String, String), ParseError> {\n    let (name, value) = line.split_once('=').ok_or(ParseError::MissingEquals)?;\n    Ok((name.trim().to_owned(), value.trim().to_owned()))\n}\n\n",
    "fn average_temperature(readings: &[f64]) -> f64 {\n    if readings.is_empty() {\n        return 0.0;\n    }\n    readings.iter().sum::<f64>() / readings.len() as f64\n}\n\n",
    "impl RiverGauge {\n    pub fn new(name: &str, capacity: usize) -> Self {\n        RiverGauge { name: name.to_string(), levels: Vec::with_capacity(capacity) }\n    }\n}\n\n",
];

const PYTHON_SAMPLES: &[&str] = &[
    "def get_user_account(store, user_id):\n    account = store.accounts.get(user_id)\n    if account is None or not account.is_active:\n        return None\n    return account\n\n\n",
    "def parse_config_line(line: str) -> tuple[str, str]:\n    name, _, value = line.partition(\"=\")\n    return name.strip(), value.strip()\n\n\n",
    "class RiverGauge:\n    def __init__(self, name, capacity=100):\n        self.name = name\n        self.levels = []\n        self.capacity = capacity\n\n    def record_level(self, level):\n        self.levels.append(level)\n        return len(self.levels)\n\n\n",
    "def average_temperature(readings):\n    if not readings:\n        return 0.0\n    return sum(readings) / len(readings)\n\n\n",
];

const TYPESCRIPT_SAMPLES: &[&str] = &[
    "export function getUserAccount(store: Store, userId: number): Account | undefined {\n  const account = store.accounts.get(userId);\n  return account?.isActive ? account : undefined;\n}\n\n",
    "function parseConfigLine(line: string): [string, string] {\n  const [name, value = \"\"] = line.split(\"=\", 2);\n  return [name.trim(), value.trim()];\n}\n\n",
    "export class RiverGauge {\n  private levels: number[] = [];\n  constructor(readonly name: string, readonly capacity = 100) {}\n\n  recordLevel(level: number): number {\n    this.levels.push(level);\n    return this.levels.length;\n  }\n}\n\n",
    "const averageTemperature = (readings: number[]): number =>\n  readings.length === 0 ? 0 : readings.reduce((a, b) => a + b, 0) / readings.length;\n\n",
];

/// The language a code stream is written in, and how it comments a line.
fn code_language(seed: u64) -> (&'static [&'static str], &'static str) {
    match seed % 3 {
        0 => (RUST_SAMPLES, "//"),
        1 => (PYTHON_SAMPLES, "#"),
        _ => (TYPESCRIPT_SAMPLES, "//"),
    }
}

/// Source code in tokenizer pieces: whole functions of one language (chosen by the seed) as
/// long as they fit, then a comment line whose length makes the count exact. The text is
/// always a sequence of complete functions and lines.
fn code_tokens(n: usize, seed: u64) -> Vec<String> {
    let (samples, comment) = code_language(seed);
    let tokenised: Vec<Vec<String>> = samples.iter().map(|s| tokenise_code(s)).collect();
    let mut out = Vec::with_capacity(n);
    let mut next = usize::try_from(seed / 3).unwrap_or(0) % samples.len();
    loop {
        let left = n - out.len();
        // The next function in turn, or any shorter one that still fits.
        let fits = (0..tokenised.len())
            .map(|k| (next + k) % tokenised.len())
            .find(|&i| tokenised.get(i).is_some_and(|t| t.len() <= left));
        match fits {
            Some(i) if left > 0 => {
                out.extend(tokenised.get(i).into_iter().flatten().cloned());
                next = (i + 1) % tokenised.len();
            }
            _ => break,
        }
    }
    let mut left = n - out.len();
    if left == 1 {
        out.push("\n".to_owned());
    } else if left >= 2 {
        out.push(comment.to_owned());
        left -= 2;
        let words = [" end", " of", " the", " example", " code"];
        for i in 0..left {
            out.push(words[i % words.len()].to_owned());
        }
        out.push("\n".to_owned());
    }
    out
}

/// Cuts source text into the pieces a code tokenizer produces: identifiers at case changes
/// and underscores (`get` `User` `Account`, `snake` `_case`) with one leading space attached,
/// indentation runs and newlines as tokens, one- and two-character operators, string
/// literals as quote, word pieces, quote. Lossless: the pieces concatenate to the input.
pub fn tokenise_code(source: &str) -> Vec<String> {
    let chars: Vec<char> = source.chars().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    let mut pending_space = false;
    let push = |out: &mut Vec<String>, mut piece: String, pending_space: &mut bool| {
        if *pending_space {
            piece.insert(0, ' ');
            *pending_space = false;
        }
        out.push(piece);
    };
    while let Some(&c) = chars.get(i) {
        if c == '\n' {
            if pending_space {
                out.push(" ".to_owned());
                pending_space = false;
            }
            out.push("\n".to_owned());
            i += 1;
            // Indentation after a newline is one token.
            let start = i;
            while chars.get(i) == Some(&' ') {
                i += 1;
            }
            if i > start {
                out.push(" ".repeat(i - start));
            }
        } else if c == ' ' {
            if pending_space {
                out.push(" ".to_owned());
            }
            pending_space = true;
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
            {
                i += 1;
            }
            let word: String = chars.get(start..i).unwrap_or_default().iter().collect();
            for piece in split_identifier(&word) {
                push(&mut out, piece, &mut pending_space);
            }
        } else if c.is_ascii_digit() {
            let start = i;
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_digit() || *c == '.')
            {
                i += 1;
            }
            let number: String = chars.get(start..i).unwrap_or_default().iter().collect();
            push(&mut out, number, &mut pending_space);
        } else if c == '"' {
            push(&mut out, "\"".to_owned(), &mut pending_space);
            i += 1;
            let start = i;
            while chars.get(i).is_some_and(|c| *c != '"') {
                i += 1;
            }
            let literal: String = chars.get(start..i).unwrap_or_default().iter().collect();
            out.extend(word_pieces(&literal));
            if chars.get(i) == Some(&'"') {
                out.push("\"".to_owned());
                i += 1;
            }
        } else {
            let two: String = chars.get(i..i + 2).unwrap_or_default().iter().collect();
            let piece = if [
                "->", "=>", "::", "==", "&&", "||", "?.", "!=", "<=", ">=", "()",
            ]
            .contains(&two.as_str())
            {
                if two == "==" && chars.get(i + 2) == Some(&'=') {
                    "===".to_owned()
                } else {
                    two
                }
            } else {
                c.to_string()
            };
            i += piece.chars().count();
            push(&mut out, piece, &mut pending_space);
        }
    }
    if pending_space {
        out.push(" ".to_owned());
    }
    out
}

/// `getUserAccount` → `get` `User` `Account`; `snake_case` → `snake` `_case`; words of
/// eight letters or more are cut once more in the middle, as BPE does with rare words.
fn split_identifier(word: &str) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in word.chars() {
        let boundary = (c.is_ascii_uppercase() && prev_lower) || (c == '_' && !current.is_empty());
        if boundary {
            parts.push(std::mem::take(&mut current));
        }
        current.push(c);
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
        .into_iter()
        .flat_map(|p| {
            if p.len() >= 9 && p.is_ascii() {
                let mid = p.len() / 2;
                vec![p[..mid].to_owned(), p[mid..].to_owned()]
            } else {
                vec![p]
            }
        })
        .collect()
}

/// Text in word pieces, each but the first with its leading space.
fn word_pieces(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if c == ' ' && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Values a JSON record draws from.
const PLACES: &[&str] = &[
    "north bridge",
    "old mill",
    "river bend",
    "stone weir",
    "upper valley",
    "lower meadow",
];

/// One record of the JSON kind, pretty-printed at depth two, in pieces.
fn json_record(rng: &mut fastrand::Rng) -> Vec<String> {
    let place = PLACES[rng.usize(0..PLACES.len())];
    let level = rng.u32(10..999);
    let tenth = rng.u32(0..10);
    // Gate state: open, closed, or not reported.
    let gate = [" true", " false", " null"][rng.usize(0..3)];
    let readings: Vec<u32> = (0..2 + rng.usize(0..3)).map(|_| rng.u32(1..100)).collect();
    let mut t: Vec<String> = ["\n    {", "\n      \"", "station", "\":", " \""]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    t.extend(word_pieces(place));
    t.extend(
        [
            "\",",
            "\n      \"",
            "water",
            "_level",
            "\":",
            &format!(" {level}"),
            &format!(".{tenth}"),
            ",",
            "\n      \"",
            "gate",
            "_open",
            "\":",
            gate,
            ",",
            "\n      \"",
            "read",
            "ings",
            "\":",
            " [",
        ]
        .iter()
        .map(|s| (*s).to_owned()),
    );
    for (i, r) in readings.iter().enumerate() {
        t.push(if i == 0 {
            r.to_string()
        } else {
            format!(" {r}")
        });
        t.push(if i + 1 == readings.len() { "]" } else { "," }.to_owned());
    }
    t.push("\n    }".to_owned());
    t
}

/// A JSON object written piece by piece: a header, records in an array while they fit, and
/// a summary string whose length makes the count exact. Always one complete JSON document;
/// below 23 tokens a JSON array holding one string in pieces.
fn json_tokens(n: usize, seed: u64) -> Vec<String> {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x1505_u64);
    const WORDS: [&str; 8] = [
        " all",
        " stations",
        " report",
        " normal",
        " levels",
        " for",
        " the",
        " season",
    ];
    let fill = |k: usize| -> Vec<String> {
        (0..k)
            .map(|i| match i {
                0 => "all".to_owned(),
                _ => WORDS[i % WORDS.len()].to_owned(),
            })
            .collect()
    };
    match n {
        0 => return Vec::new(),
        1 => return vec!["0".to_owned()],
        2 => return vec!["[".to_owned(), "]".to_owned()],
        _ => {}
    }
    let head: Vec<String> = [
        "{", "\n  \"", "survey", "\":", " \"", "river", " gauges", "\",", "\n  \"", "stations",
        "\":", " [",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    // `]`, `,`, key, `":`, ` "`, summary ≥ 1, `",`, key, `":`, value, `}`
    let tail_fixed = 10;
    if n < head.len() + tail_fixed + 1 {
        let mut out = vec!["[\"".to_owned()];
        out.extend(fill(n - 2));
        out.push("\"]".to_owned());
        return out;
    }
    let mut out = head;
    let mut index = 0usize;
    loop {
        let mut record = json_record(&mut rng);
        if index > 0 {
            record.insert(0, ",".to_owned());
        }
        if out.len() + record.len() + tail_fixed < n {
            out.extend(record);
            index += 1;
        } else {
            break;
        }
    }
    let summary = n - out.len() - tail_fixed;
    out.extend(
        ["\n  ]", ",", "\n  \"summary", "\":", " \""]
            .iter()
            .map(|s| (*s).to_owned()),
    );
    out.extend(fill(summary));
    out.extend(
        ["\",", "\n  \"complete", "\":", " true", "\n}"]
            .iter()
            .map(|s| (*s).to_owned()),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZES: [usize; 9] = [1, 2, 3, 4, 17, 30, 100, 257, 1000];

    #[test]
    fn every_kind_gives_exactly_n_nonempty_tokens_deterministically() {
        for kind in StreamKind::ALL {
            for n in SIZES {
                for seed in [0, 1, 2, 7] {
                    let t = kind.tokens(n, seed);
                    assert_eq!(t.len(), n, "{kind} n={n} seed={seed}");
                    assert!(t.iter().all(|x| !x.is_empty()), "{kind} n={n}: {t:?}");
                    assert_eq!(t, kind.tokens(n, seed), "{kind} n={n} seed={seed}");
                }
            }
        }
    }

    #[test]
    fn kinds_parse_by_name() {
        for kind in StreamKind::ALL {
            assert_eq!(kind.name().parse::<StreamKind>(), Ok(kind));
        }
        assert!("prose".parse::<StreamKind>().is_err());
    }

    #[test]
    fn json_kind_is_one_complete_json_document() {
        for n in SIZES {
            for seed in 0..5 {
                let text = StreamKind::Json.tokens(n, seed).concat();
                let parsed = serde_json::from_str::<serde_json::Value>(&text);
                assert!(parsed.is_ok(), "n={n} seed={seed}: {text}");
            }
        }
        let text = StreamKind::Json.tokens(200, 3).concat();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let stations = v.pointer("/stations").and_then(|s| s.as_array());
        assert!(stations.is_some_and(|s| s.len() >= 3), "{text}");
    }

    #[test]
    fn json_kind_survives_sse_escaping() {
        // Quotes and newlines in the content must be JSON-escaped in the SSE event.
        let tokens = StreamKind::Json.tokens(60, 1);
        let body = crate::api::render_stream(crate::api::ApiShape::OpenAiChat, tokens.as_slice());
        let mut reader = crate::latency::record::ChatSseReader::new();
        reader.feed(&body, std::time::Instant::now());
        assert_eq!(reader.text(), tokens.concat());
        assert_eq!(reader.events().len(), tokens.len() + 3);
    }

    fn balanced(text: &str) -> bool {
        let mut stack = Vec::new();
        let mut in_string = false;
        for c in text.chars() {
            if in_string {
                in_string = c != '"';
                continue;
            }
            match c {
                '"' => in_string = true,
                '(' | '[' | '{' => stack.push(c),
                ')' | ']' | '}' => {
                    let open = match c {
                        ')' => '(',
                        ']' => '[',
                        _ => '{',
                    };
                    if stack.pop() != Some(open) {
                        return false;
                    }
                }
                _ => {}
            }
        }
        stack.is_empty() && !in_string
    }

    #[test]
    fn code_kind_is_complete_functions_and_lines() {
        for n in SIZES {
            for seed in 0..6 {
                let tokens = StreamKind::Code.tokens(n, seed);
                let text = tokens.concat();
                assert!(balanced(&text), "n={n} seed={seed}: {text}");
                assert!(text.ends_with('\n'), "n={n} seed={seed}: {text:?}");
                // Every function in the stream is one of the samples, whole.
                let (samples, comment) = code_language(seed);
                let mut rest = text.as_str();
                while let Some(s) = samples.iter().find(|s| rest.starts_with(**s)) {
                    rest = &rest[s.len()..];
                }
                assert!(
                    rest.is_empty() || rest == "\n" || rest.starts_with(comment),
                    "n={n} seed={seed}: {rest:?}"
                );
                assert!(!rest.trim_end().contains('\n'), "{rest:?}");
            }
        }
    }

    #[test]
    fn code_tokenizer_is_lossless_and_splits_identifiers() {
        for sample in RUST_SAMPLES
            .iter()
            .chain(PYTHON_SAMPLES)
            .chain(TYPESCRIPT_SAMPLES)
        {
            let t = tokenise_code(sample);
            assert_eq!(t.concat(), *sample);
            assert!(t.iter().all(|x| !x.is_empty()));
        }
        let t = tokenise_code("const account = getUserAccount(store, user_id);\n    return x;\n");
        for piece in [
            " get", "User", "Account", "(", " user", "_id", ";", "\n", "    ", "return",
        ] {
            assert!(t.iter().any(|x| x == piece), "{piece:?} in {t:?}");
        }
        assert!(t.iter().any(|x| x == " ="), "{t:?}");
    }

    #[test]
    fn subword_prose_cuts_long_words_and_keeps_punctuation_apart() {
        let t = StreamKind::Subword.tokens(2000, 9);
        let text = t.concat();
        // No token holds a run of eight letters or more: long words are in pieces.
        for token in &t {
            let longest = token
                .split(|c: char| !c.is_ascii_alphabetic())
                .map(str::len)
                .max()
                .unwrap_or(0);
            let piece = token.trim().to_lowercase();
            assert!(
                longest < 8 || LONG_WORDS.iter().any(|w| w.contains(&piece.as_str())),
                "{token:?}"
            );
        }
        assert!(t.iter().any(|x| x == "."));
        assert!(t.iter().any(|x| x == ","));
        assert!(t.iter().any(|x| x == "\n\n"));
        // Pieces that continue a word carry no space.
        assert!(
            t.iter()
                .any(|x| x == "uration" || x == "able" || x == "ing")
        );
        assert!(!text.contains('@'));
    }

    #[test]
    fn text_is_benign() {
        for kind in StreamKind::ALL {
            for seed in 0..4 {
                let text = kind.tokens(1000, seed).concat();
                assert!(!text.contains('@'), "{kind}");
                let longest_digits = text
                    .split(|c: char| !c.is_ascii_digit())
                    .map(str::len)
                    .max()
                    .unwrap_or(0);
                assert!(longest_digits <= 3, "{kind} seed={seed}");
                let lower = text.to_lowercase();
                for word in ["password", "secret", "token", "api_key", "bearer", "apikey"] {
                    assert!(!lower.contains(word), "{kind}: {word}");
                }
            }
        }
    }
}
