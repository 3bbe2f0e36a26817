//! `sluice envoy-bootstrap`: a complete Envoy bootstrap that puts Sluice in front of one
//! upstream, either as an ext_proc service or as a wasm filter. The document is built as
//! `serde_json` values and serialised to YAML, so no input ends up unescaped in the output.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use sluice_core::Policy;

use crate::listen::ListenAddr;

/// Added to the policy's request body limit to size Envoy's buffers: a body a little over the
/// limit still reaches Sluice, which answers with its own 413 in the provider's error shape
/// rather than Envoy's plain one.
const BUFFER_SLACK_BYTES: usize = 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    ExtProc,
    Wasm,
}

#[derive(Args, Debug)]
pub struct BootstrapArgs {
    /// ext-proc: Envoy calls `sluice serve` over gRPC; wasm: the core runs inside Envoy.
    #[arg(long, value_enum)]
    pub mode: Mode,
    /// Data-plane listener (IP:PORT).
    #[arg(long)]
    pub listen: ListenAddr,
    /// Upstream base URL: http://HOST[:PORT] or https://HOST[:PORT].
    #[arg(long)]
    pub upstream: String,
    /// Address of `sluice serve` (IP:PORT or unix:/abs/path.sock); ext-proc mode. Default:
    /// the Unix socket `sluice serve` listens on by default (/run/sluice/sluice.sock); give
    /// IP:PORT for a TCP cluster.
    #[arg(long)]
    pub sluice: Option<ListenAddr>,
    /// Path of sluice_wasm.wasm; wasm mode.
    #[arg(long)]
    pub wasm: Option<PathBuf>,
    /// Policy file (JSON or YAML). In wasm mode it becomes the plugin configuration; in both
    /// modes its request body limit sizes Envoy's buffers.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address (IP:PORT) of `sluice serve --audit-sink-listen`; wasm mode. The filter then
    /// holds the end of each response until the sink has made its record durable.
    #[arg(long, value_name = "ADDR")]
    pub audit_sink: Option<std::net::SocketAddr>,
    /// How long the end of a response may wait for the audit sink (wasm mode); past it the
    /// response ends fail-closed (or is released, with `on_audit_error: allow`).
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 1000,
        requires = "audit_sink"
    )]
    pub audit_sink_timeout_ms: u64,
    /// Admin listener (IP:PORT), which serves /ready.
    #[arg(long, default_value = "127.0.0.1:9901")]
    pub admin: ListenAddr,
    /// ext_proc per-message timeout in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Write Envoy's access log to PATH, one JSON object per request, with Sluice's decision,
    /// finding counts and token usage beside Envoy's own fields (docs/observability.md).
    #[arg(long, value_name = "PATH")]
    pub access_log: Option<PathBuf>,
    /// Turn on Envoy's OpenTelemetry tracer, sending Envoy's spans to the OTLP/gRPC collector
    /// at IP:PORT (service name `envoy`, every request sampled). Envoy then starts the trace
    /// of each request, or continues the client's `traceparent`, and hands the context to
    /// `sluice serve --otlp-endpoint` on the ext_proc call (docs/observability.md, "Traces").
    #[arg(long, value_name = "ADDR")]
    pub otlp_tracing: Option<std::net::SocketAddr>,
    /// CA bundle that verifies an https upstream's certificate (and a remote JWKS server's).
    #[arg(long, default_value = "/etc/ssl/certs/ca-certificates.crt")]
    pub ca_file: PathBuf,
    /// Boxed: these options would make every `sluice` command's arguments as large as these.
    #[command(flatten)]
    pub identity: Box<IdentityArgs>,
}

