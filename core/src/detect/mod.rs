//! Credential and PII detection over plain text.
//!
//! `Scanner` is built once per policy and shared (it is `Send + Sync`); scanning allocates
//! only into the caller's `Vec`, except where a gate has already found a candidate.
//!
//! How a scan spends its time (see `README.md` here): cheap gates first — long runs of token
//! bytes (probed in strides), assignment keywords, `@` for e-mail, digits for numbers,
//! `%` and `\` for escapes — and regexes only inside what a gate selected.

mod assign;
pub mod catalogue;
pub mod classify;
pub mod custom;
pub(crate) mod decode;
mod gate;
mod ids;
mod manifest;
mod pii;
pub mod validate;
mod viable;

pub use viable::{Hold, PROSE_OPENER_WORDS};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, meta};

pub use catalogue::{Check, RULES, Rule, Trigger};

use crate::finding::{Category, Encoding, Finding};

/// Rule ids the scanner and the injection detector report outside the catalogue (the data
/// classes' own are `classify::RULE_IDS`).
pub const BUILTIN_IDS: &[&str] = &[
    "email",
    "phone",
    "credit-card",
    "us-ssn",
    "iban",
    "ip-address",
    "uk-nino",
    "ca-sin",
    "in-aadhaar",
    "in-pan",
    "br-cpf",
    "br-cnpj",
    "es-dni",
    "es-nie",
    "it-codice-fiscale",
    "fr-nir",
    "de-steuer-id",
    "au-tfn",
    "us-itin",
    "us-aba-routing",
    "us-npi",
    "us-dea",
    "ipv6-address",
    "mac-address",
    "bitcoin-address",
    "ethereum-address",
    "prompt-injection",
];

/// Which detector families are enabled. Built from the policy.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectorOptions {
    pub credentials: bool,
    pub email: bool,
    pub phone: bool,
    pub payment_card: bool,
    pub us_ssn: bool,
    pub iban: bool,
    pub ip_address: bool,
    /// The opt-in identifier and address classes below are off by default: each adds a
    /// trigger and, in streams, a holdback pattern, and existing policies keep their cost.
    /// UK National Insurance number (`uk-nino`).
    pub uk_nino: bool,
    /// Canadian Social Insurance Number (`ca-sin`).
    pub ca_sin: bool,
    /// Indian Aadhaar number (`in-aadhaar`).
    pub in_aadhaar: bool,
    /// Indian Permanent Account Number (`in-pan`).
    pub in_pan: bool,
    /// Brazilian CPF (`br-cpf`).
    pub br_cpf: bool,
    /// Brazilian CNPJ (`br-cnpj`).
    pub br_cnpj: bool,
    /// Spanish DNI (`es-dni`).
    pub es_dni: bool,
    /// Spanish NIE (`es-nie`).
    pub es_nie: bool,
    /// Italian codice fiscale (`it-codice-fiscale`).
    pub it_codice_fiscale: bool,
    /// French NIR, the social security number (`fr-nir`).
    pub fr_nir: bool,
    /// German tax identification number (`de-steuer-id`).
    pub de_steuer_id: bool,
    /// Australian Tax File Number (`au-tfn`).
    pub au_tfn: bool,
    /// US Individual Taxpayer Identification Number (`us-itin`).
    pub us_itin: bool,
    /// US ABA routing transit number (`us-aba-routing`).
    pub us_aba_routing: bool,
    /// US National Provider Identifier (`us-npi`).
    pub us_npi: bool,
    /// US DEA registration number (`us-dea`).
    pub us_dea: bool,
    /// IPv6 address (`ipv6-address`).
    pub ipv6_address: bool,
    /// MAC address (`mac-address`).
    pub mac_address: bool,
    /// Bitcoin address, Base58Check or bech32/bech32m (`bitcoin-address`).
    pub bitcoin_address: bool,
    /// Ethereum address (`ethereum-address`).
    pub ethereum_address: bool,
    /// Look inside base64 / hex / percent / JSON-escape runs.
    pub decoders: bool,
    /// How many nested encodings to peel (base64 of hex of ...).
    pub decode_depth: u8,
    /// Data class `source-code-<language>`: a substantial block of code ([`classify`]). Off
    /// by default; reported only by [`Scanner::classify`], over whole texts.
    pub source_code: bool,
    /// Data class `bulk-pii`: many records carrying PII (a CSV/JSON dump). Off by default.
    pub bulk_pii: bool,
    /// The policy's own detectors (`detectors.custom`), compiled by [`custom::compile`]. They
    /// run whatever `credentials` says.
    pub custom: Vec<Rule>,
}

