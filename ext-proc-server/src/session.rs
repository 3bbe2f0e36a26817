//! One ext_proc gRPC stream = one core `Exchange`. This module maps each `ProcessingRequest`
//! onto the matching core call and the core's outcome back onto a `ProcessingResponse`. It
//! decides nothing about content: every decision is the core's.
//!
//! Protocol rules it enforces (Envoy's, see docs/ext-proc.md):
//! - exactly one response per request message, in order;
//! - a local reply is an `ImmediateResponse` until response headers were let through; after
//!   that the only way to stop the response is to end the gRPC stream with an error, which
//!   Envoy (fail-closed) turns into a reset of the client's stream;
//! - a request body replaced by the core gets a matching `content-length`;
//! - a repeated end-of-stream chunk is answered without calling the core again.

use envoy_types::pb::envoy::config::core::v3::{
    HeaderMap, HeaderValue, HeaderValueOption, header_value_option::HeaderAppendAction,
};
use envoy_types::pb::envoy::service::ext_proc::v3 as pb;
use envoy_types::pb::envoy::r#type::v3::HttpStatus;
use envoy_types::pb::google::protobuf::value::Kind;
use pb::processing_request::Request;
use pb::processing_response::Response;
use sluice_core::audit::Timings;
use sluice_core::exchange::Headers;
use sluice_core::{
    AuditRecord, BodyOutcome, Engine, Exchange, ExchangeContext, HeaderMutation, HeadersOutcome,
    LocalReply,
};
use std::time::{Duration, Instant};
use tonic::Status;

/// The core calls a session makes. `sluice_core::Exchange` is the real one; tests script fakes
/// to check the translation of outcomes the stub core never produces.
pub trait ExchangeSteps: Send + Unpin + 'static {
    fn request_headers(&mut self, headers: &Headers) -> HeadersOutcome;
    fn request_body(&mut self, chunk: &[u8], end_of_stream: bool) -> BodyOutcome;
    fn response_headers(&mut self, headers: &Headers) -> HeadersOutcome;
    fn response_body(&mut self, chunk: &[u8], end_of_stream: bool) -> BodyOutcome;
    fn finish(&mut self) -> AuditRecord;
    /// The audit record could not be made durable: the bytes sent instead of the last
    /// response chunk.
    fn audit_failed(&mut self) -> Vec<u8> {
        b"\n[sluice: response stopped: the audit record could not be written]\n".to_vec()
    }
}

impl ExchangeSteps for Exchange {
    fn request_headers(&mut self, headers: &Headers) -> HeadersOutcome {
        Exchange::request_headers(self, headers)
    }
    fn request_body(&mut self, chunk: &[u8], end_of_stream: bool) -> BodyOutcome {
        Exchange::request_body(self, chunk, end_of_stream)
    }
    fn response_headers(&mut self, headers: &Headers) -> HeadersOutcome {
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

/// Creates the exchange for a stream once its request headers (and so its context) are known.
pub trait ExchangeSource: Clone + Send + Sync + Unpin + 'static {
    type Exchange: ExchangeSteps;
    fn exchange(&self, ctx: ExchangeContext) -> Self::Exchange;
}

impl ExchangeSource for Engine {
    type Exchange = Exchange;
    fn exchange(&self, ctx: ExchangeContext) -> Exchange {
        Engine::exchange(self, ctx)
    }
}

/// Attribute Envoy fills with the client certificate's URI SAN (SPIFFE id) when the filter's
/// `request_attributes` asks for it.
const PEER_URI_SAN_ATTRIBUTE: &str = "connection.uri_san_peer_certificate";

/// State of one gRPC stream.
pub struct Session<S: ExchangeSource> {
    source: S,
    exchange: Option<S::Exchange>,
    request_ended: bool,
    response_ended: bool,
    /// Response headers were let through: a local reply can no longer be sent as such.
    response_started: bool,
    /// An immediate response or a reset was sent; Envoy sends nothing more that we may answer.
    answered: bool,
    /// Request body bytes forwarded so far, for `content-length` after a replacement.
    request_bytes_out: usize,
    audited: bool,
    /// When the first message arrived, and when the response headers did.
    started: Option<Instant>,
    ttfb: Option<Duration>,
    /// Time spent handling this stream's messages.
    processing: Duration,
    /// The response came without any request message: an earlier filter answered the request
    /// itself (jwt_authn's 401 for a token that does not verify, rbac's 403). Nothing went
    /// upstream and the reply is Envoy's own, so it passes as it is, unrewritten by rules
    /// that would only see an anonymous, empty exchange.
    envoy_reply: bool,
    /// Keep the request's W3C trace-context headers (tracing on): the exchange's span falls
    /// back to them when Envoy's call carries no trace context.
    capture_trace: bool,
    trace_headers: Option<crate::otlp::TraceHeaders>,
}

impl<S: ExchangeSource> Session<S> {
    pub fn new(source: S) -> Self {
        Session {
            source,
            exchange: None,
            request_ended: false,
            response_ended: false,
            response_started: false,
            answered: false,
            request_bytes_out: 0,
            audited: false,
            started: None,
            ttfb: None,
            processing: Duration::ZERO,
            envoy_reply: false,
            capture_trace: false,
            trace_headers: None,
        }
    }

