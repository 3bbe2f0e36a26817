//! Pools the runs of each mode and stream count and renders them as markdown, with the
//! figures DESIGN.md §9 sets budgets for and whether each is met.

use std::fmt::Write as _;
use std::time::Duration;

use crate::harness::Mode;
use crate::latency::kinds::StreamKind;
use crate::latency::procfs::TICKS_PER_SECOND;
use crate::latency::run::{MemorySample, RunResult};
use crate::latency::stats::{self, Summary, added_ms, diff_secs, ms};

pub fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Plain => "Envoy alone",
        Mode::ExtProc => "ext_proc, TCP",
        Mode::ExtProcUnix => "ext_proc, Unix socket",
        Mode::Wasm => "wasm",
    }
}

/// Every measured run of one mode at one stream count, pooled.
pub struct Pooled {
    pub mode: Mode,
    pub streams: usize,
    pub kind: StreamKind,
    pub ok_streams: usize,
    pub failures: Vec<String>,
    pub delay: Option<Summary>,
    /// Per round: (p50, p99) of the token delay.
    pub rounds: Vec<Option<(Duration, Duration)>>,
    pub held: usize,
    pub tokens: usize,
    /// Time to first token of the N streams themselves: a start-up burst.
    pub burst_first_token: Option<Summary>,
    /// Time to first token of probes started one by one while N streams flow, with and
    /// without holdback.
    pub first_token: Option<Summary>,
    pub first_event: Option<Summary>,
    pub per_event: Option<Summary>,
    /// Last upstream write → the client has the end of the body.
    pub tail: Option<Summary>,
    pub sluice_cpu_us_per_token: Option<f64>,
    pub envoy_cpu_us_per_token: Option<f64>,
}

impl Pooled {
    pub fn from_runs(mode: Mode, streams: usize, kind: StreamKind, runs: &[&RunResult]) -> Pooled {
        let mut delays = Vec::new();
        let mut burst = Vec::new();
        let mut first = Vec::new();
        let mut first_event = Vec::new();
        let mut events = Vec::new();
        let mut tails = Vec::new();
        let mut held = 0;
        let mut rounds = Vec::new();
        let mut failures = Vec::new();
        let mut ok_streams = 0;
        let mut sluice_ticks = None::<u64>;
        let mut envoy_ticks = 0u64;
        for run in runs {
            let mut round = Vec::new();
            for t in &run.timings {
                ok_streams += 1;
                for tok in &t.tokens {
                    round.push(tok.delay);
                    held += usize::from(tok.held);
                }
                burst.push(t.first_token);
                events.extend_from_slice(&t.events);
                tails.push(t.tail);
            }
            for probe in &run.probes {
                first.push(probe.first_token);
                first_event.push(probe.first_event);
            }
            rounds.push(stats::summarize(round.clone()).map(|s| (s.p50, s.p99)));
            delays.extend(round);
            failures.extend(run.failures.iter().cloned());
            if let Some(t) = run.cpu.sluice_ticks {
                sluice_ticks = Some(sluice_ticks.unwrap_or(0) + t);
            }
            envoy_ticks += run.cpu.envoy_ticks;
        }
        let tokens = delays.len();
        let per_token = |ticks: u64| {
            (tokens > 0).then(|| ticks as f64 * 1e6 / TICKS_PER_SECOND as f64 / tokens as f64)
        };
        Pooled {
            mode,
            streams,
            kind,
            ok_streams,
            failures,
            delay: stats::summarize(delays),
            rounds,
            held,
            tokens,
            burst_first_token: stats::summarize(burst),
            first_token: stats::summarize(first),
            first_event: stats::summarize(first_event),
            per_event: stats::summarize(events),
            tail: stats::summarize(tails),
            sluice_cpu_us_per_token: sluice_ticks.and_then(per_token),
            envoy_cpu_us_per_token: per_token(envoy_ticks),
        }
    }
}

/// Memory of one mode with N streams open, from its first run at that N.
pub struct Memory {
    pub mode: Mode,
    pub streams: usize,
    pub idle: MemorySample,
    pub open: MemorySample,
}