impl Default for DetectorOptions {
    fn default() -> Self {
        DetectorOptions {
            credentials: true,
            email: true,
            phone: true,
            payment_card: true,
            us_ssn: true,
            iban: true,
            ip_address: false,
            uk_nino: false,
            ca_sin: false,
            in_aadhaar: false,
            in_pan: false,
            br_cpf: false,
            br_cnpj: false,
            es_dni: false,
            es_nie: false,
            it_codice_fiscale: false,
            fr_nir: false,
            de_steuer_id: false,
            au_tfn: false,
            us_itin: false,
            us_aba_routing: false,
            us_npi: false,
            us_dea: false,
            ipv6_address: false,
            mac_address: false,
            bitcoin_address: false,
            ethereum_address: false,
            decoders: true,
            decode_depth: 2,
            source_code: false,
            bulk_pii: false,
            custom: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("detector pattern {rule} does not compile: {reason}")]
    Pattern { rule: String, reason: String },
}

/// A finding before merging: carries whether its rule is generic.
#[derive(Clone, Debug)]
pub(crate) struct Hit {
    rule: &'static str,
    category: Category,
    start: usize,
    end: usize,
    validated: bool,
    encoding: Option<Encoding>,
    generic: bool,
}

impl Hit {
    pub(crate) fn new(
        rule: &'static str,
        category: Category,
        start: usize,
        end: usize,
        validated: bool,
    ) -> Hit {
        Hit {
            rule,
            category,
            start,
            end,
            validated,
            encoding: None,
            generic: false,
        }
    }
}

#[derive(Debug)]
struct CompiledRule {
    rule: Rule,
    regex: meta::Regex,
}

/// A literal gate: one automaton, and for each of its patterns the rules it triggers.
#[derive(Debug)]
struct Gate {
    ac: AhoCorasick,
    rules: Vec<Vec<usize>>,
    /// The first three bytes of every literal, ASCII lower-cased, hashed into a bit set: a
    /// word none of whose trigrams is in it holds no literal, and skips the automaton.
    trigrams: Box<[u64; TRIGRAM_WORDS]>,
}

const TRIGRAM_WORDS: usize = 1024;

fn trigram_bit(t: &[u8]) -> usize {
    let h = t.iter().fold(0u32, |h, &b| {
        h.wrapping_mul(0x0100_0193) ^ u32::from(b.to_ascii_lowercase())
    });
    (h.wrapping_mul(0x9E37_79B1) >> 16) as usize % (TRIGRAM_WORDS * 64)
}

impl Gate {
    /// Whether `word` may hold one of the literals (no false negatives).
    fn may_hold(&self, word: &[u8]) -> bool {
        word.windows(3).any(|t| {
            let bit = trigram_bit(t);
            self.trigrams
                .get(bit / 64)
                .is_some_and(|w| w & (1 << (bit % 64)) != 0)
        })
    }
}

/// Longest stretch after an assignment operator or an `Anywhere` literal a rule may match.
const ASSIGNMENT_WINDOW: usize = 4096;
const ANYWHERE_WINDOW: usize = 64 * 1024;
/// Extra bytes past a token run a token rule may look at (URIs with unusual password bytes).
const RUN_SLACK: usize = 256;

/// The credential + PII scanner.
#[derive(Debug)]
pub struct Scanner {
    options: DetectorOptions,
    rules: Vec<CompiledRule>,
    token_gate: Option<Gate>,
    assignment_gate: Option<Gate>,
    anywhere_gate: Option<Gate>,
    /// Custom rules with keywords: any keyword anywhere runs the rule over the whole text.
    keyword_gate: Option<Gate>,
    /// Custom rules without keywords, run over every text.
    always: Vec<usize>,
    viability: viable::Viability,
}

pub(crate) fn syntax_config() -> syntax::Config {
    syntax::Config::new().unicode(false).utf8(false)
}

/// The full regex of a rule: assignment rules get the identifier-and-operator prefix.
pub(crate) fn rule_pattern(rule: &Rule) -> String {
    match rule.trigger {
        Trigger::Assignment(keywords) => {
            format!("{}(?:{})", assign::context_pattern(keywords), rule.pattern)
        }
        Trigger::Token(_) | Trigger::Anywhere(_) | Trigger::Keywords(_) | Trigger::Always => {
            rule.pattern.to_string()
        }
    }
}

fn compile(id: &str, pattern: &str) -> Result<meta::Regex, BuildError> {
    meta::Regex::builder()
        .syntax(syntax_config())
        .configure(meta::Config::new().nfa_size_limit(Some(64 << 20)))
        .build(pattern)
        .map_err(|e| BuildError::Pattern {
            rule: id.to_string(),
            reason: e.to_string(),
        })
}

fn build_gate(
    rules: &[CompiledRule],
    pick: impl Fn(&Trigger) -> Option<&'static [&'static str]>,
    case_insensitive: bool,
) -> Result<Option<Gate>, BuildError> {
    let mut literals: Vec<&'static str> = Vec::new();
    let mut owners: Vec<Vec<usize>> = Vec::new();
    for (i, compiled) in rules.iter().enumerate() {
        for &lit in pick(&compiled.rule.trigger).unwrap_or_default() {
            match literals.iter().position(|l| l.eq_ignore_ascii_case(lit)) {
                Some(p) => owners.get_mut(p).into_iter().for_each(|o| o.push(i)),
                None => {
                    literals.push(lit);
                    owners.push(vec![i]);
                }
            }
        }
    }
    if literals.is_empty() {
        return Ok(None);
    }
    let ac = AhoCorasickBuilder::new()
        .match_kind(MatchKind::Standard)
        .ascii_case_insensitive(case_insensitive)
        .build(&literals)
        .map_err(|e| BuildError::Pattern {
            rule: "literal gate".into(),
            reason: e.to_string(),
        })?;
    let mut trigrams = Box::new([0u64; TRIGRAM_WORDS]);
    for lit in &literals {
        match lit.as_bytes().get(..3) {
            Some(t) => {
                let bit = trigram_bit(t);
                if let Some(w) = trigrams.get_mut(bit / 64) {
                    *w |= 1 << (bit % 64);
                }
            }
            // A literal shorter than a trigram: every word may hold it.
            None => trigrams.fill(u64::MAX),
        }
    }
    Ok(Some(Gate {
        ac,
        rules: owners,
        trigrams,
    }))
}

