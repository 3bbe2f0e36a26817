//! The signed audit trail through real Envoy (ext_proc): records verify, never hold a planted
//! value, are on disk when the client has the end of the response (even if `sluice serve` is
//! SIGKILLed right then), and a trail that cannot be written ends the response fail-closed.

use std::path::{Path, PathBuf};
use std::process::Command;

use sluice_e2e::api::{self, ApiShape, Framing};
use sluice_e2e::client::BodyEnd;
use sluice_e2e::harness::{Mode, Stack, StackOptions, sluice_binary};
use sluice_e2e::scenario::{api_request, assert_no_planted, own_stack, run, send};
use sluice_e2e::upstream::Script;

fn sluice() -> Command {
    Command::new(sluice_binary().unwrap_or_else(|e| panic!("{e}")))
}

/// Keys in `dir`: signing key prefix and fingerprint key.
fn keys(dir: &Path) -> (PathBuf, PathBuf) {
    let prefix = dir.join("audit");
    sluice_e2e::harness::audit_keygen(&prefix);
    let fp = dir.join("fingerprint.key");
    std::fs::write(&fp, b"e2e-fingerprint-key-0123456789abcdef").unwrap();
    (prefix, fp)
}

fn audit_args(file: &Path, prefix: &Path, fp: &Path) -> Vec<String> {
    vec![
        "--audit".into(),
        file.display().to_string(),
        "--audit-key".into(),
        format!("{}.key", prefix.display()),
        "--audit-instance".into(),
        "e2e-1".into(),
        "--fingerprint-key".into(),
        fp.display().to_string(),
    ]
}

