#![no_main]
//! The NDJSON line decoder never panics, and its lines put back together are the input.

use libfuzzer_sys::fuzz_target;
use sluice_core::codec::ndjson::LineDecoder;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).min(body.len());
    let mut d = LineDecoder::new(1 << 16);
    let mut raw = Vec::new();
    for (n, part) in [&body[..cut], &body[cut..]].into_iter().enumerate() {
        d.push(part);
        while let Ok(Some(line)) = d.next_line(n == 1) {
            raw.extend_from_slice(line.raw);
        }
    }
    if body.len() < (1 << 16) {
        assert_eq!(raw, body);
    }
});
