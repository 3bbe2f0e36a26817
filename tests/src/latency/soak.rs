//! Soak: N concurrent paced streams through one stack for a fixed time, each finished stream
//! replaced by a new one, reported minute by minute (streams started, completed, failed,
//! per-token delay, RSS) and checked at the end for streams Envoy still holds open.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::harness::Stack;
use crate::latency::admin;
use crate::latency::procfs;
use crate::latency::report::mode_name;
use crate::latency::run::{plan, stream};
use crate::latency::stats::{self, Summary, ms};
use crate::upstream::synthetic_tokens;

/// What one soak runs.
#[derive(Clone, Copy, Debug)]
pub struct SoakSpec {
    /// Streams open at any time once ramped up.
    pub streams: usize,
    pub tokens: usize,
    /// Pause between two upstream writes of one stream (1 / token rate).
    pub gap: Duration,
    /// New streams start until this much time has passed; then the open ones finish.
    pub duration: Duration,
    /// Length of one report row.
    pub interval: Duration,
}

impl SoakSpec {
    /// Nominal length of one stream: role event, tokens, finish (one gap apart).
    pub fn stream_length(&self) -> Duration {
        self.gap * u32::try_from(self.tokens + 1).unwrap_or(u32::MAX)
    }

    /// A stream that takes three times its length plus 30 s has failed.
    pub fn stream_deadline(&self) -> Duration {
        self.stream_length() * 3 + Duration::from_secs(30)
    }

    /// When worker `index` starts its first stream: starts spread over one stream length,
    /// so streams end, and are replaced, evenly rather than in waves.
    fn first_start(&self, index: usize) -> Duration {
        let n = u32::try_from(self.streams.max(1)).unwrap_or(u32::MAX);
        let i = u32::try_from(index).unwrap_or(u32::MAX);
        self.stream_length() / n * i
    }

    fn rows(&self) -> usize {
        let d = self.duration.as_secs_f64() / self.interval.as_secs_f64();
        // Truncation is intended: a partial last interval still gets a row.
        (d.ceil() as usize).max(1)
    }
}

/// Accumulates one report interval; streams count in the interval they ended in.
#[derive(Default)]
struct Bucket {
    started: usize,
    completed: usize,
    failed: usize,
    failures: BTreeMap<String, usize>,
    delays: Vec<Duration>,
    first_tokens: Vec<Duration>,
}

/// Memory, descriptors and Envoy's open gauges at one instant.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    pub at: Duration,
    pub sluice_kib: Option<u64>,
    pub envoy_kib: Option<u64>,
    pub sluice_fds: Option<usize>,
    pub envoy_fds: Option<usize>,
    /// Streams with a response head and no end yet, as the client counts them.
    pub client_open: usize,
    pub gauges: Option<BTreeMap<String, u64>>,
}

impl Sample {
    async fn take(stack: &Stack, at: Duration, client_open: usize) -> Sample {
        let sluice = stack.sluice_pid();
        let envoy = stack.envoy_pid();
        Sample {
            at,
            sluice_kib: sluice.and_then(procfs::rss_kib),
            envoy_kib: procfs::rss_kib(envoy),
            sluice_fds: sluice.and_then(procfs::open_fds),
            envoy_fds: procfs::open_fds(envoy),
            client_open,
            gauges: admin::open_gauges(stack).await,
        }
    }
}

/// One report row.
pub struct Row {
    /// 1-based interval number; `None` for the drain after the last interval.
    pub interval: Option<usize>,
    pub started: usize,
    pub completed: usize,
    pub failed: usize,
    pub failures: BTreeMap<String, usize>,
    pub delay: Option<Summary>,
    pub first_token: Option<Summary>,
    /// At the end of the interval.
    pub sample: Sample,
    /// Largest RSS seen during the interval (sampled every second).
    pub peak_sluice_kib: Option<u64>,
    pub peak_envoy_kib: Option<u64>,
}

