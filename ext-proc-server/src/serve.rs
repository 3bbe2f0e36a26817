//! `sluice serve`: the ext_proc gRPC service (and gRPC health) on TCP or a Unix socket.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use sluice_core::{Engine, Policy};
use tokio::net::{TcpListener, UnixListener};
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::audit_endpoint::AuditEndpoint;
use crate::audit_sink::{AuditSink, SinkConfig};
use crate::grpc::ProcessorService;
use crate::listen::ListenAddr;
use crate::metrics::{Metrics, MetricsHandle};
use crate::policy_reload::{LiveEngine, Reloader};
use crate::service::{AuditHook, Processor};
use sluice_core::audit::FingerprintKey;
use sluice_core::policy::OnAuditError;

/// Envoy may hand over a buffered request body somewhat larger than the policy limit (its own
/// buffer limit is set above it, so that Sluice answers with its own 413); the gRPC message
/// limit leaves room for that and the protobuf framing.
const MESSAGE_SLACK_BYTES: usize = 2 * 1024 * 1024;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to serve on: IP:PORT, [IPv6]:PORT or unix:/abs/path.sock. The default Unix
    /// socket is the one `sluice envoy-bootstrap` points Envoy at by default.
    #[arg(long, default_value = crate::listen::DEFAULT_SOCKET)]
    pub listen: ListenAddr,
    /// Policy document (JSON or YAML). Without it the built-in default policy applies. The
    /// file is reloaded when it changes and on SIGHUP; a file that does not load leaves the
    /// running policy in place (see docs/policy.md, "Hot reload").
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Reload the policy on SIGHUP only, not when its file changes.
    #[arg(long, requires = "policy")]
    pub no_policy_watch: bool,
    /// Log format on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Permissions of the Unix socket file, in octal.
    #[arg(long, default_value = "660", value_parser = parse_mode)]
    pub socket_mode: u32,
    /// After SIGTERM/SIGINT, how long open streams may run before the process exits anyway.
    #[arg(long, default_value_t = 20_000)]
    pub shutdown_grace_ms: u64,
    /// Signed audit trail (JSON Lines): each record is durable before the end of its response
    /// is released. Without it, records are log lines on standard error.
    #[arg(long, requires = "audit_key")]
    pub audit: Option<PathBuf>,
    /// Ed25519 signing key for the trail (PREFIX.key from `sluice audit keygen`).
    #[arg(long, requires = "audit")]
    pub audit_key: Option<PathBuf>,
    /// Size at which the audit file is rotated to FILE.N (the chain continues in the new file).
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    pub audit_max_bytes: u64,
    /// Name of this instance's chain; unique per replica writing its own file. Default: the
    /// host name.
    #[arg(long)]
    pub audit_instance: Option<String>,
    /// How long the end of a response may wait for its record to be durable before the
    /// response ends fail-closed (keep it below Envoy's ext_proc message timeout).
    #[arg(long, default_value_t = 1000)]
    pub audit_timeout_ms: u64,
    /// Also accept records over HTTP/1.1 on IP:PORT (`POST /v1/audit`, answered 200 once the
    /// record is durable): the signed trail of proxy-wasm filters (docs/wasm.md).
    #[arg(long, value_name = "ADDR", requires = "audit")]
    pub audit_sink_listen: Option<std::net::SocketAddr>,
    /// Per-deployment key (a file of at least 16 bytes) for keyed fingerprints of matched
    /// values in audit records. Without it, records carry no fingerprints.
    #[arg(long)]
    pub fingerprint_key: Option<PathBuf>,
    /// Serve Prometheus metrics (OpenMetrics text) at `GET /metrics` on IP:PORT
    /// (docs/observability.md). No authentication: bind it where only the scraper reaches.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Send one OpenTelemetry span per exchange to the OTLP/gRPC collector at URL (such as
    /// http://127.0.0.1:4317), in the trace Envoy started for the request
    /// (docs/observability.md, "Traces"). Spans are batched; the data path never waits.
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// Threads answering Envoy. 1 (the default) runs everything on one thread: Envoy
    /// multiplexes all exchanges over one or a few HTTP/2 connections, each driven by one
    /// task, so more threads mostly add cross-thread wake-ups per message. 0: one per CPU.
    #[arg(long, default_value_t = 1)]
    pub worker_threads: usize,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("expected octal permissions such as 660, got {s:?}"))
}

