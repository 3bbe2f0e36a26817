//! The jwt_authn claims as the wasm filter can reach them.
//!
//! Envoy answers the property `metadata` with the stream's dynamic metadata serialised as a
//! protobuf `envoy.config.core.v3.Metadata`. A deeper path (`metadata.filter_metadata.<ns>`)
//! would come back as proxy-wasm "pairs" with every scalar flattened to raw bytes, which loses
//! the difference between a string, a number and a boolean claim; the whole message keeps it.
//! Only the few protobuf messages involved are decoded here, by hand, so the module carries no
//! protobuf runtime for them.

use serde_json::{Map, Value};

/// jwt_authn's dynamic-metadata namespace.
pub const JWT_AUTHN_NAMESPACE: &str = "envoy.filters.http.jwt_authn";

/// Deeper nesting than this is refused rather than followed (claims are never this deep).
const MAX_DEPTH: usize = 32;

/// The Struct stored under `namespace` in a serialised `Metadata`, as JSON. `None` when the
/// namespace is absent or the bytes are not a well-formed message.
pub fn filter_metadata(metadata: &[u8], namespace: &str) -> Option<Value> {
    let mut found = None;
    // Metadata.filter_metadata (1): map<string, google.protobuf.Struct>.
    for field in Fields::new(metadata) {
        let (number, payload) = field?;
        if number != 1 {
            continue;
        }
        let Payload::Bytes(entry) = payload else {
            return None;
        };
        let (key, value) = map_entry(entry)?;
        if key == namespace {
            // A repeated key: the last entry wins, as in protobuf's own decoding.
            found = Some(decode_struct(value.unwrap_or_default(), 0)?);
        }
    }
    found.map(Value::Object)
}

#[derive(Clone, Copy)]
enum Payload<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32,
    Bytes(&'a [u8]),
}

/// The fields of one message: `(field number, payload)`, or `None` for malformed bytes.
struct Fields<'a> {
    buf: &'a [u8],
    failed: bool,
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Fields { buf, failed: false }
    }

    fn next_field(&mut self) -> Option<(u64, Payload<'a>)> {
        let tag = varint(&mut self.buf)?;
        let payload = match tag & 7 {
            0 => Payload::Varint(varint(&mut self.buf)?),
            1 => {
                let (bytes, rest) = self.buf.split_first_chunk::<8>()?;
                self.buf = rest;
                Payload::Fixed64(u64::from_le_bytes(*bytes))
            }
            2 => {
                let len = usize::try_from(varint(&mut self.buf)?).ok()?;
                if len > self.buf.len() {
                    return None;
                }
                let (bytes, rest) = self.buf.split_at(len);
                self.buf = rest;
                Payload::Bytes(bytes)
            }
            5 => {
                let (_, rest) = self.buf.split_first_chunk::<4>()?;
                self.buf = rest;
                Payload::Fixed32
            }
            _ => return None,
        };
        Some((tag >> 3, payload))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Option<(u64, Payload<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() || self.failed {
            return None;
        }
        let field = self.next_field();
        self.failed = field.is_none();
        Some(field)
    }
}

fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// A map entry message: key (1, string) and value (2, message bytes).
fn map_entry(entry: &[u8]) -> Option<(&str, Option<&[u8]>)> {
    let mut key = "";
    let mut value = None;
    for field in Fields::new(entry) {
        match field? {
            (1, Payload::Bytes(k)) => key = std::str::from_utf8(k).ok()?,
            (2, Payload::Bytes(v)) => value = Some(v),
            (1 | 2, _) => return None,
            _ => {}
        }
    }
    Some((key, value))
}

/// google.protobuf.Struct: `fields` (1) is map<string, Value>.
fn decode_struct(buf: &[u8], depth: usize) -> Option<Map<String, Value>> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut out = Map::new();
    for field in Fields::new(buf) {
        match field? {
            (1, Payload::Bytes(entry)) => {
                let (key, value) = map_entry(entry)?;
                let value = decode_value(value.unwrap_or_default(), depth + 1)?;
                out.insert(key.to_owned(), value);
            }
            (1, _) => return None,
            _ => {}
        }
    }
    Some(out)
}

/// google.protobuf.Value: one of null (1), number (2), string (3), bool (4), struct (5),
/// list (6). Numbers are doubles; whole ones read back as integers (`exp`, `iat`), as the
/// ext_proc adapter reads them, so rules behave the same in both modes.
fn decode_value(buf: &[u8], depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut out = Value::Null;
    for field in Fields::new(buf) {
        out = match field? {
            (1, Payload::Varint(_)) => Value::Null,
            (2, Payload::Fixed64(bits)) => number(f64::from_bits(bits)),
            (3, Payload::Bytes(s)) => Value::String(std::str::from_utf8(s).ok()?.to_owned()),
            (4, Payload::Varint(b)) => Value::Bool(b != 0),
            (5, Payload::Bytes(s)) => Value::Object(decode_struct(s, depth + 1)?),
            (6, Payload::Bytes(l)) => decode_list(l, depth + 1)?,
            (1..=6, _) => return None,
            _ => continue,
        };
    }
    Some(out)
}

/// google.protobuf.ListValue: `values` (1) is repeated Value.
fn decode_list(buf: &[u8], depth: usize) -> Option<Value> {
    let mut out = Vec::new();
    for field in Fields::new(buf) {
        match field? {
            (1, Payload::Bytes(v)) => out.push(decode_value(v, depth + 1)?),
            (1, _) => return None,
            _ => {}
        }
    }
    Some(Value::Array(out))
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
    use prost::Message;

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
