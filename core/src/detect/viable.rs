//! Where a streaming redactor must stop releasing text: the earliest offset from which some
//! enabled rule could still match once more text arrives.
//!
//! Three sources, the minimum wins:
//! 1. An anchored lazy-DFA walk over the tail from each candidate start (a position after a
//!    non-word byte, or on a punctuation byte, within the last [`WINDOW`] bytes). The DFA is
//!    the union of every enabled rule's full regex plus the PII grammars, so a dead state means
//!    no rule can match from there whatever follows.
//! 2. The trailing run of token bytes, when credentials or decoders are on and the run already
//!    looks like a token (a digit, `_ - + / = % \\`, a capital after the first letter) or is at
//!    least [`PROSE_WORD_MAX`] bytes long: a token, or an encoded run that decodes to one, may
//!    still be growing there. A short plain word (`the`, `Hello`) is released: holding every
//!    word would delay all prose by one token. The cost is that a bare secret (no literal
//!    opener, no context keyword) whose first characters arrive as a plain word in an event of
//!    their own may have those first few letters released before the rest is masked.
//! 3. An open `-----BEGIN ... PRIVATE KEY-----` block whose closing line has not arrived.
//!
//! A trailing *plain word* (ASCII letters, at most a leading capital, shorter than
//! [`PROSE_WORD_MAX`]) is walked through the full automaton only when it names a trigger: it is
//! a prefix of a token or anywhere literal or of a URL scheme (exact case: `x`, `gh`, `xox`,
//! `http`), a prefix of a context keyword (any case, at least [`MIN_KEYWORD_PREFIX`]
//! bytes: `pass`, `tok`), or holds a whole literal or keyword (`tokens`, `mypassword`,
//! `patch`). Any other plain word is walked through the PII grammars alone, so it stays viable
//! only where a grammar really starts on letters: every word when e-mail is on (a possible
//! local part), a lone capital when IBAN is on (`DE89…` begins with two). Without this, the
//! keyword rules' leading identifier class (`mypassword` may still grow from `my`) and the few
//! rules that open on a generic class (Azure AD client secrets, Terraform Cloud tokens,
//! Mailchimp keys) keep every short word alive, delaying all prose by one token. The cost is
//! the one already stated for the token run: a bare secret of such a rule whose first
//! characters arrive as a plain word in an event of their own may have those letters released
//! before the rest is masked. A plain word preceded by an open context (`password=`,
//! `Bearer `, an open PEM block) is unaffected: the earlier candidate start covers it.

use std::sync::Mutex;

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::{Anchored, Input};

use super::gate::{RUN_BYTE, is_word};
use super::{BuildError, Check, DetectorOptions, RULES, Trigger, pii, rule_pattern, syntax_config};

const PEM_HEADER: &str = r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----";

/// Longest trailing plain word released without waiting for the next text.
const PROSE_WORD_MAX: usize = 12;

/// Shortest trailing plain word that counts as the start of a token or anywhere literal. One
/// letter is enough: the word must then be that single letter (`a`, `x`), and a bare token
/// split after its first character (`x` + `oxb-…`) is held.
const MIN_OPENER_PREFIX: usize = 1;
/// URL schemes the catalogue's URL rules open with (webhooks, URI passwords): their trigger
/// literal (`hooks.slack.com`, `://`) comes after the scheme, yet a webhook finding starts at it.
const SCHEME_OPENERS: &[&str] = &[
    "https://", "http://", "ftps://", "ftp://", "sftp://", "smtps://", "smtp://", "ldaps://",
    "ldap://", "imaps://", "imap://", "jdbc:",
];

/// Shortest trailing plain word that counts as the start of a context keyword: two letters
/// (`to`, `co`, `pa`) are common words and keywords are matched in any case.
const MIN_KEYWORD_PREFIX: usize = 3;

/// How far back candidate starts are tried.
const WINDOW: usize = 512;
/// How far back the trailing token run is followed.
const MAX_TAIL_RUN: usize = 16 * 1024;

#[derive(Debug)]
pub struct Viability {
    dfa: Option<DFA>,
    cache: Mutex<Option<Cache>>,
    /// The PII grammars alone: what a plain word that names no trigger is walked through.
    word_dfa: Option<DFA>,
    word_cache: Mutex<Option<Cache>>,
    /// Token and anywhere literals of the enabled rules, matched in exact case, by first byte.
    openers: Vec<Vec<&'static [u8]>>,
    /// Context keywords of the enabled assignment rules, matched in any case, by lowercase
    /// first byte.
    keywords: Vec<Vec<&'static [u8]>>,
    /// Bytes some pattern can start with (under any look-behind).
    starts: [bool; 256],
    token_tail: bool,
    pem: bool,
}

