//! `sluice envoy-bootstrap`: a complete Envoy bootstrap that puts Sluice in front of one
//! upstream, either as an ext_proc service or as a wasm filter. The document is built as
//! `serde_json` values and serialised to YAML, so no input ends up unescaped in the output.

use std::net::IpAddr;
use std::path::PathBuf;

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
    /// Admin listener (IP:PORT), which serves /ready.
    #[arg(long, default_value = "127.0.0.1:9901")]
    pub admin: ListenAddr,
    /// ext_proc per-message timeout in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
    /// CA bundle that verifies an https upstream's certificate.
    #[arg(long, default_value = "/etc/ssl/certs/ca-certificates.crt")]
    pub ca_file: PathBuf,
}

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
    let uri: http::Uri = url
        .parse()
        .with_context(|| format!("--upstream {url:?} is not a URL"))?;
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => bail!("--upstream must start with http:// or https://, got {url:?}"),
    };
    let Some(authority) = uri.authority() else {
        bail!("--upstream {url:?} has no host");
    };
    if authority.as_str().contains('@') {
        bail!("--upstream must not carry credentials");
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        bail!("--upstream is a base URL (scheme, host, port); paths are routed as requested");
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    if host.is_empty() {
        bail!("--upstream {url:?} has no host");
    }
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    Ok(Upstream {
        tls,
        host,
        port,
        authority: authority.as_str().to_owned(),
    })
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
    let (policy_json, policy) = match &args.config {
        Some(path) => {
            let text = crate::policy_file::policy_json(path)?;
            let policy = Policy::from_json(&text)
                .with_context(|| format!("policy file {}", path.display()))?;
            // Compact, canonical JSON: what the wasm filter's `on_configure` receives.
            let value: Value = serde_json::from_str(&text)
                .with_context(|| format!("policy file {}", path.display()))?;
            (value.to_string(), policy)
        }
        None => (String::new(), Policy::default()),
    };
    let buffer_limit = policy
        .limits
        .request_body_bytes
        .saturating_add(BUFFER_SLACK_BYTES);

    let sluice_filter = match args.mode {
        Mode::ExtProc => {
            if args.wasm.is_some() {
                bail!("--wasm applies to --mode wasm only");
            }
            ext_proc_filter(args.timeout_ms)
        }
        Mode::Wasm => {
            if args.sluice.is_some() {
                bail!("--sluice applies to --mode ext-proc only");
            }
            let Some(wasm) = &args.wasm else {
                bail!("--mode wasm needs --wasm PATH (the sluice_wasm.wasm module)");
            };
            wasm_filter(wasm, &policy_json)
        }
    };

    let mut route = json!({ "cluster": "upstream", "timeout": "0s" });
    if let Some(route) = route.as_object_mut() {
        route.insert("host_rewrite_literal".into(), json!(upstream.authority));
    }

    let hcm = json!({
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
            "http_filters": [
                sluice_filter,
                {
                    "name": "envoy.filters.http.router",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                    }
                }
            ]
        }
    });

    let mut clusters = vec![upstream_cluster(&upstream, args, buffer_limit)];
    if args.mode == Mode::ExtProc {
        let sluice = args
            .sluice
            .clone()
            .unwrap_or_else(ListenAddr::default_socket);
        clusters.push(sluice_cluster(&sluice));
    }

    Ok(json!({
        "admin": { "address": tcp_only(&args.admin, "--admin")? },
        "static_resources": {
            "listeners": [{
                "name": "sluice_ingress",
                "address": tcp_only(&args.listen, "--listen")?,
                "per_connection_buffer_limit_bytes": buffer_limit,
                "filter_chains": [{ "filters": [hcm] }]
            }],
            "clusters": clusters
        }
    }))
}

fn ext_proc_filter(timeout_ms: u64) -> Value {
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
        let mut tls = json!({
            "common_tls_context": {
                "validation_context": {
                    "trusted_ca": { "filename": args.ca_file.display().to_string() }
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
                json!("type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"),
            );
        }
        fields.insert(
            "transport_socket".into(),
            json!({ "name": "envoy.transport_sockets.tls", "typed_config": tls }),
        );
    }
    cluster
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
