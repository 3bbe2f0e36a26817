//! Mock LLM upstream: answers every API shape with a scripted body, chunked, paced, gzipped
//! and paused as the test asks, and records what it received.
//!
//! A test registers a [`Script`] and sends its id in the `x-mock-script` request header, so
//! tests sharing one mock never see each other's scripts. Without a script the answer is the
//! API's captured stream; request headers can still choose the delivery:
//! `x-mock-chunking: bytes|random:SEED|whole|events`, `x-mock-gap-ms: N`, `x-mock-gzip: 1`,
//! `x-mock-tokens: N` (a benign synthetic answer of N tokens, for benchmarks).

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::api::{self, ApiShape, CAPTURED_ANSWER};

/// Runtime the mocks run on, independent of any test's runtime, so a mock shared by several
/// tests outlives each of them.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("mock-upstream")
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot build the mock upstream runtime: {e}"))
});

/// How the answer is cut into writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Chunking {
    /// One write per SSE event or NDJSON line.
    #[default]
    Events,
    /// The whole body in one write.
    Whole,
    /// Every byte alone.
    Bytes,
    /// Sizes 1..=64 from a seeded generator.
    Random(u64),
}

impl Chunking {
    pub fn parse(s: &str) -> Option<Chunking> {
        match s.trim() {
            "events" => Some(Chunking::Events),
            "whole" => Some(Chunking::Whole),
            "bytes" => Some(Chunking::Bytes),
            other => other
                .strip_prefix("random:")
                .and_then(|seed| seed.parse().ok())
                .map(Chunking::Random),
        }
    }

    /// Cuts `body` into chunks; concatenated they are `body` again.
    pub fn split(self, body: &[u8]) -> Vec<Vec<u8>> {
        match self {
            Chunking::Whole => vec![body.to_vec()],
            Chunking::Bytes => body.iter().map(|b| vec![*b]).collect(),
            Chunking::Random(seed) => {
                let mut rng = fastrand::Rng::with_seed(seed);
                let mut out = Vec::new();
                let mut rest = body;
                while !rest.is_empty() {
                    let n = rng.usize(1..=64).min(rest.len());
                    let (head, tail) = rest.split_at(n);
                    out.push(head.to_vec());
                    rest = tail;
                }
                out
            }
            Chunking::Events => split_events(body),
        }
    }
}

/// Splits after each blank line (SSE) or, when there is none, after each newline (NDJSON).
fn split_events(body: &[u8]) -> Vec<Vec<u8>> {
    let sse =
        crate::inspect::contains(body, b"\n\n") || crate::inspect::contains(body, b"\r\n\r\n");
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < body.len() {
        let end = if sse {
            if body.get(i..i + 2) == Some(b"\n\n") {
                Some(i + 2)
            } else if body.get(i..i + 4) == Some(b"\r\n\r\n") {
                Some(i + 4)
            } else {
                None
            }
        } else if body.get(i) == Some(&b'\n') {
            Some(i + 1)
        } else {
            None
        };
        match end {
            Some(e) => {
                out.push(body.get(start..e).unwrap_or_default().to_vec());
                start = e;
                i = e;
            }
            None => i += 1,
        }
    }
    if start < body.len() {
        out.push(body.get(start..).unwrap_or_default().to_vec());
    }
    out
}

/// What the mock answers with.
#[derive(Clone, Debug, Default)]
pub enum ScriptBody {
    /// The API's captured stream (or, for a non-streamed request, the captured answer text).
    #[default]
    Capture,
    /// These text deltas, rendered in the request's API format.
    Deltas(Vec<String>),
    /// These bytes with this content type, as they are.
    Raw {
        bytes: Vec<u8>,
        content_type: String,
    },
}

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Script {
    pub body: ScriptBody,
    pub chunking: Chunking,
    /// Pause between writes.
    pub gap: Duration,
    /// Send `content-encoding: gzip` and a gzip body whatever the request accepted.
    pub gzip: bool,
    /// Stop after this many body bytes until the test calls [`ScriptHandle::release`].
    pub pause_after: Option<usize>,
    pub status: u16,
    /// Records when each write is handed to the connection, for latency measurements.
    pub send_clock: Option<SendClock>,
    /// Abort the connection (no terminating chunk) once this many body bytes are written.
    pub reset_after: Option<usize>,
}

