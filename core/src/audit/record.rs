//! The signed line: an [`AuditRecord`] plus its place in the chain, the time and timings.
//!
//! Field order is fixed by this struct and serde_json writes no whitespace, so serialising an
//! `Entry` is deterministic; those bytes are the record's *canonical bytes*. The line on disk is
//! the canonical bytes with `,"sig":"<hex>"` inserted before the final `}`.

use serde::{Deserialize, Serialize};

use super::wire::{WireDryRun, WireFinding, WireRecord};
use crate::codec::TokenUsage;
use crate::exchange::{AuditRecord, Decision};

/// Format version written in `v`.
pub const FORMAT_VERSION: u32 = 1;

/// Durations the adapter measured, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timings {
    /// From the request headers reaching Sluice to the response headers reaching Sluice.
    #[serde(default)]
    pub ttfb_us: Option<u64>,
    /// From the request headers to the end of the exchange.
    #[serde(default)]
    pub total_us: Option<u64>,
    /// Time spent inside Sluice's own processing of the exchange's messages.
    #[serde(default)]
    pub processing_us: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// Principal (SPIFFE id, JWT subject, API-key fingerprint): never a credential.
    pub principal: String,
    /// Where the principal came from (`peer-certificate`, `xfcc`, ...), when known.
    pub source: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyRef {
    pub id: Option<String>,
    pub version: u32,
    /// SHA-256 of the policy document's bytes.
    pub sha256: Option<String>,
}

/// One record of the trail, without its signature.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entry {
    pub v: u32,
    pub instance: String,
    pub seq: u64,
    /// Hex SHA-256 of the previous record's canonical bytes (64 zeros for the first record).
    pub prev: String,
    pub time: String,
    pub request_id: Option<String>,
    pub identity: Option<Identity>,
    pub route: Option<String>,
    pub host: Option<String>,
    pub api: Option<String>,
    pub model: Option<String>,
    pub policy: PolicyRef,
    pub decision: Decision,
    /// The policy rule that decided; absent when the per-category defaults did (so records of
    /// version 1 policies keep their exact shape).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Rules that matched without deciding (dry-run, outside their roll-out) and what they
    /// would have done.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<WireDryRun>,
    pub findings: Vec<WireFinding>,
    pub errors: Vec<String>,
    pub best_effort: bool,
    pub incomplete: bool,
    /// Token counts the answer reported; absent when it reported none (so such records keep
    /// the shape they had before the field existed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<TokenUsage>,
    pub timings: Timings,
}

impl Entry {
    /// The entry for `record`, with its chain fields filled by the caller.
    pub fn new(
        record: &AuditRecord,
        instance: &str,
        seq: u64,
        prev: &[u8; 32],
        unix_micros: u64,
        timings: Timings,
    ) -> Entry {
        let record = WireRecord::from(record);
        Entry::from_wire(&record, instance, seq, prev, unix_micros, timings)
    }

    /// The entry for a record that arrived in its wire form (see [`super::wire`]); the same
    /// record gives the same entry either way.
    pub fn from_wire(
        record: &WireRecord,
        instance: &str,
        seq: u64,
        prev: &[u8; 32],
        unix_micros: u64,
        timings: Timings,
    ) -> Entry {
        Entry {
            v: FORMAT_VERSION,
            instance: instance.to_owned(),
            seq,
            prev: hex::encode(prev),
            time: super::time::rfc3339_micros(unix_micros),
            request_id: record.request_id.clone(),
            identity: record.identity.as_ref().map(|p| Identity {
                principal: p.clone(),
                source: record.identity_source.clone(),
            }),
            route: record.route.clone(),
            host: record.host.clone(),
            api: record.api.clone(),
            model: record.model.clone(),
            policy: PolicyRef {
                id: record.policy_id.clone(),
                version: record.policy_version,
                sha256: record.policy_sha256.clone(),
            },
            decision: record.decision,
            rule: record.rule.clone(),
            dry_run: record.dry_run.clone(),
            findings: record.findings.clone(),
            errors: record.errors.clone(),
            best_effort: record.best_effort,
            incomplete: record.incomplete,
            usage: record.usage,
            timings,
        }
    }

    /// The canonical bytes: what is hashed into the chain and signed.
    pub fn canonical(&self) -> Vec<u8> {
        // Every field is a string, number, bool, null, list or map of those: cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}