/// Who the caller is, verified by Envoy before Sluice runs: jwt_authn checks the token and the
/// listener's TLS checks the client certificate, so Sluice only reads their results (the
/// policy's `identity:` section says which of them count).
#[derive(Args, Debug, Default)]
pub struct IdentityArgs {
    /// Issuer (`iss`) the JWTs must carry; turns on Envoy's jwt_authn filter. Needs a JWKS
    /// source (--jwt-jwks-file or --jwt-jwks-uri).
    #[arg(long, value_name = "ISS")]
    pub jwt_issuer: Option<String>,
    /// An audience (`aud`) the JWTs may carry; repeatable. None: the audience is not checked.
    #[arg(long = "jwt-audience", value_name = "AUD")]
    pub jwt_audiences: Vec<String>,
    /// Local JWKS file with the keys that sign the JWTs.
    #[arg(long, value_name = "PATH", conflicts_with = "jwt_jwks_uri")]
    pub jwt_jwks_file: Option<PathBuf>,
    /// https URL Envoy fetches the JWKS from (its own cluster, certificate checked against
    /// --ca-file, cached for --jwt-jwks-cache-secs).
    #[arg(long, value_name = "URL")]
    pub jwt_jwks_uri: Option<String>,
    /// How long Envoy keeps a fetched remote JWKS, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub jwt_jwks_cache_secs: u64,
    /// Let requests without a token through unauthenticated, so policy rules decide what an
    /// anonymous caller may do. A token that is present but invalid is still refused (401).
    /// Default: every request needs a valid token.
    #[arg(long)]
    pub jwt_optional: bool,
    /// Key jwt_authn writes the verified payload under (`payload_in_metadata`); must match the
    /// policy's `identity.jwt.payload_key`.
    #[arg(long, value_name = "KEY", default_value = "jwt_payload")]
    pub jwt_payload_key: String,
    /// Header carrying the bare token, instead of `Authorization: Bearer <token>` (useful when
    /// Authorization carries the provider's API key).
    #[arg(long, value_name = "NAME")]
    pub jwt_header: Option<String>,
    /// Certificate chain (PEM) of the data-plane listener; turns on downstream TLS.
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA bundle (PEM) that client certificates must chain to: clients must present one
    /// (mutual TLS), and its URI SAN (a SPIFFE id) reaches Sluice.
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
    /// Accept only client certificates with a URI SAN under spiffe://DOMAIN/.
    #[arg(long, value_name = "DOMAIN", requires = "client_ca")]
    pub spiffe_trust_domain: Option<String>,
}

/// Cluster name of the audit sink (`--audit-sink`), as the wasm filter's envelope names it.
const AUDIT_SINK_CLUSTER: &str = "sluice_audit";
/// Cluster name of the OTLP collector Envoy's tracer sends its spans to (`--otlp-tracing`).
const OTLP_CLUSTER: &str = "sluice_otlp";
/// Cluster name of a remote JWKS server.
const JWKS_CLUSTER: &str = "sluice_jwks";
/// jwt_authn's filter name, which is also the dynamic-metadata namespace it writes.
const JWT_AUTHN: &str = "envoy.filters.http.jwt_authn";
/// The request attribute that carries the client certificate's URI SAN to ext_proc.
const PEER_URI_SAN: &str = "connection.uri_san_peer_certificate";

pub fn bootstrap(args: BootstrapArgs) -> anyhow::Result<()> {
    let doc = build(&args)?;
    let yaml = serde_yaml_ng::to_string(&doc).context("serialising the bootstrap")?;
    print!("{yaml}");
    Ok(())
}

/// Upstream as the bootstrap needs it.
#[derive(Debug, PartialEq, Eq)]
struct Upstream {
    tls: bool,
    /// Host name or IP address, without brackets.
    host: String,
    port: u16,
    /// `Host` header value sent upstream: the URL's authority.
    authority: String,
}

fn parse_upstream(url: &str) -> anyhow::Result<Upstream> {
    let (uri, upstream) = parse_server_url(url, "--upstream", None)?;
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        bail!("--upstream is a base URL (scheme, host, port); paths are routed as requested");
    }
    Ok(upstream)
}

