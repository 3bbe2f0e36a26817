//! Where the text lives in each API's JSON documents: one walk over a document yields the
//! string tokens to hand to the filter (with their stream key and role) and the streams the
//! document ends. DESIGN.md §4 has the table this file implements.

use std::ops::Range;

use super::json_str::{JsonWalker, P, Path, Scalar, decode_string, parse_u32};
use super::usage::{Count, TokenUsage};
use super::{Api, CodecError, Role, StreamKey, StreamKind};

use P::{I, K};

/// Sub index offset for reasoning summaries, so they do not share a holdback stream with the
/// reasoning text of the same output item.
pub const SUMMARY_SUB: u32 = 0x8000;
const NONE: u32 = u32::MAX;

/// A string token to pass through the filter.
#[derive(Clone, Debug)]
pub struct Site {
    /// Span of the token in the document, quotes included.
    pub span: Range<usize>,
    pub key: StreamKey,
    pub role: Role,
    /// `full` (complete text) rather than `delta`.
    pub full: bool,
    /// `key.index` / `key.sub` are array positions to translate through the document's own
    /// `index` fields once the whole document is read.
    remap: bool,
}

/// Streams a document ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndSel {
    Key(StreamKey),
    /// Every stream with this index (a choice, a content block, an output item).
    Index(u32),
    All,
}

/// Which document is being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One event of a streamed response.
    Stream,
    /// A whole non-streamed response.
    Whole,
    /// A request body.
    Request,
}

/// Reusable result of reading one document.
#[derive(Debug, Default)]
pub struct Plan {
    pub sites: Vec<Site>,
    pub ends: Vec<EndSel>,
    /// Token counts the document reports.
    pub usage: TokenUsage,
    /// `index` values found: (array position, inner position or NONE, value).
    nums: Vec<(u32, u32, u32)>,
    /// Array positions flagged by a sibling field (Gemini `thought: true`).
    flags: Vec<(u32, u32)>,
    /// Positions whose ending was seen (finish_reason), before remapping.
    end_pos: Vec<u32>,
    /// Group roles for request messages: (position, role).
    roles: Vec<(u32, Role)>,
    type_span: Option<Range<usize>>,
    scratch: String,
}

impl Plan {
    fn clear(&mut self) {
        self.sites.clear();
        self.ends.clear();
        self.usage = TokenUsage::default();
        self.nums.clear();
        self.flags.clear();
        self.end_pos.clear();
        self.roles.clear();
        self.type_span = None;
    }

    fn site(&mut self, span: Range<usize>, kind: StreamKind, index: u32, sub: u32, full: bool) {
        self.sites.push(Site {
            span,
            key: StreamKey { kind, index, sub },
            role: role_of(kind),
            full,
            remap: false,
        });
    }

    fn site_remap(&mut self, span: Range<usize>, kind: StreamKind, pos: u32, sub: u32, full: bool) {
        self.sites.push(Site {
            span,
            key: StreamKey {
                kind,
                index: pos,
                sub,
            },
            role: role_of(kind),
            full,
            remap: true,
        });
    }

    fn text_site(&mut self, span: Range<usize>, role: Role, index: u32) {
        self.sites.push(Site {
            span,
            key: StreamKey {
                kind: StreamKind::Text,
                index,
                sub: 0,
            },
            role,
            full: true,
            remap: false,
        });
    }

    /// Records the number at `span` as `count` (see [`usage_count`]); true when the number was
    /// a usage field, so the walk's visitor can stop looking at it.
    fn report(&mut self, doc: &[u8], span: &Range<usize>, count: Option<Count>) -> bool {
        let Some(count) = count else { return false };
        self.usage
            .set(count, doc.get(span.clone()).unwrap_or_default());
        true
    }

    fn lookup(&self, a: u32, b: u32) -> Option<u32> {
        self.nums
            .iter()
            .rev()
            .find(|&&(x, y, _)| x == a && y == b)
            .map(|&(_, _, v)| v)
    }

