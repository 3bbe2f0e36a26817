//! Talks gRPC to a running `sluice serve`, the way Envoy does, without Envoy: one response per
//! message, in order, with the expected shape; health; Unix sockets; graceful shutdown; the
//! audit record when a stream ends early. With the pass-through core every answer continues
//! unchanged.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::{HeaderMap, HeaderValue};
use envoy_types::pb::envoy::service::ext_proc::v3 as pb;
use envoy_types::pb::envoy::service::ext_proc::v3::external_processor_client::ExternalProcessorClient;
use pb::processing_request::Request;
use pb::processing_response::Response;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

/// Bound for anything this test waits on.
const WAIT: Duration = Duration::from_secs(20);

/// A `sluice serve` child, killed if the test ends early.
struct Server {
    child: Child,
    /// Every stderr line, as it is written.
    lines: mpsc::Receiver<String>,
    addr: String,
}

impl Server {
    fn start(listen: &str) -> Server {
        Server::start_with(&["serve", "--listen", listen])
    }

    /// `sluice ARGS…`; the arguments must make it serve.
    fn start_with<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            lines,
            addr: String::new(),
        };
        let line = server.wait_for("listening on ");
        // Text or JSON log line: the address ends at a quote or a space.
        server.addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split(['"', ' ']).next())
            .unwrap()
            .trim()
            .to_owned();
        server
    }

    fn wait_for(&self, needle: &str) -> String {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(WAIT) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(e) => panic!(
                    "no stderr line containing {needle:?}: {e}; stderr so far:\n{}",
                    seen.join("\n")
                ),
            }
        }
    }

    async fn channel(&self) -> Channel {
        if let Some(path) = self.addr.strip_prefix("unix:") {
            let path = path.to_owned();
            Endpoint::try_from("http://sluice.invalid")
                .unwrap()
                .connect_with_connector(tower::service_fn(move |_| {
                    let path = path.clone();
                    async move {
                        let stream = tokio::net::UnixStream::connect(path).await?;
                        Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
                    }
                }))
                .await
                .unwrap()
        } else {
            Endpoint::from_shared(format!("http://{}", self.addr))
                .unwrap()
                .connect()
                .await
                .unwrap()
        }
    }

    fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Exit status, waiting at most `WAIT`.
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "sluice did not exit");
            // Drain stderr while waiting; the bound above is what ends the wait.
            let _ = self.lines.recv_timeout(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn headers(pairs: &[(&str, &str)], end_of_stream: bool) -> pb::HttpHeaders {
    pb::HttpHeaders {
        headers: Some(HeaderMap {
            headers: pairs
                .iter()
                .map(|(k, v)| HeaderValue {
                    key: (*k).into(),
                    raw_value: v.as_bytes().to_vec(),
                    ..Default::default()
                })
                .collect(),
        }),
        end_of_stream,
        ..Default::default()
    }
}

fn body(bytes: &[u8], end_of_stream: bool) -> pb::HttpBody {
    pb::HttpBody {
        body: bytes.to_vec(),
        end_of_stream,
        ..Default::default()
    }
}

fn msg(request: Request) -> pb::ProcessingRequest {
    pb::ProcessingRequest {
        request: Some(request),
        ..Default::default()
    }
}

/// An open `process` stream: send one message, read its answer.
struct Stream {
    tx: tokio::sync::mpsc::Sender<pb::ProcessingRequest>,
    rx: tonic::Streaming<pb::ProcessingResponse>,
}

impl Stream {
    async fn open(channel: Channel) -> Stream {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let mut client = ExternalProcessorClient::new(channel);
        let rx = client
            .process(ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        Stream { tx, rx }
    }

    async fn exchange(&mut self, request: Request) -> Response {
        self.tx.send(msg(request)).await.unwrap();
        let answer = tokio::time::timeout(WAIT, self.rx.next())
            .await
            .expect("no answer in time")
            .expect("stream ended")
            .expect("error status");
        answer.response.expect("answer without a response")
    }
}

fn assert_pass_through(response: Option<pb::CommonResponse>) {
    let common = response.unwrap_or_default();
    assert_eq!(common.status, 0, "CONTINUE");
    assert!(common.body_mutation.is_none());
    assert!(
        common
            .header_mutation
            .is_none_or(|m| m.set_headers.is_empty() && m.remove_headers.is_empty())
    );
}

fn set_headers(response: &Option<pb::CommonResponse>) -> Vec<(String, String)> {
    response
        .clone()
        .unwrap_or_default()
        .header_mutation
        .map(|m| m.set_headers)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|h| h.header)
        .map(|h| (h.key, String::from_utf8_lossy(&h.raw_value).into_owned()))
        .collect()
}

async fn full_exchange(server: &Server) {
    let mut stream = Stream::open(server.channel().await).await;
    let request_headers = [
        (":path", "/v1/chat/completions"),
        (":method", "POST"),
        (":authority", "api.example"),
        ("content-type", "application/json"),
        ("x-request-id", "rid-grpc-full"),
    ];
    let Response::RequestHeaders(h) = stream
        .exchange(Request::RequestHeaders(headers(&request_headers, false)))
        .await
    else {
        panic!("request headers answered with another kind");
    };
    let sets = set_headers(&h.response);
    assert!(
        sets.contains(&("accept-encoding".to_string(), "identity".to_string())),
        "the upstream request must ask for an uncompressed answer: {sets:?}"
    );

    let Response::RequestBody(b) = stream
        .exchange(Request::RequestBody(body(br#"{"messages":[]}"#, true)))
        .await
    else {
        panic!("request body answered with another kind");
    };
    assert_pass_through(b.response);

    let response_headers = [(":status", "200"), ("content-type", "text/event-stream")];
    let Response::ResponseHeaders(h) = stream
        .exchange(Request::ResponseHeaders(headers(&response_headers, false)))
        .await
    else {
        panic!("response headers answered with another kind");
    };
    let common = h.response.clone().unwrap_or_default();
    let removed = common
        .header_mutation
        .map(|m| m.remove_headers)
        .unwrap_or_default();
    assert!(removed.iter().any(|r| r == "content-length"), "{removed:?}");
    let sets = set_headers(&h.response);
    assert!(
        sets.iter()
            .any(|(k, v)| k == "x-sluice-decision" && v.starts_with("allow")),
        "{sets:?}"
    );

    let chunks: [(&[u8], bool); 5] = [
        (b"data: {\"a\":1}\n\n", false),
        (b"data: {\"a\"", false),
        (b":2}\n\ndata: [DONE]\n\n", false),
        (b"", true),
        // Envoy may repeat the end of stream.
        (b"", true),
    ];
    // One answer per chunk, in order; what leaves is the input, whatever the chunking (a
    // partial event waits for its end).
    let mut emitted = Vec::new();
    let mut sent = Vec::new();
    for (chunk, eos) in chunks {
        sent.extend_from_slice(chunk);
        let Response::ResponseBody(b) = stream
            .exchange(Request::ResponseBody(body(chunk, eos)))
            .await
        else {
            panic!("response body answered with another kind");
        };
        let common = b.response.unwrap_or_default();
        assert_eq!(common.status, 0, "CONTINUE");
        match common.body_mutation.and_then(|m| m.mutation) {
            None => emitted.extend_from_slice(chunk),
            Some(pb::body_mutation::Mutation::Body(bytes)) => emitted.extend_from_slice(&bytes),
            Some(other) => panic!("unexpected body mutation {other:?}"),
        }
    }
    assert_eq!(emitted, sent);

    drop(stream.tx);
    let end = tokio::time::timeout(WAIT, stream.rx.next()).await.unwrap();
    assert!(end.is_none(), "stream must end cleanly: {end:?}");
    let audit = server.wait_for("rid-grpc-full");
    assert!(audit.contains("sluice::audit"), "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_one_answer_per_message_in_order() {
    let server = Server::start("127.0.0.1:0");
    full_exchange(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_one_answer_per_message_in_order() {
    let dir = std::env::temp_dir().join(format!("sluice-grpc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("sluice.sock");
    // A stale socket file from an earlier run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let listen = format!("unix:{}", socket.display());
    let mut server = Server::start(&listen);
    assert_eq!(server.addr, listen);
    full_exchange(&server).await;
    server.terminate();
    assert!(server.wait_exit().success());
    assert!(!socket.exists(), "socket file removed on shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_serving() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let server = Server::start("127.0.0.1:0");
    let mut health = HealthClient::new(server.channel().await);
    for service in ["", "envoy.service.ext_proc.v3.ExternalProcessor"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_closed_early_is_audited() {
    let server = Server::start("127.0.0.1:0");
    let mut stream = Stream::open(server.channel().await).await;
    stream
        .exchange(Request::RequestHeaders(headers(
            &[
                (":path", "/v1/messages"),
                ("x-request-id", "rid-grpc-early"),
            ],
            false,
        )))
        .await;
    drop(stream);
    let audit = server.wait_for("rid-grpc-early");
    assert!(audit.contains("sluice::audit"), "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_stream_finishes_after_sigterm() {
    let mut server = Server::start("127.0.0.1:0");
    let mut stream = Stream::open(server.channel().await).await;
    stream
        .exchange(Request::RequestHeaders(headers(
            &[
                (":path", "/v1/chat/completions"),
                ("x-request-id", "rid-grpc-term"),
            ],
            true,
        )))
        .await;
    server.terminate();
    server.wait_for("shutting down");
    // The open stream is still served after the signal.
    let answer = stream
        .exchange(Request::ResponseHeaders(headers(
            &[(":status", "200")],
            false,
        )))
        .await;
    assert!(matches!(answer, Response::ResponseHeaders(_)));
    let answer = stream
        .exchange(Request::ResponseBody(body(b"data: x\n\n", true)))
        .await;
    assert!(matches!(answer, Response::ResponseBody(_)));
    drop(stream);
    assert!(server.wait_exit().success());
}

/// The container of `deploy/kubernetes/base` as today's binary runs it: its arguments are
/// accepted (with the listener on loopback and the ConfigMap's policy file), and the gRPC
/// health services its probes name answer as the probes expect: both SERVING, then the
/// readiness one NOT_SERVING once SIGTERM arrives, and a clean exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_deployment_serves_and_answers_its_probes() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes/base");
    let read = |name: &str| {
        std::fs::read_to_string(base.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let deployment: serde_json::Value = serde_yaml_ng::from_str(&read("deployment.yaml")).unwrap();
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let dir = std::env::temp_dir().join(format!("sluice-deployment-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, read("policy.yaml")).unwrap();

    let mut args: Vec<String> = container["args"]
        .as_array()
        .expect("container args")
        .iter()
        .map(|a| a.as_str().expect("string args").to_owned())
        .collect();
    for (flag, local) in [
        ("--listen", "127.0.0.1:0".to_owned()),
        ("--policy", policy.display().to_string()),
        ("--metrics", "127.0.0.1:0".to_owned()),
    ] {
        let at = args
            .iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("{flag} not in {args:?}"));
        args[at + 1] = local;
    }
    let probe_service = |probe: &str| {
        let grpc = &container[probe]["grpc"];
        assert!(grpc.is_object(), "{probe} is not a gRPC probe");
        grpc["service"].as_str().unwrap_or_default().to_owned()
    };
    let readiness = probe_service("readinessProbe");
    let liveness = probe_service("livenessProbe");
    let startup = probe_service("startupProbe");

    let mut server = Server::start_with(&args);
    let mut health = HealthClient::new(server.channel().await);
    for service in [&readiness, &liveness, &startup] {
        let status = health
            .check(HealthCheckRequest {
                service: service.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("health of {service:?}: {e}"))
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    let mut watch = health
        .watch(HealthCheckRequest {
            service: readiness.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut live = health
        .watch(HealthCheckRequest {
            service: liveness.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    for stream in [&mut watch, &mut live] {
        let first = tokio::time::timeout(WAIT, stream.next()).await.unwrap();
        assert_eq!(
            first.unwrap().unwrap().status,
            ServingStatus::Serving as i32
        );
    }
    server.terminate();
    let next = tokio::time::timeout(WAIT, watch.next()).await.unwrap();
    assert_eq!(
        next.unwrap().unwrap().status,
        ServingStatus::NotServing as i32,
        "readiness ({readiness:?}) must turn NOT_SERVING on SIGTERM"
    );
    // Liveness stays SERVING while streams drain: the kubelet must not kill a draining pod.
    // Both would change together, so a short wait is enough to see a change.
    if let Ok(Some(Ok(update))) =
        tokio::time::timeout(Duration::from_millis(300), live.next()).await
    {
        assert_eq!(
            update.status,
            ServingStatus::Serving as i32,
            "liveness ({liveness:?}) must stay SERVING during shutdown"
        );
    }
    drop(watch);
    drop(live);
    drop(health);
    assert!(server.wait_exit().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn invalid_policy_exits_2() {
    let dir = std::env::temp_dir().join(format!("sluice-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("bad.yaml");
    std::fs::write(&policy, "version: 1\nunknown_section: {}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--listen", "127.0.0.1:0", "--policy"])
        .arg(&policy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown_section"), "{stderr}");
}