/// An `http://` or `https://` URL naming a server Envoy connects to, for option `flag`:
/// no credentials in it, a host, the scheme's port by default. `https_only` gives the reason
/// plain HTTP is refused for this option.
fn parse_server_url(
    url: &str,
    flag: &str,
    https_only: Option<&str>,
) -> anyhow::Result<(http::Uri, Upstream)> {
    let uri: http::Uri = url
        .parse()
        .with_context(|| format!("{flag} {url:?} is not a URL"))?;
    let tls = match (uri.scheme_str(), https_only) {
        (Some("https"), _) => true,
        (Some("http"), None) => false,
        (_, Some(why)) => bail!("{flag} must be an https:// URL: {why}"),
        (_, None) => bail!("{flag} must start with http:// or https://, got {url:?}"),
    };
    let Some(authority) = uri.authority() else {
        bail!("{flag} {url:?} has no host");
    };
    if authority.as_str().contains('@') {
        bail!("{flag} must not carry credentials");
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    if host.is_empty() {
        bail!("{flag} {url:?} has no host");
    }
    let upstream = Upstream {
        tls,
        host,
        port: authority.port_u16().unwrap_or(if tls { 443 } else { 80 }),
        authority: authority.as_str().to_owned(),
    };
    Ok((uri, upstream))
}

fn socket_address(addr: &ListenAddr) -> Value {
    match addr {
        ListenAddr::Tcp(sock) => json!({
            "socket_address": { "address": sock.ip().to_string(), "port_value": sock.port() }
        }),
        ListenAddr::Unix(path) => json!({ "pipe": { "path": path.display().to_string() } }),
    }
}

fn tcp_only(addr: &ListenAddr, flag: &str) -> anyhow::Result<Value> {
    match addr {
        ListenAddr::Tcp(_) => Ok(socket_address(addr)),
        ListenAddr::Unix(_) => bail!("{flag} must be IP:PORT"),
    }
}

fn duration(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{}.{:03}s", ms / 1000, ms % 1000)
    }
}

