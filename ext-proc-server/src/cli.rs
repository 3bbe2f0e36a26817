//! `sluice scan` and `sluice redact`: the engine on files and pipes, with no Envoy involved.

use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use serde::Serialize;
use sluice_core::codec::Api;
use sluice_core::{BodyOutcome, Engine, ExchangeContext, Finding, HeadersOutcome, Policy};

#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum ScanFormat {
    Text,
    Json,
}

/// Report credentials, personal data and prompt injection found in a text.
///
/// Exit status: 0 = nothing found, 1 = findings, 2 = error. The matched values are never
/// printed, only rule ids and byte offsets.
#[derive(Args, Debug)]
pub struct ScanArgs {
    /// File to scan, or `-` for standard input.
    #[arg(default_value = "-")]
    pub input: PathBuf,
    /// `json` prints exactly one object: {"findings":[{"rule","category","start","end",...}]}
    /// with byte offsets into the input.
    #[arg(long, value_enum, default_value_t = ScanFormat::Text)]
    pub format: ScanFormat,
    /// Policy file (JSON or YAML) choosing the detectors; default: the built-in policy.
    #[arg(long)]
    pub policy: Option<PathBuf>,
}

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq, Eq)]
pub enum ApiArg {
    OpenaiChat,
    OpenaiResponses,
    Anthropic,
    Gemini,
    Ollama,
    Mcp,
    Text,
}

impl ApiArg {
    fn api(self) -> Api {
        match self {
            ApiArg::OpenaiChat => Api::OpenAiChat,
            ApiArg::OpenaiResponses => Api::OpenAiResponses,
            ApiArg::Anthropic => Api::Anthropic,
            ApiArg::Gemini => Api::Gemini,
            ApiArg::Ollama => Api::Ollama,
            ApiArg::Mcp => Api::Mcp,
            ApiArg::Text => Api::Text,
        }
    }
}

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq, Eq)]
pub enum DirectionArg {
    /// Decide from the first bytes: an event stream or an answer object is a response.
    Auto,
    Request,
    Response,
}

/// Mask secrets in a request body or a streamed response body, as Sluice does inline.
///
/// Streams are processed as they arrive, so this works on an endless pipe:
///   curl -N ... | sluice redact --api openai-chat
/// Output keeps the API's own format; every byte not masked is preserved exactly.
#[derive(Args, Debug)]
pub struct RedactArgs {
    /// File to read, or `-` for standard input.
    #[arg(default_value = "-")]
    pub input: PathBuf,
    /// The API shape of the body.
    #[arg(long, value_enum)]
    pub api: ApiArg,
    /// Whether the input is a request body or a response body.
    #[arg(long, value_enum, default_value_t = DirectionArg::Auto)]
    pub direction: DirectionArg,
    /// Policy file (JSON or YAML); default: the built-in policy.
    #[arg(long)]
    pub policy: Option<PathBuf>,
}

pub fn load_policy(path: Option<&PathBuf>) -> anyhow::Result<Policy> {
    let Some(path) = path else {
        return Ok(Policy::default());
    };
    Ok(crate::policy_file::load(path)?)
}

fn open_input(path: &PathBuf) -> anyhow::Result<Box<dyn Read>> {
    if path.as_os_str() == "-" {
        Ok(Box::new(io::stdin().lock()))
    } else {
        let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Ok(Box::new(f))
    }
}

#[derive(Serialize)]
struct ScanFinding<'a> {
    #[serde(flatten)]
    finding: &'a Finding,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    signals: Vec<&'static str>,
}

/// How much of a long input `sluice scan` looks at at once, and the context either side.
const SCAN_WINDOW: usize = 4 << 20;
const SCAN_MARGIN: usize = 64 << 10;

