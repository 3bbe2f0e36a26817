//! Encoded views of the text: base64 (standard and URL-safe), hex, percent-encoding and JSON
//! string escapes. Each view is scanned like plain text; findings in it are mapped back to
//! the original text (the whole run for base64/hex, the exact source bytes for the escapes).

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::gate::RUN_BYTE;
use crate::finding::Encoding;

/// Shortest encoded run worth decoding: 12 base64 characters hold 9 bytes, as short as a
/// US SSN without dashes; shorter decodes cannot hold anything the catalogue reports.
pub const MIN_ENCODED: usize = 12;

/// Longest encoded run decoded; longer runs are decoded in this prefix only.
const MAX_ENCODED: usize = 64 * 1024;

pub struct Decoded {
    pub text: String,
    pub encoding: Encoding,
    /// The encoded run in the source text.
    pub start: usize,
    pub end: usize,
    /// For escapes: the source offset of each decoded byte, plus one entry for the end.
    pub map: Option<Vec<usize>>,
}

impl Decoded {
    /// Source span of the decoded byte range `s..e`.
    pub fn source_span(&self, s: usize, e: usize) -> (usize, usize) {
        match &self.map {
            Some(map) => (
                map.get(s).copied().unwrap_or(self.start),
                map.get(e).copied().unwrap_or(self.end),
            ),
            None => (self.start, self.end),
        }
    }
}

const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, config_const());
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, config_const());
const fn config_const() -> GeneralPurposeConfig {
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true)
}

pub(crate) fn b64_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'_' | b'-')
}

/// Decoded text is worth scanning when it is UTF-8 and reads like text, not binary.
fn readable(bytes: Vec<u8>) -> Option<String> {
    let s = String::from_utf8(bytes).ok()?;
    let control = s
        .chars()
        .filter(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        .count();
    let letters = s.chars().filter(char::is_ascii_alphanumeric).count();
    (control == 0 && letters * 2 >= s.chars().count()).then_some(s)
}

/// Base64 and hex sub-runs inside one token run `start..end`.
pub fn runs_in(text: &[u8], start: usize, end: usize, out: &mut Vec<Decoded>) {
    let mut k = start;
    while k < end {
        if !text.get(k).is_some_and(|&b| b64_byte(b)) {
            k += 1;
            continue;
        }
        let s = k;
        while k < end && text.get(k).is_some_and(|&b| b64_byte(b)) {
            k += 1;
        }
        let data_end = k;
        while k < end && k - data_end < 2 && text.get(k) == Some(&b'=') {
            k += 1;
        }
        if data_end - s >= MIN_ENCODED {
            decode_sub_run(text, s, data_end, k, out);
        }
    }
}

fn decode_sub_run(text: &[u8], s: usize, data_end: usize, end: usize, out: &mut Vec<Decoded>) {
    let data = text
        .get(s..data_end.min(s + MAX_ENCODED))
        .unwrap_or_default();
    if data.iter().all(u8::is_ascii_hexdigit) {
        let even = data.get(..data.len() & !1).unwrap_or_default();
        if let Some(decoded) = hex_decode(even).and_then(readable) {
            out.push(Decoded {
                text: decoded,
                encoding: Encoding::Hex,
                start: s,
                end,
                map: None,
            });
            return;
        }
    }
    // Base64 of text mixes cases (or digits) within a few characters; a plain word is not
    // worth decoding.
    // (every fourth character of base64 over ASCII is an upper-case letter, mostly).
    let upper = data.iter().filter(|b| b.is_ascii_uppercase()).count();
    let lower = data.iter().any(u8::is_ascii_lowercase);
    let digit = data.iter().any(u8::is_ascii_digit);
    if !(upper >= 2 && (lower || digit)) {
        return;
    }
    let url = data.iter().any(|b| matches!(b, b'-' | b'_'));
    let (engine, encoding) = if url {
        (&URL_SAFE, Encoding::Base64Url)
    } else {
        (&STANDARD, Encoding::Base64)
    };
    // The run may carry a few bytes of unrelated prefix (`key_QUtJQ...`): try each alignment.
    for skip in 0..4 {
        let Some(chunk) = data.get(skip..) else { break };
        let usable = chunk.len() - usize::from(chunk.len() % 4 == 1);
        let Some(chunk) = chunk.get(..usable) else {
            break;
        };
        if !first_quad_is_text(chunk, url) {
            continue;
        }
        if let Some(decoded) = engine.decode(chunk).ok().and_then(readable) {
            out.push(Decoded {
                text: decoded,
                encoding,
                start: s,
                end,
                map: None,
            });
            return;
        }
    }
}

fn b64_val(b: u8, url: bool) -> Option<u32> {
    Some(u32::from(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' if !url => 62,
        b'/' if !url => 63,
        b'-' if url => 62,
        b'_' if url => 63,
        _ => return None,
    }))
}