    /// Replaces array positions with the document's own `index` values.
    fn remap(&mut self) {
        for n in 0..self.sites.len() {
            let Some(site) = self.sites.get(n) else { break };
            if !site.remap {
                continue;
            }
            let (pos, sub) = (site.key.index, site.key.sub);
            let index = self.lookup(pos, NONE).unwrap_or(pos);
            let sub = self.lookup(pos, sub).unwrap_or(sub);
            if let Some(site) = self.sites.get_mut(n) {
                site.key.index = index;
                site.key.sub = sub;
            }
        }
        for n in 0..self.end_pos.len() {
            if let Some(&pos) = self.end_pos.get(n) {
                let index = self.lookup(pos, NONE).unwrap_or(pos);
                self.ends.push(EndSel::Index(index));
            }
        }
    }
}

fn role_of(kind: StreamKind) -> Role {
    match kind {
        StreamKind::Text | StreamKind::Refusal => Role::Assistant,
        StreamKind::ToolArguments => Role::ToolArguments,
        StreamKind::Reasoning => Role::Reasoning,
    }
}

/// Whether a string token decodes to `lit` (escaped spellings included, so an escaped field
/// value cannot dodge the match).
fn str_is(doc: &[u8], span: &Range<usize>, lit: &str, scratch: &mut String) -> bool {
    let token = doc.get(span.clone()).unwrap_or_default();
    if token.len() == lit.len() + 2 && token.get(1..token.len() - 1) == Some(lit.as_bytes()) {
        return true;
    }
    if memchr::memchr(b'\\', token).is_none() {
        return false;
    }
    decode_string(token, scratch) == lit
}

/// The count a number at `p` reports when `p` is the object `at` followed by the API's input
/// or output field name. The length check comes first: most numbers (indices) fail it.
fn usage_count(p: &Path<'_>, at: &[P], input: &str, output: &str) -> Option<Count> {
    if p.len() != at.len() + 1 || !p.starts_with(at) {
        return None;
    }
    match p.key(at.len())? {
        k if k == input.as_bytes() => Some(Count::Input),
        k if k == output.as_bytes() => Some(Count::Output),
        _ => None,
    }
}

fn num(doc: &[u8], span: &Range<usize>) -> Option<u32> {
    parse_u32(doc.get(span.clone()).unwrap_or_default())
}

/// Reads one response document (a stream event or a whole body).
pub fn plan_response(
    api: Api,
    mode: Mode,
    doc: &[u8],
    walker: &mut JsonWalker,
    plan: &mut Plan,
) -> Result<(), CodecError> {
    plan.clear();
    let whole = mode == Mode::Whole;
    match api {
        Api::OpenAiChat => chat_response(doc, whole, walker, plan)?,
        Api::OpenAiResponses => responses_response(doc, whole, walker, plan)?,
        Api::Anthropic => anthropic_response(doc, whole, walker, plan)?,
        Api::Gemini => gemini_response(doc, whole, walker, plan)?,
        Api::Ollama => ollama_response(doc, whole, walker, plan)?,
        Api::Mcp => mcp_response(doc, walker, plan)?,
        Api::Text => walker.walk(doc, |_, kind, span| {
            if kind == Scalar::Str {
                plan.site(span, StreamKind::Text, 0, 0, true);
            }
        })?,
    }
    plan.remap();
    Ok(())
}

