//! Plugin configuration → engine (and where audit records go). Kept free of host calls so the
//! rules (what counts as "no configuration", which errors refuse the plugin) are tested
//! natively.
//!
//! The configuration is either the policy document itself, or a JSON envelope
//! `{"audit_sink": {...}, "policy": {...}}`: an object with either key is the envelope (a
//! policy document has neither), anything else is the policy as before.

use std::time::Duration;

use serde::Deserialize;
use sluice_core::policy::document::Diagnostic;
use sluice_core::{Engine, Policy};

/// Keys that make a configuration the envelope rather than a policy document.
const ENVELOPE_KEYS: [&str; 2] = ["audit_sink", "policy"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("plugin configuration is not UTF-8 text")]
    NotUtf8,
    /// `LINE:COL` within the configuration string, as `sluice policy check` reports it.
    #[error("invalid policy in plugin configuration at {0}")]
    Policy(#[from] Diagnostic),
    #[error("policy rejected by the engine: {0}")]
    Engine(#[from] sluice_core::exchange::EngineError),
    /// serde's message: names the field, never a secret (the envelope holds none).
    #[error("invalid plugin configuration envelope: {0}")]
    Envelope(String),
    #[error("invalid audit_sink in plugin configuration: {0}")]
    AuditSink(&'static str),
}

/// Where the filter sends each record before it releases the end of a response: an Envoy
/// cluster serving `sluice serve --audit-sink-listen`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditSinkConfig {
    pub cluster: String,
    /// `:authority` of the call; the cluster name when not given.
    pub authority: String,
    /// How long the end of a response may wait for the sink's answer.
    pub timeout: Duration,
}

/// Everything the plugin configuration sets.
pub struct PluginConfig {
    pub engine: Engine,
    pub audit_sink: Option<AuditSinkConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    audit_sink: Option<AuditSinkSpec>,
    /// The policy document as JSON, or its text (JSON or YAML) as a string.
    policy: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditSinkSpec {
    cluster: String,
    timeout_ms: u64,
    authority: Option<String>,
}

impl AuditSinkSpec {
    fn check(self) -> Result<AuditSinkConfig, ConfigError> {
        if self.cluster.trim().is_empty() {
            return Err(ConfigError::AuditSink("cluster is empty"));
        }
        // Envoy takes the callout timeout in milliseconds as a u32.
        if self.timeout_ms == 0 || self.timeout_ms > u64::from(u32::MAX) {
            return Err(ConfigError::AuditSink("timeout_ms must be 1..=4294967295"));
        }
        let authority = match self.authority {
            Some(a) if a.trim().is_empty() => {
                return Err(ConfigError::AuditSink("authority is empty"));
            }
            Some(a) => a,
            None => self.cluster.clone(),
        };
        Ok(AuditSinkConfig {
            cluster: self.cluster,
            authority,
            timeout: Duration::from_millis(self.timeout_ms),
        })
    }
}

/// The envelope in `text`, when `text` is one (a JSON object with an envelope key).
fn envelope(text: &str) -> Result<Option<Envelope>, ConfigError> {
    if !text.trim_start().starts_with('{') {
        return Ok(None);
    }
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text) else {
        // Not JSON: the policy parser reports where.
        return Ok(None);
    };
    if !ENVELOPE_KEYS.iter().any(|k| map.contains_key(*k)) {
        return Ok(None);
    }
    serde_json::from_value(serde_json::Value::Object(map))
        .map(Some)
        .map_err(|e| ConfigError::Envelope(e.to_string()))
}

/// Builds the engine and the audit sink settings from the raw plugin configuration.
pub fn plugin_from_configuration(raw: Option<&[u8]>) -> Result<PluginConfig, ConfigError> {
    let text = match raw {
        None => "",
        Some(bytes) => std::str::from_utf8(bytes).map_err(|_| ConfigError::NotUtf8)?,
    };
    let Some(envelope) = envelope(text)? else {
        return Ok(PluginConfig {
            engine: policy_engine(text)?,
            audit_sink: None,
        });
    };
    let audit_sink = envelope.audit_sink.map(AuditSinkSpec::check).transpose()?;
    // The policy's SHA-256 in records is of its compact JSON, as `sluice envoy-bootstrap`
    // writes a plain policy configuration, so both forms of one policy record one hash.
    let policy_text = match envelope.policy {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(text)) => text,
        Some(value) => value.to_string(),
    };
    Ok(PluginConfig {
        engine: policy_engine(&policy_text)?,
        audit_sink,
    })
}

/// Builds the engine from the raw plugin configuration (the `configuration` StringValue of the
/// Envoy filter, or Istio's `pluginConfig` rendered as JSON).
///
/// Absent, empty or blank configuration selects the built-in default policy, because Envoy and
/// Istio both hand an empty buffer to a plugin configured without one. Istio renders an empty
/// `pluginConfig: {}` as `{}`, which is the default policy too (every field has a default).
pub fn engine_from_configuration(raw: Option<&[u8]>) -> Result<Engine, ConfigError> {
    plugin_from_configuration(raw).map(|p| p.engine)
}

