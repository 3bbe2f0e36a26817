//! Plugin configuration → engine. Kept free of host calls so the rules (what counts as "no
//! configuration", which errors refuse the plugin) are tested natively.

use sluice_core::policy::document::Diagnostic;
use sluice_core::{Engine, Policy};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("plugin configuration is not UTF-8 text")]
    NotUtf8,
    /// `LINE:COL` within the configuration string, as `sluice policy check` reports it.
    #[error("invalid policy in plugin configuration at {0}")]
    Policy(#[from] Diagnostic),
    #[error("policy rejected by the engine: {0}")]
    Engine(#[from] sluice_core::exchange::EngineError),
}

/// Builds the engine from the raw plugin configuration (the `configuration` StringValue of the
/// Envoy filter, or Istio's `pluginConfig` rendered as JSON).
///
/// Absent, empty or blank configuration selects the built-in default policy, because Envoy and
/// Istio both hand an empty buffer to a plugin configured without one. Istio renders an empty
/// `pluginConfig: {}` as `{}`, which is the default policy too (every field has a default).
pub fn engine_from_configuration(raw: Option<&[u8]>) -> Result<Engine, ConfigError> {
    let text = match raw {
        None => "",
        Some(bytes) => std::str::from_utf8(bytes).map_err(|_| ConfigError::NotUtf8)?,
    };
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
}