impl Scanner {
    pub fn new(options: &DetectorOptions) -> Result<Scanner, BuildError> {
        let mut rules = Vec::new();
        if options.credentials {
            for rule in RULES.iter() {
                let regex = compile(rule.id, &rule_pattern(rule))?;
                rules.push(CompiledRule { rule: *rule, regex });
            }
        }
        for rule in &options.custom {
            let regex = compile(rule.id, &rule_pattern(rule))?;
            rules.push(CompiledRule { rule: *rule, regex });
        }
        let token_gate = build_gate(
            &rules,
            |t| match t {
                Trigger::Token(l) => Some(*l),
                _ => None,
            },
            false,
        )?;
        let assignment_gate = build_gate(
            &rules,
            |t| match t {
                Trigger::Assignment(l) => Some(*l),
                _ => None,
            },
            true,
        )?;
        let anywhere_gate = build_gate(
            &rules,
            |t| match t {
                Trigger::Anywhere(l) => Some(*l),
                _ => None,
            },
            false,
        )?;
        let keyword_gate = build_gate(
            &rules,
            |t| match t {
                Trigger::Keywords(l) => Some(*l),
                _ => None,
            },
            true,
        )?;
        let always = (0..rules.len())
            .filter(|&i| {
                rules
                    .get(i)
                    .is_some_and(|r| r.rule.trigger == Trigger::Always)
            })
            .collect();
        let viability = viable::Viability::new(options)?;
        Ok(Scanner {
            options: options.clone(),
            rules,
            token_gate,
            assignment_gate,
            anywhere_gate,
            keyword_gate,
            always,
            viability,
        })
    }

