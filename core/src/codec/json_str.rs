//! A small JSON walker over raw bytes: it reports every scalar with its path and byte span,
//! so a codec can find the string tokens it cares about and splice replacements in place
//! without re-serialising anything else.
//!
//! Why not `serde_json::Value` or `RawValue`: a `Value` re-serialises the whole document
//! (number formatting, key order, whitespace all change), and `RawValue` still needs one
//! allocation per level plus a second pass to find spans. One pass over the bytes with a
//! reusable path stack costs a few hundred nanoseconds for a typical stream event and never
//! allocates once its buffers are warm.

use std::ops::Range;

use super::CodecError;

/// Nesting deeper than this is refused: it bounds the path stack and stops stack-like
/// resource abuse from a hostile upstream.
pub const MAX_DEPTH: usize = 128;

/// One step of a path: an object key or an array position.
#[derive(Clone, Copy, Debug)]
pub enum Seg {
    /// Raw key bytes (between the quotes) when the key has no escapes.
    Key(usize, usize),
    /// Decoded key bytes in the walker's arena, for keys written with escapes.
    ArenaKey(usize, usize),
    Index(u32),
}

/// What kind of scalar a span holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    Str,
    Num,
    True,
    False,
    Null,
}

/// One element of a path pattern.
#[derive(Clone, Copy, Debug)]
pub enum P {
    K(&'static str),
    /// Any array position.
    I,
}

/// The path of the value being visited.
pub struct Path<'a> {
    segs: &'a [Seg],
    input: &'a [u8],
    arena: &'a [u8],
    /// Segments skipped at the front (a batch array or a JSON-array stream).
    base: usize,
}

impl<'a> Path<'a> {
    pub fn len(&self) -> usize {
        self.segs.len().saturating_sub(self.base)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn seg(&self, i: usize) -> Option<Seg> {
        self.segs.get(self.base + i).copied()
    }

    pub fn key(&self, i: usize) -> Option<&'a [u8]> {
        match self.seg(i)? {
            Seg::Key(s, e) => self.input.get(s..e),
            Seg::ArenaKey(s, e) => self.arena.get(s..e),
            Seg::Index(_) => None,
        }
    }

    pub fn index(&self, i: usize) -> Option<u32> {
        match self.seg(i)? {
            Seg::Index(n) => Some(n),
            _ => None,
        }
    }

    /// The same path with its first segment dropped when that segment is an array position
    /// (a JSON-RPC batch, Gemini's non-SSE array stream).
    pub fn strip_root_index(&self) -> (Path<'a>, Option<u32>) {
        match self.seg(0) {
            Some(Seg::Index(n)) => (
                Path {
                    segs: self.segs,
                    input: self.input,
                    arena: self.arena,
                    base: self.base + 1,
                },
                Some(n),
            ),
            _ => (
                Path {
                    segs: self.segs,
                    input: self.input,
                    arena: self.arena,
                    base: self.base,
                },
                None,
            ),
        }
    }

    /// Whether the path equals `pat` exactly.
    pub fn is(&self, pat: &[P]) -> bool {
        self.len() == pat.len() && self.starts_with(pat)
    }

    /// Whether the path begins with `pat`.
    pub fn starts_with(&self, pat: &[P]) -> bool {
        if self.len() < pat.len() {
            return false;
        }
        pat.iter().enumerate().all(|(i, p)| match p {
            P::K(k) => self.key(i) == Some(k.as_bytes()),
            P::I => self.index(i).is_some(),
        })
    }

