//! Checking a trail: signatures, then each instance's chain across all the files given.
//!
//! Files may be given in any order (rotated files, several instances' files at once): records
//! are grouped per instance, each file's run of an instance's records must be consecutive, and
//! the runs of one instance are put in `seq` order and must link up with no gap or overlap.

use std::collections::BTreeMap;
use std::fmt;

use super::chain::{GENESIS, ParsedLine, parse_line};
use super::sign::VerifyingKey;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The line is not a signed record.
    Unreadable(String),
    /// No given key verifies the signature: an edited record, or one signed by another key.
    BadSignature,
    /// `seq` is not the next one: a record before it was deleted, or records were reordered.
    Seq { expected: u64, found: u64 },
    /// `prev` does not match the previous record's hash: a record before it was edited or
    /// replaced.
    Prev { seq: u64 },
    /// A first record (`seq` 0) whose `prev` is not the genesis value.
    Genesis,
    /// The same `seq` of an instance appears twice.
    Duplicate { seq: u64 },
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::Unreadable(e) => write!(f, "unreadable record: {e}"),
            FailureKind::BadSignature => f.write_str(
                "signature does not verify under the given key (record edited, or signed by another key)",
            ),
            FailureKind::Seq { expected, found } => write!(
                f,
                "seq {found} where {expected} was expected (record deleted or reordered)"
            ),
            FailureKind::Prev { seq } => write!(
                f,
                "prev of seq {seq} does not match the previous record (chain broken: a record before it was edited or replaced)"
            ),
            FailureKind::Genesis => f.write_str("first record (seq 0) does not start a chain"),
            FailureKind::Duplicate { seq } => write!(f, "seq {seq} appears more than once"),
        }
    }
}

/// The first bad record is the failure with the lowest (file, line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub file: String,
    /// Position of the file in the order given.
    pub file_index: usize,
    /// 1-based line number.
    pub line: usize,
    pub instance: Option<String>,
    pub kind: FailureKind,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if let Some(i) = &self.instance {
            write!(f, "instance {i}: ")?;
        }
        write!(f, "{}", self.kind)
    }
}

/// One instance's verified chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainSummary {
    pub instance: String,
    pub first_seq: u64,
    pub last_seq: u64,
    pub records: u64,
    /// Hex hash of the last record's canonical bytes.
    pub head: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Sorted by (file, line): the first is the first bad record.
    pub failures: Vec<Failure>,
    pub chains: Vec<ChainSummary>,
    /// `file:line` of incomplete final lines (a write cut short; never acknowledged).
    pub truncated: Vec<(String, usize)>,
}

impl Report {
    pub fn intact(&self) -> bool {
        self.failures.is_empty()
    }
}

#[derive(Clone, Debug)]
struct Rec {
    file_index: usize,
    line: usize,
    seq: u64,
    prev: [u8; 32],
    hash: [u8; 32],
}

/// Accumulates files, then reports.
#[derive(Debug)]
pub struct Verifier {
    keys: Vec<VerifyingKey>,
    files: Vec<String>,
    /// Per instance, the runs of records in each file (one run per file and instance).
    runs: BTreeMap<String, Vec<Vec<Rec>>>,
    report: Report,
}

impl Verifier {
    pub fn new(keys: Vec<VerifyingKey>) -> Verifier {
        Verifier {
            keys,
            files: Vec::new(),
            runs: BTreeMap::new(),
            report: Report::default(),
        }
    }