fn verify(files: &[&Path], prefix: &Path) -> (i32, String) {
    let out = sluice()
        .args(["audit", "verify", "--key"])
        .arg(format!("{}.pub", prefix.display()))
        .args(files)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn records(file: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every family masked in both directions (the built-in policy flags e-mails in streamed
/// answers), so every planted value is one the client must not see.
const MASK_ALL: &str = r#"{"version": 1, "response": {"credential": "mask", "pii": "mask", "injection": "flag", "email_in_streams": "mask"}}"#;

fn planted() -> Vec<api::Planted> {
    let mut all = vec![api::PROMPT_AWS_KEY_ID, api::PROMPT_AWS_SECRET];
    all.extend_from_slice(ApiShape::OpenAiChat.planted_in_capture());
    all
}

fn prompt() -> String {
    format!(
        "Deploy with {} and {} please.",
        api::PROMPT_AWS_KEY_ID.value,
        api::PROMPT_AWS_SECRET.value
    )
}

async fn exchange(stack: &Stack, api: ApiShape, stream: bool) -> sluice_e2e::client::Response {
    let script = stack.mock().register(Script::default());
    let req = api_request(api, &prompt(), stream).headers([script.header()]);
    let resp = send(stack, &req).await;
    assert_eq!(resp.status, 200, "{}", stack.context());
    assert_eq!(resp.end, BodyEnd::Complete, "{}", stack.context());
    resp
}

#[test]
fn trail_verifies_and_holds_no_planted_value() {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let (prefix, fp) = keys(dir.path());
        let file = dir.path().join("audit.jsonl");
        let options = StackOptions {
            policy_json: Some(MASK_ALL.to_owned()),
            sluice_args: audit_args(&file, &prefix, &fp),
            ..StackOptions::default()
        };
        let stack = own_stack(Mode::ExtProc, options).await;
        let shapes = [
            (ApiShape::OpenAiChat, true),
            (ApiShape::OpenAiChat, false),
            (ApiShape::Anthropic, true),
        ];
        for (n, (api, stream)) in shapes.into_iter().enumerate() {
            let resp = exchange(&stack, api, stream).await;
            let framing = if stream {
                api.stream_framing()
            } else {
                Framing::Json
            };
            assert_no_planted(&stack, "response", framing, &resp.body(), &planted());
            // The record is durable before the end of the response was released.
            assert_eq!(records(&file).len(), n + 1, "{}", stack.context());
        }
        let all = records(&file);
        for (r, (api, _)) in all.iter().zip(shapes) {
            assert_eq!(r["instance"], "e2e-1");
            assert_eq!(r["api"], api.name());
            assert_eq!(r["decision"], "mask", "{r}");
            assert!(r["model"].is_string(), "{r}");
            assert!(r["host"].is_string(), "{r}");
            assert!(r["time"].as_str().unwrap().ends_with('Z'));
            assert!(r["timings"]["total_us"].is_u64(), "{r}");
            assert!(r["policy"]["sha256"].is_string(), "{r}");
        }
        // The same planted request key, fingerprinted alike in every exchange.
        let fingerprints = |r: &serde_json::Value| -> Vec<String> {
            r["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["direction"] == "request" && f["rule"] == "aws-access-key-id")
                .flat_map(|f| f["fingerprints"].as_array().cloned().unwrap_or_default())
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        let first = fingerprints(&all[0]);
        assert_eq!(first.len(), 1, "{}", all[0]);
        assert_eq!(fingerprints(&all[1]), first);
        assert_eq!(fingerprints(&all[2]), first);

        let (code, out) = verify(&[&file], &prefix);
        assert_eq!(code, 0, "{out}");
        let text = std::fs::read_to_string(&file).unwrap() + &stack.sluice_log();
        for p in planted() {
            assert!(
                !text.contains(p.value),
                "{} found in the trail or log",
                p.kind
            );
        }
    });
}

#[test]
fn record_is_on_disk_when_sluice_is_killed_right_after_the_response() {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let (prefix, fp) = keys(dir.path());
        let file = dir.path().join("audit.jsonl");
        let options = StackOptions {
            policy_json: Some(MASK_ALL.to_owned()),
            sluice_args: audit_args(&file, &prefix, &fp),
            ..StackOptions::default()
        };
        let stack = own_stack(Mode::ExtProc, options).await;
        exchange(&stack, ApiShape::OpenAiChat, true).await;
        stack.kill_sluice();
        let all = records(&file);
        assert_eq!(all.len(), 1, "{}", stack.context());
        assert_eq!(all[0]["seq"], 0);
        let (code, out) = verify(&[&file], &prefix);
        assert_eq!(code, 0, "{out}");
    });
}

#[test]
fn unwritable_trail_ends_the_response_with_the_error_event() {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let (prefix, fp) = keys(dir.path());
        let full = Path::new("/dev/full");
        let options = StackOptions {
            policy_json: Some(MASK_ALL.to_owned()),
            sluice_args: audit_args(full, &prefix, &fp),
            ..StackOptions::default()
        };
        let stack = own_stack(Mode::ExtProc, options).await;
        let script = stack.mock().register(Script::default());
        let req = api_request(ApiShape::OpenAiChat, &prompt(), true).headers([script.header()]);
        let resp = send(&stack, &req).await;
        let body = resp.text();
        assert!(
            body.contains("audit record could not be written"),
            "{body}\n{}",
            stack.context()
        );
        assert_no_planted(&stack, "response", Framing::Sse, &resp.body(), &planted());
        assert!(stack.sluice_log().contains("audit write failed"));
        drop(stack);

        // `on_audit_error: allow` releases the end of the response and only logs.
        let options = StackOptions {
            sluice_args: audit_args(full, &prefix, &fp),
            policy_json: Some(r#"{"version":1,"on_audit_error":"allow"}"#.into()),
            ..StackOptions::default()
        };
        let stack = own_stack(Mode::ExtProc, options).await;
        let resp = exchange(&stack, ApiShape::OpenAiChat, true).await;
        assert!(!resp.text().contains("audit record could not be written"));
        assert!(resp.text().contains("[DONE]"), "{}", resp.text());
    });
}

