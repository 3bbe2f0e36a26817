//! `sluice-soak`: long runs through real Envoy, Envoy alone against Envoy with Sluice.
//!
//! `streams`: N concurrent paced chat-completions streams for a fixed time, each finished
//! stream replaced by a new one; a row per minute with streams started, completed and failed,
//! per-token delay, RSS, and at the end Envoy's open-request gauges, which must read zero.
//!
//! `prompts`: coding-agent prompts of a few hundred KB at a fixed rate, for the request-phase
//! latency and the memory per in-flight request.
//!
//! Shares the stack, the stream recording and the statistics with `sluice-latency`. Markdown
//! on stdout, progress on stderr. A benchmark, not a test: nothing here asserts.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};

use sluice_e2e::harness::{self, Mode, Stack, StackOptions};
use sluice_e2e::latency::kinds::StreamKind;
use sluice_e2e::latency::report::{self, mode_name};
use sluice_e2e::latency::run::{self, RunSpec};
use sluice_e2e::latency::soak::{self, SoakSpec};
use sluice_e2e::latency::{procfs, prompts};

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
    name = "sluice-soak",
    about = "Soak (many streams for minutes) and long prompts: Envoy alone vs. Envoy + Sluice",
    long_about = "Binaries come from SLUICE_ENVOY, SLUICE_BIN and SLUICE_WASM (see docs/testing.md). \
                  The markdown report goes to stdout, progress to stderr."
)]
struct Args {
    /// Policy file (JSON) for sluice serve and the wasm plugin; default: built-in policy.
    #[arg(long, global = true)]
    policy: Option<PathBuf>,
    /// Modes, in the order they run (`plain` is Envoy alone).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "plain,ext-proc",
        global = true
    )]
    modes: Vec<ModeArg>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// N concurrent streams for a duration, finished streams replaced.
    Streams {
        /// Concurrent streams; one soak per value and mode.
        #[arg(long, value_delimiter = ',', default_value = "1000")]
        streams: Vec<usize>,
        /// Tokens per stream.
        #[arg(long, default_value_t = 60)]
        tokens: usize,
        /// Tokens per second per stream.
        #[arg(long, default_value_t = 2.0)]
        rate: f64,
        /// How long new streams start, per soak: seconds, or with an `s`/`m` suffix.
        #[arg(long, default_value = "10m", value_parser = parse_duration)]
        duration: Duration,
        /// Length of a report row.
        #[arg(long, default_value = "1m", value_parser = parse_duration)]
        interval: Duration,
    },
    /// Long coding-agent prompts at a fixed rate.
    Prompts {
        /// Body size, KiB.
        #[arg(long, default_value_t = 200)]
        body_kib: usize,
        /// Requests per second.
        #[arg(long, default_value_t = 50.0)]
        rate: f64,
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        duration: Duration,
        /// Requests sent at once after the paced run.
        #[arg(long, default_value_t = 50)]
        burst: usize,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.strip_suffix('m') {
        Some(n) => (n, 60.0),
        None => (s.strip_suffix('s').unwrap_or(s), 1.0),
    };
    let v: f64 = num.parse().map_err(|_| format!("not a duration: {s}"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("not a positive duration: {s}"));
    }
    Ok(Duration::from_secs_f64(v * unit))
}

/// Raises the soft descriptor limit to the hard one (children inherit it) and checks it
/// covers `needed`.
fn raise_fd_limit(needed: u64) -> anyhow::Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).context("reading RLIMIT_NOFILE")?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).context("raising RLIMIT_NOFILE")?;
    }
    if hard < needed {
        bail!(
            "the descriptor limit is {hard}, this run needs about {needed} (client and mock \
             sockets in this process; Envoy needs as many): raise the hard limit (`ulimit -Hn`)"
        );
    }
    Ok(hard)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("soak-client")
        .enable_all()
        .build()
        .context("starting the client runtime")?;
    runtime.block_on(async {
        match &args.command {
            Cmd::Streams {
                streams,
                tokens,
                rate,
                duration,
                interval,
            } => streams_cmd(&args, streams, *tokens, *rate, *duration, *interval).await,
            Cmd::Prompts {
                body_kib,
                rate,
                duration,
                burst,
            } => prompts_cmd(&args, *body_kib, *rate, *duration, *burst).await,
        }
    })
}

fn options(args: &Args) -> anyhow::Result<StackOptions> {
    Ok(StackOptions {
        policy_json: match &args.policy {
            Some(p) => Some(
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            ),
            None => None,
        },
        ..StackOptions::default()
    })
}

fn modes(args: &Args) -> Vec<Mode> {
    let mut out: Vec<Mode> = Vec::new();
    for m in &args.modes {
        if !out.contains(&m.mode()) {
            out.push(m.mode());
        }
    }
    out
}

