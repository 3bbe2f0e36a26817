//! The incremental response rewriter: decodes the body's framing, hands each text field to
//! the filter, splices what it returns, and places text the filter released late (at the end
//! of a stream) in synthesised events of the API's own shape.

use std::ops::Range;

use super::errors::{refusal_document, refusal_event};
use super::json_str::{JsonWalker, decode_string, encode_string, splice};
use super::ndjson::LineDecoder;
use super::shapes::{EndSel, Mode, Plan, plan_response};
use super::sse::{SseDecoder, SseItem};
use super::usage::TokenUsage;
use super::{Api, CodecError, Framing, Role, StreamKey, StreamKind, TextFilter, TextRef};

/// Largest event kept as a template for synthesised events; a larger one keeps the previous.
const TEMPLATE_CAP: usize = 16 * 1024;
/// Most streams open at once in one response (choices × tool calls × content blocks).
const MAX_KEYS: usize = 1024;

/// Most original bytes parked while waiting for held text (see [`Park`]); past it the
/// rewritten events leave instead.
const PARK_CAP: usize = 64 * 1024;

const RAW_KEY: StreamKey = StreamKey {
    kind: StreamKind::Text,
    index: 0,
    sub: 0,
};

/// The raw bytes of the last delta event of one stream, to re-send with other text.
#[derive(Debug)]
struct Template {
    key: StreamKey,
    raw: Vec<u8>,
    /// Raw spans of the event's text sites, and which one belongs to `key`.
    spans: Vec<(Range<usize>, bool)>,
    /// The event had no terminator (the unterminated tail of a body).
    open: bool,
}

#[derive(Debug)]
enum Decoder {
    Sse(SseDecoder),
    Ndjson(LineDecoder),
    Json(Vec<u8>),
    /// Up to 3 bytes of an incomplete UTF-8 sequence.
    Raw(Vec<u8>),
}

/// Text of one stream received and released while events are parked.
#[derive(Debug)]
struct Debt {
    key: StreamKey,
    /// Original text of the parked events, oldest first.
    received: String,
    /// Bytes of `received` the filter has released, unchanged, so far.
    released: usize,
}

/// One text site of a parked event, kept so the event can be rebuilt if the window turns out
/// to need rewriting.
#[derive(Debug)]
struct ParkedSite {
    span: Range<usize>,
    /// The delta stream, or `None` for a complete-text site (whose `text` is the filter's).
    key: Option<StreamKey>,
    text: String,
    /// Length of the original delta text (what releasing the raw event consumes).
    len: usize,
}

#[derive(Debug)]
struct Parked {
    raw: Vec<u8>,
    sites: Vec<ParkedSite>,
    /// A synthesised event carrying released text (`raw` is the synthesised bytes); dropped
    /// when the window leaves as original bytes, since the originals carry that text.
    synthetic: Option<StreamKey>,
}

/// Event-level holdback that keeps invariant 2 (no finding → byte-identical output).
///
/// When the filter holds back part of an event's text, the event is parked rather than sent
/// re-encoded with a shorter text. Parked events leave in order, as their original bytes, as
/// soon as all of their text has been released unchanged — so a word held until the next
/// event costs one event of delay and nothing else. If the filter releases anything other than
/// the held original text (a mask), the parked events are rebuilt: each stream's released text
/// goes into its last parked event, the other parked deltas of that stream become empty, and
/// from then on events leave rewritten (a finding was made; identity is no longer promised).
#[derive(Debug, Default)]
struct Park {
    events: std::collections::VecDeque<Parked>,
    debts: Vec<Debt>,
    /// Original bytes parked.
    bytes: usize,
    /// A finding changed the text: no more parking for this body.
    tainted: bool,
}

impl Park {
    fn active(&self) -> bool {
        !self.events.is_empty()
    }

    fn debt(&mut self, key: StreamKey) -> &mut Debt {
        let pos = match self.debts.iter().position(|d| d.key == key) {
            Some(p) => p,
            None => {
                self.debts.push(Debt {
                    key,
                    received: String::new(),
                    released: 0,
                });
                self.debts.len() - 1
            }
        };
        &mut self.debts[pos]
    }

