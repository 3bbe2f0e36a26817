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
//!
//! With an audit sink configured, the end of the response (the final body chunk, a response
//! without body, or the trailers) is held (`Pause`) while the record is posted to the sink,
//! and released only when the sink answered 200 (the record is durable); any other outcome
//! ends the response fail-closed (the final chunk becomes the API's error event, a response
//! without a final chunk to replace is reset) unless the policy says `on_audit_error: allow`.

use proxy_wasm::types::Action;
use sluice_core::audit::{Timings, wire};
use sluice_core::{AuditRecord, BodyOutcome, Exchange, HeaderMutation, HeadersOutcome, LocalReply};

use crate::config::AuditSinkConfig;

/// The core calls the filter makes; implemented by [`Exchange`] and by scripted fakes in tests.
pub trait Inspector {
    fn request_headers(&mut self, headers: &[(String, String)]) -> HeadersOutcome;
    fn request_body(&mut self, chunk: &[u8], end_of_stream: bool) -> BodyOutcome;
    fn response_headers(&mut self, headers: &[(String, String)]) -> HeadersOutcome;
    fn response_body(&mut self, chunk: &[u8], end_of_stream: bool) -> BodyOutcome;
    fn finish(&mut self) -> AuditRecord;
    /// The record could not be made durable: the bytes that replace the final chunk (the
    /// API's own error event, as for a stream stopped mid-way).
    fn audit_failed(&mut self) -> Vec<u8>;
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
    fn audit_failed(&mut self) -> Vec<u8> {
        Exchange::audit_failed(self)
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
    /// Publishes the exchange's summary for Envoy's access logs (filter state
    /// `wasm.sluice.<key>`); hosts without filter state ignore it.
    fn publish_summary(&self, _summary: &sluice_core::DecisionSummary) {}
    /// Emits the audit record (no values, by the core's construction).
    fn log_audit(&self, record: &AuditRecord);
    /// Wall-clock time, microseconds since the Unix epoch.
    fn now_unix_micros(&self) -> u64;
    /// Starts `POST /v1/audit` with `body` to the sink's cluster. `true`: the call is under
    /// way and its outcome will come to [`StreamFilter::on_audit_response`]; `false`: Envoy
    /// refused it (unknown cluster, bad headers).
    fn dispatch_audit(&self, sink: &AuditSinkConfig, body: &[u8]) -> bool;
    /// Lets a held response go on (after `Pause`).
    fn resume_response(&self);
}

/// Where records go and what happens when one cannot be written.
#[derive(Clone, Debug)]
pub struct AuditPolicy {
    pub sink: AuditSinkConfig,
    /// `on_audit_error: allow`: release the response anyway, with a warning.
    pub allow_on_error: bool,
}

/// What the filter holds while the sink has not answered: where the response stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Held {
    /// The final body chunk, as the filter left it in Envoy's buffer (`len` bytes).
    FinalChunk { len: usize },
    /// The response headers of a response without body, or the trailers: no chunk to replace.
    NoChunk,
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
    audit_policy: Option<AuditPolicy>,
    /// The end of the response, held until the sink answers.
    held: Option<Held>,
    /// The record was offered to the sink (at most once per stream).
    submitted: bool,
    /// When the record was posted to the sink (µs since the epoch), for the commit latency.
    audit_sent_us: Option<u64>,
    /// When the request headers and the response headers arrived (µs since the epoch).
    started_us: Option<u64>,
    response_headers_us: Option<u64>,
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
            audit_policy: None,
            held: None,
            submitted: false,
            audit_sent_us: None,
            started_us: None,
            response_headers_us: None,
        }
    }

    /// Each record goes to the sink before the end of its response is released.
    pub fn with_audit_sink(mut self, policy: AuditPolicy) -> Self {
        self.audit_policy = Some(policy);
        self
    }

    pub fn on_request_headers(&mut self, host: &impl HttpHost, end_of_stream: bool) -> Action {
        if self.stop.is_some() {
            return Action::Pause;
        }
        if self.audit_policy.is_some() {
            self.started_us = Some(host.now_unix_micros());
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
        if self.audit_policy.is_some() {
            self.response_headers_us = Some(host.now_unix_micros());
        }
        let headers = host.response_headers();
        match self.inspector.response_headers(&headers) {
            HeadersOutcome::Continue(mutation) => {
                apply_response_mutation(host, &mutation);
                if end_of_stream {
                    self.response_done = true;
                    self.conclude(host);
                    return self.hold_for_audit(host, Held::NoChunk);
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
        let mut left = body_size;
        match self.inspector.response_body(&chunk, end_of_stream) {
            BodyOutcome::Unchanged => {}
            BodyOutcome::Replace(emitted) => {
                if body_size > 0 || !emitted.is_empty() {
                    host.replace_response_body(body_size, &emitted);
                    left = emitted.len();
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
            return self.hold_for_audit(host, Held::FinalChunk { len: left });
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
        self.hold_for_audit(host, Held::NoChunk)
    }

    /// The sink's answer to the record posted at the end of the response: `Some(200)` means
    /// durable; any other status, or `None` (no response: timeout, connection failure), means
    /// not written.
    pub fn on_audit_response(&mut self, host: &impl HttpHost, status: Option<u16>) {
        let Some(held) = self.held.take() else {
            return;
        };
        if status == Some(200) {
            host.resume_response();
            return;
        }
        let reason = match status {
            Some(code) => format!("the audit sink answered {code}"),
            None => "the audit sink did not answer".to_owned(),
        };
        self.audit_not_written(host, held, &reason);
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

    /// When the record was posted to the audit sink, if it was.
    pub fn audit_sent_us(&self) -> Option<u64> {
        self.audit_sent_us
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

    /// At the end of a response: posts the record to the sink and holds the end until it
    /// answers. Without a sink (or when the stream was already answered) it goes on at once.
    fn hold_for_audit(&mut self, host: &impl HttpHost, held: Held) -> Action {
        let Some(policy) = self.audit_policy.clone() else {
            return Action::Continue;
        };
        if self.submitted {
            return Action::Continue;
        }
        self.submitted = true;
        let Some(record) = self.audit.as_ref() else {
            return Action::Continue;
        };
        let now = host.now_unix_micros();
        let body = match wire::encode(record, now, self.timings(now)) {
            Ok(body) => body,
            Err(e) => return self.refused_now(host, held, &e.to_string()),
        };
        if !host.dispatch_audit(&policy.sink, &body) {
            let reason = format!("the call to cluster {:?} was refused", policy.sink.cluster);
            return self.refused_now(host, held, &reason);
        }
        self.held = Some(held);
        self.audit_sent_us = Some(now);
        Action::Pause
    }

    /// The record cannot even be sent: the end of the response is still in this callback, so
    /// it is dealt with here (and the callback continues, fail-closed or released).
    fn refused_now(&mut self, host: &impl HttpHost, held: Held, reason: &str) -> Action {
        match self.audit_failure_action(reason) {
            AuditFailure::Release => Action::Continue,
            AuditFailure::Stop => match held {
                Held::FinalChunk { len } => {
                    let event = self.inspector.audit_failed();
                    host.replace_response_body(len, &event);
                    self.stop = Some(Stop::StoppedResponse);
                    self.conclude(host);
                    Action::Continue
                }
                Held::NoChunk => self.stop_response(host),
            },
        }
    }

    /// The sink's answer came and it was not a success: the held end of the response is
    /// replaced (or the stream reset) and then released.
    fn audit_not_written(&mut self, host: &impl HttpHost, held: Held, reason: &str) {
        match self.audit_failure_action(reason) {
            AuditFailure::Release => host.resume_response(),
            AuditFailure::Stop => match held {
                Held::FinalChunk { len } => {
                    let event = self.inspector.audit_failed();
                    host.replace_response_body(len, &event);
                    self.stop = Some(Stop::StoppedResponse);
                    self.conclude(host);
                    host.resume_response();
                }
                Held::NoChunk => {
                    host.reset_stream();
                    self.stop = Some(Stop::StoppedResponse);
                    self.conclude(host);
                }
            },
        }
    }

    fn audit_failure_action(&self, reason: &str) -> AuditFailure {
        let allow = self.audit_policy.as_ref().is_some_and(|p| p.allow_on_error);
        if allow {
            log::warn!(
                "sluice: audit record not durable ({reason}); response released (on_audit_error: allow)"
            );
            AuditFailure::Release
        } else {
            log::error!("sluice: audit record not durable ({reason}); response stopped");
            AuditFailure::Stop
        }
    }

    /// Durations for the record, measured up to `now`.
    fn timings(&self, now: u64) -> Timings {
        Timings {
            ttfb_us: self
                .started_us
                .zip(self.response_headers_us)
                .map(|(s, r)| r.saturating_sub(s)),
            total_us: self.started_us.map(|s| now.saturating_sub(s)),
            processing_us: None,
        }
    }

    /// Takes the audit record and publishes the decision. Runs at the end of the response and
    /// again at access-log time (the record then also covers a stream cut short).
    fn conclude(&mut self, host: &impl HttpHost) {
        let record = self.inspector.finish();
        let decision = decision_name(&record);
        if self.audit.as_ref().map(decision_name) != Some(decision) {
            host.set_decision(decision);
        }
        let summary = sluice_core::DecisionSummary::of(&record);
        if self.audit.as_ref().map(sluice_core::DecisionSummary::of) != Some(summary.clone()) {
            host.publish_summary(&summary);
        }
        self.audit = Some(record);
    }
}

/// What an audit failure does to the response it held.
enum AuditFailure {
    Release,
    Stop,
}

fn decision_name(record: &AuditRecord) -> &'static str {
    record.decision.as_str()
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