    /// Whether the last segment is the key `k`.
    pub fn ends_with_key(&self, k: &str) -> bool {
        match self.len().checked_sub(1) {
            Some(last) => self.key(last) == Some(k.as_bytes()),
            None => false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Frame {
    Object,
    Array,
}

/// Reusable walker state (path stack and key arena).
#[derive(Debug, Default)]
pub struct JsonWalker {
    segs: Vec<Seg>,
    frames: Vec<Frame>,
    arena: Vec<u8>,
    scratch: String,
}

fn err(msg: &str, at: usize) -> CodecError {
    CodecError::Json(format!("{msg} at byte {at}"))
}

fn skip_ws(input: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = input.get(i) {
        i += 1;
    }
    i
}

/// Scans a string token starting at the opening quote; returns the index just past the
/// closing quote and whether it contains escapes.
fn scan_string(input: &[u8], start: usize) -> Result<(usize, bool), CodecError> {
    let mut i = start + 1;
    let mut escaped = false;
    loop {
        let Some(rest) = input.get(i..) else {
            return Err(err("unterminated string", start));
        };
        let Some(off) = memchr::memchr2(b'"', b'\\', rest) else {
            return Err(err("unterminated string", start));
        };
        // Control characters are invalid inside strings; check the skipped run.
        if rest[..off].iter().any(|&b| b < 0x20) {
            return Err(err("control character in string", i));
        }
        i += off;
        match input.get(i) {
            Some(b'"') => return Ok((i + 1, escaped)),
            Some(b'\\') => {
                escaped = true;
                match input.get(i + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                    Some(b'u') => {
                        let hex = input
                            .get(i + 2..i + 6)
                            .ok_or_else(|| err("bad escape", i))?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return Err(err("bad \\u escape", i));
                        }
                        i += 6;
                    }
                    _ => return Err(err("bad escape", i)),
                }
            }
            Some(_) => return Err(err("control character in string", i)),
            None => return Err(err("unterminated string", start)),
        }
    }
}

fn scan_number(input: &[u8], start: usize) -> Result<usize, CodecError> {
    let mut i = start;
    if input.get(i) == Some(&b'-') {
        i += 1;
    }
    let int_start = i;
    while input.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    if i == int_start {
        return Err(err("bad number", start));
    }
    if input.get(i) == Some(&b'.') {
        i += 1;
        let s = i;
        while input.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == s {
            return Err(err("bad number", start));
        }
    }
    if let Some(b'e' | b'E') = input.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = input.get(i) {
            i += 1;
        }
        let s = i;
        while input.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == s {
            return Err(err("bad number", start));
        }
    }
    Ok(i)
}

fn expect_lit(input: &[u8], i: usize, lit: &[u8]) -> Result<usize, CodecError> {
    if input.get(i..i + lit.len()) == Some(lit) {
        Ok(i + lit.len())
    } else {
        Err(err("unexpected token", i))
    }
}

/// Parses an unsigned integer token (array index fields such as `"index": 1`).
pub fn parse_u32(token: &[u8]) -> Option<u32> {
    if token.is_empty() || token.len() > 10 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in token {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
    }
    u32::try_from(n).ok()
}

impl JsonWalker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Walks one JSON document (`input` must be valid UTF-8, checked by the caller) and calls
    /// `visit` for every scalar with its path and the span of its token (quotes included for
    /// strings). Fails on anything that is not exactly one JSON value plus whitespace.
    pub fn walk<F>(&mut self, input: &[u8], mut visit: F) -> Result<(), CodecError>
    where
        F: FnMut(&Path<'_>, Scalar, Range<usize>),
    {
        self.segs.clear();
        self.frames.clear();
        self.arena.clear();
        let mut i = skip_ws(input, 0);
        'value: loop {
            // Parse one value at `i`.
            let Some(&b) = input.get(i) else {
                return Err(err("unexpected end", i));
            };
            let scalar_end;
            match b {
                b'{' | b'[' => {
                    if self.frames.len() >= MAX_DEPTH {
                        return Err(err("nesting too deep", i));
                    }
                    i = skip_ws(input, i + 1);
                    if b == b'{' {
                        if input.get(i) == Some(&b'}') {
                            i += 1;
                        } else {
                            self.frames.push(Frame::Object);
                            i = self.parse_key(input, i)?;
                            continue 'value;
                        }
                    } else if input.get(i) == Some(&b']') {
                        i += 1;
                    } else {
                        self.frames.push(Frame::Array);
                        self.segs.push(Seg::Index(0));
                        continue 'value;
                    }
                }
                b'"' => {
                    let (end, _) = scan_string(input, i)?;
                    scalar_end = end;
                    self.emit(input, Scalar::Str, i..end, &mut visit);
                    i = scalar_end;
                }
                b't' => {
                    scalar_end = expect_lit(input, i, b"true")?;
                    self.emit(input, Scalar::True, i..scalar_end, &mut visit);
                    i = scalar_end;
                }
                b'f' => {
                    scalar_end = expect_lit(input, i, b"false")?;
                    self.emit(input, Scalar::False, i..scalar_end, &mut visit);
                    i = scalar_end;
                }
                b'n' => {
                    scalar_end = expect_lit(input, i, b"null")?;
                    self.emit(input, Scalar::Null, i..scalar_end, &mut visit);
                    i = scalar_end;
                }
                b'-' | b'0'..=b'9' => {
                    scalar_end = scan_number(input, i)?;
                    self.emit(input, Scalar::Num, i..scalar_end, &mut visit);
                    i = scalar_end;
                }
                _ => return Err(err("unexpected byte", i)),
            }
            // After a value: close containers or move to the next element.
            loop {
                i = skip_ws(input, i);
                let Some(frame) = self.frames.last().copied() else {
                    if i == input.len() {
                        return Ok(());
                    }
                    return Err(err("trailing data", i));
                };
                match (frame, input.get(i)) {
                    (Frame::Object, Some(b',')) => {
                        self.segs.pop();
                        i = skip_ws(input, i + 1);
                        i = self.parse_key(input, i)?;
                        continue 'value;
                    }
                    (Frame::Array, Some(b',')) => {
                        if let Some(Seg::Index(n)) = self.segs.last_mut() {
                            *n = n.saturating_add(1);
                        }
                        i = skip_ws(input, i + 1);
                        continue 'value;
                    }
                    (Frame::Object, Some(b'}')) | (Frame::Array, Some(b']')) => {
                        self.segs.pop();
                        self.frames.pop();
                        i += 1;
                    }
                    _ => return Err(err("expected ',' or a closing bracket", i)),
                }
            }
        }
    }