    /// Records that `key` received `input` and the filter released `output`; false when the
    /// release is not the held original text.
    fn account(&mut self, key: StreamKey, input: &str, output: &str) -> bool {
        let d = self.debt(key);
        d.received.push_str(input);
        let rest = d.received.get(d.released..).unwrap_or_default();
        if rest.starts_with(output) {
            d.released += output.len();
            true
        } else {
            false
        }
    }

    /// Sends, as original bytes, every parked event at the front whose text is all released.
    fn release_front(&mut self, out: &mut Vec<u8>) {
        while let Some(front) = self.events.front() {
            if front.synthetic.is_some() {
                self.events.pop_front();
                continue;
            }
            let ready = front.sites.iter().all(|site| match site.key {
                Some(k) => self
                    .debts
                    .iter()
                    .find(|d| d.key == k)
                    .is_some_and(|d| d.released >= site.len),
                None => true,
            });
            if !ready {
                break;
            }
            let Some(front) = self.events.pop_front() else {
                break;
            };
            for site in &front.sites {
                if let Some(k) = site.key
                    && let Some(d) = self.debts.iter_mut().find(|d| d.key == k)
                {
                    let len = site.len.min(d.received.len());
                    d.received.drain(..len);
                    d.released -= len.min(d.released);
                }
            }
            self.bytes -= front.raw.len().min(self.bytes);
            out.extend_from_slice(&front.raw);
        }
        if self.events.is_empty() {
            self.debts.retain(|d| !d.received.is_empty());
            self.bytes = 0;
        }
    }

    /// Bytes that need no filtering (comments, metadata events) keep their place in line.
    fn pass(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        if self.active() {
            self.bytes += raw.len();
            self.events.push_back(Parked {
                raw: raw.to_vec(),
                sites: Vec::new(),
                synthetic: None,
            });
        } else {
            out.extend_from_slice(raw);
        }
    }

    /// Rebuilds and sends every parked event with the text actually released: per stream, the
    /// released original text not yet sent plus `extra` (the releases that did not match).
    fn release_rewritten(&mut self, extra: &[(StreamKey, String)], out: &mut Vec<u8>) {
        let mut text: Vec<(StreamKey, String)> = self
            .debts
            .iter()
            .map(|d| {
                (
                    d.key,
                    d.received.get(..d.released).unwrap_or_default().to_string(),
                )
            })
            .collect();
        for (k, t) in extra {
            match text.iter_mut().find(|(key, _)| key == k) {
                Some((_, s)) => s.push_str(t),
                None => text.push((*k, t.clone())),
            }
        }
        // The last real event carrying each stream gets its text; earlier ones get "".
        let last = |k: StreamKey, events: &std::collections::VecDeque<Parked>| {
            events
                .iter()
                .rposition(|e| e.synthetic.is_none() && e.sites.iter().any(|s| s.key == Some(k)))
        };
        let owners: Vec<(StreamKey, Option<usize>)> = text
            .iter()
            .map(|(k, _)| (*k, last(*k, &self.events)))
            .collect();
        let mut spans: Vec<Range<usize>> = Vec::new();
        for (i, ev) in self.events.iter().enumerate() {
            if let Some(k) = ev.synthetic {
                // Only needed when no real event of that stream is parked to carry the text.
                if owners.iter().any(|(key, o)| *key == k && o.is_none()) {
                    out.extend_from_slice(&ev.raw);
                }
                continue;
            }
            spans.clear();
            spans.extend(ev.sites.iter().map(|s| s.span.clone()));
            splice(&ev.raw, &spans, out, |n, out| {
                let Some(site) = ev.sites.get(n) else { return };
                match site.key {
                    None => encode_string(&site.text, out),
                    Some(k) => {
                        let mine = owners.iter().any(|(key, o)| *key == k && *o == Some(i));
                        let t = text
                            .iter()
                            .find(|(key, _)| *key == k)
                            .map(|(_, t)| t.as_str());
                        encode_string(if mine { t.unwrap_or("") } else { "" }, out);
                    }
                }
            });
        }
        self.events.clear();
        self.debts.clear();
        self.bytes = 0;
    }
}

