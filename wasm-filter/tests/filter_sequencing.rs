//! The filter's callback sequencing against a fake Envoy that enforces the rules the real one
//! enforces (a refused host call would trap the VM), with the real core and with scripted
//! cores for the outcomes the core can return.

use std::cell::{Cell, RefCell};

use proxy_wasm::types::Action;
use sluice_core::{
    AuditRecord, BodyOutcome, Engine, ExchangeContext, HeaderMutation, HeadersOutcome, LocalReply,
    Policy,
};
use sluice_wasm::config::AuditSinkConfig;
use sluice_wasm::filter::{AuditPolicy, HttpHost, Inspector, StreamFilter};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    RequestHeaders,
    RequestBody,
    RequestTrailers,
    ResponseHeaders,
    ResponseBody,
    ResponseTrailers,
    /// The audit sink's answer (`on_http_call_response`), while the response is held.
    AuditResponse,
    Log,
}

/// A simulated Envoy stream: buffers, header maps, and a list of the calls Envoy would refuse.
struct FakeEnvoy {
    phase: Cell<Phase>,
    response_headers_sent: Cell<bool>,
    request_headers: RefCell<Vec<(String, String)>>,
    response_headers: RefCell<Vec<(String, String)>>,
    request_buffer: RefCell<Vec<u8>>,
    response_chunk: RefCell<Vec<u8>>,
    /// Bytes handed to the host short of what was announced (simulates a failing read).
    short_read: Cell<bool>,
    replies: RefCell<Vec<LocalReply>>,
    resets: Cell<u32>,
    decisions: RefCell<Vec<String>>,
    audits: Cell<u32>,
    violations: RefCell<Vec<String>>,
    /// Bodies posted to the audit sink.
    audit_posts: RefCell<Vec<Vec<u8>>>,
    /// Envoy refuses the sink call (unknown cluster).
    refuse_dispatch: Cell<bool>,
    /// The filter paused the end of the response (the final chunk is in Envoy's buffer).
    held: Cell<bool>,
    resumes: Cell<u32>,
}

