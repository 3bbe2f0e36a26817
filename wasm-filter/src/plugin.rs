//! The proxy-wasm contexts: the root context owns the engine built from the plugin
//! configuration, each HTTP context drives one [`StreamFilter`] over [`ProxyHost`].

use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType};
use sluice_core::{
    AuditRecord, BodyOutcome, Decision, Engine, Exchange, HeadersOutcome, LocalReply,
};

use crate::config::{AuditSinkConfig, plugin_from_configuration};
use crate::filter::{AuditPolicy, Inspector, StreamFilter};
use crate::host::ProxyHost;
use crate::metrics::{FilterMetrics, StreamMetrics};

#[derive(Default)]
pub struct SluiceRoot {
    engine: Option<Engine>,
    audit_sink: Option<AuditSinkConfig>,
    metrics: Rc<FilterMetrics>,
}

impl Context for SluiceRoot {}

impl RootContext for SluiceRoot {
    /// A configuration that does not load refuses the plugin (Envoy rejects the filter config)
    /// and never replaces an engine already running.
    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        let raw = if plugin_configuration_size == 0 {
            None
        } else {
            hostcalls::get_buffer(
                BufferType::PluginConfiguration,
                0,
                plugin_configuration_size,
            )
            .unwrap_or_default()
        };
        self.metrics.define_fixed();
        let loaded = plugin_from_configuration(raw.as_deref());
        self.metrics.policy_load(loaded.is_ok());
        match loaded {
            Ok(plugin) => {
                let engine = plugin.engine;
                // Each configuration update (a new listener or ECDS config) runs this again in
                // a new plugin; the id and hash tell which policy the update brought.
                log::info!(
                    "sluice: policy version {} loaded ({} configuration): id={}, sha256={}",
                    engine.policy().version,
                    if raw.as_ref().is_some_and(|r| !r.is_empty()) {
                        "plugin"
                    } else {
                        "built-in default"
                    },
                    engine.policy().policy_id.as_deref().unwrap_or(""),
                    engine.policy_sha256()
                );
                if let Some(sink) = &plugin.audit_sink {
                    log::info!(
                        "sluice: audit records go to cluster {} ({} ms timeout)",
                        sink.cluster,
                        sink.timeout.as_millis()
                    );
                }
                self.engine = Some(engine);
                self.audit_sink = plugin.audit_sink;
                true
            }
            Err(err) => {
                log::error!("sluice: plugin configuration refused: {err}");
                false
            }
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        // The SDK traps on `None`, so an unconfigured root still hands out a context: one
        // that refuses every request.
        let inspector = match &self.engine {
            Some(engine) => StreamInspector::Pending(engine.clone()),
            None => StreamInspector::Unconfigured,
        };
        let mut filter = StreamFilter::new(inspector);
        if let (Some(engine), Some(sink)) = (&self.engine, &self.audit_sink) {
            filter = filter.with_audit_sink(AuditPolicy {
                sink: sink.clone(),
                allow_on_error: engine.policy().on_audit_error
                    == sluice_core::policy::OnAuditError::Allow,
            });
        }
        Some(Box::new(SluiceHttp {
            filter,
            metrics: StreamMetrics::new(Rc::clone(&self.metrics), ProxyHost),
            #[cfg(feature = "test-trap")]
            trap: None,
        }))
    }
}

/// The exchange is created at request-headers time, when the request id and route are known.
enum StreamInspector {
    Pending(Engine),
    Active(Box<Exchange>),
    /// The response came without request headers: an earlier filter answered the request
    /// itself (jwt_authn's 401, rbac's 403). Nothing went upstream and the reply is Envoy's
    /// own, so it passes as it is; the exchange only makes the audit record, as in ext_proc.
    EnvoyReply(Box<Exchange>),
    Unconfigured,
}