/// Per-event work state, reused from event to event.
#[derive(Debug, Default)]
struct Engine {
    walker: JsonWalker,
    plan: Plan,
    /// Filter output per site.
    texts: Vec<String>,
    /// Filter input per delta site (for the park's accounting).
    inputs: Vec<String>,
    /// Text released into synthesised events during the current event, per stream, with the
    /// synthesised event's range in `before`.
    synth: Vec<(StreamKey, String, Range<usize>)>,
    park: Park,
    /// The current event as rewritten (synthesised events first).
    staged: Vec<u8>,
    changed: Vec<bool>,
    /// Raw spans of the sites, in site order.
    raw_spans: Vec<Range<usize>>,
    decoded: String,
    released: String,
    keys: Vec<StreamKey>,
    templates: Vec<Template>,
    /// Synthesised events to emit before the current one.
    before: Vec<u8>,
    order: Vec<usize>,
    /// The last emitted event had no terminator.
    tail_open: bool,
    /// What ends an event in this framing (`\n\n` for SSE, `\n` for NDJSON).
    terminator: &'static [u8],
    /// Where in the current push's output the stream's terminal event begins, once seen.
    terminal_at: Option<usize>,
    /// The terminal event has been seen (in this push or an earlier one).
    terminal_seen: bool,
    /// Token counts the documents read so far reported.
    usage: TokenUsage,
    /// Each event is one self-contained message, decided whole before it leaves (see
    /// [`ResponseRewriter::holding_messages`]); the framing its refusal is written in.
    hold_messages: Option<Framing>,
    /// Messages refused and replaced by an error so far.
    refused: u32,
}

/// Incremental response rewriter: feed raw body chunks, get the bytes to emit.
#[derive(Debug)]
pub struct ResponseRewriter {
    api: Api,
    framing: Framing,
    /// Upper bound on buffered bytes (partial event, or a whole JSON document).
    limit: usize,
    decoder: Decoder,
    engine: Engine,
    data: Vec<u8>,
    /// The terminal event and everything after it, kept until the end of the body (see
    /// [`ResponseRewriter::push`]).
    deferred: Vec<u8>,
    finished: bool,
    failed: Option<CodecError>,
}

impl ResponseRewriter {
    pub fn new(api: Api, framing: Framing, limit: usize) -> Self {
        let decoder = match framing {
            Framing::Sse => Decoder::Sse(SseDecoder::new(limit)),
            Framing::Ndjson => Decoder::Ndjson(LineDecoder::new(limit)),
            Framing::Json => Decoder::Json(Vec::new()),
            Framing::Raw => Decoder::Raw(Vec::new()),
        };
        ResponseRewriter {
            api,
            framing,
            limit,
            decoder,
            engine: Engine {
                terminator: if framing == Framing::Ndjson {
                    b"\n"
                } else {
                    b"\n\n"
                },
                ..Engine::default()
            },
            data: Vec::new(),
            deferred: Vec::new(),
            finished: false,
            failed: None,
        }
    }

    pub fn api(&self) -> Api {
        self.api
    }

    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// The token counts the answer has reported so far, each the latest report of its field.
    pub fn usage(&self) -> TokenUsage {
        self.engine.usage
    }

    /// Treats every event (SSE event, NDJSON line) as one self-contained message: once its
    /// texts are filtered, the filter may refuse it ([`TextFilter::refuse_message`]) and an
    /// error in the API's shape leaves in its place, so a blocked finding never leaves with
    /// its message. For MCP (each event is one JSON-RPC message) and for answers labelled
    /// `application/json` that arrive as lines; token streams keep streaming. A whole JSON
    /// document is always decided this way.
    pub fn holding_messages(mut self, hold: bool) -> Self {
        self.engine.hold_messages = hold.then_some(self.framing);
        self
    }

    /// How many messages were refused and replaced by an error so far.
    pub fn refused(&self) -> u32 {
        self.engine.refused
    }