fn build(args: &BootstrapArgs) -> anyhow::Result<Value> {
    let upstream = parse_upstream(&args.upstream)?;
    let (policy_value, policy) = match &args.config {
        Some(path) => {
            let text = crate::policy_file::policy_json(path)?;
            let policy = Policy::from_json(&text)
                .with_context(|| format!("policy file {}", path.display()))?;
            let value: Value = serde_json::from_str(&text)
                .with_context(|| format!("policy file {}", path.display()))?;
            (Some(value), policy)
        }
        None => (None, Policy::default()),
    };
    // Compact, canonical JSON: what the wasm filter's `on_configure` receives; with an audit
    // sink, the policy goes inside the envelope that names it.
    let plugin_configuration = match (args.audit_sink, &policy_value) {
        (Some(_), policy) => {
            if args.audit_sink_timeout_ms == 0 || args.audit_sink_timeout_ms > u64::from(u32::MAX) {
                bail!("--audit-sink-timeout-ms must be 1..=4294967295");
            }
            let mut envelope = json!({
                "audit_sink": {
                    "cluster": AUDIT_SINK_CLUSTER,
                    "timeout_ms": args.audit_sink_timeout_ms
                }
            });
            if let (Some(policy), Some(fields)) = (policy, envelope.as_object_mut()) {
                fields.insert("policy".into(), policy.clone());
            }
            envelope.to_string()
        }
        (None, Some(policy)) => policy.to_string(),
        (None, None) => String::new(),
    };
    let buffer_limit = policy
        .limits
        .request_body_bytes
        .saturating_add(BUFFER_SLACK_BYTES);

    let jwt = jwt_authn(&args.identity, &args.ca_file)?;
    if let (Some(_), Some(want)) = (&jwt, policy.identity.as_ref().and_then(|i| i.jwt.as_ref()))
        && want.payload_key != args.identity.jwt_payload_key
    {
        bail!(
            "the policy reads JWT claims from identity.jwt.payload_key {:?} but jwt_authn writes them under --jwt-payload-key {:?}",
            want.payload_key,
            args.identity.jwt_payload_key
        );
    }
    let downstream_tls = downstream_tls(&args.identity)?;

    let sluice_filter = match args.mode {
        Mode::ExtProc => {
            if args.wasm.is_some() {
                bail!("--wasm applies to --mode wasm only");
            }
            if args.audit_sink.is_some() {
                bail!(
                    "--audit-sink applies to --mode wasm only (ext_proc writes the trail itself: sluice serve --audit)"
                );
            }
            ext_proc_filter(
                args.timeout_ms,
                jwt.is_some(),
                args.identity.client_ca.is_some(),
            )
        }
        Mode::Wasm => {
            if args.sluice.is_some() {
                bail!("--sluice applies to --mode ext-proc only");
            }
            let Some(wasm) = &args.wasm else {
                bail!("--mode wasm needs --wasm PATH (the sluice_wasm.wasm module)");
            };
            wasm_filter(wasm, &plugin_configuration)
        }
    };

    let mut route = json!({ "cluster": "upstream", "timeout": "0s" });
    if let Some(route) = route.as_object_mut() {
        route.insert("host_rewrite_literal".into(), json!(upstream.authority));
    }

    let mut hcm = json!({
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "sluice_ingress",
            "codec_type": "AUTO",
            // LLM streams can run for minutes: no overall route timeout, but an idle stream
            // is closed.
            "stream_idle_timeout": "300s",
            "route_config": {
                "name": "upstream",
                "virtual_hosts": [{
                    "name": "upstream",
                    "domains": ["*"],
                    "routes": [{ "match": { "prefix": "/" }, "route": route }]
                }]
            },
            "http_filters": []
        }
    });
    if let (Some(path), Some(config)) = (
        &args.access_log,
        hcm.pointer_mut("/typed_config")
            .and_then(Value::as_object_mut),
    ) {
        config.insert("access_log".into(), json!([access_log(path, args.mode)]));
    }
    if let (Some(_), Some(config)) = (
        args.otlp_tracing,
        hcm.pointer_mut("/typed_config")
            .and_then(Value::as_object_mut),
    ) {
        config.insert("tracing".into(), otlp_tracing());
    }
    if let Some(filters) = hcm
        .pointer_mut("/typed_config/http_filters")
        .and_then(Value::as_array_mut)
    {
        // jwt_authn first: its verified claims are in the metadata when Sluice runs.
        if let Some((filter, _)) = &jwt {
            filters.push(filter.clone());
        }
        filters.push(sluice_filter);
        filters.push(json!({
            "name": "envoy.filters.http.router",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
            }
        }));
    }

    let mut clusters = vec![upstream_cluster(&upstream, args, buffer_limit)];
    if let Some((_, Some(jwks))) = jwt {
        clusters.push(jwks);
    }
    if args.mode == Mode::ExtProc {
        let sluice = args
            .sluice
            .clone()
            .unwrap_or_else(ListenAddr::default_socket);
        clusters.push(sluice_cluster(&sluice));
    }
    if let Some(addr) = args.audit_sink {
        clusters.push(audit_sink_cluster(addr));
    }
    if let Some(addr) = args.otlp_tracing {
        clusters.push(otlp_cluster(addr));
    }

    let mut bootstrap = json!({
        "admin": { "address": tcp_only(&args.admin, "--admin")? },
        "static_resources": {
            "listeners": [{
                "name": "sluice_ingress",
                "address": tcp_only(&args.listen, "--listen")?,
                "per_connection_buffer_limit_bytes": buffer_limit,
                "filter_chains": [filter_chain(hcm, downstream_tls)]
            }],
            "clusters": clusters
        }
    });
    if let (Mode::Wasm, Some(fields)) = (args.mode, bootstrap.as_object_mut()) {
        fields.insert("stats_config".into(), wasm_stats_config());
    }
    Ok(bootstrap)
}

/// Turns the wasm filter's metrics into labelled Prometheus series: one tag extractor per
/// label name for the `NAME=.=VALUE;.;` form its stat names carry
/// (`wasm-filter/src/metrics.rs`; Istio's `extraStatTags` writes the same extractors), and
/// the ext_proc service's histogram buckets for its `_microseconds` histograms.
fn wasm_stats_config() -> Value {
    let tags: Vec<Value> = sluice_core::METRIC_LABELS
        .iter()
        .map(|tag| json!({ "tag_name": tag, "regex": format!("({tag}=\\.=(.*?);\\.;)") }))
        .collect();
    json!({
        "stats_tags": tags,
        "histogram_bucket_settings": [{
            "match": { "safe_regex": { "regex": "^wasmcustom\\.(.*;\\.;)?sluice_[a-z_]+_microseconds$" } },
            "buckets": crate::metrics::MICROSECOND_BUCKETS
        }]
    })
}

