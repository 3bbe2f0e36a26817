//! Reading what a client received: framing, JSON per event, text per logical stream, and
//! searches for planted values that never print the values themselves.

use std::collections::BTreeMap;
use std::io::Read;

use serde_json::Value;

use crate::api::{ApiShape, Framing, Planted};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub id: Option<String>,
    /// `data:` lines joined with `\n`, as the SSE specification says.
    pub data: String,
}

/// Complete SSE events, plus whatever trailing bytes did not form a complete event.
#[derive(Clone, Debug, Default)]
pub struct SseParse {
    pub events: Vec<SseEvent>,
    pub trailing: Vec<u8>,
}

/// Splits an SSE body into events (LF, CRLF or CR line endings).
pub fn sse_events(body: &[u8]) -> SseParse {
    let mut events = Vec::new();
    let mut current = SseEvent::default();
    let mut has_fields = false;
    let mut data_lines: Vec<String> = Vec::new();
    let mut pos = 0usize;
    let mut event_end = 0usize;
    while pos < body.len() {
        let rest = body.get(pos..).unwrap_or_default();
        let Some(nl) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else {
            break;
        };
        let line = rest.get(..nl).unwrap_or_default();
        let mut next = pos + nl + 1;
        if rest.get(nl) == Some(&b'\r') && rest.get(nl + 1) == Some(&b'\n') {
            next += 1;
        }
        pos = next;
        if line.is_empty() {
            if has_fields {
                current.data = data_lines.join("\n");
                events.push(std::mem::take(&mut current));
                data_lines.clear();
                has_fields = false;
            }
            event_end = pos;
            continue;
        }
        let text = String::from_utf8_lossy(line);
        if text.starts_with(':') {
            continue;
        }
        let (field, value) = match text.split_once(':') {
            Some((f, v)) => (f.to_owned(), v.strip_prefix(' ').unwrap_or(v).to_owned()),
            None => (text.into_owned(), String::new()),
        };
        has_fields = true;
        match field.as_str() {
            "event" => current.event = Some(value),
            "id" => current.id = Some(value),
            "data" => data_lines.push(value),
            _ => {}
        }
    }
    SseParse {
        events,
        trailing: body.get(event_end..).unwrap_or_default().to_vec(),
    }
}

/// Why a body does not parse as its API.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShapeError {
    #[error("event {index}: data is not JSON")]
    EventNotJson { index: usize },
    #[error("line {index}: not JSON")]
    LineNotJson { index: usize },
    #[error("body is not JSON")]
    BodyNotJson,
    #[error("body is not UTF-8")]
    NotUtf8,
    #[error("{0} trailing bytes do not form a complete event or line")]
    Trailing(usize),
}

/// The JSON documents of a body, checking that every event (or line) is valid JSON.
/// `allow_partial` accepts an incomplete last event (a cut stream) without judging it.
pub fn json_documents(
    framing: Framing,
    body: &[u8],
    allow_partial: bool,
) -> Result<Vec<Value>, ShapeError> {
    if std::str::from_utf8(body).is_err() && !allow_partial {
        return Err(ShapeError::NotUtf8);
    }
    match framing {
        Framing::Sse => {
            let parsed = sse_events(body);
            if !allow_partial && !parsed.trailing.iter().all(u8::is_ascii_whitespace) {
                return Err(ShapeError::Trailing(parsed.trailing.len()));
            }
            let mut docs = Vec::new();
            for (index, e) in parsed.events.iter().enumerate() {
                if e.data == "[DONE]" {
                    continue;
                }
                let v: Value = serde_json::from_str(&e.data)
                    .map_err(|_| ShapeError::EventNotJson { index })?;
                docs.push(v);
            }
            Ok(docs)
        }
        Framing::Ndjson => {
            let mut docs = Vec::new();
            let complete = match body.iter().rposition(|&b| b == b'\n') {
                Some(p) => body.get(..=p).unwrap_or_default(),
                None => &[][..],
            };
            let trailing = body.len() - complete.len();
            if trailing > 0 && !allow_partial {
                return Err(ShapeError::Trailing(trailing));
            }
            for (index, line) in complete.split(|&b| b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let v: Value =
                    serde_json::from_slice(line).map_err(|_| ShapeError::LineNotJson { index })?;
                docs.push(v);
            }
            Ok(docs)
        }
        Framing::Json => match serde_json::from_slice::<Value>(body) {
            Ok(v) => Ok(vec![v]),
            Err(_) if allow_partial => Ok(Vec::new()),
            Err(_) => Err(ShapeError::BodyNotJson),
        },
    }
}