    /// Parses `"key" :` at `i`, pushes the key segment, returns the index of the value.
    fn parse_key(&mut self, input: &[u8], i: usize) -> Result<usize, CodecError> {
        if input.get(i) != Some(&b'"') {
            return Err(err("expected a key", i));
        }
        let (end, escaped) = scan_string(input, i)?;
        if escaped {
            self.scratch.clear();
            decode_string_into(input.get(i..end).unwrap_or_default(), &mut self.scratch);
            let s = self.arena.len();
            self.arena.extend_from_slice(self.scratch.as_bytes());
            self.segs.push(Seg::ArenaKey(s, self.arena.len()));
        } else {
            self.segs.push(Seg::Key(i + 1, end - 1));
        }
        let j = skip_ws(input, end);
        if input.get(j) != Some(&b':') {
            return Err(err("expected ':'", j));
        }
        Ok(skip_ws(input, j + 1))
    }

    fn emit<F>(&self, input: &[u8], kind: Scalar, span: Range<usize>, visit: &mut F)
    where
        F: FnMut(&Path<'_>, Scalar, Range<usize>),
    {
        let path = Path {
            segs: &self.segs,
            input,
            arena: &self.arena,
            base: 0,
        };
        visit(&path, kind, span);
    }
}

fn hex4(b: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(b.get(..4)?).ok()?;
    u32::from_str_radix(s, 16).ok()
}

/// Decodes a string token (quotes included, already validated by the walker) into `out`.
/// Lone surrogates become U+FFFD, as a lossy decoder would show them.
pub fn decode_string_into(token: &[u8], out: &mut String) {
    let inner = token
        .get(1..token.len().saturating_sub(1))
        .unwrap_or_default();
    let mut i = 0;
    while i < inner.len() {
        let Some(off) = memchr::memchr(b'\\', &inner[i..]) else {
            out.push_str(&String::from_utf8_lossy(&inner[i..]));
            return;
        };
        out.push_str(&String::from_utf8_lossy(&inner[i..i + off]));
        i += off;
        let esc = inner.get(i + 1).copied().unwrap_or(b'\\');
        i += 2;
        match esc {
            b'n' => out.push('\n'),
            b't' => out.push('\t'),
            b'r' => out.push('\r'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'u' => {
                let hi = inner.get(i..).and_then(hex4).unwrap_or(0xFFFD);
                i += 4;
                let ch = if (0xD800..0xDC00).contains(&hi) {
                    let lo = if inner.get(i..i + 2) == Some(b"\\u") {
                        inner.get(i + 2..).and_then(hex4)
                    } else {
                        None
                    };
                    match lo {
                        Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                            i += 6;
                            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                        }
                        _ => None,
                    }
                } else {
                    char::from_u32(hi)
                };
                out.push(ch.unwrap_or('\u{FFFD}'));
            }
            other => out.push(char::from(other)),
        }
    }
}

/// The decoded text of a string token: borrowed when it has no escapes.
pub fn decode_string<'a>(token: &'a [u8], scratch: &'a mut String) -> &'a str {
    let inner = token
        .get(1..token.len().saturating_sub(1))
        .unwrap_or_default();
    if memchr::memchr(b'\\', inner).is_none()
        && let Ok(s) = std::str::from_utf8(inner)
    {
        return s;
    }
    scratch.clear();
    decode_string_into(token, scratch);
    scratch
}

/// Appends `text` as a JSON string token (quotes included), with serde_json's escaping.
pub fn encode_string(text: &str, out: &mut Vec<u8>) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// Copies `src` to `out`, replacing each span (sorted, non-overlapping) with the bytes its
/// callback writes.
pub fn splice<F>(src: &[u8], spans: &[Range<usize>], out: &mut Vec<u8>, mut write: F)
where
    F: FnMut(usize, &mut Vec<u8>),
{
    let mut pos = 0;
    for (n, span) in spans.iter().enumerate() {
        let start = span.start.max(pos).min(src.len());
        out.extend_from_slice(src.get(pos..start).unwrap_or_default());
        write(n, out);
        pos = span.end.max(start).min(src.len());
    }
    out.extend_from_slice(src.get(pos..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(doc: &str) -> Vec<(String, String)> {
        let mut w = JsonWalker::new();
        let mut v = Vec::new();
        w.walk(doc.as_bytes(), |p, k, span| {
            if k == Scalar::Str {
                let mut path = String::new();
                for i in 0..p.len() {
                    match (p.key(i), p.index(i)) {
                        (Some(k), _) => path.push_str(&format!(".{}", String::from_utf8_lossy(k))),
                        (_, Some(n)) => path.push_str(&format!("[{n}]")),
                        _ => {}
                    }
                }
                let mut s = String::new();
                let text = decode_string(&doc.as_bytes()[span], &mut s).to_string();
                v.push((path, text));
            }
        })
        .unwrap();
        v
    }

    #[test]
    fn walks_paths_and_decodes_escapes() {
        let v = strings(
            r#"{"a":[{"b":"x\u00e9\ud83d\ude00\n"},{"c\u0064":"y"}], "n": [1, -2.5e3, true, null]}"#,
        );
        assert_eq!(
            v,
            vec![
                (".a[0].b".to_string(), "xé😀\n".to_string()),
                (".a[1].cd".to_string(), "y".to_string())
            ]
        );
    }

    #[test]
    fn rejects_malformed() {
        let mut w = JsonWalker::new();
        for bad in [
            "{",
            "[1,]",
            "{\"a\" 1}",
            "\"\\x\"",
            "tru",
            "{}x",
            "\"a\nb\"",
            "",
            "01x",
            "[1 2]",
        ] {
            assert!(w.walk(bad.as_bytes(), |_, _, _| {}).is_err(), "{bad}");
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(w.walk(deep.as_bytes(), |_, _, _| {}).is_err());
    }

    #[test]
    fn lone_surrogate_is_replaced() {
        let mut s = String::new();
        decode_string_into(br#""a\ud800b""#, &mut s);
        assert_eq!(s, "a\u{FFFD}b");
    }
}
