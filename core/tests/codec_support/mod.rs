//! Shared helpers for the codec tests: corpus loading, test filters, an independent reader of
//! each API's stream (serde_json over a plain event splitter) to check outputs.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use sluice_core::codec::{
    Api, CodecError, Framing, ResponseRewriter, StreamKey, TextFilter, TextRef,
};

/// The stream captures: the repository's own copy first, then the shared corpus next to
/// the checkout (one or two levels up, for worktrees), or `SLUICE_CORPUS_STREAMS`.
pub fn corpus_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("SLUICE_CORPUS_STREAMS") {
        return PathBuf::from(p);
    }
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        base.join("../tests/corpus/streams"),
        base.join("../../shared/corpus/streams"),
        base.join("../../../shared/corpus/streams"),
    ];
    candidates
        .iter()
        .find(|p| p.is_dir())
        .cloned()
        .unwrap_or_else(|| candidates[1].clone())
}

pub fn corpus(name: &str) -> Vec<u8> {
    let p = corpus_dir().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The streamed corpus files with their API and framing.
pub fn streams() -> Vec<(&'static str, Api, Framing)> {
    vec![
        ("openai-chat.sse", Api::OpenAiChat, Framing::Sse),
        ("openai-responses.sse", Api::OpenAiResponses, Framing::Sse),
        ("anthropic.sse", Api::Anthropic, Framing::Sse),
        ("gemini.sse", Api::Gemini, Framing::Sse),
        ("ollama.ndjson", Api::Ollama, Framing::Ndjson),
        ("mcp-tools-call-result.sse", Api::Mcp, Framing::Sse),
    ]
}

/// Runs a body through a rewriter cut at `cuts` (sorted offsets).
pub fn run(
    api: Api,
    framing: Framing,
    input: &[u8],
    cuts: &[usize],
    filter: &mut dyn TextFilter,
) -> Result<Vec<u8>, CodecError> {
    let mut rw = ResponseRewriter::new(api, framing, 64 * 1024);
    let mut out = Vec::new();
    let mut pos = 0;
    for &c in cuts {
        let c = c.clamp(pos, input.len());
        rw.push(&input[pos..c], false, filter, &mut out)?;
        pos = c;
    }
    rw.push(&input[pos..], true, filter, &mut out)?;
    Ok(out)
}

/// Holds every delta until its stream ends.
#[derive(Default)]
pub struct HoldAll {
    pub held: BTreeMap<StreamKey, String>,
}

impl TextFilter for HoldAll {
    fn delta(&mut self, t: TextRef<'_>, _out: &mut String) {
        self.held.entry(t.key).or_default().push_str(t.text);
    }
    fn full(&mut self, t: TextRef<'_>, out: &mut String) {
        out.push_str(t.text);
    }
    fn end(&mut self, key: StreamKey, out: &mut String) {
        if let Some(s) = self.held.remove(&key) {
            out.push_str(&s);
        }
    }
    fn held_keys(&self, out: &mut Vec<StreamKey>) {
        out.extend(
            self.held
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, _)| *k),
        );
    }
}

/// Replaces each needle with `[MASKED]`, holding back only a trailing prefix of a needle:
/// a miniature of the holdback redactor.
pub struct Masker {
    pub needles: Vec<String>,
    pending: BTreeMap<StreamKey, String>,
    pub fulls: Vec<String>,
}

impl Masker {
    pub fn new(needles: &[&str]) -> Self {
        Masker {
            needles: needles.iter().map(|s| s.to_string()).collect(),
            pending: BTreeMap::new(),
            fulls: Vec::new(),
        }
    }

    pub fn mask(&self, text: &str) -> String {
        let mut s = text.to_string();
        for n in &self.needles {
            s = s.replace(n.as_str(), "[MASKED]");
        }
        s
    }

    /// Length of the longest suffix of `s` that is a proper prefix of some needle.
    fn viable_tail(&self, s: &str) -> usize {
        let mut best = 0;
        for n in &self.needles {
            for (i, _) in n.char_indices().skip(1) {
                if i > best && s.ends_with(&n[..i]) {
                    best = i;
                }
            }
        }
        best
    }
}

