#![no_main]
//! A whole exchange through the real engine (detectors, holdback, codecs, decompression) never
//! panics, whatever the API, headers, body bytes and chunk boundaries; and once it stops a
//! stream, nothing more leaves.

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sluice_core::{BodyOutcome, Engine, ExchangeContext, Policy};

const PATHS: [&str; 7] = [
    "/v1/chat/completions",
    "/v1/responses",
    "/v1/messages",
    "/v1beta/models/m:streamGenerateContent?alt=sse",
    "/api/chat",
    "/mcp",
    "/other",
];
const TYPES: [&str; 4] = ["text/event-stream", "application/x-ndjson", "application/json", "text/plain"];
const ENCODINGS: [&str; 4] = ["", "gzip", "br", "zstd"];

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::new(Policy::default()).expect("default policy"))
}

fuzz_target!(|data: &[u8]| {
    let [sel, enc, cut_a, cut_b, rest @ ..] = data else { return };
    let split = rest.len() / 3;
    let (request, response) = rest.split_at(split);
    let h = |k: &str, v: &str| (k.to_string(), v.to_string());
    let mut ex = engine().exchange(ExchangeContext::default());
    let _ = ex.request_headers(&[h(":path", PATHS[usize::from(*sel) % PATHS.len()])]);
    let _ = ex.request_body(request, true);
    let mut headers = vec![h(":status", "200"), h("content-type", TYPES[usize::from(*sel >> 4) % TYPES.len()])];
    let encoding = ENCODINGS[usize::from(*enc) % ENCODINGS.len()];
    if !encoding.is_empty() {
        headers.push(h("content-encoding", encoding));
    }
    let _ = ex.response_headers(&headers);
    let a = usize::from(*cut_a).min(response.len());
    let b = (a + usize::from(*cut_b)).min(response.len());
    let mut stopped = false;
    for (chunk, eos) in [(&response[..a], false), (&response[a..b], false), (&response[b..], true)] {
        let out = ex.response_body(chunk, eos);
        if stopped {
            assert!(matches!(out, BodyOutcome::Replace(ref v) if v.is_empty()));
        }
        // The engine's own state, not the wire: the upstream's text may say anything,
        // the words of a stop message included.
        stopped |= ex.response_stopped();
    }
    let _ = ex.finish();
});