    /// Keeps the request's `traceparent` and `tracestate` headers for [`Self::trace_headers`].
    pub fn with_trace_capture(mut self) -> Self {
        self.capture_trace = true;
        self
    }

    /// The request's trace-context headers, when kept and present.
    pub fn trace_headers(&self) -> Option<&crate::otlp::TraceHeaders> {
        self.trace_headers.as_ref()
    }

    /// Durations for the audit record, measured up to now.
    pub fn timings(&self) -> Timings {
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Timings {
            ttfb_us: self.ttfb.map(micros),
            total_us: self.started.map(|s| micros(s.elapsed())),
            processing_us: self.started.map(|_| micros(self.processing)),
        }
    }

    /// Replaces the answer that would end the response once its audit record could not be
    /// written: the last chunk becomes the API's error event; a response without a body is
    /// reset. Refusals (immediate responses) and stream errors are already fail-closed.
    pub fn audit_failed(
        &mut self,
        answer: Option<Result<pb::ProcessingResponse, Status>>,
    ) -> Option<Result<pb::ProcessingResponse, Status>> {
        match answer {
            Some(Ok(pb::ProcessingResponse {
                response: Some(Response::ResponseBody(_)),
                ..
            })) => {
                let bytes = self.exchange_or_default().audit_failed();
                Some(Ok(wrap(Response::ResponseBody(body_response(
                    Some(bytes),
                    None,
                )))))
            }
            Some(Ok(pb::ProcessingResponse {
                response: Some(Response::ResponseHeaders(_)),
                ..
            })) => Some(Err(Status::unavailable(
                "sluice: the audit record could not be written",
            ))),
            other => other,
        }
    }

    /// The answer to one message. `None` for a message that carries none of the phases (Envoy
    /// expects no answer to it). `Some(Err(_))` ends the gRPC stream with that status.
    pub fn handle(
        &mut self,
        msg: pb::ProcessingRequest,
    ) -> Option<Result<pb::ProcessingResponse, Status>> {
        let request = msg.request?;
        let began = Instant::now();
        let started = *self.started.get_or_insert(began);
        if matches!(request, Request::ResponseHeaders(_)) && self.ttfb.is_none() {
            self.ttfb = Some(began.duration_since(started));
        }
        let jwt = msg
            .metadata_context
            .as_ref()
            .and_then(|m| m.filter_metadata.get(JWT_AUTHN_NAMESPACE))
            .map(struct_to_json);
        let answer = self.dispatch(request, msg.attributes, jwt);
        self.processing += began.elapsed();
        Some(answer)
    }

    fn dispatch(
        &mut self,
        request: Request,
        ctx_attributes: std::collections::HashMap<
            String,
            envoy_types::pb::google::protobuf::Struct,
        >,
        jwt: Option<serde_json::Value>,
    ) -> Result<pb::ProcessingResponse, Status> {
        if self.answered {
            return Err(Status::failed_precondition(
                "exchange already answered; no further messages expected",
            ));
        }
        let result = match request {
            Request::RequestHeaders(h) => Ok(self.on_request_headers(h, &ctx_attributes, jwt)),
            Request::RequestBody(b) => self.on_request_body(b),
            Request::ResponseHeaders(h) => Ok(self.on_response_headers(h)),
            Request::ResponseBody(b) => self.on_response_body(b),
            Request::RequestTrailers(_) => Ok(wrap(Response::RequestTrailers(
                pb::TrailersResponse::default(),
            ))),
            Request::ResponseTrailers(_) => Ok(wrap(Response::ResponseTrailers(
                pb::TrailersResponse::default(),
            ))),
        };
        if result.is_err() {
            self.answered = true;
        }
        result
    }

    /// The exchange is decided: the response ended or a local reply / stream error was sent.
    /// Its audit record can be written now, before Envoy releases the end of the response.
    pub fn is_complete(&self) -> bool {
        self.response_ended || self.answered
    }

    /// Calls `finish` once and returns the record; later calls return `None`.
    pub fn finish(&mut self) -> Option<AuditRecord> {
        if self.audited {
            return None;
        }
        self.audited = true;
        Some(self.exchange_or_default().finish())
    }