/// The instants at which the mock handed each body write to its connection, in order.
///
/// Cloning shares the record: the benchmark keeps one clone, the script carries another.
#[derive(Clone, Debug, Default)]
pub struct SendClock(Arc<Mutex<Vec<Instant>>>);

impl SendClock {
    pub fn new() -> SendClock {
        SendClock::default()
    }

    fn stamp(&self) {
        lock(&self.0).push(Instant::now());
    }

    /// The instants recorded so far.
    pub fn instants(&self) -> Vec<Instant> {
        lock(&self.0).clone()
    }
}

impl Default for Script {
    fn default() -> Self {
        Script {
            body: ScriptBody::Capture,
            chunking: Chunking::Events,
            gap: Duration::ZERO,
            gzip: false,
            pause_after: None,
            status: 200,
            send_clock: None,
            reset_after: None,
        }
    }
}

impl Script {
    pub fn deltas<S: AsRef<str>>(deltas: &[S]) -> Script {
        Script {
            body: ScriptBody::Deltas(deltas.iter().map(|d| d.as_ref().to_owned()).collect()),
            ..Script::default()
        }
    }

    pub fn raw(bytes: impl Into<Vec<u8>>, content_type: &str) -> Script {
        Script {
            body: ScriptBody::Raw {
                bytes: bytes.into(),
                content_type: content_type.to_owned(),
            },
            ..Script::default()
        }
    }

    pub fn chunking(mut self, chunking: Chunking) -> Script {
        self.chunking = chunking;
        self
    }

    pub fn gap(mut self, gap: Duration) -> Script {
        self.gap = gap;
        self
    }

    pub fn gzip(mut self, on: bool) -> Script {
        self.gzip = on;
        self
    }

    pub fn pause_after(mut self, bytes: usize) -> Script {
        self.pause_after = Some(bytes);
        self
    }

    pub fn reset_after(mut self, bytes: usize) -> Script {
        self.reset_after = Some(bytes);
        self
    }

    pub fn send_clock(mut self, clock: SendClock) -> Script {
        self.send_clock = Some(clock);
        self
    }
}

/// A request as the mock received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Lower-case names, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The `x-mock-script` header, if any.
    pub script: Option<String>,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Pause state of a script: 0 running, 1 paused (the first `pause_after` bytes are written),
/// 2 released.
struct Registered {
    script: Script,
    pause: watch::Sender<u8>,
}

#[derive(Default)]
struct State {
    scripts: Mutex<HashMap<String, Arc<Registered>>>,
    requests: Mutex<Vec<RecordedRequest>>,
    connections: AtomicU64,
    next_script: AtomicU64,
    /// Set by [`MockUpstream::keep_requests`]`(false)`: long benchmarks keep no bodies.
    drop_requests: AtomicBool,
}

/// The running mock. Dropping it stops accepting connections.
pub struct MockUpstream {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// A registered script: its id for the `x-mock-script` header, and its pause point.
#[derive(Clone)]
pub struct ScriptHandle {
    id: String,
    pause: watch::Sender<u8>,
}

impl ScriptHandle {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The request header that selects this script.
    pub fn header(&self) -> (String, String) {
        ("x-mock-script".to_owned(), self.id.clone())
    }

