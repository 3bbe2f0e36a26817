//! The jwt_authn claims as the wasm filter can reach them.
//!
//! Envoy answers the property `metadata` with the stream's dynamic metadata serialised as a
//! protobuf `envoy.config.core.v3.Metadata`. A deeper path (`metadata.filter_metadata.<ns>`)
//! would come back as proxy-wasm "pairs" with every scalar flattened to raw bytes, which loses
//! the difference between a string, a number and a boolean claim; the whole message keeps it.
//! Only the one field read here is declared (prost skips the others), so the module carries
//! prost and the well-known `Struct` types, not Envoy's whole API.

use std::collections::HashMap;

use prost::Message;
use prost_types::value::Kind;
use serde_json::{Map, Value};

/// jwt_authn's dynamic-metadata namespace.
pub const JWT_AUTHN_NAMESPACE: &str = "envoy.filters.http.jwt_authn";

/// Deeper nesting than this is refused rather than followed (claims are never this deep).
const MAX_DEPTH: usize = 32;

/// `envoy.config.core.v3.Metadata`, reduced to the field the filter reads.
#[derive(Clone, PartialEq, Message)]
struct Metadata {
    #[prost(map = "string, message", tag = "1")]
    filter_metadata: HashMap<String, prost_types::Struct>,
}

/// The Struct stored under `namespace` in a serialised `Metadata`, as JSON. `None` when the
/// namespace is absent, the bytes are not a well-formed message, or the nesting is deeper than
/// [`MAX_DEPTH`].
pub fn filter_metadata(metadata: &[u8], namespace: &str) -> Option<Value> {
    let decoded = Metadata::decode(metadata).ok()?;
    let found = decoded.filter_metadata.get(namespace)?;
    from_struct(found, 0).map(Value::Object)
}

fn from_struct(s: &prost_types::Struct, depth: usize) -> Option<Map<String, Value>> {
    if depth > MAX_DEPTH {
        return None;
    }
    s.fields
        .iter()
        .map(|(k, v)| Some((k.clone(), from_value(v, depth + 1)?)))
        .collect()
}

/// Numbers are doubles in a Struct; whole ones read back as integers (`exp`, `iat`), as the
/// ext_proc adapter reads them, so rules behave the same in both modes.
fn from_value(v: &prost_types::Value, depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    Some(match &v.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::NumberValue(n)) => number(*n),
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::StructValue(s)) => Value::Object(from_struct(s, depth + 1)?),
        Some(Kind::ListValue(l)) => Value::Array(
            l.values
                .iter()
                .map(|x| from_value(x, depth + 1))
                .collect::<Option<Vec<_>>>()?,
        ),
    })
}

fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::core::v3::Metadata;
    use envoy_types::pb::google::protobuf::{ListValue, Struct, Value as PbValue, value::Kind};

    fn v(kind: Kind) -> PbValue {
        PbValue { kind: Some(kind) }
    }

    fn st(pairs: Vec<(&str, PbValue)>) -> Struct {
        Struct {
            fields: pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        }
    }

    /// The bytes Envoy hands over, made by a real protobuf encoder.
    fn encoded() -> Vec<u8> {
        let payload = st(vec![
            ("sub", v(Kind::StringValue("alice".into()))),
            ("exp", v(Kind::NumberValue(1_900_000_000.0))),
            ("ratio", v(Kind::NumberValue(0.5))),
            ("admin", v(Kind::BoolValue(false))),
            ("none", v(Kind::NullValue(0))),
            (
                "groups",
                v(Kind::ListValue(ListValue {
                    values: vec![
                        v(Kind::StringValue("contractors".into())),
                        v(Kind::StringValue("eu".into())),
                    ],
                })),
            ),
            (
                "org",
                v(Kind::StructValue(st(vec![(
                    "id",
                    v(Kind::StringValue("acme".into())),
                )]))),
            ),
        ]);
        let mut metadata = Metadata::default();
        metadata.filter_metadata.insert(
            JWT_AUTHN_NAMESPACE.to_owned(),
            st(vec![("jwt_payload", v(Kind::StructValue(payload)))]),
        );
        metadata.filter_metadata.insert(
            "envoy.lb".to_owned(),
            st(vec![("canary", v(Kind::BoolValue(true)))]),
        );
        metadata.encode_to_vec()
    }

    #[test]
    fn decodes_the_jwt_namespace_with_its_types() {
        let got = filter_metadata(&encoded(), JWT_AUTHN_NAMESPACE).unwrap();
        assert_eq!(
            got,
            serde_json::json!({"jwt_payload": {
                "sub": "alice",
                "exp": 1_900_000_000_i64,
                "ratio": 0.5,
                "admin": false,
                "none": null,
                "groups": ["contractors", "eu"],
                "org": {"id": "acme"}
            }})
        );
        assert_eq!(
            filter_metadata(&encoded(), "envoy.lb").unwrap(),
            serde_json::json!({"canary": true})
        );
    }

    #[test]
    fn absent_namespace_and_empty_metadata() {
        assert_eq!(filter_metadata(&encoded(), "other"), None);
        assert_eq!(filter_metadata(&[], JWT_AUTHN_NAMESPACE), None);
    }

    #[test]
    fn malformed_bytes_are_refused_without_panicking() {
        let good = encoded();
        for cut in 1..good.len() {
            // Every truncation either fails or (at an entry boundary) decodes less.
            let _ = filter_metadata(&good[..cut], JWT_AUTHN_NAMESPACE);
        }
        assert_eq!(filter_metadata(&[0x0a, 0xff], JWT_AUTHN_NAMESPACE), None);
        assert_eq!(filter_metadata(&[0xff; 11], JWT_AUTHN_NAMESPACE), None);
        // A nesting deeper than the limit.
        let mut value = v(Kind::StringValue("x".into()));
        for _ in 0..40 {
            value = v(Kind::StructValue(st(vec![("a", value)])));
        }
        let mut metadata = Metadata::default();
        metadata
            .filter_metadata
            .insert(JWT_AUTHN_NAMESPACE.to_owned(), st(vec![("p", value)]));
        assert_eq!(
            filter_metadata(&metadata.encode_to_vec(), JWT_AUTHN_NAMESPACE),
            None
        );
    }
}