    /// Appends every finding in `text` to `out`, sorted by `start`, overlapping findings merged
    /// or kept as the catalogue decides.
    pub fn scan(&self, text: &str, out: &mut Vec<Finding>) {
        let mut hits = Vec::new();
        match decode::strip_zero_width(text) {
            None => self.scan_view(text, self.options.decode_depth, &mut hits),
            Some((stripped, map)) => {
                let mut inner = Vec::new();
                self.scan_view(&stripped, self.options.decode_depth, &mut inner);
                for mut h in inner {
                    let start = map.get(h.start).unwrap_or(text.len());
                    let end = h
                        .end
                        .checked_sub(1)
                        .and_then(|e| map.get(e))
                        .map_or(start, |e| e + 1);
                    h.start = gate::floor_boundary(text, start);
                    h.end = gate::ceil_boundary(text, end);
                    hits.push(h);
                }
            }
        }
        merge(&mut hits);
        out.extend(hits.into_iter().map(|h| Finding {
            rule: h.rule,
            category: h.category,
            start: h.start,
            end: h.end,
            encoding: h.encoding,
            validated: h.validated,
        }));
    }

    /// Whether [`Scanner::classify`] has anything to do.
    pub fn classifies(&self) -> bool {
        self.options.source_code || self.options.bulk_pii
    }

    /// Appends the data-class findings (`source-code-<language>`, `bulk-pii`) of a whole
    /// `text` to `out`, which must hold [`Scanner::scan`]'s findings over the same text (the
    /// PII among them are what `bulk-pii` counts). Nothing when both classes are off. Not for
    /// partial text: a block or a dump is judged whole.
    pub fn classify(&self, text: &str, out: &mut Vec<Finding>) {
        if self.classifies() {
            classify::classify(text, self.options.source_code, self.options.bulk_pii, out);
        }
    }

    /// [`Scanner::scan`] over a text of any size in bounded memory: each of [`windows`]'s
    /// stretches is scanned with its margins, and reports the findings that start in it. A
    /// finding that began in an earlier stretch and overlaps a later one is kept once.
    pub fn scan_windowed(&self, text: &str, size: usize, margin: usize, out: &mut Vec<Finding>) {
        let mut inner = Vec::new();
        let mut covered = 0;
        for w in windows(text, size, margin) {
            let Some(view) = text.get(w.scan.clone()) else {
                continue;
            };
            inner.clear();
            self.scan(view, &mut inner);
            let own_end = out.len();
            for mut f in inner.drain(..) {
                f.start += w.scan.start;
                f.end += w.scan.start;
                if w.own.contains(&f.start) && f.start >= covered {
                    out.push(f);
                }
            }
            covered = out
                .get(own_end..)
                .and_then(|kept| kept.iter().map(|f| f.end).max())
                .map_or(covered, |e| covered.max(e));
        }
    }

    /// The earliest byte offset in `text` at which some enabled rule could still produce a
    /// match (or a longer match) once more text is appended. `text.len()` when nothing is
    /// viable, so ordinary prose is never held back. Always on a char boundary.
    pub fn viable_from(&self, text: &str) -> usize {
        self.hold(text).release
    }