/// Decodes the first three bytes without allocating and rejects binary early.
fn first_quad_is_text(chunk: &[u8], url: bool) -> bool {
    let Some(quad) = chunk.get(..4) else {
        return false;
    };
    let mut v = 0u32;
    for &b in quad {
        match b64_val(b, url) {
            Some(x) => v = v << 6 | x,
            None => return false,
        }
    }
    [v >> 16, (v >> 8) & 0xff, v & 0xff]
        .iter()
        .all(|&b| b >= 0x20 && b != 0x7f || matches!(b, 0x09 | 0x0a | 0x0d) || b >= 0x80)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn hex_decode(data: &[u8]) -> Option<Vec<u8>> {
    data.chunks_exact(2)
        .map(|p| Some(hex_val(*p.first()?)? << 4 | hex_val(*p.get(1)?)?))
        .collect()
}

/// Percent-encoded regions around each `%XX`.
pub fn percent_regions(text: &[u8], out: &mut Vec<Decoded>) {
    let mut covered = 0;
    for pct in memchr::memchr_iter(b'%', text) {
        if pct < covered || !is_escape_at(text, pct) {
            continue;
        }
        let mut s = pct;
        while s > 0 && text.get(s - 1).is_some_and(|&b| RUN_BYTE[usize::from(b)]) {
            s -= 1;
        }
        let mut e = pct;
        while e < text.len()
            && e - s < MAX_ENCODED
            && text.get(e).is_some_and(|&b| RUN_BYTE[usize::from(b)])
        {
            e += 1;
        }
        covered = e;
        let mut bytes = Vec::with_capacity(e - s);
        let mut map = Vec::with_capacity(e - s + 1);
        let mut k = s;
        while k < e {
            if is_escape_at(text, k)
                && let (Some(h), Some(l)) = (
                    text.get(k + 1).copied().and_then(hex_val),
                    text.get(k + 2).copied().and_then(hex_val),
                )
            {
                bytes.push(h << 4 | l);
                map.push(k);
                k += 3;
            } else {
                bytes.push(text.get(k).copied().unwrap_or(b' '));
                map.push(k);
                k += 1;
            }
        }
        map.push(e);
        if let Ok(decoded) = String::from_utf8(bytes) {
            out.push(Decoded {
                text: decoded,
                encoding: Encoding::Percent,
                start: s,
                end: e,
                map: Some(map),
            });
        }
    }
}

fn is_escape_at(text: &[u8], k: usize) -> bool {
    text.get(k) == Some(&b'%')
        && text.get(k + 1).is_some_and(u8::is_ascii_hexdigit)
        && text.get(k + 2).is_some_and(u8::is_ascii_hexdigit)
}

/// JSON string regions holding backslash escapes (`\uXXXX`, `\n`, `\"` ...).
pub fn json_regions(text: &[u8], out: &mut Vec<Decoded>) {
    let mut covered = 0;
    for bs in memchr::memchr_iter(b'\\', text) {
        if bs < covered {
            continue;
        }
        // The string around the escape: back to an unescaped quote or line start.
        let mut s = bs;
        while s > 0 && bs - s < MAX_ENCODED {
            match text.get(s - 1) {
                Some(b'\n' | b'\r') => break,
                Some(b'"') if text.get(s.wrapping_sub(2)) != Some(&b'\\') || s < 2 => break,
                _ => s -= 1,
            }
        }
        let mut bytes = Vec::new();
        let mut map = Vec::new();
        let mut k = s;
        let mut escapes = 0;
        while k < text.len() && k - s < MAX_ENCODED {
            let Some(&b) = text.get(k) else { break };
            match b {
                b'"' | b'\n' | b'\r' => break,
                b'\\' => {
                    let (decoded, used) = match text.get(k + 1) {
                        Some(b'n') => (vec![b'\n'], 2),
                        Some(b't') => (vec![b'\t'], 2),
                        Some(b'r') => (vec![b'\r'], 2),
                        Some(b'b') => (vec![8], 2),
                        Some(b'f') => (vec![12], 2),
                        Some(&c @ (b'"' | b'\\' | b'/')) => (vec![c], 2),
                        Some(b'u') => match unicode_escape(text, k) {
                            Some((ch, used)) => {
                                let mut buf = [0u8; 4];
                                (ch.encode_utf8(&mut buf).as_bytes().to_vec(), used)
                            }
                            None => (vec![b'\\'], 1),
                        },
                        _ => (vec![b'\\'], 1),
                    };
                    if used > 1 {
                        escapes += 1;
                    }
                    for d in decoded {
                        bytes.push(d);
                        map.push(k);
                    }
                    k += used;
                }
                _ => {
                    bytes.push(b);
                    map.push(k);
                    k += 1;
                }
            }
        }
        covered = k.max(bs + 1);
        if escapes == 0 {
            continue;
        }
        map.push(k);
        if let Ok(decoded) = String::from_utf8(bytes) {
            out.push(Decoded {
                text: decoded,
                encoding: Encoding::JsonEscape,
                start: s,
                end: k,
                map: Some(map),
            });
        }
    }
}

/// `\uXXXX`, with a following low surrogate when the first is a high surrogate.
fn unicode_escape(text: &[u8], k: usize) -> Option<(char, usize)> {
    let quad = |at: usize| -> Option<u32> {
        if text.get(at) != Some(&b'\\') || text.get(at + 1) != Some(&b'u') {
            return None;
        }
        let mut v = 0u32;
        for i in 0..4 {
            v = v << 4 | u32::from(hex_val(*text.get(at + 2 + i)?)?);
        }
        Some(v)
    };
    let hi = quad(k)?;
    if (0xD800..0xDC00).contains(&hi) {
        let lo = quad(k + 6)?;
        if !(0xDC00..0xE000).contains(&lo) {
            return None;
        }
        let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
        return char::from_u32(c).map(|c| (c, 12));
    }
    char::from_u32(hi).map(|c| (c, 6))
}

/// Zero-width and invisible characters that split a token without showing.
fn zero_width_len(text: &[u8], k: usize) -> usize {
    match (text.get(k), text.get(k + 1), text.get(k + 2)) {
        (Some(0xE2), Some(0x80), Some(0x8B..=0x8D)) => 3,
        (Some(0xE2), Some(0x81), Some(0xA0)) => 3,
        (Some(0xEF), Some(0xBB), Some(0xBF)) => 3,
        (Some(0xC2), Some(0xAD), _) => 2,
        _ => 0,
    }
}

/// Where each byte of a text with zero-width characters removed came from. A table of one
/// offset per byte would cost eight times the text (a 100 MB file with one zero-width space
/// held 800 MB); the removals are few, so only the points where the shift grows are kept.
#[derive(Debug)]
pub struct SourceOffsets {
    /// Length of the stripped text.
    len: usize,
    /// `(stripped offset, bytes removed before it)`, ascending in both.
    steps: Vec<(usize, usize)>,
}

impl SourceOffsets {
    /// The source offset of stripped offset `v` (`v == len` maps to the source's end).
    pub fn get(&self, v: usize) -> Option<usize> {
        if v > self.len {
            return None;
        }
        let i = self.steps.partition_point(|&(p, _)| p <= v);
        let shift = i
            .checked_sub(1)
            .and_then(|i| self.steps.get(i))
            .map_or(0, |&(_, s)| s);
        Some(v + shift)
    }
}

/// The text with zero-width characters removed, and where each kept byte came from.
/// `None` when there are none (the common case, checked with one `memchr3`).
pub fn strip_zero_width(text: &str) -> Option<(String, SourceOffsets)> {
    let bytes = text.as_bytes();
    let first =
        memchr::memchr3_iter(0xE2, 0xEF, 0xC2, bytes).find(|&k| zero_width_len(bytes, k) > 0)?;
    let mut out = Vec::with_capacity(bytes.len());
    let mut steps = Vec::new();
    out.extend_from_slice(bytes.get(..first).unwrap_or_default());
    let mut removed = 0;
    let mut k = first;
    while k < bytes.len() {
        let z = zero_width_len(bytes, k);
        if z > 0 {
            k += z;
            removed += z;
            match steps.last_mut() {
                Some((p, s)) if *p == out.len() => *s = removed,
                _ => steps.push((out.len(), removed)),
            }
            continue;
        }
        if let Some(&b) = bytes.get(k) {
            out.push(b);
        }
        k += 1;
    }
    let len = out.len();
    String::from_utf8(out)
        .ok()
        .map(|s| (s, SourceOffsets { len, steps }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-byte table the compact form replaces, for comparison.
    fn table(text: &str) -> Vec<usize> {
        let bytes = text.as_bytes();
        let mut map = Vec::new();
        let mut k = 0;
        while k < bytes.len() {
            let z = zero_width_len(bytes, k);
            if z > 0 {
                k += z;
                continue;
            }
            map.push(k);
            k += 1;
        }
        map.push(bytes.len());
        map
    }

    #[test]
    fn source_offsets_agree_with_a_per_byte_table() {
        let texts = [
            "\u{200b}ghp_abc\u{200b}\u{200c}def\u{feff}",
            "a\u{200b}b\u{200d}\u{200d}c",
            "tail\u{200b}",
            "\u{200b}\u{200b}",
            "é\u{200b}ü\u{2060}x",
        ];
        for text in texts {
            let (stripped, offsets) = strip_zero_width(text).expect("has zero-width");
            let want = table(text);
            assert_eq!(want.len(), stripped.len() + 1, "{text:?}");
            for (v, &w) in want.iter().enumerate() {
                assert_eq!(offsets.get(v), Some(w), "{text:?} at {v}");
            }
            assert_eq!(offsets.get(stripped.len() + 1), None);
        }
        assert!(strip_zero_width("plain text").is_none());
    }
}
