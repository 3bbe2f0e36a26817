//! Sealing records into a chain, and reading a sealed line back.
//!
//! Each record carries `instance`, `seq` (0, 1, 2, ... per instance) and `prev`, the hex
//! SHA-256 of the previous record's canonical bytes, and is signed on its own: Ed25519 over
//! its canonical bytes. A line is `canonical[..len-1] + ,"sig":"<128 hex>"} + \n`, so the
//! canonical bytes are recovered from the line exactly, with no re-serialisation.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::record::{Entry, FORMAT_VERSION, Timings};
use super::sign::SigningKey;
use super::wire::WireRecord;
use crate::exchange::AuditRecord;

/// `prev` of an instance's first record.
pub const GENESIS: [u8; 32] = [0; 32];

const SIG_OPEN: &[u8] = b",\"sig\":\"";

/// Where an instance's chain stands: the next record's `seq` and `prev`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainState {
    pub instance: String,
    pub next_seq: u64,
    pub prev: [u8; 32],
}

impl ChainState {
    /// A new chain.
    pub fn new(instance: &str) -> ChainState {
        ChainState {
            instance: instance.to_owned(),
            next_seq: 0,
            prev: GENESIS,
        }
    }

    /// The chain continued after `last`, the last complete line written by this instance.
    pub fn after(last: &ParsedLine) -> ChainState {
        ChainState {
            instance: last.instance.clone(),
            next_seq: last.seq + 1,
            prev: last.hash(),
        }
    }
}

/// Turns audit records into signed lines, in order.
#[derive(Debug)]
pub struct Sealer {
    state: ChainState,
    key: SigningKey,
}

impl Sealer {
    pub fn new(state: ChainState, key: SigningKey) -> Sealer {
        Sealer { state, key }
    }

    pub fn state(&self) -> &ChainState {
        &self.state
    }

    /// Puts the chain back where it was (after lines sealed but never made durable).
    pub fn restore(&mut self, state: ChainState) {
        self.state = state;
    }

    /// The signed line for `record` (ending in `\n`), and the chain advanced past it.
    pub fn seal(&mut self, record: &AuditRecord, unix_micros: u64, timings: Timings) -> Vec<u8> {
        self.seal_wire(&WireRecord::from(record), unix_micros, timings)
    }

    /// [`Sealer::seal`] for a record received in its wire form: the same line.
    pub fn seal_wire(
        &mut self,
        record: &WireRecord,
        unix_micros: u64,
        timings: Timings,
    ) -> Vec<u8> {
        let entry = Entry::from_wire(
            record,
            &self.state.instance,
            self.state.next_seq,
            &self.state.prev,
            unix_micros,
            timings,
        );
        self.seal_entry(&entry)
    }

    fn seal_entry(&mut self, entry: &Entry) -> Vec<u8> {
        let canonical = entry.canonical();
        let sig = self.key.sign(&canonical);
        self.state.prev = Sha256::digest(&canonical).into();
        self.state.next_seq += 1;
        let mut line = canonical;
        line.pop(); // the closing brace
        line.extend_from_slice(SIG_OPEN);
        line.extend_from_slice(hex::encode(sig).as_bytes());
        line.extend_from_slice(b"\"}\n");
        line
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LineError {
    #[error("not a signed record (no trailing sig field)")]
    NoSignature,
    #[error("record is not valid JSON: {0}")]
    Json(String),
    #[error("unsupported record format version {0}")]
    Version(u32),
    #[error("prev is not 64 hex digits")]
    Prev,
}

/// A line split into what verification needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedLine {
    pub canonical: Vec<u8>,
    pub instance: String,
    pub seq: u64,
    pub prev: [u8; 32],
    pub sig: [u8; 64],
}

impl ParsedLine {
    /// SHA-256 of the canonical bytes: the next record's `prev`.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(&self.canonical).into()
    }
}

#[derive(Deserialize)]
struct Head {
    v: u32,
    instance: String,
    seq: u64,
    prev: String,
}