impl Memory {
    fn delta(idle: Option<u64>, open: Option<u64>) -> Option<i64> {
        Some(i64::try_from(open?).ok()? - i64::try_from(idle?).ok()?)
    }

    pub fn sluice_delta_kib(&self) -> Option<i64> {
        Memory::delta(self.idle.sluice_kib, self.open.sluice_kib)
    }

    pub fn envoy_delta_kib(&self) -> Option<i64> {
        Memory::delta(self.idle.envoy_kib, self.open.envoy_kib)
    }
}

fn per_stream(delta: Option<i64>, streams: usize) -> Option<f64> {
    delta.map(|d| d as f64 / streams.max(1) as f64)
}

fn opt_ms(s: Option<Summary>, f: impl Fn(Summary) -> Duration) -> String {
    s.map_or_else(|| "–".to_owned(), |s| ms(f(s)))
}

fn opt_added(s: Option<Summary>, base: Option<Summary>, f: impl Fn(Summary) -> Duration) -> String {
    match (s, base) {
        (Some(s), Some(b)) => added_ms(f(s), f(b)),
        _ => "–".to_owned(),
    }
}

fn opt_f(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.decimals$}"))
}

/// What the report header says about the run.
pub struct RunContext {
    pub date: String,
    pub machine: String,
    pub load_start: String,
    pub load_end: String,
    pub command: String,
    pub envoy: String,
    pub sluice: String,
    pub wasm: String,
    pub tokens: usize,
    pub rate: f64,
    pub rounds: usize,
    pub elapsed: Duration,
}

/// One budget line of DESIGN.md §9.
struct Budget {
    what: String,
    limit: String,
    measured: String,
    met: Option<bool>,
}

