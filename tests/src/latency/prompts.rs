//! Long request bodies: coding-agent prompts of a few hundred KB (the repository's own
//! source, fenced, between prose instructions) sent at a fixed rate through one stack whose
//! upstream answers at once, for the request-phase latency and the memory each in-flight
//! request costs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::api::ApiShape;
use crate::client::{self, BodyEnd, Request};
use crate::harness::{Stack, workspace_root};
use crate::latency::procfs;
use crate::latency::report::mode_name;
use crate::latency::run::OpenGuard;
use crate::latency::stats::{self, Summary, ms};
use crate::scenario::api_request;

/// What one long-prompt run sends.
#[derive(Clone, Copy, Debug)]
pub struct PromptSpec {
    /// Requests per second, started on a fixed schedule whatever the answers do.
    pub rate: f64,
    pub duration: Duration,
    /// Size of each request body (JSON), bytes.
    pub body_bytes: usize,
    /// Requests sent all at once after the paced run, for the memory per in-flight request.
    pub burst: usize,
}

/// Instructions between the code blocks: what an agent's prompt says around the files.
const PROSE: &[&str] = &[
    "You are working in a Rust workspace. Read the files below carefully before answering. \
     Keep the public interfaces as they are, prefer small focused changes, and explain each \
     change in one or two sentences.",
    "The next file belongs to the same crate. Note how errors are carried with context and \
     how every loop is bounded; keep that style in anything you add.",
    "Here is another module. Summarise what it is responsible for, which types it exposes, \
     and where its state lives, then list anything that looks surprising.",
    "Tests for this code run in continuous integration on every change. When you propose an \
     edit, say which existing test covers it or which new test should be added.",
    "Please look for places where a buffer is copied more than once, where a value is cloned \
     only to be dropped, or where a lock is held across an await point.",
];

/// Source files (their part before the unit tests), without the detectors and their
/// pattern tables: a benign prompt, which the built-in policy forwards unchanged.
fn source_files() -> Vec<String> {
    let root = workspace_root();
    let mut files = Vec::new();
    for dir in [
        "core/src",
        "ext-proc-server/src",
        "wasm-filter/src",
        "tests/src",
    ] {
        collect_rs(&root.join(dir), &mut files);
    }
    files.sort();
    files
        .iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            ![
                "detect",
                "inject",
                "scenario",
                "api.rs",
                "upstream.rs",
                "record.rs",
            ]
            .iter()
            .any(|skip| s.contains(skip))
        })
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|text| match text.find("#[cfg(test)]") {
            Some(at) => text.get(..at).unwrap_or_default().to_owned(),
            None => text,
        })
        .filter(|text| !text.contains('@') && !text.is_empty())
        .collect()
}

fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A chat-completions request (not streamed) whose JSON body is about `body_bytes` long:
/// prose and fenced source files alternating, cut at a line end.
pub fn coding_request(body_bytes: usize) -> Request {
    const CLOSING: &str = "\n\nWhat would you change first, and why?";
    let files = source_files();
    let mut prompt = String::new();
    let envelope = api_request(ApiShape::OpenAiChat, "", false).body.len() + CLOSING.len();
    let mut k = 0usize;
    // JSON escaping makes the body longer than the text: measure as it grows.
    while api_json_len(&prompt) + envelope < body_bytes && k < 10_000 {
        let prose = PROSE.get(k % PROSE.len()).copied().unwrap_or_default();
        let _ = write!(prompt, "{prose}\n\n");
        if let Some(file) = files.get(k % files.len().max(1)) {
            let _ = write!(prompt, "```rust\n{file}```\n\n");
        }
        k += 1;
    }
    while api_json_len(&prompt) + envelope > body_bytes {
        let cut = prompt.len().saturating_sub(256);
        let at = prompt.get(..cut).and_then(|p| p.rfind('\n')).unwrap_or(cut);
        prompt.truncate(at);
    }
    prompt.push_str(CLOSING);
    api_request(ApiShape::OpenAiChat, &prompt, false).header("x-mock-tokens", "8")
}

