//! The form in which an adapter that cannot write the trail itself (the proxy-wasm filter)
//! hands a record to one that can (`sluice serve --audit-sink-listen`): a JSON body
//!
//! ```json
//! {"record": <AuditRecord as the core serialises it>, "time_unix_us": 1796154155123456,
//!  "timings": {"ttfb_us": 182345, "total_us": 912003, "processing_us": null}}
//! ```
//!
//! [`AuditRecord`] borrows its rule ids and names from the running engine, so it cannot be
//! read back; [`WireRecord`] is its owned twin, field for field and serialised identically
//! (the sealed line of a record that travelled is the line it would have had locally).

use serde::{Deserialize, Serialize};

use super::record::Timings;
use crate::codec::TokenUsage;
use crate::exchange::{AuditRecord, Decision, FindingSummary};
use crate::policy::rules::DryRun;

/// Largest body accepted or produced. A record holds counts and ids, never text from the
/// traffic, so real ones are a few KiB; the cap bounds what a sink buffers per request.
pub const MAX_WIRE_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("audit submission of {len} bytes is over the {MAX_WIRE_BYTES}-byte cap")]
    TooLarge { len: usize },
    /// Where the body stopped making sense. Only the position is kept: serde's own message
    /// may quote the body, and these errors are logged.
    #[error("malformed audit submission ({kind} error at line {line}, column {column})")]
    Malformed {
        kind: &'static str,
        line: usize,
        column: usize,
    },
}

/// One record as it travels: the record, when it was decided, and what the sender measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    pub record: WireRecord,
    pub time_unix_us: u64,
    pub timings: Timings,
}

/// Owned twin of [`AuditRecord`]: same fields, same order, same omissions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireRecord {
    pub api: Option<String>,
    pub identity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_source: Option<String>,
    pub route: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    pub policy_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_sha256: Option<String>,
    pub decision: Decision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<WireDryRun>,
    pub findings: Vec<WireFinding>,
    pub errors: Vec<String>,
    pub best_effort: bool,
    pub incomplete: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<TokenUsage>,
}

/// Owned twin of [`FindingSummary`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireFinding {
    pub rule: String,
    pub category: String,
    pub direction: String,
    pub action: String,
    pub count: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fingerprints: Vec<String>,
}

/// Owned twin of [`DryRun`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireDryRun {
    pub rule: String,
    pub action: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The string a unit-like enum serialises to (`"mask"`, `"request"`, `"dry-run"`).
fn enum_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

impl From<&FindingSummary> for WireFinding {
    fn from(f: &FindingSummary) -> Self {
        WireFinding {
            rule: f.rule.to_owned(),
            category: f.category.as_str().to_owned(),
            direction: enum_name(&f.direction),
            action: enum_name(&f.action),
            count: f.count,
            roles: f.roles.iter().map(|r| (*r).to_owned()).collect(),
            fingerprints: f.fingerprints.clone(),
        }
    }
}

impl From<&DryRun> for WireDryRun {
    fn from(d: &DryRun) -> Self {
        WireDryRun {
            rule: d.rule.clone(),
            action: enum_name(&d.action),
            reason: enum_name(&d.reason),
            error: d.error.clone(),
        }
    }
}

impl From<&AuditRecord> for WireRecord {
    fn from(r: &AuditRecord) -> Self {
        WireRecord {
            api: r.api.map(str::to_owned),
            identity: r.identity.clone(),
            identity_source: r.identity_source.clone(),
            route: r.route.clone(),
            host: r.host.clone(),
            model: r.model.clone(),
            request_id: r.request_id.clone(),
            policy_id: r.policy_id.clone(),
            policy_version: r.policy_version,
            policy_sha256: r.policy_sha256.clone(),
            decision: r.decision,
            rule: r.rule.clone(),
            dry_run: r.dry_run.iter().map(WireDryRun::from).collect(),
            findings: r.findings.iter().map(WireFinding::from).collect(),
            errors: r.errors.clone(),
            best_effort: r.best_effort,
            incomplete: r.incomplete,
            usage: r.usage,
        }
    }
}

/// The body for `record`; refused when over [`MAX_WIRE_BYTES`] (a record that large is not
/// one the core makes, and a sink would refuse it anyway).
pub fn encode(
    record: &AuditRecord,
    time_unix_us: u64,
    timings: Timings,
) -> Result<Vec<u8>, WireError> {
    #[derive(Serialize)]
    struct Outgoing<'a> {
        record: &'a AuditRecord,
        time_unix_us: u64,
        timings: Timings,
    }
    let body = serde_json::to_vec(&Outgoing {
        record,
        time_unix_us,
        timings,
    })
    .map_err(|e| malformed(&e))?;
    if body.len() > MAX_WIRE_BYTES {
        return Err(WireError::TooLarge { len: body.len() });
    }
    Ok(body)
}