    /// Reads one file's contents; `name` is how failures refer to it.
    pub fn add_file(&mut self, name: &str, contents: &[u8]) {
        let file_index = self.files.len();
        self.files.push(name.to_owned());
        let mut runs: BTreeMap<String, Vec<Rec>> = BTreeMap::new();
        let mut lines = contents.split_inclusive(|&b| b == b'\n').peekable();
        let mut number = 0;
        while let Some(raw) = lines.next() {
            number += 1;
            let last = lines.peek().is_none();
            let complete = raw.ends_with(b"\n");
            let fail = |kind, instance: Option<String>| Failure {
                file: name.to_owned(),
                file_index,
                line: number,
                instance,
                kind,
            };
            let parsed: ParsedLine = match parse_line(raw) {
                Ok(p) => p,
                Err(_) if last && !complete => {
                    self.report.truncated.push((name.to_owned(), number));
                    continue;
                }
                Err(e) => {
                    self.report
                        .failures
                        .push(fail(FailureKind::Unreadable(e.to_string()), None));
                    continue;
                }
            };
            if !self
                .keys
                .iter()
                .any(|k| k.verify(&parsed.canonical, &parsed.sig))
            {
                self.report.failures.push(fail(
                    FailureKind::BadSignature,
                    Some(parsed.instance.clone()),
                ));
            }
            runs.entry(parsed.instance.clone()).or_default().push(Rec {
                file_index,
                line: number,
                seq: parsed.seq,
                prev: parsed.prev,
                hash: parsed.hash(),
            });
        }
        for (instance, run) in runs {
            self.runs.entry(instance).or_default().push(run);
        }
    }

    pub fn finish(mut self) -> Report {
        let runs = std::mem::take(&mut self.runs);
        for (instance, mut runs) in runs {
            runs.sort_by_key(|r| (r[0].seq, r[0].file_index));
            let mut last: Option<Rec> = None;
            let mut count = 0u64;
            let mut first_seq = None;
            for run in &runs {
                for rec in run {
                    count += 1;
                    self.check(&instance, last.as_ref(), rec);
                    first_seq.get_or_insert(rec.seq);
                    last = Some(rec.clone());
                }
            }
            if let (Some(last), Some(first_seq)) = (last, first_seq) {
                self.report.chains.push(ChainSummary {
                    instance,
                    first_seq,
                    last_seq: last.seq,
                    records: count,
                    head: hex::encode(last.hash),
                });
            }
        }
        self.report.failures.sort_by_key(|f| {
            (
                f.file_index,
                f.line,
                matches!(f.kind, FailureKind::Prev { .. }),
            )
        });
        self.report
    }