    /// Consumes `chunk` and appends to `out` the bytes that may leave now: complete events,
    /// rewritten where the filter changed their text, byte-identical otherwise. A partial event
    /// at the end of `chunk` is kept until it completes. At `end_of_stream` everything held
    /// (by the rewriter and by the filter) is flushed in events of the API's own shape.
    ///
    /// The stream's terminal event (`[DONE]`, Anthropic `message_stop`, the Responses API's
    /// `response.completed` / `.incomplete` / `.failed`, Ollama's `"done": true` line) and
    /// whatever follows it leave only with the end of the body. Clients and SDKs treat that
    /// event as a completed answer, so an adapter that must still refuse the end (its audit
    /// record could not be made durable) can replace the final output and the client never
    /// sees a normal completion. Real providers end the body right after it, so this costs
    /// no perceptible delay.
    ///
    /// After an error the rewriter stays failed; after the end of the stream, empty chunks
    /// are accepted (Envoy may repeat the end) and anything else is an error.
    pub fn push(
        &mut self,
        chunk: &[u8],
        end_of_stream: bool,
        filter: &mut dyn TextFilter,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.finished {
            if chunk.is_empty() {
                return Ok(());
            }
            return Err(CodecError::Stream(
                "data after the end of the stream".into(),
            ));
        }
        let start = out.len();
        let earlier = self.engine.terminal_seen;
        self.engine.terminal_at = None;
        let r = self.push_inner(chunk, end_of_stream, filter, out);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        if end_of_stream {
            self.finished = true;
            if earlier {
                // Everything this last push produced came after the deferred bytes.
                let tail = out.split_off(start);
                out.append(&mut self.deferred);
                out.extend_from_slice(&tail);
            }
        } else if earlier {
            self.deferred.extend(out.drain(start..));
        } else if let Some(at) = self.engine.terminal_at {
            self.deferred.extend(out.drain(at.max(start)..));
        }
        r
    }

    fn push_inner(
        &mut self,
        chunk: &[u8],
        eos: bool,
        filter: &mut dyn TextFilter,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        let api = self.api;
        let engine = &mut self.engine;
        match &mut self.decoder {
            Decoder::Sse(dec) => {
                dec.push(chunk);
                while let Some(item) = dec.next_event(eos)? {
                    match item {
                        SseItem::Passthrough(bytes) => engine.park.pass(bytes, out),
                        SseItem::Event(ev) => {
                            if !ev.has_data() {
                                engine.park.pass(ev.raw, out);
                                continue;
                            }
                            let doc = ev.data(&mut self.data);
                            let open = eos && dec_tail_open(ev.raw);
                            engine.event(
                                api,
                                ev.raw,
                                doc,
                                open,
                                &|s| ev.data_to_raw(s),
                                filter,
                                out,
                            )?;
                        }
                    }
                }
                if eos {
                    engine.flush_all(filter, out)?;
                }
            }
            Decoder::Ndjson(dec) => {
                dec.push(chunk);
                while let Some(line) = dec.next_line(eos)? {
                    if line.is_blank() {
                        engine.park.pass(line.raw, out);
                        continue;
                    }
                    let open = line.content.end == line.raw.len();
                    let content = line.content.clone();
                    engine.event(
                        api,
                        line.raw,
                        line.text(),
                        open,
                        &|s: Range<usize>| (s.end <= content.end).then_some(s),
                        filter,
                        out,
                    )?;
                }
                if eos {
                    engine.flush_all(filter, out)?;
                }
            }
            Decoder::Json(buf) => {
                if buf.len() + chunk.len() > self.limit {
                    return Err(CodecError::TooLarge { limit: self.limit });
                }
                buf.extend_from_slice(chunk);
                if eos && !buf.is_empty() {
                    engine.whole(api, buf, filter, out)?;
                    buf.clear();
                }
            }
            Decoder::Raw(pending) => {
                raw_text(pending, chunk, eos, engine, filter, out)?;
            }
        }
        Ok(())
    }
}

/// Whether an event's data is the one that tells clients the answer is complete. A cheap
/// substring check comes first; only a candidate is parsed.
fn is_terminal(api: Api, doc: &[u8]) -> bool {
    if doc == b"[DONE]" {
        return true;
    }
    let field = |name: &str| -> Option<serde_json::Value> {
        let v: serde_json::Value = serde_json::from_slice(doc).ok()?;
        v.get(name).cloned()
    };
    let has = |needle: &[u8]| memchr::memmem::find(doc, needle).is_some();
    match api {
        Api::Anthropic => {
            has(b"message_stop") && field("type").is_some_and(|t| t == "message_stop")
        }
        Api::OpenAiResponses => {
            has(b"response.")
                && field("type").is_some_and(|t| {
                    t == "response.completed"
                        || t == "response.incomplete"
                        || t == "response.failed"
                })
        }
        Api::Ollama => has(b"\"done\"") && field("done").is_some_and(|d| d == true),
        _ => false,
    }
}