    /// Where a streaming redactor may release up to, and from where it must keep text as scan
    /// context: a keyword released before its value still has to be seen with the value.
    pub fn hold(&self, text: &str) -> viable::Hold {
        match decode::strip_zero_width(text) {
            None => self.viability.hold(text),
            Some((stripped, map)) => {
                let h = self.viability.hold(&stripped);
                let at = |v: usize| gate::floor_boundary(text, map.get(v).unwrap_or(text.len()));
                viable::Hold {
                    release: at(h.release),
                    context: at(h.context),
                }
            }
        }
    }

    fn scan_view(&self, text: &str, depth: u8, hits: &mut Vec<Hit>) {
        let bytes = text.as_bytes();
        let decoders = self.options.decoders && depth > 0;
        let mut decoded = Vec::new();
        if self.options.credentials || decoders {
            let min = if decoders {
                decode::MIN_ENCODED
            } else {
                gate::MIN_RUN
            };
            gate::long_runs(bytes, min, |s, e| {
                if self.options.credentials && e - s >= gate::MIN_RUN {
                    self.scan_token_run(text, s, e, hits);
                    bare_aws_secrets(bytes, s, e, hits);
                }
                if decoders {
                    decode::runs_in(bytes, s, e, &mut decoded);
                }
            });
        }
        if self.options.credentials {
            // Before the assignments: on the same span the manifest's own rule is the
            // better name than a generic keyword rule.
            manifest::find_secret_values(bytes, &mut |h| hits.push(h));
            self.scan_assignments(text, hits);
            self.scan_anywhere(text, hits);
        }
        self.scan_custom(text, hits);
        if self.options.email {
            pii::find_emails(bytes, &mut |h| hits.push(h));
        }
        if self.options.phone
            || self.options.payment_card
            || self.options.us_ssn
            || self.options.iban
            || self.options.ip_address
            || self.options.fr_nir
            || ids::numeric_on(&self.options)
        {
            pii::find_numeric(bytes, &self.options, &mut |h| hits.push(h));
        }
        if ids::words_on(&self.options) {
            ids::find_words(bytes, &self.options, &mut |h| hits.push(h));
        }
        if ids::hex_on(&self.options) {
            ids::find_hex_addresses(bytes, &self.options, &mut |h| hits.push(h));
        }
        if decoders {
            decode::percent_regions(bytes, &mut decoded);
            decode::json_regions(bytes, &mut decoded);
            for view in &decoded {
                let mut inner = Vec::new();
                self.scan_view(&view.text, depth - 1, &mut inner);
                for h in inner {
                    let (s, e) = view.source_span(h.start, h.end);
                    // A bare AWS secret with no escape inside stood in the plain text too,
                    // where its neighbours (a wrapped base64 block) were in sight; the
                    // decoded line alone has lost them.
                    if h.generic
                        && h.rule == "aws-secret-access-key"
                        && view.encoding == Encoding::JsonEscape
                        && e - s == h.end - h.start
                    {
                        continue;
                    }
                    hits.push(Hit {
                        start: gate::floor_boundary(text, s),
                        end: gate::ceil_boundary(text, e),
                        encoding: Some(view.encoding),
                        ..h
                    });
                }
            }
        }
    }

    fn scan_token_run(&self, text: &str, s: usize, e: usize, hits: &mut Vec<Hit>) {
        let Some(gate) = &self.token_gate else { return };
        let Some(run) = text.as_bytes().get(s..e) else {
            return;
        };
        let mut triggered: Vec<usize> = Vec::new();
        for m in gate.ac.find_overlapping_iter(run) {
            for &r in gate.rules.get(m.pattern().as_usize()).into_iter().flatten() {
                if !triggered.contains(&r) {
                    triggered.push(r);
                }
            }
        }
        let end = gate::ceil_boundary(text, e + RUN_SLACK);
        for r in triggered {
            self.run_rule(r, text, s, end, false, hits);
        }
    }