fn chat_response(
    doc: &[u8],
    whole: bool,
    w: &mut JsonWalker,
    plan: &mut Plan,
) -> Result<(), CodecError> {
    use StreamKind::*;
    w.walk(doc, |p, kind, span| {
        // The non-streamed body and the last chunk of a stream (`stream_options.include_usage`).
        if kind == Scalar::Num
            && plan.report(
                doc,
                &span,
                usage_count(p, &[K("usage")], "prompt_tokens", "completion_tokens"),
            )
        {
            return;
        }
        let Some(c) = p.index(1) else { return };
        if !p.starts_with(&[K("choices"), I]) {
            return;
        }
        match kind {
            Scalar::Num => {
                if p.is(&[K("choices"), I, K("index")]) {
                    if let Some(v) = num(doc, &span) {
                        plan.nums.push((c, NONE, v));
                    }
                } else if p.is(&[K("choices"), I, K("delta"), K("tool_calls"), I, K("index")])
                    && let (Some(q), Some(v)) = (p.index(4), num(doc, &span))
                {
                    plan.nums.push((c, q, v));
                }
            }
            Scalar::Str => {
                if p.is(&[K("choices"), I, K("finish_reason")]) {
                    if !whole {
                        plan.end_pos.push(c);
                    }
                    return;
                }
                let field = if whole { "message" } else { "delta" };
                if p.len() == 4 && p.key(2) == Some(field.as_bytes()) {
                    let k = match p.key(3) {
                        Some(b"content") => Text,
                        Some(b"refusal") => Refusal,
                        Some(b"reasoning_content" | b"reasoning") => Reasoning,
                        _ => return,
                    };
                    plan.site_remap(span, k, c, 0, whole);
                } else if p.len() == 7
                    && p.key(2) == Some(field.as_bytes())
                    && p.key(3) == Some(b"tool_calls")
                    && p.index(4).is_some()
                    && p.key(5) == Some(b"function")
                    && p.key(6) == Some(b"arguments")
                {
                    let q = p.index(4).unwrap_or(0);
                    plan.site_remap(span, ToolArguments, c, q, whole);
                } else if p.is(&[K("choices"), I, K("text")]) {
                    plan.site_remap(span, Text, c, 0, whole);
                }
            }
            _ => {}
        }
    })
}

/// A full text in a Responses event: span, kind, and `None` for the event's own key or
/// `Some((output position if the path gives it, sub))`.
type FullText = (Range<usize>, StreamKind, Option<(Option<u32>, u32)>);