/// Whether an SSE event's raw bytes lack the blank line that ends an event.
fn dec_tail_open(raw: &[u8]) -> bool {
    !(raw.ends_with(b"\n\n")
        || raw.ends_with(b"\r\r")
        || raw.ends_with(b"\n\r\n")
        || raw.ends_with(b"\r\n\r"))
}

fn raw_text(
    pending: &mut Vec<u8>,
    chunk: &[u8],
    eos: bool,
    engine: &mut Engine,
    filter: &mut dyn TextFilter,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    // Only the (at most 3-byte) incomplete sequence is copied; the chunk itself is read in
    // place, so an endless body costs no buffering.
    let mut head_len = 0;
    if !pending.is_empty() {
        while head_len < chunk.len() && pending.len() < 4 {
            pending.push(chunk.get(head_len).copied().unwrap_or_default());
            head_len += 1;
            if std::str::from_utf8(pending).is_ok() {
                break;
            }
        }
        match std::str::from_utf8(pending) {
            Ok(s) => {
                deliver(s, engine, filter, out);
                pending.clear();
            }
            Err(e) if e.error_len().is_some() => return Err(CodecError::Utf8),
            Err(_) if eos || pending.len() >= 4 => return Err(CodecError::Utf8),
            Err(_) => return Ok(()),
        }
    }
    let rest = chunk.get(head_len..).unwrap_or_default();
    let (valid, tail) = match std::str::from_utf8(rest) {
        Ok(s) => (s, &[][..]),
        Err(e) if e.error_len().is_some() => return Err(CodecError::Utf8),
        Err(e) => {
            let (a, b) = rest.split_at(e.valid_up_to());
            (std::str::from_utf8(a).map_err(|_| CodecError::Utf8)?, b)
        }
    };
    if !valid.is_empty() {
        deliver(valid, engine, filter, out);
    }
    pending.extend_from_slice(tail);
    if eos {
        if !pending.is_empty() {
            return Err(CodecError::Utf8);
        }
        engine.released.clear();
        filter.end(RAW_KEY, &mut engine.released);
        out.extend_from_slice(engine.released.as_bytes());
        engine.keys.clear();
        filter.held_keys(&mut engine.keys);
        for key in std::mem::take(&mut engine.keys) {
            engine.released.clear();
            filter.end(key, &mut engine.released);
            out.extend_from_slice(engine.released.as_bytes());
        }
    }
    Ok(())
}

fn deliver(text: &str, engine: &mut Engine, filter: &mut dyn TextFilter, out: &mut Vec<u8>) {
    engine.released.clear();
    filter.delta(
        TextRef {
            key: RAW_KEY,
            role: Role::Assistant,
            text,
        },
        &mut engine.released,
    );
    out.extend_from_slice(engine.released.as_bytes());
}

