//! HTTP/1.1 client for talking to Envoy: sends one request on a fresh connection and hands
//! the body over chunk by chunk with arrival times, telling a clean end from a cut stream.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

/// A request to send.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn post(path: &str, body: impl Into<Vec<u8>>) -> Request {
        Request {
            method: "POST".to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn get(path: &str) -> Request {
        Request {
            method: "GET".to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
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
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|source| ClientError::Connect { addr, source })?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|source| ClientError::Handshake { addr, source })?;
    tokio::spawn(conn);
    let mut builder = hyper::Request::builder()
        .method(req.method.as_str())
        .uri(req.path.as_str());
    if !req
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("host"))
    {
        builder = builder.header("host", "localhost");
    }
    for (n, v) in &req.headers {
        builder = builder.header(n.as_str(), v.as_str());
    }
    let request = builder.body(Full::new(Bytes::from(req.body.clone())))?;
    let sent_at = Instant::now();
    let resp = tokio::time::timeout(head_timeout, sender.send_request(request))
        .await
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
