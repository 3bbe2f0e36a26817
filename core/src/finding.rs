//! What a detector reports. Findings carry positions and rule ids, never the matched value,
//! so they can be logged, counted and audited without leaking what they point at.

use serde::Serialize;

/// The three families of things Sluice looks for; policies act per category.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Credential,
    Pii,
    Injection,
}

impl Category {
    pub const ALL: [Category; 3] = [Category::Credential, Category::Pii, Category::Injection];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Credential => "credential",
            Category::Pii => "pii",
            Category::Injection => "injection",
        }
    }
}

/// The encoding a secret was hidden in, when it was found only after decoding a run of text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    Base64,
    Base64Url,
    Hex,
    Percent,
    JsonEscape,
}

/// One detection. `start..end` are byte offsets into the text that was scanned; for a secret
/// found inside an encoded run they cover the whole encoded run, so masking that span removes
/// the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub category: Category,
    pub start: usize,
    pub end: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
    /// True when an issuer-defined validator (checksum, Luhn, mod-97, structure) accepted it.
    pub validated: bool,
}
