#![no_main]
//! The SSE decoder never panics, and its items put back together are the input.

use libfuzzer_sys::fuzz_target;
use sluice_core::codec::sse::{SseDecoder, SseItem};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).min(body.len());
    let mut d = SseDecoder::new(1 << 16);
    let mut raw = Vec::new();
    let mut scratch = Vec::new();
    for (n, part) in [&body[..cut], &body[cut..]].into_iter().enumerate() {
        d.push(part);
        loop {
            match d.next_event(n == 1) {
                Ok(Some(SseItem::Event(e))) => {
                    let _ = e.data(&mut scratch);
                    raw.extend_from_slice(e.raw);
                }
                Ok(Some(SseItem::Passthrough(p))) => raw.extend_from_slice(p),
                Ok(None) | Err(_) => break,
            }
        }
    }
    if body.len() < (1 << 16) {
        assert_eq!(raw, body);
    }
});
