//! HTTP/1.1 client for talking to Envoy: sends one request on a fresh connection and hands
//! the body over chunk by chunk with arrival times, telling a clean end from a cut stream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};

/// A request to send.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// How the body goes on the wire.
    pub delivery: Delivery,
}

/// How the client hands a request body to Envoy. Envoy's filters see a different sequence of
/// callbacks for each (body with the headers, many body callbacks, an empty end-of-stream
/// frame), so request-side scenarios try them all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Delivery {
    /// HTTP/1.1 with `content-length`, the body in one write.
    #[default]
    Whole,
    /// HTTP/1.1 with `content-length`, the body in [`PIECE_BYTES`] pieces written apart.
    LengthPieces,
    /// HTTP/1.1 `transfer-encoding: chunked`, one chunk per piece.
    Chunked,
    /// HTTP/2 without TLS (prior knowledge), one DATA frame per piece, then an empty frame
    /// that ends the stream.
    Http2,
}

impl Delivery {
    pub const ALL: [Delivery; 4] = [
        Delivery::Whole,
        Delivery::LengthPieces,
        Delivery::Chunked,
        Delivery::Http2,
    ];
}

/// Size of one piece of a body delivered in pieces.
pub const PIECE_BYTES: usize = 64;

/// Pause between pieces, so Envoy reads them as separate body callbacks.
const PIECE_GAP: Duration = Duration::from_millis(2);

impl Request {
    pub fn post(path: &str, body: impl Into<Vec<u8>>) -> Request {
        Request {
            method: "POST".to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: body.into(),
            delivery: Delivery::Whole,
        }
    }

    pub fn get(path: &str) -> Request {
        Request {
            method: "GET".to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            delivery: Delivery::Whole,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn headers(mut self, headers: impl IntoIterator<Item = (String, String)>) -> Request {
        self.headers.extend(headers);
        self
    }

    pub fn delivery(mut self, delivery: Delivery) -> Request {
        self.delivery = delivery;
        self
    }
}

/// How a response body ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyEnd {
    /// The whole message arrived (terminating chunk or full content-length).
    Complete,
    /// The connection was closed or reset before the message was complete.
    Cut(String),
    /// The collecting deadline passed with the stream still open.
    TimedOut,
}

/// One piece of body as it arrived.
#[derive(Clone, Debug)]
pub struct Chunk {
    pub at: Instant,
    pub bytes: Bytes,
}

/// A finished (or abandoned) response.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub chunks: Vec<Chunk>,
    pub end: BodyEnd,
    pub sent_at: Instant,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn body(&self) -> Vec<u8> {
        self.chunks
            .iter()
            .flat_map(|c| c.bytes.iter().copied())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body()).into_owned()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("HTTP handshake with {addr} failed: {source}")]
    Handshake {
        addr: SocketAddr,
        source: hyper::Error,
    },
    /// The TLS handshake failed (for instance: the listener refused the client certificate).
    #[error("TLS handshake with {addr} failed: {source}")]
    Tls {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid request: {0}")]
    Request(#[from] hyper::http::Error),
    /// No response head arrived: refused, reset, or closed before headers.
    #[error("no response: {0}")]
    NoResponse(hyper::Error),
    #[error("no response head within {0:?}")]
    HeadTimeout(Duration),
}

/// A response whose head arrived and whose body is still coming.
pub struct OpenResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub sent_at: Instant,
    body: Incoming,
    chunks: Vec<Chunk>,
    end: Option<BodyEnd>,
}

/// What [`OpenResponse::next_chunk`] saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    Data(Bytes),
    End(BodyEnd),
}

impl OpenResponse {
    /// The next body chunk, or how the body ended; `TimedOut` leaves the stream open.
    pub async fn next_chunk(&mut self, timeout: Duration) -> Next {
        if let Some(end) = &self.end {
            return Next::End(end.clone());
        }
        loop {
            match tokio::time::timeout(timeout, self.body.frame()).await {
                Err(_) => return Next::End(BodyEnd::TimedOut),
                Ok(None) => {
                    self.end = Some(BodyEnd::Complete);
                    return Next::End(BodyEnd::Complete);
                }
                Ok(Some(Err(e))) => {
                    let end = BodyEnd::Cut(e.to_string());
                    self.end = Some(end.clone());
                    return Next::End(end);
                }
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        if data.is_empty() {
                            continue;
                        }
                        self.chunks.push(Chunk {
                            at: Instant::now(),
                            bytes: data.clone(),
                        });
                        return Next::Data(data);
                    }
                }
            }
        }
    }

    /// Bytes received so far.
    pub fn received(&self) -> Vec<u8> {
        self.chunks
            .iter()
            .flat_map(|c| c.bytes.iter().copied())
            .collect()
    }

    /// Reads until the body ends or `deadline` passes in total.
    pub async fn collect(mut self, deadline: Duration) -> Response {
        let until = Instant::now() + deadline;
        let end = loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.next_chunk(left).await {
                Next::Data(_) => {}
                Next::End(end) => break end,
            }
        };
        Response {
            status: self.status,
            headers: self.headers,
            chunks: self.chunks,
            end,
            sent_at: self.sent_at,
        }
    }
}