fn policy_engine(text: &str) -> Result<Engine, ConfigError> {
    if text.trim().is_empty() {
        return Ok(Engine::new(Policy::default())?);
    }
    // YAML is accepted too (a `configuration` string written by hand); audit records carry the
    // SHA-256 of exactly these bytes.
    let policy = sluice_core::policy::document::check(text)?;
    Ok(Engine::new(policy)?.with_policy_document(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_or_blank_configuration_selects_the_default_policy() {
        for raw in [None, Some(&b""[..]), Some(&b" \n\t"[..])] {
            let engine = engine_from_configuration(raw).expect("default policy loads");
            assert_eq!(engine.policy(), &Policy::default());
        }
    }

    #[test]
    fn json_policy_is_parsed() {
        let engine =
            engine_from_configuration(Some(br#"{"version":1,"limits":{"holdback_bytes":512}}"#))
                .expect("valid policy");
        assert_eq!(engine.policy().limits.holdback_bytes, 512);
    }

    #[test]
    fn version_2_rules_load_and_decide() {
        let engine = engine_from_configuration(Some(
            b"version: 2\npolicy_id: p\nrules:\n  - {id: r, when: 'model == \"x\"', action: block}\n",
        ))
        .expect("valid policy");
        assert_eq!(engine.rules().len(), 1);
        assert_eq!(engine.policy().policy_id.as_deref(), Some("p"));
    }

    #[test]
    fn errors_point_at_line_and_column() {
        let raw = b"{\"version\": 2,\n \"rules\": [{\"id\": \"r\", \"when\": \"model ==\", \"action\": \"block\"}]}";
        let err = engine_from_configuration(Some(raw))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid policy in plugin configuration at 2:"),
            "{err}"
        );
    }

    #[test]
    fn invalid_configurations_are_refused() {
        let cases: [&[u8]; 7] = [
            b"{not json",
            br#"{"version":3}"#,
            br#"{"version":2,"rules":[{"id":"r","when":"model ==","action":"block"}]}"#,
            br#"{"version":2,"rules":[{"id":"r","when":"nope","action":"block"}]}"#,
            br#"{"version":1,"unknown_field":true}"#,
            br#"{"version":1,"limits":{"holdback_bytes":0}}"#,
            b"\xff\xfe",
        ];
        for raw in cases {
            assert!(
                engine_from_configuration(Some(raw)).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn a_plain_policy_has_no_audit_sink() {
        let plugin = plugin_from_configuration(Some(br#"{"version":1}"#)).unwrap();
        assert!(plugin.audit_sink.is_none());
        assert!(
            plugin_from_configuration(None)
                .unwrap()
                .audit_sink
                .is_none()
        );
    }

    #[test]
    fn the_envelope_carries_the_sink_and_the_policy() {
        let raw = br#"{"audit_sink":{"cluster":"sluice_audit","timeout_ms":1500},
            "policy":{"version":1,"policy_id":"p","on_audit_error":"allow"}}"#;
        let plugin = plugin_from_configuration(Some(raw)).unwrap();
        assert_eq!(
            plugin.audit_sink,
            Some(AuditSinkConfig {
                cluster: "sluice_audit".into(),
                authority: "sluice_audit".into(),
                timeout: Duration::from_millis(1500),
            })
        );
        assert_eq!(plugin.engine.policy().policy_id.as_deref(), Some("p"));
        assert_eq!(
            plugin.engine.policy().on_audit_error,
            sluice_core::policy::OnAuditError::Allow
        );
        // One policy, one hash, whichever form `sluice envoy-bootstrap` wrote (compact JSON).
        let compact: serde_json::Value =
            serde_json::from_str(r#"{"version":1,"policy_id":"p","on_audit_error":"allow"}"#)
                .unwrap();
        let plain = engine_from_configuration(Some(compact.to_string().as_bytes())).unwrap();
        assert_eq!(plugin.engine.policy_sha256(), plain.policy_sha256());

        let with_authority = plugin_from_configuration(Some(
            br#"{"audit_sink":{"cluster":"c","timeout_ms":5,"authority":"audit.local"}}"#,
        ))
        .unwrap();
        assert_eq!(with_authority.audit_sink.unwrap().authority, "audit.local");
        // Without a policy: the built-in default.
        assert_eq!(with_authority.engine.policy(), &Policy::default());
        let yaml_text = plugin_from_configuration(Some(
            br#"{"audit_sink":{"cluster":"c","timeout_ms":5},"policy":"version: 1\npolicy_id: y\n"}"#,
        ))
        .unwrap();
        assert_eq!(yaml_text.engine.policy().policy_id.as_deref(), Some("y"));
    }

    #[test]
    fn bad_envelopes_are_refused() {
        let cases: [&[u8]; 9] = [
            br#"{"audit_sink":{"cluster":"c","timeout_ms":5},"extra":1}"#,
            br#"{"audit_sink":{"cluster":"c","timeout_ms":5,"retries":2}}"#,
            br#"{"audit_sink":{"cluster":"c"}}"#,
            br#"{"audit_sink":{"timeout_ms":5}}"#,
            br#"{"audit_sink":{"cluster":" ","timeout_ms":5}}"#,
            br#"{"audit_sink":{"cluster":"c","timeout_ms":0}}"#,
            br#"{"audit_sink":{"cluster":"c","timeout_ms":5,"authority":""}}"#,
            br#"{"audit_sink":{"cluster":"c","timeout_ms":5},"policy":{"version":9}}"#,
            br#"{"policy":{"version":1,"unknown_field":true}}"#,
        ];
        for raw in cases {
            assert!(
                plugin_from_configuration(Some(raw)).is_err(),
                "accepted {}",
                String::from_utf8_lossy(raw)
            );
        }
    }
}