fn responses_response(
    doc: &[u8],
    whole: bool,
    w: &mut JsonWalker,
    plan: &mut Plan,
) -> Result<(), CodecError> {
    use StreamKind::*;
    let (mut o, mut c, mut s) = (0u32, 0u32, 0u32);
    let mut delta: Option<Range<usize>> = None;
    // Full texts: (span, kind, None = the event's own key | Some((output position if
    // known from the path, sub))).
    let mut fulls: Vec<FullText> = Vec::new();
    // A whole (non-streamed) body is the Response object that `response.completed` (and
    // `.incomplete`, `.failed`) carries under `response`: its usage is there too.
    let usage_at: &[P] = if whole {
        &[K("usage")]
    } else {
        &[K("response"), K("usage")]
    };
    w.walk(doc, |p, kind, span| {
        if kind == Scalar::Num
            && plan.report(
                doc,
                &span,
                usage_count(p, usage_at, "input_tokens", "output_tokens"),
            )
        {
            return;
        }
        let nested_at = if whole { 0 } else { 1 };
        if kind == Scalar::Num && p.len() == 1 {
            match p.key(0) {
                Some(b"output_index") => o = num(doc, &span).unwrap_or(0),
                Some(b"content_index") => c = num(doc, &span).unwrap_or(0),
                Some(b"summary_index") => s = num(doc, &span).unwrap_or(0),
                _ => {}
            }
            return;
        }
        if kind != Scalar::Str {
            return;
        }
        if !whole && p.len() == 1 {
            match p.key(0) {
                Some(b"type") => plan.type_span = Some(span),
                Some(b"delta") => delta = Some(span),
                Some(b"text") => fulls.push((span, Text, None)),
                Some(b"refusal") => fulls.push((span, Refusal, None)),
                Some(b"arguments") => fulls.push((span, ToolArguments, None)),
                _ => {}
            }
            return;
        }
        if !whole && p.key(0) == Some(b"part") && p.len() == 2 {
            match p.key(1) {
                Some(b"text") => fulls.push((span, Text, None)),
                Some(b"refusal") => fulls.push((span, Refusal, None)),
                _ => {}
            }
            return;
        }
        // An output item: `item` in `response.output_item.*`, `response.output[o]` in
        // `response.completed`, `output[o]` in a whole body.
        let (item_at, oi) = if !whole && p.key(0) == Some(b"item") {
            (1, None)
        } else if p.len() > nested_at + 1
            && (whole || p.key(0) == Some(b"response"))
            && p.key(nested_at) == Some(b"output")
            && p.index(nested_at + 1).is_some()
        {
            (nested_at + 2, p.index(nested_at + 1))
        } else {
            return;
        };
        let rest = p.len() - item_at;
        let (k, sub) = if rest == 1 && p.key(item_at) == Some(b"arguments") {
            (ToolArguments, 0)
        } else if rest == 3 {
            let j = p.index(item_at + 1).unwrap_or(0);
            match (p.key(item_at), p.key(item_at + 2)) {
                (Some(b"content"), Some(b"text")) => (Text, j),
                (Some(b"content"), Some(b"refusal")) => (Refusal, j),
                (Some(b"summary"), Some(b"text")) => (Reasoning, SUMMARY_SUB + j),
                _ => return,
            }
        } else {
            return;
        };
        fulls.push((span, k, Some((oi, sub))));
    })?;
    let mut scratch = std::mem::take(&mut plan.scratch);
    let ty: &str = match plan.type_span.clone() {
        Some(span) => decode_string(doc.get(span).unwrap_or_default(), &mut scratch),
        None => "",
    };
    let summary = ty.starts_with("response.reasoning_summary");
    let key = |kind| StreamKey {
        kind,
        index: o,
        sub: match kind {
            ToolArguments => 0,
            Reasoning if summary => SUMMARY_SUB + s,
            _ => c,
        },
    };
    if let Some(span) = delta {
        let k = match ty {
            "response.output_text.delta" | "response.audio.transcript.delta" => Some(Text),
            "response.refusal.delta" => Some(Refusal),
            "response.reasoning_text.delta" | "response.reasoning_summary_text.delta" => {
                Some(Reasoning)
            }
            t if t.ends_with("arguments.delta") || t.ends_with("input.delta") => {
                Some(ToolArguments)
            }
            _ => None,
        };
        if let Some(k) = k {
            let key = key(k);
            plan.site(span, key.kind, key.index, key.sub, false);
        }
    }
    match ty {
        "response.output_text.done" => plan.ends.push(EndSel::Key(key(Text))),
        "response.refusal.done" => plan.ends.push(EndSel::Key(key(Refusal))),
        "response.reasoning_text.done"
        | "response.reasoning_summary_text.done"
        | "response.reasoning_summary_part.done" => plan.ends.push(EndSel::Key(key(Reasoning))),
        "response.content_part.done" => {
            plan.ends.push(EndSel::Key(key(Text)));
            plan.ends.push(EndSel::Key(key(Refusal)));
        }
        t if t.ends_with("arguments.done") || t.ends_with("input.done") => {
            plan.ends.push(EndSel::Key(key(ToolArguments)))
        }
        "response.output_item.done" => plan.ends.push(EndSel::Index(o)),
        "response.completed" | "response.incomplete" | "response.failed" => {
            plan.ends.push(EndSel::All)
        }
        _ => {}
    }
    for (span, k, at) in fulls {
        let key = match at {
            None => key(k),
            Some((oi, sub)) => StreamKey {
                kind: k,
                index: oi.unwrap_or(o),
                sub,
            },
        };
        plan.site(span, key.kind, key.index, key.sub, true);
    }
    plan.scratch = scratch;
    Ok(())
}

