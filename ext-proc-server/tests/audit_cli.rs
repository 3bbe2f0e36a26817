//! `sluice audit keygen` and `sluice audit verify` as external tools call them: exit 0 for an
//! intact trail, 1 naming FILE:LINE of the first bad record, 2 for usage errors.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sluice_core::audit::{ChainState, Sealer, SigningKey, Timings};
use sluice_core::{Engine, ExchangeContext, Policy};

fn sluice() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
}

fn keygen(dir: &Path, name: &str) -> (PathBuf, SigningKey) {
    let prefix = dir.join(name);
    let out = sluice()
        .args(["audit", "keygen", "--out"])
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key_file = dir.join(format!("{name}.key"));
    let text = std::fs::read_to_string(&key_file).unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.contains(text.trim()), "keygen printed the secret");
    (
        dir.join(format!("{name}.pub")),
        SigningKey::from_key_file(&text).unwrap(),
    )
}

/// `n` sealed lines of `instance`, starting a new chain.
fn trail(key: &SigningKey, instance: &str, n: usize) -> Vec<String> {
    let engine = Engine::new(Policy::default()).unwrap();
    let mut sealer = Sealer::new(ChainState::new(instance), key.clone());
    (0..n)
        .map(|i| {
            let record = engine
                .exchange(ExchangeContext {
                    request_id: Some(format!("req-{i}")),
                    ..Default::default()
                })
                .finish();
            String::from_utf8(sealer.seal(
                &record,
                1_700_000_000_000_000 + i as u64,
                Timings::default(),
            ))
            .unwrap()
        })
        .collect()
}

fn write(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, lines.concat()).unwrap();
    p
}

fn verify(public: &Path, files: &[&Path]) -> (i32, String) {
    let out = sluice()
        .args(["audit", "verify", "--key"])
        .arg(public)
        .args(files)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// The first line of the output names `file:line`.
fn assert_names(out: &str, file: &Path, line: usize) {
    let first = out.lines().next().unwrap_or_default();
    let want = format!("{}:{line}:", file.display());
    assert!(
        first.starts_with("FAILED ") && first.contains(&want),
        "expected {want} first, got:\n{out}"
    );
}

#[test]
fn keygen_writes_a_private_key_file_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let (public, _) = keygen(dir.path(), "k");
    let mode = std::fs::metadata(dir.path().join("k.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&public).unwrap().trim().len(), 64);
    let again = sluice()
        .args(["audit", "keygen", "--out"])
        .arg(dir.path().join("k"))
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
}

#[test]
fn intact_trail_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let (public, key) = keygen(dir.path(), "k");
    let file = write(dir.path(), "audit.jsonl", &trail(&key, "a", 5));
    let (code, out) = verify(&public, &[&file]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok instance a: 5 records"), "{out}");
}

#[test]
fn edited_field_exits_1_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let (public, key) = keygen(dir.path(), "k");
    let mut lines = trail(&key, "a", 5);
    lines[2] = lines[2].replace("\"decision\":\"allow\"", "\"decision\":\"block\"");
    let file = write(dir.path(), "audit.jsonl", &lines);
    let (code, out) = verify(&public, &[&file]);
    assert_eq!(code, 1, "{out}");
    assert_names(&out, &file, 3);
    assert!(out.contains("signature"), "{out}");
}

#[test]
fn deleted_record_exits_1_at_the_record_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (public, key) = keygen(dir.path(), "k");
    let mut lines = trail(&key, "a", 5);
    lines.remove(1);
    let file = write(dir.path(), "audit.jsonl", &lines);
    let (code, out) = verify(&public, &[&file]);
    assert_eq!(code, 1, "{out}");
    assert_names(&out, &file, 2);
    assert!(out.contains("seq 2 where 1 was expected"), "{out}");
}

#[test]
fn swapped_records_exit_1_at_the_first_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let (public, key) = keygen(dir.path(), "k");
    let mut lines = trail(&key, "a", 5);
    lines.swap(2, 3);
    let file = write(dir.path(), "audit.jsonl", &lines);
    let (code, out) = verify(&public, &[&file]);
    assert_eq!(code, 1, "{out}");
    assert_names(&out, &file, 3);
}

#[test]
fn record_signed_by_another_key_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let (public, key) = keygen(dir.path(), "k");
    let (_, other) = keygen(dir.path(), "other");
    let mut lines = trail(&key, "a", 4);
    // A forger with their own key rewrites the last record, chain fields and all.
    lines[3] = trail(&other, "a", 4)[3].clone();
    let file = write(dir.path(), "audit.jsonl", &lines);
    let (code, out) = verify(&public, &[&file]);
    assert_eq!(code, 1, "{out}");
    assert_names(&out, &file, 4);
    // Under the other key, every other record is the bad one.
    let (code, out) = verify(&dir.path().join("other.pub"), &[&file]);
    assert_eq!(code, 1, "{out}");
    assert_names(&out, &file, 1);
}

#[test]
fn rotated_files_and_several_instances_verify_together() {
    let dir = tempfile::tempdir().unwrap();
    let (public, key) = keygen(dir.path(), "k");
    let a = trail(&key, "replica-a", 7);
    let b = trail(&key, "replica-b", 3);
    let a1 = write(dir.path(), "a.jsonl.1", &a[..3]);
    let a2 = write(dir.path(), "a.jsonl.2", &a[3..5]);
    let a0 = write(dir.path(), "a.jsonl", &a[5..]);
    let b0 = write(dir.path(), "b.jsonl", &b);
    // Any order.
    let (code, out) = verify(&public, &[&a0, &b0, &a2, &a1]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("replica-a: 7 records"), "{out}");
    assert!(out.contains("replica-b: 3 records"), "{out}");
    // A rotated file left out is a gap at the first line of the file after it.
    let (code, out) = verify(&public, &[&a1, &a0]);
    assert_eq!(code, 1, "{out}");
    assert_names(&out, &a0, 1);
    // Deleting one record inside a rotated file of one instance leaves the other intact.
    let mut cut = a[3..5].to_vec();
    cut.remove(0);
    let a2 = write(dir.path(), "a.jsonl.2", &cut);
    let (code, out) = verify(&public, &[&a1, &a2, &a0, &b0]);
    assert_eq!(code, 1, "{out}");
    assert_names(&out, &a2, 1);
}

#[test]
fn truncated_tail_is_reported_and_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (public, key) = keygen(dir.path(), "k");
    let mut lines = trail(&key, "a", 3);
    let half = lines[2].len() / 2;
    lines[2].truncate(half);
    let file = write(dir.path(), "audit.jsonl", &lines);
    let (code, out) = verify(&public, &[&file]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("{}:3: truncated tail", file.display())),
        "{out}"
    );
    assert!(out.contains("2 records"), "{out}");
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (public, key) = keygen(dir.path(), "k");
    let file = write(dir.path(), "audit.jsonl", &trail(&key, "a", 2));
    let missing = dir.path().join("missing.jsonl");
    assert_eq!(verify(&public, &[&file, &missing]).0, 2);
    let bad_key = dir.path().join("bad.pub");
    std::fs::write(&bad_key, "not a key\n").unwrap();
    assert_eq!(verify(&bad_key, &[&file]).0, 2);
    assert_eq!(verify(&dir.path().join("none.pub"), &[&file]).0, 2);
    let no_files = sluice()
        .args(["audit", "verify", "--key"])
        .arg(&public)
        .output()
        .unwrap();
    assert_eq!(no_files.status.code(), Some(2));
}