    fn exchange_or_default(&mut self) -> &mut S::Exchange {
        let source = &self.source;
        self.exchange
            .get_or_insert_with(|| source.exchange(ExchangeContext::default()))
    }

    fn on_request_headers(
        &mut self,
        h: pb::HttpHeaders,
        attributes: &std::collections::HashMap<String, envoy_types::pb::google::protobuf::Struct>,
        jwt: Option<serde_json::Value>,
    ) -> pb::ProcessingResponse {
        let headers = header_list(h.headers.as_ref());
        if self.capture_trace && self.trace_headers.is_none() {
            self.trace_headers = crate::otlp::TraceHeaders::find(
                headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            );
        }
        if self.exchange.is_none() {
            let mut ctx = context_from(&headers, attributes);
            ctx.jwt_metadata = jwt;
            self.exchange = Some(self.source.exchange(ctx));
        }
        self.request_ended = h.end_of_stream;
        let ex = self.exchange_or_default();
        let mutation = match ex.request_headers(&headers) {
            HeadersOutcome::Continue(m) => m,
            HeadersOutcome::Reply(reply) => return self.immediate(reply),
        };
        if h.end_of_stream {
            // No body message will follow: tell the core the (empty) body is complete so it
            // can decide on the request as a whole before anything goes upstream.
            match ex.request_body(&[], true) {
                BodyOutcome::Unchanged => {}
                BodyOutcome::Replace(bytes) if bytes.is_empty() => {}
                BodyOutcome::Replace(_) => {
                    tracing::warn!("core produced a body for a request without one; body not added")
                }
                BodyOutcome::Reply(reply) => return self.immediate(reply),
            }
        }
        wrap(Response::RequestHeaders(headers_response(&mutation)))
    }

    fn on_request_body(&mut self, b: pb::HttpBody) -> Result<pb::ProcessingResponse, Status> {
        if self.request_ended {
            return repeated_end(&b).map(|r| wrap(Response::RequestBody(r)));
        }
        self.request_ended = b.end_of_stream;
        let outcome = self
            .exchange_or_default()
            .request_body(&b.body, b.end_of_stream);
        let response = match outcome {
            BodyOutcome::Unchanged => {
                self.request_bytes_out = self.request_bytes_out.saturating_add(b.body.len());
                pb::BodyResponse::default()
            }
            BodyOutcome::Replace(bytes) => {
                self.request_bytes_out = self.request_bytes_out.saturating_add(bytes.len());
                let length = HeaderMutation {
                    set: vec![(
                        "content-length".to_owned(),
                        self.request_bytes_out.to_string(),
                    )],
                    remove: Vec::new(),
                };
                body_response(Some(bytes), Some(&length))
            }
            BodyOutcome::Reply(reply) => return Ok(self.immediate(reply)),
        };
        Ok(wrap(Response::RequestBody(response)))
    }

    fn on_response_headers(&mut self, h: pb::HttpHeaders) -> pb::ProcessingResponse {
        let headers = header_list(h.headers.as_ref());
        self.response_ended = h.end_of_stream;
        if self.exchange.is_none() {
            self.envoy_reply = true;
            self.response_started = true;
            tracing::debug!("response to a request answered before sluice; passed as is");
            return wrap(Response::ResponseHeaders(pb::HeadersResponse::default()));
        }
        let ex = self.exchange_or_default();
        let mutation = match ex.response_headers(&headers) {
            HeadersOutcome::Continue(m) => m,
            HeadersOutcome::Reply(reply) => return self.immediate(reply),
        };
        if h.end_of_stream {
            match ex.response_body(&[], true) {
                BodyOutcome::Unchanged => {}
                BodyOutcome::Replace(bytes) if bytes.is_empty() => {}
                BodyOutcome::Replace(_) => tracing::warn!(
                    "core produced a body for a response without one; body not added"
                ),
                BodyOutcome::Reply(reply) => return self.immediate(reply),
            }
        }
        self.response_started = true;
        wrap(Response::ResponseHeaders(headers_response(&mutation)))
    }

    fn on_response_body(&mut self, b: pb::HttpBody) -> Result<pb::ProcessingResponse, Status> {
        if self.response_ended {
            return repeated_end(&b).map(|r| wrap(Response::ResponseBody(r)));
        }
        self.response_ended = b.end_of_stream;
        if self.envoy_reply {
            return Ok(wrap(Response::ResponseBody(pb::BodyResponse::default())));
        }
        let outcome = self
            .exchange_or_default()
            .response_body(&b.body, b.end_of_stream);
        let response = match outcome {
            BodyOutcome::Unchanged => pb::BodyResponse::default(),
            // Envoy ignores header mutations on streamed response bodies; the core removes
            // `content-length` when it answers the response headers.
            BodyOutcome::Replace(bytes) => body_response(Some(bytes), None),
            BodyOutcome::Reply(reply) if self.response_started => {
                tracing::info!(reason = reply.reason, "stopping response stream");
                return Err(Status::aborted(format!("sluice: {}", reply.reason)));
            }
            BodyOutcome::Reply(reply) => return Ok(self.immediate(reply)),
        };
        Ok(wrap(Response::ResponseBody(response)))
    }

