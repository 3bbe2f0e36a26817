//! Translation of Envoy's HTTP filter callbacks into one core exchange, written against two
//! small traits so the sequencing rules are tested natively with a fake host that enforces
//! what Envoy enforces.
//!
//! The rules that keep the VM alive and the traffic fail-closed:
//! - every host call is made only in the callback where Envoy accepts it (headers only in their
//!   own callback, a body buffer only in its body callback), because the SDK turns a refused
//!   call into a trap;
//! - headers callbacks never pause: Envoy maps a paused headers callback to "stop all
//!   iteration", which also withholds the body callbacks the filter waits for;
//! - body reads are skipped for empty chunks and bounded by the size Envoy announced;
//! - at most one local reply per stream (Envoy refuses a second one);
//! - once Sluice answered or reset the stream, no later callback lets upstream bytes through.

use proxy_wasm::types::Action;
use sluice_core::{AuditRecord, BodyOutcome, Exchange, HeaderMutation, HeadersOutcome, LocalReply};

/// The core calls the filter makes; implemented by [`Exchange`] and by scripted fakes in tests.
pub trait Inspector {
    fn request_headers(&mut self, headers: &[(String, String)]) -> HeadersOutcome;
    fn request_body(&mut self, chunk: &[u8], end_of_stream: bool) -> BodyOutcome;
    fn response_headers(&mut self, headers: &[(String, String)]) -> HeadersOutcome;
    fn response_body(&mut self, chunk: &[u8], end_of_stream: bool) -> BodyOutcome;
    fn finish(&mut self) -> AuditRecord;
}

impl Inspector for Exchange {
    fn request_headers(&mut self, headers: &[(String, String)]) -> HeadersOutcome {
        Exchange::request_headers(self, headers)
    }
    fn request_body(&mut self, chunk: &[u8], end_of_stream: bool) -> BodyOutcome {
        Exchange::request_body(self, chunk, end_of_stream)
    }
    fn response_headers(&mut self, headers: &[(String, String)]) -> HeadersOutcome {
        Exchange::response_headers(self, headers)
    }
    fn response_body(&mut self, chunk: &[u8], end_of_stream: bool) -> BodyOutcome {
        Exchange::response_body(self, chunk, end_of_stream)
    }
    fn finish(&mut self) -> AuditRecord {
        Exchange::finish(self)
    }
}

/// The host calls the filter makes. Implementations must not fail: the filter only calls each
/// one where Envoy accepts it.
pub trait HttpHost {
    fn request_headers(&self) -> Vec<(String, String)>;
    fn set_request_header(&self, name: &str, value: &str);
    fn remove_request_header(&self, name: &str);
    fn response_headers(&self) -> Vec<(String, String)>;
    fn set_response_header(&self, name: &str, value: &str);
    fn remove_response_header(&self, name: &str);
    /// The first `size` bytes of the request body buffer (`size` > 0).
    fn request_body(&self, size: usize) -> Vec<u8>;
    /// Replaces the first `size` bytes of the request body buffer.
    fn replace_request_body(&self, size: usize, body: &[u8]);
    /// The first `size` bytes of the current response chunk (`size` > 0).
    fn response_body(&self, size: usize) -> Vec<u8>;
    /// Replaces the first `size` bytes of the current response chunk.
    fn replace_response_body(&self, size: usize, body: &[u8]);
    /// Sends a local reply instead of the upstream response (at most once per stream).
    fn send_reply(&self, reply: &LocalReply);
    /// Resets the stream: the only way to stop a response whose headers already left.
    fn reset_stream(&self);
    /// Publishes the decision to filter state, for access logs.
    fn set_decision(&self, decision: &str);
    /// Emits the audit record (no values, by the core's construction).
    fn log_audit(&self, record: &AuditRecord);
}

/// Where the stream was stopped by Sluice, which decides what later callbacks may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// A local reply was sent before anything reached the client: the response callbacks that
    /// follow carry Sluice's own reply and must pass.
    RepliedToRequest,
    /// The upstream response was replaced or the stream reset: nothing more may pass.
    StoppedResponse,
}

/// Status of the reply sent when the adapter itself cannot complete an exchange safely (the
/// host handed over less body than it announced).
const ADAPTER_FAILURE_STATUS: u16 = 500;