/// The thread id of `sluice serve`'s audit writer.
fn writer_thread(pid: u32) -> nix::unistd::Pid {
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if comm.trim() == "sluice-audit" {
            let tid: i32 = task.file_name().unwrap().to_str().unwrap().parse().unwrap();
            return nix::unistd::Pid::from_raw(tid);
        }
    }
    panic!("no sluice-audit thread in process {pid}");
}

#[test]
fn audit_writer_slower_than_the_timeout_ends_the_response_fail_closed() {
    use nix::sys::ptrace;
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let (prefix, fp) = keys(dir.path());
        let file = dir.path().join("audit.jsonl");
        let mut args = audit_args(&file, &prefix, &fp);
        args.extend(["--audit-timeout-ms".to_owned(), "300".to_owned()]);
        let options = StackOptions {
            policy_json: Some(MASK_ALL.to_owned()),
            sluice_args: args,
            ..StackOptions::default()
        };
        let stack = own_stack(Mode::ExtProc, options).await;
        exchange(&stack, ApiShape::OpenAiChat, true).await;

        // Stop only the writer thread (a ptrace stop; the rest of the process runs on).
        let tid = writer_thread(stack.sluice_pid().unwrap());
        ptrace::seize(tid, ptrace::Options::empty()).unwrap();
        ptrace::interrupt(tid).unwrap();
        let _ = nix::sys::wait::waitpid(tid, Some(nix::sys::wait::WaitPidFlag::__WALL));
        let script = stack.mock().register(Script::default());
        let req = api_request(ApiShape::OpenAiChat, &prompt(), true).headers([script.header()]);
        let started = std::time::Instant::now();
        let resp = send(&stack, &req).await;
        let took = started.elapsed();
        ptrace::detach(tid, None).unwrap();

        let body = resp.text();
        assert!(
            body.contains("audit record could not be written"),
            "{body}\n{}",
            stack.context()
        );
        assert!(took >= std::time::Duration::from_millis(300), "{took:?}");
        assert_no_planted(&stack, "response", Framing::Sse, &resp.body(), &planted());
        assert!(
            stack
                .sluice_log()
                .contains("timed out waiting for the audit writer"),
            "{}",
            stack.context()
        );
        // The writer resumes: the late record is written, later exchanges pass again, and the
        // trail is intact.
        exchange(&stack, ApiShape::OpenAiChat, true).await;
        assert_eq!(records(&file).len(), 3, "{}", stack.context());
        let (code, out) = verify(&[&file], &prefix);
        assert_eq!(code, 0, "{out}");
    });
}

#[test]
fn rotated_trail_verifies_across_its_files() {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let (prefix, fp) = keys(dir.path());
        let file = dir.path().join("audit.jsonl");
        let mut args = audit_args(&file, &prefix, &fp);
        args.extend(["--audit-max-bytes".to_owned(), "2500".to_owned()]);
        let options = StackOptions {
            policy_json: Some(MASK_ALL.to_owned()),
            sluice_args: args,
            ..StackOptions::default()
        };
        let stack = own_stack(Mode::ExtProc, options).await;
        for _ in 0..6 {
            exchange(&stack, ApiShape::OpenAiChat, true).await;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains("audit.jsonl"))
            .collect();
        files.sort();
        assert!(files.len() >= 3, "{files:?}\n{}", stack.context());
        let total: usize = files.iter().map(|f| records(f).len()).sum();
        assert_eq!(total, 6);
        let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        let (code, out) = verify(&refs, &prefix);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("6 records, seq 0..5"), "{out}");
        // Without the oldest file the chain simply starts later; without a middle one it breaks.
        let without_middle: Vec<&Path> = refs
            .iter()
            .copied()
            .filter(|p| !p.to_string_lossy().ends_with(".jsonl.2"))
            .collect();
        let (code, out) = verify(&without_middle, &prefix);
        assert_eq!(code, 1, "{out}");
    });
}