    fn immediate(&mut self, reply: LocalReply) -> pb::ProcessingResponse {
        self.answered = true;
        tracing::info!(status = reply.status, reason = reply.reason, "local reply");
        wrap(Response::ImmediateResponse(immediate_response(reply)))
    }
}

/// A body chunk after the direction already ended. An empty one (Envoy may repeat the end of
/// stream) is acknowledged; bytes after the end were never inspected and must not pass.
fn repeated_end(b: &pb::HttpBody) -> Result<pb::BodyResponse, Status> {
    if b.body.is_empty() {
        Ok(pb::BodyResponse::default())
    } else {
        Err(Status::invalid_argument("body bytes after end of stream"))
    }
}

fn wrap(response: Response) -> pb::ProcessingResponse {
    pb::ProcessingResponse {
        response: Some(response),
        ..Default::default()
    }
}

/// Header list for the core. Envoy sends values in `raw_value`; `value` is read when a sender
/// uses it instead. Values that are not UTF-8 are passed lossily (the core only reads them).
pub fn header_list(map: Option<&HeaderMap>) -> Vec<(String, String)> {
    let Some(map) = map else {
        return Vec::new();
    };
    map.headers
        .iter()
        .map(|h| {
            let value = if h.raw_value.is_empty() {
                h.value.clone()
            } else {
                String::from_utf8_lossy(&h.raw_value).into_owned()
            };
            (h.key.to_ascii_lowercase(), value)
        })
        .collect()
}

fn context_from(
    headers: &[(String, String)],
    attributes: &std::collections::HashMap<String, envoy_types::pb::google::protobuf::Struct>,
) -> ExchangeContext {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let route = header(":path").map(|p| p.split('?').next().unwrap_or(p).to_owned());
    let (identity, identity_source) = match peer_uri_san(attributes) {
        Some(p) => (Some(p), Some("peer-certificate".to_owned())),
        None => match header("x-forwarded-client-cert").and_then(xfcc_uri) {
            Some(p) => (Some(p), Some("xfcc".to_owned())),
            None => (None, None),
        },
    };
    ExchangeContext {
        identity,
        identity_source,
        host: header(":authority").map(str::to_owned),
        route,
        api: None,
        request_id: header("x-request-id").map(str::to_owned),
        ..Default::default()
    }
}

/// jwt_authn's dynamic-metadata namespace: the verified payloads, keyed by the filter's
/// `payload_in_metadata`, when the ext_proc filter forwards it
/// (`metadata_options.forwarding_namespaces.untyped`).
const JWT_AUTHN_NAMESPACE: &str = "envoy.filters.http.jwt_authn";

/// The exchange's [`DecisionSummary`] as ext_proc dynamic metadata: one struct under the
/// namespace [`sluice_core::summary::NAMESPACE`], which Envoy stores for access logs
/// (`%DYNAMIC_METADATA(sluice:decision)%`) and rate limits when the filter lists it in
/// `metadata_options.receiving_namespaces`.
pub fn summary_metadata(record: &AuditRecord) -> envoy_types::pb::google::protobuf::Struct {
    use envoy_types::pb::google::protobuf::{Struct, Value};
    let summary = sluice_core::DecisionSummary::of(record);
    let fields = summary
        .fields()
        .into_iter()
        .map(|(key, value)| {
            let kind = match value {
                serde_json::Value::String(s) => Kind::StringValue(s),
                // Counts: exact as doubles up to 2^53.
                serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
                other => Kind::StringValue(other.to_string()),
            };
            (key.to_owned(), Value { kind: Some(kind) })
        })
        .collect();
    let inner = Value {
        kind: Some(Kind::StructValue(Struct { fields })),
    };
    Struct {
        fields: [(sluice_core::summary::NAMESPACE.to_owned(), inner)]
            .into_iter()
            .collect(),
    }
}

fn struct_to_json(s: &envoy_types::pb::google::protobuf::Struct) -> serde_json::Value {
    serde_json::Value::Object(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), value_to_json(v)))
            .collect(),
    )
}