/// Concatenation, across documents in order, of every string leaf at each JSON path
/// (`choices.0.delta.content`). A value split across events is whole again here.
pub fn strings_by_path(docs: &[Value]) -> BTreeMap<String, String> {
    fn walk(v: &Value, path: &mut String, out: &mut BTreeMap<String, String>) {
        match v {
            Value::String(s) => out.entry(path.clone()).or_default().push_str(s),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(&i.to_string());
                    walk(item, path, out);
                    path.truncate(len);
                }
            }
            Value::Object(map) => {
                for (k, item) in map {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                    walk(item, path, out);
                    path.truncate(len);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    for d in docs {
        walk(d, &mut String::new(), &mut out);
    }
    out
}

/// The primary assistant text of a stream (deltas concatenated).
pub fn primary_text(api: ApiShape, docs: &[Value]) -> String {
    let paths = strings_by_path(docs);
    let mut text = String::new();
    for p in api.primary_text_paths() {
        if let Some(s) = paths.get(*p) {
            text.push_str(s);
        }
    }
    text
}

/// Where a planted value was found, without the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leak {
    pub kind: &'static str,
    pub place: String,
}

impl std::fmt::Display for Leak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "planted {} found in {}", self.kind, self.place)
    }
}

/// Searches the raw bytes, gzip-decoded bytes (if the body is gzip), each JSON string, and
/// each JSON path's concatenation for every planted value.
pub fn find_planted(framing: Framing, body: &[u8], planted: &[Planted]) -> Vec<Leak> {
    let mut leaks = Vec::new();
    let scan = |hay: &[u8], place: &str, leaks: &mut Vec<Leak>| {
        for p in planted {
            if contains(hay, p.value.as_bytes()) {
                leaks.push(Leak {
                    kind: p.kind,
                    place: place.to_owned(),
                });
            }
        }
    };
    scan(body, "raw body", &mut leaks);
    if body.starts_with(&[0x1f, 0x8b]) {
        let decoded = gunzip_lenient(body);
        scan(&decoded, "gzip-decoded body", &mut leaks);
        let docs = json_documents(framing, &decoded, true).unwrap_or_default();
        for (path, text) in strings_by_path(&docs) {
            scan(
                text.as_bytes(),
                &format!("gzip-decoded JSON path {path}"),
                &mut leaks,
            );
        }
    }
    let docs = json_documents(framing, body, true).unwrap_or_default();
    for (path, text) in strings_by_path(&docs) {
        scan(text.as_bytes(), &format!("JSON path {path}"), &mut leaks);
    }
    leaks
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Decodes as much of a (possibly truncated or corrupt) gzip body as decodes.
pub fn gunzip_lenient(body: &[u8]) -> Vec<u8> {
    let mut decoder = flate2::read::MultiGzDecoder::new(body);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match decoder.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(buf.get(..n).unwrap_or_default()),
        }
    }
    out
}

/// Replaces planted values in `text` by `<planted:kind>` so a failure message can show it.
pub fn scrub(text: &str, planted: &[Planted]) -> String {
    let mut t = text.to_owned();
    for p in planted {
        t = t.replace(p.value, &format!("<planted:{}>", p.kind));
    }
    t
}