    /// Assignment rules: the places where a binding can end (`=`, `:`, `,` after a quoted
    /// name, a setter's `(`, an XML element's `>`, a `--flag`) name the identifiers that may
    /// hold a keyword (`assign::anchors`); each one holding a keyword anchors the shared
    /// assignment grammar. Prose has few such places, so it costs little.
    fn scan_assignments(&self, text: &str, hits: &mut Vec<Hit>) {
        let Some(gate) = &self.assignment_gate else {
            return;
        };
        let bytes = text.as_bytes();
        let mut anchors = assign::anchors(bytes);
        anchors.sort_unstable();
        anchors.dedup();
        let mut triggered: Vec<usize> = Vec::new();
        for k in anchors {
            let word = assign::gate_word(bytes, k);
            if !gate.may_hold(word) {
                continue;
            }
            triggered.clear();
            for m in gate.ac.find_overlapping_iter(word) {
                for &r in gate.rules.get(m.pattern().as_usize()).into_iter().flatten() {
                    if !triggered.contains(&r) {
                        triggered.push(r);
                    }
                }
            }
            let end = gate::ceil_boundary(text, k + ASSIGNMENT_WINDOW);
            for &r in &triggered {
                self.run_rule(r, text, k, end, true, hits);
            }
        }
    }

    fn scan_anywhere(&self, text: &str, hits: &mut Vec<Hit>) {
        let Some(gate) = &self.anywhere_gate else {
            return;
        };
        let mut done_until = 0;
        for m in gate.ac.find_iter(text.as_bytes()) {
            if m.start() < done_until {
                continue;
            }
            let end = gate::ceil_boundary(text, m.start() + ANYWHERE_WINDOW);
            for &r in gate.rules.get(m.pattern().as_usize()).into_iter().flatten() {
                let before = hits.len();
                self.run_rule(r, text, m.start(), end, true, hits);
                if let Some(h) = hits
                    .get(before..)
                    .and_then(|h| h.iter().map(|h| h.end).max())
                {
                    done_until = done_until.max(h);
                }
            }
        }
    }

    /// Custom rules: each one whose keyword occurs (or that has none) over the whole text.
    fn scan_custom(&self, text: &str, hits: &mut Vec<Hit>) {
        for &r in &self.always {
            self.run_rule(r, text, 0, text.len(), false, hits);
        }
        let Some(gate) = &self.keyword_gate else {
            return;
        };
        let mut triggered: Vec<usize> = Vec::new();
        for m in gate.ac.find_overlapping_iter(text.as_bytes()) {
            for &r in gate.rules.get(m.pattern().as_usize()).into_iter().flatten() {
                if !triggered.contains(&r) {
                    triggered.push(r);
                }
            }
        }
        for r in triggered {
            self.run_rule(r, text, 0, text.len(), false, hits);
        }
    }

    /// Runs rule `r` over `text[start..end]`, validating each match.
    fn run_rule(
        &self,
        r: usize,
        text: &str,
        start: usize,
        end: usize,
        anchored: bool,
        hits: &mut Vec<Hit>,
    ) {
        let Some(compiled) = self.rules.get(r) else {
            return;
        };
        let rule = &compiled.rule;
        let mut input = Input::new(text.as_bytes()).span(start..end.min(text.len()));
        if anchored {
            input = input.anchored(Anchored::Yes);
        }
        for caps in compiled.regex.captures_iter(input) {
            let Some(span) = caps.get_group(rule.group) else {
                continue;
            };
            let (s, e) = (
                gate::floor_boundary(text, span.start),
                gate::ceil_boundary(text, span.end),
            );
            let Some(value) = text.get(s..e) else {
                continue;
            };
            if matches!(rule.trigger, Trigger::Assignment(_))
                && !caps
                    .get_match()
                    .is_some_and(|m| assign::is_literal(text, m.start(), s, e))
            {
                if anchored {
                    break;
                }
                continue;
            }
            if let Some(validated) = accept(rule, value) {
                hits.push(Hit {
                    rule: rule.id,
                    category: rule.category,
                    start: s,
                    end: e,
                    validated,
                    encoding: None,
                    generic: rule.generic,
                });
            }
            if anchored {
                break;
            }
        }
    }
}

/// One stretch of a long text: `own` is the part whose findings it reports, `scan` adds
/// `margin` bytes of context either side so that a value crossing `own`'s edges, and the
/// keyword before it, are seen whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub own: std::ops::Range<usize>,
    pub scan: std::ops::Range<usize>,
}