fn api_json_len(text: &str) -> usize {
    serde_json::to_string(text).map_or(text.len(), |s| s.len())
}

/// What one request saw.
struct Outcome {
    /// Request sent → response head.
    head: Duration,
    /// Request sent → response body complete.
    total: Duration,
}

async fn one(
    addr: std::net::SocketAddr,
    request: Arc<Request>,
    in_flight: Arc<AtomicUsize>,
) -> Result<Outcome, String> {
    let _guard = OpenGuard::new(&in_flight);
    let open = client::open(addr, &request, Duration::from_secs(30))
        .await
        .map_err(|e| format!("no response: {e}"))?;
    let head = open.sent_at.elapsed();
    let status = open.status;
    let sent_at = open.sent_at;
    let response = open.collect(Duration::from_secs(30)).await;
    if status != 200 {
        return Err(format!("status {status}"));
    }
    match response.end {
        BodyEnd::Complete => Ok(Outcome {
            head,
            total: sent_at.elapsed(),
        }),
        BodyEnd::Cut(why) => Err(format!("cut: {why}")),
        BodyEnd::TimedOut => Err("timeout".to_owned()),
    }
}

/// Memory of the stack's processes: resident before, and the peak (`VmHWM`, reset before).
#[derive(Clone, Copy, Debug, Default)]
pub struct Peak {
    pub sluice_idle: Option<u64>,
    pub sluice_peak: Option<u64>,
    pub envoy_idle: Option<u64>,
    pub envoy_peak: Option<u64>,
}

impl Peak {
    fn begin(stack: &Stack) -> Peak {
        let sluice = stack.sluice_pid();
        let envoy = stack.envoy_pid();
        if let Some(pid) = sluice {
            procfs::reset_peak(pid);
        }
        procfs::reset_peak(envoy);
        Peak {
            sluice_idle: sluice.and_then(procfs::rss_kib),
            envoy_idle: procfs::rss_kib(envoy),
            ..Peak::default()
        }
    }

    fn end(mut self, stack: &Stack) -> Peak {
        self.sluice_peak = stack.sluice_pid().and_then(procfs::peak_rss_kib);
        self.envoy_peak = procfs::peak_rss_kib(stack.envoy_pid());
        self
    }

    pub fn sluice_delta(&self) -> Option<i64> {
        Some(i64::try_from(self.sluice_peak?).ok()? - i64::try_from(self.sluice_idle?).ok()?)
    }

    pub fn envoy_delta(&self) -> Option<i64> {
        Some(i64::try_from(self.envoy_peak?).ok()? - i64::try_from(self.envoy_idle?).ok()?)
    }
}

/// One phase's figures (the paced run, or the burst).
pub struct Phase {
    pub sent: usize,
    pub ok: usize,
    pub failures: BTreeMap<String, usize>,
    pub head: Option<Summary>,
    pub total: Option<Summary>,
    /// Most requests the client had outstanding at once (sampled every 2 ms).
    pub max_in_flight: usize,
    pub memory: Peak,
    pub wall: Duration,
}

pub struct PromptResult {
    pub label: &'static str,
    pub spec: PromptSpec,
    pub body_bytes: usize,
    /// Whether the upstream received the prompt byte for byte (checked on one request).
    pub intact: Option<bool>,
    pub paced: Phase,
    pub burst: Phase,
}