fn value_to_json(v: &envoy_types::pb::google::protobuf::Value) -> serde_json::Value {
    match v.kind.as_ref() {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(b)) => serde_json::Value::Bool(*b),
        // Struct numbers are doubles; whole ones read back as integers (`exp`, `iat`).
        Some(Kind::NumberValue(n)) if n.fract() == 0.0 && n.abs() < 9.0e15 => {
            serde_json::Value::from(*n as i64)
        }
        Some(Kind::NumberValue(n)) => serde_json::Number::from_f64(*n)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Some(Kind::StringValue(s)) => serde_json::Value::String(s.clone()),
        Some(Kind::StructValue(s)) => struct_to_json(s),
        Some(Kind::ListValue(l)) => {
            serde_json::Value::Array(l.values.iter().map(value_to_json).collect())
        }
    }
}

fn peer_uri_san(
    attributes: &std::collections::HashMap<String, envoy_types::pb::google::protobuf::Struct>,
) -> Option<String> {
    attributes.values().find_map(
        |s| match s.fields.get(PEER_URI_SAN_ATTRIBUTE)?.kind.as_ref()? {
            Kind::StringValue(v) if !v.is_empty() => Some(v.clone()),
            _ => None,
        },
    )
}

/// The `URI=` of the last element of an `x-forwarded-client-cert` header: the element Envoy
/// appended for the client it terminated TLS for (Envoy sanitises client-sent values by
/// default). Quoted values are not unquoted; SPIFFE ids never need quoting.
fn xfcc_uri(xfcc: &str) -> Option<String> {
    let element = xfcc.rsplit(',').next()?;
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key.trim().eq_ignore_ascii_case("uri") && !value.is_empty())
            .then(|| value.trim().to_owned())
    })
}

fn header_options(set: &[(String, String)]) -> Vec<HeaderValueOption> {
    set.iter()
        .map(|(name, value)| HeaderValueOption {
            header: Some(HeaderValue {
                key: name.clone(),
                value: String::new(),
                raw_value: value.as_bytes().to_vec(),
            }),
            append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
            ..Default::default()
        })
        .collect()
}

fn header_mutation(m: &HeaderMutation) -> Option<pb::HeaderMutation> {
    (!m.is_empty()).then(|| pb::HeaderMutation {
        set_headers: header_options(&m.set),
        remove_headers: m.remove.clone(),
    })
}

fn headers_response(m: &HeaderMutation) -> pb::HeadersResponse {
    pb::HeadersResponse {
        response: Some(pb::CommonResponse {
            header_mutation: header_mutation(m),
            ..Default::default()
        }),
    }
}

fn body_response(body: Option<Vec<u8>>, headers: Option<&HeaderMutation>) -> pb::BodyResponse {
    pb::BodyResponse {
        response: Some(pb::CommonResponse {
            header_mutation: headers.and_then(header_mutation),
            body_mutation: body.map(|b| pb::BodyMutation {
                mutation: Some(pb::body_mutation::Mutation::Body(b)),
            }),
            ..Default::default()
        }),
    }
}

