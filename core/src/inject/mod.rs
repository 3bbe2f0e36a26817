//! Prompt-injection signals after Unicode normalisation.
//!
//! How a text is analysed:
//!
//! 1. [`normalize::normalize`] builds the plain view (invisible characters removed, NFKC,
//!    diacritics and confusables folded, lowercase) and notes hidden Unicode. Pure-ASCII text
//!    skips all of that and is only lowercased, which keeps benign prose cheap.
//! 2. Leetspeak and joined-spaced-letter views are derived only when the text holds leet
//!    characters touching letters, or runs of single letters.
//! 3. On each view an Aho-Corasick gate looks for the rules' keywords; a rule's pattern runs only
//!    in windows around its keywords (the rule's reach, 160 bytes either side for most).
//! 4. Text smuggled in Unicode tag characters and readable base64 blobs are scanned the same way.
//! 5. Each match becomes a [`Signal`] with byte offsets into the original text; the score is
//!    `1 - Π(1 - w)` over the distinct rules that fired.
//!
//! Signal names (stable, see [`SIGNAL_NAMES`]): `instruction-override`, `role-switch`,
//! `chat-template`, `prompt-leak`, `exfiltration`, `tool-poisoning`, `hidden-unicode`,
//! `indirect-address`, `encoded-instruction`.

mod encoded;
pub mod model;
pub mod normalize;
mod signals;

use std::borrow::Cow;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex_automata::Input;
use regex_automata::meta::Regex;
use serde::Serialize;

use normalize::{HiddenKind, Normalized, View};
pub use signals::{
    CHAT_TEMPLATE, ENCODED_INSTRUCTION, EXFILTRATION, HIDDEN_UNICODE, INDIRECT_ADDRESS,
    INSTRUCTION_OVERRIDE, MODEL, PROMPT_LEAK, ROLE_SWITCH, SIGNAL_NAMES, TOOL_POISONING,
};
use signals::{RULES, Rule, expand};

/// One signal that fired. `start..end` are byte offsets into the original (un-normalised) text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Signal {
    pub name: &'static str,
    pub start: usize,
    pub end: usize,
    pub weight: f32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct InjectionReport {
    /// 0.0 (nothing) .. 1.0 (certain): the model's and the rules' evidence fused.
    pub score: f32,
    /// The rules that fired and, when the model's own probability reaches the default
    /// threshold, a [`MODEL`] signal (weight = that probability) over the text or decoded blob
    /// it scored.
    pub signals: Vec<Signal>,
    /// The model's own probability (maximum over the views it read), 0.0 without a model.
    pub model: f32,
    /// The rules' own score, `1 - Π(1 - w)` over the rules that fired.
    pub heuristic: f32,
}

impl InjectionReport {
    pub fn is_injection(&self, threshold: f32) -> bool {
        self.score >= threshold
    }

    /// Whether a signal of this name fired.
    pub fn has(&self, name: &str) -> bool {
        self.signals.iter().any(|s| s.name == name)
    }
}

/// Signals kept per report; the score counts every rule that fired, even past this cap.
const MAX_SIGNALS: usize = 128;

/// Weights of hidden Unicode: weak on their own (emoji, bidi text and typography produce some),
/// telling next to anything else.
fn hidden_weight(kind: HiddenKind) -> f32 {
    match kind {
        HiddenKind::InvisibleInWord => 0.35,
        HiddenKind::InvisibleRun => 0.3,
        HiddenKind::TagCharacters => 0.45,
        HiddenKind::BidiControl => 0.3,
    }
}

fn hidden_id(kind: HiddenKind) -> usize {
    RULES.len()
        + match kind {
            HiddenKind::InvisibleInWord => 0,
            HiddenKind::InvisibleRun => 1,
            HiddenKind::TagCharacters => 2,
            HiddenKind::BidiControl => 3,
        }
}

const RULE_IDS: usize = 4; // hidden kinds beyond RULES

#[derive(Debug)]
pub struct InjectionDetector {
    /// `None` only if the keyword automaton failed to build; every pattern then runs on the
    /// whole text (slow, never blind).
    gate: Option<AhoCorasick>,
    /// Gate keyword index → rules it triggers.
    keyword_rules: Vec<Vec<usize>>,
    /// Per rule: the pattern for ordinary views (`None` for keyword-only rules).
    normal: Vec<Option<Regex>>,
    /// Per rule: the pattern for joined views, compiled on first need (spaced text is rare).
    joined: OnceLock<Vec<Option<Regex>>>,
    errors: Vec<String>,
    /// Whether the trained model is read beside the rules (policy `detectors.injection_model`).
    use_model: bool,
}

