//! The tonic `ExternalProcessor` service. Each `process` call returns a stream that pulls one
//! message from Envoy, answers it through the [`Session`], and only then pulls the next: the
//! adapter holds nothing beyond the message in hand, and Envoy's flow control applies end to
//! end.
//!
//! Audit: once the exchange is decided, its record is written *before* the answer that lets
//! the end of the response go. Without a signed trail that is a log line; with one
//! (`--audit`), the answer waits until the writer reports the record durable, and a write
//! that fails or exceeds the timeout turns the answer into a fail-closed end (unless the
//! policy says `on_audit_error: allow`). A stream that ends any other way (client gone) is
//! audited when it is dropped, without anyone waiting.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use envoy_types::pb::envoy::service::ext_proc::v3::external_processor_server::ExternalProcessor;
use envoy_types::pb::envoy::service::ext_proc::v3::{ProcessingRequest, ProcessingResponse};
use sluice_core::AuditRecord;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

/// Why the wait for an audit record ended without an answer.
const TIMED_OUT: &str = "timed out waiting for the audit writer";

use crate::audit_sink::{Ack, AuditSink, SinkError};
use crate::metrics::{AuditOutcome, AuditSource, MetricsHandle, OpenStream};
use crate::otlp::{ExchangeSpan, TraceHandle, TraceHeaders};
use crate::session::{ExchangeSource, Session};

/// Where signed records go and how long an answer may wait for one.
#[derive(Debug)]
pub struct AuditHook {
    pub sink: AuditSink,
    pub timeout: Duration,
    /// `on_audit_error: allow`: release the response even when its record failed.
    pub allow_on_error: bool,
}

#[derive(Clone, Debug)]
pub struct Processor<S> {
    source: S,
    audit: Option<Arc<AuditHook>>,
    metrics: MetricsHandle,
    traces: TraceHandle,
}

impl<S: ExchangeSource> Processor<S> {
    pub fn new(source: S) -> Self {
        Processor {
            source,
            audit: None,
            metrics: MetricsHandle::default(),
            traces: TraceHandle::default(),
        }
    }

    pub fn with_traces(mut self, traces: TraceHandle) -> Self {
        self.traces = traces;
        self
    }

    pub fn with_metrics(mut self, metrics: MetricsHandle) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn with_audit(mut self, hook: AuditHook) -> Self {
        self.audit = Some(Arc::new(hook));
        self
    }
}

#[tonic::async_trait]
impl<S: ExchangeSource> ExternalProcessor for Processor<S> {
    type ProcessStream = ProcessStream<S>;

    async fn process(
        &self,
        request: Request<Streaming<ProcessingRequest>>,
    ) -> Result<Response<Self::ProcessStream>, Status> {
        let mut session = Session::new(self.source.clone());
        let trace = if self.traces.enabled() {
            session = session.with_trace_capture();
            Some(Box::new(StreamTrace {
                handle: self.traces.clone(),
                call: TraceHeaders::from_metadata(request.metadata()),
                opened: SystemTime::now(),
                span: None,
            }))
        } else {
            None
        };
        Ok(Response::new(ProcessStream {
            inbound: request.into_inner(),
            session,
            trace,
            done: false,
            audit: self.audit.clone(),
            pending: None,
            _open: self.metrics.open_stream(),
            metrics: self.metrics.clone(),
        }))
    }
}

type Answer = Option<Result<ProcessingResponse, Status>>;

/// An answer held until its audit record is durable.
struct Pending {
    answer: Answer,
    wait: Pin<Box<tokio::time::Timeout<Ack>>>,
    since: std::time::Instant,
}

/// Tracing state of one gRPC stream (only with `--otlp-endpoint`).
struct StreamTrace {
    handle: TraceHandle,
    /// The trace context Envoy sent with the call: its ext_proc span for this stream.
    call: Option<TraceHeaders>,
    /// When the stream opened: the exchange span's start.
    opened: SystemTime,
    /// The decided exchange's span, until the answer that ends the exchange is settled.
    span: Option<ExchangeSpan>,
}

/// Answers of one gRPC stream, produced as Envoy's messages arrive.
pub struct ProcessStream<S: ExchangeSource> {
    inbound: Streaming<ProcessingRequest>,
    session: Session<S>,
    trace: Option<Box<StreamTrace>>,
    done: bool,
    audit: Option<Arc<AuditHook>>,
    pending: Option<Pending>,
    metrics: MetricsHandle,
    /// Counts this stream in `sluice_open_streams` until it is dropped.
    _open: OpenStream,
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

impl<S: ExchangeSource> ProcessStream<S> {
    /// The exchange's audit record, once (see [`Session::finish`]), counted in the metrics
    /// and, with tracing on, made into the exchange's span (ended by [`Self::end_span`]).
    fn finish(&mut self) -> Option<AuditRecord> {
        let record = self.session.finish()?;
        self.metrics.exchange(&record, &self.session.timings());
        if let Some(trace) = self.trace.as_mut() {
            trace.span = trace.handle.exchange_span(
                [trace.call.as_ref(), self.session.trace_headers()],
                trace.opened,
                &record,
            );
        }
        Some(record)
    }

