//! Where a streaming redactor must stop releasing text: the earliest offset at which a masked
//! span could still begin once more text arrives, and how far back the next scan needs context.
//!
//! Sources, the minimum wins:
//! 1. `whole`: an anchored lazy-DFA walk from each candidate start (after a non-word byte, on a
//!    punctuation byte, after an escape) in the last [`WINDOW`] bytes, over the rules whose span
//!    starts where their match starts (token rules, PEM headers, e-mail, IBAN). A trailing
//!    *plain word* (letters, at most a leading capital, shorter than [`PROSE_WORD_MAX`]) is
//!    walked through it only when it names a trigger (a prefix of a literal opener or URL
//!    scheme, exact case); otherwise only through the letter-only PII grammars (every word
//!    when e-mail is on, a lone capital when IBAN is on).
//! 2. `numeric`: the digit-group grammar, from where `pii::find_numeric` would start a number
//!    (not inside an identifier, a hash or a version).
//! 3. `prefix`/`rest`: context rules cut at their capture group. Where the context automaton
//!    matches and the span automaton is still alive, the span may start: only from there is
//!    text held; the context itself leaves and is reported as `Hold::context`.
//! 4. A trailing token run that may be an encoded secret ([`may_be_encoded`]) or a bare AWS
//!    secret ([`bare_secret_tail`]), or is longer than the automata look back.
//! 5. An open `-----BEGIN ... PRIVATE KEY-----` block whose closing line has not arrived.
//!
//! Every automaton is built with `MatchKind::All`, so "not dead" means some continuation can
//! still match; a state that only reports the match that ended before the last byte counts as
//! dead ([`continues`]). The trade-offs (what may leave before a later mask) are listed in
//! `docs/architecture.md`, "What holdback costs".

use std::sync::Mutex;

use regex_automata::hybrid::LazyStateID;
use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, MatchKind, PatternID};
use regex_syntax::hir::{Hir, HirKind};

use super::decode::b64_byte;
use super::gate::{RUN_BYTE, is_word};
use super::{
    BuildError, Check, DetectorOptions, RULES, Rule, Trigger, ids, pii, rule_pattern, syntax_config,
};

const PEM_HEADER: &str = r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----";

/// Longest trailing plain word released without waiting for the next text.
const PROSE_WORD_MAX: usize = 12;

/// Shortest trailing plain word that counts as the start of a token or anywhere literal. Two
/// letters: a one-letter word (`a`, `I`, `x`) is too common to hold, and an opener is a
/// published prefix, not part of the secret: a token split after its first character
/// (`a` + `pi_org_…`) leaves that letter and the mask covers the rest (`a[REDACTED:…]`).
const MIN_OPENER_PREFIX: usize = 2;
/// URL schemes the catalogue's URL rules open with (webhooks, URI passwords): their trigger
/// literal (`hooks.slack.com`, `://`) comes after the scheme, yet a webhook finding starts at it.
const SCHEME_OPENERS: &[&str] = &[
    "https://", "http://", "ftps://", "ftp://", "sftp://", "smtps://", "smtp://", "ldaps://",
    "ldap://", "imaps://", "imap://", "jdbc:",
];

/// Words of ordinary prose that are also the whole leading letters of an opener (`ops_eyJ…`,
/// `re_…`, `key-…`, `sha256~…`, `https://hooks…`). As the last word of a stream they leave at
/// once instead of waiting for the next event: what can leave is the published opener only, and
/// when a token does follow, the mask starts right after it (`ops[REDACTED:…]`). A prefix of
/// one of them (`op`) is still held, as is every opener that is not a word of prose (`ghp`,
/// `xoxb`, `sk`).
pub const PROSE_OPENER_WORDS: &[&str] = &[
    "Account",
    "access",
    "api",
    "ftp",
    "github",
    "hooks",
    "http",
    "https",
    "imap",
    "key",
    "ldap",
    "mariadb",
    "mongodb",
    "mysql",
    "npm",
    "ops",
    "pat",
    "postgres",
    "postgresql",
    "re",
    "redis",
    "sat",
    "secret",
    "sha",
    "sig",
    "smtp",
    "webhook",
];

/// Shortest trailing plain word that counts as the start of a context keyword: two letters
/// (`to`, `co`, `pa`) are common words and keywords are matched in any case.
const MIN_KEYWORD_PREFIX: usize = 3;

/// Rules whose span has a generic class before a literal (`abc8Q~…`, `<14 chars>.atlasv1.…`,
/// `pat<14 chars>.<64 hex>`): held only from that literal on. Holding from the class would keep
/// every identifier of code (or every `path`) alive; what may leave unmasked is the part before
/// the literal when it arrives in an event of its own (a Terraform or Airtable token id, the
/// first four of an Azure client secret's 40 characters).
const HOLD_FROM_LITERAL: &[&str] = &[
    "azure-ad-client-secret",
    "terraform-cloud-token",
    "airtable-pat",
];