fn filter_chain(hcm: Value, tls: Option<Value>) -> Value {
    let mut chain = json!({ "filters": [hcm] });
    if let (Some(tls), Some(fields)) = (tls, chain.as_object_mut()) {
        fields.insert("transport_socket".into(), tls);
    }
    chain
}

/// The jwt_authn filter and, for a remote JWKS, the cluster it is fetched through. `None` when
/// no `--jwt-*` option is given.
fn jwt_authn(id: &IdentityArgs, ca_file: &Path) -> anyhow::Result<Option<(Value, Option<Value>)>> {
    let configured = id.jwt_issuer.is_some()
        || !id.jwt_audiences.is_empty()
        || id.jwt_jwks_file.is_some()
        || id.jwt_jwks_uri.is_some()
        || id.jwt_optional
        || id.jwt_header.is_some()
        || id.jwt_payload_key != "jwt_payload";
    if !configured {
        return Ok(None);
    }
    let Some(issuer) = id.jwt_issuer.as_deref().filter(|i| !i.is_empty()) else {
        bail!("the --jwt-* options need --jwt-issuer ISS: the issuer every token must carry");
    };
    if id.jwt_payload_key.is_empty() {
        bail!("--jwt-payload-key must not be empty");
    }
    if id.jwt_audiences.iter().any(String::is_empty) {
        bail!("--jwt-audience must not be empty");
    }
    let (jwks_key, jwks, cluster) = match (&id.jwt_jwks_file, &id.jwt_jwks_uri) {
        (Some(file), None) => (
            "local_jwks",
            json!({ "filename": file.display().to_string() }),
            None,
        ),
        (None, Some(uri)) => {
            let server = parse_jwks_uri(uri)?;
            let cluster = jwks_cluster(&server, ca_file);
            (
                "remote_jwks",
                json!({
                    "http_uri": { "uri": uri, "cluster": JWKS_CLUSTER, "timeout": "5s" },
                    "cache_duration": format!("{}s", id.jwt_jwks_cache_secs.max(1)),
                    // Fetched when the listener starts, not by the first request.
                    "async_fetch": {}
                }),
                Some(cluster),
            )
        }
        (None, None) => bail!(
            "--jwt-issuer needs a JWKS source: --jwt-jwks-file PATH (local) or --jwt-jwks-uri URL (remote)"
        ),
        (Some(_), Some(_)) => {
            bail!("--jwt-jwks-file and --jwt-jwks-uri are alternatives; give one")
        }
    };
    let mut provider = json!({
        "issuer": issuer,
        "payload_in_metadata": id.jwt_payload_key,
    });
    if let Some(p) = provider.as_object_mut() {
        p.insert(jwks_key.into(), jwks);
        if !id.jwt_audiences.is_empty() {
            p.insert("audiences".into(), json!(id.jwt_audiences));
        }
        if let Some(header) = &id.jwt_header {
            let name = header.to_ascii_lowercase();
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() || name.starts_with(':') {
                bail!("--jwt-header {header:?} is not a header name");
            }
            p.insert("from_headers".into(), json!([{ "name": name }]));
        }
    }
    let requirement = if id.jwt_optional {
        json!({ "requires_any": { "requirements": [
            { "provider_name": "sluice" },
            { "allow_missing": {} }
        ]}})
    } else {
        json!({ "provider_name": "sluice" })
    };
    let filter = json!({
        "name": JWT_AUTHN,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": { "sluice": provider },
            "rules": [{ "match": { "prefix": "/" }, "requires": requirement }]
        }
    });
    Ok(Some((filter, cluster)))
}

fn parse_jwks_uri(url: &str) -> anyhow::Result<Upstream> {
    let why = "the keys decide who a caller is";
    parse_server_url(url, "--jwt-jwks-uri", Some(why)).map(|(_, server)| server)
}

