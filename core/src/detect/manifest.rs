//! Kubernetes `Secret` manifests. Every value under a Secret's `data:` (base64) or
//! `stringData:` (plain) is a secret by the manifest's own declaration, whatever its key is
//! called (`tls.key`, `.dockerconfigjson`, `DB_PASS`), so no keyword or entropy evidence is
//! needed: the evidence is `kind: Secret`. Values are found structurally, in YAML block
//! mappings and in JSON objects; the base64 values are also decoded and scanned by the
//! decoders, so a provider key inside one is reported under its own rule.

use memchr::memmem;

use super::Hit;
use crate::finding::Category;

pub const RULE: &str = "kubernetes-secret";

/// How far from `kind: Secret` the manifest's `data:` may lie.
const REACH: usize = 64 * 1024;

/// Calls `push` with a hit for every value of every Secret manifest's `data` and
/// `stringData` in `text`.
pub fn find_secret_values(text: &[u8], push: &mut impl FnMut(Hit)) {
    let mut done = 0;
    for at in memmem::find_iter(text, b"Secret") {
        if at < done {
            continue;
        }
        if let Some(line) = yaml_kind_line(text, at) {
            done = yaml_values(text, line, push);
        } else if json_kind(text, at) {
            done = json_values(text, at, push);
        }
    }
}

fn line_start(text: &[u8], at: usize) -> usize {
    memchr::memrchr(b'\n', text.get(..at).unwrap_or_default()).map_or(0, |p| p + 1)
}

fn line_end(text: &[u8], at: usize) -> usize {
    memchr::memchr(b'\n', text.get(at..).unwrap_or_default()).map_or(text.len(), |p| at + p)
}

/// Indentation of a YAML line, counting a sequence item's `- ` as indentation.
fn indent(line: &[u8]) -> usize {
    let mut k = 0;
    while let Some(&b) = line.get(k) {
        match b {
            b' ' => k += 1,
            b'-' if line.get(k + 1) == Some(&b' ') => k += 2,
            _ => break,
        }
    }
    k
}

/// `kind: Secret` (optionally quoted) as a whole YAML line: the line's start.
fn yaml_kind_line(text: &[u8], at: usize) -> Option<usize> {
    let ls = line_start(text, at);
    let le = line_end(text, at);
    let line = text.get(ls..le)?;
    let body = line.get(indent(line)..)?;
    let rest = body.strip_prefix(b"kind:")?;
    let value = rest.trim_ascii();
    let value = value
        .strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
        .or_else(|| value.strip_prefix(b"'").and_then(|v| v.strip_suffix(b"'")))
        .unwrap_or(value);
    (value == b"Secret").then_some(ls)
}

/// The YAML document holding the line at `line`: from the `---` before it to the one after,
/// within [`REACH`].
fn yaml_document(text: &[u8], line: usize) -> (usize, usize) {
    let from = line.saturating_sub(REACH);
    let before = text.get(from..line).unwrap_or_default();
    let start = memmem::rfind(before, b"\n---").map_or(from, |p| from + p + 1);
    let to = line.saturating_add(REACH).min(text.len());
    let after = text.get(line..to).unwrap_or_default();
    let end = memmem::find(after, b"\n---").map_or(to, |p| line + p + 1);
    (start, end)
}

/// The values under `data:` / `stringData:` of the Secret whose `kind:` line starts at
/// `kind_line`; returns where the document ends.
fn yaml_values(text: &[u8], kind_line: usize, push: &mut impl FnMut(Hit)) -> usize {
    let (doc_start, doc_end) = yaml_document(text, kind_line);
    let kind_indent = text
        .get(kind_line..line_end(text, kind_line))
        .map_or(0, indent);
    let (start, end) = object_bounds(text, kind_line, kind_indent, doc_start, doc_end);
    let mut k = start;
    while k < end {
        let le = line_end(text, k).min(end);
        let line = text.get(k..le).unwrap_or_default();
        let ind = indent(line);
        let body = line.get(ind..).unwrap_or_default().trim_ascii_end();
        let base64 = match body {
            b"data:" => Some(true),
            b"stringData:" => Some(false),
            _ => None,
        };
        k = le + 1;
        let Some(base64) = base64 else { continue };
        if ind != kind_indent {
            continue;
        }
        // The mapping's entries: the lines indented deeper than `data:`.
        while k < end {
            let le = line_end(text, k).min(end);
            let line = text.get(k..le).unwrap_or_default();
            if line.trim_ascii().is_empty() || line.trim_ascii_start().starts_with(b"#") {
                k = le + 1;
                continue;
            }
            let entry_indent = line.iter().take_while(|&&b| b == b' ').count();
            if entry_indent <= ind {
                break;
            }
            k = yaml_entry(text, k, le, entry_indent, end, base64, push);
        }
    }
    end
}