/// Length of a context-free AWS secret access key (`bare_aws_secrets` in the scanner).
const BARE_AWS_SECRET: usize = 40;

/// A trailing run this short is released even when it reads like the start of a bare AWS
/// secret: code is full of such identifiers (`f64`, `u32`, `sha256`), and six of a secret's 40
/// random characters leave ≈ 200 bits unknown. The rest of the run is masked.
const BARE_SECRET_RELEASED: usize = 6;

/// Shortest trailing base64/hex run that may be held: from 8 characters on, two whole base64
/// quads (or four hex bytes) decode, enough to tell text from an identifier; one quad of a
/// word decodes to three printable bytes too often. A shorter run is released.
const ENCODED_CHECK_MIN: usize = 8;

/// Digits of a digit sequence's first group released while it is still the last text of the
/// stream. A trailing number (`100`, `2024`, `3.14`) would otherwise wait for the next event in
/// every answer that has numbers; what it costs instead: when the sequence turns out to be a
/// card or SSN, up to this many of its first digits have left before the mask covers the rest
/// (`4111[REDACTED:credit-card]`). Six is what PCI DSS allows a card display to show (the
/// issuer's BIN); an SSN's first group is three digits.
const FIRST_GROUP_RELEASED: usize = 6;

/// How far back candidate starts are tried.
const WINDOW: usize = 512;
/// How far back the trailing token run is followed.
const MAX_TAIL_RUN: usize = 16 * 1024;

/// The two boundaries a streaming redactor needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hold {
    /// Text before this offset can never end up inside a masked span: it may leave now.
    pub release: usize,
    /// Text from this offset on must stay visible to the next scan (a keyword that already
    /// left still gives its value context). At most `release`.
    pub context: usize,
}

/// A lazily determinised automaton with a cache shared by the callers that find it free.
#[derive(Debug)]
struct Automaton {
    dfa: DFA,
    cache: Mutex<Option<Cache>>,
}

impl Automaton {
    fn build(hirs: &[Hir], what: &str) -> Result<Option<Automaton>, BuildError> {
        if hirs.is_empty() {
            return Ok(None);
        }
        let fail = |reason: String| BuildError::Pattern {
            rule: what.into(),
            reason,
        };
        let nfa = thompson::Compiler::new()
            .configure(thompson::Config::new().nfa_size_limit(Some(256 << 20)))
            .build_many_from_hir(hirs)
            .map_err(|e| fail(e.to_string()))?;
        // `All`: no thread is pruned after a match, so "not dead" means some continuation of
        // the text can still match, whatever the regex's preferences.
        let dfa = DFA::builder()
            .configure(
                DFA::config()
                    .cache_capacity(4 << 20)
                    .match_kind(MatchKind::All)
                    .starts_for_each_pattern(true),
            )
            .build_from_nfa(nfa)
            .map_err(|e| fail(e.to_string()))?;
        Ok(Some(Automaton {
            dfa,
            cache: Mutex::new(None),
        }))
    }

    fn with<R>(&self, f: impl FnOnce(&DFA, &mut Cache) -> R) -> R {
        let mut guard = self.cache.try_lock().ok();
        let mut local = None;
        let cache = match guard.as_deref_mut() {
            Some(slot) => slot.get_or_insert_with(|| self.dfa.create_cache()),
            None => local.get_or_insert_with(|| self.dfa.create_cache()),
        };
        f(&self.dfa, cache)
    }
}