impl Viability {
    pub fn new(options: &DetectorOptions) -> Result<Viability, BuildError> {
        let mut pii_patterns: Vec<String> = Vec::new();
        if options.email {
            pii_patterns.push(pii::EMAIL_PATTERN.to_string());
        }
        if options.phone || options.payment_card || options.us_ssn || options.ip_address {
            pii_patterns.push(pii::NUMERIC_PATTERN.to_string());
        }
        if options.iban {
            pii_patterns.push(pii::IBAN_PATTERN.to_string());
        }
        let mut patterns: Vec<String> = Vec::new();
        let mut openers: Vec<&'static str> = Vec::new();
        let mut keywords: Vec<&'static str> = Vec::new();
        if options.credentials {
            // A PEM body admits spaces and letters, so as a DFA (which ignores laziness) it
            // would stay alive over prose after the closing line: the automaton covers the
            // header only, and `open_pem` holds an unclosed block.
            patterns.extend(RULES.iter().map(|rule| match rule.check {
                Check::PemBody => PEM_HEADER.to_string(),
                _ => rule_pattern(rule),
            }));
            for rule in RULES {
                match rule.trigger {
                    Trigger::Token(l) | Trigger::Anywhere(l) => openers.extend(l),
                    Trigger::Assignment(l) => keywords.extend(l),
                }
            }
            openers.extend(SCHEME_OPENERS);
        }
        let openers = by_first_byte(&openers, |b| b);
        let keywords = by_first_byte(&keywords, |b| b.to_ascii_lowercase());
        patterns.extend(pii_patterns.iter().cloned());
        let dfa = build_dfa(&patterns)?;
        let word_dfa = build_dfa(&pii_patterns)?;
        let mut starts = [false; 256];
        if let Some(dfa) = &dfa {
            let mut cache = dfa.create_cache();
            for (b, slot) in starts.iter_mut().enumerate() {
                let byte = b as u8;
                // Try the byte after a non-word, a word and a line-break byte.
                *slot = [b' ', b'a', b'\n', b'-'].iter().any(|&prev| {
                    let hay = [prev, byte];
                    walk(dfa, &mut cache, &hay, 1).unwrap_or(true)
                }) || walk(dfa, &mut cache, &[byte], 0).unwrap_or(true);
            }
        }
        Ok(Viability {
            dfa,
            cache: Mutex::new(None),
            word_dfa,
            word_cache: Mutex::new(None),
            openers,
            keywords,
            starts,
            token_tail: options.credentials || options.decoders,
            pem: options.credentials,
        })
    }

    pub fn viable_from(&self, text: &str) -> usize {
        let bytes = text.as_bytes();
        let len = bytes.len();
        let mut best = len;
        if self.token_tail {
            let mut r = len;
            while r > 0
                && len - r < MAX_TAIL_RUN
                && bytes
                    .get(r - 1)
                    .is_some_and(|&b| RUN_BYTE[usize::from(b)] || b == b'\\')
            {
                r -= 1;
            }
            if bytes.get(r..).is_some_and(looks_like_token) {
                best = best.min(r);
            }
        }
        if self.pem
            && let Some(b) = open_pem(bytes)
        {
            best = best.min(b);
        }
        if let Some(q) = self.first_alive(text, best) {
            best = best.min(q);
        }
        while best > 0 && !text.is_char_boundary(best) {
            best -= 1;
        }
        best
    }

    /// The first candidate start before `limit` from which the DFA is not dead at the end.
    fn first_alive(&self, text: &str, limit: usize) -> Option<usize> {
        let dfa = self.dfa.as_ref()?;
        let bytes = text.as_bytes();
        let from = bytes.len().saturating_sub(WINDOW);
        let mut guard = self.cache.try_lock().ok();
        let mut local = None;
        let cache = match guard.as_deref_mut() {
            Some(slot) => slot.get_or_insert_with(|| dfa.create_cache()),
            None => local.get_or_insert_with(|| dfa.create_cache()),
        };
        for q in from..limit.min(bytes.len()) {
            let Some(&cur) = bytes.get(q) else { break };
            if !self.starts[usize::from(cur)] || !text.is_char_boundary(q) {
                continue;
            }
            let prev = q.checked_sub(1).and_then(|p| bytes.get(p)).copied();
            let candidate =
                prev.is_none_or(|p| !is_word(p)) || !is_word(cur) || after_escape(bytes, q);
            if !candidate {
                continue;
            }
            // The PII grammars are part of the full automaton, so a plain word they keep alive
            // needs no further walk (with e-mail on, that is every word, cheaply).
            let alive = match bytes.get(q..) {
                Some(word) if is_plain_word(word) => {
                    self.word_alive(bytes, q)
                        || (self.names_a_trigger(word)
                            && walk(dfa, cache, bytes, q).unwrap_or(true))
                }
                _ => walk(dfa, cache, bytes, q).unwrap_or(true),
            };
            if alive {
                return Some(q);
            }
        }
        None
    }

    /// Whether a PII grammar is still alive over `bytes[q..]`.
    fn word_alive(&self, bytes: &[u8], q: usize) -> bool {
        let Some(dfa) = self.word_dfa.as_ref() else {
            return false;
        };
        let mut guard = self.word_cache.try_lock().ok();
        let mut local = None;
        let cache = match guard.as_deref_mut() {
            Some(slot) => slot.get_or_insert_with(|| dfa.create_cache()),
            None => local.get_or_insert_with(|| dfa.create_cache()),
        };
        walk(dfa, cache, bytes, q).unwrap_or(true)
    }