/// Leading spaces of a line (a sequence item's `- ` not counted).
fn spaces(line: &[u8]) -> usize {
    line.iter().take_while(|&&b| b == b' ').count()
}

/// The mapping the `kind:` line belongs to, within its document: a nested one (an item of a
/// `List`'s `items:`) ends where a line is indented less than its keys, and begins at its
/// own `- ` line.
fn object_bounds(
    text: &[u8],
    kind_line: usize,
    kind_indent: usize,
    doc_start: usize,
    doc_end: usize,
) -> (usize, usize) {
    if kind_indent == 0 {
        return (doc_start, doc_end);
    }
    let mut start = kind_line;
    while start > doc_start {
        let prev = line_start(text, start - 1).max(doc_start);
        let line = text.get(prev..start - 1).unwrap_or_default();
        if !line.trim_ascii().is_empty() && spaces(line) < kind_indent {
            if indent(line) == kind_indent {
                start = prev;
            }
            break;
        }
        start = prev;
    }
    let mut end = line_end(text, kind_line) + 1;
    while end < doc_end {
        let le = line_end(text, end).min(doc_end);
        let line = text.get(end..le).unwrap_or_default();
        if !line.trim_ascii().is_empty() && spaces(line) < kind_indent {
            break;
        }
        end = le + 1;
    }
    (start, end.min(doc_end))
}

/// One `key: value` entry starting on the line `k..le`; returns where the next entry starts.
fn yaml_entry(
    text: &[u8],
    k: usize,
    le: usize,
    entry_indent: usize,
    end: usize,
    base64: bool,
    push: &mut impl FnMut(Hit),
) -> usize {
    let line = text.get(k..le).unwrap_or_default();
    let Some(colon) = memchr::memchr(b':', line) else {
        return le + 1;
    };
    let key = line.get(entry_indent..colon).unwrap_or_default();
    let key = unquote(key.trim_ascii());
    if key.is_empty() || !key.iter().all(|&b| is_key_byte(b)) {
        return le + 1;
    }
    let vs = k + colon + 1;
    let raw = text.get(vs..le).unwrap_or_default();
    let lead = raw.iter().take_while(|b| b.is_ascii_whitespace()).count();
    let value = raw.trim_ascii();
    if matches!(value.first(), Some(b'|' | b'>')) {
        // A block scalar: the following lines indented deeper than the key.
        let mut bs = le + 1;
        let first = bs;
        let mut last = le;
        while bs < end {
            let ble = line_end(text, bs).min(end);
            let bline = text.get(bs..ble).unwrap_or_default();
            let bind = bline.iter().take_while(|&&b| b == b' ').count();
            if !bline.trim_ascii().is_empty() && bind <= entry_indent {
                break;
            }
            last = ble;
            bs = ble + 1;
        }
        let content_start = first
            + text
                .get(first..last)
                .unwrap_or_default()
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
        report(text, content_start, last, base64, push);
        return bs;
    }
    let mut s = vs + lead;
    let mut e = s + value.len();
    // A trailing comment after a plain value.
    if let Some(hash) = memmem::find(text.get(s..e).unwrap_or_default(), b" #") {
        e = s + hash;
        while e > s && text.get(e - 1).is_some_and(u8::is_ascii_whitespace) {
            e -= 1;
        }
    }
    if matches!(text.get(s), Some(b'"' | b'\'')) && e > s + 1 && text.get(e - 1) == text.get(s) {
        s += 1;
        e -= 1;
    }
    report(text, s, e, base64, push);
    le + 1
}