/// Sends `req` to `addr` on a new connection and returns once the response head arrived.
pub async fn open(
    addr: SocketAddr,
    req: &Request,
    head_timeout: Duration,
) -> Result<OpenResponse, ClientError> {
    let stream = connect(addr).await?;
    open_on(stream, addr, req, head_timeout).await
}

async fn connect(addr: SocketAddr) -> Result<tokio::net::TcpStream, ClientError> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|source| ClientError::Connect { addr, source })?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// How to reach a listener with downstream TLS: the client configuration (roots that verify
/// Envoy's certificate, and the client certificate for mutual TLS) and the name to verify.
#[derive(Clone)]
pub struct Tls {
    pub config: Arc<rustls::ClientConfig>,
    pub server_name: rustls::pki_types::ServerName<'static>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// [`open`] over TLS (HTTP/1.1 only; the handshake is bounded by `head_timeout`).
pub async fn open_tls(
    addr: SocketAddr,
    req: &Request,
    head_timeout: Duration,
    tls: &Tls,
) -> Result<OpenResponse, ClientError> {
    let stream = connect(addr).await?;
    let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
    let stream = tokio::time::timeout(
        head_timeout,
        connector.connect(tls.server_name.clone(), stream),
    )
    .await
    .map_err(|_| ClientError::HeadTimeout(head_timeout))?
    .map_err(|source| ClientError::Tls { addr, source })?;
    open_on(stream, addr, req, head_timeout).await
}

/// Sends `req` over TLS and collects the whole response within `deadline`.
pub async fn send_tls(
    addr: SocketAddr,
    req: &Request,
    deadline: Duration,
    tls: &Tls,
) -> Result<Response, ClientError> {
    let started = Instant::now();
    let open = open_tls(addr, req, deadline, tls).await?;
    let left = deadline.saturating_sub(started.elapsed());
    Ok(open.collect(left).await)
}

async fn open_on<S>(
    stream: S,
    addr: SocketAddr,
    req: &Request,
    head_timeout: Duration,
) -> Result<OpenResponse, ClientError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let http2 = req.delivery == Delivery::Http2;
    // HTTP/2 carries the authority in the URI (`:authority`), HTTP/1.1 in `host`.
    let uri = if http2 {
        format!("http://localhost{}", req.path)
    } else {
        req.path.clone()
    };
    let mut builder = hyper::Request::builder()
        .method(req.method.as_str())
        .uri(uri.as_str());
    if !http2
        && !req
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("host"))
    {
        builder = builder.header("host", "localhost");
    }
    for (n, v) in &req.headers {
        builder = builder.header(n.as_str(), v.as_str());
    }
    let declares_length = req
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-length"));
    if req.delivery == Delivery::LengthPieces && !declares_length {
        builder = builder.header("content-length", req.body.len());
    }
    let request = builder.body(request_body(req))?;
    let sent_at = Instant::now();
    let sending = if http2 {
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .map_err(|source| ClientError::Handshake { addr, source })?;
        tokio::spawn(conn);
        tokio::time::timeout(head_timeout, sender.send_request(request)).await
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| ClientError::Handshake { addr, source })?;
        tokio::spawn(conn);
        tokio::time::timeout(head_timeout, sender.send_request(request)).await
    };
    let resp = sending
        .map_err(|_| ClientError::HeadTimeout(head_timeout))?
        .map_err(ClientError::NoResponse)?;
    let (parts, body) = resp.into_parts();
    Ok(OpenResponse {
        status: parts.status.as_u16(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        sent_at,
        body,
        chunks: Vec::new(),
        end: None,
    })
}

type RequestBody = BoxBody<Bytes, Infallible>;

/// The body as [`Request::delivery`] says: whole, or in pieces written [`PIECE_GAP`] apart
/// (a body of unknown size, which HTTP/1.1 sends chunked unless a length is declared).
fn request_body(req: &Request) -> RequestBody {
    if req.delivery == Delivery::Whole {
        return Full::new(Bytes::from(req.body.clone())).boxed();
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
    let pieces: Vec<Bytes> = req
        .body
        .chunks(PIECE_BYTES)
        .map(Bytes::copy_from_slice)
        .collect();
    tokio::spawn(async move {
        for (i, piece) in pieces.into_iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(PIECE_GAP).await;
            }
            if tx.send(Ok(Frame::data(piece))).await.is_err() {
                return;
            }
        }
    });
    StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx)).boxed()
}

/// Sends `req` and collects the whole response within `deadline`.
pub async fn send(
    addr: SocketAddr,
    req: &Request,
    deadline: Duration,
) -> Result<Response, ClientError> {
    let started = Instant::now();
    let open = open(addr, req, deadline).await?;
    let left = deadline.saturating_sub(started.elapsed());
    Ok(open.collect(left).await)
}