/// Cuts `text` into stretches of about `size` bytes that tile it, ending at a line end where
/// one lies within `margin / 2` bytes after the nominal cut (values rarely cross lines), else
/// at a char boundary. Findings longer than `margin` may be cut short at a stretch's edge.
pub fn windows(text: &str, size: usize, margin: usize) -> Vec<Window> {
    let size = size.max(1);
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut a = 0;
    while a < text.len() {
        let nominal = a.saturating_add(size).min(text.len());
        let reach = nominal.saturating_add(margin / 2).min(text.len());
        let b = bytes
            .get(nominal..reach)
            .and_then(|r| memchr::memchr(b'\n', r))
            .map_or_else(|| gate::ceil_boundary(text, nominal), |n| nominal + n + 1);
        let b = if b <= a { text.len() } else { b };
        out.push(Window {
            own: a..b,
            scan: gate::floor_boundary(text, a.saturating_sub(margin))
                ..gate::ceil_boundary(text, b.saturating_add(margin).min(text.len())),
        });
        a = b;
    }
    out
}

/// Applies a rule's validator, entropy floor and placeholder filter. `Some(validated)` when
/// the value is kept.
fn accept(rule: &Rule, value: &str) -> Option<bool> {
    let passed = match rule.check {
        Check::None => false,
        Check::Crc32Base62 => validate::crc32_base62(value).then_some(true)?,
        Check::Jwt => validate::jwt(value).then_some(true)?,
        // The format alone is specific enough; the checksum raises confidence only.
        Check::Bech32 => validate::bech32(value),
        Check::PemBody => validate::pem_body(value).then_some(true)?,
        Check::Luhn => validate::luhn(value).then_some(true)?,
        Check::Base64UserPassword => validate::base64_user_password(value).then_some(true)?,
        Check::Mod97 => {
            let compact: Vec<u8> = value
                .bytes()
                .filter(u8::is_ascii_alphanumeric)
                .map(|b| b.to_ascii_uppercase())
                .collect();
            validate::iban_mod97(&compact).then_some(true)?
        }
    };
    if rule.min_entropy > 0.0 && validate::shannon_entropy(value.as_bytes()) < rule.min_entropy {
        return None;
    }
    // Placeholders (`xxxx`, `EXAMPLE`) are a credential notion: a custom id such as
    // `CUST-00000000` is what the organisation said it is.
    if rule.category == Category::Credential
        && !(rule.check.is_checksum() && passed)
        && validate::is_placeholder(value)
    {
        return None;
    }
    if rule.generic {
        if validate::is_code_reference(value) {
            return None;
        }
        if rule.id == "generic-password" && validate::char_classes(value) < 2 {
            return None;
        }
    }
    Some(passed)
}

/// A context-free AWS secret access key: exactly 40 base64 characters standing alone, with
/// upper case, lower case and digits, and high entropy. Git SHAs (hex), UUIDs and base64
/// blobs (longer, or padded) do not qualify.
fn bare_aws_secrets(bytes: &[u8], start: usize, end: usize, hits: &mut Vec<Hit>) {
    let key_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    let joins = |b: u8| key_byte(b) || b == b'_' || b == b'-';
    let mut k = start;
    while k < end {
        if !bytes.get(k).is_some_and(|&b| key_byte(b)) {
            k += 1;
            continue;
        }
        let s = k;
        while bytes.get(k).is_some_and(|&b| key_byte(b)) {
            k += 1;
        }
        let before = s.checked_sub(1).and_then(|p| bytes.get(p)).copied();
        let after = bytes.get(k).copied();
        if k - s != 40 || before.is_some_and(joins) || after.is_some_and(|b| joins(b) || b == b'=')
        {
            continue;
        }
        let Some(value) = bytes.get(s..k) else {
            continue;
        };
        let classes = value.iter().any(u8::is_ascii_uppercase)
            && value.iter().any(u8::is_ascii_lowercase)
            && value.iter().any(u8::is_ascii_digit);
        let text = std::str::from_utf8(value).unwrap_or("");
        if classes
            && !reads_as_words(value)
            && !ends_base64_block(bytes, s)
            && validate::shannon_entropy(value) >= 4.2
            && !validate::is_placeholder(text)
        {
            hits.push(Hit {
                generic: true,
                ..Hit::new("aws-secret-access-key", Category::Credential, s, k, false)
            });
        }
    }
}