pub fn render(
    ctx: &RunContext,
    pooled: &[Pooled],
    memory: &[Memory],
    stream_counts: &[usize],
    kinds: &[StreamKind],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### Run of {}\n", ctx.date);
    let _ = writeln!(out, "- command: `{}`", ctx.command);
    let _ = writeln!(
        out,
        "- machine: {}; load average {} at the start, {} at the end (other builds were running)",
        ctx.machine, ctx.load_start, ctx.load_end
    );
    let _ = writeln!(
        out,
        "- {} tokens per stream at {} tokens/s ({} ms apart), OpenAI chat SSE, benign text of the kinds {}; stream starts spread over one token interval; {} rounds with the modes interleaved, percentiles over all tokens of all rounds; {:.0} s in all",
        ctx.tokens,
        ctx.rate,
        ms(Duration::from_secs_f64(1.0 / ctx.rate)),
        kinds
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", "),
        ctx.rounds,
        ctx.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "- envoy: {}; sluice: `{}`; wasm: `{}`\n",
        ctx.envoy, ctx.sluice, ctx.wasm
    );

    for &n in stream_counts {
        for &kind in kinds {
            let rows: Vec<&Pooled> = pooled
                .iter()
                .filter(|p| p.streams == n && p.kind == kind)
                .collect();
            let base = rows.iter().find(|p| p.mode == Mode::Plain);
            let _ = writeln!(out, "#### {n} concurrent streams, `{kind}` tokens\n");
            let _ = writeln!(
                out,
                "Per-token delivery delay (upstream write → client has the token's text), ms; held back: tokens whose text reached the client no earlier than the upstream's next event (for Envoy alone: queueing of more than a token interval):\n"
            );
            let _ = writeln!(
                out,
                "| mode | streams ok | tokens | p50 | p99 | max | added p50 | added p99 | added p99 per round | held back |"
            );
            let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
            for p in &rows {
                let base_delay = base.and_then(|b| b.delay);
                let per_round = match base {
                    Some(b) if p.mode != Mode::Plain => p
                        .rounds
                        .iter()
                        .zip(&b.rounds)
                        .map(|(r, br)| match (r, br) {
                            (Some(r), Some(br)) => added_ms(r.1, br.1),
                            _ => "–".to_owned(),
                        })
                        .collect::<Vec<_>>()
                        .join(" / "),
                    _ => "–".to_owned(),
                };
                let _ = writeln!(
                    out,
                    "| {} | {}/{} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    mode_name(p.mode),
                    p.ok_streams,
                    p.ok_streams + p.failures.len(),
                    p.tokens,
                    opt_ms(p.delay, |s| s.p50),
                    opt_ms(p.delay, |s| s.p99),
                    opt_ms(p.delay, |s| s.max),
                    if p.mode == Mode::Plain {
                        "–".to_owned()
                    } else {
                        opt_added(p.delay, base_delay, |s| s.p50)
                    },
                    if p.mode == Mode::Plain {
                        "–".to_owned()
                    } else {
                        opt_added(p.delay, base_delay, |s| s.p99)
                    },
                    per_round,
                    p.held
                );
            }
            let _ = writeln!(
                out,
                "\nTime to first token: request sent → the first token's text, less the upstream's own pause before it, measured on probe streams started one at a time while all N streams flow (\"holdback excluded\": up to the event that carried the token, which excludes text moved to later events but not events parked whole; \"start-up burst\": the N streams' own first tokens, N requests within one token interval). Per-event latency: upstream write → client has the event, role and token events matched by position (the path's own delay when holdback only moves text; events parked whole still count late). CPU time of each process per token delivered. ms unless noted:\n"
            );
            let _ = writeln!(
                out,
                "| mode | probes | TTFT p50 | TTFT p99 | added TTFT p50 | added TTFT p99 | added TTFT p50, holdback excluded | added TTFT p50, start-up burst | event p50 | event p99 | added event p50 | added event p99 | sluice CPU µs/token | Envoy CPU µs/token |"
            );
            let _ = writeln!(
                out,
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
            );
            for p in &rows {
                let plain = p.mode == Mode::Plain;
                let versus = |pick: fn(&Pooled) -> Option<Summary>, f: fn(Summary) -> Duration| {
                    if plain {
                        "–".to_owned()
                    } else {
                        opt_added(pick(p), base.and_then(|b| pick(b)), f)
                    }
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    mode_name(p.mode),
                    p.first_token.map_or(0, |s| s.count),
                    opt_ms(p.first_token, |s| s.p50),
                    opt_ms(p.first_token, |s| s.p99),
                    versus(|p| p.first_token, |s| s.p50),
                    versus(|p| p.first_token, |s| s.p99),
                    versus(|p| p.first_event, |s| s.p50),
                    versus(|p| p.burst_first_token, |s| s.p50),
                    opt_ms(p.per_event, |s| s.p50),
                    opt_ms(p.per_event, |s| s.p99),
                    versus(|p| p.per_event, |s| s.p50),
                    versus(|p| p.per_event, |s| s.p99),
                    opt_f(p.sluice_cpu_us_per_token, 1),
                    opt_f(p.envoy_cpu_us_per_token, 1),
                );
            }
            let _ = writeln!(
                out,
                "\nEnd of the answer: the upstream's last write (`[DONE]`) → the client has the end of the body, per stream, ms (with the audit trail on, this is where the record's commit waits):\n"
            );
            let _ = writeln!(
                out,
                "| mode | streams | p50 | p99 | max | added p50 | added p99 |"
            );
            let _ = writeln!(out, "|---|---|---|---|---|---|---|");
            for p in &rows {
                let plain = p.mode == Mode::Plain;
                let versus = |f: fn(Summary) -> Duration| {
                    if plain {
                        "–".to_owned()
                    } else {
                        opt_added(p.tail, base.and_then(|b| b.tail), f)
                    }
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    mode_name(p.mode),
                    p.tail.map_or(0, |s| s.count),
                    opt_ms(p.tail, |s| s.p50),
                    opt_ms(p.tail, |s| s.p99),
                    opt_ms(p.tail, |s| s.max),
                    versus(|s| s.p50),
                    versus(|s| s.p99),
                );
            }
            let failures: Vec<&String> = rows.iter().flat_map(|p| p.failures.iter()).collect();
            if !failures.is_empty() {
                let _ = writeln!(out, "\nFailed streams ({}):\n", failures.len());
                for (p, f) in rows
                    .iter()
                    .flat_map(|p| p.failures.iter().map(move |f| (p.mode, f)))
                    .take(10)
                {
                    let _ = writeln!(out, "- {}: {f}", mode_name(p));
                }
            }
            let _ = writeln!(out);
        }
    }

    let _ = writeln!(
        out,
        "#### Memory per open stream\n\nResident memory (VmRSS, KiB) of each process idle after serving one stream vs. with all N streams open half-way through (the first run at N, in the warm-up), and the difference divided by N:\n"
    );
    let _ = writeln!(
        out,
        "| mode | streams | open at sample | sluice idle | sluice open | sluice per stream | Envoy idle | Envoy open | Envoy per stream | Envoy per stream vs. alone |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    for m in memory {
        let plain = memory
            .iter()
            .find(|p| p.mode == Mode::Plain && p.streams == m.streams);
        let envoy_ps = per_stream(m.envoy_delta_kib(), m.streams);
        let vs_plain = match (m.mode, plain) {
            (Mode::Plain, _) => None,
            (_, Some(p)) => envoy_ps.zip(per_stream(p.envoy_delta_kib(), p.streams)),
            _ => None,
        }
        .map(|(a, b)| a - b);
        let kib = |v: Option<u64>| v.map_or_else(|| "–".to_owned(), |v| v.to_string());
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            mode_name(m.mode),
            m.streams,
            m.open.open_streams,
            kib(m.idle.sluice_kib),
            kib(m.open.sluice_kib),
            opt_f(per_stream(m.sluice_delta_kib(), m.streams), 1),
            kib(m.idle.envoy_kib),
            kib(m.open.envoy_kib),
            opt_f(envoy_ps, 1),
            opt_f(vs_plain, 1),
        );
    }
    let _ = writeln!(out);

    let budgets = budgets(pooled, memory, kinds);
    if !budgets.is_empty() {
        let _ = writeln!(out, "#### Budgets (DESIGN.md §9)\n");
        let _ = writeln!(out, "| budget | limit | measured | met |");
        let _ = writeln!(out, "|---|---|---|---|");
        for b in budgets {
            let met = match b.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "not measured",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                b.what, b.limit, b.measured, met
            );
        }
        let _ = writeln!(out);
    }
    out
}