pub struct SoakResult {
    pub label: &'static str,
    pub spec: SoakSpec,
    pub rows: Vec<Row>,
    /// Before the first stream.
    pub idle: Sample,
    /// After every stream ended and Envoy's gauges were polled back to zero (or gave up).
    pub end: Sample,
    /// How long after the last stream ended the open-request gauges read zero.
    pub closed_after: Option<Duration>,
    pub wall: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Failure messages carry lengths and durations; group them by their first words.
fn failure_kind(message: &str) -> String {
    message
        .split(|c: char| c.is_ascii_digit() || c == '(' || c == ':')
        .next()
        .unwrap_or(message)
        .trim()
        .to_owned()
}

/// Runs the soak; `progress` gets each row as its interval closes.
pub async fn soak(stack: &Arc<Stack>, spec: SoakSpec, progress: impl Fn(&Row)) -> SoakResult {
    stack.mock().keep_requests(false);
    let tokens = Arc::new(synthetic_tokens(spec.tokens));
    let rows = spec.rows();
    // One bucket per interval plus the drain.
    let buckets: Arc<Mutex<Vec<Bucket>>> =
        Arc::new(Mutex::new((0..=rows).map(|_| Bucket::default()).collect()));
    let open_count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let idle = Sample::take(stack, Duration::ZERO, 0).await;
    let started = Instant::now();
    let start = tokio::time::Instant::now();
    let bucket_of = move |at: Instant| -> usize {
        let elapsed = at.saturating_duration_since(started);
        if elapsed >= spec.duration {
            return rows;
        }
        let k = (elapsed.as_secs_f64() / spec.interval.as_secs_f64()) as usize;
        k.min(rows - 1)
    };
    let deadline = spec.stream_deadline();

    let mut workers = tokio::task::JoinSet::new();
    for index in 0..spec.streams {
        let addr = stack.addr();
        let tokens = tokens.clone();
        let buckets = buckets.clone();
        let open_count = open_count.clone();
        let stop = stop.clone();
        let stack = stack.clone();
        let first = start + spec.first_start(index);
        workers.spawn(async move {
            tokio::time::sleep_until(first).await;
            while !stop.load(Ordering::SeqCst) {
                let begun = Instant::now();
                if begun.saturating_duration_since(started) >= spec.duration {
                    break;
                }
                if let Some(b) = lock(&buckets).get_mut(bucket_of(begun)) {
                    b.started += 1;
                }
                let planned = plan(&stack, &tokens, spec.gap);
                let script = planned.script.clone();
                let outcome = stream(
                    addr,
                    planned,
                    tokio::time::Instant::now(),
                    deadline,
                    open_count.clone(),
                )
                .await;
                stack.mock().forget(&script);
                let timings = outcome.and_then(|r| r.timings().map_err(|e| e.to_string()));
                let mut all = lock(&buckets);
                let Some(bucket) = all.get_mut(bucket_of(Instant::now())) else {
                    continue;
                };
                match timings {
                    Ok(t) => {
                        bucket.completed += 1;
                        bucket.delays.extend(t.tokens.iter().map(|x| x.delay));
                        bucket.first_tokens.push(t.first_token);
                    }
                    Err(e) => {
                        bucket.failed += 1;
                        *bucket.failures.entry(failure_kind(&e)).or_default() += 1;
                    }
                }
            }
        });
    }

    // Sample every second for the peaks; close a row at each interval's end.
    let mut out = Vec::with_capacity(rows + 1);
    let mut peaks: (Option<u64>, Option<u64>) = (None, None);
    let mut next_row = 1usize;
    let mut tick = start;
    while next_row <= rows {
        tick += Duration::from_secs(1);
        tokio::time::sleep_until(tick).await;
        let sluice = stack.sluice_pid().and_then(procfs::rss_kib);
        let envoy = procfs::rss_kib(stack.envoy_pid());
        peaks.0 = peaks.0.max(sluice);
        peaks.1 = peaks.1.max(envoy);
        let row_end =
            (spec.interval * u32::try_from(next_row).unwrap_or(u32::MAX)).min(spec.duration);
        if tick.duration_since(start) >= row_end {
            let sample =
                Sample::take(stack, started.elapsed(), open_count.load(Ordering::SeqCst)).await;
            let row = close_row(&buckets, next_row - 1, Some(next_row), sample, peaks);
            progress(&row);
            out.push(row);
            peaks = (None, None);
            next_row += 1;
        }
    }
    stop.store(true, Ordering::SeqCst);
    // The open streams finish (each bounded by its deadline); a sampler keeps the peaks.
    let drain_limit = tokio::time::Instant::now() + deadline + Duration::from_secs(5);
    loop {
        tokio::select! {
            joined = workers.join_next() => {
                if joined.is_none() {
                    break;
                }
            }
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                let sluice = stack.sluice_pid().and_then(procfs::rss_kib);
                let envoy = procfs::rss_kib(stack.envoy_pid());
                peaks.0 = peaks.0.max(sluice);
                peaks.1 = peaks.1.max(envoy);
            }
            () = tokio::time::sleep_until(drain_limit) => {
                workers.abort_all();
            }
        }
    }
    let drained_at = Instant::now();
    let sample = Sample::take(stack, started.elapsed(), open_count.load(Ordering::SeqCst)).await;
    let row = close_row(&buckets, rows, None, sample, peaks);
    progress(&row);
    out.push(row);

