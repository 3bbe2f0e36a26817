//! Streaming holdback redaction (DESIGN.md §5).
//!
//! A secret split across stream events (`"AK"`, `"IAIOSF…"`) must be masked without buffering
//! the answer. Each logical text stream keeps the text decoded but not yet released; after
//! every delta the scanner says from where a match could still grow (`viable_from`), and
//! everything before that point leaves at once, masked where findings are. Ordinary prose
//! therefore flows with no delay; only a viable prefix (`AKI`, a digit run, an open PEM block)
//! waits, and never more than the cap.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::audit::FingerprintKey;
use crate::audit::fingerprint::FINGERPRINT_BYTES;
use crate::codec::{Role, StreamKey, TextFilter, TextRef};
use crate::detect::Scanner;
use crate::finding::{Category, Finding};
use crate::inject::InjectionDetector;
use crate::policy::roles::RoleThresholds;
use crate::policy::{Action, DirectionPolicy};

/// Already-released text kept to the left of the pending text, so that a keyword that left
/// earlier (`password=`) still gives context to the value arriving now.
const LEFT_CONTEXT: usize = 128;

/// Streamed text per key kept for injection analysis at the end of the stream.
const INJECTION_WINDOW: usize = 8 * 1024;

/// Rule id used when the cap forces a decision on text that might still be a secret.
pub const CAP_RULE: &str = "holdback-cap";

/// The text that replaces a masked span.
pub fn mask_for(rule: &str) -> String {
    format!("[REDACTED:{rule}]")
}

/// One finding as the redactor counts it: which rule, which category, and what was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    pub rule: &'static str,
    pub category: Category,
    pub action: Action,
    pub role: Role,
    /// Keyed fingerprint of the matched text, when the redactor has a fingerprint key.
    pub fingerprint: Option<[u8; FINGERPRINT_BYTES]>,
}

/// How much streamed text waited for a later event, over the life of a redactor: what the
/// holdback cost the client in delay. Counts only; never the text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeldBack {
    /// Text deltas (one per stream event, about one model token each) that did not leave
    /// whole with their own event: some of their text waited for a later one.
    pub tokens: u64,
    /// Bytes of text that left in a later event than the one that brought them (each byte
    /// counted once, however many events it waited).
    pub bytes: u64,
}

/// Pending text of one logical stream.
#[derive(Debug, Default)]
struct Holdback {
    /// Left context (already released) followed by pending text.
    buf: String,
    /// Bytes of `buf` already released.
    released: usize,
    role: Option<Role>,
    /// Recent text for the injection check at the end of the stream.
    recent: String,
}

/// The [`TextFilter`] that enforces a direction's policy: masks, flags, or asks to block.
#[derive(Debug)]
pub struct Redactor {
    scanner: Arc<Scanner>,
    /// Decides what to hold: only the families this direction masks or blocks, so a flagged
    /// family (counted, not masked) never delays text.
    hold: Arc<Scanner>,
    injection: Option<(Arc<InjectionDetector>, RoleThresholds)>,
    policy: DirectionPolicy,
    cap: usize,
    streams: BTreeMap<StreamKey, Holdback>,
    findings: Vec<Counted>,
    blocked: bool,
    scratch: Vec<Finding>,
    fingerprint: Option<Arc<FingerprintKey>>,
    held_back: HeldBack,
    /// Findings counted before the current message began (see [`TextFilter::refuse_message`]).
    message_start: usize,
}

impl Redactor {
    pub fn new(
        scanner: Arc<Scanner>,
        hold: Arc<Scanner>,
        injection: Option<(Arc<InjectionDetector>, RoleThresholds)>,
        policy: DirectionPolicy,
        cap: usize,
    ) -> Self {
        Redactor {
            scanner,
            hold,
            injection,
            policy,
            cap: cap.max(64),
            streams: BTreeMap::new(),
            findings: Vec::new(),
            blocked: false,
            scratch: Vec::new(),
            fingerprint: None,
            held_back: HeldBack::default(),
            message_start: 0,
        }
    }

    /// Fingerprints each counted finding's matched text under `key` (for the audit record).
    pub fn with_fingerprints(mut self, key: Option<Arc<FingerprintKey>>) -> Self {
        self.fingerprint = key;
        self
    }

