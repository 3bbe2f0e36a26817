//! One measured run: N concurrent chat-completions streams through one stack, each paced by
//! the mock at a fixed token rate, with memory sampled while all of them are open.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::api::ApiShape;
use crate::client::{self, BodyEnd, Next};
use crate::harness::{Mode, Stack};
use crate::latency::kinds::StreamKind;
use crate::latency::procfs;
use crate::latency::record::{ChatSseReader, StreamRecord, StreamTimings};
use crate::scenario::api_request;
use crate::upstream::{Script, ScriptHandle, SendClock};

/// How many streams, how long, how fast, and what they say.
#[derive(Clone, Copy, Debug)]
pub struct RunSpec {
    pub streams: usize,
    pub tokens: usize,
    /// Pause between two upstream writes of one stream (1 / token rate).
    pub gap: Duration,
    pub kind: StreamKind,
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

    /// Start offsets of the probe streams: one every one and a half gaps from half-way
    /// until the N streams have about ten tokens left, so every probe runs alongside all N.
    fn probe_offsets(&self) -> Vec<Duration> {
        let step = self.gap * 3 / 2;
        let last = self
            .gap
            .saturating_mul(u32::try_from(self.tokens.saturating_sub(10)).unwrap_or(u32::MAX));
        let mut out = Vec::new();
        let mut at = self.midway() + self.gap / 2;
        while at + self.gap * u32::try_from(PROBE_TOKENS + 3).unwrap_or(u32::MAX) <= last {
            out.push(at);
            at += step;
        }
        out
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
    /// The probe streams started while all N were flowing, for their time to first token
    /// (their tokens count nowhere else).
    pub probes: Vec<StreamTimings>,
    /// One line per failed stream (status, cut, timeout, text mismatch).
    pub failures: Vec<String>,
    pub idle: MemorySample,
    pub midway: MemorySample,
    pub cpu: CpuUse,
    pub wall: Duration,
}

/// Counts open streams; the guard decrements on every way out.
pub(crate) struct OpenGuard(Arc<AtomicUsize>);

impl OpenGuard {
    pub(crate) fn new(count: &Arc<AtomicUsize>) -> OpenGuard {
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

/// Tokens of a probe stream: enough for a first token and a clean end.
const PROBE_TOKENS: usize = 3;

/// A stream the benchmark can send: the request selecting its script, and its send clock.
pub(crate) struct Planned {
    request: client::Request,
    clock: SendClock,
    tokens: Arc<Vec<String>>,
    /// The registered script, for [`crate::upstream::MockUpstream::forget`].
    pub(crate) script: ScriptHandle,
}

pub(crate) fn plan(stack: &Stack, tokens: &Arc<Vec<String>>, gap: Duration) -> Planned {
    let clock = SendClock::new();
    let script = stack.mock().register(
        Script::deltas(tokens.as_slice())
            .gap(gap)
            .send_clock(clock.clone()),
    );
    let request = api_request(
        ApiShape::OpenAiChat,
        "Describe a quiet river valley in the evening.",
        true,
    )
    .headers([script.header()]);
    Planned {
        request,
        clock,
        tokens: tokens.clone(),
        script,
    }
}

/// Sends one planned stream at `begin` and records what arrived, bounded by `deadline`.
pub(crate) async fn stream(
    addr: std::net::SocketAddr,
    planned: Planned,
    begin: tokio::time::Instant,
    deadline: Duration,
    open_count: Arc<AtomicUsize>,
) -> Result<StreamRecord, String> {
    tokio::time::sleep_until(begin).await;
    let until = Instant::now() + deadline;
    let mut open = client::open(addr, &planned.request, HEAD_TIMEOUT)
        .await
        .map_err(|e| format!("no response: {e}"))?;
    if open.status != 200 {
        return Err(format!("status {}", open.status));
    }
    let _open = OpenGuard::new(&open_count);
    let mut reader = ChatSseReader::new();
    let ended = loop {
        let left = until.saturating_duration_since(Instant::now());
        match open.next_chunk(left).await {
            Next::Data(bytes) => reader.feed(&bytes, Instant::now()),
            Next::End(BodyEnd::Complete) => break Instant::now(),
            Next::End(BodyEnd::Cut(why)) => return Err(format!("stream cut: {why}")),
            Next::End(BodyEnd::TimedOut) => {
                return Err(format!("stream not finished within {deadline:?}"));
            }
        }
    };
    let tokens = planned.tokens;
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
        sent: planned.clock.instants(),
        request_sent: open.sent_at,
        events: reader.into_events(),
        ended,
    })
}

/// Runs `spec` through `stack`; never longer than the streams' deadline plus start-up.
///
/// Besides the N streams, short probe streams start one by one in the second half of the
/// run, while all N are flowing: their time to first token is what a new request sees on a
/// loaded stack. The N streams' own first tokens measure a start-up burst instead (N
/// requests within one token interval).
pub async fn run(stack: &Stack, spec: RunSpec) -> RunResult {
    let open_count = Arc::new(AtomicUsize::new(0));
    let probe_count = Arc::new(AtomicUsize::new(0));
    let idle = MemorySample::take(stack, 0);
    let cpu_before = (
        stack.sluice_pid().and_then(procfs::cpu_ticks),
        procfs::cpu_ticks(stack.envoy_pid()),
    );
    let started = Instant::now();
    let start = tokio::time::Instant::now();
    let deadline = spec.stream_deadline();
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..spec.streams {
        // Each stream its own seed: code streams differ in language and order, JSON streams
        // in their values, as concurrent answers do.
        let tokens = Arc::new(spec.kind.tokens(spec.tokens, index as u64));
        let planned = plan(stack, &tokens, spec.gap);
        tasks.spawn(stream(
            stack.addr(),
            planned,
            start + spec.start_offset(index),
            deadline,
            open_count.clone(),
        ));
    }
    let mut probes = tokio::task::JoinSet::new();
    for (k, offset) in spec.probe_offsets().into_iter().enumerate() {
        let probe_tokens = Arc::new(spec.kind.tokens(PROBE_TOKENS, k as u64));
        let planned = plan(stack, &probe_tokens, spec.gap);
        probes.spawn(stream(
            stack.addr(),
            planned,
            start + offset,
            deadline,
            probe_count.clone(),
        ));
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
    let mut probe_timings = Vec::new();
    while let Some(joined) = probes.join_next().await {
        match joined {
            Ok(Ok(record)) => match record.timings() {
                Ok(t) => probe_timings.push(t),
                Err(e) => failures.push(format!("probe: {e}")),
            },
            Ok(Err(e)) => failures.push(format!("probe: {e}")),
            Err(e) => failures.push(format!("probe task failed: {e}")),
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
        probes: probe_timings,
        failures,
        idle,
        midway,
        cpu,
        wall,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(streams: usize, tokens: usize) -> RunSpec {
        RunSpec {
            streams,
            tokens,
            gap: Duration::from_millis(20),
            kind: StreamKind::Words,
        }
    }

    #[test]
    fn starts_spread_over_one_gap() {
        let s = spec(64, 100);
        assert_eq!(s.start_offset(0), Duration::ZERO);
        assert!(s.start_offset(63) < s.gap);
        assert!(s.start_offset(1) > Duration::ZERO);
    }

    #[test]
    fn probes_run_while_all_streams_flow() {
        let s = spec(64, 100);
        let probes = s.probe_offsets();
        assert!(probes.len() >= 20, "{}", probes.len());
        // The last stream starts within one gap and ends after its 103 writes.
        let all_open_from = s.gap;
        let first_ends_at = s.gap * 102;
        let probe_len = s.gap * u32::try_from(PROBE_TOKENS + 3).unwrap_or(u32::MAX);
        assert!(
            probes
                .iter()
                .all(|&p| p >= all_open_from + s.midway() - s.gap)
        );
        assert!(probes.iter().all(|&p| p + probe_len <= first_ends_at));
        assert!(spec(64, 30).probe_offsets().is_empty());
    }
}
