//! Incremental newline-delimited JSON decoder (Ollama streams), keeping each line's raw bytes.

use std::ops::Range;

use super::CodecError;

/// Splits a byte stream into lines; each line keeps its terminator.
#[derive(Debug)]
pub struct LineDecoder {
    buf: Vec<u8>,
    start: usize,
    scan: usize,
    limit: usize,
}

/// One line: `raw` with its terminator, `content` the range without `\n` / `\r\n`.
#[derive(Debug)]
pub struct Line<'a> {
    pub raw: &'a [u8],
    pub content: Range<usize>,
}

impl<'a> Line<'a> {
    pub fn text(&self) -> &'a [u8] {
        self.raw.get(self.content.clone()).unwrap_or_default()
    }

    /// Whether the line holds nothing but whitespace (passed through as is).
    pub fn is_blank(&self) -> bool {
        self.text().iter().all(u8::is_ascii_whitespace)
    }
}

impl LineDecoder {
    /// `limit` bounds the bytes of one partial line.
    pub fn new(limit: usize) -> Self {
        LineDecoder {
            buf: Vec::new(),
            start: 0,
            scan: 0,
            limit,
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

    /// The next complete line, or `None` when more input is needed. With `eof`, an
    /// unterminated tail comes out as a last line.
    pub fn next_line(&mut self, eof: bool) -> Result<Option<Line<'_>>, CodecError> {
        let rest = self.buf.get(self.scan..).unwrap_or_default();
        let end = match memchr::memchr(b'\n', rest) {
            Some(k) => self.scan + k + 1,
            None if eof && self.start < self.buf.len() => self.buf.len(),
            None => {
                self.scan = self.buf.len();
                if self.buf.len() - self.start > self.limit {
                    return Err(CodecError::TooLarge { limit: self.limit });
                }
                return Ok(None);
            }
        };
        let s = self.start;
        // One line over the limit is refused however it arrived, in pieces or whole.
        if end - s > self.limit {
            return Err(CodecError::TooLarge { limit: self.limit });
        }
        self.start = end;
        self.scan = end;
        let raw = self.buf.get(s..end).unwrap_or_default();
        let mut c = raw.len();
        if raw.get(c.wrapping_sub(1)) == Some(&b'\n') {
            c -= 1;
            if raw.get(c.wrapping_sub(1)) == Some(&b'\r') {
                c -= 1;
            }
        }
        Ok(Some(Line { raw, content: 0..c }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_any_chunking() {
        let input: &[u8] = b"{\"a\":1}\n{\"b\":2}\r\n\n{\"c\":3}";
        for cut in 0..=input.len() {
            let mut d = LineDecoder::new(64);
            let mut lines = Vec::new();
            let mut raw = Vec::new();
            for (n, part) in [&input[..cut], &input[cut..]].iter().enumerate() {
                d.push(part);
                while let Some(l) = d.next_line(n == 1).unwrap() {
                    lines.push(l.text().to_vec());
                    raw.extend_from_slice(l.raw);
                }
            }
            assert_eq!(raw, input);
            assert_eq!(lines.len(), 4);
            assert_eq!(lines[1], b"{\"b\":2}");
            assert_eq!(lines[3], b"{\"c\":3}");
        }
    }

    #[test]
    fn long_line_is_refused() {
        let mut d = LineDecoder::new(4);
        d.push(b"{\"abc\":");
        assert!(matches!(
            d.next_line(false),
            Err(CodecError::TooLarge { .. })
        ));
    }
}