    /// True once a finding whose action is `block` was seen that no refused message answered
    /// (see [`TextFilter::refuse_message`]): the stream must then be stopped.
    pub fn blocked(&self) -> bool {
        self.blocked
    }

    /// Findings counted so far (each once, when its text was released).
    pub fn findings(&self) -> &[Counted] {
        &self.findings
    }

    /// Text that waited for a later event so far (for metrics).
    pub fn held_back(&self) -> HeldBack {
        self.held_back
    }

    /// Bytes currently held back across all streams (bounded by `cap` per stream).
    pub fn held_bytes(&self) -> usize {
        self.streams
            .values()
            .map(|h| h.buf.len() - h.released)
            .sum()
    }

    fn count(
        &mut self,
        rule: &'static str,
        category: Category,
        role: Role,
        value: Option<&str>,
    ) -> Action {
        let mut action = self.policy.action_for(rule, category);
        // Data classes (a code block, a dump) are flagged at most: masking a whole block
        // would corrupt the text, and a policy refuses them with a rule instead.
        if crate::detect::classify::is_data_class(category)
            && matches!(action, Action::Mask | Action::Block)
        {
            action = Action::Flag;
        }
        if action == Action::Block {
            self.blocked = true;
        }
        if action != Action::Allow {
            let fingerprint = match (&self.fingerprint, value) {
                (Some(key), Some(v)) => Some(key.fingerprint(v.as_bytes())),
                _ => None,
            };
            self.findings.push(Counted {
                rule,
                category,
                action,
                role,
                fingerprint,
            });
        }
        action
    }

    /// Masks and counts the findings in `text[from..to]`, appending the released text to `out`.
    /// `findings` must be sorted by start.
    fn release(
        &mut self,
        text: &str,
        from: usize,
        to: usize,
        findings: &[Finding],
        role: Role,
        out: &mut String,
    ) {
        let mut cursor = from;
        for f in findings {
            if f.end <= from || f.start >= to {
                continue;
            }
            // Count each finding once: when the region holding its start is released (a finding
            // whose start left earlier is a late discovery and is counted now).
            // A data-class span is a whole block: nothing worth fingerprinting, never masked.
            let data_class = crate::detect::classify::is_data_class(f.category);
            let value = (!data_class).then(|| text.get(f.start..f.end)).flatten();
            let action = self.count(f.rule, f.category, role, value);
            if data_class || !matches!(action, Action::Mask | Action::Block) {
                continue;
            }
            let start = f.start.max(from).max(cursor);
            let end = f.end.min(to);
            if start >= end {
                continue;
            }
            out.push_str(&text[cursor..start]);
            out.push_str(&mask_for(f.rule));
            cursor = end;
        }
        out.push_str(&text[cursor..to]);
    }

    fn check_injection(&mut self, text: &str, role: Role) {
        let Some((detector, thresholds)) = &self.injection else {
            return;
        };
        // A role the policy does not score (by default the operator's system prompt).
        let Some(threshold) = thresholds.get(role) else {
            return;
        };
        if text.is_empty() {
            return;
        }
        let report = detector.analyze(text);
        if report.is_injection(threshold) {
            self.count("prompt-injection", Category::Injection, role, None);
        }
    }

    fn scan_into_scratch(&mut self, text: &str) -> Vec<Finding> {
        let mut findings = std::mem::take(&mut self.scratch);
        findings.clear();
        self.scanner.scan(text, &mut findings);
        findings.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
        findings
    }
}