    // Envoy's gauges: poll until every open-request gauge reads zero, at most 30 s.
    let mut closed_after = None;
    let mut end = Sample::default();
    while drained_at.elapsed() < Duration::from_secs(30) {
        end = Sample::take(stack, started.elapsed(), open_count.load(Ordering::SeqCst)).await;
        let zero = end
            .gauges
            .as_ref()
            .is_some_and(|g| !g.is_empty() && admin::open_requests(g).values().all(|v| *v == 0));
        if zero && end.client_open == 0 {
            closed_after = Some(drained_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stack.mock().keep_requests(true);
    SoakResult {
        label: mode_name(stack.mode),
        spec,
        rows: out,
        idle,
        end,
        closed_after,
        wall: started.elapsed(),
    }
}

fn close_row(
    buckets: &Mutex<Vec<Bucket>>,
    index: usize,
    interval: Option<usize>,
    sample: Sample,
    peaks: (Option<u64>, Option<u64>),
) -> Row {
    let bucket = lock(buckets)
        .get_mut(index)
        .map(std::mem::take)
        .unwrap_or_default();
    Row {
        interval,
        started: bucket.started,
        completed: bucket.completed,
        failed: bucket.failed,
        failures: bucket.failures,
        delay: stats::summarize(bucket.delays),
        first_token: stats::summarize(bucket.first_tokens),
        sample,
        peak_sluice_kib: peaks.0,
        peak_envoy_kib: peaks.1,
    }
}

impl SoakResult {
    pub fn total(&self) -> (usize, usize, usize) {
        self.rows.iter().fold((0, 0, 0), |(s, c, f), r| {
            (s + r.started, c + r.completed, f + r.failed)
        })
    }

    /// RSS at the end of interval 2 (after warm-up) and of the last interval, KiB.
    pub fn growth(&self, pick: fn(&Sample) -> Option<u64>) -> Option<(u64, u64)> {
        let measured: Vec<&Row> = self.rows.iter().filter(|r| r.interval.is_some()).collect();
        let from = measured.get(1).or(measured.first())?;
        let to = measured.last()?;
        Some((pick(&from.sample)?, pick(&to.sample)?))
    }
}

fn kib(v: Option<u64>) -> String {
    v.map_or_else(|| "–".to_owned(), |k| k.to_string())
}

fn summary_cells(s: Option<Summary>) -> String {
    match s {
        Some(s) => format!("{} | {} | {}", ms(s.p50), ms(s.p99), ms(s.max)),
        None => "– | – | –".to_owned(),
    }
}

/// The data-plane gauges that count open requests, as `name=value` (cluster and listener).
fn gauge_cell(gauges: &Option<BTreeMap<String, u64>>, suffix: &str) -> String {
    match gauges {
        None => "–".to_owned(),
        Some(g) => {
            let parts: Vec<String> = g
                .iter()
                .filter(|(n, _)| n.ends_with(suffix))
                .map(|(n, v)| {
                    let short = n
                        .strip_prefix("cluster.")
                        .or_else(|| n.strip_prefix("http."))
                        .unwrap_or(n);
                    let short = short.strip_suffix(suffix).unwrap_or(short);
                    format!("{short}{v}")
                })
                .collect();
            if parts.is_empty() {
                "–".to_owned()
            } else {
                parts.join(" ")
            }
        }
    }
}

/// One row as a progress line for stderr.
pub fn progress_line(row: &Row) -> String {
    let when = row
        .interval
        .map_or_else(|| "drain".to_owned(), |k| format!("interval {k}"));
    let delay = row.delay.map_or_else(
        || "no tokens".to_owned(),
        |s| {
            format!(
                "delay p50 {} p99 {} max {} ms",
                ms(s.p50),
                ms(s.p99),
                ms(s.max)
            )
        },
    );
    format!(
        "  {when}: started {} completed {} failed {} {:?}; {delay}; RSS sluice {} envoy {} KiB; open {}; load {}",
        row.started,
        row.completed,
        row.failed,
        row.failures,
        kib(row.sample.sluice_kib),
        kib(row.sample.envoy_kib),
        row.sample.client_open,
        procfs::load_average()
    )
}

/// The markdown section of one soak.
pub fn render(result: &SoakResult) -> String {
    let mut out = String::new();
    let spec = &result.spec;
    let (started, completed, failed) = result.total();
    let _ = writeln!(
        out,
        "#### {}, {} streams, {} tokens at {:.1} tokens/s, {} s\n",
        result.label,
        spec.streams,
        spec.tokens,
        1.0 / spec.gap.as_secs_f64(),
        spec.duration.as_secs()
    );
    let _ = writeln!(
        out,
        "Streams started {started}, completed {completed}, failed {failed}; wall {:.0} s.\n",
        result.wall.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "| min | started | completed | failed | token delay p50 | p99 | max | TTFT p50 | p99 | max | sluice RSS | sluice peak | Envoy RSS | Envoy peak | open (client) | Envoy rq_active | fds sluice / Envoy |"
    );
    let _ = writeln!(
        out,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for row in &result.rows {
        let when = row
            .interval
            .map_or_else(|| "drain".to_owned(), |k| k.to_string());
        let fds = format!(
            "{} / {}",
            row.sample
                .sluice_fds
                .map_or_else(|| "–".to_owned(), |n| n.to_string()),
            row.sample
                .envoy_fds
                .map_or_else(|| "–".to_owned(), |n| n.to_string())
        );
        let _ = writeln!(
            out,
            "| {when} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.started,
            row.completed,
            row.failed,
            summary_cells(row.delay),
            summary_cells(row.first_token),
            kib(row.sample.sluice_kib),
            kib(row.peak_sluice_kib),
            kib(row.sample.envoy_kib),
            kib(row.peak_envoy_kib),
            row.sample.client_open,
            gauge_cell(&row.sample.gauges, ".upstream_rq_active"),
            fds
        );
    }
    let mut failures: BTreeMap<&str, usize> = BTreeMap::new();
    for row in &result.rows {
        for (k, v) in &row.failures {
            *failures.entry(k.as_str()).or_default() += v;
        }
    }
    if !failures.is_empty() {
        let _ = writeln!(out, "\nFailures by kind: {failures:?}");
    }
    let _ = writeln!(out);
    for (what, pick) in [
        (
            "sluice",
            (|s: &Sample| s.sluice_kib) as fn(&Sample) -> Option<u64>,
        ),
        ("Envoy", |s: &Sample| s.envoy_kib),
    ] {
        if let Some((from, to)) = result.growth(pick) {
            let diff = i128::from(to) - i128::from(from);
            let pct = diff as f64 * 100.0 / from.max(1) as f64;
            let _ = writeln!(
                out,
                "- {what} RSS, end of minute 2 → end of last minute: {from} → {to} KiB ({diff:+} KiB, {pct:+.1} %); idle before {}, after drain {} KiB",
                kib(pick(&result.idle)),
                kib(pick(&result.end))
            );
        }
    }
    let open = result
        .end
        .gauges
        .as_ref()
        .map(admin::open_requests)
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "- Open at the end: client {} streams; Envoy {}; {}",
        result.end.client_open,
        if open.is_empty() {
            "gauges unreadable".to_owned()
        } else {
            open.iter()
                .map(|(n, v)| format!("`{n}` {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
        match result.closed_after {
            Some(d) => format!(
                "all zero {:.1} s after the last stream ended",
                d.as_secs_f64()
            ),
            None => "**not all zero** 30 s after the last stream ended".to_owned(),
        }
    );
    let _ = writeln!(
        out,
        "- Connections still pooled at the end (idle keep-alive, expected): {}",
        gauge_cell(&result.end.gauges, ".upstream_cx_active")
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_spread_over_one_stream() {
        let s = SoakSpec {
            streams: 100,
            tokens: 59,
            gap: Duration::from_millis(500),
            duration: Duration::from_secs(600),
            interval: Duration::from_secs(60),
        };
        assert_eq!(s.stream_length(), Duration::from_secs(30));
        assert_eq!(s.first_start(0), Duration::ZERO);
        assert!(s.first_start(99) < s.stream_length());
        assert_eq!(s.rows(), 10);
        assert_eq!(
            SoakSpec {
                duration: Duration::from_secs(90),
                ..s
            }
            .rows(),
            2
        );
    }

    #[test]
    fn failures_group_by_kind() {
        assert_eq!(failure_kind("status 503"), "status");
        assert_eq!(failure_kind("stream cut: connection reset"), "stream cut");
        assert_eq!(
            failure_kind("stream not finished within 120s"),
            "stream not finished within"
        );
    }
}
