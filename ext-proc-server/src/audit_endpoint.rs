//! `sluice serve --audit-sink-listen ADDR`: the signed trail as an HTTP/1.1 endpoint, for the
//! proxy-wasm filter, which cannot write or sync a file from inside Envoy.
//!
//! `POST /v1/audit` with a record in its wire form (`sluice_core::audit::wire`) hands it to
//! the same writer the ext_proc streams use, and answers 200 only once the record is durable,
//! so the filter releases the end of a response only after its record is on disk. Every other
//! answer (400 malformed, 413 over the cap, 503 not written in time or writer failed) tells the
//! filter to end that response fail-closed.
//!
//! Nothing from a body is logged: the record holds no value by construction, but a malformed
//! body could be anything, and wire errors carry only a position.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sluice_core::audit::wire::{self, MAX_WIRE_BYTES, WireError};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::audit_sink::AuditSink;
use crate::metrics::{AuditOutcome, AuditSource, MetricsHandle};

/// Why the wait for a record ended without an answer.
const TIMED_OUT: &str = "timed out waiting for the audit writer";

/// The one path served.
pub const AUDIT_PATH: &str = "/v1/audit";

/// What the endpoint needs: the writer, and how long a request may wait for it.
#[derive(Clone, Debug)]
pub struct AuditEndpoint {
    pub sink: AuditSink,
    pub timeout: Duration,
    pub metrics: MetricsHandle,
}

/// Binds `addr` and logs the readiness line `audit sink accepting on ADDR` (not "listening
/// on": tools wait for that phrase as the gRPC listener's, and this line comes first).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the audit sink on {addr}"))?;
    let bound = listener
        .local_addr()
        .context("reading the audit sink's bound address")?;
    tracing::info!(target: "sluice::ready", "audit sink accepting on {bound}");
    Ok(listener)
}

/// Serves connections until the task is aborted.
pub fn spawn(listener: TcpListener, endpoint: AuditEndpoint) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(target: "sluice::audit", error = %e, "audit sink accept failed");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let endpoint = endpoint.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let endpoint = endpoint.clone();
                    async move { Ok::<_, Infallible>(endpoint.handle(req).await) }
                });
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(target: "sluice::audit", %peer, error = %e, "audit sink connection ended");
                }
            });
        }
    })
}

fn answer(status: StatusCode, message: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(message.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    response
}

impl AuditEndpoint {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        if req.uri().path() != AUDIT_PATH {
            return answer(StatusCode::NOT_FOUND, "not found\n");
        }
        if req.method() != Method::POST {
            let mut response = answer(StatusCode::METHOD_NOT_ALLOWED, "POST only\n");
            response.headers_mut().insert(
                hyper::header::ALLOW,
                hyper::header::HeaderValue::from_static("POST"),
            );
            return response;
        }
        let body = match Limited::new(req.into_body(), MAX_WIRE_BYTES)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(e)
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                tracing::warn!(target: "sluice::audit", "audit submission refused: over the {MAX_WIRE_BYTES}-byte cap");
                return answer(StatusCode::PAYLOAD_TOO_LARGE, "record over the size cap\n");
            }
            Err(_) => return answer(StatusCode::BAD_REQUEST, "body not readable\n"),
        };
        let submission = match wire::decode(&body) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(target: "sluice::audit", error = %e, "audit submission refused");
                return match e {
                    WireError::TooLarge { .. } => {
                        answer(StatusCode::PAYLOAD_TOO_LARGE, "record over the size cap\n")
                    }
                    WireError::Malformed { .. } => {
                        answer(StatusCode::BAD_REQUEST, "malformed audit submission\n")
                    }
                };
            }
        };
        let request_id = submission.record.request_id.clone();
        let ack = self.sink.submit_wire(
            submission.record,
            submission.time_unix_us,
            submission.timings,
        );
        let since = std::time::Instant::now();
        let outcome = match tokio::time::timeout(self.timeout, ack).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(e.to_string()),
            Ok(Err(_)) => Err("the audit writer has stopped".to_owned()),
            Err(_) => Err(TIMED_OUT.to_owned()),
        };
        let kind = AuditOutcome::of(&outcome, TIMED_OUT);
        self.metrics
            .audit_commit(AuditSource::Sink, kind, since.elapsed());
        let Err(error) = outcome else {
            return answer(StatusCode::OK, "durable\n");
        };
        tracing::error!(
            target: "sluice::audit",
            error = %error,
            request_id = request_id.as_deref().unwrap_or(""),
            "submitted audit record not durable"
        );
        answer(StatusCode::SERVICE_UNAVAILABLE, "record not written\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit_sink::SinkConfig;
    use sluice_core::audit::{SigningKey, Timings, Verifier};
    use sluice_core::{Engine, ExchangeContext, Policy};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn body() -> Vec<u8> {
        let record = Engine::new(Policy::default())
            .unwrap()
            .exchange(ExchangeContext::default())
            .finish();
        wire::encode(&record, 1_000_000, Timings::default()).unwrap()
    }

    /// One raw HTTP/1.1 exchange on a fresh connection; returns the status code.
    async fn send(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> u16 {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: sink\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out).await;
        let text = String::from_utf8_lossy(&out);
        text.split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    async fn start(path: &std::path::Path) -> (SocketAddr, JoinHandle<()>) {
        let (sink, _thread) = AuditSink::open(SinkConfig {
            path: path.to_owned(),
            key: SigningKey::from_seed([9; 32]),
            instance: "sink-test".into(),
            max_bytes: 1 << 20,
        })
        .unwrap();
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = spawn(
            listener,
            AuditEndpoint {
                sink,
                timeout: Duration::from_secs(5),
                metrics: MetricsHandle::default(),
            },
        );
        (addr, task)
    }

    #[tokio::test]
    async fn answers_200_once_durable_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let (addr, task) = start(&path).await;
        assert_eq!(send(addr, "POST", AUDIT_PATH, &body()).await, 200);
        // Durable when the answer came: the line is in the file and verifies.
        let text = std::fs::read(&path).unwrap();
        let mut v = Verifier::new(vec![SigningKey::from_seed([9; 32]).verifying_key()]);
        v.add_file("audit.jsonl", &text);
        let report = v.finish();
        assert!(report.intact(), "{report:?}");
        assert_eq!(report.chains[0].records, 1);

        assert_eq!(send(addr, "POST", AUDIT_PATH, b"{not json").await, 400);
        let big = vec![b' '; MAX_WIRE_BYTES + 1];
        assert_eq!(send(addr, "POST", AUDIT_PATH, &big).await, 413);
        assert_eq!(send(addr, "POST", "/v1/other", &body()).await, 404);
        assert_eq!(send(addr, "GET", AUDIT_PATH, b"").await, 405);
        // Refusals wrote nothing.
        assert_eq!(std::fs::read(&path).unwrap(), text);
        task.abort();
    }

    #[tokio::test]
    async fn a_failing_writer_answers_503() {
        let (addr, task) = start(std::path::Path::new("/dev/full")).await;
        assert_eq!(send(addr, "POST", AUDIT_PATH, &body()).await, 503);
        task.abort();
    }
}
