//! One measured run: N concurrent chat-completions streams through one stack, each paced by
//! the mock at a fixed token rate, with memory sampled while all of them are open.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::api::ApiShape;
use crate::client::{self, BodyEnd, Next};
use crate::harness::{Mode, Stack};
use crate::latency::procfs;
use crate::latency::record::{ChatSseReader, StreamRecord, StreamTimings};
use crate::scenario::api_request;
use crate::upstream::{Script, SendClock, synthetic_tokens};

/// How many streams, how long, how fast.
#[derive(Clone, Copy, Debug)]
pub struct RunSpec {
    pub streams: usize,
    pub tokens: usize,
    /// Pause between two upstream writes of one stream (1 / token rate).
    pub gap: Duration,
}

impl RunSpec {
    /// Stream starts are spread evenly over one gap: providers' streams do not tick in
    /// lock-step, and a synchronised burst would measure the burst, not the path.
    fn start_offset(&self, index: usize) -> Duration {
        let n = u32::try_from(self.streams.max(1)).unwrap_or(u32::MAX);
        let i = u32::try_from(index).unwrap_or(u32::MAX);
        self.gap / n * i
    }

    /// Upper bound for one stream: its nominal length plus generous slack.
    fn stream_deadline(&self) -> Duration {
        let writes = u32::try_from(self.tokens + 3).unwrap_or(u32::MAX);
        self.gap * writes * 3 + Duration::from_secs(30)
    }

    /// When (after the run starts) every stream is open and about half-way.
    fn midway(&self) -> Duration {
        let half = u32::try_from(self.tokens / 2 + 1).unwrap_or(u32::MAX);
        self.gap + self.gap * half
    }
}

/// Resident memory of the stack's processes (KiB).
#[derive(Clone, Copy, Debug, Default)]
pub struct MemorySample {
    pub sluice_kib: Option<u64>,
    pub envoy_kib: Option<u64>,
    /// Streams whose response head had arrived and whose body had not ended.
    pub open_streams: usize,
}

impl MemorySample {
    pub fn take(stack: &Stack, open_streams: usize) -> MemorySample {
        MemorySample {
            sluice_kib: stack.sluice_pid().and_then(procfs::rss_kib),
            envoy_kib: procfs::rss_kib(stack.envoy_pid()),
            open_streams,
        }
    }
}

/// CPU time the stack's processes spent during a run (ticks).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuUse {
    pub sluice_ticks: Option<u64>,
    pub envoy_ticks: u64,
}

pub struct RunResult {
    pub mode: Mode,
    pub spec: RunSpec,
    pub timings: Vec<StreamTimings>,
    /// One line per failed stream (status, cut, timeout, text mismatch).
    pub failures: Vec<String>,
    pub idle: MemorySample,
    pub midway: MemorySample,
    pub cpu: CpuUse,
    pub wall: Duration,
}

/// Counts open streams; the guard decrements on every way out.
struct OpenGuard(Arc<AtomicUsize>);

impl OpenGuard {
    fn new(count: &Arc<AtomicUsize>) -> OpenGuard {
        count.fetch_add(1, Ordering::SeqCst);
        OpenGuard(count.clone())
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `spec` through `stack`; never longer than the streams' deadline plus start-up.
pub async fn run(stack: &Stack, spec: RunSpec) -> RunResult {
    let tokens = Arc::new(synthetic_tokens(spec.tokens));
    let open_count = Arc::new(AtomicUsize::new(0));
    let idle = MemorySample::take(stack, 0);
    let cpu_before = (
        stack.sluice_pid().and_then(procfs::cpu_ticks),
        procfs::cpu_ticks(stack.envoy_pid()),
    );
    let started = Instant::now();
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..spec.streams {
        let clock = SendClock::new();
        let script = stack.mock().register(
            Script::deltas(tokens.as_slice())
                .gap(spec.gap)
                .send_clock(clock.clone()),
        );
        let request = api_request(
            ApiShape::OpenAiChat,
            "Describe a quiet river valley in the evening.",
            true,
        )
        .headers([script.header()]);
        let addr = stack.addr();
        let tokens = tokens.clone();
        let open_count = open_count.clone();
        let begin = start + spec.start_offset(index);
        let deadline = spec.stream_deadline();
        tasks.spawn(async move {
            tokio::time::sleep_until(begin).await;
            let until = Instant::now() + deadline;
            let mut open = client::open(addr, &request, HEAD_TIMEOUT)
                .await
                .map_err(|e| format!("no response: {e}"))?;
            if open.status != 200 {
                return Err(format!("status {}", open.status));
            }
            let _open = OpenGuard::new(&open_count);
            let mut reader = ChatSseReader::new();
            loop {
                let left = until.saturating_duration_since(Instant::now());
                match open.next_chunk(left).await {
                    Next::Data(bytes) => reader.feed(&bytes, Instant::now()),
                    Next::End(BodyEnd::Complete) => break,
                    Next::End(BodyEnd::Cut(why)) => return Err(format!("stream cut: {why}")),
                    Next::End(BodyEnd::TimedOut) => {
                        return Err(format!("stream not finished within {deadline:?}"));
                    }
                }
            }
            let expected: usize = tokens.iter().map(String::len).sum();
            if reader.text() != tokens.concat() {
                // Lengths only: the text is benign, but reports never carry response text.
                return Err(format!(
                    "text differs from what was sent ({} bytes received, {expected} sent)",
                    reader.text().len()
                ));
            }
            Ok(StreamRecord {
                tokens: tokens.to_vec(),
                sent: clock.instants(),
                request_sent: open.sent_at,
                events: reader.into_events(),
            })
        });
    }

    tokio::time::sleep_until(start + spec.midway()).await;
    let midway = MemorySample::take(stack, open_count.load(Ordering::SeqCst));

    let mut timings = Vec::with_capacity(spec.streams);
    let mut failures = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(record)) => match record.timings() {
                Ok(t) => timings.push(t),
                Err(e) => failures.push(e.to_string()),
            },
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(format!("stream task failed: {e}")),
        }
    }
    let wall = started.elapsed();
    let cpu_after = (
        stack.sluice_pid().and_then(procfs::cpu_ticks),
        procfs::cpu_ticks(stack.envoy_pid()),
    );
    let cpu = CpuUse {
        sluice_ticks: match (cpu_before.0, cpu_after.0) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        },
        envoy_ticks: match (cpu_before.1, cpu_after.1) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => 0,
        },
    };
    RunResult {
        mode: stack.mode,
        spec,
        timings,
        failures,
        idle,
        midway,
        cpu,
        wall,
    }
}