/// One HTTP stream: the core exchange plus what the adapter must remember between callbacks.
pub struct StreamFilter<I> {
    inspector: I,
    stop: Option<Stop>,
    /// Size of the buffered request body announced by the latest body callback.
    request_body_size: usize,
    request_done: bool,
    response_done: bool,
    /// The exchange's audit record, once the stream ended.
    audit: Option<AuditRecord>,
}

impl<I: Inspector> StreamFilter<I> {
    pub fn new(inspector: I) -> Self {
        StreamFilter {
            inspector,
            stop: None,
            request_body_size: 0,
            request_done: false,
            response_done: false,
            audit: None,
        }
    }

    pub fn on_request_headers(&mut self, host: &impl HttpHost, end_of_stream: bool) -> Action {
        if self.stop.is_some() {
            return Action::Pause;
        }
        let headers = host.request_headers();
        match self.inspector.request_headers(&headers) {
            HeadersOutcome::Continue(mutation) => {
                apply_request_mutation(host, &mutation);
                if end_of_stream {
                    self.request_done = true;
                } else if !mutation
                    .set
                    .iter()
                    .any(|(name, _)| name == "content-length")
                {
                    // The headers leave now and the body may be rewritten later: Envoy cannot
                    // hold them back for the body (a paused headers callback stops the body
                    // callbacks too), so the upstream request goes without a length.
                    host.remove_request_header("content-length");
                }
                Action::Continue
            }
            HeadersOutcome::Reply(reply) => self.reply_to_request(host, &reply),
        }
    }

    pub fn on_request_body(
        &mut self,
        host: &impl HttpHost,
        body_size: usize,
        end_of_stream: bool,
    ) -> Action {
        if self.stop.is_some() {
            return Action::Pause;
        }
        if self.request_done {
            return Action::Continue;
        }
        // While paused Envoy buffers the body, and `body_size` is the total so far.
        self.request_body_size = body_size;
        if !end_of_stream {
            return Action::Pause;
        }
        self.finish_request_body(host)
    }

    /// Trailers end the request without an end-of-stream body callback; the buffered body is
    /// complete then.
    pub fn on_request_trailers(&mut self, host: &impl HttpHost) -> Action {
        if self.stop.is_some() {
            return Action::Pause;
        }
        if self.request_done {
            return Action::Continue;
        }
        self.finish_request_body(host)
    }

    fn finish_request_body(&mut self, host: &impl HttpHost) -> Action {
        self.request_done = true;
        let size = self.request_body_size;
        let body = if size > 0 {
            host.request_body(size)
        } else {
            Vec::new()
        };
        if body.len() != size {
            // Scanning less than what goes upstream would let unscanned bytes through.
            return self.reply_to_request(host, &adapter_failure("request body unreadable"));
        }
        match self.inspector.request_body(&body, true) {
            BodyOutcome::Unchanged => Action::Continue,
            BodyOutcome::Replace(new_body) => {
                host.replace_request_body(size, &new_body);
                Action::Continue
            }
            BodyOutcome::Reply(reply) => self.reply_to_request(host, &reply),
        }
    }

    pub fn on_response_headers(&mut self, host: &impl HttpHost, end_of_stream: bool) -> Action {
        match self.stop {
            Some(Stop::RepliedToRequest) => return Action::Continue,
            Some(Stop::StoppedResponse) => return Action::Pause,
            None => {}
        }
        let headers = host.response_headers();
        match self.inspector.response_headers(&headers) {
            HeadersOutcome::Continue(mutation) => {
                apply_response_mutation(host, &mutation);
                if end_of_stream {
                    self.response_done = true;
                    self.conclude(host);
                }
                Action::Continue
            }
            HeadersOutcome::Reply(reply) => {
                // Headers have not left yet: Envoy sends the reply in place of this response.
                host.send_reply(&reply);
                self.stop = Some(Stop::StoppedResponse);
                self.conclude(host);
                Action::Pause
            }
        }
    }