impl Default for InjectionDetector {
    fn default() -> Self {
        Self::new()
    }
}

/// Where the signals of one view go.
struct Sink<'a> {
    signals: &'a mut Vec<Signal>,
    fired: &'a mut [bool],
    /// Report every signal at this span (content decoded from a blob).
    span: Option<(usize, usize)>,
}

impl Sink<'_> {
    fn emit(&mut self, id: usize, name: &'static str, weight: f32, start: usize, end: usize) {
        if let Some(f) = self.fired.get_mut(id) {
            *f = true;
        }
        let (start, end) = self.span.unwrap_or((start, end));
        if self.signals.len() < MAX_SIGNALS * 4 {
            self.signals.push(Signal {
                name,
                start,
                end,
                weight,
            });
        }
    }
}

/// A stretch of a view where a rule's pattern has to confirm its keywords.
struct Candidate {
    rule: usize,
    start: usize,
    end: usize,
}

impl InjectionDetector {
    /// The detector with the trained model beside the rules; its scores are meant for
    /// [`Self::MODEL_THRESHOLD`].
    pub fn with_model() -> Self {
        InjectionDetector {
            use_model: true,
            ..Self::new()
        }
    }

    /// The rules alone (the built-in default).
    pub fn new() -> Self {
        let mut errors = Vec::new();
        let mut keywords: Vec<&'static str> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        for (id, rule) in RULES.iter().enumerate() {
            for kw in rule.keywords {
                match keywords.iter().position(|k| k == kw) {
                    Some(i) => {
                        if let Some(list) = keyword_rules.get_mut(i) {
                            list.push(id);
                        }
                    }
                    None => {
                        keywords.push(kw);
                        keyword_rules.push(vec![id]);
                    }
                }
            }
        }
        // The gate reports leftmost-longest, non-overlapping matches (fast: prefilters skip
        // ahead). A keyword found inside a longer one would be hidden by it, so a longer
        // keyword also triggers the rules of every keyword it contains.
        let contained: Vec<Vec<usize>> = keywords
            .iter()
            .map(|long| {
                keywords
                    .iter()
                    .enumerate()
                    .filter(|(_, short)| short.len() < long.len() && long.contains(*short))
                    .flat_map(|(i, _)| keyword_rules.get(i).cloned().unwrap_or_default())
                    .collect()
            })
            .collect();
        for (list, extra) in keyword_rules.iter_mut().zip(contained) {
            list.extend(extra);
            list.sort_unstable();
            list.dedup();
        }
        // A full DFA without prefilter: hundreds of keywords, many starting with common
        // letters, defeat prefilters, while a DFA walks prose at a steady byte-per-step pace.
        let gate = match AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .prefilter(false)
            .build(&keywords)
        {
            Ok(ac) => Some(ac),
            Err(e) => {
                errors.push(format!("keyword gate: {e}"));
                None
            }
        };
        let normal = compile_all(false, &mut errors);
        InjectionDetector {
            gate,
            keyword_rules,
            normal,
            joined: OnceLock::new(),
            errors,
            use_model: false,
        }
    }

    /// Patterns that failed to compile (each disables one rule). Empty in a correct build; the
    /// test suite asserts it.
    pub fn rule_errors(&self) -> &[String] {
        &self.errors
    }

    /// Analyses `text`: rules and model over its normalised and decoded views, fused into one
    /// score.
    pub fn analyze(&self, text: &str) -> InjectionReport {
        let norm = normalize::normalize(text);
        let mut report = self.rules(text, &norm);
        // Nothing to read: no evidence either way.
        if norm.view.text().trim_matches(model::is_space).is_empty() && norm.tags.is_none() {
            report.heuristic = report.score;
            return report;
        }
        let model = if self.use_model { model::model() } else { None };
        let Some(model) = model else {
            report.heuristic = report.score;
            return report;
        };
        let mut scratch = String::new();
        let mut best: Option<(f32, (usize, usize))> = None;
        for view in model_views(text, &norm) {
            let (z, _, _) = model.view_logit(&view.text, &mut scratch);
            if best.is_none_or(|(b, _)| z > b) {
                best = Some((z, view.span));
            }
        }
        let (z, span) = best.unwrap_or((model.bias, (0, text.len())));
        let p = model::sigmoid(z);
        report.heuristic = report.score;
        report.model = p;
        report.score = model.fuse(z, report.heuristic).clamp(0.0, 1.0);
        if p >= Self::MODEL_THRESHOLD && report.signals.len() < MAX_SIGNALS {
            report.signals.push(Signal {
                name: MODEL,
                start: span.0,
                end: span.1,
                weight: p,
            });
            report.signals.sort_by(|a, b| {
                (a.start, a.end, a.name)
                    .cmp(&(b.start, b.end, b.name))
                    .then(b.weight.total_cmp(&a.weight))
            });
        }
        report
    }

    /// The rules alone (the report's `score` is the rules' score) and the views the model
    /// reads. For the training script's export and for diagnostics.
    #[doc(hidden)]
    pub fn rules_and_views(&self, text: &str) -> (InjectionReport, Vec<String>) {
        let norm = normalize::normalize(text);
        let report = self.rules(text, &norm);
        let views = model_views(text, &norm)
            .into_iter()
            .map(|v| v.text.into_owned())
            .collect();
        (report, views)
    }

    /// The rules over every view; `score` is `1 - Π(1 - w)` over the rules that fired.
    fn rules(&self, text: &str, norm: &Normalized) -> InjectionReport {
        let mut signals = Vec::new();
        let mut fired = vec![false; RULES.len() + RULE_IDS];
        {
            let mut sink = Sink {
                signals: &mut signals,
                fired: &mut fired,
                span: None,
            };
            self.scan_view(&norm.view, &mut sink);
            for mark in &norm.hidden {
                sink.emit(
                    hidden_id(mark.kind),
                    HIDDEN_UNICODE,
                    hidden_weight(mark.kind),
                    mark.start,
                    mark.end,
                );
            }
            if let Some(tags) = &norm.tags {
                self.scan_view(tags, &mut sink);
            }
        }
        for (start, end) in encoded::runs(text) {
            let Some(decoded) = text.get(start..end).and_then(encoded::decode) else {
                continue;
            };
            let inner = normalize::normalize(&decoded);
            let mut sink = Sink {
                signals: &mut signals,
                fired: &mut fired,
                span: Some((start, end)),
            };
            self.scan_view(&inner.view, &mut sink);
        }

        let mut keep = 1.0f32;
        for (id, hit) in fired.iter().enumerate() {
            if !hit {
                continue;
            }
            let w = RULES
                .get(id)
                .map(|r| r.weight)
                .or_else(|| {
                    [
                        HiddenKind::InvisibleInWord,
                        HiddenKind::InvisibleRun,
                        HiddenKind::TagCharacters,
                        HiddenKind::BidiControl,
                    ]
                    .into_iter()
                    .find(|k| hidden_id(*k) == id)
                    .map(hidden_weight)
                })
                .unwrap_or(0.0);
            keep *= 1.0 - w.clamp(0.0, 1.0);
        }
        signals.sort_by(|a, b| {
            (a.start, a.end, a.name)
                .cmp(&(b.start, b.end, b.name))
                .then(b.weight.total_cmp(&a.weight))
        });
        signals.dedup_by(|a, b| a.name == b.name && a.start == b.start && a.end == b.end);
        signals.truncate(MAX_SIGNALS);
        InjectionReport {
            score: (1.0 - keep).clamp(0.0, 1.0),
            signals,
            model: 0.0,
            heuristic: 0.0,
        }
    }

    /// Score at or above which the default policy (rules alone) reports an injection finding.
    pub const DEFAULT_THRESHOLD: f32 = 0.5;

    /// Threshold for the fused score of [`Self::with_model`]: the lowest that keeps false
    /// positives at or under 1 % of the training corpus's dev benign rows (`model.json`).
    pub const MODEL_THRESHOLD: f32 = 0.614;

    /// Scans a view and the leet and joined views derived from it.
    fn scan_view(&self, view: &View, sink: &mut Sink<'_>) {
        self.scan_text(view, None, sink);
        for leet in normalize::leet_views(view) {
            self.scan_text(&leet, None, sink);
        }
        if let Some((joined, runs)) = normalize::join_spaced(view) {
            self.scan_text(&joined, Some(&runs), sink);
            for leet in normalize::leet_views(&joined) {
                self.scan_text(&leet, Some(&runs), sink);
            }
        }
    }

    /// Runs the gate and the gated patterns over one view. `joined_runs` marks a joined view:
    /// its patterns tolerate missing word gaps, so only matches touching a joined run count.
    fn scan_text(&self, view: &View, joined_runs: Option<&[(usize, usize)]>, sink: &mut Sink<'_>) {
        let text = view.text();
        if text.is_empty() {
            return;
        }
        // Windows per rule. Gate hits arrive in text order, so each rule's windows can be merged
        // as they come: `open` holds the rule's current window, `windows` the closed ones.
        let mut open: Vec<Option<(usize, usize)>> = vec![None; RULES.len()];
        let mut windows: Vec<Candidate> = Vec::new();
        let mut gated = false;
        if let Some(gate) = &self.gate
            && let Ok(iter) = gate.try_find_iter(text)
        {
            gated = true;
            for m in iter {
                let rules = self.keyword_rules.get(m.pattern().as_usize());
                for &id in rules.map(Vec::as_slice).unwrap_or_default() {
                    let Some(rule) = RULES.get(id) else { continue };
                    if rule.pattern.is_empty() {
                        if touches_run(joined_runs, m.start(), m.end()) {
                            let (s, e) = view.to_original(m.start(), m.end());
                            sink.emit(id, rule.signal, rule.weight, s, e);
                        }
                    } else {
                        let start = m.start().saturating_sub(rule.reach);
                        let end = m.end().saturating_add(rule.reach).min(text.len());
                        let Some(slot) = open.get_mut(id) else {
                            continue;
                        };
                        match slot {
                            Some((_, e)) if start <= *e => *e = end.max(*e),
                            Some((s, e)) => {
                                windows.push(Candidate {
                                    rule: id,
                                    start: *s,
                                    end: *e,
                                });
                                *slot = Some((start, end));
                            }
                            None => *slot = Some((start, end)),
                        }
                    }
                }
            }
        }
        if !gated {
            for (id, rule) in RULES.iter().enumerate() {
                if !rule.pattern.is_empty()
                    && let Some(slot) = open.get_mut(id)
                {
                    *slot = Some((0, text.len()));
                }
            }
        }
        for (id, slot) in open.into_iter().enumerate() {
            if let Some((start, end)) = slot {
                windows.push(Candidate {
                    rule: id,
                    start,
                    end,
                });
            }
        }
        if windows.is_empty() {
            return;
        }
        let regexes = if joined_runs.is_some() {
            self.joined
                .get_or_init(|| compile_all(true, &mut Vec::new()))
        } else {
            &self.normal
        };
        for w in windows {
            let rule_id = w.rule;
            let (Some(rule), Some(Some(re))) = (RULES.get(rule_id), regexes.get(rule_id)) else {
                continue;
            };
            let start = floor_boundary(text, w.start);
            let end = ceil_boundary(text, w.end);
            if !rule.also.is_empty() {
                let window = text.get(start..end).unwrap_or_default();
                if !rule.also.iter().any(|k| window.contains(k)) {
                    continue;
                }
            }
            for m in re.find_iter(Input::new(text).range(start..end)) {
                if m.is_empty()
                    || !touches_run(joined_runs, m.start(), m.end())
                    || (rule.negatable && negated(text, m.start()))
                {
                    continue;
                }
                let (s, e) = view.to_original(m.start(), m.end());
                sink.emit(rule_id, rule.signal, rule.weight, s, e);
            }
        }
    }
}