/// Splits a line (with or without its `\n`) into canonical bytes, chain fields and signature.
pub fn parse_line(line: &[u8]) -> Result<ParsedLine, LineError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let body = line.strip_suffix(b"\"}").ok_or(LineError::NoSignature)?;
    if body.len() < 128 + SIG_OPEN.len() {
        return Err(LineError::NoSignature);
    }
    let (head, sig_hex) = body.split_at(body.len() - 128);
    let head = head.strip_suffix(SIG_OPEN).ok_or(LineError::NoSignature)?;
    let mut sig = [0u8; 64];
    hex::decode_to_slice(sig_hex, &mut sig).map_err(|_| LineError::NoSignature)?;
    let mut canonical = Vec::with_capacity(head.len() + 1);
    canonical.extend_from_slice(head);
    canonical.push(b'}');
    let h: Head = serde_json::from_slice(&canonical).map_err(|e| LineError::Json(e.to_string()))?;
    if h.v != FORMAT_VERSION {
        return Err(LineError::Version(h.v));
    }
    let mut prev = [0u8; 32];
    hex::decode_to_slice(h.prev.as_bytes(), &mut prev).map_err(|_| LineError::Prev)?;
    Ok(ParsedLine {
        canonical,
        instance: h.instance,
        seq: h.seq,
        prev,
        sig,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::exchange::Decision;

    pub(crate) fn record(n: u32) -> AuditRecord {
        AuditRecord {
            api: Some("openai-chat"),
            identity: Some("spiffe://cluster/ns/app".into()),
            identity_source: Some("xfcc".into()),
            route: Some("/v1/chat/completions".into()),
            host: Some("api.example".into()),
            model: Some("gpt-x".into()),
            request_id: Some(format!("rid-{n}")),
            policy_id: None,
            policy_version: 1,
            policy_sha256: Some(super::super::sha256_hex(b"{}")),
            decision: Decision::Allow,
            rule: None,
            dry_run: Vec::new(),
            findings: Vec::new(),
            errors: Vec::new(),
            best_effort: false,
            incomplete: false,
            usage: None,
            held_back: Default::default(),
        }
    }

    #[test]
    fn sealed_lines_parse_back_to_their_canonical_bytes_and_chain() {
        let key = SigningKey::from_seed([1; 32]);
        let public = key.verifying_key();
        let mut sealer = Sealer::new(ChainState::new("i-1"), key);
        let a = sealer.seal(&record(1), 1_000_000, Timings::default());
        let b = sealer.seal(&record(2), 2_000_000, Timings::default());
        assert!(a.ends_with(b"\"}\n") && !a[..a.len() - 1].contains(&b'\n'));
        let pa = parse_line(&a).unwrap();
        let pb = parse_line(&b).unwrap();
        assert_eq!((pa.seq, pb.seq), (0, 1));
        assert_eq!(pa.prev, GENESIS);
        assert_eq!(pb.prev, pa.hash());
        assert_eq!(pa.instance, "i-1");
        assert!(public.verify(&pa.canonical, &pa.sig));
        // The canonical bytes are the line without the sig member.
        let text = String::from_utf8(a.clone()).unwrap();
        let sig_at = text.find(",\"sig\":").unwrap();
        assert_eq!(
            pa.canonical,
            format!("{}}}", &text[..sig_at]).into_bytes(),
            "canonical = line minus sig"
        );
        // Deterministic: the same entry serialises to the same bytes.
        let e = Entry::new(
            &record(1),
            "i-1",
            0,
            &GENESIS,
            1_000_000,
            Timings::default(),
        );
        assert_eq!(e.canonical(), pa.canonical);
        assert_eq!(ChainState::after(&pb), *sealer.state());
        let v: serde_json::Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(v["time"], "1970-01-01T00:00:01.000000Z");
        assert_eq!(v["identity"]["source"], "xfcc");
        assert_eq!(v["policy"]["version"], 1);
    }

    #[test]
    fn edits_break_the_signature_and_garbage_is_rejected() {
        let key = SigningKey::from_seed([1; 32]);
        let public = key.verifying_key();
        let mut sealer = Sealer::new(ChainState::new("i-1"), key);
        let line = String::from_utf8(sealer.seal(&record(1), 0, Timings::default())).unwrap();
        let edited = line.replace("\"allow\"", "\"block\"");
        let p = parse_line(edited.as_bytes()).unwrap();
        assert!(!public.verify(&p.canonical, &p.sig));
        assert_eq!(parse_line(b"{\"a\":1}"), Err(LineError::NoSignature));
        assert!(parse_line(&line.as_bytes()[..line.len() / 2]).is_err());
        let v2 = line.replace("{\"v\":1,", "{\"v\":2,");
        assert_eq!(parse_line(v2.as_bytes()), Err(LineError::Version(2)));
    }

    #[test]
    fn restore_rewinds_the_chain() {
        let mut sealer = Sealer::new(ChainState::new("i"), SigningKey::from_seed([2; 32]));
        let before = sealer.state().clone();
        let first = sealer.seal(&record(1), 0, Timings::default());
        sealer.restore(before);
        assert_eq!(sealer.seal(&record(1), 0, Timings::default()), first);
    }
}
