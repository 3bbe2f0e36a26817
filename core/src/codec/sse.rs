//! Incremental `text/event-stream` decoder that keeps each event's raw bytes, so an event the
//! filter leaves alone goes out byte-for-byte.
//!
//! Follows the WHATWG event-stream grammar: LF, CRLF and lone CR end lines; a blank line ends
//! an event; `:` starts a comment; a field value loses one leading space; several `data:`
//! lines join with `\n`; a UTF-8 BOM may open the stream.

use std::ops::Range;

use super::CodecError;

/// One complete event (or, at the end of the body, the unterminated tail).
#[derive(Debug)]
pub struct SseEvent<'a> {
    /// The event's bytes exactly as received, blank-line terminator included.
    pub raw: &'a [u8],
    /// Value of the last `event:` field, as a range into `raw`.
    pub event: Option<Range<usize>>,
    /// Value of each `data:` line, as ranges into `raw`, in order.
    pub data_lines: &'a [Range<usize>],
}

impl<'a> SseEvent<'a> {
    pub fn event_name(&self) -> Option<&'a [u8]> {
        self.event.clone().and_then(|r| self.raw.get(r))
    }

    pub fn has_data(&self) -> bool {
        !self.data_lines.is_empty()
    }

    /// The `data` payload: borrowed for one line, joined into `scratch` for several.
    pub fn data<'s>(&self, scratch: &'s mut Vec<u8>) -> &'s [u8]
    where
        'a: 's,
    {
        match self.data_lines {
            [one] => self.raw.get(one.clone()).unwrap_or_default(),
            lines => {
                scratch.clear();
                for (n, r) in lines.iter().enumerate() {
                    if n > 0 {
                        scratch.push(b'\n');
                    }
                    scratch.extend_from_slice(self.raw.get(r.clone()).unwrap_or_default());
                }
                scratch
            }
        }
    }

    /// Maps a range of the joined `data` payload to a range of `raw`, when it lies within
    /// one line (a JSON string token always does: it cannot contain a raw line break).
    pub fn data_to_raw(&self, span: Range<usize>) -> Option<Range<usize>> {
        let mut offset = 0;
        for r in self.data_lines {
            let len = r.end - r.start;
            if span.start >= offset && span.end <= offset + len {
                return Some(r.start + span.start - offset..r.start + span.end - offset);
            }
            offset += len + 1;
        }
        None
    }
}

/// Incremental decoder: [`push`](Self::push) bytes, then drain with
/// [`next_event`](Self::next_event).
#[derive(Debug)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// Start of the current (partial) event in `buf`.
    start: usize,
    /// Where the next line of the current event begins; lines before it are complete.
    scan: usize,
    limit: usize,
    /// The previous event ended with a CR at the end of the input seen so far: a LF that
    /// follows belongs to that terminator and leaves as a passthrough item.
    skip_lf: bool,
    first: bool,
    lines: Vec<Range<usize>>,
}