fn jwks_cluster(server: &Upstream, ca_file: &Path) -> Value {
    let is_ip = server.host.parse::<IpAddr>().is_ok();
    let mut cluster = json!({
        "name": JWKS_CLUSTER,
        "type": if is_ip { "STATIC" } else { "STRICT_DNS" },
        "connect_timeout": "5s",
        "load_assignment": {
            "cluster_name": JWKS_CLUSTER,
            "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": {
                "socket_address": { "address": server.host, "port_value": server.port }
            }}}]}]
        },
        "transport_socket": upstream_tls(server, ca_file)
    });
    if !is_ip && let Some(fields) = cluster.as_object_mut() {
        fields.insert("dns_lookup_family".into(), json!("V4_PREFERRED"));
    }
    cluster
}

/// The listener's TLS context, when --tls-cert is given; with --client-ca a client
/// certificate is required and checked.
fn downstream_tls(id: &IdentityArgs) -> anyhow::Result<Option<Value>> {
    let (Some(cert), Some(key)) = (&id.tls_cert, &id.tls_key) else {
        if id.tls_cert.is_some() || id.tls_key.is_some() || id.client_ca.is_some() {
            bail!("downstream TLS needs both --tls-cert PATH and --tls-key PATH");
        }
        return Ok(None);
    };
    let mut common = json!({
        // HTTP/2 over TLS is negotiated by ALPN; the connection manager's AUTO codec follows.
        "alpn_protocols": ["h2", "http/1.1"],
        "tls_certificates": [{
            "certificate_chain": { "filename": cert.display().to_string() },
            "private_key": { "filename": key.display().to_string() }
        }]
    });
    let mut context = json!({
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
    });
    if let Some(ca) = &id.client_ca {
        let mut validation = json!({ "trusted_ca": { "filename": ca.display().to_string() } });
        if let Some(domain) = &id.spiffe_trust_domain {
            let domain = domain.trim_start_matches("spiffe://").trim_end_matches('/');
            if domain.is_empty()
                || !domain
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b))
            {
                bail!(
                    "--spiffe-trust-domain {:?} is not a trust domain (lower-case letters, digits, '-', '.', '_')",
                    id.spiffe_trust_domain.as_deref().unwrap_or_default()
                );
            }
            if let Some(v) = validation.as_object_mut() {
                v.insert(
                    "match_typed_subject_alt_names".into(),
                    json!([{
                        "san_type": "URI",
                        "matcher": { "prefix": format!("spiffe://{domain}/") }
                    }]),
                );
            }
        }
        if let Some(c) = common.as_object_mut() {
            c.insert("validation_context".into(), validation);
        }
        if let Some(c) = context.as_object_mut() {
            c.insert("require_client_certificate".into(), json!(true));
        }
    }
    if let Some(c) = context.as_object_mut() {
        c.insert("common_tls_context".into(), common);
    }
    Ok(Some(json!({
        "name": "envoy.transport_sockets.tls",
        "typed_config": context
    })))
}

/// Envoy's file access log with the fields Sluice publishes (`sluice_core::DecisionSummary`):
/// ext_proc hands them over as dynamic metadata, the wasm filter as filter state. Envoy's own
/// fields are the usual ones; a field Sluice did not set is `null`.
fn access_log(path: &std::path::Path, mode: Mode) -> Value {
    let ns = sluice_core::summary::NAMESPACE;
    let mut format = serde_json::Map::new();
    for (key, command) in [
        ("start_time", "%START_TIME%"),
        ("method", "%REQ(:METHOD)%"),
        ("path", "%REQ(:PATH)%"),
        ("status", "%RESPONSE_CODE%"),
        ("flags", "%RESPONSE_FLAGS%"),
        ("duration_ms", "%DURATION%"),
        ("bytes_sent", "%BYTES_SENT%"),
        ("request_id", "%REQ(X-REQUEST-ID)%"),
    ] {
        format.insert(key.into(), json!(command));
    }
    for key in sluice_core::summary::FIELDS {
        let command = match mode {
            Mode::ExtProc => format!("%DYNAMIC_METADATA({ns}:{key})%"),
            Mode::Wasm => format!("%FILTER_STATE(wasm.{ns}.{key}:PLAIN)%"),
        };
        format.insert(format!("{ns}_{key}"), json!(command));
    }
    json!({
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": path.display().to_string(),
            "log_format": { "json_format": format }
        }
    })
}