#[derive(Debug)]
pub struct Viability {
    /// Patterns whose masked span starts where their match starts: token rules, PEM headers,
    /// e-mail and IBAN.
    whole: Option<Automaton>,
    /// The PII grammars that start on letters alone: what a plain word that names no trigger
    /// is walked through.
    word: Option<Automaton>,
    /// Masked digit classes that begin where a digit sequence begins (phones, IP addresses),
    /// tried only where the classifier would start one: not inside an identifier, a hash or
    /// a version.
    number_start: Option<Automaton>,
    /// Masked digit classes that may begin at any group of a sequence (cards, SSNs).
    digit_groups: Option<Automaton>,
    /// Rules whose span starts after a context (`password = `, `Bearer `, `postgres://user:`):
    /// the context alone (`prefix`, pattern *i*) and the span with what must follow it
    /// (`rest`, the same pattern *i*). Only the span is held; the context is released.
    prefix: Option<Automaton>,
    rest: Option<Automaton>,
    /// Per `prefix`/`rest` pattern: the span is held from a literal (a published marker such
    /// as `.atlasv1.`), so its first byte alone may leave like a one-letter opener.
    literal_rest: Vec<bool>,
    /// Token and anywhere literals of the `whole` rules, matched in exact case, by first byte.
    openers: Vec<Vec<&'static [u8]>>,
    /// The same for the policy's own detectors, whose literals may be as private as what
    /// follows them (`PRJ-`): held from their first letter.
    custom_openers: Vec<Vec<&'static [u8]>>,
    /// Context keywords of the `whole` assignment rules (none unless a rule's span cannot be
    /// split from its context), matched in any case, by lowercase first byte.
    keywords: Vec<Vec<&'static [u8]>>,
    /// Bytes some `whole` pattern can start with (under any look-behind).
    starts: [bool; 256],
    /// Bytes some `prefix` pattern can start with.
    prefix_starts: [bool; 256],
    token_tail: bool,
    /// A custom pattern may start with any word (its literal prefixes are unbounded, as in
    /// `[a-z]+\.corp\.example`): every trailing plain word is walked through `whole`.
    any_word: bool,
    decoders: bool,
    pem: bool,
    /// A trailing run of at most [`FIRST_GROUP_RELEASED`] letters and digits that names no
    /// opener leaves even where a rule that starts with a character class could start in it
    /// (a Mailchimp key's hex, a Telegram bot id, a custom `[A-Z]{3}-…` pattern), and a
    /// one-letter word even where an IBAN could (`A` of `AT61…`: a country code is no
    /// secret). Not with e-mail masked: a local part (`f64@…`, `a@…`) would lose them.
    short_runs_leave: bool,
    /// Keywords of the enabled identifier classes: a short trailing run right after one is the
    /// start of the value it names, and is held.
    id_keywords: Vec<&'static str>,
}

/// A rule's regex cut in two where its masked span begins.
enum Cut {
    /// The span starts where the match does.
    Whole(Hir),
    /// Context, then span (and what must follow it).
    Split(Hir, Hir),
}

impl Viability {
    pub fn new(options: &DetectorOptions) -> Result<Viability, BuildError> {
        let parse = |pattern: &str, what: &str| {
            syntax::parse_with(pattern, &syntax_config()).map_err(|e| BuildError::Pattern {
                rule: what.into(),
                reason: e.to_string(),
            })
        };
        let mut whole: Vec<Hir> = Vec::new();
        let mut word: Vec<Hir> = Vec::new();
        let mut number_start: Vec<Hir> = Vec::new();
        let mut digit_groups: Vec<Hir> = Vec::new();
        let mut prefix: Vec<Hir> = Vec::new();
        let mut rest: Vec<Hir> = Vec::new();
        if options.email {
            let h = parse(pii::EMAIL_PATTERN, "email")?;
            whole.push(h.clone());
            word.push(h);
        }
        if options.iban {
            let h = parse(pii::IBAN_PATTERN, "iban")?;
            whole.push(h.clone());
            word.push(h);
        }
        if options.phone {
            number_start.push(parse(pii::PHONE_START_PATTERN, "phone")?);
        }
        if options.ip_address {
            number_start.push(parse(pii::IP_START_PATTERN, "ip-address")?);
        }
        if options.payment_card {
            digit_groups.push(parse(pii::CARD_GROUPS_PATTERN, "credit-card")?);
        }
        if options.us_ssn {
            digit_groups.push(parse(pii::SSN_GROUPS_PATTERN, "us-ssn")?);
        }
        // The opt-in identifier classes start where their span does; those that may open on a
        // capital are letter-only grammars too, so a trailing `AB` or `X12` stays alive.
        for class in ids::holdback(options) {
            let h = parse(class.pattern, class.id)?;
            if class.letter_led {
                word.push(h.clone());
            }
            whole.push(h);
        }
        let mut openers: Vec<&'static str> = Vec::new();
        let mut custom_openers: Vec<&'static str> = Vec::new();
        let mut keywords: Vec<&'static str> = Vec::new();
        let mut literal_rest: Vec<bool> = Vec::new();
        let mut any_word = false;
        let builtin = RULES.iter().filter(|_| options.credentials);
        for (rule, own) in builtin
            .map(|r| (r, false))
            .chain(options.custom.iter().map(|r| (r, true)))
        {
            let openers = if own {
                &mut custom_openers
            } else {
                &mut openers
            };
            // A PEM body admits spaces and letters, so as a DFA (which ignores laziness) it
            // would stay alive over prose after the closing line: the automaton covers the
            // header only, and `open_pem` holds an unclosed block.
            let cut = match rule.check {
                Check::PemBody => Cut::Whole(parse(PEM_HEADER, rule.id)?),
                _ => cut(rule, parse(&rule_pattern(rule), rule.id)?),
            };
            match cut {
                Cut::Whole(h) => {
                    if matches!(rule.trigger, Trigger::Always | Trigger::Keywords(_)) {
                        match literal_prefixes(&h) {
                            Some(l) => openers.extend(l),
                            None => any_word = true,
                        }
                    }
                    whole.push(h);
                    match rule.trigger {
                        Trigger::Token(l) | Trigger::Anywhere(l) => openers.extend(l),
                        Trigger::Assignment(l) | Trigger::Keywords(l) => keywords.extend(l),
                        Trigger::Always => {}
                    }
                }
                Cut::Split(p, r) => {
                    prefix.push(p);
                    rest.push(r);
                    literal_rest.push(HOLD_FROM_LITERAL.contains(&rule.id));
                }
            }
        }
        if options.credentials {
            openers.extend(SCHEME_OPENERS);
        }
        let whole = Automaton::build(&whole, "viability automaton")?;
        let prefix = Automaton::build(&prefix, "viability automaton (contexts)")?;
        Ok(Viability {
            starts: start_bytes(whole.as_ref()),
            prefix_starts: start_bytes(prefix.as_ref()),
            whole,
            word: Automaton::build(&word, "viability automaton (words)")?,
            number_start: Automaton::build(&number_start, "viability automaton (phones, IPs)")?,
            digit_groups: Automaton::build(&digit_groups, "viability automaton (cards, SSNs)")?,
            prefix,
            rest: Automaton::build(&rest, "viability automaton (spans)")?,
            openers: by_first_byte(&openers, |b| b),
            custom_openers: by_first_byte(&custom_openers, |b| b),
            keywords: by_first_byte(&keywords, |b| b.to_ascii_lowercase()),
            token_tail: options.credentials || options.decoders || !options.custom.is_empty(),
            any_word,
            decoders: options.decoders,
            pem: options.credentials,
            short_runs_leave: !options.email && options.custom.is_empty(),
            id_keywords: ids::hold_keywords(options),
            literal_rest,
        })
    }