/// One text the model reads, and the span of the original it stands for.
struct ModelView<'a> {
    text: Cow<'a, str>,
    span: (usize, usize),
}

/// Decoded views per text, so a text made of blobs costs a bounded amount of work.
const MAX_DECODED_VIEWS: usize = encoded::MAX_RUNS;

/// The views the model scores: the plain view; its leetspeak view (`1→i`); the view with
/// spaced-out letters joined; text smuggled in tag characters; readable base64 and hex runs,
/// decoded and normalised; and a ROT13 view when the text mentions ROT13.
fn model_views<'a>(text: &str, norm: &'a Normalized) -> Vec<ModelView<'a>> {
    let whole = (0, text.len());
    let plain = norm.view.text();
    let mut views = vec![ModelView {
        text: Cow::Borrowed(plain),
        span: whole,
    }];
    if let Some(leet) = normalize::leet_views(&norm.view).into_iter().next() {
        views.push(ModelView {
            text: Cow::Owned(leet.text().to_string()),
            span: whole,
        });
    }
    if let Some((joined, _)) = normalize::join_spaced(&norm.view) {
        views.push(ModelView {
            text: Cow::Owned(joined.text().to_string()),
            span: whole,
        });
    }
    if let Some(tags) = &norm.tags {
        let span = norm
            .hidden
            .iter()
            .filter(|m| m.kind == HiddenKind::TagCharacters)
            .fold(None, |acc: Option<(usize, usize)>, m| {
                Some(acc.map_or((m.start, m.end), |(s, e)| (s.min(m.start), e.max(m.end))))
            })
            .unwrap_or(whole);
        views.push(ModelView {
            text: Cow::Borrowed(tags.text()),
            span,
        });
    }
    if ["rot13", "rot-13", "rot 13"]
        .iter()
        .any(|k| plain.contains(k))
    {
        views.push(ModelView {
            text: Cow::Owned(rot13(plain)),
            span: whole,
        });
    }
    // Decoded runs: the detector's own base64 runs, then the secret scanner's base64/hex
    // decoder (shorter runs, hex, misaligned prefixes).
    let mut decoded: Vec<(String, (usize, usize))> = Vec::new();
    for (start, end) in encoded::runs(text) {
        if let Some(d) = text.get(start..end).and_then(encoded::decode) {
            decoded.push((d, (start, end)));
        }
    }
    let mut more = Vec::new();
    crate::detect::decode::runs_in(text.as_bytes(), 0, text.len(), &mut more);
    for d in more {
        if !decoded.iter().any(|(t, _)| *t == d.text) {
            decoded.push((d.text, (d.start, d.end)));
        }
    }
    for (d, span) in decoded.into_iter().take(MAX_DECODED_VIEWS) {
        let inner = normalize::normalize(&d);
        views.push(ModelView {
            text: Cow::Owned(inner.view.text().to_string()),
            span,
        });
    }
    views
}