    /// Ends the exchange's span, if there is one; `audit_failed`: its record is not durable.
    fn end_span(&mut self, audit_failed: bool) {
        if let Some(mut span) = self.trace.as_mut().and_then(|t| t.span.take()) {
            if audit_failed {
                span.audit_failed();
            }
            span.end();
        }
    }

    /// What to send for `answer` once the wait for its record ended with `outcome`.
    fn after_audit(&mut self, answer: Answer, outcome: Result<(), String>) -> Answer {
        self.end_span(outcome.is_err());
        let Err(error) = outcome else {
            return answer;
        };
        let allow = self.audit.as_ref().is_some_and(|h| h.allow_on_error);
        tracing::error!(
            target: "sluice::audit",
            error = %error,
            released = allow,
            "audit record not durable before the end of the response"
        );
        if allow {
            answer
        } else {
            self.session.audit_failed(answer)
        }
    }
}

impl<S: ExchangeSource> Stream for ProcessStream<S> {
    type Item = Result<ProcessingResponse, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Every field is Unpin (`Streaming` and the wait are boxed), so the struct is too.
        let this = self.get_mut();
        loop {
            let answer = if let Some(pending) = this.pending.as_mut() {
                let outcome = match pending.wait.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(Ok(Ok(())))) => Ok(()),
                    Poll::Ready(Ok(Ok(Err(e)))) => Err(e.to_string()),
                    Poll::Ready(Ok(Err(_))) => Err(SinkError::Stopped.to_string()),
                    Poll::Ready(Err(_)) => Err(TIMED_OUT.into()),
                };
                this.metrics.audit_commit(
                    AuditSource::ExtProc,
                    AuditOutcome::of(&outcome, TIMED_OUT),
                    pending.since.elapsed(),
                );
                let answer = pending.answer.take();
                this.pending = None;
                this.after_audit(answer, outcome)
            } else {
                if this.done {
                    return Poll::Ready(None);
                }
                match Pin::new(&mut this.inbound).poll_next(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(None) => {
                        this.done = true;
                        continue;
                    }
                    Poll::Ready(Some(Err(status))) => {
                        tracing::debug!(code = ?status.code(), "ext_proc stream closed by peer");
                        this.done = true;
                        continue;
                    }
                    Poll::Ready(Some(Ok(message))) => {
                        let event = this.metrics.event(&message);
                        let mut answer = this.session.handle(message);
                        event.stop();
                        // Write the record before the answer that lets the end of the response go.
                        if this.session.is_complete() {
                            if let Some(hook) = this.audit.clone() {
                                if let Some(record) = this.finish() {
                                    attach_summary(&mut answer, &record);
                                    let ack = hook.sink.submit(
                                        record,
                                        unix_micros(),
                                        this.session.timings(),
                                    );
                                    this.pending = Some(Pending {
                                        answer,
                                        wait: Box::pin(tokio::time::timeout(hook.timeout, ack)),
                                        since: std::time::Instant::now(),
                                    });
                                    continue;
                                }
                            } else {
                                let record = this.finish();
                                if let Some(record) = &record {
                                    attach_summary(&mut answer, record);
                                }
                                write_audit(record);
                                this.end_span(false);
                            }
                        }
                        answer
                    }
                }
            };
            match answer {
                None => continue,
                Some(Ok(response)) => return Poll::Ready(Some(Ok(response))),
                Some(Err(status)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(status)));
                }
            }
        }
    }
}

impl<S: ExchangeSource> Drop for ProcessStream<S> {
    fn drop(&mut self) {
        match self.audit.clone() {
            Some(hook) => {
                if let Some(record) = self.finish() {
                    hook.sink
                        .submit_detached(record, unix_micros(), self.session.timings());
                }
            }
            None => write_audit(self.finish()),
        }
        self.end_span(false);
    }
}

/// Puts the exchange's summary on the answer that concludes it, as dynamic metadata for
/// Envoy's access logs and rate limits (an answer that ends the gRPC stream carries none).
fn attach_summary(answer: &mut Answer, record: &AuditRecord) {
    if let Some(Ok(response)) = answer {
        response.dynamic_metadata = Some(crate::session::summary_metadata(record));
    }
}

/// Logs the exchange's audit record (`None`: already written). It holds rule ids and counts,
/// never a value.
fn write_audit(record: Option<AuditRecord>) {
    if let Some(record) = record {
        match serde_json::to_string(&record) {
            Ok(json) => tracing::info!(target: "sluice::audit", record = %json, "exchange"),
            Err(e) => {
                tracing::error!(target: "sluice::audit", error = %e, "audit record not serialisable")
            }
        }
    }
}