fn immediate_response(reply: LocalReply) -> pb::ImmediateResponse {
    pb::ImmediateResponse {
        status: Some(HttpStatus {
            code: i32::from(reply.status),
        }),
        headers: (!reply.headers.is_empty()).then(|| pb::HeaderMutation {
            set_headers: header_options(&reply.headers),
            remove_headers: Vec::new(),
        }),
        body: reply.body,
        grpc_status: None,
        details: reply.reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::google::protobuf::{Struct, Value};
    use std::sync::{Arc, Mutex};

    /// Outcomes the test wants, and the calls the session made.
    #[derive(Default)]
    struct Script {
        request_headers: Option<HeadersOutcome>,
        request_body: Vec<BodyOutcome>,
        response_headers: Option<HeadersOutcome>,
        response_body: Vec<BodyOutcome>,
        calls: Vec<String>,
        ctx: Option<ExchangeContext>,
    }

    #[derive(Clone, Default)]
    struct Scripted(Arc<Mutex<Script>>);

    struct ScriptedExchange(Arc<Mutex<Script>>);

    impl ExchangeSource for Scripted {
        type Exchange = ScriptedExchange;
        fn exchange(&self, ctx: ExchangeContext) -> ScriptedExchange {
            self.0.lock().unwrap().ctx = Some(ctx);
            ScriptedExchange(self.0.clone())
        }
    }

    fn next_body(list: &mut Vec<BodyOutcome>) -> BodyOutcome {
        if list.is_empty() {
            BodyOutcome::Unchanged
        } else {
            list.remove(0)
        }
    }

    impl ExchangeSteps for ScriptedExchange {
        fn request_headers(&mut self, headers: &Headers) -> HeadersOutcome {
            let mut s = self.0.lock().unwrap();
            s.calls.push(format!("request_headers {}", headers.len()));
            s.request_headers
                .take()
                .unwrap_or(HeadersOutcome::Continue(HeaderMutation::default()))
        }
        fn request_body(&mut self, chunk: &[u8], eos: bool) -> BodyOutcome {
            let mut s = self.0.lock().unwrap();
            s.calls.push(format!("request_body {} {eos}", chunk.len()));
            next_body(&mut s.request_body)
        }
        fn response_headers(&mut self, headers: &Headers) -> HeadersOutcome {
            let mut s = self.0.lock().unwrap();
            s.calls.push(format!("response_headers {}", headers.len()));
            s.response_headers
                .take()
                .unwrap_or(HeadersOutcome::Continue(HeaderMutation::default()))
        }
        fn response_body(&mut self, chunk: &[u8], eos: bool) -> BodyOutcome {
            let mut s = self.0.lock().unwrap();
            s.calls.push(format!("response_body {} {eos}", chunk.len()));
            next_body(&mut s.response_body)
        }
        fn finish(&mut self) -> AuditRecord {
            let mut s = self.0.lock().unwrap();
            s.calls.push("finish".into());
            Engine::new(sluice_core::Policy::default())
                .unwrap()
                .exchange(ExchangeContext::default())
                .finish()
        }
    }

    fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
        HeaderMap {
            headers: pairs
                .iter()
                .map(|(k, v)| HeaderValue {
                    key: (*k).into(),
                    value: String::new(),
                    raw_value: v.as_bytes().to_vec(),
                })
                .collect(),
        }
    }

    fn headers_msg(request: bool, pairs: &[(&str, &str)], eos: bool) -> pb::ProcessingRequest {
        let h = pb::HttpHeaders {
            headers: Some(header_map(pairs)),
            end_of_stream: eos,
            ..Default::default()
        };
        pb::ProcessingRequest {
            request: Some(if request {
                Request::RequestHeaders(h)
            } else {
                Request::ResponseHeaders(h)
            }),
            ..Default::default()
        }
    }

    fn body_msg(request: bool, body: &[u8], eos: bool) -> pb::ProcessingRequest {
        let b = pb::HttpBody {
            body: body.to_vec(),
            end_of_stream: eos,
            ..Default::default()
        };
        pb::ProcessingRequest {
            request: Some(if request {
                Request::RequestBody(b)
            } else {
                Request::ResponseBody(b)
            }),
            ..Default::default()
        }
    }

    fn reply() -> LocalReply {
        LocalReply {
            status: 403,
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"{\"error\":{}}".to_vec(),
            reason: "blocked",
        }
    }

    fn common(r: pb::ProcessingResponse) -> pb::CommonResponse {
        match r.response {
            Some(Response::RequestHeaders(h) | Response::ResponseHeaders(h)) => h.response,
            Some(Response::RequestBody(b) | Response::ResponseBody(b)) => b.response,
            other => panic!("not a headers or body response: {other:?}"),
        }
        .unwrap_or_default()
    }

    fn set_headers(m: &pb::HeaderMutation) -> Vec<(String, Vec<u8>, i32)> {
        m.set_headers
            .iter()
            .map(|o| {
                let h = o.header.clone().unwrap_or_default();
                (h.key, h.raw_value, o.append_action)
            })
            .collect()
    }

    const REQUEST: &[(&str, &str)] = &[
        (":path", "/v1/chat/completions?x=1"),
        (":method", "POST"),
        ("x-request-id", "rid-1"),
        (
            "x-forwarded-client-cert",
            "By=spiffe://a;URI=spiffe://evil,By=spiffe://gw;Hash=ab;URI=spiffe://cluster/ns/app",
        ),
    ];

    #[test]
    fn header_mutations_use_raw_values_and_overwrite() {
        let script = Scripted::default();
        script.0.lock().unwrap().request_headers = Some(HeadersOutcome::Continue(HeaderMutation {
            set: vec![("accept-encoding".into(), "identity".into())],
            remove: vec!["content-length".into()],
        }));
        let mut session = Session::new(script.clone());
        let r = session
            .handle(headers_msg(true, REQUEST, false))
            .unwrap()
            .unwrap();
        assert!(matches!(r.response, Some(Response::RequestHeaders(_))));
        let m = common(r).header_mutation.unwrap();
        assert_eq!(
            set_headers(&m),
            vec![(
                "accept-encoding".to_owned(),
                b"identity".to_vec(),
                HeaderAppendAction::OverwriteIfExistsOrAdd as i32
            )]
        );
        assert_eq!(m.remove_headers, vec!["content-length".to_owned()]);
        let ctx = script.0.lock().unwrap().ctx.clone().unwrap();
        assert_eq!(ctx.request_id.as_deref(), Some("rid-1"));
        assert_eq!(ctx.route.as_deref(), Some("/v1/chat/completions"));
        assert_eq!(ctx.identity.as_deref(), Some("spiffe://cluster/ns/app"));
    }

    #[test]
    fn peer_certificate_attribute_wins_over_xfcc() {
        let script = Scripted::default();
        let mut session = Session::new(script.clone());
        let mut msg = headers_msg(true, REQUEST, false);
        let mut fields = std::collections::HashMap::new();
        fields.insert(
            PEER_URI_SAN_ATTRIBUTE.to_owned(),
            Value {
                kind: Some(Kind::StringValue("spiffe://mtls/peer".into())),
            },
        );
        msg.attributes
            .insert("envoy.filters.http.ext_proc".into(), Struct { fields });
        session.handle(msg).unwrap().unwrap();
        let ctx = script.0.lock().unwrap().ctx.clone().unwrap();
        assert_eq!(ctx.identity.as_deref(), Some("spiffe://mtls/peer"));
    }

    #[test]
    fn replaced_request_body_gets_its_content_length() {
        let script = Scripted::default();
        script.0.lock().unwrap().request_body = vec![BodyOutcome::Replace(b"0123456789".to_vec())];
        let mut session = Session::new(script);
        session.handle(headers_msg(true, REQUEST, false));
        let r = session
            .handle(body_msg(true, b"abc", true))
            .unwrap()
            .unwrap();
        assert!(matches!(r.response, Some(Response::RequestBody(_))));
        let c = common(r);
        assert_eq!(
            c.body_mutation.unwrap().mutation,
            Some(pb::body_mutation::Mutation::Body(b"0123456789".to_vec()))
        );
        assert_eq!(
            set_headers(&c.header_mutation.unwrap()),
            vec![(
                "content-length".to_owned(),
                b"10".to_vec(),
                HeaderAppendAction::OverwriteIfExistsOrAdd as i32
            )]
        );
    }

    #[test]
    fn unchanged_body_has_no_mutation() {
        let mut session = Session::new(Scripted::default());
        session.handle(headers_msg(true, REQUEST, false));
        let c = common(
            session
                .handle(body_msg(true, b"abc", true))
                .unwrap()
                .unwrap(),
        );
        assert_eq!(c, pb::CommonResponse::default());
    }

    #[test]
    fn reply_before_response_headers_is_an_immediate_response() {
        let script = Scripted::default();
        script.0.lock().unwrap().request_body = vec![BodyOutcome::Reply(reply())];
        let mut session = Session::new(script);
        session.handle(headers_msg(true, REQUEST, false));
        let r = session
            .handle(body_msg(true, b"abc", true))
            .unwrap()
            .unwrap();
        let Some(Response::ImmediateResponse(i)) = r.response else {
            panic!("expected an immediate response: {r:?}");
        };
        assert_eq!(i.status.unwrap().code, 403);
        assert_eq!(i.body, b"{\"error\":{}}");
        assert_eq!(i.details, "blocked");
        assert_eq!(
            set_headers(&i.headers.unwrap())[0].1,
            b"application/json".to_vec()
        );
        // Envoy sends nothing more after an immediate response; if it did, the stream ends.
        assert!(
            session
                .handle(headers_msg(false, &[], false))
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn reply_at_response_headers_is_still_an_immediate_response() {
        let script = Scripted::default();
        script.0.lock().unwrap().response_headers = Some(HeadersOutcome::Reply(reply()));
        let mut session = Session::new(script);
        session.handle(headers_msg(true, REQUEST, true));
        let r = session
            .handle(headers_msg(false, &[(":status", "200")], false))
            .unwrap()
            .unwrap();
        assert!(matches!(r.response, Some(Response::ImmediateResponse(_))));
    }

    #[test]
    fn reply_after_response_headers_ends_the_stream_with_an_error() {
        let script = Scripted::default();
        script.0.lock().unwrap().response_body = vec![
            BodyOutcome::Replace(b"data: a\n\n".to_vec()),
            BodyOutcome::Reply(reply()),
        ];
        let mut session = Session::new(script);
        session.handle(headers_msg(true, REQUEST, true));
        session.handle(headers_msg(false, &[(":status", "200")], false));
        let first = common(
            session
                .handle(body_msg(false, b"x", false))
                .unwrap()
                .unwrap(),
        );
        assert_eq!(
            first.body_mutation.unwrap().mutation,
            Some(pb::body_mutation::Mutation::Body(b"data: a\n\n".to_vec()))
        );
        // Header mutations would be ignored by Envoy on a streamed body: none are sent.
        assert!(first.header_mutation.is_none());
        let err = session
            .handle(body_msg(false, b"y", false))
            .unwrap()
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Aborted);
        assert!(err.message().contains("blocked"));
    }

    #[test]
    fn headers_with_end_of_stream_complete_the_body_for_the_core() {
        let script = Scripted::default();
        script.0.lock().unwrap().request_body = vec![BodyOutcome::Reply(reply())];
        let mut session = Session::new(script.clone());
        let r = session
            .handle(headers_msg(true, REQUEST, true))
            .unwrap()
            .unwrap();
        assert!(matches!(r.response, Some(Response::ImmediateResponse(_))));
        assert_eq!(
            script.0.lock().unwrap().calls,
            vec!["request_headers 4", "request_body 0 true"]
        );
    }

    #[test]
    fn repeated_end_of_stream_is_answered_without_the_core() {
        let script = Scripted::default();
        let mut session = Session::new(script.clone());
        session.handle(headers_msg(true, REQUEST, true));
        session.handle(headers_msg(false, &[(":status", "200")], false));
        for _ in 0..2 {
            let c = common(session.handle(body_msg(false, b"", true)).unwrap().unwrap());
            assert_eq!(c, pb::CommonResponse::default());
        }
        // Bytes after the end were never inspected: refused.
        assert!(
            session
                .handle(body_msg(false, b"late", true))
                .unwrap()
                .is_err()
        );
        assert!(session.finish().is_some());
        assert!(session.finish().is_none());
        assert_eq!(
            script.0.lock().unwrap().calls,
            vec![
                "request_headers 4",
                "request_body 0 true",
                "response_headers 1",
                "response_body 0 true",
                "finish"
            ]
        );
    }

    #[test]
    fn audit_failure_replaces_the_last_chunk_and_resets_a_bodiless_end() {
        let mut session = Session::new(Scripted::default());
        session.handle(headers_msg(true, REQUEST, true));
        session.handle(headers_msg(false, &[(":status", "200")], false));
        let last = session.handle(body_msg(false, b"tail", true));
        assert!(session.is_complete());
        let t = session.timings();
        assert!(t.ttfb_us.is_some() && t.total_us.is_some() && t.processing_us.is_some());
        let c = common(session.audit_failed(last).unwrap().unwrap());
        let Some(pb::body_mutation::Mutation::Body(bytes)) = c.body_mutation.unwrap().mutation
        else {
            panic!("no body mutation");
        };
        assert!(String::from_utf8_lossy(&bytes).contains("audit record could not be written"));

        let mut session = Session::new(Scripted::default());
        session.handle(headers_msg(true, REQUEST, true));
        let end = session.handle(headers_msg(false, &[(":status", "204")], true));
        assert!(session.is_complete());
        assert!(session.audit_failed(end).unwrap().is_err());

        // A refusal is already fail-closed: it goes out as it is.
        let script = Scripted::default();
        script.0.lock().unwrap().request_body = vec![BodyOutcome::Reply(reply())];
        let mut session = Session::new(script);
        session.handle(headers_msg(true, REQUEST, false));
        let refusal = session.handle(body_msg(true, b"abc", true));
        let kept = session.audit_failed(refusal.clone()).unwrap().unwrap();
        assert_eq!(kept, refusal.unwrap().unwrap());
    }

    #[test]
    fn a_reply_envoy_made_before_sluice_passes_untouched() {
        let script = Scripted::default();
        script.0.lock().unwrap().response_headers = Some(HeadersOutcome::Reply(reply()));
        let mut session = Session::new(script.clone());
        let r = session
            .handle(headers_msg(false, &[(":status", "401")], false))
            .unwrap()
            .unwrap();
        assert_eq!(
            r.response,
            Some(Response::ResponseHeaders(pb::HeadersResponse::default()))
        );
        let r = session
            .handle(body_msg(false, b"Jwt verification fails", true))
            .unwrap()
            .unwrap();
        assert_eq!(
            r.response,
            Some(Response::ResponseBody(pb::BodyResponse::default()))
        );
        assert!(session.is_complete());
        assert!(session.finish().is_some());
        // The core decided nothing about it: only the audit record was asked for.
        assert_eq!(script.0.lock().unwrap().calls, vec!["finish"]);
    }

    #[test]
    fn messages_without_a_phase_get_no_answer() {
        let mut session = Session::new(Scripted::default());
        assert!(session.handle(pb::ProcessingRequest::default()).is_none());
    }

    #[test]
    fn finish_without_any_message_still_audits() {
        let script = Scripted::default();
        let mut session = Session::new(script.clone());
        assert!(session.finish().is_some());
        assert_eq!(script.0.lock().unwrap().calls, vec!["finish"]);
    }

    #[test]
    fn values_sent_in_the_value_field_are_read_too() {
        let map = HeaderMap {
            headers: vec![HeaderValue {
                key: "Content-Type".into(),
                value: "text/plain".into(),
                raw_value: Vec::new(),
            }],
        };
        assert_eq!(
            header_list(Some(&map)),
            vec![("content-type".to_owned(), "text/plain".to_owned())]
        );
    }
}
