//! The tonic `ExternalProcessor` service. Each `process` call returns a stream that pulls one
//! message from Envoy, answers it through the [`Session`], and only then pulls the next: the
//! adapter holds nothing beyond the message in hand, and Envoy's flow control applies end to
//! end. The audit record is written when the stream is dropped, however it ended.

use std::pin::Pin;
use std::task::{Context, Poll};

use envoy_types::pb::envoy::service::ext_proc::v3::external_processor_server::ExternalProcessor;
use envoy_types::pb::envoy::service::ext_proc::v3::{ProcessingRequest, ProcessingResponse};
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use crate::session::{ExchangeSource, Session};

#[derive(Clone, Debug)]
pub struct Processor<S> {
    source: S,
}

impl<S: ExchangeSource> Processor<S> {
    pub fn new(source: S) -> Self {
        Processor { source }
    }
}

#[tonic::async_trait]
impl<S: ExchangeSource> ExternalProcessor for Processor<S> {
    type ProcessStream = ProcessStream<S>;

    async fn process(
        &self,
        request: Request<Streaming<ProcessingRequest>>,
    ) -> Result<Response<Self::ProcessStream>, Status> {
        Ok(Response::new(ProcessStream {
            inbound: request.into_inner(),
            session: Session::new(self.source.clone()),
            done: false,
        }))
    }
}

/// Answers of one gRPC stream, produced as Envoy's messages arrive.
pub struct ProcessStream<S: ExchangeSource> {
    inbound: Streaming<ProcessingRequest>,
    session: Session<S>,
    done: bool,
}

impl<S: ExchangeSource> Stream for ProcessStream<S> {
    type Item = Result<ProcessingResponse, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Every field is Unpin (`Streaming` boxes its body), so the struct is too.
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inbound).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    this.done = true;
                }
                Poll::Ready(Some(Err(status))) => {
                    tracing::debug!(code = ?status.code(), "ext_proc stream closed by peer");
                    this.done = true;
                }
                Poll::Ready(Some(Ok(message))) => {
                    let answer = this.session.handle(message);
                    // Write the record before the answer that lets the end of the response go.
                    if this.session.is_complete() {
                        write_audit(&mut this.session);
                    }
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
    }
}

impl<S: ExchangeSource> Drop for ProcessStream<S> {
    fn drop(&mut self) {
        write_audit(&mut self.session);
    }
}

/// Logs the exchange's audit record once (later calls do nothing). It holds rule ids and
/// counts, never a value.
fn write_audit<S: ExchangeSource>(session: &mut Session<S>) {
    if let Some(record) = session.finish() {
        match serde_json::to_string(&record) {
            Ok(json) => tracing::info!(target: "sluice::audit", record = %json, "exchange"),
            Err(e) => {
                tracing::error!(target: "sluice::audit", error = %e, "audit record not serialisable")
            }
        }
    }
}