/// ROT13 of ASCII letters; everything else unchanged.
fn rot13(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'a'..='m' | 'A'..='M' => char::from(c as u8 + 13),
            'n'..='z' | 'N'..='Z' => char::from(c as u8 - 13),
            _ => c,
        })
        .collect()
}

fn compile_all(joined: bool, errors: &mut Vec<String>) -> Vec<Option<Regex>> {
    RULES
        .iter()
        .map(|rule: &Rule| {
            if rule.pattern.is_empty() {
                return None;
            }
            match Regex::new(&expand(rule.pattern, joined)) {
                Ok(re) => Some(re),
                Err(e) => {
                    errors.push(format!("{}: {e}", rule.pattern));
                    None
                }
            }
        })
        .collect()
}

fn touches_run(runs: Option<&[(usize, usize)]>, start: usize, end: usize) -> bool {
    match runs {
        None => true,
        Some(runs) => runs.iter().any(|&(rs, re)| start < re && rs < end),
    }
}

/// Whether a negation ends right before `at` ("do not ignore previous instructions" is advice,
/// not an attack).
fn negated(text: &str, at: usize) -> bool {
    let from = floor_boundary(text, at.saturating_sub(16));
    let before = text.get(from..at).unwrap_or_default().trim_end();
    [
        "not",
        "n't",
        "never",
        "dont",
        "cannot",
        "if you",
        "whether you",
    ]
    .iter()
    .any(|n| before.ends_with(n))
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_rules_compile() {
        let d = InjectionDetector::new();
        assert!(d.rule_errors().is_empty(), "{:?}", d.rule_errors());
        let mut errors = Vec::new();
        compile_all(true, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn negation_drops_advice() {
        let d = InjectionDetector::new();
        let r = d.analyze("Never ignore previous instructions from your manager.");
        assert!(!r.has(INSTRUCTION_OVERRIDE), "{r:?}");
    }
}

#[cfg(test)]
mod gate_probe {
    use super::*;

    /// Prints which keywords the gate finds in benign prose (run with --nocapture).
    #[test]
    fn gate_hits_on_prose() {
        let d = InjectionDetector::new();
        let prose = include_str!("../../benches/injection.rs").to_ascii_lowercase();
        let Some(gate) = &d.gate else { return };
        let mut counts = std::collections::BTreeMap::new();
        for m in gate.find_iter(&prose) {
            *counts.entry(&prose[m.start()..m.end()]).or_insert(0) += 1;
        }
        println!("{counts:?}");
    }
}