fn anthropic_response(
    doc: &[u8],
    whole: bool,
    w: &mut JsonWalker,
    plan: &mut Plan,
) -> Result<(), CodecError> {
    use StreamKind::*;
    let mut index = 0u32;
    let mut pending: [Option<(Range<usize>, StreamKind)>; 2] = [None, None];
    let mut n_pending = 0;
    w.walk(doc, |p, kind, span| {
        // `usage` of a whole body or of `message_delta` (cumulative output), and
        // `message.usage` of `message_start`. Only the reported `input_tokens`: cache reads
        // and writes are counted apart by the provider.
        if kind == Scalar::Num
            && plan.report(
                doc,
                &span,
                usage_count(p, &[K("usage")], "input_tokens", "output_tokens").or_else(|| {
                    if whole {
                        None
                    } else {
                        usage_count(
                            p,
                            &[K("message"), K("usage")],
                            "input_tokens",
                            "output_tokens",
                        )
                    }
                }),
            )
        {
            return;
        }
        if whole {
            // content[k].text | .thinking | .input strings
            if kind != Scalar::Str || !p.starts_with(&[K("content"), I]) {
                return;
            }
            let k = p.index(1).unwrap_or(0);
            if p.len() == 3 {
                match p.key(2) {
                    Some(b"text") => plan.site(span, Text, k, 0, true),
                    Some(b"thinking") => plan.site(span, Reasoning, k, 0, true),
                    _ => {}
                }
            } else if p.len() > 3 && p.key(2) == Some(b"input") {
                plan.site(span, ToolArguments, k, 0, true);
            }
            return;
        }
        match (kind, p.len()) {
            (Scalar::Num, 1) if p.key(0) == Some(b"index") => {
                index = num(doc, &span).unwrap_or(0);
            }
            (Scalar::Str, 1) if p.key(0) == Some(b"type") => plan.type_span = Some(span),
            (Scalar::Str, 2) => {
                let k = match (p.key(0), p.key(1)) {
                    (Some(b"delta"), Some(b"text")) => Text,
                    (Some(b"delta"), Some(b"partial_json")) => ToolArguments,
                    (Some(b"delta"), Some(b"thinking")) => Reasoning,
                    (Some(b"content_block"), Some(b"text")) => Text,
                    (Some(b"content_block"), Some(b"thinking")) => Reasoning,
                    _ => return,
                };
                if let Some(slot) = pending.get_mut(n_pending) {
                    *slot = Some((span, k));
                    n_pending += 1;
                }
            }
            _ => {}
        }
    })?;
    if whole {
        return Ok(());
    }
    let Some(ty) = plan.type_span.clone() else {
        return Ok(());
    };
    let mut scratch = std::mem::take(&mut plan.scratch);
    if str_is(doc, &ty, "content_block_delta", &mut scratch)
        || str_is(doc, &ty, "content_block_start", &mut scratch)
    {
        for (span, k) in pending.into_iter().flatten() {
            plan.site(span, k, index, 0, false);
        }
    } else if str_is(doc, &ty, "content_block_stop", &mut scratch) {
        plan.ends.push(EndSel::Index(index));
    } else if str_is(doc, &ty, "message_stop", &mut scratch) {
        plan.ends.push(EndSel::All);
    }
    plan.scratch = scratch;
    Ok(())
}

