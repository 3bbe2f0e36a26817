//! What a detector reports. Findings carry positions and rule ids, never the matched value,
//! so they can be logged, counted and audited without leaking what they point at.

use serde::Serialize;

use crate::policy::Action;

/// The families of things Sluice looks for; policies act per category. Besides the three
/// built-in ones, a policy may name its own (`confidential`, `customer-id`) for its custom
/// detectors; such a category carries the action its detectors asked for, so every direction
/// and every adapter treats it alike without a lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Credential,
    Pii,
    Injection,
    Custom(&'static CustomCategory),
}

/// A policy-defined category. Interned (see `detect::custom`), so equal definitions share
/// one address and the type stays `Copy`.
#[derive(Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomCategory {
    pub name: &'static str,
    /// What happens to its findings when no rule decides, in both directions.
    pub action: Action,
}

impl Category {
    pub const ALL: [Category; 3] = [Category::Credential, Category::Pii, Category::Injection];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Credential => "credential",
            Category::Pii => "pii",
            Category::Injection => "injection",
            Category::Custom(c) => c.name,
        }
    }

    /// Position among [`Category::ALL`]; `None` for a custom category.
    pub fn builtin_index(self) -> Option<usize> {
        match self {
            Category::Credential => Some(0),
            Category::Pii => Some(1),
            Category::Injection => Some(2),
            Category::Custom(_) => None,
        }
    }
}

impl Serialize for Category {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
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