/// Error kinds `main` maps to exit codes.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Bad configuration: exit status 2.
    #[error("{0}")]
    Config(String),
}

pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let fingerprint = match &args.fingerprint_key {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| {
                ServeError::Config(format!("reading fingerprint key {}: {e}", path.display()))
            })?;
            let key = FingerprintKey::new(&bytes)
                .map_err(|e| ServeError::Config(format!("{}: {e}", path.display())))?;
            Some(key)
        }
        None => None,
    };
    let engine = match &args.policy {
        Some(path) => crate::policy_reload::load_engine(path, fingerprint.as_ref())
            .map_err(|e| ServeError::Config(e.to_string()))?,
        None => {
            let engine = Engine::new(Policy::default())
                .map_err(|e| ServeError::Config(format!("policy: {e}")))?;
            match fingerprint.clone() {
                Some(key) => engine.with_fingerprint_key(key),
                None => engine,
            }
        }
    };
    let mut builder = match args.worker_threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        0 => tokio::runtime::Builder::new_multi_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
    };
    let runtime = builder
        .enable_all()
        .thread_name("sluice-worker")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(args, engine, fingerprint))
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // The readiness line is part of the command-line contract; a quiet RUST_LOG keeps it.
    if let Ok(directive) = "sluice::ready=info".parse() {
        filter = filter.add_directive(directive);
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if let Err(e) = installed {
        eprintln!("sluice: logging not initialised: {e}");
    }
}