async fn phase(stack: &Stack, request: &Arc<Request>, starts: Vec<Duration>) -> Phase {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let memory = Peak::begin(stack);
    let began = Instant::now();
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let sent = starts.len();
    let last = starts.last().copied().unwrap_or_default();
    {
        let request = request.clone();
        let in_flight = in_flight.clone();
        let addr = stack.addr();
        tasks.spawn(async move {
            let mut inner = tokio::task::JoinSet::new();
            for at in starts {
                tokio::time::sleep_until(start + at).await;
                inner.spawn(one(addr, request.clone(), in_flight.clone()));
            }
            let mut out = Vec::new();
            while let Some(j) = inner.join_next().await {
                out.push(j.map_err(|e| format!("task: {e}")).and_then(|r| r));
            }
            out
        });
    }
    let mut max_in_flight = 0usize;
    let mut results = Vec::new();
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                Some(Ok(r)) => results = r,
                Some(Err(e)) => results.push(Err(format!("task: {e}"))),
                None => break,
            },
            () = tokio::time::sleep(Duration::from_millis(2)) => {
                max_in_flight = max_in_flight.max(in_flight.load(Ordering::SeqCst));
            }
            () = tokio::time::sleep_until(start + last + Duration::from_secs(90)) => {
                tasks.abort_all();
            }
        }
    }
    let memory = memory.end(stack);
    let mut failures = BTreeMap::new();
    let mut heads = Vec::new();
    let mut totals = Vec::new();
    for r in results {
        match r {
            Ok(o) => {
                heads.push(o.head);
                totals.push(o.total);
            }
            Err(e) => {
                let kind = e.split(':').next().unwrap_or(&e).to_owned();
                *failures.entry(kind).or_default() += 1;
            }
        }
    }
    Phase {
        sent,
        ok: heads.len(),
        failures,
        head: stats::summarize(heads),
        total: stats::summarize(totals),
        max_in_flight,
        memory,
        wall: began.elapsed(),
    }
}

/// Checks one request arrives intact, then runs the paced phase and the burst.
pub async fn run(stack: &Stack, spec: PromptSpec, request: &Request) -> PromptResult {
    let request = Arc::new(request.clone());
    // One request with the mock keeping it: the prompt must arrive byte for byte, or the
    // run would measure a prompt Sluice rewrote. Also primes the connection pools.
    let before = stack.mock().requests().len();
    let check = client::send(stack.addr(), &request, Duration::from_secs(30)).await;
    let intact = match check {
        Ok(r) if r.status == 200 => stack
            .mock()
            .requests()
            .get(before)
            .map(|got| got.body == request.body),
        _ => None,
    };
    stack.mock().keep_requests(false);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let count = (spec.rate * spec.duration.as_secs_f64()).round().max(1.0) as usize;
    let step = Duration::from_secs_f64(1.0 / spec.rate);
    let starts = (0..count)
        .map(|i| step * u32::try_from(i).unwrap_or(u32::MAX))
        .collect();
    let paced = phase(stack, &request, starts).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let burst = phase(stack, &request, vec![Duration::ZERO; spec.burst]).await;
    stack.mock().keep_requests(true);
    PromptResult {
        label: mode_name(stack.mode),
        spec,
        body_bytes: request.body.len(),
        intact,
        paced,
        burst,
    }
}

fn cell(v: Option<i64>) -> String {
    v.map_or_else(|| "–".to_owned(), |k| k.to_string())
}

fn summary(s: Option<Summary>) -> (String, String) {
    s.map_or_else(
        || ("–".to_owned(), "–".to_owned()),
        |s| (ms(s.p50), ms(s.p99)),
    )
}