impl Engine {
    /// One stream event (an SSE event with data, or an NDJSON line).
    #[allow(clippy::too_many_arguments)]
    fn event(
        &mut self,
        api: Api,
        raw: &[u8],
        doc: &[u8],
        open: bool,
        to_raw: &dyn Fn(Range<usize>) -> Option<Range<usize>>,
        filter: &mut dyn TextFilter,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        let doc_trim = doc.trim_ascii();
        if doc_trim.is_empty() {
            self.park.pass(raw, out);
            return Ok(());
        }
        std::str::from_utf8(doc).map_err(|_| CodecError::Utf8)?;
        if !self.terminal_seen && is_terminal(api, doc_trim) {
            self.terminal_seen = true;
            self.terminal_at = Some(out.len());
        }
        if doc_trim == b"[DONE]" {
            self.before.clear();
            self.synth.clear();
            self.plan.sites.clear();
            self.changed.clear();
            self.end_keys(EndSel::All, filter, None)?;
            let mut staged = std::mem::take(&mut self.staged);
            staged.clear();
            self.emit_before(&mut staged);
            staged.extend_from_slice(raw);
            self.stage(raw, &staged, out);
            self.staged = staged;
            return Ok(());
        }
        plan_response(api, Mode::Stream, doc, &mut self.walker, &mut self.plan)?;
        // Before the shortcut below: usage rides in events with no text (OpenAI's last chunk).
        self.usage.update(self.plan.usage);
        if self.plan.sites.is_empty() && self.plan.ends.is_empty() {
            self.park.pass(raw, out);
            self.tail_open = open;
            return Ok(());
        }
        self.prepare(doc, to_raw)?;
        self.before.clear();
        self.synth.clear();
        // Deltas first, then the streams this event ends (their released text rides in this
        // event's site for that stream, or in a synthesised event before it), then full texts.
        for n in 0..self.plan.sites.len() {
            if self.plan.sites.get(n).is_some_and(|s| !s.full) {
                self.run_site(doc, n, filter);
            }
        }
        for e in 0..self.plan.ends.len() {
            if let Some(sel) = self.plan.ends.get(e).copied() {
                self.end_keys(sel, filter, Some(()))?;
            }
        }
        for n in 0..self.plan.sites.len() {
            if self.plan.sites.get(n).is_some_and(|s| s.full) {
                self.run_site(doc, n, filter);
            }
        }
        if let Some(framing) = self.hold_messages
            && let Some(reason) = filter.refuse_message()
        {
            // Nothing of the message has left (its sites are all in this event): the error
            // takes its place, and whatever text it released is dropped with it.
            self.before.clear();
            self.synth.clear();
            self.refused += 1;
            let refusal = refusal_event(api, framing, doc_trim, &reason);
            if self.tail_open {
                self.park.pass(self.terminator, out);
            }
            self.park.pass(&refusal, out);
            self.tail_open = false;
            return Ok(());
        }
        self.remember_templates(raw, open)?;
        let mut staged = std::mem::take(&mut self.staged);
        staged.clear();
        self.emit_before(&mut staged);
        self.emit_event(raw, &mut staged);
        self.stage(raw, &staged, out);
        self.staged = staged;
        self.tail_open = open;
        Ok(())
    }

    /// Sends the current event (`staged` = synthesised events + the event as rewritten, `raw`
    /// = as received) or parks it (see [`Park`]).
    fn stage(&mut self, raw: &[u8], staged: &[u8], out: &mut Vec<u8>) {
        let changed = !self.synth.is_empty() || self.changed.iter().any(|&c| c);
        if self.park.tainted || (!changed && !self.park.active()) {
            out.extend_from_slice(staged);
            return;
        }
        let mut clean = true;
        let mut extra: Vec<(StreamKey, String)> = Vec::new();
        let mut sites = Vec::with_capacity(self.plan.sites.len());
        for (n, site) in self.plan.sites.iter().enumerate() {
            let output = self.texts.get(n).map_or("", String::as_str);
            let span = self.raw_spans.get(n).cloned().unwrap_or(0..0);
            if site.full {
                clean &= self.changed.get(n) != Some(&true);
                sites.push(ParkedSite {
                    span,
                    key: None,
                    text: output.to_string(),
                    len: 0,
                });
            } else {
                let input = self.inputs.get(n).map_or("", String::as_str);
                if !self.park.account(site.key, input, output) {
                    clean = false;
                    extra.push((site.key, output.to_string()));
                }
                sites.push(ParkedSite {
                    span,
                    key: Some(site.key),
                    text: String::new(),
                    len: input.len(),
                });
            }
        }
        for (key, text, range) in &self.synth {
            if !self.park.account(*key, "", text) {
                clean = false;
                extra.push((*key, text.clone()));
            }
            self.park.events.push_back(Parked {
                raw: self.before.get(range.clone()).unwrap_or_default().to_vec(),
                sites: Vec::new(),
                synthetic: Some(*key),
            });
        }
        self.park.bytes += raw.len();
        self.park.events.push_back(Parked {
            raw: raw.to_vec(),
            sites,
            synthetic: None,
        });
        if !clean || self.park.bytes > PARK_CAP {
            self.park.release_rewritten(&extra, out);
            self.park.tainted = true;
        } else {
            self.park.release_front(out);
        }
    }