    pub fn hold(&self, text: &str) -> Hold {
        let bytes = text.as_bytes();
        let len = bytes.len();
        let mut release = len;
        if let Some(r) = self.encoded_tail(bytes) {
            release = r;
        }
        if self.pem
            && let Some(r) = bare_secret_tail(bytes)
        {
            release = release.min(r);
        }
        if self.pem
            && let Some(b) = open_pem(bytes)
        {
            release = release.min(b);
        }
        if let Some(q) = self.first_alive(text, release) {
            release = release.min(q);
        }
        if let Some(q) = self.first_number(bytes, release) {
            release = release.min(q);
        }
        let mut context = release;
        self.contexts(text, &mut release, &mut context);
        let floor = |mut i: usize| {
            while i > 0 && !text.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        let release = floor(release);
        Hold {
            release,
            context: floor(context.min(release)),
        }
    }

    /// Start of the trailing token run when it must wait: longer than the automata look back,
    /// or (with decoders on) possibly the start of an encoded secret.
    fn encoded_tail(&self, bytes: &[u8]) -> Option<usize> {
        if !self.token_tail {
            return None;
        }
        let len = bytes.len();
        let mut r = len;
        while r > 0
            && len - r < MAX_TAIL_RUN
            && bytes
                .get(r - 1)
                .is_some_and(|&b| RUN_BYTE[usize::from(b)] || b == b'\\')
        {
            r -= 1;
        }
        let run = bytes.get(r..)?;
        if run.is_empty() {
            return None;
        }
        if run.len() >= WINDOW {
            return Some(r);
        }
        self.decoders
            .then(|| may_be_encoded(run))
            .flatten()
            .map(|at| r + at)
    }

    /// The first candidate start before `limit` from which the `whole` automaton is not dead
    /// at the end.
    fn first_alive(&self, text: &str, limit: usize) -> Option<usize> {
        let whole = self.whole.as_ref()?;
        let bytes = text.as_bytes();
        let from = bytes.len().saturating_sub(WINDOW);
        whole.with(|dfa, cache| {
            for q in from..limit.min(bytes.len()) {
                let Some(&cur) = bytes.get(q) else { break };
                if !self.starts[usize::from(cur)] || !text.is_char_boundary(q) {
                    continue;
                }
                if !is_candidate(bytes, q) {
                    continue;
                }
                if self.short_runs_leave
                    && let Some(run) = short_alnum_tail(bytes, q)
                    && !self.names_a_trigger(run)
                    && (run.len() == 1 || !self.word_alive(bytes, q))
                    && !ids::keyword_before(bytes, q, &self.id_keywords)
                {
                    continue;
                }
                // The letter-only PII grammars are part of `whole`, so a plain word they keep
                // alive needs no further walk.
                let alive = match bytes.get(q..) {
                    Some(word) if is_plain_word(word) && !self.any_word => {
                        self.word_alive(bytes, q)
                            || (self.names_a_trigger(word)
                                && walk(dfa, cache, bytes, q, Anchored::Yes).unwrap_or(true))
                    }
                    _ => walk(dfa, cache, bytes, q, Anchored::Yes).unwrap_or(true),
                };
                if alive {
                    return Some(q);
                }
            }
            None
        })
    }

    /// The first place before `limit` where a masked digit class may still begin and be
    /// growing: a digit sequence's start (every class), or one of its later group starts
    /// (cards and SSNs). A trailing group of up to [`FIRST_GROUP_RELEASED`] digits that only
    /// a card or SSN could grow from is released even so: see the constant.
    fn first_number(&self, bytes: &[u8], limit: usize) -> Option<usize> {
        if self.number_start.is_none() && self.digit_groups.is_none() {
            return None;
        }
        let len = bytes.len();
        let limit = limit.min(len);
        let mut q = len.saturating_sub(WINDOW);
        while q < limit {
            if !numeric_start(bytes, q) {
                q += 1;
                continue;
            }
            // The sequence from `q` as far as it reaches: digits and the separators the
            // classifier reads between groups.
            let end = q + bytes
                .get(q..)
                .unwrap_or_default()
                .iter()
                .position(|&b| !(b.is_ascii_digit() || b" ./-()+".contains(&b)))
                .unwrap_or(len - q);
            if end < len {
                // A sequence followed by other text is complete: nothing of it can grow.
                q = end.max(q + 1);
                continue;
            }
            let alive_at = |automaton: &Option<Automaton>, at: usize| {
                automaton.as_ref().is_some_and(|a| {
                    a.with(|dfa, cache| walk(dfa, cache, bytes, at, Anchored::Yes).unwrap_or(true))
                })
            };
            let digit = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
            // A sequence opened by `+` or `(` is a phone or nothing: the classifier tries cards
            // and SSNs only in sequences that start with a digit.
            let groups = digit(q);
            let group_start = |i: usize| groups && digit(i) && (i == q || !digit(i - 1));
            // A phone being written is held from its start (its masking in streams is an
            // opt-in whose cost is this wait); a card or SSN from the group it may begin at.
            if alive_at(&self.number_start, q) {
                return Some(q);
            }
            let first =
                (q..limit).find(|&at| group_start(at) && alive_at(&self.digit_groups, at))?;
            if short_alnum_tail(bytes, first).is_some_and(|t| t.iter().all(u8::is_ascii_digit)) {
                return None;
            }
            return Some(first);
        }
        None
    }

    /// Lowers `release` to the earliest place a context rule's span may start and still be
    /// growing, and `context` to where that context starts (or where a context is still being
    /// written).
    fn contexts(&self, text: &str, release: &mut usize, context: &mut usize) {
        let (Some(prefix), Some(rest)) = (self.prefix.as_ref(), self.rest.as_ref()) else {
            return;
        };
        let bytes = text.as_bytes();
        let len = bytes.len();
        let from = len.saturating_sub(WINDOW);
        let mut ends: Vec<(usize, PatternID)> = Vec::new();
        for q in from..len {
            if q >= *release {
                break;
            }
            let Some(&cur) = bytes.get(q) else { break };
            if !self.prefix_starts[usize::from(cur)]
                || !text.is_char_boundary(q)
                || !is_candidate(bytes, q)
            {
                continue;
            }
            ends.clear();
            let open = prefix.with(|dfa, cache| context_ends(dfa, cache, bytes, q, &mut ends));
            let open = open.unwrap_or(true);
            if open {
                *context = (*context).min(q);
            }
            for &(i, pid) in &ends {
                // A span that starts at or after `release` needs no holding of its own, but
                // its context must stay visible all the same.
                if i >= *release && *context <= q {
                    continue;
                }
                // One byte of a span held from its literal: the literal's first byte (`.` of
                // `.atlasv1.`) is published, not secret; it leaves, the context stays.
                if len - i == 1 && self.literal_rest.get(pid.as_usize()).copied() == Some(true) {
                    *context = (*context).min(q);
                    continue;
                }
                let alive = rest.with(|dfa, cache| {
                    walk(dfa, cache, bytes, i, Anchored::Pattern(pid)).unwrap_or(true)
                });
                if alive {
                    *release = (*release).min(i);
                    *context = (*context).min(q);
                }
            }
        }
    }

    /// Whether a letter-only PII grammar is still alive over `bytes[q..]`.
    fn word_alive(&self, bytes: &[u8], q: usize) -> bool {
        self.word.as_ref().is_some_and(|word| {
            word.with(|dfa, cache| walk(dfa, cache, bytes, q, Anchored::Yes).unwrap_or(true))
        })
    }

    /// Whether a trailing plain word may be the start of a rule's trigger, or holds one whole.
    fn names_a_trigger(&self, word: &[u8]) -> bool {
        word.iter().enumerate().any(|(i, &b)| {
            let rest = word.get(i..).unwrap_or_default();
            bucket(&self.openers, b).iter().any(|lit| {
                rest.starts_with(lit)
                    || (i == 0
                        && word.len() >= MIN_OPENER_PREFIX
                        && lit.starts_with(word)
                        && !PROSE_OPENER_WORDS.contains(&std::str::from_utf8(word).unwrap_or("")))
            }) || bucket(&self.custom_openers, b)
                .iter()
                .any(|lit| rest.starts_with(lit) || (i == 0 && lit.starts_with(word)))
                || bucket(&self.keywords, b.to_ascii_lowercase())
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

/// `bytes[q..]` when it is a run of at most [`FIRST_GROUP_RELEASED`] ASCII letters and digits.
fn short_alnum_tail(bytes: &[u8], q: usize) -> Option<&[u8]> {
    bytes.get(q..).filter(|t| {
        !t.is_empty() && t.len() <= FIRST_GROUP_RELEASED && t.iter().all(u8::is_ascii_alphanumeric)
    })
}

/// A position where a match may begin: after a non-word byte, on a non-word byte, or right
/// after an escape (a decoded secret can start there).
fn is_candidate(bytes: &[u8], q: usize) -> bool {
    let Some(&cur) = bytes.get(q) else {
        return false;
    };
    let prev = q.checked_sub(1).and_then(|p| bytes.get(p)).copied();
    prev.is_none_or(|p| !is_word(p)) || !is_word(cur) || after_escape(bytes, q)
}

/// Where the PII classifier starts a digit group: a digit, or `+`/`(` before one, that is not
/// inside an identifier, a hash or a version (it skips those, see `pii::find_numeric`).
fn numeric_start(bytes: &[u8], q: usize) -> bool {
    let prev = q.checked_sub(1).and_then(|p| bytes.get(p)).copied();
    let outside = prev.is_none_or(|p| !is_word(p) && p != b'.');
    match bytes.get(q) {
        Some(b) if b.is_ascii_digit() => outside && !matches!(prev, Some(b'+' | b'(')),
        Some(b'+' | b'(') => outside,
        _ => false,
    }
}

/// Where the automaton matches a context anchored at `q` (the span may start at each such
/// end), and whether it is still alive at the end of the text. `None` when the lazy DFA gave
/// up.
fn context_ends(
    dfa: &DFA,
    cache: &mut Cache,
    hay: &[u8],
    q: usize,
    ends: &mut Vec<(usize, PatternID)>,
) -> Option<bool> {
    let input = Input::new(hay).span(q..hay.len()).anchored(Anchored::Yes);
    let mut sid = dfa.start_state_forward(cache, &input).ok()?;
    let record = |sid, at: usize, cache: &mut Cache, ends: &mut Vec<(usize, PatternID)>| {
        for m in 0..dfa.match_len(cache, sid) {
            ends.push((at, dfa.match_pattern(cache, sid, m)));
        }
    };
    for (k, &b) in hay.get(q..)?.iter().enumerate() {
        if sid.is_dead() {
            return Some(false);
        }
        sid = dfa.next_state(cache, sid, b).ok()?;
        if sid.is_quit() {
            return None;
        }
        // Match states are reported one byte late: this one ended before `b`.
        if sid.is_match() {
            record(sid, q + k, cache, ends);
        }
    }
    if sid.is_dead() {
        return Some(false);
    }
    let eoi = dfa.next_eoi_state(cache, sid).ok()?;
    if eoi.is_match() {
        record(eoi, hay.len(), cache, ends);
    }
    continues(dfa, cache, sid)
}

/// Cuts a rule's regex where its span (capture group `rule.group`) begins; `Whole` when the
/// span starts with the match, or when the group sits inside a repetition or an alternation
/// (then the whole match is held, as before).
fn cut(rule: &Rule, hir: Hir) -> Cut {
    let group = u32::try_from(rule.group).unwrap_or(u32::MAX);
    let at_literal = HOLD_FROM_LITERAL.contains(&rule.id);
    let mut items = Vec::new();
    let mut at = None;
    if !flatten(&hir, group, at_literal, &mut items, &mut at) {
        return Cut::Whole(hir);
    }
    let Some(at) = at else {
        return Cut::Whole(hir);
    };
    let (before, after) = items.split_at(at);
    if before.iter().all(|h| matches!(h.kind(), HirKind::Look(_))) {
        return Cut::Whole(hir);
    }
    Cut::Split(Hir::concat(before.to_vec()), Hir::concat(after.to_vec()))
}

/// Flattens the concatenations around capture `group` into `out`, marking in `at` where the
/// group begins (or, with `at_literal`, its first literal). False when the group cannot be
/// reached through concatenations alone.
fn flatten(
    h: &Hir,
    group: u32,
    at_literal: bool,
    out: &mut Vec<Hir>,
    at: &mut Option<usize>,
) -> bool {
    match h.kind() {
        HirKind::Concat(subs) => subs.iter().all(|s| flatten(s, group, at_literal, out, at)),
        HirKind::Capture(c) if c.index == group => {
            if at.is_some() {
                return false;
            }
            if at_literal {
                let start = out.len();
                flatten(&c.sub, u32::MAX, false, out, at);
                // The first literal after a class: `Q~`, `.atlasv1.`, the `.` of `pat….`.
                let literal = |x: &Hir| matches!(x.kind(), HirKind::Literal(_));
                let Some(p) = out.get(start..).and_then(|s| {
                    let class = s.iter().position(|x| !literal(x))?;
                    s.iter().skip(class).position(literal).map(|p| p + class)
                }) else {
                    return false;
                };
                *at = Some(start + p);
            } else {
                *at = Some(out.len());
                out.push(h.clone());
            }
            true
        }
        HirKind::Capture(c) => flatten(&c.sub, group, at_literal, out, at),
        _ if holds_group(h, group) => false,
        _ => {
            out.push(h.clone());
            true
        }
    }
}

fn holds_group(h: &Hir, group: u32) -> bool {
    match h.kind() {
        HirKind::Capture(c) => c.index == group || holds_group(&c.sub, group),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => {
            subs.iter().any(|s| holds_group(s, group))
        }
        HirKind::Repetition(r) => holds_group(&r.sub, group),
        _ => false,
    }
}

/// The literal prefixes of a custom pattern, so a trailing plain word that may begin one
/// (`acme` of `acme-build-7`) is held like a catalogue opener; its keywords need not be where
/// the match starts. `None` when the prefixes are unbounded (a class or an empty prefix first):
/// then any word may begin a match. Interned: the keyword table is `'static` like the
/// catalogue's.
fn literal_prefixes(hir: &Hir) -> Option<Vec<&'static str>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(hir);
    let literals = seq.literals()?;
    if literals.iter().any(|l| l.as_bytes().is_empty()) {
        return None;
    }
    Some(
        literals
            .iter()
            .filter_map(|l| std::str::from_utf8(l.as_bytes()).ok())
            .map(super::custom::intern_str)
            .collect(),
    )
}

/// Bytes a pattern of `automaton` can start with, after a non-word, a word or a line-break
/// byte.
fn start_bytes(automaton: Option<&Automaton>) -> [bool; 256] {
    let mut starts = [false; 256];
    if let Some(a) = automaton {
        a.with(|dfa, cache| {
            for (b, slot) in starts.iter_mut().enumerate() {
                let byte = b as u8;
                *slot = [b' ', b'a', b'\n', b'-'].iter().any(|&prev| {
                    let hay = [prev, byte];
                    walk(dfa, cache, &hay, 1, Anchored::Yes).unwrap_or(true)
                }) || walk(dfa, cache, &[byte], 0, Anchored::Yes).unwrap_or(true);
            }
        });
    }
    starts
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

/// Start of a trailing run that may still become a context-free AWS secret access key: 40
/// base64 characters standing alone. The scanner asks for upper case, lower case and digits;
/// a run is held once it stops reading like an identifier (see [`looks_random`]), so
/// `getUserAccount` or `HashMap` leave at once. What that costs: a key whose first characters
/// read like an identifier and arrive in an event of their own has those characters released
/// before the rest is masked.
fn bare_secret_tail(bytes: &[u8]) -> Option<usize> {
    let key_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    let joins = |b: u8| key_byte(b) || b == b'_' || b == b'-';
    let len = bytes.len();
    let mut r = len;
    while r > 0 && len - r <= BARE_AWS_SECRET && bytes.get(r - 1).is_some_and(|&b| key_byte(b)) {
        r -= 1;
    }
    let run = bytes.get(r..)?;
    if run.len() <= BARE_SECRET_RELEASED || run.len() > BARE_AWS_SECRET {
        return None;
    }
    if r.checked_sub(1)
        .and_then(|p| bytes.get(p))
        .is_some_and(|&b| joins(b))
    {
        return None;
    }
    looks_random(run).then_some(r)
}

/// Whether a run of letters and digits has stopped reading like a word or a camel-case
/// identifier: it holds a digit, `+` or `/` beside letters, two capitals in a row, or a
/// one-letter hump (`dI…`, `…IlG…`). Random base64 shows one of these within a few
/// characters; identifiers are words of two or more letters joined at capitals.
fn looks_random(run: &[u8]) -> bool {
    let letters = run.iter().any(u8::is_ascii_alphabetic);
    let other = run
        .iter()
        .any(|&b| b.is_ascii_digit() || b == b'+' || b == b'/');
    if letters && other {
        return true;
    }
    let upper = |i: usize| run.get(i).is_some_and(u8::is_ascii_uppercase);
    let lower = |i: usize| run.get(i).is_some_and(u8::is_ascii_lowercase);
    (0..run.len()).any(|i| {
        (upper(i) && upper(i + 1))
            || (i == 0 && lower(0) && upper(1))
            || (upper(i) && lower(i + 1) && upper(i + 2))
    })
}

/// Whether a trailing token run may be the start of an encoded secret the decoders would
/// unwrap: it holds a percent or backslash escape, or its trailing base64/hex run decodes, as
/// far as it goes, to text (at least two whole quads, in some alignment). A run shorter than
/// [`ENCODED_CHECK_MIN`] cannot be judged and is released: identifiers of code (`is_empty`,
/// `//`, `x1`) would otherwise all wait.
fn may_be_encoded(run: &[u8]) -> Option<usize> {
    if run.contains(&b'\\') || has_percent_escape(run) {
        return Some(0);
    }
    let at = run.iter().rposition(|&b| !b64_byte(b)).map_or(0, |p| p + 1);
    let sub = run.get(at..).unwrap_or_default();
    if sub.len() < ENCODED_CHECK_MIN || !looks_like_token(sub) {
        return None;
    }
    if sub.iter().all(u8::is_ascii_hexdigit) {
        let even = sub.get(..sub.len() & !1).unwrap_or_default();
        let decoded: Option<Vec<u8>> = even
            .chunks(2)
            .map(|p| {
                std::str::from_utf8(p)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect();
        if decoded.is_some_and(|d| text_prefix(&d)) {
            return Some(at);
        }
    }
    let url = sub.iter().any(|b| matches!(b, b'-' | b'_'));
    let standard = sub.iter().any(|b| matches!(b, b'+' | b'/'));
    if url && standard {
        return None;
    }
    use base64::Engine as _;
    let engine = if url {
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
    } else {
        &base64::engine::general_purpose::STANDARD_NO_PAD
    };
    let decodes = (0..4).any(|skip| {
        let chunk = sub.get(skip..).unwrap_or_default();
        let chunk = chunk.get(..chunk.len() / 4 * 4).unwrap_or_default();
        chunk.len() >= 8 && engine.decode(chunk).is_ok_and(|d| text_prefix(&d))
    });
    decodes.then_some(at)
}

/// A `%XX` escape, or a `%` / `%X` at the end that may become one.
fn has_percent_escape(run: &[u8]) -> bool {
    memchr::memchr_iter(b'%', run).any(|p| {
        let next = run.get(p + 1..).unwrap_or_default();
        next.iter().take(2).all(u8::is_ascii_hexdigit)
    })
}

/// Whether decoded bytes read as the start of text: UTF-8 (a character cut at the end allowed)
/// without control characters other than tab and line breaks.
fn text_prefix(bytes: &[u8]) -> bool {
    let valid = match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(bytes.get(..e.valid_up_to()).unwrap_or_default()).unwrap_or("")
        }
        Err(_) => return false,
    };
    !valid
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

/// Whether the anchored DFA, after reading `hay[q..]`, may still match something that ends
/// later. `None` when the lazy DFA gave up (treated as alive by callers: holding back is the
/// safe side).
fn walk(dfa: &DFA, cache: &mut Cache, hay: &[u8], q: usize, anchored: Anchored) -> Option<bool> {
    let input = Input::new(hay).span(q..hay.len()).anchored(anchored);
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
    continues(dfa, cache, sid)
}

/// Whether a live state has a future. Matches are reported one byte late, so a state that
/// only carries the match that ended before the last byte (`0,` for a digit grammar) is not
/// dead yet has nowhere to go: every next byte kills it.
fn continues(dfa: &DFA, cache: &mut Cache, sid: LazyStateID) -> Option<bool> {
    if sid.is_dead() {
        return Some(false);
    }
    if !sid.is_match() {
        return Some(true);
    }
    for unit in dfa.byte_classes().representatives(..) {
        let next = match unit.as_u8() {
            Some(b) => dfa.next_state(cache, sid, b).ok()?,
            None => continue,
        };
        if next.is_quit() {
            return None;
        }
        if !next.is_dead() {
            return Some(true);
        }
    }
    Some(false)
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