impl Inspector for StreamInspector {
    fn request_headers(&mut self, headers: &[(String, String)]) -> HeadersOutcome {
        if let StreamInspector::Pending(engine) = self {
            let jwt = engine
                .policy()
                .identity
                .as_ref()
                .is_some_and(|i| i.jwt.is_some());
            let exchange = engine.exchange(ProxyHost.exchange_context(headers, jwt));
            *self = StreamInspector::Active(Box::new(exchange));
        }
        match self {
            StreamInspector::Active(ex) => ex.request_headers(headers),
            // Request headers after a response began never happen; refused if they did.
            StreamInspector::Pending(_)
            | StreamInspector::EnvoyReply(_)
            | StreamInspector::Unconfigured => HeadersOutcome::Reply(unconfigured_reply()),
        }
    }
    fn request_body(&mut self, chunk: &[u8], end_of_stream: bool) -> BodyOutcome {
        match self {
            StreamInspector::Active(ex) => ex.request_body(chunk, end_of_stream),
            _ => BodyOutcome::Reply(unconfigured_reply()),
        }
    }
    fn response_headers(&mut self, headers: &[(String, String)]) -> HeadersOutcome {
        if let StreamInspector::Pending(engine) = self {
            let exchange = engine.exchange(sluice_core::ExchangeContext::default());
            *self = StreamInspector::EnvoyReply(Box::new(exchange));
        }
        match self {
            StreamInspector::Active(ex) => ex.response_headers(headers),
            StreamInspector::EnvoyReply(_) => HeadersOutcome::Continue(Default::default()),
            _ => HeadersOutcome::Reply(unconfigured_reply()),
        }
    }
    fn response_body(&mut self, chunk: &[u8], end_of_stream: bool) -> BodyOutcome {
        match self {
            StreamInspector::Active(ex) => ex.response_body(chunk, end_of_stream),
            StreamInspector::EnvoyReply(_) => BodyOutcome::Unchanged,
            _ => BodyOutcome::Reply(unconfigured_reply()),
        }
    }
    fn finish(&mut self) -> AuditRecord {
        match self {
            StreamInspector::Active(ex) | StreamInspector::EnvoyReply(ex) => ex.finish(),
            _ => AuditRecord {
                api: None,
                identity: None,
                identity_source: None,
                route: None,
                host: None,
                model: None,
                request_id: None,
                policy_id: None,
                policy_version: 0,
                policy_sha256: None,
                decision: Decision::Block,
                rule: None,
                dry_run: Vec::new(),
                findings: Vec::new(),
                errors: vec!["sluice plugin has no policy".to_owned()],
                best_effort: false,
                incomplete: true,
                held_back: Default::default(),
                usage: None,
            },
        }
    }
    fn audit_failed(&mut self) -> Vec<u8> {
        match self {
            StreamInspector::Active(ex) | StreamInspector::EnvoyReply(ex) => ex.audit_failed(),
            _ => b"\n[sluice: response stopped: the audit record could not be written]\n".to_vec(),
        }
    }
}

fn unconfigured_reply() -> LocalReply {
    LocalReply {
        status: 503,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: br#"{"error":{"type":"sluice_error","message":"sluice has no policy loaded"}}"#
            .to_vec(),
        reason: "no policy",
    }
}

struct SluiceHttp {
    filter: StreamFilter<StreamInspector>,
    metrics: StreamMetrics,
    /// The callback that traps the VM on purpose (test-only build).
    #[cfg(feature = "test-trap")]
    trap: Option<String>,
}

impl SluiceHttp {
    /// Panics (a VM trap, `panic = "abort"`) in the callback the request named.
    #[cfg(feature = "test-trap")]
    fn maybe_trap(&mut self, callback: &str) {
        if callback == "request-headers" {
            self.trap = hostcalls::get_map_value(
                proxy_wasm::types::MapType::HttpRequestHeaders,
                "x-sluice-test-trap",
            )
            .ok()
            .flatten();
        }
        if self.trap.as_deref() == Some(callback) {
            panic!("test trap in {callback}");
        }
    }

    #[cfg(not(feature = "test-trap"))]
    fn maybe_trap(&mut self, _callback: &str) {}
}

impl Context for SluiceHttp {
    fn on_http_call_response(
        &mut self,
        _token_id: u32,
        num_headers: usize,
        _body_size: usize,
        _num_trailers: usize,
    ) {
        let status = ProxyHost.call_response_status(num_headers);
        self.metrics
            .audit_answered(self.filter.audit_sent_us(), status);
        self.filter.on_audit_response(&ProxyHost, status);
    }

    fn on_done(&mut self) -> bool {
        true
    }
}

impl HttpContext for SluiceHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        self.maybe_trap("request-headers");
        let filter = &mut self.filter;
        self.metrics.timed("request_headers", || {
            filter.on_request_headers(&ProxyHost, end_of_stream)
        })
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.maybe_trap("request-body");
        let filter = &mut self.filter;
        self.metrics.timed("request_body", || {
            filter.on_request_body(&ProxyHost, body_size, end_of_stream)
        })
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        let filter = &mut self.filter;
        self.metrics.timed("request_trailers", || {
            filter.on_request_trailers(&ProxyHost)
        })
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        self.maybe_trap("response-headers");
        let filter = &mut self.filter;
        self.metrics.timed("response_headers", || {
            filter.on_response_headers(&ProxyHost, end_of_stream)
        })
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.maybe_trap("response-body");
        let filter = &mut self.filter;
        self.metrics.timed("response_body", || {
            filter.on_response_body(&ProxyHost, body_size, end_of_stream)
        })
    }

    fn on_http_response_trailers(&mut self, _num_trailers: usize) -> Action {
        let filter = &mut self.filter;
        self.metrics.timed("response_trailers", || {
            filter.on_response_trailers(&ProxyHost)
        })
    }

    fn on_log(&mut self) {
        self.filter.on_log(&ProxyHost);
        self.metrics.concluded(self.filter.audit());
    }
}