    /// Computes raw spans for the plan's sites and sizes the per-site buffers.
    fn prepare(
        &mut self,
        _doc: &[u8],
        to_raw: &dyn Fn(Range<usize>) -> Option<Range<usize>>,
    ) -> Result<(), CodecError> {
        let n = self.plan.sites.len();
        self.raw_spans.clear();
        for site in &self.plan.sites {
            let r = to_raw(site.span.clone())
                .ok_or_else(|| CodecError::Stream("text field spans several data lines".into()))?;
            self.raw_spans.push(r);
        }
        if self.texts.len() < n {
            self.texts.resize_with(n, String::new);
        }
        if self.inputs.len() < n {
            self.inputs.resize_with(n, String::new);
        }
        self.changed.clear();
        self.changed.resize(n, false);
        Ok(())
    }

    fn run_site(&mut self, doc: &[u8], n: usize, filter: &mut dyn TextFilter) {
        let (Some(site), Some(buf)) = (self.plan.sites.get(n), self.texts.get_mut(n)) else {
            return;
        };
        let token = doc.get(site.span.clone()).unwrap_or_default();
        let text = decode_string(token, &mut self.decoded);
        if !site.full
            && let Some(input) = self.inputs.get_mut(n)
        {
            input.clear();
            input.push_str(text);
        }
        buf.clear();
        let t = TextRef {
            key: site.key,
            role: site.role,
            text,
        };
        if site.full {
            filter.full(t, buf);
        } else {
            filter.delta(t, buf);
        }
        let changed = buf.as_str() != text;
        if let Some(c) = self.changed.get_mut(n) {
            *c = changed;
        }
    }

    /// Ends the selected streams. With `in_event`, released text joins the current event's
    /// delta site of the same stream when there is one.
    fn end_keys(
        &mut self,
        sel: EndSel,
        filter: &mut dyn TextFilter,
        in_event: Option<()>,
    ) -> Result<(), CodecError> {
        self.keys.clear();
        filter.held_keys(&mut self.keys);
        self.keys.extend(self.templates.iter().map(|t| t.key));
        if in_event.is_some() {
            self.keys
                .extend(self.plan.sites.iter().filter(|s| !s.full).map(|s| s.key));
        }
        self.keys.retain(|k| match sel {
            EndSel::Key(x) => *k == x,
            EndSel::Index(i) => k.index == i,
            EndSel::All => true,
        });
        if let EndSel::Key(k) = sel
            && self.keys.is_empty()
        {
            self.keys.push(k);
        }
        self.keys.sort_unstable();
        self.keys.dedup();
        let keys = std::mem::take(&mut self.keys);
        let mut result = Ok(());
        for &key in &keys {
            self.released.clear();
            filter.end(key, &mut self.released);
            let site = in_event
                .and_then(|()| self.plan.sites.iter().position(|s| !s.full && s.key == key));
            if !self.released.is_empty() {
                match site {
                    Some(n) => {
                        if let Some(buf) = self.texts.get_mut(n) {
                            buf.push_str(&self.released);
                        }
                        if let Some(c) = self.changed.get_mut(n) {
                            *c = true;
                        }
                    }
                    None => {
                        if let Err(e) = self.synthesise(key) {
                            result = Err(e);
                        }
                    }
                }
            }
            self.templates.retain(|t| t.key != key);
        }
        self.keys = keys;
        result
    }

    /// Appends to `before` the template event of `key` carrying `released`.
    fn synthesise(&mut self, key: StreamKey) -> Result<(), CodecError> {
        let Some(t) = self.templates.iter().find(|t| t.key == key) else {
            return Err(CodecError::Stream(
                "held text for a stream with no event to carry it".into(),
            ));
        };
        let released = &self.released;
        let spans: Vec<Range<usize>> = t.spans.iter().map(|s| s.0.clone()).collect();
        let start = self.before.len();
        splice(&t.raw, &spans, &mut self.before, |n, out| {
            if t.spans.get(n).is_some_and(|s| s.1) {
                encode_string(released, out);
            } else {
                out.extend_from_slice(b"\"\"");
            }
        });
        if t.open {
            self.before.extend_from_slice(self.terminator);
        }
        let range = start..self.before.len();
        self.synth.push((key, released.clone(), range));
        Ok(())
    }