/// `forward_jwt`: jwt_authn's namespace is sent in each message's `metadata_context`;
/// `peer_attribute`: the client certificate's URI SAN in the request attributes.
fn ext_proc_filter(timeout_ms: u64, forward_jwt: bool, peer_attribute: bool) -> Value {
    let mut filter = ext_proc_base(timeout_ms);
    if let Some(config) = filter
        .pointer_mut("/typed_config")
        .and_then(Value::as_object_mut)
    {
        // Sluice's summary comes back as dynamic metadata in its own namespace.
        let mut options = json!({
            "receiving_namespaces": { "untyped": [sluice_core::summary::NAMESPACE] }
        });
        if forward_jwt {
            options["forwarding_namespaces"] = json!({ "untyped": [JWT_AUTHN] });
        }
        config.insert("metadata_options".into(), options);
        if peer_attribute {
            config.insert("request_attributes".into(), json!([PEER_URI_SAN]));
        }
    }
    filter
}

fn ext_proc_base(timeout_ms: u64) -> Value {
    json!({
        "name": "envoy.filters.http.ext_proc",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor",
            "grpc_service": { "envoy_grpc": { "cluster_name": "sluice" } },
            "failure_mode_allow": false,
            "allow_mode_override": false,
            "message_timeout": duration(timeout_ms),
            "processing_mode": {
                "request_header_mode": "SEND",
                "request_body_mode": "BUFFERED",
                "request_trailer_mode": "SKIP",
                "response_header_mode": "SEND",
                "response_body_mode": "STREAMED",
                "response_trailer_mode": "SKIP"
            }
        }
    })
}

fn wasm_filter(module: &std::path::Path, policy_json: &str) -> Value {
    json!({
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "sluice",
                "failure_policy": "FAIL_CLOSED",
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": policy_json
                },
                "vm_config": {
                    "vm_id": "sluice",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": { "local": { "filename": module.display().to_string() } }
                }
            }
        }
    })
}

fn upstream_cluster(upstream: &Upstream, args: &BootstrapArgs, buffer_limit: usize) -> Value {
    let is_ip = upstream.host.parse::<IpAddr>().is_ok();
    let mut cluster = json!({
        "name": "upstream",
        "type": if is_ip { "STATIC" } else { "STRICT_DNS" },
        "connect_timeout": "5s",
        "per_connection_buffer_limit_bytes": buffer_limit,
        // Every open streamed answer holds one HTTP/1.1 connection to the provider; Envoy's
        // defaults (1024 connections, 1024 pending requests) would fail the 2049th
        // concurrent stream with a 503.
        "circuit_breakers": { "thresholds": [{
            "max_connections": 65536,
            "max_pending_requests": 65536,
            "max_requests": 65536
        }]},
        "load_assignment": {
            "cluster_name": "upstream",
            "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": {
                "socket_address": { "address": upstream.host, "port_value": upstream.port }
            }}}]}]
        }
    });
    let Some(fields) = cluster.as_object_mut() else {
        return cluster;
    };
    if !is_ip {
        fields.insert("dns_lookup_family".into(), json!("V4_PREFERRED"));
    }
    if upstream.tls {
        fields.insert(
            "transport_socket".into(),
            upstream_tls(upstream, &args.ca_file),
        );
    }
    cluster
}