    fn check(&mut self, instance: &str, before: Option<&Rec>, rec: &Rec) {
        let kind = match before {
            None if rec.seq == 0 && rec.prev != GENESIS => Some(FailureKind::Genesis),
            // A chain may start later when older rotated files are not given.
            None => None,
            Some(b) if rec.seq <= b.seq && rec.file_index != b.file_index => {
                Some(FailureKind::Duplicate { seq: rec.seq })
            }
            Some(b) if rec.seq != b.seq + 1 => Some(FailureKind::Seq {
                expected: b.seq + 1,
                found: rec.seq,
            }),
            Some(b) if rec.prev != b.hash => Some(FailureKind::Prev { seq: rec.seq }),
            Some(_) => None,
        };
        if let Some(kind) = kind {
            self.report.failures.push(Failure {
                file: self.files[rec.file_index].clone(),
                file_index: rec.file_index,
                line: rec.line,
                instance: Some(instance.to_owned()),
                kind,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::tests::record;
    use crate::audit::{ChainState, Sealer, SigningKey, Timings};

    fn trail(instance: &str, n: u32, key: [u8; 32]) -> Vec<Vec<u8>> {
        let mut s = Sealer::new(ChainState::new(instance), SigningKey::from_seed(key));
        (0..n)
            .map(|i| s.seal(&record(i), u64::from(i), Timings::default()))
            .collect()
    }

    fn verify(files: &[(&str, Vec<Vec<u8>>)]) -> Report {
        let key = SigningKey::from_seed([1; 32]).verifying_key();
        let mut v = Verifier::new(vec![key]);
        for (name, lines) in files {
            v.add_file(name, &lines.concat());
        }
        v.finish()
    }

    fn first(r: &Report) -> (String, usize, FailureKind) {
        let f = &r.failures[0];
        (f.file.clone(), f.line, f.kind.clone())
    }

    #[test]
    fn intact_trail_verifies() {
        let r = verify(&[("a", trail("i", 5, [1; 32]))]);
        assert!(r.intact(), "{r:?}");
        assert_eq!(r.chains[0].records, 5);
        assert_eq!((r.chains[0].first_seq, r.chains[0].last_seq), (0, 4));
    }

    #[test]
    fn edited_field_is_a_bad_signature_at_its_line() {
        let mut t = trail("i", 4, [1; 32]);
        t[2] = String::from_utf8(t[2].clone())
            .unwrap()
            .replace("rid-2", "rid-9")
            .into_bytes();
        let r = verify(&[("a", t)]);
        assert_eq!(first(&r), ("a".into(), 3, FailureKind::BadSignature));
        // The next record's link is broken too.
        assert!(r.failures.iter().any(|f| f.line == 4));
    }

    #[test]
    fn deleted_and_swapped_records_are_seq_errors() {
        let mut t = trail("i", 5, [1; 32]);
        t.remove(2);
        let r = verify(&[("a", t)]);
        assert_eq!(
            first(&r),
            (
                "a".into(),
                3,
                FailureKind::Seq {
                    expected: 2,
                    found: 3
                }
            )
        );
        let mut t = trail("i", 5, [1; 32]);
        t.swap(1, 2);
        let r = verify(&[("a", t)]);
        assert_eq!(
            first(&r),
            (
                "a".into(),
                2,
                FailureKind::Seq {
                    expected: 1,
                    found: 2
                }
            )
        );
    }

    #[test]
    fn a_record_signed_by_another_key_is_named() {
        let mut t = trail("i", 3, [1; 32]);
        let other = trail("i", 3, [9; 32]);
        t[1] = other[1].clone();
        let r = verify(&[("a", t)]);
        assert_eq!(first(&r), ("a".into(), 2, FailureKind::BadSignature));
    }

    #[test]
    fn rotated_files_in_any_order_and_several_instances() {
        let t = trail("i", 6, [1; 32]);
        let u = trail("j", 3, [1; 32]);
        let r = verify(&[
            ("log.2", t[4..].to_vec()),
            ("log.1", t[..2].to_vec()),
            ("log", t[2..4].to_vec()),
            ("other", u.clone()),
        ]);
        assert!(r.intact(), "{r:?}");
        assert_eq!(r.chains.len(), 2);
        // A rotated file left out in the middle is a gap at the next file's first line.
        let r = verify(&[("log.1", t[..2].to_vec()), ("log.3", t[4..].to_vec())]);
        assert_eq!(
            first(&r),
            (
                "log.3".into(),
                1,
                FailureKind::Seq {
                    expected: 2,
                    found: 4
                }
            )
        );
        // The same file twice is a duplicate.
        let r = verify(&[("x", u.clone()), ("y", u)]);
        assert_eq!(first(&r).2, FailureKind::Duplicate { seq: 0 });
    }

    #[test]
    fn truncated_tail_is_reported_not_failed() {
        let t = trail("i", 3, [1; 32]);
        let mut bytes = t[..2].concat();
        bytes.extend_from_slice(&t[2][..40]);
        let key = SigningKey::from_seed([1; 32]).verifying_key();
        let mut v = Verifier::new(vec![key]);
        v.add_file("a", &bytes);
        let r = v.finish();
        assert!(r.intact());
        assert_eq!(r.truncated, vec![("a".to_string(), 3)]);
        assert_eq!(r.chains[0].records, 2);
        // A cut line in the middle of a file is a failure.
        let mut bytes = t[0][..40].to_vec();
        bytes.push(b'\n');
        bytes.extend_from_slice(&t[1]);
        let mut v = Verifier::new(vec![key]);
        v.add_file("b", &bytes);
        let r = v.finish();
        assert!(matches!(first(&r).2, FailureKind::Unreadable(_)));
    }
}