impl TextFilter for Masker {
    fn delta(&mut self, t: TextRef<'_>, out: &mut String) {
        let mut p = self.pending.remove(&t.key).unwrap_or_default();
        p.push_str(t.text);
        let masked = self.mask(&p);
        let keep = self.viable_tail(&masked);
        let cut = masked.len() - keep;
        out.push_str(&masked[..cut]);
        self.pending.insert(t.key, masked[cut..].to_string());
    }
    fn full(&mut self, t: TextRef<'_>, out: &mut String) {
        self.fulls.push(t.text.to_string());
        out.push_str(&self.mask(t.text));
    }
    fn end(&mut self, key: StreamKey, out: &mut String) {
        if let Some(p) = self.pending.remove(&key) {
            out.push_str(&p);
        }
    }
    fn held_keys(&self, out: &mut Vec<StreamKey>) {
        out.extend(
            self.pending
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, _)| *k),
        );
    }
}

/// Records what the codec hands over, changing nothing.
#[derive(Default)]
pub struct Recorder {
    pub deltas: Vec<(StreamKey, String)>,
    pub fulls: Vec<(sluice_core::codec::Role, String)>,
    pub ends: Vec<StreamKey>,
}

impl TextFilter for Recorder {
    fn delta(&mut self, t: TextRef<'_>, out: &mut String) {
        self.deltas.push((t.key, t.text.to_string()));
        out.push_str(t.text);
    }
    fn full(&mut self, t: TextRef<'_>, out: &mut String) {
        self.fulls.push((t.role, t.text.to_string()));
        out.push_str(t.text);
    }
    fn end(&mut self, key: StreamKey, _out: &mut String) {
        self.ends.push(key);
    }
    fn held_keys(&self, _out: &mut Vec<StreamKey>) {}
}

/// Splits an SSE body into (event name, data) pairs: an independent, simple reader (line
/// endings normalised first), for checking outputs.
pub fn sse_events(body: &[u8]) -> Vec<(Option<String>, String)> {
    let text = std::str::from_utf8(body).expect("output is UTF-8");
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut event = None;
        let mut data: Vec<&str> = Vec::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                event = Some(v.trim_start().to_string());
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v));
            }
        }
        if !data.is_empty() {
            out.push((event, data.join("\n")));
        }
    }
    out
}

