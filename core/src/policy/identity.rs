//! Who is calling, from what Envoy already verified. Sluice verifies nothing itself: jwt_authn
//! checked the token, the TLS stack checked the certificate, so the core only reads their
//! results. API keys are the exception, and only their SHA-256 is ever compared or kept, so a
//! key never reaches a rule, a log line or an audit record.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where a principal came from, as rules see it in `identity.source`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentitySource {
    Jwt,
    Spiffe,
    ApiKey,
    Header,
}

impl IdentitySource {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentitySource::Jwt => "jwt",
            IdentitySource::Spiffe => "spiffe",
            IdentitySource::ApiKey => "api_key",
            IdentitySource::Header => "header",
        }
    }
}

/// The caller as rules see it. `claims` is empty unless a JWT supplied them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    #[serde(default)]
    pub principal: Option<String>,
    #[serde(default)]
    pub source: Option<IdentitySource>,
    #[serde(default)]
    pub claims: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSource {
    /// The key jwt_authn's `payload_in_metadata` writes the verified payload under.
    pub payload_key: String,
    /// The claim that names the principal.
    #[serde(default = "default_principal_claim")]
    pub principal_claim: String,
}

fn default_principal_claim() -> String {
    "sub".to_owned()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeys {
    /// Header carrying the key, as `Bearer <key>` or the bare key.
    #[serde(default = "default_api_key_header")]
    pub header: String,
    /// Lower-case hex SHA-256 of each key → principal. Fingerprints, so the policy file itself
    /// holds no secret.
    pub principals: BTreeMap<String, String>,
}

fn default_api_key_header() -> String {
    "authorization".to_owned()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedHeaders {
    /// Header whose value is taken as the principal. Only safe when Envoy (or a gateway before
    /// it) sets or strips this header: that is why it is never on by default.
    pub principal: String,
}

/// The `identity:` section. Sources are tried in a fixed order — jwt, spiffe, api_keys,
/// trusted_headers — and the first that yields a principal wins; JWT claims are kept whichever
/// source named the principal.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtSource>,
    #[serde(default)]
    pub spiffe: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_keys: Option<ApiKeys>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_headers: Option<TrustedHeaders>,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityConfigError {
    #[error("identity.api_keys.principals: `{0}` is not a SHA-256 fingerprint (64 hex digits)")]
    Fingerprint(String),
    #[error("identity.{0}: header name must not be empty")]
    EmptyHeader(&'static str),
    #[error("identity.jwt.payload_key must not be empty")]
    EmptyPayloadKey,
}

/// What an adapter read from Envoy, before the policy says which of it counts.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdentityInputs<'a> {
    /// The `envoy.filters.http.jwt_authn` dynamic-metadata namespace: an object keyed by the
    /// `payload_in_metadata` names.
    pub jwt_metadata: Option<&'a serde_json::Value>,
    /// The peer certificate's URI SAN (a SPIFFE id), from Envoy's connection attributes.
    pub peer: Option<&'a str>,
    /// Request headers, lower-case names.
    pub headers: &'a [(String, String)],
}

impl IdentityConfig {
    pub fn validate(&self) -> Result<(), IdentityConfigError> {
        if let Some(jwt) = &self.jwt
            && jwt.payload_key.is_empty()
        {
            return Err(IdentityConfigError::EmptyPayloadKey);
        }
        if let Some(keys) = &self.api_keys {
            if keys.header.is_empty() {
                return Err(IdentityConfigError::EmptyHeader("api_keys.header"));
            }
            for fp in keys.principals.keys() {
                if fp.len() != 64 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(IdentityConfigError::Fingerprint(fp.clone()));
                }
            }
        }
        if let Some(t) = &self.trusted_headers
            && t.principal.is_empty()
        {
            return Err(IdentityConfigError::EmptyHeader(
                "trusted_headers.principal",
            ));
        }
        Ok(())
    }

    /// The header names whose values rules must not see (they carry credentials).
    pub fn secret_headers(&self) -> impl Iterator<Item = &str> {
        self.api_keys.iter().map(|k| k.header.as_str())
    }

    pub fn resolve(&self, inputs: IdentityInputs<'_>) -> Identity {
        let mut identity = Identity::default();
        if let Some(jwt) = &self.jwt
            && let Some(serde_json::Value::Object(claims)) = inputs
                .jwt_metadata
                .and_then(|m| m.get(jwt.payload_key.as_str()))
        {
            identity.claims = claims.clone();
            if let Some(serde_json::Value::String(p)) = claims.get(jwt.principal_claim.as_str())
                && !p.is_empty()
            {
                identity.principal = Some(p.clone());
                identity.source = Some(IdentitySource::Jwt);
                return identity;
            }
        }
        if self.spiffe
            && let Some(peer) = inputs.peer.filter(|p| !p.is_empty())
        {
            identity.principal = Some(peer.to_owned());
            identity.source = Some(IdentitySource::Spiffe);
            return identity;
        }
        if let Some(keys) = &self.api_keys
            && let Some(value) = header(inputs.headers, &keys.header)
        {
            let key = presented_key(value);
            if !key.is_empty() {
                let fp = hex::encode(Sha256::digest(key.as_bytes()));
                if let Some(p) = keys
                    .principals
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&fp))
                    .map(|(_, p)| p)
                {
                    identity.principal = Some(p.clone());
                    identity.source = Some(IdentitySource::ApiKey);
                    return identity;
                }
            }
        }
        if let Some(t) = &self.trusted_headers
            && let Some(value) = header(inputs.headers, &t.principal).filter(|v| !v.is_empty())
        {
            identity.principal = Some(value.to_owned());
            identity.source = Some(IdentitySource::Header);
        }
        identity
    }
}