/// The markdown tables of a set of long-prompt runs; the first is the baseline.
pub fn render(results: &[PromptResult]) -> String {
    let mut out = String::new();
    let Some(base) = results.first() else {
        return out;
    };
    let _ = writeln!(
        out,
        "Body {} bytes (JSON), {:.0} requests/s for {} s, then a burst of {} at once. Latency: request sent → response head, ms; the upstream answers at once (8-token JSON answer).\n",
        base.body_bytes,
        base.spec.rate,
        base.spec.duration.as_secs(),
        base.spec.burst
    );
    let _ = writeln!(
        out,
        "| mode | prompt intact | ok / sent | failures | head p50 | head p99 | added p50 | added p99 | complete p50 | complete p99 | max in flight | sluice idle KiB | sluice peak KiB | Envoy idle KiB | Envoy peak KiB |"
    );
    let _ = writeln!(
        out,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in results {
        let p = &r.paced;
        let (h50, h99) = summary(p.head);
        let (t50, t99) = summary(p.total);
        let (a50, a99) = match (p.head, base.paced.head) {
            (Some(m), Some(b)) if !std::ptr::eq(r, base) => {
                (stats::added_ms(m.p50, b.p50), stats::added_ms(m.p99, b.p99))
            }
            _ => ("–".to_owned(), "–".to_owned()),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {}/{} | {:?} | {h50} | {h99} | {a50} | {a99} | {t50} | {t99} | {} | {} | {} | {} | {} |",
            r.label,
            r.intact
                .map_or("unchecked", |b| if b { "yes" } else { "**no**" }),
            p.ok,
            p.sent,
            p.failures,
            p.max_in_flight,
            cell(p.memory.sluice_idle.and_then(|v| i64::try_from(v).ok())),
            cell(p.memory.sluice_peak.and_then(|v| i64::try_from(v).ok())),
            cell(p.memory.envoy_idle.and_then(|v| i64::try_from(v).ok())),
            cell(p.memory.envoy_peak.and_then(|v| i64::try_from(v).ok())),
        );
    }
    let _ = writeln!(
        out,
        "\nMemory per in-flight request: peak RSS (VmHWM, reset before each phase) minus RSS before, divided by the most requests in flight; KiB, and as a multiple of the body size. For wasm, Envoy's growth less Envoy alone's.\n"
    );
    let _ = writeln!(
        out,
        "| mode | phase | in flight | sluice Δ KiB | sluice per request KiB | × body | Envoy Δ KiB | Envoy per request KiB | Envoy per request vs. alone, × body | burst head p50 | burst head p99 | burst ok |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    let body_kib = base.body_bytes as f64 / 1024.0;
    for r in results {
        for (name, p, b) in [
            ("paced", &r.paced, &base.paced),
            ("burst", &r.burst, &base.burst),
        ] {
            let n = p.max_in_flight.max(1) as f64;
            let per = |d: Option<i64>| d.map(|d| d as f64 / n);
            let sluice = per(p.memory.sluice_delta());
            let envoy = per(p.memory.envoy_delta());
            let base_envoy = b
                .memory
                .envoy_delta()
                .map(|d| d as f64 / b.max_in_flight.max(1) as f64);
            let vs_alone = match (envoy, base_envoy) {
                (Some(e), Some(a)) if !std::ptr::eq(r, base) => {
                    format!("{:.2}", (e - a) / body_kib)
                }
                _ => "–".to_owned(),
            };
            let f1 = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.0}"));
            let times = sluice.map_or_else(|| "–".to_owned(), |v| format!("{:.2}", v / body_kib));
            let (b50, b99) = if name == "burst" {
                summary(p.head)
            } else {
                ("".to_owned(), "".to_owned())
            };
            let _ = writeln!(
                out,
                "| {} | {name} | {} | {} | {} | {times} | {} | {} | {vs_alone} | {b50} | {b99} | {} |",
                r.label,
                p.max_in_flight,
                cell(p.memory.sluice_delta()),
                f1(sluice),
                cell(p.memory.envoy_delta()),
                f1(envoy),
                if name == "burst" {
                    format!("{}/{}", p.ok, p.sent)
                } else {
                    String::new()
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_has_the_asked_size_and_is_json() {
        let r = coding_request(200 * 1024);
        assert!(r.body.len() <= 200 * 1024, "{}", r.body.len());
        assert!(r.body.len() > 190 * 1024, "{}", r.body.len());
        let v: serde_json::Value =
            serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}"));
        let text = v
            .pointer("/messages/1/content")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        assert!(text.contains("```rust\n"));
        assert!(text.contains("You are working in a Rust workspace"));
    }
}
