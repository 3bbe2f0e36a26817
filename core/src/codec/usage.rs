//! Token counts the providers put in their answers. They are read during the walk each response
//! document already gets for its text fields (see [`super::shapes`]), so the numbers cost no
//! second parse; nothing here can change what leaves or what is decided.

use serde::{Deserialize, Serialize};

/// Which count a number token reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Count {
    Input,
    Output,
}

/// Token counts as the provider reported them in the answer (never estimated).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenUsage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
}

impl TokenUsage {
    /// Nothing was reported.
    pub fn is_empty(&self) -> bool {
        self.input_tokens.is_none() && self.output_tokens.is_none()
    }

    /// The reported counts as `(token type, count)`, `input` before `output`: the samples of
    /// a token metric (the type names are those of OpenTelemetry's `gen_ai.token.type`).
    pub fn by_type(&self) -> impl Iterator<Item = (&'static str, u64)> {
        [("input", self.input_tokens), ("output", self.output_tokens)]
            .into_iter()
            .filter_map(|(t, n)| n.map(|n| (t, n)))
    }

    /// Takes every count `later` reports: each provider's counts are cumulative or final, so
    /// the newest report of a field is the one that holds.
    pub fn update(&mut self, later: TokenUsage) {
        if later.input_tokens.is_some() {
            self.input_tokens = later.input_tokens;
        }
        if later.output_tokens.is_some() {
            self.output_tokens = later.output_tokens;
        }
    }

    /// Records `token` as the `count` when it is a plain non-negative integer that fits a
    /// `u64`; anything else (a fraction, an exponent, a sign, an overflow) is not a count and
    /// leaves the field as it was.
    pub(crate) fn set(&mut self, count: Count, token: &[u8]) {
        let Some(n) = parse_u64(token) else { return };
        match count {
            Count::Input => self.input_tokens = Some(n),
            Count::Output => self.output_tokens = Some(n),
        }
    }
}

fn parse_u64(token: &[u8]) -> Option<u64> {
    if token.is_empty() || !token.iter().all(u8::is_ascii_digit) {
        return None;
    }
    token.iter().try_fold(0u64, |n, &b| {
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_integers_that_fit_are_counts() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"42"), Some(42));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            &b""[..],
            b"18446744073709551616",
            b"99999999999999999999999",
            b"-1",
            b"1.5",
            b"1e3",
            b"12.0",
            b"\"7\"",
        ] {
            assert_eq!(parse_u64(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn a_later_report_replaces_only_the_fields_it_carries() {
        let mut u = TokenUsage {
            input_tokens: Some(25),
            output_tokens: Some(1),
        };
        u.update(TokenUsage {
            input_tokens: None,
            output_tokens: Some(23),
        });
        assert_eq!(
            u,
            TokenUsage {
                input_tokens: Some(25),
                output_tokens: Some(23)
            }
        );
        let mut v = TokenUsage::default();
        v.set(Count::Input, b"-3");
        v.set(Count::Output, b"1e9");
        assert!(v.is_empty());
    }
}