/// `Bearer <key>` (any case) or the bare value.
fn presented_key(value: &str) -> &str {
    let v = value.trim();
    match v.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => v,
    }
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn config() -> IdentityConfig {
        let fp = hex::encode(Sha256::digest(b"test"));
        serde_json::from_value(serde_json::json!({
            "jwt": {"payload_key": "jwt_payload"},
            "spiffe": true,
            "api_keys": {"principals": {fp: "svc-ci"}},
            "trusted_headers": {"principal": "x-principal"}
        }))
        .unwrap()
    }

    #[test]
    fn jwt_wins_and_keeps_claims() {
        let meta = serde_json::json!({"jwt_payload": {"sub": "alice", "groups": ["contractors"]}});
        let h = hdrs(&[("authorization", "Bearer test")]);
        let id = config().resolve(IdentityInputs {
            jwt_metadata: Some(&meta),
            peer: Some("spiffe://x"),
            headers: &h,
        });
        assert_eq!(id.principal.as_deref(), Some("alice"));
        assert_eq!(id.source, Some(IdentitySource::Jwt));
        assert_eq!(id.claims["groups"][0], "contractors");
    }

    #[test]
    fn each_source_in_turn() {
        let c = config();
        let id = c.resolve(IdentityInputs {
            peer: Some("spiffe://cluster/ns/app"),
            ..Default::default()
        });
        assert_eq!(id.source, Some(IdentitySource::Spiffe));
        for value in ["Bearer test", "bearer  test", "test"] {
            let h = hdrs(&[("authorization", value)]);
            let id = c.resolve(IdentityInputs {
                headers: &h,
                ..Default::default()
            });
            assert_eq!(id.principal.as_deref(), Some("svc-ci"), "{value}");
            assert_eq!(id.source, Some(IdentitySource::ApiKey));
        }
        let h = hdrs(&[("authorization", "Bearer wrong"), ("x-principal", "bob")]);
        let id = c.resolve(IdentityInputs {
            headers: &h,
            ..Default::default()
        });
        assert_eq!(id.principal.as_deref(), Some("bob"));
        assert_eq!(id.source, Some(IdentitySource::Header));
    }

    #[test]
    fn nothing_configured_means_no_one() {
        let h = hdrs(&[("x-principal", "bob"), ("authorization", "Bearer test")]);
        let id = IdentityConfig::default().resolve(IdentityInputs {
            peer: Some("spiffe://x"),
            headers: &h,
            ..Default::default()
        });
        assert_eq!(id, Identity::default());
    }

    #[test]
    fn bad_fingerprints_are_refused() {
        let c: IdentityConfig = serde_json::from_value(
            serde_json::json!({"api_keys": {"principals": {"9f86d0": "svc"}}}),
        )
        .unwrap();
        assert!(c.validate().is_err());
    }
}
