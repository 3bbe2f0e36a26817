//! The official MCP Python SDK on both ends, through Envoy + Sluice: a server (`MCPServer`,
//! streamable HTTP) answering in SSE and in JSON, and a `ClientSession` over
//! `streamable_http_client`. With `response.injection: block` the poisoned tools/list answer
//! and the injected tool result are replaced by JSON-RPC errors the SDK raises as `MCPError`;
//! the clean tool's result arrives intact and the credential in another result is masked with
//! everything else of it intact. With the default `injection: flag` everything is delivered
//! and the audit records say flagged.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_e2e::harness::{Mode, Stack, StackOptions, audit_keygen, python, run_python};
use sluice_e2e::scenario::own_stack;

const BLOCK_INJECTION: &str = r#"{
  "version": 1,
  "response": {"credential": "mask", "pii": "mask", "injection": "block"}
}"#;

// What tests/mcp/mcp_server.py answers.
const CLEAN_RESULT: &str = "Forecast for Lisbon: sunny, 21 degrees, light wind from the west.";
const KEY_RESULT_MASKED: &str = "Deploy credentials for staging: access key id \
    [REDACTED:aws-access-key-id], region eu-west-1.";
const KEY_PREFIX: &str = "AKIAIX6E";

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("mcp").join(name)
}

/// The SDK's MCP server on a loopback port; killed on drop.
struct McpServer {
    child: Child,
    port: u16,
}

