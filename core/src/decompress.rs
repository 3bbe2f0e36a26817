//! Decoding of compressed response bodies. Sluice asks upstreams for `identity`, but a server
//! may compress anyway; such a body is decoded and scanned, never passed through unread.

use std::io::Write;

/// `content-encoding` values Sluice can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentEncoding {
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

impl ContentEncoding {
    /// `Ok(None)` for identity / absent, `Err` for an encoding Sluice cannot read (the caller
    /// fails closed).
    pub fn parse(header: Option<&str>) -> Result<Option<ContentEncoding>, DecompressError> {
        let Some(value) = header else { return Ok(None) };
        let value = value.trim();
        if value.is_empty() || value.eq_ignore_ascii_case("identity") {
            return Ok(None);
        }
        match value.to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Ok(Some(ContentEncoding::Gzip)),
            "deflate" => Ok(Some(ContentEncoding::Deflate)),
            "br" => Ok(Some(ContentEncoding::Brotli)),
            "zstd" => Ok(Some(ContentEncoding::Zstd)),
            _ => Err(DecompressError::Unsupported),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecompressError {
    #[error("unsupported content-encoding (only gzip, deflate, br and zstd are read)")]
    Unsupported,
    #[error("compressed body is corrupt")]
    Corrupt,
    #[error("decompressed body exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
}

/// Streaming decoder: compressed chunks in, plain bytes out. Output is bounded per call and,
/// for zstd (decoded at the end), in total.
pub struct Decompressor {
    inner: Inner,
    limit: usize,
}

enum Inner {
    Gzip(flate2::write::MultiGzDecoder<Vec<u8>>),
    Deflate(DeflateSniff),
    Brotli(Box<brotli_decompressor::DecompressorWriter<Vec<u8>>>),
    Zstd(Vec<u8>),
}

/// `deflate` is zlib-wrapped per RFC 9110, but some servers send raw deflate; the first byte
/// tells which.
enum DeflateSniff {
    Undecided,
    Zlib(flate2::write::ZlibDecoder<Vec<u8>>),
    Raw(flate2::write::DeflateDecoder<Vec<u8>>),
}

impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.inner {
            Inner::Gzip(_) => "gzip",
            Inner::Deflate(_) => "deflate",
            Inner::Brotli(_) => "br",
            Inner::Zstd(_) => "zstd",
        };
        f.debug_struct("Decompressor")
            .field("encoding", &kind)
            .finish()
    }
}

impl Decompressor {
    pub fn new(encoding: ContentEncoding, limit: usize) -> Self {
        let inner = match encoding {
            ContentEncoding::Gzip => Inner::Gzip(flate2::write::MultiGzDecoder::new(Vec::new())),
            ContentEncoding::Deflate => Inner::Deflate(DeflateSniff::Undecided),
            ContentEncoding::Brotli => Inner::Brotli(Box::new(
                brotli_decompressor::DecompressorWriter::new(Vec::new(), 4096),
            )),
            ContentEncoding::Zstd => Inner::Zstd(Vec::new()),
        };
        Decompressor { inner, limit }
    }