/// The JSON documents of a response body, each parsed (panics on invalid JSON).
pub fn documents(framing: Framing, body: &[u8]) -> Vec<(Option<String>, Value)> {
    match framing {
        Framing::Sse => sse_events(body)
            .into_iter()
            .filter(|(_, d)| d != "[DONE]")
            .map(|(e, d)| {
                let v: Value = serde_json::from_str(&d)
                    .unwrap_or_else(|err| panic!("event data is not JSON ({err}): {d}"));
                (e, v)
            })
            .collect(),
        Framing::Ndjson => std::str::from_utf8(body)
            .expect("UTF-8")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| (None, serde_json::from_str(l).expect("line is JSON")))
            .collect(),
        Framing::Json => vec![(None, serde_json::from_slice(body).expect("body is JSON"))],
        Framing::Raw => Vec::new(),
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// Streamed text per stream, as an SDK would assemble it, plus full texts repeated in
/// `*.done` events. Panics when a delta arrives after its stream ended.
pub fn stream_texts(api: Api, framing: Framing, body: &[u8]) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = BTreeMap::new();
    let mut ended: Vec<String> = Vec::new();
    let add = |m: &mut BTreeMap<String, String>, ended: &Vec<String>, k: String, t: &str| {
        assert!(
            !ended.iter().any(|e| k.starts_with(e.as_str())),
            "delta for {k} after its end"
        );
        m.entry(k).or_default().push_str(t);
    };
    for (event, v) in documents(framing, body) {
        match api {
            Api::OpenAiChat => {
                for c in v["choices"].as_array().into_iter().flatten() {
                    let i = n(&c["index"]);
                    if let Some(t) = c["delta"]["content"].as_str() {
                        add(&mut m, &ended, format!("text/{i}"), t);
                    }
                    for tc in c["delta"]["tool_calls"].as_array().into_iter().flatten() {
                        if let Some(t) = tc["function"]["arguments"].as_str() {
                            add(
                                &mut m,
                                &ended,
                                format!("text/{i}/tool/{}", n(&tc["index"])),
                                t,
                            );
                        }
                    }
                    if !c["finish_reason"].is_null() {
                        ended.push(format!("text/{i}"));
                    }
                }
            }
            Api::OpenAiResponses => {
                let ty = s(&v["type"]);
                let (o, c) = (n(&v["output_index"]), n(&v["content_index"]));
                match ty {
                    "response.output_text.delta" => {
                        add(&mut m, &ended, format!("text/{o}/{c}"), s(&v["delta"]))
                    }
                    "response.function_call_arguments.delta" => {
                        add(&mut m, &ended, format!("tool/{o}"), s(&v["delta"]))
                    }
                    "response.output_text.done" => {
                        ended.push(format!("text/{o}/{c}"));
                        m.insert(format!("done.text/{o}/{c}"), s(&v["text"]).into());
                    }
                    "response.content_part.done" => {
                        m.insert(format!("done.part/{o}/{c}"), s(&v["part"]["text"]).into());
                    }
                    "response.output_item.done" => {
                        for (k, p) in v["item"]["content"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .enumerate()
                        {
                            m.insert(format!("done.item/{o}/{k}"), s(&p["text"]).into());
                        }
                    }
                    "response.completed" => {
                        for (oi, it) in v["response"]["output"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .enumerate()
                        {
                            for (k, p) in it["content"].as_array().into_iter().flatten().enumerate()
                            {
                                m.insert(format!("done.completed/{oi}/{k}"), s(&p["text"]).into());
                            }
                        }
                    }
                    _ => {}
                }
            }
            Api::Anthropic => {
                let i = n(&v["index"]);
                match s(&v["type"]) {
                    "content_block_delta" => {
                        assert_eq!(event.as_deref(), Some("content_block_delta"));
                        let d = &v["delta"];
                        let (k, t) = match s(&d["type"]) {
                            "text_delta" => ("text", s(&d["text"])),
                            "input_json_delta" => ("tool", s(&d["partial_json"])),
                            "thinking_delta" => ("think", s(&d["thinking"])),
                            _ => continue,
                        };
                        add(&mut m, &ended, format!("{k}/{i}"), t);
                    }
                    "content_block_stop" => {
                        ended.push(format!("text/{i}"));
                        ended.push(format!("tool/{i}"));
                    }
                    _ => {}
                }
            }
            Api::Gemini => {
                let docs: Vec<&Value> = match v.as_array() {
                    Some(a) => a.iter().collect(),
                    None => vec![&v],
                };
                for d in docs {
                    for (p, c) in d["candidates"].as_array().into_iter().flatten().enumerate() {
                        let i = c["index"].as_u64().unwrap_or(p as u64);
                        for part in c["content"]["parts"].as_array().into_iter().flatten() {
                            if let Some(t) = part["text"].as_str() {
                                add(&mut m, &ended, format!("text/{i}"), t);
                            }
                        }
                        if c.get("finishReason").is_some() {
                            ended.push(format!("text/{i}"));
                        }
                    }
                }
            }
            Api::Ollama => {
                if let Some(t) = v["message"]["content"].as_str() {
                    add(&mut m, &ended, "text".into(), t);
                }
                if let Some(t) = v["response"].as_str() {
                    add(&mut m, &ended, "text".into(), t);
                }
                if v["done"] == Value::Bool(true) {
                    ended.push("text".into());
                }
            }
            Api::Mcp => {
                for (k, c) in v["result"]["content"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    add(&mut m, &ended, format!("result/{k}"), s(&c["text"]));
                }
            }
            Api::Text => {}
        }
    }
    m
}

/// Cut points for a random multi-split.
pub fn cuts_from(seed: &[usize], len: usize) -> Vec<usize> {
    let mut v: Vec<usize> = seed.iter().map(|c| c % (len + 1)).collect();
    v.sort_unstable();
    v
}