fn gemini_response(
    doc: &[u8],
    whole: bool,
    w: &mut JsonWalker,
    plan: &mut Plan,
) -> Result<(), CodecError> {
    use StreamKind::*;
    w.walk(doc, |p, kind, span| {
        // Without `alt=sse` the body is an array of the same objects.
        let (p, _) = p.strip_root_index();
        // Every chunk repeats the counts so far; the last one holds.
        if kind == Scalar::Num
            && plan.report(
                doc,
                &span,
                usage_count(
                    &p,
                    &[K("usageMetadata")],
                    "promptTokenCount",
                    "candidatesTokenCount",
                ),
            )
        {
            return;
        }
        let Some(c) = p.index(1) else { return };
        if !p.starts_with(&[K("candidates"), I]) {
            return;
        }
        match kind {
            Scalar::Num if p.is(&[K("candidates"), I, K("index")]) => {
                if let Some(v) = num(doc, &span) {
                    plan.nums.push((c, NONE, v));
                }
            }
            Scalar::Str if !whole && p.is(&[K("candidates"), I, K("finishReason")]) => {
                plan.end_pos.push(c);
            }
            Scalar::True
                if p.is(&[
                    K("candidates"),
                    I,
                    K("content"),
                    K("parts"),
                    I,
                    K("thought"),
                ]) =>
            {
                plan.flags.push((c, p.index(4).unwrap_or(0)));
            }
            Scalar::Str if p.is(&[K("candidates"), I, K("content"), K("parts"), I, K("text")]) => {
                plan.site_remap(span, Text, c, p.index(4).unwrap_or(0), whole);
            }
            Scalar::Str
                if p.starts_with(&[
                    K("candidates"),
                    I,
                    K("content"),
                    K("parts"),
                    I,
                    K("functionCall"),
                    K("args"),
                ]) =>
            {
                plan.site_remap(span, ToolArguments, c, p.index(4).unwrap_or(0), true);
            }
            _ => {}
        }
    })?;
    // Thought parts are reasoning: mark them before positions are remapped.
    for n in 0..plan.sites.len() {
        let Some(site) = plan.sites.get(n) else { break };
        let pos = (site.key.index, site.key.sub);
        if site.key.kind == Text
            && plan.flags.contains(&pos)
            && let Some(site) = plan.sites.get_mut(n)
        {
            site.key.kind = Reasoning;
            site.role = Role::Reasoning;
        }
    }
    Ok(())
}

fn ollama_response(
    doc: &[u8],
    whole: bool,
    w: &mut JsonWalker,
    plan: &mut Plan,
) -> Result<(), CodecError> {
    use StreamKind::*;
    // The counts belong to the final object (`"done": true`), wherever `done` is in it.
    let mut done = false;
    let mut counts = TokenUsage::default();
    w.walk(doc, |p, kind, span| match kind {
        Scalar::True if p.is(&[K("done")]) => {
            done = true;
            if !whole {
                plan.ends.push(EndSel::All);
            }
        }
        Scalar::Num => {
            if let Some(count) = usage_count(p, &[], "prompt_eval_count", "eval_count") {
                counts.set(count, doc.get(span).unwrap_or_default());
            }
        }
        Scalar::Str => {
            let k = if p.is(&[K("message"), K("content")]) || p.is(&[K("response")]) {
                Text
            } else if p.is(&[K("message"), K("thinking")]) || p.is(&[K("thinking")]) {
                Reasoning
            } else if p.starts_with(&[
                K("message"),
                K("tool_calls"),
                I,
                K("function"),
                K("arguments"),
            ]) {
                let q = p.index(2).unwrap_or(0);
                plan.site(span, ToolArguments, 0, q, true);
                return;
            } else {
                return;
            };
            plan.site(span, k, 0, 0, whole);
        }
        _ => {}
    })?;
    if done {
        plan.usage = counts;
    }
    Ok(())
}