/// Whether the line holding `at` continues a base64 block: the line before it ends in a run of
/// 60 or more base64 characters (a PEM or MIME body wraps at 64 or 76), so a 40-character
/// line is that block's last line, not a key. Escapes and quotes a source file wraps such
/// lines in (`\r\n"`) are skipped.
fn ends_base64_block(bytes: &[u8], at: usize) -> bool {
    let line_start = bytes
        .get(..at)
        .and_then(|b| b.iter().rposition(|&c| c == b'\n'))
        .map_or(0, |p| p + 1);
    let Some(prev) = line_start.checked_sub(1).and_then(|nl| bytes.get(..nl)) else {
        return false;
    };
    let mut e = prev.len();
    loop {
        let tail = prev.get(..e).unwrap_or_default();
        if let Some(t) = tail
            .strip_suffix(b"\\r\\n")
            .or_else(|| tail.strip_suffix(b"\\n"))
            .or_else(|| tail.strip_suffix(b"\\r"))
        {
            e = t.len();
        } else if tail
            .last()
            .is_some_and(|&c| matches!(c, b'\r' | b' ' | b'\t' | b'"' | b'\'' | b'\\' | b','))
        {
            e -= 1;
        } else {
            break;
        }
    }
    let run = prev
        .get(..e)
        .unwrap_or_default()
        .iter()
        .rev()
        .take_while(|&&c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
        .count();
    run >= 60
}

/// An identifier made of words (`ID3D12ShaderReflectionConstantBuffer`,
/// `totalInboundPerIPDiscardedPackets`): half its bytes or more sit in runs of three or more
/// lower-case letters. Random base64 of that length almost never does (a lower-case letter is
/// 26 of 64 symbols).
pub(crate) fn reads_as_words(value: &[u8]) -> bool {
    let mut in_runs = 0;
    let mut run = 0;
    for &b in value.iter().chain(std::iter::once(&b' ')) {
        if b.is_ascii_lowercase() {
            run += 1;
        } else {
            if run >= 3 {
                in_runs += run;
            }
            run = 0;
        }
    }
    in_runs * 2 >= value.len()
}

/// Sorts hits, removes duplicates, lets specific rules win over generic ones they overlap,
/// and drops a hit inside a larger hit of the same rule.
fn merge(hits: &mut Vec<Hit>) {
    hits.sort_by(|a, b| {
        (
            a.start,
            std::cmp::Reverse(a.end),
            a.generic,
            a.encoding.is_some(),
        )
            .cmp(&(
                b.start,
                std::cmp::Reverse(b.end),
                b.generic,
                b.encoding.is_some(),
            ))
    });
    let snapshot = hits.clone();
    let overlaps = |a: &Hit, b: &Hit| a.start < b.end && b.start < a.end;
    let mut kept: Vec<Hit> = Vec::with_capacity(hits.len());
    for (i, h) in snapshot.iter().enumerate() {
        // Neighbours in start order; a bounded look keeps merging linear on huge inputs.
        let near = snapshot
            .iter()
            .enumerate()
            .skip(i.saturating_sub(64))
            .take(129);
        let shadowed = near.into_iter().any(|(j, o)| {
            if i == j || !overlaps(h, o) {
                return false;
            }
            let same_span = o.start == h.start && o.end == h.end;
            (same_span && j < i)
                || (h.generic && !o.generic)
                || (o.rule == h.rule && o.start <= h.start && h.end <= o.end && !same_span)
        });
        if !shadowed {
            kept.push(h.clone());
        }
    }
    *hits = kept;
}
