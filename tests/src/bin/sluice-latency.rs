//! `sluice-latency`: what Sluice adds to streamed LLM answers, measured through real Envoy.
//!
//! One run starts Envoy alone and Envoy with each Sluice mode side by side, each in front of
//! an in-process mock provider, and streams N concurrent chat completions through each. The
//! mock stamps every token's write and the client stamps every token's arrival, so the
//! figure is the delay a user feels, holdback included, and the comparison with Envoy alone
//! is made under the same load in the same run. Prints a markdown report on stdout and
//! progress on stderr. A benchmark, not a test: nothing here asserts.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};

use sluice_e2e::harness::{self, Mode, Stack, StackOptions};
use sluice_e2e::latency::kinds::StreamKind;
use sluice_e2e::latency::report::{self, Memory, Pooled, RunContext, mode_name};
use sluice_e2e::latency::run::{self, MemorySample, RunResult, RunSpec};
use sluice_e2e::latency::{procfs, stats};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
enum ModeArg {
    Plain,
    ExtProc,
    ExtProcUnix,
    Wasm,
}

impl ModeArg {
    fn mode(self) -> Mode {
        match self {
            ModeArg::Plain => Mode::Plain,
            ModeArg::ExtProc => Mode::ExtProc,
            ModeArg::ExtProcUnix => Mode::ExtProcUnix,
            ModeArg::Wasm => Mode::Wasm,
        }
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "sluice-latency",
    about = "Per-token delivery delay, time to first token and memory per stream: Envoy alone vs. Envoy + Sluice",
    long_about = "Binaries come from SLUICE_ENVOY, SLUICE_BIN and SLUICE_WASM (see docs/testing.md). \
                  The markdown report goes to stdout, progress to stderr."
)]
struct Args {
    /// Concurrent streams per run; one section per value.
    #[arg(long, value_delimiter = ',', default_value = "64,256")]
    streams: Vec<usize>,
    /// What the streams say: words (whole prose words), subword (prose in tokenizer
    /// pieces), code (source code in pieces), json (a JSON object in pieces). One section
    /// per kind; the warm-up and the memory figures use the first.
    #[arg(long, value_delimiter = ',', default_value = "words,subword,code,json")]
    kinds: Vec<StreamKind>,
    /// Tokens per stream.
    #[arg(long, default_value_t = 100)]
    tokens: usize,
    /// Tokens per second per stream.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Measured rounds; each round runs every mode at every stream count once.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Modes besides Envoy alone, which always runs as the baseline.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ext-proc,ext-proc-unix,wasm"
    )]
    modes: Vec<ModeArg>,
    /// Policy file (JSON) for sluice serve and the wasm plugin; default: built-in policy.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Tokens per stream in the warm-up runs (which also give the memory figures).
    #[arg(long, default_value_t = 30)]
    warmup_tokens: usize,
    /// Pause between runs, letting closed connections settle (ms).
    #[arg(long, default_value_t = 300)]
    settle_ms: u64,
    /// Extra argument for every `sluice serve` started (repeatable), e.g.
    /// `--sluice-arg=--worker-threads=2`: server settings compared under the same load.
    #[arg(long = "sluice-arg", allow_hyphen_values = true)]
    sluice_args: Vec<String>,
    /// Turn the signed audit trail on in every Sluice mode: `sluice serve --audit` writes and
    /// syncs a record before the end of each answer leaves; the wasm filter posts each record
    /// to an audit sink (`sluice serve --audit-sink-listen`) and holds the end of the answer
    /// until the sink has it on disk. Keys and trails go to a temporary directory.
    #[arg(long)]
    audit: bool,
    /// Give up after this many seconds in all.
    #[arg(long, default_value_t = 900)]
    max_seconds: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.streams.is_empty() || args.streams.contains(&0) {
        bail!("--streams needs positive counts");
    }
    if args.kinds.is_empty() {
        bail!("--kinds needs at least one kind");
    }
    if args.tokens == 0 || args.rounds == 0 || args.warmup_tokens < 4 {
        bail!("--tokens and --rounds must be positive, --warmup-tokens at least 4");
    }
    if !(args.rate.is_finite() && args.rate > 0.0 && args.rate <= 10_000.0) {
        bail!("--rate must be in (0, 10000] tokens/s");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("latency-client")
        .enable_all()
        .build()
        .context("starting the client runtime")?;
    let limit = Duration::from_secs(args.max_seconds);
    match runtime.block_on(async { tokio::time::timeout(limit, benchmark(&args)).await }) {
        Ok(result) => result,
        Err(_) => bail!("the benchmark did not finish within {limit:?} (--max-seconds)"),
    }
}