/// What a decoder step produced.
#[derive(Debug)]
pub enum SseItem<'a> {
    Event(SseEvent<'a>),
    /// Bytes that belong to no event (the LF of a CRLF split from its CR).
    Passthrough(&'a [u8]),
}

impl SseDecoder {
    /// `limit` bounds the bytes of one partial event.
    pub fn new(limit: usize) -> Self {
        SseDecoder {
            buf: Vec::new(),
            start: 0,
            scan: 0,
            limit,
            skip_lf: false,
            first: true,
            lines: Vec::new(),
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.scan -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// Bytes of the partial event waiting for more input.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete event, or `None` when more input is needed. With `eof`, an
    /// unterminated tail comes out as a last event.
    pub fn next_event(&mut self, eof: bool) -> Result<Option<SseItem<'_>>, CodecError> {
        if self.skip_lf && self.start < self.buf.len() {
            self.skip_lf = false;
            if self.buf.get(self.start) == Some(&b'\n') {
                let s = self.start;
                self.start += 1;
                self.scan = self.start;
                return Ok(Some(SseItem::Passthrough(
                    self.buf.get(s..s + 1).unwrap_or_default(),
                )));
            }
        }
        loop {
            let rest = self.buf.get(self.scan..).unwrap_or_default();
            let Some(off) = memchr::memchr2(b'\n', b'\r', rest) else {
                break;
            };
            let term = self.scan + off;
            let blank = term == self.scan;
            let next = match self.buf.get(term) {
                Some(b'\r') => match self.buf.get(term + 1) {
                    Some(b'\n') => term + 2,
                    Some(_) => term + 1,
                    None if blank || eof => {
                        // A blank line ends the event now; a LF may still follow.
                        self.skip_lf = !eof;
                        term + 1
                    }
                    // Line complete but its terminator length unknown: wait.
                    None => break,
                },
                _ => term + 1,
            };
            if blank {
                let s = self.start;
                // The same outcome however the event arrived: in pieces (the partial event
                // grows past the limit below) or in one chunk.
                if next - s > self.limit {
                    return Err(CodecError::TooLarge { limit: self.limit });
                }
                self.start = next;
                self.scan = next;
                return Ok(Some(self.parse(s, next)));
            }
            self.scan = next;
        }
        if eof && self.start < self.buf.len() {
            let s = self.start;
            let e = self.buf.len();
            if e - s > self.limit {
                return Err(CodecError::TooLarge { limit: self.limit });
            }
            self.start = e;
            self.scan = e;
            return Ok(Some(self.parse(s, e)));
        }
        if self.buffered() > self.limit {
            return Err(CodecError::TooLarge { limit: self.limit });
        }
        Ok(None)
    }

    fn parse(&mut self, s: usize, e: usize) -> SseItem<'_> {
        self.lines.clear();
        let raw = self.buf.get(s..e).unwrap_or_default();
        let mut event = None;
        let mut pos = 0;
        if std::mem::take(&mut self.first) && raw.starts_with(b"\xEF\xBB\xBF") {
            pos = 3;
        }
        while pos < raw.len() {
            let rest = raw.get(pos..).unwrap_or_default();
            let (line_len, term_len) = match memchr::memchr2(b'\n', b'\r', rest) {
                Some(k) => {
                    let t = if rest.get(k) == Some(&b'\r') && rest.get(k + 1) == Some(&b'\n') {
                        2
                    } else {
                        1
                    };
                    (k, t)
                }
                None => (rest.len(), 0),
            };
            let line = pos..pos + line_len;
            pos += line_len + term_len;
            let bytes = raw.get(line.clone()).unwrap_or_default();
            if bytes.is_empty() || bytes.first() == Some(&b':') {
                continue;
            }
            let (name, value) = match memchr::memchr(b':', bytes) {
                Some(c) => {
                    let mut v = line.start + c + 1;
                    if raw.get(v) == Some(&b' ') && v < line.end {
                        v += 1;
                    }
                    (bytes.get(..c).unwrap_or_default(), v..line.end)
                }
                None => (bytes, line.end..line.end),
            };
            match name {
                b"data" => self.lines.push(value),
                b"event" => event = Some(value),
                _ => {}
            }
        }
        SseItem::Event(SseEvent {
            raw,
            event,
            data_lines: &self.lines,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Decoded = (Vec<u8>, Option<Vec<u8>>, Vec<u8>);

    fn decode_all(chunks: &[&[u8]]) -> Vec<Decoded> {
        let mut d = SseDecoder::new(1 << 20);
        let mut v = Vec::new();
        let mut scratch = Vec::new();
        for (n, c) in chunks.iter().enumerate() {
            d.push(c);
            let eof = n + 1 == chunks.len();
            while let Some(item) = d.next_event(eof).unwrap() {
                match item {
                    SseItem::Event(e) => v.push((
                        e.raw.to_vec(),
                        e.event_name().map(<[u8]>::to_vec),
                        e.data(&mut scratch).to_vec(),
                    )),
                    SseItem::Passthrough(p) => v.push((p.to_vec(), None, Vec::new())),
                }
            }
        }
        v
    }

    #[test]
    fn line_endings_and_fields() {
        let s: &[u8] = b"\xEF\xBB\xBFevent: a\r\ndata: x\r\ndata:y\r\n\r\n: c\rdata: z\r\r";
        let v = decode_all(&[s]);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].1.as_deref(), Some(&b"a"[..]));
        assert_eq!(v[0].2, b"x\ny");
        assert_eq!(v[1].2, b"z");
        let all: Vec<u8> = v.iter().flat_map(|e| e.0.clone()).collect();
        assert_eq!(all, s);
    }

    #[test]
    fn crlf_split_between_cr_and_lf() {
        let v = decode_all(&[b"data: x\r\n\r", b"\ndata: y\r\n\r\n"]);
        assert_eq!(v[0].0, b"data: x\r\n\r");
        assert_eq!(v[1].0, b"\n");
        assert_eq!(v[2].2, b"y");
    }

    #[test]
    fn whole_event_over_limit_in_one_chunk() {
        let mut d = SseDecoder::new(8);
        d.push(b"data: 0123456789\n\n");
        assert_eq!(
            d.next_event(false).unwrap_err(),
            CodecError::TooLarge { limit: 8 }
        );
    }

    #[test]
    fn partial_event_over_limit() {
        let mut d = SseDecoder::new(8);
        d.push(b"data: 0123456789");
        assert_eq!(
            d.next_event(false).unwrap_err(),
            CodecError::TooLarge { limit: 8 }
        );
    }
}
