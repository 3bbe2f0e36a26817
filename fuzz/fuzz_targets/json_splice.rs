#![no_main]
//! Walking never panics; splicing every string with its own decoded text gives a document
//! serde_json reads as equal to the input (when serde_json accepts the input).

use libfuzzer_sys::fuzz_target;
use sluice_core::codec::json_str::{JsonWalker, Scalar, decode_string, encode_string, splice};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut w = JsonWalker::new();
    let mut spans = Vec::new();
    if w.walk(data, |_, k, span| {
        if k == Scalar::Str {
            spans.push(span);
        }
    })
    .is_err()
    {
        return;
    }
    let mut out = Vec::new();
    let mut scratch = String::new();
    splice(data, &spans, &mut out, |n, out| {
        let token = &data[spans[n].clone()];
        let s = decode_string(token, &mut scratch).to_string();
        encode_string(&s, out);
    });
    if let Ok(a) = serde_json::from_str::<serde_json::Value>(text) {
        let b: serde_json::Value = serde_json::from_slice(&out).expect("spliced output is JSON");
        assert_eq!(a, b);
    }
});