/// TLS to an upstream: SNI and a certificate checked against `ca_file` for the host name.
fn upstream_tls(upstream: &Upstream, ca_file: &Path) -> Value {
    let is_ip = upstream.host.parse::<IpAddr>().is_ok();
    let mut tls = json!({
        "common_tls_context": {
            "validation_context": {
                "trusted_ca": { "filename": ca_file.display().to_string() }
            }
        }
    });
    if !is_ip {
        if let Some(t) = tls.as_object_mut() {
            t.insert("sni".into(), json!(upstream.host));
        }
        if let Some(v) = tls.pointer_mut("/common_tls_context/validation_context")
            && let Some(v) = v.as_object_mut()
        {
            v.insert(
                "match_typed_subject_alt_names".into(),
                json!([{ "san_type": "DNS", "matcher": { "exact": upstream.host } }]),
            );
        }
    }
    if let Some(t) = tls.as_object_mut() {
        t.insert(
            "@type".into(),
            json!(
                "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
            ),
        );
    }
    json!({ "name": "envoy.transport_sockets.tls", "typed_config": tls })
}

/// The audit sink: plain HTTP/1.1 (Envoy's default for a cluster) to `sluice serve
/// --audit-sink-listen`, usually on the same host or pod.
fn audit_sink_cluster(addr: std::net::SocketAddr) -> Value {
    json!({
        "name": AUDIT_SINK_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        // Every response ending at once holds one call; Envoy's default of 1024 pending
        // requests per cluster would refuse the rest (and so end their responses).
        "circuit_breakers": { "thresholds": [{
            "max_connections": 1024,
            "max_pending_requests": 65536,
            "max_requests": 65536
        }]},
        "load_assignment": {
            "cluster_name": AUDIT_SINK_CLUSTER,
            "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": {
                "socket_address": { "address": addr.ip().to_string(), "port_value": addr.port() }
            }}}]}]
        }
    })
}

/// The HCM's tracing: Envoy's OpenTelemetry tracer, every request sampled. The ext_proc
/// filter's gRPC call is a child span of the request's, and its context travels in the call's
/// metadata, so Sluice's exchange span lands in the same trace.
fn otlp_tracing() -> Value {
    json!({
        "random_sampling": { "value": 100 },
        "provider": {
            "name": "envoy.tracers.opentelemetry",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig",
                "grpc_service": {
                    "envoy_grpc": { "cluster_name": OTLP_CLUSTER },
                    "timeout": "1s"
                },
                "service_name": "envoy"
            }
        }
    })
}

/// The OTLP/gRPC collector of `--otlp-tracing` (HTTP/2, plain text).
fn otlp_cluster(addr: std::net::SocketAddr) -> Value {
    json!({
        "name": OTLP_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": { "http2_protocol_options": {} }
            }
        },
        "load_assignment": {
            "cluster_name": OTLP_CLUSTER,
            "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": {
                "socket_address": { "address": addr.ip().to_string(), "port_value": addr.port() }
            }}}]}]
        }
    })
}

fn sluice_cluster(addr: &ListenAddr) -> Value {
    json!({
        "name": "sluice",
        "type": "STATIC",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {
                    "http2_protocol_options": {
                        "connection_keepalive": { "interval": "30s", "timeout": "10s" }
                    }
                }
            }
        },
        // Every open exchange is one gRPC stream; Envoy's default of 1024 concurrent requests
        // per cluster would cap concurrent LLM streams.
        "circuit_breakers": { "thresholds": [{
            "max_connections": 1024,
            "max_pending_requests": 65536,
            "max_requests": 65536
        }]},
        "load_assignment": {
            "cluster_name": "sluice",
            "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": socket_address(addr) } }] }]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls() {
        let u = parse_upstream("https://api.openai.com").unwrap();
        assert_eq!(
            u,
            Upstream {
                tls: true,
                host: "api.openai.com".into(),
                port: 443,
                authority: "api.openai.com".into()
            }
        );
        let u = parse_upstream("http://127.0.0.1:8080/").unwrap();
        assert_eq!(
            (u.tls, u.port, u.authority.as_str()),
            (false, 8080, "127.0.0.1:8080")
        );
        let u = parse_upstream("http://[::1]:8080").unwrap();
        assert_eq!(u.host, "::1");
        for bad in [
            "ftp://x",
            "127.0.0.1:8080",
            "http://u:p@host",
            "http://host/v1",
            "http://host?x=1",
        ] {
            assert!(parse_upstream(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(duration(2000), "2s");
        assert_eq!(duration(250), "0.250s");
        assert_eq!(duration(1500), "1.500s");
    }
}