fn unquote(s: &[u8]) -> &[u8] {
    s.strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
        .or_else(|| s.strip_prefix(b"'").and_then(|v| v.strip_suffix(b"'")))
        .unwrap_or(s)
}

/// Secret keys are `[-._a-zA-Z0-9]+` (Kubernetes' own rule for data keys).
fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

/// Reports `s..e` when it holds a value: base64 that decodes (under `data`), or any literal
/// that is not a template or a placeholder (under `stringData`).
fn report(text: &[u8], s: usize, e: usize, base64: bool, push: &mut impl FnMut(Hit)) {
    let Some(value) = text.get(s..e) else { return };
    if value.is_empty() || is_template(value) {
        return;
    }
    if base64 {
        let compact: Vec<u8> = value
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        use base64::Engine as _;
        match base64::engine::general_purpose::STANDARD.decode(&compact) {
            Ok(decoded) if !decoded.is_empty() => {}
            _ => return,
        }
    }
    push(Hit {
        generic: true,
        ..Hit::new(RULE, Category::Credential, s, e, base64)
    });
}

/// Helm / Kustomize / shell templating and `<placeholder>` values.
fn is_template(value: &[u8]) -> bool {
    let has = |n: &[u8]| memmem::find(value, n).is_some();
    has(b"{{") || has(b"${") || (value.first() == Some(&b'<') && value.last() == Some(&b'>'))
}

/// `"kind": "Secret"` (JSON, any spacing).
fn json_kind(text: &[u8], at: usize) -> bool {
    if text.get(at.wrapping_sub(1)) != Some(&b'"') || text.get(at + 6) != Some(&b'"') {
        return false;
    }
    let before = text
        .get(at.saturating_sub(32)..at.saturating_sub(1))
        .unwrap_or_default();
    let before = before.trim_ascii_end();
    let Some(before) = before.strip_suffix(b":") else {
        return false;
    };
    before.trim_ascii_end().ends_with(b"\"kind\"")
}

/// The values of `"data": {…}` / `"stringData": {…}` objects near a JSON `"kind": "Secret"`;
/// returns the end of the region looked at.
fn json_values(text: &[u8], at: usize, push: &mut impl FnMut(Hit)) -> usize {
    let from = at.saturating_sub(REACH);
    let to = at.saturating_add(REACH).min(text.len());
    let region = text.get(from..to).unwrap_or_default();
    let mut last = at;
    for (name, base64) in [(&b"\"data\""[..], true), (b"\"stringData\"", false)] {
        for p in memmem::find_iter(region, name) {
            let mut k = from + p + name.len();
            k = skip_space(text, k);
            if text.get(k) != Some(&b':') {
                continue;
            }
            k = skip_space(text, k + 1);
            if text.get(k) != Some(&b'{') {
                continue;
            }
            k += 1;
            // `"key": "value"` pairs up to the closing brace.
            loop {
                k = skip_space(text, k);
                let Some((ks, ke)) = json_string(text, k) else {
                    break;
                };
                k = skip_space(text, ke);
                if text.get(k) != Some(&b':') {
                    break;
                }
                k = skip_space(text, k + 1);
                let Some((vs, ve)) = json_string(text, k) else {
                    break;
                };
                if text
                    .get(ks + 1..ke - 1)
                    .is_some_and(|key| !key.is_empty() && key.iter().all(|&b| is_key_byte(b)))
                {
                    report(text, vs + 1, ve - 1, base64, push);
                }
                k = skip_space(text, ve);
                last = last.max(ve);
                if text.get(k) == Some(&b',') {
                    k += 1;
                } else {
                    break;
                }
            }
        }
    }
    last
}

fn skip_space(text: &[u8], mut k: usize) -> usize {
    while text.get(k).is_some_and(u8::is_ascii_whitespace) {
        k += 1;
    }
    k
}

/// A JSON string starting at `k` (its opening quote): `(k, end)` with `end` past the closing
/// quote.
fn json_string(text: &[u8], k: usize) -> Option<(usize, usize)> {
    if text.get(k) != Some(&b'"') {
        return None;
    }
    let mut j = k + 1;
    while let Some(&b) = text.get(j) {
        match b {
            b'\\' => j += 2,
            b'"' => return Some((k, j + 1)),
            b'\n' => return None,
            _ => j += 1,
        }
    }
    None
}