fn mcp_response(doc: &[u8], w: &mut JsonWalker, plan: &mut Plan) -> Result<(), CodecError> {
    w.walk(doc, |p, kind, span| {
        if kind != Scalar::Str {
            return;
        }
        let (p, batch) = p.strip_root_index();
        let index = batch.unwrap_or(0);
        let role = if p.starts_with(&[K("result"), K("content"), I])
            && (p.ends_with_key("text") && (p.len() == 4 || p.key(3) == Some(b"resource")))
            || p.starts_with(&[K("result"), K("structuredContent")])
            || p.is(&[K("result"), K("contents"), I, K("text")])
            || p.is(&[K("result"), K("messages"), I, K("content"), K("text")])
        {
            Role::ToolResult
        } else if (p.starts_with(&[K("result"), K("tools"), I])
            && (p.ends_with_key("description") || p.is(&[K("result"), K("tools"), I, K("title")])))
            || ((p.starts_with(&[K("result"), K("prompts"), I])
                || p.starts_with(&[K("result"), K("resources"), I])
                || p.starts_with(&[K("result"), K("resourceTemplates"), I]))
                && p.ends_with_key("description"))
        {
            Role::ToolDescription
        } else if p.is(&[K("error"), K("message")]) {
            Role::Other
        } else {
            return;
        };
        plan.text_site(span, role, index);
    })
}

fn message_role(doc: &[u8], span: &Range<usize>, scratch: &mut String) -> Role {
    let token = doc.get(span.clone()).unwrap_or_default();
    match decode_string(token, scratch) {
        "system" | "developer" => Role::System,
        "user" => Role::User,
        "assistant" | "model" => Role::Assistant,
        "tool" | "function" => Role::ToolResult,
        _ => Role::Other,
    }
}

