//! Core CPU per stream event: the whole response path (framing, JSON splice, holdback, scan)
//! over the byte-exact captures, one event per chunk as an upstream usually writes them.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_core::{BodyOutcome, Engine, ExchangeContext, Policy};

fn corpus_dir() -> std::path::PathBuf {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let local = here.join("../tests/corpus/streams");
    if local.is_dir() {
        local
    } else {
        here.join("../../shared/corpus/streams")
    }
}

fn events(body: &[u8]) -> Vec<Vec<u8>> {
    // Split after each blank line (SSE) or newline (NDJSON), keeping the separators.
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < body.len() {
        let sse_end = body[i..].starts_with(b"\n\n") || body[i..].starts_with(b"\r\n\r\n");
        let nd_end = body[i] == b'\n' && !body.starts_with(b"data") && !body.starts_with(b"event");
        if sse_end || nd_end {
            let len = if body[i..].starts_with(b"\r\n\r\n") {
                4
            } else if sse_end {
                2
            } else {
                1
            };
            out.push(body[start..i + len].to_vec());
            i += len;
            start = i;
        } else {
            i += 1;
        }
    }
    if start < body.len() {
        out.push(body[start..].to_vec());
    }
    out
}

fn bench(c: &mut Criterion) {
    let engine = Engine::new(Policy::default()).unwrap();
    let cases = [
        (
            "openai-chat",
            "openai-chat.sse",
            "/v1/chat/completions",
            "text/event-stream",
        ),
        (
            "openai-responses",
            "openai-responses.sse",
            "/v1/responses",
            "text/event-stream",
        ),
        (
            "anthropic",
            "anthropic.sse",
            "/v1/messages",
            "text/event-stream",
        ),
        (
            "gemini",
            "gemini.sse",
            "/v1beta/models/m:streamGenerateContent?alt=sse",
            "text/event-stream",
        ),
        (
            "ollama",
            "ollama.ndjson",
            "/api/chat",
            "application/x-ndjson",
        ),
    ];
    let mut group = c.benchmark_group("event");
    for (name, file, path, ct) in cases {
        let body = std::fs::read(corpus_dir().join(file)).unwrap();
        let evs = events(&body);
        group.throughput(Throughput::Elements(evs.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut ex = engine.exchange(ExchangeContext::default());
                ex.request_headers(&[(":path".into(), path.into())]);
                ex.response_headers(&[
                    (":status".into(), "200".into()),
                    ("content-type".into(), ct.into()),
                ]);
                let mut n = 0usize;
                for (i, e) in evs.iter().enumerate() {
                    match ex.response_body(e, i + 1 == evs.len()) {
                        BodyOutcome::Replace(v) => n += v.len(),
                        _ => n += e.len(),
                    }
                }
                n
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