pub fn scan(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let policy = load_policy(args.policy.as_ref())?;
    let engine = Engine::new(policy.clone())?;
    let mut input = Vec::new();
    open_input(&args.input)?
        .read_to_end(&mut input)
        .context("reading input")?;

    let mut findings: Vec<Finding> = Vec::new();
    let mut extra: Vec<(Option<f32>, Vec<&'static str>)> = Vec::new();
    // Scan each valid UTF-8 run on its own so offsets stay byte offsets into the input, and a
    // long run in stretches so memory stays bounded whatever the input's size (the scanner's
    // working copies, the injection scorer's normalised views). Injection is scored per
    // stretch: a score over a whole 100 MB file would say nothing about any part of it.
    let mut offset = 0;
    for piece in input.utf8_chunks() {
        let text = piece.valid();
        let before = findings.len();
        engine
            .scanner()
            .scan_windowed(text, SCAN_WINDOW, SCAN_MARGIN, &mut findings);
        if policy.detectors.injection {
            for w in sluice_core::detect::windows(text, SCAN_WINDOW, SCAN_MARGIN) {
                let Some(part) = text.get(w.own.clone()) else {
                    continue;
                };
                let report = engine.injection().analyze(part);
                if !report.is_injection(policy.detectors.injection_threshold) {
                    continue;
                }
                let start = report.signals.iter().map(|s| s.start).min().unwrap_or(0);
                let end = report
                    .signals
                    .iter()
                    .map(|s| s.end)
                    .max()
                    .unwrap_or(part.len());
                findings.push(Finding {
                    rule: "prompt-injection",
                    category: sluice_core::Category::Injection,
                    start: w.own.start + start,
                    end: w.own.start + end,
                    encoding: None,
                    validated: false,
                });
                extra.resize(findings.len() - 1, (None, Vec::new()));
                extra.push((
                    Some(report.score),
                    report.signals.iter().map(|s| s.name).collect(),
                ));
            }
        }
        for f in &mut findings[before..] {
            f.start += offset;
            f.end += offset;
        }
        offset += text.len() + piece.invalid().len();
    }
    extra.resize(findings.len(), (None, Vec::new()));
    let mut order: Vec<usize> = (0..findings.len()).collect();
    order.sort_by_key(|&i| (findings[i].start, findings[i].end));

    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match args.format {
        ScanFormat::Json => {
            let list: Vec<ScanFinding<'_>> = order
                .iter()
                .map(|&i| ScanFinding {
                    finding: &findings[i],
                    score: extra[i].0,
                    signals: extra[i].1.clone(),
                })
                .collect();
            serde_json::to_writer(&mut out, &serde_json::json!({ "findings": list }))?;
            writeln!(out)?;
        }
        ScanFormat::Text => {
            for &i in &order {
                let f = &findings[i];
                write!(
                    out,
                    "{}..{}\t{}\t{}",
                    f.start,
                    f.end,
                    f.category.as_str(),
                    f.rule
                )?;
                if let Some(enc) = f.encoding {
                    write!(
                        out,
                        "\tencoded:{}",
                        serde_json::to_string(&enc)?.trim_matches('"')
                    )?;
                }
                if let Some(score) = extra[i].0 {
                    write!(out, "\tscore={score:.2} signals={}", extra[i].1.join(","))?;
                }
                writeln!(out)?;
            }
        }
    }
    out.flush()?;
    Ok(if findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Whether `head` opens a server-sent event stream.
fn looks_like_sse(head: &[u8]) -> bool {
    let trimmed = head.trim_ascii_start();
    [&b"data:"[..], b"event:", b":", b"id:"]
        .iter()
        .any(|p| trimmed.starts_with(p))
}

/// Guesses whether `head` starts a response body of `api`.
fn looks_like_response(api: Api, head: &[u8]) -> bool {
    let trimmed = head.trim_ascii_start();
    if looks_like_sse(head) {
        return true;
    }
    if api == Api::Text {
        return true;
    }
    let first_line = trimmed.split(|&b| b == b'\n').next().unwrap_or(trimmed);
    let probe = |key: &[u8]| memchr::memmem::find(first_line, key).is_some();
    match api {
        Api::Ollama => probe(b"\"done\""),
        Api::Mcp => probe(b"\"result\"") || (probe(b"\"error\"") && !probe(b"\"method\"")),
        Api::OpenAiChat => probe(b"\"choices\""),
        Api::OpenAiResponses => probe(b"\"output\"") && !probe(b"\"input\""),
        Api::Anthropic => probe(b"\"type\":\"message\"") || probe(b"\"type\": \"message\""),
        Api::Gemini => probe(b"\"candidates\"") || trimmed.starts_with(b"["),
        Api::Text => true,
    }
}

fn content_type(api: Api, head: &[u8]) -> &'static str {
    match (api, looks_like_sse(head)) {
        (Api::Text, _) => "text/plain",
        (_, true) => "text/event-stream",
        (Api::Ollama, false) => "application/x-ndjson",
        (_, false) => "application/json",
    }
}

pub fn redact(args: RedactArgs) -> anyhow::Result<()> {
    let policy = load_policy(args.policy.as_ref())?;
    let engine = Engine::new(policy)?;
    let api = args.api.api();
    let mut input = open_input(&args.input)?;
    let stdout = io::stdout();
    let mut out = stdout.lock();

    // Read the first piece to decide the direction and framing.
    let mut buf = vec![0u8; 64 * 1024];
    let mut head = Vec::new();
    loop {
        let n = input.read(&mut buf).context("reading input")?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.iter().any(|b| !b.is_ascii_whitespace()) {
            break;
        }
    }
    let response = match args.direction {
        DirectionArg::Request => false,
        DirectionArg::Response => true,
        DirectionArg::Auto => looks_like_response(api, &head),
    };
    let path = match api {
        Api::OpenAiChat => "/v1/chat/completions",
        Api::OpenAiResponses => "/v1/responses",
        Api::Anthropic => "/v1/messages",
        Api::Gemini => "/v1beta/models/model:streamGenerateContent?alt=sse",
        Api::Ollama => "/api/chat",
        Api::Mcp => "/mcp",
        Api::Text => "/",
    };
    let ctx = ExchangeContext {
        api: Some(api),
        route: Some("cli".into()),
        ..Default::default()
    };
    let mut ex = engine.exchange(ctx);
    let req_headers = vec![
        (":path".to_string(), path.to_string()),
        (":method".to_string(), "POST".to_string()),
    ];
    if let HeadersOutcome::Reply(r) = ex.request_headers(&req_headers) {
        bail!("refused: {}", r.reason);
    }

    if !response {
        let mut body = head;
        input.read_to_end(&mut body).context("reading input")?;
        match ex.request_body(&body, true) {
            BodyOutcome::Unchanged => out.write_all(&body)?,
            BodyOutcome::Replace(b) => out.write_all(&b)?,
            BodyOutcome::Reply(r) => {
                out.write_all(&r.body)?;
                out.flush()?;
                bail!("request refused ({}): {}", r.status, r.reason);
            }
        }
        out.flush()?;
        return Ok(());
    }

    let resp_headers = vec![
        (":status".to_string(), "200".to_string()),
        (
            "content-type".to_string(),
            content_type(api, &head).to_string(),
        ),
    ];
    if let HeadersOutcome::Reply(r) = ex.response_headers(&resp_headers) {
        bail!("refused: {}", r.reason);
    }
    let mut emit = |chunk: &[u8], eos: bool, out: &mut io::StdoutLock<'_>| -> anyhow::Result<()> {
        match ex.response_body(chunk, eos) {
            BodyOutcome::Unchanged => out.write_all(chunk)?,
            BodyOutcome::Replace(b) => out.write_all(&b)?,
            BodyOutcome::Reply(r) => bail!("stream stopped: {}", r.reason),
        }
        out.flush()?;
        Ok(())
    };
    emit(&head, false, &mut out)?;
    loop {
        let n = input.read(&mut buf).context("reading input")?;
        if n == 0 {
            break;
        }
        emit(&buf[..n], false, &mut out)?;
    }
    emit(&[], true, &mut out)?;
    let record = ex.finish();
    if record.decision == sluice_core::Decision::Block {
        bail!("stream stopped: {}", record.errors.join("; "));
    }
    Ok(())
}