    fn remember_templates(&mut self, raw: &[u8], open: bool) -> Result<(), CodecError> {
        if raw.len() > TEMPLATE_CAP {
            return Ok(());
        }
        // A BOM opens only the first event; a replay must not repeat it.
        let bom = if raw.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        for n in 0..self.plan.sites.len() {
            let Some(site) = self.plan.sites.get(n) else {
                break;
            };
            if site.full {
                continue;
            }
            let key = site.key;
            // The event ended this stream: nothing will need to ride after it.
            if self.plan.ends.iter().any(|e| match *e {
                EndSel::Key(k) => k == key,
                EndSel::Index(i) => key.index == i,
                EndSel::All => true,
            }) {
                continue;
            }
            let pos = match self.templates.iter().position(|t| t.key == key) {
                Some(p) => p,
                None => {
                    if self.templates.len() >= MAX_KEYS {
                        return Err(CodecError::TooLarge { limit: MAX_KEYS });
                    }
                    self.templates.push(Template {
                        key,
                        raw: Vec::new(),
                        spans: Vec::new(),
                        open,
                    });
                    self.templates.len() - 1
                }
            };
            let Some(t) = self.templates.get_mut(pos) else {
                continue;
            };
            t.raw.clear();
            t.raw.extend_from_slice(raw.get(bom..).unwrap_or_default());
            t.open = open;
            t.spans.clear();
            for (m, (s, r)) in self.plan.sites.iter().zip(&self.raw_spans).enumerate() {
                if !s.full {
                    t.spans.push((r.start - bom..r.end - bom, m == n));
                }
            }
        }
        Ok(())
    }

    fn emit_before(&mut self, out: &mut Vec<u8>) {
        if !self.before.is_empty() {
            if self.tail_open {
                out.extend_from_slice(self.terminator);
                self.tail_open = false;
            }
            out.extend_from_slice(&self.before);
            self.before.clear();
        }
    }

    /// Emits the current event: the original bytes when no site changed.
    fn emit_event(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        if !self.changed.iter().any(|&c| c) {
            out.extend_from_slice(raw);
            return;
        }
        // Spans in raw order (sites come in document order, but keep it robust).
        self.order.clear();
        self.order
            .extend((0..self.raw_spans.len()).filter(|&n| self.changed.get(n) == Some(&true)));
        let spans = &self.raw_spans;
        self.order
            .sort_by_key(|&n| spans.get(n).map_or(0, |r| r.start));
        let sorted: Vec<Range<usize>> = self
            .order
            .iter()
            .filter_map(|&n| spans.get(n).cloned())
            .collect();
        let texts = &self.texts;
        let order = &self.order;
        splice(raw, &sorted, out, |k, out| {
            let text = order.get(k).and_then(|&n| texts.get(n));
            encode_string(text.map_or("", String::as_str), out);
        });
    }

    /// At the end of the body: end every stream still known, each release in its template.
    fn flush_all(
        &mut self,
        filter: &mut dyn TextFilter,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        self.before.clear();
        self.synth.clear();
        self.plan.sites.clear();
        self.end_keys(EndSel::All, filter, None)?;
        let mut staged = std::mem::take(&mut self.staged);
        staged.clear();
        self.emit_before(&mut staged);
        self.changed.clear();
        self.stage(&[], &staged, out);
        if self.park.active() {
            // Everything is released at the end; a window still open did not get its text.
            self.park.release_rewritten(&[], out);
            self.park.tainted = true;
        }
        self.staged = staged;
        Ok(())
    }

    /// A whole JSON document (non-streamed answer): every text through `full`.
    fn whole(
        &mut self,
        api: Api,
        doc: &[u8],
        filter: &mut dyn TextFilter,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        std::str::from_utf8(doc).map_err(|_| CodecError::Utf8)?;
        plan_response(api, Mode::Whole, doc, &mut self.walker, &mut self.plan)?;
        self.usage.update(self.plan.usage);
        self.prepare(doc, &|s| Some(s))?;
        for n in 0..self.plan.sites.len() {
            self.run_site(doc, n, filter);
        }
        if let Some(reason) = filter.refuse_message() {
            self.refused += 1;
            out.extend_from_slice(&refusal_document(api, doc, &reason));
            return Ok(());
        }
        self.emit_event(doc, out);
        Ok(())
    }
}