    pub fn on_response_body(
        &mut self,
        host: &impl HttpHost,
        body_size: usize,
        end_of_stream: bool,
    ) -> Action {
        match self.stop {
            Some(Stop::RepliedToRequest) => return Action::Continue,
            Some(Stop::StoppedResponse) => return Action::Pause,
            None => {}
        }
        if self.response_done {
            return Action::Continue;
        }
        if body_size == 0 && !end_of_stream {
            return Action::Continue;
        }
        let chunk = if body_size > 0 {
            host.response_body(body_size)
        } else {
            Vec::new()
        };
        if chunk.len() != body_size {
            host.replace_response_body(body_size, &[]);
            return self.stop_response(host);
        }
        if end_of_stream {
            self.response_done = true;
        }
        match self.inspector.response_body(&chunk, end_of_stream) {
            BodyOutcome::Unchanged => {}
            BodyOutcome::Replace(emitted) => {
                if body_size > 0 || !emitted.is_empty() {
                    host.replace_response_body(body_size, &emitted);
                }
            }
            BodyOutcome::Reply(_) => {
                // The response headers are on the wire: drop this chunk and reset the stream.
                if body_size > 0 {
                    host.replace_response_body(body_size, &[]);
                }
                return self.stop_response(host);
            }
        }
        if end_of_stream {
            self.conclude(host);
        }
        Action::Continue
    }

    /// Response trailers end the body without an end-of-stream body callback. Text the core
    /// still holds cannot be appended here (Envoy offers no body buffer in this callback), so
    /// held text is dropped rather than leaked, and a late block still resets the stream.
    pub fn on_response_trailers(&mut self, host: &impl HttpHost) -> Action {
        match self.stop {
            Some(Stop::RepliedToRequest) => return Action::Continue,
            Some(Stop::StoppedResponse) => return Action::Pause,
            None => {}
        }
        if self.response_done {
            return Action::Continue;
        }
        self.response_done = true;
        match self.inspector.response_body(&[], true) {
            BodyOutcome::Unchanged => {}
            BodyOutcome::Replace(emitted) => {
                if !emitted.is_empty() {
                    log::warn!(
                        "sluice: {} held response bytes dropped: the response ended with trailers",
                        emitted.len()
                    );
                }
            }
            BodyOutcome::Reply(_) => return self.stop_response(host),
        }
        self.conclude(host);
        Action::Continue
    }

    /// Access-log time: the last point where the decision can reach filter state.
    pub fn on_log(&mut self, host: &impl HttpHost) {
        self.conclude(host);
        if let Some(record) = &self.audit {
            host.log_audit(record);
        }
    }

    /// The core driven by this filter (tests read what a scripted core was given).
    pub fn into_inspector(self) -> I {
        self.inspector
    }

    /// The audit record, when the stream has concluded.
    pub fn audit(&self) -> Option<&AuditRecord> {
        self.audit.as_ref()
    }

    fn reply_to_request(&mut self, host: &impl HttpHost, reply: &LocalReply) -> Action {
        host.send_reply(reply);
        self.stop = Some(Stop::RepliedToRequest);
        self.request_done = true;
        self.conclude(host);
        Action::Pause
    }

    fn stop_response(&mut self, host: &impl HttpHost) -> Action {
        host.reset_stream();
        self.stop = Some(Stop::StoppedResponse);
        self.response_done = true;
        self.conclude(host);
        Action::Pause
    }

    /// Takes the audit record and publishes the decision. Runs at the end of the response and
    /// again at access-log time (the record then also covers a stream cut short).
    fn conclude(&mut self, host: &impl HttpHost) {
        let record = self.inspector.finish();
        let decision = decision_name(&record);
        if self.audit.as_ref().map(decision_name) != Some(decision) {
            host.set_decision(decision);
        }
        self.audit = Some(record);
    }
}

fn decision_name(record: &AuditRecord) -> &'static str {
    match record.decision {
        sluice_core::Decision::Allow => "allow",
        sluice_core::Decision::Flag => "flag",
        sluice_core::Decision::Mask => "mask",
        sluice_core::Decision::Block => "block",
    }
}

fn apply_request_mutation(host: &impl HttpHost, mutation: &HeaderMutation) {
    for name in &mutation.remove {
        host.remove_request_header(name);
    }
    for (name, value) in &mutation.set {
        host.set_request_header(name, value);
    }
}

fn apply_response_mutation(host: &impl HttpHost, mutation: &HeaderMutation) {
    for name in &mutation.remove {
        host.remove_response_header(name);
    }
    for (name, value) in &mutation.set {
        host.set_response_header(name, value);
    }
}

fn adapter_failure(reason: &'static str) -> LocalReply {
    LocalReply {
        status: ADAPTER_FAILURE_STATUS,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: format!(r#"{{"error":{{"type":"sluice_error","message":"{reason}"}}}}"#).into_bytes(),
        reason,
    }
}