    /// Feeds `chunk`; appends the bytes decoded so far to `out`.
    pub fn push(
        &mut self,
        chunk: &[u8],
        end_of_stream: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), DecompressError> {
        let limit = self.limit;
        match &mut self.inner {
            Inner::Gzip(d) => {
                d.write_all(chunk).map_err(|_| DecompressError::Corrupt)?;
                if end_of_stream {
                    d.try_finish().map_err(|_| DecompressError::Corrupt)?;
                }
                take(d.get_mut(), out, limit)
            }
            Inner::Deflate(sniff) => {
                if chunk.is_empty() && matches!(sniff, DeflateSniff::Undecided) {
                    return if end_of_stream {
                        Err(DecompressError::Corrupt)
                    } else {
                        Ok(())
                    };
                }
                if matches!(sniff, DeflateSniff::Undecided) {
                    // zlib header: CM = 8 in the low nibble and a header checksum.
                    let zlib = chunk.len() >= 2
                        && chunk[0] & 0x0f == 8
                        && (u16::from(chunk[0]) << 8 | u16::from(chunk[1])) % 31 == 0;
                    *sniff = if zlib {
                        DeflateSniff::Zlib(flate2::write::ZlibDecoder::new(Vec::new()))
                    } else {
                        DeflateSniff::Raw(flate2::write::DeflateDecoder::new(Vec::new()))
                    };
                }
                match sniff {
                    DeflateSniff::Zlib(d) => {
                        d.write_all(chunk).map_err(|_| DecompressError::Corrupt)?;
                        if end_of_stream {
                            d.try_finish().map_err(|_| DecompressError::Corrupt)?;
                        }
                        take(d.get_mut(), out, limit)
                    }
                    DeflateSniff::Raw(d) => {
                        d.write_all(chunk).map_err(|_| DecompressError::Corrupt)?;
                        if end_of_stream {
                            d.try_finish().map_err(|_| DecompressError::Corrupt)?;
                        }
                        take(d.get_mut(), out, limit)
                    }
                    DeflateSniff::Undecided => Err(DecompressError::Corrupt),
                }
            }
            Inner::Brotli(d) => {
                d.write_all(chunk).map_err(|_| DecompressError::Corrupt)?;
                if end_of_stream {
                    d.flush().map_err(|_| DecompressError::Corrupt)?;
                }
                take(d.get_mut(), out, limit)
            }
            Inner::Zstd(buf) => {
                if buf.len() + chunk.len() > limit {
                    return Err(DecompressError::TooLarge { limit });
                }
                buf.extend_from_slice(chunk);
                if !end_of_stream {
                    return Ok(());
                }
                let input = std::mem::take(buf);
                let mut decoder = ruzstd::decoding::StreamingDecoder::new(input.as_slice())
                    .map_err(|_| DecompressError::Corrupt)?;
                let mut plain = Vec::new();
                let mut block = [0u8; 16 * 1024];
                loop {
                    let n = std::io::Read::read(&mut decoder, &mut block)
                        .map_err(|_| DecompressError::Corrupt)?;
                    if n == 0 {
                        break;
                    }
                    if plain.len() + n > limit {
                        return Err(DecompressError::TooLarge { limit });
                    }
                    plain.extend_from_slice(&block[..n]);
                }
                out.extend_from_slice(&plain);
                Ok(())
            }
        }
    }
}

fn take(decoded: &mut Vec<u8>, out: &mut Vec<u8>, limit: usize) -> Result<(), DecompressError> {
    if decoded.len() > limit {
        decoded.clear();
        return Err(DecompressError::TooLarge { limit });
    }
    out.append(decoded);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_split_at_every_offset_decodes_the_same() {
        let plain = b"data: {\"choices\":[{\"delta\":{\"content\":\"hello\"}}]}\n\n".repeat(20);
        let z = gzip(&plain);
        for cut in 0..=z.len() {
            let mut d = Decompressor::new(ContentEncoding::Gzip, 1 << 20);
            let mut out = Vec::new();
            d.push(&z[..cut], false, &mut out).unwrap();
            d.push(&z[cut..], true, &mut out).unwrap();
            assert_eq!(out, plain, "cut at {cut}");
        }
    }

    #[test]
    fn deflate_zlib_and_raw_are_both_read() {
        let plain = b"hello deflate world".repeat(10);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&plain).unwrap();
        let zlib = z.finish().unwrap();
        let mut r = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        r.write_all(&plain).unwrap();
        let raw = r.finish().unwrap();
        for body in [zlib, raw] {
            let mut d = Decompressor::new(ContentEncoding::Deflate, 1 << 20);
            let mut out = Vec::new();
            d.push(&body, true, &mut out).unwrap();
            assert_eq!(out, plain);
        }
    }

    #[test]
    fn corrupt_gzip_is_an_error_not_a_passthrough() {
        let mut d = Decompressor::new(ContentEncoding::Gzip, 1 << 20);
        let mut out = Vec::new();
        assert!(d.push(b"this is not gzip at all", true, &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn bomb_is_bounded() {
        let z = gzip(&vec![b'a'; 1 << 20]);
        let mut d = Decompressor::new(ContentEncoding::Gzip, 64 * 1024);
        let mut out = Vec::new();
        assert_eq!(
            d.push(&z, true, &mut out),
            Err(DecompressError::TooLarge { limit: 64 * 1024 })
        );
    }

    #[test]
    fn unknown_encoding_is_refused() {
        assert_eq!(
            ContentEncoding::parse(Some("compress")),
            Err(DecompressError::Unsupported)
        );
        assert_eq!(ContentEncoding::parse(Some("identity")), Ok(None));
        assert_eq!(
            ContentEncoding::parse(Some("GZIP")),
            Ok(Some(ContentEncoding::Gzip))
        );
    }
}