/// Reads a body; the size is checked before anything is parsed.
pub fn decode(body: &[u8]) -> Result<Submission, WireError> {
    if body.len() > MAX_WIRE_BYTES {
        return Err(WireError::TooLarge { len: body.len() });
    }
    serde_json::from_slice(body).map_err(|e| malformed(&e))
}

fn malformed(e: &serde_json::Error) -> WireError {
    use serde_json::error::Category;
    WireError::Malformed {
        kind: match e.classify() {
            Category::Io => "i/o",
            Category::Syntax => "syntax",
            Category::Data => "data",
            Category::Eof => "end of input",
        },
        line: e.line(),
        column: e.column(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BodyOutcome, Engine, ExchangeContext, HeadersOutcome, Policy};

    /// A record with findings (roles, fingerprints), a model, a host and a policy hash.
    fn rich_record() -> AuditRecord {
        let doc = br#"{"version":1,"policy_id":"team-a"}"#;
        let policy = Policy::from_json(std::str::from_utf8(doc).unwrap()).unwrap();
        let key = crate::audit::FingerprintKey::new(b"deployment-key-0123456789").unwrap();
        let engine = Engine::new(policy)
            .unwrap()
            .with_policy_document(doc)
            .with_fingerprint_key(key);
        let mut ex = engine.exchange(ExchangeContext {
            identity: Some("spiffe://cluster/ns/app".into()),
            identity_source: Some("xfcc".into()),
            ..Default::default()
        });
        let headers = vec![
            (":path".to_string(), "/v1/chat/completions".to_string()),
            (":authority".to_string(), "llm.internal".to_string()),
            ("x-request-id".to_string(), "rid-7".to_string()),
        ];
        assert!(matches!(
            ex.request_headers(&headers),
            HeadersOutcome::Continue(_)
        ));
        let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"key AKIAIX6EA6QOM66ZJOJY"}]}"#;
        assert!(matches!(
            ex.request_body(body.as_bytes(), true),
            BodyOutcome::Replace(_)
        ));
        ex.finish()
    }

    #[test]
    fn round_trip_keeps_every_field_and_the_serialised_form() {
        let record = rich_record();
        assert!(!record.findings.is_empty());
        let timings = Timings {
            ttfb_us: Some(10),
            total_us: Some(20),
            processing_us: None,
        };
        let body = encode(&record, 1_796_154_155_123_456, timings).unwrap();
        let back = decode(&body).unwrap();
        assert_eq!(back.time_unix_us, 1_796_154_155_123_456);
        assert_eq!(back.timings, timings);
        assert_eq!(back.record, WireRecord::from(&record));
        // The twin serialises exactly as the record does.
        assert_eq!(
            serde_json::to_string(&back.record).unwrap(),
            serde_json::to_string(&record).unwrap()
        );
        assert!(
            !String::from_utf8(body)
                .unwrap()
                .contains("AKIAIX6EA6QOM66ZJOJY")
        );
    }

    #[test]
    fn over_the_cap_is_refused_both_ways() {
        let mut record = rich_record();
        record.errors = vec!["x".repeat(MAX_WIRE_BYTES)];
        assert!(matches!(
            encode(&record, 0, Timings::default()),
            Err(WireError::TooLarge { .. })
        ));
        let big = vec![b' '; MAX_WIRE_BYTES + 1];
        assert_eq!(
            decode(&big),
            Err(WireError::TooLarge {
                len: MAX_WIRE_BYTES + 1
            })
        );
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let record = rich_record();
        let good = String::from_utf8(encode(&record, 1, Timings::default()).unwrap()).unwrap();
        let decision = format!("\"decision\":\"{}\"", record.decision.as_str());
        assert!(good.contains(&decision));
        let cases = [
            String::new(),
            "{not json".to_owned(),
            "[]".to_owned(),
            r#"{"record":{},"time_unix_us":1,"timings":{}}"#.to_owned(),
            good.replace("\"time_unix_us\":1", "\"time_unix_us\":-1"),
            good.replace("\"time_unix_us\"", "\"time\""),
            good.replacen('{', r#"{"extra":true,"#, 1),
            good.replace(&decision, "\"decision\":\"maybe\""),
        ];
        for case in cases {
            assert!(
                matches!(decode(case.as_bytes()), Err(WireError::Malformed { .. })),
                "accepted {case}"
            );
        }
    }
}