    /// Whether a trailing plain word may be the start of a rule's trigger, or holds one whole.
    fn names_a_trigger(&self, word: &[u8]) -> bool {
        word.iter().enumerate().any(|(i, &b)| {
            let rest = word.get(i..).unwrap_or_default();
            bucket(&self.openers, b).iter().any(|lit| {
                rest.starts_with(lit)
                    || (i == 0 && word.len() >= MIN_OPENER_PREFIX && lit.starts_with(word))
            }) || bucket(&self.keywords, b.to_ascii_lowercase())
                .iter()
                .any(|k| {
                    rest.get(..k.len())
                        .is_some_and(|r| r.eq_ignore_ascii_case(k))
                        || (i == 0
                            && word.len() >= MIN_KEYWORD_PREFIX
                            && k.get(..word.len())
                                .is_some_and(|p| p.eq_ignore_ascii_case(word)))
                })
        })
    }
}

/// The literals of `table` that begin with `b`.
fn bucket<'t>(table: &'t [Vec<&'static [u8]>], b: u8) -> &'t [&'static [u8]] {
    table.get(usize::from(b)).map_or(&[], Vec::as_slice)
}

/// Literals grouped by `key` of their first byte, duplicates and empty literals dropped.
fn by_first_byte(literals: &[&'static str], key: impl Fn(u8) -> u8) -> Vec<Vec<&'static [u8]>> {
    let mut table: Vec<Vec<&'static [u8]>> = vec![Vec::new(); 256];
    for lit in literals {
        let bytes = lit.as_bytes();
        let Some(&first) = bytes.first() else {
            continue;
        };
        if let Some(slot) = table.get_mut(usize::from(key(first)))
            && !slot.contains(&bytes)
        {
            slot.push(bytes);
        }
    }
    table
}

fn build_dfa(patterns: &[String]) -> Result<Option<DFA>, BuildError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    DFA::builder()
        .syntax(syntax_config())
        .configure(DFA::config().cache_capacity(4 << 20))
        .thompson(regex_automata::nfa::thompson::Config::new().nfa_size_limit(Some(256 << 20)))
        .build_many(patterns)
        .map(Some)
        .map_err(|e| BuildError::Pattern {
            rule: "viability automaton".into(),
            reason: e.to_string(),
        })
}

/// A word of prose rather than a token: non-empty, ASCII letters only, at most a leading
/// capital, shorter than [`PROSE_WORD_MAX`].
fn is_plain_word(run: &[u8]) -> bool {
    !run.is_empty() && !looks_like_token(run)
}

/// Whether a trailing run could be the start of a token or an encoded run rather than a word
/// of prose.
fn looks_like_token(run: &[u8]) -> bool {
    if run.len() >= PROSE_WORD_MAX {
        return true;
    }
    run.iter()
        .enumerate()
        .any(|(i, &b)| !b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_uppercase()))
}

/// Whether the anchored DFA is still alive after reading `hay[q..]`. `None` when the lazy
/// DFA gave up (treated as alive by callers: holding back is the safe side).
fn walk(dfa: &DFA, cache: &mut Cache, hay: &[u8], q: usize) -> Option<bool> {
    let input = Input::new(hay).span(q..hay.len()).anchored(Anchored::Yes);
    let mut sid = dfa.start_state_forward(cache, &input).ok()?;
    if sid.is_dead() {
        return Some(false);
    }
    for &b in hay.get(q..)? {
        sid = dfa.next_state(cache, sid, b).ok()?;
        if sid.is_dead() {
            return Some(false);
        }
        if sid.is_quit() {
            return None;
        }
    }
    Some(true)
}

/// A decoded secret can start right after `%XX`, `\n` or `\uXXXX`.
fn after_escape(bytes: &[u8], q: usize) -> bool {
    let at = |i: Option<usize>| i.and_then(|i| bytes.get(i)).copied();
    at(q.checked_sub(3)) == Some(b'%')
        || at(q.checked_sub(2)) == Some(b'\\')
        || (at(q.checked_sub(6)) == Some(b'\\') && at(q.checked_sub(5)) == Some(b'u'))
}

/// Start of the last `-----BEGIN` whose private-key block is not closed yet.
fn open_pem(bytes: &[u8]) -> Option<usize> {
    let b = memchr::memmem::rfind(bytes, b"-----BEGIN")?;
    let rest = bytes.get(b..)?;
    let header_end = memchr::memmem::find(rest.get(10..)?, b"-----").map(|p| p + 10 + 5);
    if let Some(h) = header_end {
        let header = rest.get(..h)?;
        memchr::memmem::find(header, b"PRIVATE KEY")?;
        let after = rest.get(h..)?;
        if let Some(e) = memchr::memmem::find(after, b"-----END") {
            let closing = after.get(e + 8..)?;
            let line_closed = memchr::memmem::find(closing, b"-----").is_some_and(|c| {
                c < 48
                    && closing
                        .get(..c)
                        .is_some_and(|h| memchr::memmem::find(h, b"PRIVATE KEY").is_some())
            });
            if line_closed {
                return None;
            }
        }
    }
    Some(b)
}