async fn run(
    args: ServeArgs,
    engine: Engine,
    fingerprint: Option<FingerprintKey>,
) -> anyhow::Result<()> {
    // Both are fixed for the life of the process; the reloader refuses a policy that would
    // need them to change.
    let limits = &engine.policy().limits;
    let max_message = limits
        .request_body_bytes
        .max(limits.response_buffer_bytes)
        .saturating_add(MESSAGE_SLACK_BYTES);
    let allow_on_error = engine.policy().on_audit_error == OnAuditError::Allow;
    let live = LiveEngine::new(engine);
    let (reload_task, reload_stats) = match &args.policy {
        Some(path) => {
            let reloader = Reloader::new(path.clone(), live.clone(), fingerprint);
            let stats = reloader.stats();
            let task = crate::policy_reload::spawn(reloader, !args.no_policy_watch)?;
            (task, Some(stats))
        }
        None => (crate::policy_reload::spawn_without_policy()?, None),
    };
    // Bound before the gRPC listener, so its readiness line means both accept.
    let (metrics, metrics_endpoint) = match args.metrics {
        Some(addr) => {
            let metrics = std::sync::Arc::new(Metrics::new(reload_stats.clone()));
            let listener = crate::metrics::bind(addr).await?;
            let task = crate::metrics::spawn(listener, std::sync::Arc::clone(&metrics));
            (MetricsHandle::new(metrics), Some(task))
        }
        None => (MetricsHandle::default(), None),
    };
    let (otlp, traces) = match &args.otlp_endpoint {
        Some(endpoint) => {
            let (exporter, handle) =
                crate::otlp::start(endpoint).map_err(|e| ServeError::Config(e.to_string()))?;
            (Some(exporter), handle)
        }
        None => (None, crate::otlp::TraceHandle::default()),
    };
    let mut processor = Processor::new(live)
        .with_metrics(metrics.clone())
        .with_traces(traces);
    let mut audit_thread = None;
    let mut audit_endpoint = None;
    if let (Some(path), Some(key_path)) = (&args.audit, &args.audit_key) {
        let key = crate::audit_cli::read_signing_key(key_path)
            .map_err(|e| ServeError::Config(format!("{e:#}")))?;
        let instance = args.audit_instance.clone().unwrap_or_else(default_instance);
        let (sink, thread) = AuditSink::open(SinkConfig {
            path: path.clone(),
            key,
            instance,
            max_bytes: args.audit_max_bytes,
        })
        .map_err(|e| ServeError::Config(e.to_string()))?;
        audit_thread = Some(thread);
        // Bound before the gRPC listener, so its readiness line means both accept.
        if let Some(addr) = args.audit_sink_listen {
            let listener = crate::audit_endpoint::bind(addr).await?;
            audit_endpoint = Some(crate::audit_endpoint::spawn(
                listener,
                AuditEndpoint {
                    sink: sink.clone(),
                    timeout: Duration::from_millis(args.audit_timeout_ms),
                    metrics: metrics.clone(),
                },
            ));
        }
        processor = processor.with_audit(AuditHook {
            sink,
            timeout: Duration::from_millis(args.audit_timeout_ms),
            allow_on_error,
        });
    }
    let processor = ProcessorService::new(processor, max_message);
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<ProcessorService<Processor<LiveEngine>>>()
        .await;

    let router = Server::builder()
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_service(health_service)
        .add_service(processor);

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop = async {
        let _ = stop_rx.await;
    };
    let mut socket_path = None;
    let mut server = match &args.listen {
        ListenAddr::Tcp(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr}"))?;
            let bound = listener.local_addr().context("reading the bound address")?;
            tracing::info!(target: "sluice::ready", "listening on {bound}");
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            tokio::spawn(router.serve_with_incoming_shutdown(incoming, stop))
        }
        ListenAddr::Unix(path) => {
            let listener = bind_unix(path, args.socket_mode).await?;
            socket_path = Some(path.clone());
            tracing::info!(target: "sluice::ready", "listening on {}", args.listen);
            let incoming = UnixListenerStream::new(listener);
            tokio::spawn(router.serve_with_incoming_shutdown(incoming, stop))
        }
    };

    let result = tokio::select! {
        finished = &mut server => Some(finished),
        signal = shutdown_signal() => {
            signal?;
            None
        }
    };
    let outcome = match result {
        Some(finished) => finished.context("server task failed")?.context("serving"),
        None => {
            tracing::info!("shutting down: no new connections, open streams may finish");
            health
                .set_not_serving::<ProcessorService<Processor<LiveEngine>>>()
                .await;
            let _ = stop_tx.send(());
            let grace = Duration::from_millis(args.shutdown_grace_ms);
            match tokio::time::timeout(grace, &mut server).await {
                Ok(finished) => finished.context("server task failed")?.context("serving"),
                Err(_) => {
                    tracing::warn!(
                        grace_ms = args.shutdown_grace_ms,
                        "open streams still running after the grace period; exiting"
                    );
                    server.abort();
                    Ok(())
                }
            }
        }
    };
    reload_task.abort();
    if let Some(task) = audit_endpoint {
        task.abort();
    }
    if let Some(task) = metrics_endpoint {
        task.abort();
    }
    if let Some(path) = socket_path {
        let _ = std::fs::remove_file(path);
    }
    // Records of streams dropped at shutdown are queued; let the writer finish them.
    drop(server);
    if let Some(exporter) = otlp {
        exporter.shutdown().await;
    }
    if let Some(thread) = audit_thread {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = thread.join();
            let _ = done_tx.send(());
        });
        let _ = tokio::time::timeout(Duration::from_secs(5), done_rx).await;
    }
    match reload_stats {
        Some(stats) => tracing::info!(
            policy_reloads = stats.reloads(),
            policy_reload_failures = stats.failures(),
            "stopped (policy reloads: {}, failures: {})",
            stats.reloads(),
            stats.failures()
        ),
        None => tracing::info!("stopped"),
    }
    outcome
}

/// The host name, as the default chain name of this instance.
fn default_instance() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "sluice".to_owned())
}

/// Binds a Unix socket, replacing a stale socket file left by a previous run but never a live
/// one (another server still accepting) nor a file that is not a socket.
async fn bind_unix(path: &Path, mode: u32) -> anyhow::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if tokio::net::UnixStream::connect(path).await.is_ok() {
                bail!("{} is in use by a running server", path.display());
            }
            std::fs::remove_file(path)
                .with_context(|| format!("removing stale socket {}", path.display()))?;
        }
        Ok(_) => bail!("{} exists and is not a socket", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("inspecting {}", path.display())),
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("binding unix:{}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting permissions of {}", path.display()))?;
    Ok(listener)
}

async fn shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
    Ok(())
}