/// Checks `received` is `original` with each planted value replaced by a non-empty stand-in
/// (a mask) and every other character unchanged. Errors never contain a planted value.
pub fn check_masked_text(
    original: &str,
    planted: &[Planted],
    received: &str,
) -> Result<(), String> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for p in planted {
        let mut from = 0;
        while let Some(i) = original.get(from..).and_then(|s| s.find(p.value)) {
            spans.push((from + i, from + i + p.value.len()));
            from += i + p.value.len();
        }
    }
    spans.sort_unstable();
    let mut segments: Vec<&str> = Vec::new();
    let mut at = 0;
    for (s, e) in &spans {
        segments.push(original.get(at..*s).unwrap_or_default());
        at = *e;
    }
    segments.push(original.get(at..).unwrap_or_default());

    let shown = || scrub(received, planted);
    let mut cursor = 0usize;
    for (i, seg) in segments.iter().enumerate() {
        let rest = received.get(cursor..).unwrap_or_default();
        if i == 0 {
            if !rest.starts_with(seg) {
                return Err(format!(
                    "received text does not start with {seg:?}: {:?}",
                    shown()
                ));
            }
            cursor += seg.len();
            continue;
        }
        let found = if i + 1 == segments.len() {
            rest.len()
                .checked_sub(seg.len())
                .filter(|&k| rest.get(k..) == Some(*seg))
        } else {
            rest.find(seg)
        };
        let Some(k) = found else {
            return Err(format!(
                "text segment {i} {seg:?} missing or out of place in {:?}",
                shown()
            ));
        };
        let stand_in = rest.get(..k).unwrap_or_default();
        if stand_in.is_empty() {
            return Err(format!(
                "planted value before segment {i} vanished without a mask"
            ));
        }
        if planted.iter().any(|p| stand_in.contains(p.value)) {
            return Err(format!("planted value before segment {i} not masked"));
        }
        cursor += k + seg.len();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AWS_ACCESS_KEY_ID, CAPTURED_ANSWER, EMAIL};

    #[test]
    fn captures_parse_and_carry_their_planted_values() {
        for api in ApiShape::ALL {
            let docs = json_documents(api.stream_framing(), api.capture(), false)
                .unwrap_or_else(|e| panic!("{}: {e}", api.name()));
            assert!(!docs.is_empty(), "{}", api.name());
            let leaks = find_planted(
                api.stream_framing(),
                api.capture(),
                api.planted_in_capture(),
            );
            for p in api.planted_in_capture() {
                assert!(
                    leaks.iter().any(|l| l.kind == p.kind),
                    "{}: {} not found by the leak search",
                    api.name(),
                    p.kind
                );
            }
            if api != ApiShape::Mcp {
                assert_eq!(primary_text(api, &docs), CAPTURED_ANSWER, "{}", api.name());
            }
        }
    }

    #[test]
    fn split_secret_is_found_only_by_concatenation() {
        let docs =
            json_documents(Framing::Sse, ApiShape::Gemini.capture(), false).unwrap_or_default();
        let raw = ApiShape::Gemini.capture();
        assert!(!contains(raw, AWS_ACCESS_KEY_ID.value.as_bytes()));
        assert!(primary_text(ApiShape::Gemini, &docs).contains(AWS_ACCESS_KEY_ID.value));
    }

    #[test]
    fn masked_text_check_accepts_masks_and_rejects_damage() {
        let planted = [AWS_ACCESS_KEY_ID, EMAIL];
        let masked = CAPTURED_ANSWER
            .replace(AWS_ACCESS_KEY_ID.value, "[REDACTED:aws-access-key]")
            .replace(EMAIL.value, "[REDACTED:email]");
        assert_eq!(
            check_masked_text(CAPTURED_ANSWER, &planted, &masked),
            Ok(())
        );
        assert!(check_masked_text(CAPTURED_ANSWER, &planted, CAPTURED_ANSWER).is_err());
        let damaged = masked.replace("region", "regoin");
        assert!(check_masked_text(CAPTURED_ANSWER, &planted, &damaged).is_err());
        let dropped = CAPTURED_ANSWER.replace(AWS_ACCESS_KEY_ID.value, "");
        assert!(check_masked_text(CAPTURED_ANSWER, &planted[..1], &dropped).is_err());
        let truncated = masked.trim_end_matches("Done.");
        assert!(check_masked_text(CAPTURED_ANSWER, &planted, truncated).is_err());
    }

    #[test]
    fn sse_parser_reports_a_cut_event() {
        let body = b"data: {\"a\":1}\n\ndata: {\"a\"";
        let p = sse_events(body);
        assert_eq!(p.events.len(), 1);
        assert_eq!(p.trailing, b"data: {\"a\"".to_vec());
        assert!(json_documents(Framing::Sse, body, false).is_err());
        assert_eq!(
            json_documents(Framing::Sse, body, true).map(|d| d.len()),
            Ok(1)
        );
    }
}