/// Largest char boundary `<= i`.
fn floor_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl TextFilter for Redactor {
    fn delta(&mut self, text: TextRef<'_>, out: &mut String) {
        let mut hb = self.streams.remove(&text.key).unwrap_or_default();
        hb.role = Some(text.role);
        hb.buf.push_str(text.text);
        if self.injection.is_some() && hb.recent.len() < INJECTION_WINDOW {
            let room = INJECTION_WINDOW - hb.recent.len();
            hb.recent
                .push_str(&text.text[..floor_boundary(text.text, room)]);
        }

        let findings = self.scan_into_scratch(&hb.buf);
        let hold = self.hold.hold(&hb.buf);
        let mut safe = hold.release.max(hb.released);
        // Never cut a finding in two: hold all of one that straddles the safe point.
        for f in &findings {
            if f.start < safe && f.end > safe && f.start >= hb.released {
                safe = f.start;
            }
        }
        let pending = hb.buf.len() - safe.max(hb.released);
        if pending >= self.cap {
            // Decide on what is there: mask a possible partial secret rather than leak it.
            let viable = safe.max(hb.released);
            let buf = std::mem::take(&mut hb.buf);
            self.release(&buf, hb.released, viable, &findings, text.role, out);
            let tail_findings: Vec<Finding> = findings
                .iter()
                .filter(|f| f.end > viable)
                .cloned()
                .collect();
            if tail_findings.is_empty() {
                self.count(CAP_RULE, Category::Credential, text.role, None);
                if matches!(self.policy.credential, Action::Mask | Action::Block) {
                    out.push_str(&mask_for(CAP_RULE));
                } else {
                    out.push_str(&buf[viable..]);
                }
            } else {
                self.release(&buf, viable, buf.len(), &tail_findings, text.role, out);
            }
            hb.buf = buf;
            hb.released = hb.buf.len();
        } else if safe > hb.released {
            let buf = std::mem::take(&mut hb.buf);
            self.release(&buf, hb.released, safe, &findings, text.role, out);
            hb.buf = buf;
            hb.released = safe;
        }
        self.scratch = findings;

        // The pending text is a suffix of the buffer, so the part of it this delta brought is
        // at most the delta's own length; bytes pending since an earlier delta were counted then.
        let waiting = hb.buf.len() - hb.released;
        if waiting > 0 && !text.text.is_empty() {
            self.held_back.tokens += 1;
            self.held_back.bytes += waiting.min(text.text.len()) as u64;
        }

        // Keep only a short left context, and any context a pending value still needs.
        let keep = hb.released.saturating_sub(LEFT_CONTEXT).min(hold.context);
        if keep > 0 {
            let cut = floor_boundary(&hb.buf, keep);
            hb.buf.drain(..cut);
            hb.released -= cut;
        }
        self.streams.insert(text.key, hb);
    }

    fn full(&mut self, text: TextRef<'_>, out: &mut String) {
        let mut findings = self.scan_into_scratch(text.text);
        // A whole text: the data classes judge it here (never in deltas, so they hold
        // nothing back).
        if self.scanner.classifies() {
            self.scanner.classify(text.text, &mut findings);
            findings.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
        }
        self.release(text.text, 0, text.text.len(), &findings, text.role, out);
        self.scratch = findings;
        self.check_injection(text.text, text.role);
    }

    fn end(&mut self, key: StreamKey, out: &mut String) {
        let Some(hb) = self.streams.remove(&key) else {
            return;
        };
        let role = hb.role.unwrap_or(Role::Other);
        if hb.released < hb.buf.len() {
            let findings = self.scan_into_scratch(&hb.buf);
            self.release(&hb.buf, hb.released, hb.buf.len(), &findings, role, out);
            self.scratch = findings;
        }
        self.check_injection(&hb.recent, role);
    }

    fn held_keys(&self, out: &mut Vec<StreamKey>) {
        out.extend(self.streams.keys().copied());
    }

    /// Refuses the message when a finding it carried is blocked. The block is answered by
    /// the refusal (the message never leaves), so it no longer stops the rest of the body.
    fn refuse_message(&mut self) -> Option<String> {
        let start = std::mem::replace(&mut self.message_start, self.findings.len());
        if !self.blocked {
            return None;
        }
        self.blocked = false;
        let mut cats: Vec<&'static str> = self
            .findings
            .get(start..)
            .unwrap_or_default()
            .iter()
            .filter(|f| f.action == Action::Block)
            .map(|f| f.category.as_str())
            .collect();
        cats.sort_unstable();
        cats.dedup();
        let what = if cats.is_empty() {
            "disallowed content".to_string()
        } else {
            cats.join(", ")
        };
        Some(format!("message blocked by policy: it contains {what}"))
    }
}