impl FakeEnvoy {
    fn new(request_headers: &[(&str, &str)], response_headers: &[(&str, &str)]) -> FakeEnvoy {
        let owned = |h: &[(&str, &str)]| {
            h.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        FakeEnvoy {
            phase: Cell::new(Phase::RequestHeaders),
            response_headers_sent: Cell::new(false),
            request_headers: RefCell::new(owned(request_headers)),
            response_headers: RefCell::new(owned(response_headers)),
            request_buffer: RefCell::new(Vec::new()),
            response_chunk: RefCell::new(Vec::new()),
            short_read: Cell::new(false),
            replies: RefCell::new(Vec::new()),
            resets: Cell::new(0),
            decisions: RefCell::new(Vec::new()),
            audits: Cell::new(0),
            violations: RefCell::new(Vec::new()),
            audit_posts: RefCell::new(Vec::new()),
            refuse_dispatch: Cell::new(false),
            held: Cell::new(false),
            resumes: Cell::new(0),
        }
    }

    fn violation(&self, what: String) {
        self.violations.borrow_mut().push(what);
    }

    fn may_edit_request_headers(&self) -> bool {
        self.phase.get() == Phase::RequestHeaders
    }

    fn header(map: &RefCell<Vec<(String, String)>>, name: &str) -> Option<String> {
        map.borrow()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    fn set(map: &RefCell<Vec<(String, String)>>, name: &str, value: &str) {
        let mut map = map.borrow_mut();
        map.retain(|(n, _)| n != name);
        map.push((name.to_owned(), value.to_owned()));
    }
}

impl HttpHost for FakeEnvoy {
    fn request_headers(&self) -> Vec<(String, String)> {
        self.request_headers.borrow().clone()
    }
    fn set_request_header(&self, name: &str, value: &str) {
        if !self.may_edit_request_headers() {
            self.violation(format!(
                "set request header {name} in {:?}",
                self.phase.get()
            ));
        }
        Self::set(&self.request_headers, name, value);
    }
    fn remove_request_header(&self, name: &str) {
        if !self.may_edit_request_headers() {
            self.violation(format!(
                "remove request header {name} in {:?}",
                self.phase.get()
            ));
        }
        self.request_headers.borrow_mut().retain(|(n, _)| n != name);
    }
    fn response_headers(&self) -> Vec<(String, String)> {
        self.response_headers.borrow().clone()
    }
    fn set_response_header(&self, name: &str, value: &str) {
        if self.phase.get() != Phase::ResponseHeaders {
            self.violation(format!(
                "set response header {name} in {:?}",
                self.phase.get()
            ));
        }
        Self::set(&self.response_headers, name, value);
    }
    fn remove_response_header(&self, name: &str) {
        if self.phase.get() != Phase::ResponseHeaders {
            self.violation(format!(
                "remove response header {name} in {:?}",
                self.phase.get()
            ));
        }
        self.response_headers
            .borrow_mut()
            .retain(|(n, _)| n != name);
    }
    fn request_body(&self, size: usize) -> Vec<u8> {
        let buffer = self.request_buffer.borrow();
        if !matches!(
            self.phase.get(),
            Phase::RequestBody | Phase::RequestTrailers
        ) || size == 0
            || size > buffer.len()
        {
            self.violation(format!(
                "read request body {size} in {:?}",
                self.phase.get()
            ));
        }
        let n = size.min(buffer.len());
        let n = if self.short_read.get() { n / 2 } else { n };
        buffer[..n].to_vec()
    }
    fn replace_request_body(&self, size: usize, body: &[u8]) {
        let mut buffer = self.request_buffer.borrow_mut();
        if !matches!(
            self.phase.get(),
            Phase::RequestBody | Phase::RequestTrailers
        ) || size > buffer.len()
        {
            self.violation(format!(
                "replace request body {size} in {:?}",
                self.phase.get()
            ));
            return;
        }
        buffer.splice(..size, body.iter().copied());
    }
    fn response_body(&self, size: usize) -> Vec<u8> {
        let chunk = self.response_chunk.borrow();
        if self.phase.get() != Phase::ResponseBody || size == 0 || size > chunk.len() {
            self.violation(format!(
                "read response body {size} in {:?}",
                self.phase.get()
            ));
        }
        let n = size.min(chunk.len());
        let n = if self.short_read.get() { n / 2 } else { n };
        chunk[..n].to_vec()
    }
    fn replace_response_body(&self, size: usize, body: &[u8]) {
        let mut chunk = self.response_chunk.borrow_mut();
        // A held final chunk stays in Envoy's buffer, replaceable until it is resumed.
        let buffered = self.phase.get() == Phase::AuditResponse && self.held.get();
        if (self.phase.get() != Phase::ResponseBody && !buffered) || size > chunk.len() {
            self.violation(format!(
                "replace response body {size} in {:?}",
                self.phase.get()
            ));
            return;
        }
        chunk.splice(..size, body.iter().copied());
    }
    fn send_reply(&self, reply: &LocalReply) {
        if !self.replies.borrow().is_empty() {
            self.violation("second local reply".to_owned());
        }
        if self.response_headers_sent.get() {
            self.violation("local reply after response headers left".to_owned());
        }
        self.replies.borrow_mut().push(reply.clone());
    }
    fn reset_stream(&self) {
        self.resets.set(self.resets.get() + 1);
    }
    fn set_decision(&self, decision: &str) {
        self.decisions.borrow_mut().push(decision.to_owned());
    }
    fn log_audit(&self, _record: &AuditRecord) {
        if self.phase.get() != Phase::Log {
            self.violation("audit before access-log time".to_owned());
        }
        self.audits.set(self.audits.get() + 1);
    }
    fn now_unix_micros(&self) -> u64 {
        1_796_154_155_000_000
    }
    fn dispatch_audit(&self, sink: &AuditSinkConfig, body: &[u8]) -> bool {
        if !matches!(
            self.phase.get(),
            Phase::ResponseHeaders | Phase::ResponseBody | Phase::ResponseTrailers
        ) {
            self.violation(format!("audit call in {:?}", self.phase.get()));
        }
        assert_eq!(sink.cluster, "sluice_audit");
        if self.refuse_dispatch.get() {
            return false;
        }
        self.audit_posts.borrow_mut().push(body.to_vec());
        true
    }
    fn resume_response(&self) {
        if !self.held.get() || self.phase.get() != Phase::AuditResponse {
            self.violation(format!(
                "resume without a held response in {:?}",
                self.phase.get()
            ));
        }
        self.held.set(false);
        self.resumes.set(self.resumes.get() + 1);
    }
}

/// What reached the upstream and the client.
#[derive(Debug, Default)]
struct Delivered {
    upstream_headers: Option<Vec<(String, String)>>,
    upstream_body: Vec<u8>,
    client_body: Vec<u8>,
}

/// Drives the filter the way Envoy does: a paused request body is buffered (the next callback
/// sees the total so far), a response chunk is forwarded when the callback continues.
fn run<I: Inspector>(
    filter: &mut StreamFilter<I>,
    envoy: &FakeEnvoy,
    request_chunks: &[&[u8]],
    response_chunks: &[&[u8]],
) -> Delivered {
    let mut out = Delivered::default();
    envoy.phase.set(Phase::RequestHeaders);
    let action = filter.on_request_headers(envoy, request_chunks.is_empty());
    let mut replied = !envoy.replies.borrow().is_empty();
    if action == Action::Continue && !replied {
        out.upstream_headers = Some(envoy.request_headers());
    } else if !replied {
        // Envoy turns a paused headers callback into "stop all iteration": no body callbacks.
        envoy.violation("paused request headers".to_owned());
        return out;
    }
    for (i, chunk) in request_chunks.iter().enumerate() {
        if replied {
            break;
        }
        envoy.phase.set(Phase::RequestBody);
        envoy.request_buffer.borrow_mut().extend_from_slice(chunk);
        let size = envoy.request_buffer.borrow().len();
        let action = filter.on_request_body(envoy, size, i + 1 == request_chunks.len());
        replied = !envoy.replies.borrow().is_empty();
        if action == Action::Continue && !replied {
            out.upstream_body
                .extend(envoy.request_buffer.borrow_mut().drain(..));
        }
    }
    if replied {
        // Envoy sends the local reply through the encoder filters, this one included.
        let reply = envoy.replies.borrow()[0].clone();
        *envoy.response_headers.borrow_mut() = vec![(":status".into(), reply.status.to_string())];
        envoy.phase.set(Phase::ResponseHeaders);
        assert_eq!(filter.on_response_headers(envoy, false), Action::Continue);
        envoy.response_headers_sent.set(true);
        envoy.phase.set(Phase::ResponseBody);
        *envoy.response_chunk.borrow_mut() = reply.body.clone();
        assert_eq!(
            filter.on_response_body(envoy, reply.body.len(), true),
            Action::Continue
        );
        out.client_body = envoy.response_chunk.borrow().clone();
    } else if out.upstream_headers.is_some() {
        envoy.phase.set(Phase::ResponseHeaders);
        let action = filter.on_response_headers(envoy, response_chunks.is_empty());
        if action == Action::Continue {
            envoy.response_headers_sent.set(true);
            for (i, chunk) in response_chunks.iter().enumerate() {
                envoy.phase.set(Phase::ResponseBody);
                *envoy.response_chunk.borrow_mut() = chunk.to_vec();
                let action =
                    filter.on_response_body(envoy, chunk.len(), i + 1 == response_chunks.len());
                if envoy.resets.get() > 0 {
                    break;
                }
                if action != Action::Continue {
                    envoy.violation("paused a streamed response body".to_owned());
                    break;
                }
                out.client_body
                    .extend_from_slice(&envoy.response_chunk.borrow());
            }
        }
    }
    envoy.phase.set(Phase::Log);
    filter.on_log(envoy);
    out
}

fn assert_no_violations(envoy: &FakeEnvoy) {
    assert_eq!(*envoy.violations.borrow(), Vec::<String>::new());
}

/// A scripted response-body answer: (chunk, end_of_stream) → outcome.
type ResponseScript = Box<dyn FnMut(&[u8], bool) -> BodyOutcome>;

/// A core whose answers are fixed per callback, recording what it was given.
#[derive(Default)]
struct Scripted {
    request_headers: Option<HeadersOutcome>,
    request_body: Option<BodyOutcome>,
    response_headers: Option<HeadersOutcome>,
    response_body: Option<ResponseScript>,
    seen_request_bodies: Vec<(Vec<u8>, bool)>,
    response_calls: u32,
}

impl Inspector for Scripted {
    fn request_headers(&mut self, _headers: &[(String, String)]) -> HeadersOutcome {
        self.request_headers
            .clone()
            .unwrap_or(HeadersOutcome::Continue(HeaderMutation::default()))
    }
    fn request_body(&mut self, chunk: &[u8], end_of_stream: bool) -> BodyOutcome {
        self.seen_request_bodies
            .push((chunk.to_vec(), end_of_stream));
        self.request_body.clone().unwrap_or(BodyOutcome::Unchanged)
    }
    fn response_headers(&mut self, _headers: &[(String, String)]) -> HeadersOutcome {
        self.response_calls += 1;
        self.response_headers
            .clone()
            .unwrap_or(HeadersOutcome::Continue(HeaderMutation::default()))
    }
    fn response_body(&mut self, chunk: &[u8], end_of_stream: bool) -> BodyOutcome {
        self.response_calls += 1;
        match &mut self.response_body {
            Some(f) => f(chunk, end_of_stream),
            None => BodyOutcome::Unchanged,
        }
    }
    fn finish(&mut self) -> AuditRecord {
        sluice_core::Engine::new(Policy::default())
            .expect("default policy")
            .exchange(ExchangeContext::default())
            .finish()
    }
    fn audit_failed(&mut self) -> Vec<u8> {
        AUDIT_FAILED_EVENT.to_vec()
    }
}

/// What the scripted core sends in place of the final chunk when its record was not written.
const AUDIT_FAILED_EVENT: &[u8] = b"event: error\ndata: audit\n\n";

fn reply(status: u16, body: &str) -> LocalReply {
    LocalReply {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.as_bytes().to_vec(),
        reason: "test",
    }
}

const REQUEST_HEADERS: &[(&str, &str)] = &[
    (":method", "POST"),
    (":path", "/v1/chat/completions"),
    (":authority", "api.example"),
    ("content-type", "application/json"),
    ("content-length", "64"),
];
const RESPONSE_HEADERS: &[(&str, &str)] =
    &[(":status", "200"), ("content-type", "text/event-stream")];

#[test]
fn benign_exchange_passes_byte_for_byte_through_the_real_core() {
    let engine = Engine::new(Policy::default()).expect("default policy");
    let mut filter = StreamFilter::new(engine.exchange(ExchangeContext::default()));
    let envoy = FakeEnvoy::new(REQUEST_HEADERS, RESPONSE_HEADERS);
    let request: [&[u8]; 3] = [
        br#"{"model":"m","messages":[{"role":"#,
        br#""user","content":"hello"#,
        br#" there"}]}"#,
    ];
    let response: [&[u8]; 4] = [
        b"data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
        b"data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}",
        b"\n\n",
        b"data: [DONE]\n\n",
    ];
    let out = run(&mut filter, &envoy, &request, &response);
    assert_no_violations(&envoy);
    assert_eq!(out.upstream_body, request.concat());
    assert_eq!(out.client_body, response.concat());
    assert!(envoy.replies.borrow().is_empty());
    assert_eq!(envoy.audits.get(), 1);
    assert!(!envoy.decisions.borrow().is_empty());
    assert!(filter.audit().is_some());
}

#[test]
fn request_body_reaches_the_core_once_whole() {
    let mut filter = StreamFilter::new(Scripted::default());
    let envoy = FakeEnvoy::new(REQUEST_HEADERS, RESPONSE_HEADERS);
    let out = run(&mut filter, &envoy, &[b"ab", b"cd", b"ef"], &[b"x"]);
    assert_no_violations(&envoy);
    assert_eq!(out.upstream_body, b"abcdef");
    // The body may be rewritten, so the headers went without a length.
    let headers = out.upstream_headers.expect("request forwarded");
    assert!(!headers.iter().any(|(n, _)| n == "content-length"));
    let seen = &filter_inspector_requests(filter);
    assert_eq!(seen, &vec![(b"abcdef".to_vec(), true)]);
}

fn filter_inspector_requests(filter: StreamFilter<Scripted>) -> Vec<(Vec<u8>, bool)> {
    filter.into_inspector().seen_request_bodies
}

#[test]
fn rewritten_request_body_replaces_the_buffered_body() {
    let script = Scripted {
        request_body: Some(BodyOutcome::Replace(b"{\"masked\":true}".to_vec())),
        ..Scripted::default()
    };
    let mut filter = StreamFilter::new(script);
    let envoy = FakeEnvoy::new(REQUEST_HEADERS, RESPONSE_HEADERS);
    let out = run(
        &mut filter,
        &envoy,
        &[b"{\"secret\":", b"\"xyz\"}"],
        &[b"ok"],
    );
    assert_no_violations(&envoy);
    assert_eq!(out.upstream_body, b"{\"masked\":true}");
    let headers = out.upstream_headers.expect("request forwarded");
    assert!(!headers.iter().any(|(n, _)| n == "content-length"));
}

#[test]
fn request_header_mutation_is_applied_before_forwarding() {
    let script = Scripted {
        request_headers: Some(HeadersOutcome::Continue(HeaderMutation {
            set: vec![("accept-encoding".into(), "identity".into())],
            remove: vec!["content-type".into()],
        })),
        ..Scripted::default()
    };
    let mut filter = StreamFilter::new(script);
    let envoy = FakeEnvoy::new(REQUEST_HEADERS, RESPONSE_HEADERS);
    let out = run(&mut filter, &envoy, &[], &[b"ok"]);
    assert_no_violations(&envoy);
    let headers = out.upstream_headers.expect("request forwarded");
    assert!(headers.contains(&("accept-encoding".into(), "identity".into())));
    assert!(!headers.iter().any(|(n, _)| n == "content-type"));
}

#[test]
fn reply_at_request_headers_keeps_everything_from_upstream() {
    let script = Scripted {
        request_headers: Some(HeadersOutcome::Reply(reply(403, "{\"error\":\"no\"}"))),
        ..Scripted::default()
    };
    let mut filter = StreamFilter::new(script);
    let envoy = FakeEnvoy::new(REQUEST_HEADERS, RESPONSE_HEADERS);
    let out = run(&mut filter, &envoy, &[b"body"], &[b"never"]);
    assert_no_violations(&envoy);
    assert!(out.upstream_headers.is_none());
    assert!(out.upstream_body.is_empty());
    assert_eq!(envoy.replies.borrow().len(), 1);
    // Sluice's own reply passes its response callbacks untouched, without the core.
    assert_eq!(out.client_body, b"{\"error\":\"no\"}");
    assert_eq!(filter.into_inspector().response_calls, 0);
}

#[test]
fn reply_at_request_body_keeps_the_body_from_upstream() {
    let script = Scripted {
        request_body: Some(BodyOutcome::Reply(reply(400, "blocked"))),
        ..Scripted::default()
    };
    let mut filter = StreamFilter::new(script);
    let envoy = FakeEnvoy::new(REQUEST_HEADERS, RESPONSE_HEADERS);
    let out = run(&mut filter, &envoy, &[b"AKIA", b"..."], &[b"never"]);
    assert_no_violations(&envoy);
    // The headers left already; the body never does (Envoy resets the upstream request).
    assert!(out.upstream_body.is_empty());
    assert_eq!(envoy.replies.borrow()[0].status, 400);
    assert_eq!(out.client_body, b"blocked");
}

#[test]
fn response_chunks_are_rewritten_in_place_and_held_text_is_flushed_at_the_end() {
    // A core that holds everything back and releases it upper-cased at the end.
    let mut held = Vec::new();
    let script = Scripted {
        response_body: Some(Box::new(move |chunk: &[u8], eos: bool| {
            held.extend_from_slice(chunk);
            if eos {
                BodyOutcome::Replace(std::mem::take(&mut held).to_ascii_uppercase())
            } else {
                BodyOutcome::Replace(Vec::new())
            }
        })),
        response_headers: Some(HeadersOutcome::Continue(HeaderMutation {
            set: vec![("x-sluice-decision".into(), "mask".into())],
            remove: vec!["content-length".into()],
        })),
        ..Scripted::default()
    };
    let mut filter = StreamFilter::new(script);
    let envoy = FakeEnvoy::new(
        REQUEST_HEADERS,
        &[(":status", "200"), ("content-length", "9")],
    );
    let out = run(&mut filter, &envoy, &[], &[b"abc", b"def", b"ghi", b""]);
    assert_no_violations(&envoy);
    assert_eq!(out.client_body, b"ABCDEFGHI");
    let headers = envoy.response_headers();
    assert!(!headers.iter().any(|(n, _)| n == "content-length"));
    assert!(headers.contains(&("x-sluice-decision".into(), "mask".into())));
}

#[test]
fn block_after_response_headers_resets_and_drops_the_chunk() {
    let script = Scripted {
        response_body: Some(Box::new(|chunk: &[u8], _eos: bool| {
            if chunk.starts_with(b"bad") {
                BodyOutcome::Reply(reply(403, "blocked"))
            } else {
                BodyOutcome::Unchanged
            }
        })),
        ..Scripted::default()
    };
    let mut filter = StreamFilter::new(script);
    let envoy = FakeEnvoy::new(REQUEST_HEADERS, RESPONSE_HEADERS);
    let out = run(
        &mut filter,
        &envoy,
        &[],
        &[b"good ", b"bad secret", b"more"],
    );
    assert_no_violations(&envoy);
    assert_eq!(out.client_body, b"good ");
    assert_eq!(envoy.resets.get(), 1);
    assert!(envoy.replies.borrow().is_empty());
    assert!(envoy.response_chunk.borrow().is_empty());
    // Any further chunk Envoy might still deliver is held, never forwarded.
    envoy.phase.set(Phase::ResponseBody);
    *envoy.response_chunk.borrow_mut() = b"late".to_vec();
    assert_eq!(filter.on_response_body(&envoy, 4, true), Action::Pause);
}

#[test]
fn reply_at_response_headers_replaces_the_response() {
    let script = Scripted {
        response_headers: Some(HeadersOutcome::Reply(reply(502, "unsupported encoding"))),
        ..Scripted::default()
    };
    let mut filter = StreamFilter::new(script);
    let envoy = FakeEnvoy::new(REQUEST_HEADERS, RESPONSE_HEADERS);
    let out = run(&mut filter, &envoy, &[], &[b"compressed"]);
    assert_no_violations(&envoy);
    assert!(out.client_body.is_empty());
    assert_eq!(envoy.replies.borrow()[0].status, 502);
    envoy.phase.set(Phase::ResponseBody);
    *envoy.response_chunk.borrow_mut() = b"compressed".to_vec();
    assert_eq!(filter.on_response_body(&envoy, 10, true), Action::Pause);
}

#[test]
fn a_short_body_read_fails_closed() {
    let mut filter = StreamFilter::new(Scripted::default());
    let envoy = FakeEnvoy::new(REQUEST_HEADERS, RESPONSE_HEADERS);
    envoy.short_read.set(true);
    let out = run(&mut filter, &envoy, &[b"0123456789"], &[]);
    assert!(out.upstream_body.is_empty());
    assert_eq!(envoy.replies.borrow()[0].status, 500);
    assert!(filter.into_inspector().seen_request_bodies.is_empty());
}

#[test]
fn empty_chunks_cause_no_body_reads() {
    let mut filter = StreamFilter::new(Scripted::default());
    let envoy = FakeEnvoy::new(REQUEST_HEADERS, RESPONSE_HEADERS);
    let out = run(&mut filter, &envoy, &[b""], &[b"", b"x", b""]);
    assert_no_violations(&envoy);
    assert!(out.upstream_body.is_empty());
    assert_eq!(out.client_body, b"x");
}

#[test]
fn request_trailers_complete_the_buffered_body() {
    let script = Scripted {
        request_body: Some(BodyOutcome::Replace(b"new".to_vec())),
        ..Scripted::default()
    };
    let mut filter = StreamFilter::new(script);
    let envoy = FakeEnvoy::new(REQUEST_HEADERS, RESPONSE_HEADERS);
    envoy.phase.set(Phase::RequestHeaders);
    assert_eq!(filter.on_request_headers(&envoy, false), Action::Continue);
    envoy.phase.set(Phase::RequestBody);
    envoy
        .request_buffer
        .borrow_mut()
        .extend_from_slice(b"old body");
    assert_eq!(filter.on_request_body(&envoy, 8, false), Action::Pause);
    envoy.phase.set(Phase::RequestTrailers);
    assert_eq!(filter.on_request_trailers(&envoy), Action::Continue);
    assert_no_violations(&envoy);
    assert_eq!(*envoy.request_buffer.borrow(), b"new");
    assert_eq!(
        FakeEnvoy::header(&envoy.request_headers, "content-length"),
        None
    );
    let seen = filter.into_inspector().seen_request_bodies;
    assert_eq!(seen, vec![(b"old body".to_vec(), true)]);
}

#[test]
fn response_trailers_end_the_exchange_without_touching_a_body_buffer() {
    let script = Scripted {
        response_body: Some(Box::new(|_chunk: &[u8], eos: bool| {
            if eos {
                BodyOutcome::Replace(b"held".to_vec())
            } else {
                BodyOutcome::Replace(Vec::new())
            }
        })),
        ..Scripted::default()
    };
    let mut filter = StreamFilter::new(script);
    let envoy = FakeEnvoy::new(REQUEST_HEADERS, RESPONSE_HEADERS);
    envoy.phase.set(Phase::RequestHeaders);
    assert_eq!(filter.on_request_headers(&envoy, true), Action::Continue);
    envoy.phase.set(Phase::ResponseHeaders);
    assert_eq!(filter.on_response_headers(&envoy, false), Action::Continue);
    envoy.phase.set(Phase::ResponseBody);
    *envoy.response_chunk.borrow_mut() = b"secret-ish".to_vec();
    assert_eq!(filter.on_response_body(&envoy, 10, false), Action::Continue);
    assert!(envoy.response_chunk.borrow().is_empty());
    envoy.phase.set(Phase::ResponseTrailers);
    assert_eq!(filter.on_response_trailers(&envoy), Action::Continue);
    assert_no_violations(&envoy);
    assert!(filter.audit().is_some());
    assert_eq!(filter.into_inspector().response_calls, 3);
}

#[test]
fn a_length_the_core_sets_itself_is_kept() {
    let script = Scripted {
        request_headers: Some(HeadersOutcome::Continue(HeaderMutation {
            set: vec![("content-length".into(), "64".into())],
            remove: Vec::new(),
        })),
        ..Scripted::default()
    };
    let mut filter = StreamFilter::new(script);
    let envoy = FakeEnvoy::new(REQUEST_HEADERS, RESPONSE_HEADERS);
    let out = run(&mut filter, &envoy, &[b"x"], &[b"ok"]);
    assert_no_violations(&envoy);
    let headers = out.upstream_headers.expect("request forwarded");
    assert!(headers.contains(&("content-length".into(), "64".into())));
}

#[test]
fn a_bodiless_request_keeps_its_headers() {
    let mut filter = StreamFilter::new(Scripted::default());
    let envoy = FakeEnvoy::new(
        &[
            (":method", "GET"),
            (":path", "/v1/models"),
            ("content-length", "0"),
        ],
        RESPONSE_HEADERS,
    );
    let out = run(&mut filter, &envoy, &[], &[b"{}"]);
    assert_no_violations(&envoy);
    let headers = out.upstream_headers.expect("request forwarded");
    assert!(headers.contains(&("content-length".into(), "0".into())));
}

fn audit_policy(allow_on_error: bool) -> AuditPolicy {
    AuditPolicy {
        sink: AuditSinkConfig {
            cluster: "sluice_audit".into(),
            authority: "sluice_audit".into(),
            timeout: std::time::Duration::from_millis(500),
        },
        allow_on_error,
    }
}

/// A streamed response through a filter with an audit sink, up to the sink's answer:
/// returns the filter, the fake, and what the client got before the end was held.
fn stream_until_held(allow_on_error: bool) -> (StreamFilter<Scripted>, FakeEnvoy, Vec<u8>) {
    let mut filter =
        StreamFilter::new(Scripted::default()).with_audit_sink(audit_policy(allow_on_error));
    let envoy = FakeEnvoy::new(REQUEST_HEADERS, RESPONSE_HEADERS);
    envoy.phase.set(Phase::RequestHeaders);
    assert_eq!(filter.on_request_headers(&envoy, true), Action::Continue);
    envoy.phase.set(Phase::ResponseHeaders);
    assert_eq!(filter.on_response_headers(&envoy, false), Action::Continue);
    envoy.phase.set(Phase::ResponseBody);
    *envoy.response_chunk.borrow_mut() = b"data: one\n\n".to_vec();
    assert_eq!(filter.on_response_body(&envoy, 11, false), Action::Continue);
    let client = envoy.response_chunk.borrow().clone();
    assert!(
        envoy.audit_posts.borrow().is_empty(),
        "posted before the end"
    );
    *envoy.response_chunk.borrow_mut() = b"data: [DONE]\n\n".to_vec();
    assert_eq!(filter.on_response_body(&envoy, 14, true), Action::Pause);
    envoy.held.set(true);
    (filter, envoy, client)
}

#[test]
fn the_final_chunk_waits_for_the_sink_and_goes_unchanged_on_200() {
    let (mut filter, envoy, _) = stream_until_held(false);
    let posts = envoy.audit_posts.borrow().clone();
    assert_eq!(posts.len(), 1);
    let submission = sluice_core::audit::wire::decode(&posts[0]).expect("wire body");
    assert_eq!(submission.time_unix_us, 1_796_154_155_000_000);
    envoy.phase.set(Phase::AuditResponse);
    filter.on_audit_response(&envoy, Some(200));
    assert_eq!(envoy.resumes.get(), 1);
    assert_eq!(*envoy.response_chunk.borrow(), b"data: [DONE]\n\n");
    envoy.phase.set(Phase::Log);
    filter.on_log(&envoy);
    assert_no_violations(&envoy);
    assert_eq!(envoy.audits.get(), 1, "the log line stays");
    assert_eq!(
        envoy.audit_posts.borrow().len(),
        1,
        "one record per exchange"
    );
}

#[test]
fn a_failed_sink_replaces_the_final_chunk_with_the_error_event() {
    for status in [Some(503), Some(400), None] {
        let (mut filter, envoy, _) = stream_until_held(false);
        envoy.phase.set(Phase::AuditResponse);
        filter.on_audit_response(&envoy, status);
        assert_eq!(envoy.resumes.get(), 1, "{status:?}");
        assert_eq!(*envoy.response_chunk.borrow(), AUDIT_FAILED_EVENT);
        assert_eq!(envoy.resets.get(), 0);
        envoy.phase.set(Phase::Log);
        filter.on_log(&envoy);
        assert_no_violations(&envoy);
    }
}

#[test]
fn on_audit_error_allow_releases_the_final_chunk() {
    let (mut filter, envoy, _) = stream_until_held(true);
    envoy.phase.set(Phase::AuditResponse);
    filter.on_audit_response(&envoy, None);
    assert_eq!(envoy.resumes.get(), 1);
    assert_eq!(*envoy.response_chunk.borrow(), b"data: [DONE]\n\n");
    assert_no_violations(&envoy);
}

#[test]
fn a_refused_sink_call_fails_closed_in_the_same_callback() {
    let mut filter = StreamFilter::new(Scripted::default()).with_audit_sink(audit_policy(false));
    let envoy = FakeEnvoy::new(REQUEST_HEADERS, RESPONSE_HEADERS);
    envoy.refuse_dispatch.set(true);
    envoy.phase.set(Phase::RequestHeaders);
    assert_eq!(filter.on_request_headers(&envoy, true), Action::Continue);
    envoy.phase.set(Phase::ResponseHeaders);
    assert_eq!(filter.on_response_headers(&envoy, false), Action::Continue);
    envoy.phase.set(Phase::ResponseBody);
    *envoy.response_chunk.borrow_mut() = b"data: [DONE]\n\n".to_vec();
    assert_eq!(filter.on_response_body(&envoy, 14, true), Action::Continue);
    assert_eq!(*envoy.response_chunk.borrow(), AUDIT_FAILED_EVENT);
    envoy.phase.set(Phase::Log);
    filter.on_log(&envoy);
    assert_no_violations(&envoy);
}

#[test]
fn a_response_without_body_is_held_at_its_headers_and_reset_on_failure() {
    let mut filter = StreamFilter::new(Scripted::default()).with_audit_sink(audit_policy(false));
    let envoy = FakeEnvoy::new(REQUEST_HEADERS, RESPONSE_HEADERS);
    envoy.phase.set(Phase::RequestHeaders);
    assert_eq!(filter.on_request_headers(&envoy, true), Action::Continue);
    envoy.phase.set(Phase::ResponseHeaders);
    assert_eq!(filter.on_response_headers(&envoy, true), Action::Pause);
    assert_eq!(envoy.audit_posts.borrow().len(), 1);
    envoy.phase.set(Phase::AuditResponse);
    filter.on_audit_response(&envoy, Some(500));
    assert_eq!(envoy.resets.get(), 1);
    // A late duplicate answer does nothing.
    filter.on_audit_response(&envoy, Some(200));
    assert_eq!(envoy.resumes.get(), 0);
    envoy.phase.set(Phase::Log);
    filter.on_log(&envoy);
    assert_no_violations(&envoy);
}

#[test]
fn trailers_end_is_held_and_released_on_200() {
    let mut filter = StreamFilter::new(Scripted::default()).with_audit_sink(audit_policy(false));
    let envoy = FakeEnvoy::new(REQUEST_HEADERS, RESPONSE_HEADERS);
    envoy.phase.set(Phase::RequestHeaders);
    assert_eq!(filter.on_request_headers(&envoy, true), Action::Continue);
    envoy.phase.set(Phase::ResponseHeaders);
    assert_eq!(filter.on_response_headers(&envoy, false), Action::Continue);
    envoy.phase.set(Phase::ResponseBody);
    *envoy.response_chunk.borrow_mut() = b"x".to_vec();
    assert_eq!(filter.on_response_body(&envoy, 1, false), Action::Continue);
    envoy.phase.set(Phase::ResponseTrailers);
    assert_eq!(filter.on_response_trailers(&envoy), Action::Pause);
    envoy.held.set(true);
    envoy.phase.set(Phase::AuditResponse);
    filter.on_audit_response(&envoy, Some(200));
    assert_eq!(envoy.resumes.get(), 1);
    assert_no_violations(&envoy);
}

#[test]
fn without_a_sink_nothing_is_posted_or_held() {
    let mut filter = StreamFilter::new(Scripted::default());
    let envoy = FakeEnvoy::new(REQUEST_HEADERS, RESPONSE_HEADERS);
    let out = run(&mut filter, &envoy, &[b"x"], &[b"a", b"b"]);
    assert_no_violations(&envoy);
    assert_eq!(out.client_body, b"ab");
    assert!(envoy.audit_posts.borrow().is_empty());
}