fn header(args: &Args, began: Instant, load_start: &str) -> String {
    let since_epoch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "Date {}; machine {}; load average {} at the start, {} at the end; {:.0} s in all.\n\
         Command: `{}`\n\
         Envoy {}; sluice {}; wasm {}; policy {}.\n",
        report::utc_date(since_epoch),
        procfs::machine(),
        load_start,
        procfs::load_average(),
        began.elapsed().as_secs_f64(),
        std::env::args().collect::<Vec<_>>().join(" "),
        envoy_version(),
        describe(harness::sluice_binary().ok()),
        describe(harness::wasm_module().ok()),
        args.policy
            .as_ref()
            .map_or_else(|| "built-in".to_owned(), |p| p.display().to_string()),
    )
}

async fn streams_cmd(
    args: &Args,
    counts: &[usize],
    tokens: usize,
    rate: f64,
    duration: Duration,
    interval: Duration,
) -> anyhow::Result<()> {
    if counts.is_empty() || counts.contains(&0) || tokens == 0 {
        bail!("--streams and --tokens must be positive");
    }
    if !(rate.is_finite() && rate > 0.0 && rate <= 1000.0) {
        bail!("--rate must be in (0, 1000] tokens/s");
    }
    let most = counts.iter().copied().max().unwrap_or(1);
    let limit = raise_fd_limit(u64::try_from(most).unwrap_or(u64::MAX) * 3 + 512)?;
    eprintln!("descriptor limit {limit}");
    let began = Instant::now();
    let load_start = procfs::load_average();
    let gap = Duration::from_secs_f64(1.0 / rate);
    let options = options(args)?;
    let mut sections = Vec::new();
    for &n in counts {
        for mode in modes(args) {
            eprintln!(
                "soak: {} with {n} streams for {:.0} s (load {})",
                mode_name(mode),
                duration.as_secs_f64(),
                procfs::load_average()
            );
            let stack = Arc::new(
                Stack::start(mode, options.clone())
                    .await
                    .with_context(|| format!("starting the {mode:?} stack"))?,
            );
            let prime = run::run(
                &stack,
                RunSpec {
                    streams: 1,
                    tokens: 4,
                    gap: Duration::from_millis(20),
                    kind: StreamKind::Words,
                },
            )
            .await;
            if let Some(first) = prime.failures.first() {
                bail!(
                    "priming {} failed: {first}\n{}",
                    mode_name(mode),
                    stack.context()
                );
            }
            let spec = SoakSpec {
                streams: n,
                tokens,
                gap,
                duration,
                interval,
            };
            let result = soak::soak(&stack, spec, |row| {
                eprintln!("{}", soak::progress_line(row));
            })
            .await;
            let (_, _, failed) = result.total();
            if failed > 0 {
                eprintln!("{}", stack.context());
            }
            let section = soak::render(&result);
            // Each section as soon as it is done: a long run interrupted keeps what it has.
            println!("{section}");
            sections.push(section);
            drop(stack);
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    println!("{}", header(args, began, &load_start));
    Ok(())
}

async fn prompts_cmd(
    args: &Args,
    body_kib: usize,
    rate: f64,
    duration: Duration,
    burst: usize,
) -> anyhow::Result<()> {
    if body_kib == 0 || burst == 0 || !(rate.is_finite() && rate > 0.0 && rate <= 1000.0) {
        bail!("--body-kib, --burst must be positive, --rate in (0, 1000]");
    }
    let in_flight = (rate * 2.0) as u64 + u64::try_from(burst).unwrap_or(u64::MAX);
    raise_fd_limit(in_flight * 3 + 512)?;
    let began = Instant::now();
    let load_start = procfs::load_average();
    let request = prompts::coding_request(body_kib * 1024);
    let spec = prompts::PromptSpec {
        rate,
        duration,
        body_bytes: body_kib * 1024,
        burst,
    };
    let options = options(args)?;
    let mut results = Vec::new();
    for mode in modes(args) {
        eprintln!(
            "prompts: {} ({} bytes at {rate} requests/s for {:.0} s, load {})",
            mode_name(mode),
            request.body.len(),
            duration.as_secs_f64(),
            procfs::load_average()
        );
        let stack = Stack::start(mode, options.clone())
            .await
            .with_context(|| format!("starting the {mode:?} stack"))?;
        let r = prompts::run(&stack, spec, &request).await;
        eprintln!(
            "  ok {}/{} head p50 {} p99 {} ms; max in flight {}; intact {:?}",
            r.paced.ok,
            r.paced.sent,
            r.paced
                .head
                .map_or_else(String::new, |s| sluice_e2e::latency::stats::ms(s.p50)),
            r.paced
                .head
                .map_or_else(String::new, |s| sluice_e2e::latency::stats::ms(s.p99)),
            r.paced.max_in_flight,
            r.intact
        );
        if !r.paced.failures.is_empty() || !r.burst.failures.is_empty() {
            eprintln!("{}", stack.context());
        }
        results.push(r);
        drop(stack);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    println!("{}", prompts::render(&results));
    println!("{}", header(args, began, &load_start));
    Ok(())
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