/// The rows of one stream kind.
fn of_kind(pooled: &[Pooled], kind: StreamKind) -> Vec<&Pooled> {
    pooled.iter().filter(|p| p.kind == kind).collect()
}

fn find<'a>(pooled: &[&'a Pooled], mode: Mode, n: usize) -> Option<&'a Pooled> {
    pooled
        .iter()
        .copied()
        .find(|p| p.mode == mode && p.streams == n)
}

/// Added p50 and p99 of the token delay (or, `path_only`, of the per-event delay), in ms.
fn added(pooled: &[&Pooled], mode: Mode, n: usize, path_only: bool) -> Option<(f64, f64)> {
    let pick = |p: &Pooled| if path_only { p.per_event } else { p.delay };
    let a = pick(find(pooled, mode, n)?)?;
    let b = pick(find(pooled, Mode::Plain, n)?)?;
    Some((diff_secs(a.p50, b.p50) * 1e3, diff_secs(a.p99, b.p99) * 1e3))
}

fn added_first_token_p50(pooled: &[&Pooled], mode: Mode, n: usize, path_only: bool) -> Option<f64> {
    let pick = |p: &Pooled| {
        if path_only {
            p.first_event
        } else {
            p.first_token
        }
    };
    let a = pick(find(pooled, mode, n)?)?;
    let b = pick(find(pooled, Mode::Plain, n)?)?;
    Some(diff_secs(a.p50, b.p50) * 1e3)
}

