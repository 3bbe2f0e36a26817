//! Credential and PII detection over plain text.
//!
//! `Scanner` is built once per policy and shared (it is `Send + Sync`); scanning allocates
//! only into the caller's `Vec`.

use crate::finding::Finding;

/// Which detector families are enabled. Built from the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetectorOptions {
    pub credentials: bool,
    pub email: bool,
    pub phone: bool,
    pub payment_card: bool,
    pub us_ssn: bool,
    pub iban: bool,
    pub ip_address: bool,
    /// Look inside base64 / hex / percent / JSON-escape runs.
    pub decoders: bool,
    /// How many nested encodings to peel (base64 of hex of ...).
    pub decode_depth: u8,
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
            decoders: true,
            decode_depth: 2,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("detector pattern {rule} does not compile: {reason}")]
    Pattern { rule: String, reason: String },
}

/// The credential + PII scanner.
#[derive(Debug)]
pub struct Scanner {
    #[allow(dead_code)]
    options: DetectorOptions,
}

impl Scanner {
    pub fn new(options: &DetectorOptions) -> Result<Scanner, BuildError> {
        Ok(Scanner {
            options: options.clone(),
        })
    }

    /// Appends every finding in `text` to `out`, sorted by `start`, overlapping findings merged
    /// or kept as the catalogue decides.
    pub fn scan(&self, _text: &str, _out: &mut Vec<Finding>) {}

    /// The earliest byte offset in `text` at which some enabled rule could still produce a
    /// match (or a longer match) once more text is appended. `text.len()` when nothing is
    /// viable, so ordinary prose is never held back. Always on a char boundary.
    pub fn viable_from(&self, text: &str) -> usize {
        text.len()
    }
}
