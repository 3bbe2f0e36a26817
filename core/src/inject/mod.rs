//! Prompt-injection signals after Unicode normalisation.

use serde::Serialize;

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
    /// 0.0 (nothing) .. 1.0 (certain).
    pub score: f32,
    pub signals: Vec<Signal>,
}

impl InjectionReport {
    pub fn is_injection(&self, threshold: f32) -> bool {
        self.score >= threshold
    }
}

#[derive(Debug, Default)]
pub struct InjectionDetector {}

impl InjectionDetector {
    pub fn new() -> Self {
        InjectionDetector {}
    }

    pub fn analyze(&self, _text: &str) -> InjectionReport {
        InjectionReport::default()
    }

    /// Score at or above which the default policy reports an injection finding.
    pub const DEFAULT_THRESHOLD: f32 = 0.5;
}
