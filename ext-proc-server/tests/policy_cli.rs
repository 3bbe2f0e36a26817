//! `sluice policy check|test|explain` as CI runs them: exit codes and `FILE:LINE:COL` messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sluice(args: &[&str], file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .arg(file)
        .output()
        .unwrap()
}

fn policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/policies")
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const GOOD: &str = "version: 2
policy_id: t
rules:
  - id: approved-models
    when: '!(model in [\"gpt-4o-mini\"])'
    action: block
tests:
  - name: approved
    request: {body: {model: gpt-4o-mini, messages: [{role: user, content: hi}]}}
    expect: {decision: allow, rule: null}
  - name: other
    request: {body: {model: o1, messages: [{role: user, content: hi}]}}
    expect: {decision: block, rule: approved-models}
";

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn check_accepts_a_valid_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "p.yaml", GOOD);
    let o = sluice(&["policy", "check"], &f);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("1 rules, 2 tests"), "{}", stdout(&o));
}

#[test]
fn check_reports_file_line_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // (what is wrong, the text, line, column, part of the message)
        ("yaml", "version: 2\npolicy_id: a: b\n", 2, None, ""),
        (
            "unknown key",
            &GOOD.replace("    action: block", "    actoin: block"),
            6,
            Some(5),
            "unknown field `actoin`",
        ),
        (
            "cel syntax",
            &GOOD.replace("!(model in [\"gpt-4o-mini\"])", "model in ["),
            5,
            Some(5),
            "not valid CEL",
        ),
        (
            "unknown variable",
            &GOOD.replace("!(model in [\"gpt-4o-mini\"])", "user == 1"),
            5,
            Some(5),
            "unknown variable `user`",
        ),
        (
            "duplicate id",
            &GOOD.replace(
                "tests:",
                "  - id: approved-models\n    when: 'true'\n    action: flag\ntests:",
            ),
            7,
            Some(5),
            "duplicate rule id `approved-models`",
        ),
    ];
    for (what, text, line, column, message) in cases {
        assert_ne!(text, GOOD, "{what}: the case did not change the file");
        let f = write(&dir, "bad.yaml", text);
        let o = sluice(&["policy", "check"], &f);
        assert_eq!(o.status.code(), Some(2), "{what}: {}", stderr(&o));
        let err = stderr(&o);
        let prefix = match column {
            Some(c) => format!("{}:{line}:{c}: ", f.display()),
            None => format!("{}:{line}:", f.display()),
        };
        assert!(err.starts_with(&prefix), "{what}: {err:?} lacks {prefix:?}");
        assert!(err.contains(message), "{what}: {err}");
        // `test` refuses an invalid file the same way.
        let o = sluice(&["policy", "test"], &f);
        assert_eq!(o.status.code(), Some(2), "{what}");
    }
}

/// The static check of `when`: each class it refuses, reported at the rule's `when` with a
/// message naming what is wrong (a typo would otherwise deny every exchange at run time).
#[test]
fn check_refuses_type_errors_in_when() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "unknown field on identity",
            r#"identity.princpal == "alice""#,
            "unknown field 'princpal' on identity (known: principal, source, claims)",
        ),
        (
            "unknown field inside a comprehension",
            r#"findings.exists(f, f.categry == "pii")"#,
            "unknown field 'categry' on a finding (known: rule, category, direction, count)",
        ),
        (
            "unknown variable inside a comprehension",
            r#"findings.exists(f, g.count > 1)"#,
            "unknown variable `g`",
        ),
        (
            "unknown function",
            r#"model.startswith("gpt")"#,
            "unknown function 'startswith'",
        ),
        (
            "unknown macro",
            "findings.any(f, f.count > 1)",
            "unknown function 'any'",
        ),
        (
            "string compared with int",
            "model == 1",
            "`==` compares string or null with int",
        ),
        (
            "double ordered against string",
            r#"injection.score > "x""#,
            "cannot order double against string",
        ),
        (
            "int plus string",
            r#"findings.size() + "a" == "b""#,
            "`+` cannot combine int and string",
        ),
        (
            "when is not a bool",
            "model",
            "`when` gives string or null, not a bool",
        ),
    ];
    for (what, when, message) in cases {
        let text = GOOD.replace(r#"!(model in ["gpt-4o-mini"])"#, when);
        assert_ne!(text, GOOD, "{what}: the case did not change the file");
        let f = write(&dir, "bad.yaml", &text);
        let o = sluice(&["policy", "check"], &f);
        assert_eq!(o.status.code(), Some(2), "{what}: {}", stderr(&o));
        let err = stderr(&o);
        let prefix = format!("{}:5:5: rules[0] (approved-models): ", f.display());
        assert!(err.starts_with(&prefix), "{what}: {err:?} lacks {prefix:?}");
        assert!(err.contains(message), "{what}: {err}");
    }
    // JWT claims are whatever the token carried: no field or type of theirs is refused.
    let text = GOOD.replace(
        r#"!(model in ["gpt-4o-mini"])"#,
        r#"identity.claims.level > 3 && identity.claims.team.startsWith("a")"#,
    );
    let f = write(&dir, "claims.yaml", &text);
    let o = sluice(&["policy", "check"], &f);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn test_passes_and_fails_with_decision_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "p.yaml", GOOD);
    let o = sluice(&["policy", "test"], &f);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("PASS approved: decision=allow rule=-"),
        "{out}"
    );
    assert!(
        out.contains("PASS other: decision=block rule=approved-models"),
        "{out}"
    );

    let failing = GOOD.replace(
        "expect: {decision: block, rule: approved-models}",
        "expect: {decision: allow}",
    );
    let f = write(&dir, "f.yaml", &failing);
    let o = sluice(&["policy", "test"], &f);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("FAIL other: decision=block rule=approved-models"),
        "{out}"
    );
    assert!(out.contains("1 passed, 1 failed"), "{out}");
}

#[test]
fn explain_names_the_deciding_rule() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "p.yaml", GOOD);
    let o = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["policy", "explain"])
        .arg(&f)
        .args(["--case", "other"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("decided by rule: approved-models"));
}

#[test]
fn version_1_files_still_check() {
    for name in ["flag-pii-in-responses.json", "mask-email-in-streams.json"] {
        let o = sluice(&["policy", "check"], &policies().join(name));
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
    }
}

#[test]
fn every_example_policy_checks_and_its_tests_pass() {
    let mut seen = 0;
    for entry in std::fs::read_dir(policies()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        seen += 1;
        let o = sluice(&["policy", "check"], &path);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            stderr(&o)
        );
        let o = sluice(&["policy", "test"], &path);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}: {}{}",
            path.display(),
            stdout(&o),
            stderr(&o)
        );
        assert!(!stdout(&o).contains("no test cases"), "{}", path.display());
    }
    assert!(seen >= 4, "example policies missing");
}