fn budgets(all: &[Pooled], memory: &[Memory], kinds: &[StreamKind]) -> Vec<Budget> {
    let mut out = Vec::new();
    let sluice_modes = [Mode::ExtProc, Mode::ExtProcUnix, Mode::Wasm];
    for &kind in kinds {
        let pooled = of_kind(all, kind);
        let pooled = pooled.as_slice();
        for mode in sluice_modes {
            let (p50_limit, p99_limit, p99_256) = if mode == Mode::Wasm {
                (0.1, 0.3, 0.5)
            } else {
                (0.3, 1.0, 2.0)
            };
            if !pooled.iter().any(|p| p.mode == mode) {
                continue;
            }
            for (path_only, what) in [
                (false, "added token delay"),
                (true, "per event (text moved by holdback excluded)"),
            ] {
                if let Some((a50, a99)) = added(pooled, mode, 64, path_only) {
                    out.push(Budget {
                        what: format!("{what}, 64 streams, `{kind}`, {}", mode_name(mode)),
                        limit: format!("p50 ≤ {p50_limit} ms, p99 ≤ {p99_limit} ms"),
                        measured: format!("p50 {a50:+.3} ms, p99 {a99:+.3} ms"),
                        met: Some(a50 <= p50_limit && a99 <= p99_limit),
                    });
                }
                if let Some((_, a99)) = added(pooled, mode, 256, path_only) {
                    out.push(Budget {
                        what: format!("{what}, 256 streams, `{kind}`, {}", mode_name(mode)),
                        limit: format!("p99 ≤ {p99_256} ms"),
                        measured: format!("p99 {a99:+.3} ms"),
                        met: Some(a99 <= p99_256),
                    });
                }
            }
            for (n, path_only) in [(64, false), (64, true), (256, false), (256, true)] {
                if let Some(a) = added_first_token_p50(pooled, mode, n, path_only) {
                    let what = if path_only {
                        "time to first token's event (text moved by holdback excluded)"
                    } else {
                        "added time to first token"
                    };
                    out.push(Budget {
                        what: format!("{what}, {n} streams, `{kind}`, {}", mode_name(mode)),
                        limit: "p50 ≤ 1 ms".to_owned(),
                        measured: format!("p50 {a:+.3} ms"),
                        met: Some(a <= 1.0),
                    });
                }
            }
            let count = |m: Mode, f: fn(&Pooled) -> usize| -> usize {
                pooled.iter().filter(|p| p.mode == m).map(|p| f(p)).sum()
            };
            let held = count(mode, |p| p.held);
            let tokens = count(mode, |p| p.tokens);
            // Envoy alone holds nothing back: what it shows is queueing, the same in every mode.
            let queued = count(Mode::Plain, |p| p.held);
            out.push(Budget {
                what: format!("tokens held back, `{kind}`, {}", mode_name(mode)),
                limit: "0 (beyond Envoy alone's)".to_owned(),
                measured: format!("{held} of {tokens} (Envoy alone: {queued})"),
                met: Some(held <= queued),
            });
        }
    }
    for m in memory.iter().filter(|m| m.mode.uses_sluice_process()) {
        let ps = per_stream(m.sluice_delta_kib(), m.streams);
        out.push(Budget {
            what: format!(
                "sluice serve memory per open stream, {} streams, {}",
                m.streams,
                mode_name(m.mode)
            ),
            limit: "≤ 16 KiB".to_owned(),
            measured: opt_f(ps, 1) + " KiB",
            met: ps.map(|v| v <= 16.0),
        });
    }
    out
}

/// `YYYY-MM-DD HH:MM UTC` for a time since the Unix epoch.
pub fn utc_date(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc_date(Duration::ZERO), "1970-01-01 00:00 UTC");
        // 2000-03-01 12:34 UTC
        assert_eq!(
            utc_date(Duration::from_secs(951_914_040)),
            "2000-03-01 12:34 UTC"
        );
        // 2026-11-22 01:34 UTC
        assert_eq!(
            utc_date(Duration::from_secs(1_795_311_240)),
            "2026-11-22 01:34 UTC"
        );
    }
}