/// Reads a request body: every text field, all complete.
pub fn plan_request(
    api: Api,
    doc: &[u8],
    w: &mut JsonWalker,
    plan: &mut Plan,
) -> Result<(), CodecError> {
    plan.clear();
    let mut scratch = std::mem::take(&mut plan.scratch);
    // Sites whose role comes from their message's `role` field: (site number, message pos).
    let mut by_message: Vec<(usize, u32)> = Vec::new();
    let mut mcp_method_ok = false;
    let r = w.walk(doc, |p, kind, span| {
        let (p, batch) = p.strip_root_index();
        if kind != Scalar::Str {
            return;
        }
        let n = plan.sites.len();
        let mut push = |plan: &mut Plan, role: Role, msg: Option<u32>| {
            plan.text_site(span.clone(), role, msg.unwrap_or(0));
            if let Some(m) = msg {
                by_message.push((n, m));
            }
        };
        let m = p.index(1);
        match api {
            Api::OpenAiChat | Api::Ollama => {
                if p.is(&[K("messages"), I, K("role")]) {
                    let role = message_role(doc, &span, &mut scratch);
                    plan.roles.push((m.unwrap_or(0), role));
                } else if p.is(&[K("messages"), I, K("content")])
                    || p.is(&[K("messages"), I, K("content"), I, K("text")])
                {
                    push(plan, Role::User, m);
                } else if p.starts_with(&[
                    K("messages"),
                    I,
                    K("tool_calls"),
                    I,
                    K("function"),
                    K("arguments"),
                ]) {
                    push(plan, Role::ToolArguments, None);
                } else if p.starts_with(&[K("tools"), I, K("function")])
                    && p.ends_with_key("description")
                {
                    push(plan, Role::ToolDescription, None);
                } else if api == Api::Ollama && p.is(&[K("prompt")]) {
                    push(plan, Role::User, None);
                } else if api == Api::Ollama && p.is(&[K("system")]) {
                    push(plan, Role::System, None);
                }
            }
            Api::OpenAiResponses => {
                if p.is(&[K("instructions")]) {
                    push(plan, Role::System, None);
                } else if p.is(&[K("input")]) {
                    push(plan, Role::User, None);
                } else if p.is(&[K("input"), I, K("role")]) {
                    let role = message_role(doc, &span, &mut scratch);
                    plan.roles.push((m.unwrap_or(0), role));
                } else if p.is(&[K("input"), I, K("content")])
                    || p.is(&[K("input"), I, K("content"), I, K("text")])
                {
                    push(plan, Role::User, m);
                } else if p.is(&[K("input"), I, K("output")])
                    || p.is(&[K("input"), I, K("output"), I, K("text")])
                {
                    push(plan, Role::ToolResult, None);
                } else if p.is(&[K("input"), I, K("arguments")]) {
                    push(plan, Role::ToolArguments, None);
                } else if p.starts_with(&[K("tools"), I]) && p.ends_with_key("description") {
                    push(plan, Role::ToolDescription, None);
                }
            }
            Api::Anthropic => {
                if p.is(&[K("system")]) || p.is(&[K("system"), I, K("text")]) {
                    push(plan, Role::System, None);
                } else if p.is(&[K("messages"), I, K("role")]) {
                    let role = message_role(doc, &span, &mut scratch);
                    plan.roles.push((m.unwrap_or(0), role));
                } else if p.is(&[K("messages"), I, K("content")])
                    || p.is(&[K("messages"), I, K("content"), I, K("text")])
                {
                    push(plan, Role::User, m);
                } else if p.is(&[K("messages"), I, K("content"), I, K("thinking")]) {
                    push(plan, Role::Reasoning, None);
                } else if p.is(&[K("messages"), I, K("content"), I, K("content")])
                    || p.is(&[
                        K("messages"),
                        I,
                        K("content"),
                        I,
                        K("content"),
                        I,
                        K("text"),
                    ])
                {
                    push(plan, Role::ToolResult, None);
                } else if p.starts_with(&[K("messages"), I, K("content"), I, K("input")]) {
                    push(plan, Role::ToolArguments, None);
                } else if p.starts_with(&[K("tools"), I]) && p.ends_with_key("description") {
                    push(plan, Role::ToolDescription, None);
                }
            }
            Api::Gemini => {
                if p.is(&[K("contents"), I, K("role")]) {
                    let role = message_role(doc, &span, &mut scratch);
                    plan.roles.push((m.unwrap_or(0), role));
                } else if p.is(&[K("contents"), I, K("parts"), I, K("text")]) {
                    push(plan, Role::User, m);
                } else if p.starts_with(&[
                    K("contents"),
                    I,
                    K("parts"),
                    I,
                    K("functionResponse"),
                    K("response"),
                ]) {
                    push(plan, Role::ToolResult, None);
                } else if p.starts_with(&[
                    K("contents"),
                    I,
                    K("parts"),
                    I,
                    K("functionCall"),
                    K("args"),
                ]) {
                    push(plan, Role::ToolArguments, None);
                } else if p.is(&[K("systemInstruction"), K("parts"), I, K("text")])
                    || p.is(&[K("system_instruction"), K("parts"), I, K("text")])
                {
                    push(plan, Role::System, None);
                } else if p.starts_with(&[K("tools"), I]) && p.ends_with_key("description") {
                    push(plan, Role::ToolDescription, None);
                }
            }
            Api::Mcp => {
                if p.is(&[K("method")]) {
                    mcp_method_ok = true;
                } else if p.starts_with(&[K("params"), K("arguments")]) {
                    plan.text_site(span.clone(), Role::ToolArguments, batch.unwrap_or(0));
                } else if p.is(&[K("result"), K("content"), I, K("text")])
                    || p.starts_with(&[K("result"), K("messages")]) && p.ends_with_key("text")
                {
                    // A client answering a server request (sampling): model text.
                    plan.text_site(span.clone(), Role::ToolResult, batch.unwrap_or(0));
                }
            }
            Api::Text => {
                plan.text_site(span.clone(), Role::User, 0);
            }
        }
    });
    let _ = mcp_method_ok;
    plan.scratch = scratch;
    r?;
    for (n, m) in by_message {
        let role = plan
            .roles
            .iter()
            .rev()
            .find(|r| r.0 == m)
            .map_or(Role::User, |r| r.1);
        if let Some(site) = plan.sites.get_mut(n) {
            site.role = role;
        }
    }
    Ok(())
}