    /// Waits until a request using this script reached its pause point.
    pub async fn wait_paused(&self, timeout: Duration) -> bool {
        let mut rx = self.pause.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|s| *s >= 1))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Lets paused (and future) requests of this script write the rest.
    pub fn release(&self) {
        self.pause.send_replace(2);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MockError {
    #[error("cannot bind the mock upstream on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl MockUpstream {
    /// Starts on 127.0.0.1 with a free port.
    pub fn start() -> Result<MockUpstream, MockError> {
        MockUpstream::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn start_on(addr: SocketAddr) -> Result<MockUpstream, MockError> {
        let std_listener =
            std::net::TcpListener::bind(addr).map_err(|source| MockError::Bind { addr, source })?;
        std_listener
            .set_nonblocking(true)
            .map_err(|source| MockError::Bind { addr, source })?;
        let local = std_listener
            .local_addr()
            .map_err(|source| MockError::Bind { addr, source })?;
        let state = Arc::new(State::default());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let listener = {
            let _guard = RUNTIME.enter();
            tokio::net::TcpListener::from_std(std_listener)
                .map_err(|source| MockError::Bind { addr, source })?
        };
        RUNTIME.spawn(accept_loop(listener, state.clone(), stop_rx));
        Ok(MockUpstream {
            addr: local,
            state,
            stop: Some(stop_tx),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn register(&self, script: Script) -> ScriptHandle {
        let n = self.state.next_script.fetch_add(1, Ordering::Relaxed);
        let id = format!("s{n}");
        let (pause, _) = watch::channel(0u8);
        let reg = Arc::new(Registered {
            script,
            pause: pause.clone(),
        });
        lock(&self.state.scripts).insert(id.clone(), reg);
        ScriptHandle { id, pause }
    }

    /// Whether received requests are kept for [`MockUpstream::requests`] (the default). A
    /// soak of many thousand requests turns it off so the mock's memory stays flat.
    pub fn keep_requests(&self, on: bool) {
        self.state.drop_requests.store(!on, Ordering::SeqCst);
    }

    /// Forgets a script whose request is over (long benchmarks register one per stream).
    pub fn forget(&self, handle: &ScriptHandle) {
        lock(&self.state.scripts).remove(handle.id());
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).clone()
    }

    /// Requests that carried this script's id.
    pub fn requests_for(&self, handle: &ScriptHandle) -> Vec<RecordedRequest> {
        lock(&self.state.requests)
            .iter()
            .filter(|r| r.script.as_deref() == Some(handle.id()))
            .cloned()
            .collect()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Paused requests would otherwise wait forever.
        for reg in lock(&self.state.scripts).values() {
            reg.pause.send_replace(2);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => return,
            a = listener.accept() => a,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        state.connections.fetch_add(1, Ordering::SeqCst);
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(state.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The body error aborts the connection mid-body: how the mock resets a stream.
type MockBody = BoxBody<Bytes, std::io::Error>;

fn full(status: u16, content_type: &str, body: Vec<u8>) -> Response<MockBody> {
    let len = body.len();
    let mut resp = Response::new(
        http_body_util::Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    let h = resp.headers_mut();
    if let Ok(v) = content_type.parse() {
        h.insert(hyper::header::CONTENT_TYPE, v);
    }
    h.insert(
        hyper::header::CONTENT_LENGTH,
        hyper::header::HeaderValue::from(len),
    );
    resp
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<MockBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => return Ok(full(400, "text/plain", b"unreadable request body".to_vec())),
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let header = |name: &str| -> Option<String> {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| parts.uri.path().to_owned());
    let script_id = header("x-mock-script");
    if !state.drop_requests.load(Ordering::SeqCst) {
        lock(&state.requests).push(RecordedRequest {
            method: parts.method.as_str().to_owned(),
            path: path.clone(),
            headers: headers.clone(),
            body: body.clone(),
            script: script_id.clone(),
        });
    }

    let registered = script_id
        .as_ref()
        .and_then(|id| lock(&state.scripts).get(id).cloned());
    let (mut script, pause) = match &registered {
        Some(r) => (r.script.clone(), Some(r.pause.clone())),
        None => (Script::default(), None),
    };
    if let Some(c) = header("x-mock-chunking").and_then(|c| Chunking::parse(&c)) {
        script.chunking = c;
    }
    if let Some(ms) = header("x-mock-gap-ms").and_then(|g| g.trim().parse().ok()) {
        script.gap = Duration::from_millis(ms);
    }
    if header("x-mock-gzip").is_some_and(|g| g.trim() == "1") {
        script.gzip = true;
    }
    if let Some(n) = header("x-mock-tokens").and_then(|g| g.trim().parse::<usize>().ok()) {
        script.body = ScriptBody::Deltas(synthetic_tokens(n));
    }

    // A provider answers a POST whose body is not JSON with a 400, never with a stream: an
    // inspection layer that loses or garbles the prompt then shows as an error, not as an
    // answer the test could mistake for success.
    let is_api = ApiShape::from_path(&path).is_some();
    if is_api
        && parts.method == hyper::Method::POST
        && !matches!(script.body, ScriptBody::Raw { .. })
        && serde_json::from_slice::<Value>(&body).is_err()
    {
        return Ok(full(
            400,
            "application/json",
            br#"{"error":{"type":"invalid_request_error","message":"the request body is not valid JSON"}}"#
                .to_vec(),
        ));
    }
    let Some((content_type, plain)) = answer(&path, &headers, &body, &script.body) else {
        return Ok(full(
            404,
            "application/json",
            br#"{"error":"no such route in the mock"}"#.to_vec(),
        ));
    };
    let streamed = matches!(
        content_type.as_str(),
        "text/event-stream" | "application/x-ndjson"
    );
    let plain_chunks = script.chunking.split(&plain);
    let chunks = if script.gzip {
        gzip_chunks(&plain_chunks)
    } else {
        plain_chunks
    };

    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(16);
    let mut resp =
        Response::new(StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx)).boxed());
    *resp.status_mut() =
        hyper::StatusCode::from_u16(script.status).unwrap_or(hyper::StatusCode::OK);
    let h = resp.headers_mut();
    if let Ok(v) = content_type.parse() {
        h.insert(hyper::header::CONTENT_TYPE, v);
    }
    if streamed {
        h.insert(
            hyper::header::CACHE_CONTROL,
            hyper::header::HeaderValue::from_static("no-cache"),
        );
    } else {
        let len: usize = chunks.iter().map(Vec::len).sum();
        h.insert(
            hyper::header::CONTENT_LENGTH,
            hyper::header::HeaderValue::from(len),
        );
    }
    if script.gzip {
        h.insert(
            hyper::header::CONTENT_ENCODING,
            hyper::header::HeaderValue::from_static("gzip"),
        );
    }
    let (chunks, reset) = match script.reset_after {
        Some(limit) => (truncate_chunks(chunks, limit), true),
        None => (chunks, false),
    };
    tokio::spawn(write_body(
        tx,
        chunks,
        reset,
        script.gap,
        script.pause_after,
        pause,
        script.send_clock.clone(),
    ));
    Ok(resp)
}

/// The first `limit` bytes of `chunks`, cut inside a chunk where the limit falls.
fn truncate_chunks(chunks: Vec<Vec<u8>>, limit: usize) -> Vec<Vec<u8>> {
    let mut left = limit;
    let mut out = Vec::new();
    for mut c in chunks {
        if left == 0 {
            break;
        }
        c.truncate(left);
        left -= c.len();
        out.push(c);
    }
    out
}

async fn write_body(
    tx: mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>,
    chunks: Vec<Vec<u8>>,
    reset: bool,
    gap: Duration,
    pause_after: Option<usize>,
    pause: Option<watch::Sender<u8>>,
    clock: Option<SendClock>,
) {
    let stamp = || {
        if let Some(c) = &clock {
            c.stamp();
        }
    };
    let mut sent = 0usize;
    let mut paused = false;
    for (i, chunk) in chunks.into_iter().enumerate() {
        if i > 0 && !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
        let mut chunk = chunk;
        if let (Some(limit), false) = (pause_after, paused)
            && sent + chunk.len() >= limit
        {
            let head_len = limit.saturating_sub(sent);
            let tail = chunk.split_off(head_len);
            if !chunk.is_empty() {
                stamp();
                if tx.send(Ok(Frame::data(Bytes::from(chunk)))).await.is_err() {
                    return;
                }
            }
            sent += head_len;
            paused = true;
            if let Some(p) = &pause {
                p.send_if_modified(|s| {
                    if *s == 0 {
                        *s = 1;
                        true
                    } else {
                        false
                    }
                });
                let mut rx = p.subscribe();
                // The test releases; a client that went away ends the wait too.
                tokio::select! {
                    _ = rx.wait_for(|s| *s >= 2) => {}
                    _ = tx.closed() => return,
                }
            }
            chunk = tail;
        }
        if chunk.is_empty() {
            continue;
        }
        sent += chunk.len();
        stamp();
        if tx.send(Ok(Frame::data(Bytes::from(chunk)))).await.is_err() {
            return;
        }
    }
    if reset {
        let _ = tx
            .send(Err(std::io::Error::other("mock upstream reset")))
            .await;
    }
}

/// Compresses each plain chunk with a sync flush, so the gzip stream decodes chunk by chunk.
fn gzip_chunks(plain: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut out = Vec::new();
    for c in plain {
        let _ = enc.write_all(c);
        let _ = enc.flush();
        out.push(std::mem::take(enc.get_mut()));
    }
    if let Ok(rest) = enc.finish()
        && !rest.is_empty()
    {
        out.push(rest);
    }
    out.retain(|c| !c.is_empty());
    out
}

/// A benign answer of `n` tokens, for latency benchmarks.
pub fn synthetic_tokens(n: usize) -> Vec<String> {
    const WORDS: &[&str] = &[
        " the",
        " river",
        " runs",
        " past",
        " old",
        " mills",
        " and",
        " quiet",
        " fields",
        " where",
        " children",
        " play",
        " until",
        " evening",
        " falls",
    ];
    (0..n)
        .map(|i| {
            WORDS
                .get(i % WORDS.len())
                .copied()
                .unwrap_or(" word")
                .to_owned()
        })
        .collect()
}

/// Does the request ask for a streamed answer?
fn wants_stream(api: ApiShape, path: &str, headers: &[(String, String)], body: &Value) -> bool {
    match api {
        ApiShape::Gemini => path.contains(":streamGenerateContent"),
        ApiShape::Ollama => body.get("stream").and_then(Value::as_bool).unwrap_or(true),
        ApiShape::Mcp => headers
            .iter()
            .any(|(n, v)| n == "accept" && v.contains("text/event-stream")),
        _ => body.get("stream").and_then(Value::as_bool).unwrap_or(false),
    }
}

/// Content type and body of the answer to one request.
fn answer(
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
    script: &ScriptBody,
) -> Option<(String, Vec<u8>)> {
    if let ScriptBody::Raw {
        bytes,
        content_type,
    } = script
    {
        return Some((content_type.clone(), bytes.clone()));
    }
    let api = ApiShape::from_path(path)?;
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let stream = wants_stream(api, path, headers, &request);

    if api == ApiShape::Mcp {
        return Some(mcp_answer(&request, stream, script));
    }
    let gemini_array = api == ApiShape::Gemini && stream && !path.contains("alt=sse");
    let (content_type, bytes) = match (script, stream) {
        (ScriptBody::Capture, true) => (api.stream_content_type(), api.capture().to_vec()),
        (ScriptBody::Deltas(d), true) => (api.stream_content_type(), api::render_stream(api, d)),
        (ScriptBody::Capture, false) => {
            ("application/json", api::render_whole(api, CAPTURED_ANSWER))
        }
        (ScriptBody::Deltas(d), false) => ("application/json", api::render_whole(api, &d.concat())),
        (ScriptBody::Raw { .. }, _) => return None,
    };
    if gemini_array {
        return Some((
            "application/json".to_owned(),
            api::render_gemini_array(&bytes),
        ));
    }
    Some((content_type.to_owned(), bytes))
}

fn mcp_answer(request: &Value, stream: bool, script: &ScriptBody) -> (String, Vec<u8>) {
    let method = request.get("method").and_then(Value::as_str).unwrap_or("");
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let json_reply = |result: Value| {
        serde_json::json!({"jsonrpc": "2.0", "id": id, "result": result})
            .to_string()
            .into_bytes()
    };
    match (method, script) {
        ("tools/list", _) => (
            "application/json".to_owned(),
            api::captures::MCP_TOOLS_LIST.to_vec(),
        ),
        ("tools/call", ScriptBody::Capture) if stream => (
            "text/event-stream".to_owned(),
            api::captures::MCP_TOOLS_CALL_RESULT.to_vec(),
        ),
        ("tools/call", ScriptBody::Capture) => {
            // The JSON form of the captured answer: its last SSE event's message.
            let parsed = crate::inspect::sse_events(api::captures::MCP_TOOLS_CALL_RESULT);
            let data = parsed
                .events
                .last()
                .map(|e| e.data.clone())
                .unwrap_or_default();
            ("application/json".to_owned(), data.into_bytes())
        }
        ("tools/call", ScriptBody::Deltas(d)) if stream => (
            "text/event-stream".to_owned(),
            api::render_stream(ApiShape::Mcp, d),
        ),
        ("tools/call", ScriptBody::Deltas(d)) => (
            "application/json".to_owned(),
            api::render_whole(ApiShape::Mcp, &d.concat()),
        ),
        ("initialize", _) => (
            "application/json".to_owned(),
            json_reply(serde_json::json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "mock", "version": "1"}
            })),
        ),
        _ => (
            "application/json".to_owned(),
            json_reply(serde_json::json!({})),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chunking_reassembles_the_body() {
        let body = ApiShape::Gemini.capture();
        for c in [
            Chunking::Events,
            Chunking::Whole,
            Chunking::Bytes,
            Chunking::Random(7),
        ] {
            let chunks = c.split(body);
            assert_eq!(chunks.concat(), body, "{c:?}");
            assert!(chunks.iter().all(|ch| !ch.is_empty()), "{c:?}");
        }
        let events = Chunking::Events.split(ApiShape::Gemini.capture());
        let parsed = crate::inspect::sse_events(ApiShape::Gemini.capture());
        assert_eq!(events.len(), parsed.events.len());
        let lines = Chunking::Events.split(ApiShape::Ollama.capture());
        assert_eq!(
            lines.len(),
            ApiShape::Ollama
                .capture()
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
        );
    }

    #[test]
    fn send_clock_stamps_every_write_in_order() {
        let mock = MockUpstream::start().unwrap_or_else(|e| panic!("{e}"));
        let clock = SendClock::new();
        let tokens = synthetic_tokens(5);
        let handle = mock.register(
            Script::deltas(&tokens)
                .gap(Duration::from_millis(2))
                .send_clock(clock.clone()),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let req = crate::scenario::api_request(ApiShape::OpenAiChat, "hi", true)
            .headers([handle.header()]);
        let resp = rt
            .block_on(crate::client::send(
                mock.addr(),
                &req,
                Duration::from_secs(20),
            ))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resp.end, crate::client::BodyEnd::Complete);
        let stamps = clock.instants();
        // Role, one event per token, finish, [DONE].
        assert_eq!(stamps.len(), tokens.len() + 3);
        assert!(stamps.windows(2).all(|w| w.first() <= w.last()));
        assert!(
            resp.chunks
                .last()
                .zip(stamps.last())
                .is_some_and(|(c, s)| c.at >= *s)
        );
    }

    #[test]
    fn chunking_names_parse() {
        assert_eq!(Chunking::parse("random:42"), Some(Chunking::Random(42)));
        assert_eq!(Chunking::parse("bytes"), Some(Chunking::Bytes));
        assert_eq!(Chunking::parse("random:x"), None);
    }

    #[test]
    fn gzip_chunks_decode_to_the_plain_body() {
        let plain = Chunking::Random(3).split(ApiShape::OpenAiChat.capture());
        let gz = gzip_chunks(&plain).concat();
        assert_eq!(
            crate::inspect::gunzip_lenient(&gz),
            ApiShape::OpenAiChat.capture()
        );
    }
}