async fn benchmark(args: &Args) -> anyhow::Result<()> {
    let began = Instant::now();
    let load_start = procfs::load_average();
    let gap = Duration::from_secs_f64(1.0 / args.rate);
    let mut modes = vec![Mode::Plain];
    let mut chosen = args.modes.clone();
    chosen.sort();
    chosen.dedup();
    modes.extend(
        chosen
            .iter()
            .map(|m| m.mode())
            .filter(|m| *m != Mode::Plain),
    );
    let mut counts = args.streams.clone();
    counts.sort_unstable();
    counts.dedup();
    let mut kinds = Vec::new();
    for kind in &args.kinds {
        if !kinds.contains(kind) {
            kinds.push(*kind);
        }
    }
    let warm_kind = kinds.first().copied().unwrap_or(StreamKind::Words);

    let options = StackOptions {
        policy_json: match &args.policy {
            Some(p) => Some(
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            ),
            None => None,
        },
        sluice_args: args.sluice_args.clone(),
        ..StackOptions::default()
    };
    let audit_dir = tempfile::tempdir().context("creating the audit directory")?;
    let audit = if args.audit {
        Some(AuditTrail::open(audit_dir.path(), &modes).await?)
    } else {
        None
    };
    let mut stacks = Vec::new();
    for &mode in &modes {
        eprintln!("starting {}", mode_name(mode));
        let mut options = options.clone();
        if let Some(audit) = &audit {
            audit.configure(mode, &mut options);
        }
        let stack = Stack::start(mode, options)
            .await
            .with_context(|| format!("starting the {mode:?} stack"))?;
        stacks.push(stack);
    }

    // Warm-up, fewer streams first: connection pools, the gRPC stream to sluice, V8's
    // compiled module. Each first run at a stream count gives that count's memory figure,
    // against the process as it was after serving a single stream: memory a smaller run
    // freed and a larger one reused still counts as the larger run's.
    let mut memory = Vec::new();
    let mut baseline = Vec::new();
    for stack in &stacks {
        let prime = run::run(
            stack,
            RunSpec {
                streams: 1,
                tokens: 4,
                gap,
                kind: warm_kind,
            },
        )
        .await;
        fail_on_errors("priming", &prime)?;
        settle(args).await;
        baseline.push(MemorySample::take(stack, 0));
    }
    for &n in &counts {
        for (stack, idle) in stacks.iter().zip(&baseline) {
            eprintln!("warm-up: {} with {n} streams", mode_name(stack.mode));
            let warm = run::run(
                stack,
                RunSpec {
                    streams: n,
                    tokens: args.warmup_tokens,
                    gap,
                    kind: warm_kind,
                },
            )
            .await;
            fail_on_errors("warm-up", &warm)?;
            memory.push(Memory {
                mode: stack.mode,
                streams: n,
                idle: *idle,
                open: warm.midway,
            });
            settle(args).await;
        }
    }

    let mut results: BTreeMap<(usize, StreamKind, usize), Vec<RunResult>> = BTreeMap::new();
    for round in 0..args.rounds {
        for &n in &counts {
            for &kind in &kinds {
                // Rotate the order so no mode always runs right after the same neighbour.
                for k in 0..stacks.len() {
                    let index = (k + round) % stacks.len();
                    let Some(stack) = stacks.get(index) else {
                        continue;
                    };
                    eprintln!(
                        "round {}/{}: {} with {n} {kind} streams (load {})",
                        round + 1,
                        args.rounds,
                        mode_name(stack.mode),
                        procfs::load_average()
                    );
                    let result = run::run(
                        stack,
                        RunSpec {
                            streams: n,
                            tokens: args.tokens,
                            gap,
                            kind,
                        },
                    )
                    .await;
                    if !result.failures.is_empty() {
                        eprintln!(
                            "  {} of {n} streams failed, first: {}\n{}",
                            result.failures.len(),
                            result.failures.first().map_or("", String::as_str),
                            stack.context()
                        );
                    }
                    if let Some(s) = stats::summarize(
                        result
                            .timings
                            .iter()
                            .flat_map(|t| t.tokens.iter().map(|x| x.delay))
                            .collect(),
                    ) {
                        eprintln!(
                            "  token delay p50 {} ms, p99 {} ms ({:.1} s)",
                            stats::ms(s.p50),
                            stats::ms(s.p99),
                            result.wall.as_secs_f64()
                        );
                    }
                    results.entry((n, kind, index)).or_default().push(result);
                    settle(args).await;
                }
            }
        }
    }

    let mut pooled = Vec::new();
    for &n in &counts {
        for &kind in &kinds {
            for (index, stack) in stacks.iter().enumerate() {
                let runs: Vec<&RunResult> = results
                    .get(&(n, kind, index))
                    .map(|v| v.iter().collect())
                    .unwrap_or_default();
                pooled.push(Pooled::from_runs(stack.mode, n, kind, &runs));
            }
        }
    }
    drop(stacks);

    let since_epoch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let ctx = RunContext {
        date: report::utc_date(since_epoch),
        machine: procfs::machine(),
        load_start,
        load_end: procfs::load_average(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        envoy: envoy_version(),
        sluice: describe(harness::sluice_binary().ok()),
        wasm: describe(harness::wasm_module().ok()),
        tokens: args.tokens,
        rate: args.rate,
        rounds: args.rounds,
        elapsed: began.elapsed(),
    };
    print!(
        "{}",
        report::render(&ctx, &pooled, &memory, &counts, &kinds)
    );
    if let Some(audit) = &audit {
        println!("- audit trail on: {}\n", audit.describe());
    }
    Ok(())
}

/// The audit trail of a run: one key, one trail per ext_proc server, one sink for the wasm
/// filter (kept running for the whole benchmark).
struct AuditTrail {
    dir: PathBuf,
    key: PathBuf,
    sink: Option<harness::AuditSinkServer>,
}

impl AuditTrail {
    async fn open(dir: &std::path::Path, modes: &[Mode]) -> anyhow::Result<AuditTrail> {
        let prefix = dir.join("audit");
        harness::audit_keygen(&prefix);
        let key = dir.join("audit.key");
        let sink = if modes.contains(&Mode::Wasm) {
            let args = [
                "--audit".to_owned(),
                dir.join("wasm-sink.jsonl").display().to_string(),
                "--audit-key".to_owned(),
                key.display().to_string(),
            ];
            Some(
                harness::start_audit_sink(dir, &args)
                    .await
                    .context("starting the audit sink")?,
            )
        } else {
            None
        };
        Ok(AuditTrail {
            dir: dir.to_owned(),
            key,
            sink,
        })
    }

    /// Records in each trail, so the report shows the trail was written.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return "no trail found".to_owned();
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        files.sort();
        for file in files {
            let records = std::fs::read_to_string(&file)
                .map(|s| s.lines().count())
                .unwrap_or(0);
            let name = file
                .file_stem()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            parts.push(format!("{records} records in `{name}`"));
        }
        parts.join(", ")
    }

    fn configure(&self, mode: Mode, options: &mut StackOptions) {
        match mode {
            Mode::Plain => {}
            Mode::Wasm => {
                if let Some(sink) = &self.sink {
                    options
                        .bootstrap_args
                        .extend(["--audit-sink".to_owned(), sink.addr().to_string()]);
                }
            }
            Mode::ExtProc | Mode::ExtProcUnix => {
                let trail = self.dir.join(format!("{mode:?}.jsonl").to_lowercase());
                options.sluice_args.extend([
                    "--audit".to_owned(),
                    trail.display().to_string(),
                    "--audit-key".to_owned(),
                    self.key.display().to_string(),
                ]);
            }
        }
    }
}

/// A warm-up that fails means the stack is broken: measuring it would mislead.
fn fail_on_errors(what: &str, result: &RunResult) -> anyhow::Result<()> {
    match result.failures.first() {
        None => Ok(()),
        Some(first) => bail!(
            "{what} through {} failed for {} of {} streams; first: {first}",
            mode_name(result.mode),
            result.failures.len(),
            result.spec.streams
        ),
    }
}

async fn settle(args: &Args) {
    tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;
}

fn describe(path: Option<PathBuf>) -> String {
    path.map_or_else(|| "–".to_owned(), |p| p.display().to_string())
}

fn envoy_version() -> String {
    let Ok(bin) = harness::envoy_binary() else {
        return "unknown".to_owned();
    };
    Command::new(&bin)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .find(|w| {
                    w.contains('/') && w.chars().next().is_some_and(|c| c.is_ascii_hexdigit())
                })
                .and_then(|w| w.split('/').nth(1).map(str::to_owned))
        })
        .unwrap_or_else(|| bin.display().to_string())
}
