//! Codec cost per stream event with the identity filter (DESIGN.md §9: the whole core has
//! 5 µs per ~150-byte event; the codec should take well under 1 µs).

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_core::codec::{Api, Framing, IdentityFilter, ResponseRewriter};

fn corpus(name: &str) -> Vec<u8> {
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for dir in [
        "../tests/corpus/streams",
        "../../shared/corpus/streams",
        "../../../shared/corpus/streams",
    ] {
        if let Ok(b) = std::fs::read(base.join(dir).join(name)) {
            return b;
        }
    }
    panic!("corpus file {name} not found");
}

fn count_events(framing: Framing, body: &[u8]) -> u64 {
    let s = String::from_utf8_lossy(body).replace("\r\n", "\n");
    match framing {
        Framing::Sse => s.split("\n\n").filter(|b| b.contains("data:")).count() as u64,
        _ => s.lines().filter(|l| !l.trim().is_empty()).count() as u64,
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec_event");
    for (name, api, framing) in [
        ("openai-chat.sse", Api::OpenAiChat, Framing::Sse),
        ("openai-responses.sse", Api::OpenAiResponses, Framing::Sse),
        ("anthropic.sse", Api::Anthropic, Framing::Sse),
        ("gemini.sse", Api::Gemini, Framing::Sse),
        ("ollama.ndjson", Api::Ollama, Framing::Ndjson),
    ] {
        let body = corpus(name);
        let events = count_events(framing, &body);
        // One event per push, as upstreams usually write them.
        let chunks: Vec<&[u8]> = body.split_inclusive(|&b| b == b'\n').collect::<Vec<_>>();
        g.throughput(Throughput::Elements(events));
        g.bench_function(name, |b| {
            let mut out = Vec::with_capacity(body.len() * 2);
            b.iter(|| {
                out.clear();
                let mut rw = ResponseRewriter::new(api, framing, 1 << 20);
                let mut f = IdentityFilter;
                for ch in &chunks {
                    rw.push(ch, false, &mut f, &mut out).unwrap_or_default();
                }
                rw.push(b"", true, &mut f, &mut out).unwrap_or_default();
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