impl McpServer {
    /// Starts it answering in SSE (`json: false`) or JSON, and waits for its `ready` line.
    fn start(json: bool) -> McpServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        let python = python().unwrap_or_else(|e| panic!("{e}"));
        let mut child = Command::new(python)
            .arg(script("mcp_server.py"))
            .arg(port.to_string())
            .arg(if json { "json" } else { "sse" })
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the MCP server");
        let stdout = child.stdout.take().expect("the server's stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("ready") {
                    let _ = tx.send(());
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        while rx.try_recv().is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the MCP server exited {status} before it was ready");
            }
            assert!(
                Instant::now() < deadline,
                "the MCP server was not ready in 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        McpServer { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for McpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stack in `mode` in front of `server`, with the audit trail where the test can read it.
struct McpStack {
    stack: Stack,
    /// The ext_proc server's audit file; the wasm filter logs its records in Envoy's log.
    audit_file: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

async fn mcp_stack(mode: Mode, policy: Option<&str>, server: &McpServer) -> McpStack {
    let dir = tempfile::tempdir().unwrap();
    let mut options = StackOptions {
        policy_json: policy.map(str::to_owned),
        upstream: Some(server.url()),
        ..StackOptions::default()
    };
    let mut audit_file = None;
    if mode.uses_sluice_process() {
        let prefix = dir.path().join("audit");
        audit_keygen(&prefix);
        let file = dir.path().join("audit.jsonl");
        options.sluice_args = vec![
            "--audit".into(),
            file.display().to_string(),
            "--audit-key".into(),
            format!("{}.key", prefix.display()),
            "--audit-instance".into(),
            "e2e-mcp".into(),
        ];
        audit_file = Some(file);
    }
    McpStack {
        stack: own_stack(mode, options).await,
        audit_file,
        _dir: dir,
    }
}

impl McpStack {
    /// Runs the SDK client through Envoy: tools/list, then each tool.
    fn client(&self) -> Value {
        let input = json!({"url": format!("http://{}/mcp", self.stack.addr())});
        let out = run_python(
            &script("mcp_client.py"),
            &input.to_string(),
            Duration::from_secs(150),
        )
        .unwrap_or_else(|e| panic!("mcp client: {e}\n{}", self.stack.context()));
        serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("mcp client output ({e}): {out}\n{}", self.stack.context()))
    }

    fn records(&self) -> Vec<Value> {
        let text = match &self.audit_file {
            Some(f) => std::fs::read_to_string(f).unwrap_or_default(),
            None => self.stack.envoy_log(),
        };
        text.lines()
            .filter_map(|l| match &self.audit_file {
                Some(_) => Some(l),
                None => l
                    .find("sluice audit {")
                    .map(|i| &l[i + "sluice audit ".len()..]),
            })
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The audit record whose findings include prompt injection in `role`, waited for (the
    /// wasm filter logs a record when its exchange is done).
    async fn injection_record(&self, role: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self.records().into_iter().find(|r| {
                r["findings"].as_array().is_some_and(|fs| {
                    fs.iter().any(|f| {
                        f["rule"] == "prompt-injection"
                            && f["roles"]
                                .as_array()
                                .is_some_and(|rs| rs.iter().any(|x| x == role))
                    })
                })
            });
            if let Some(r) = found {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "no audit record with injection in {role}: {:?}\n{}",
                self.records(),
                self.stack.context()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn ok_text(out: &Value, step: &str) -> String {
    let texts = out[step]["ok"]["text"].as_array().unwrap_or_else(|| {
        panic!("{step}: no result: {out}");
    });
    texts
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join("")
}

fn assert_refused(out: &Value, step: &str, how: &str) {
    let r = &out[step];
    assert_eq!(
        r["error"], "MCPError",
        "{how}: {step} was not refused with a JSON-RPC error the SDK raises: {r}"
    );
    assert_eq!(r["code"], -32001, "{how}: {step}: {r}");
    assert!(
        r["message"]
            .as_str()
            .is_some_and(|m| m.contains("injection")),
        "{how}: {step}: {r}"
    );
}

async fn block_refuses_poisoned_messages(mode: Mode) {
    for json in [false, true] {
        let how = format!("{mode:?} {}", if json { "json" } else { "sse" });
        let server = McpServer::start(json);
        let s = mcp_stack(mode, Some(BLOCK_INJECTION), &server).await;
        let out = s.client();
        let shown = out.to_string();
        assert!(
            !shown.contains("IMPORTANT"),
            "{how}: poisoned description: {shown}"
        );
        assert!(
            !shown.contains("Ignore all previous"),
            "{how}: injection: {shown}"
        );
        assert!(
            !shown.contains(KEY_PREFIX),
            "{how}: the credential arrived: {shown}"
        );
        assert_refused(&out, "tools/list", &how);
        assert_refused(&out, "weather", &how);
        assert_eq!(
            ok_text(&out, "forecast"),
            CLEAN_RESULT,
            "{how}: clean result"
        );
        assert_eq!(
            ok_text(&out, "credentials"),
            KEY_RESULT_MASKED,
            "{how}: the credential is masked and the rest intact"
        );
        let r = s.injection_record("tool_description").await;
        assert_eq!(r["decision"], "block", "{how}: {r}");
        let r = s.injection_record("tool_result").await;
        assert_eq!(r["decision"], "block", "{how}: {r}");
    }
}

async fn flag_delivers_and_records(mode: Mode) {
    let server = McpServer::start(false);
    let s = mcp_stack(mode, None, &server).await;
    let out = s.client();
    let tools = &out["tools/list"]["ok"];
    assert!(
        tools["add"]
            .as_str()
            .is_some_and(|d| d.contains("<IMPORTANT>")),
        "{mode:?}: flagged tools/list not delivered: {out}"
    );
    assert!(
        ok_text(&out, "weather").contains("Ignore all previous instructions"),
        "{mode:?}: flagged tool result not delivered: {out}"
    );
    assert_eq!(ok_text(&out, "forecast"), CLEAN_RESULT);
    assert_eq!(ok_text(&out, "credentials"), KEY_RESULT_MASKED);
    for role in ["tool_description", "tool_result"] {
        let r = s.injection_record(role).await;
        assert_eq!(r["decision"], "flag", "{mode:?} {role}: {r}");
    }
}

sluice_e2e::scenarios! {
    modes: [ext_proc => ExtProc, wasm => Wasm],
    tests: [block_refuses_poisoned_messages, flag_delivers_and_records]
}
