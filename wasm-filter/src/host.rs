//! [`HttpHost`] over the proxy-wasm ABI.
//!
//! The SDK's `hostcalls` return `Result` only for the statuses they expect and panic (trap the
//! VM) on any other; the filter's sequencing keeps every call within what Envoy accepts, and
//! the expected error statuses are absorbed here without panicking.

use std::time::UNIX_EPOCH;

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, LogLevel, MapType};
use sluice_core::{AuditRecord, ExchangeContext, LocalReply};

use crate::config::AuditSinkConfig;
use crate::filter::HttpHost;

/// Path the audit sink serves (`sluice serve --audit-sink-listen`).
pub const AUDIT_SINK_PATH: &str = "/v1/audit";

/// Filter-state key the decision is published under; access logs read it as
/// `%FILTER_STATE(wasm.sluice_decision:PLAIN)%` (Envoy prefixes `wasm.`).
pub const DECISION_PROPERTY: &str = "sluice_decision";

pub struct ProxyHost;

impl ProxyHost {
    /// What Envoy knows about the caller and route, for the core's identity and audit record.
    /// Absent properties (plain-text connection, no route name, no token) are simply left out.
    /// `jwt`: the policy reads JWT claims, so jwt_authn's metadata is fetched (one more host
    /// call, made only when it is used).
    pub fn exchange_context(
        &self,
        request_headers: &[(String, String)],
        jwt: bool,
    ) -> ExchangeContext {
        ExchangeContext {
            jwt_metadata: if jwt { self.jwt_metadata() } else { None },
            identity: self.string_property(&["connection", "uri_san_peer_certificate"]),
            identity_source: None,
            host: None,
            route: self.string_property(&["xds", "route_name"]),
            api: None,
            request_id: request_headers
                .iter()
                .find(|(name, _)| name == "x-request-id")
                .map(|(_, value)| value.clone()),
            ..Default::default()
        }
    }

    /// jwt_authn's namespace of the dynamic metadata (`payload_in_metadata` → verified
    /// payload). The whole `metadata` property is read: see [`crate::metadata`] for why.
    fn jwt_metadata(&self) -> Option<serde_json::Value> {
        match hostcalls::get_property(vec!["metadata"]) {
            Ok(Some(bytes)) if !bytes.is_empty() => {
                crate::metadata::filter_metadata(&bytes, crate::metadata::JWT_AUTHN_NAMESPACE)
            }
            _ => None,
        }
    }

    fn string_property(&self, path: &[&str]) -> Option<String> {
        match hostcalls::get_property(path.to_vec()) {
            Ok(Some(bytes)) if !bytes.is_empty() => String::from_utf8(bytes).ok(),
            _ => None,
        }
    }

    fn headers(map: MapType) -> Vec<(String, String)> {
        // The byte variant: header values may carry non-UTF-8 octets, which the string variant
        // of the SDK would turn into a trap.
        match hostcalls::get_map_bytes(map) {
            Ok(pairs) => pairs
                .into_iter()
                .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The status of the audit sink's answer, in `on_http_call_response`. `num_headers` is 0
    /// when there was no answer (timeout, connection failure): the header map is then not
    /// read at all, since Envoy has none to offer.
    pub fn call_response_status(&self, num_headers: usize) -> Option<u16> {
        if num_headers == 0 {
            return None;
        }
        match hostcalls::get_map_value_bytes(MapType::HttpCallResponseHeaders, ":status") {
            Ok(Some(value)) => std::str::from_utf8(&value).ok()?.parse().ok(),
            _ => None,
        }
    }

    fn body(buffer: BufferType, size: usize) -> Vec<u8> {
        match hostcalls::get_buffer(buffer, 0, size) {
            Ok(Some(bytes)) => bytes,
            _ => Vec::new(),
        }
    }
}

impl HttpHost for ProxyHost {
    fn request_headers(&self) -> Vec<(String, String)> {
        Self::headers(MapType::HttpRequestHeaders)
    }

    fn set_request_header(&self, name: &str, value: &str) {
        let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value));
    }

    fn remove_request_header(&self, name: &str) {
        let _ = hostcalls::remove_map_value(MapType::HttpRequestHeaders, name);
    }

    fn response_headers(&self) -> Vec<(String, String)> {
        Self::headers(MapType::HttpResponseHeaders)
    }

    fn set_response_header(&self, name: &str, value: &str) {
        let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, name, Some(value));
    }

    fn remove_response_header(&self, name: &str) {
        let _ = hostcalls::remove_map_value(MapType::HttpResponseHeaders, name);
    }

    fn request_body(&self, size: usize) -> Vec<u8> {
        Self::body(BufferType::HttpRequestBody, size)
    }

    fn replace_request_body(&self, size: usize, body: &[u8]) {
        let _ = hostcalls::set_buffer(BufferType::HttpRequestBody, 0, size, body);
    }

    fn response_body(&self, size: usize) -> Vec<u8> {
        Self::body(BufferType::HttpResponseBody, size)
    }

    fn replace_response_body(&self, size: usize, body: &[u8]) {
        let _ = hostcalls::set_buffer(BufferType::HttpResponseBody, 0, size, body);
    }

    fn send_reply(&self, reply: &LocalReply) {
        let headers: Vec<(&str, &str)> = reply
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let _ = hostcalls::send_http_response(u32::from(reply.status), headers, Some(&reply.body));
    }

    fn reset_stream(&self) {
        let _ = hostcalls::reset_http_request();
    }

    fn set_decision(&self, decision: &str) {
        let _ = hostcalls::set_property(vec![DECISION_PROPERTY], Some(decision.as_bytes()));
    }

    fn publish_summary(&self, summary: &sluice_core::DecisionSummary) {
        let ns = sluice_core::summary::NAMESPACE;
        for (key, value) in summary.fields() {
            let text = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            let _ = hostcalls::set_property(vec![&format!("{ns}.{key}")], Some(text.as_bytes()));
        }
    }

    fn now_unix_micros(&self) -> u64 {
        hostcalls::get_current_time()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }

    fn dispatch_audit(&self, sink: &AuditSinkConfig, body: &[u8]) -> bool {
        let headers = vec![
            (":method", "POST"),
            (":path", AUDIT_SINK_PATH),
            (":authority", sink.authority.as_str()),
            ("content-type", "application/json"),
        ];
        match hostcalls::dispatch_http_call(
            &sink.cluster,
            headers,
            Some(body),
            Vec::new(),
            sink.timeout,
        ) {
            Ok(_token) => true,
            Err(status) => {
                let _ = hostcalls::log(
                    LogLevel::Error,
                    &format!(
                        "sluice: audit sink call to cluster {:?} refused by Envoy: {status:?}",
                        sink.cluster
                    ),
                );
                false
            }
        }
    }

    fn resume_response(&self) {
        let _ = hostcalls::resume_http_response();
    }

    fn log_audit(&self, record: &AuditRecord) {
        match serde_json::to_string(record) {
            Ok(json) => {
                let _ = hostcalls::log(LogLevel::Info, &format!("sluice audit {json}"));
            }
            Err(err) => {
                let _ = hostcalls::log(
                    LogLevel::Error,
                    &format!("sluice: audit record not serialisable: {err}"),
                );
            }
        }
    }
}
