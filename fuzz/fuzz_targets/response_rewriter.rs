#![no_main]
//! The response rewriter never panics on any API, framing and chunking; with the identity
//! filter, a body it accepts comes out byte for byte.

use libfuzzer_sys::fuzz_target;
use sluice_core::codec::{Api, Framing, IdentityFilter, ResponseRewriter};

fuzz_target!(|data: &[u8]| {
    let [sel, cut, body @ ..] = data else { return };
    let api = Api::ALL[usize::from(*sel) % Api::ALL.len()];
    let framing =
        [Framing::Sse, Framing::Ndjson, Framing::Json, Framing::Raw][usize::from(*sel >> 4) % 4];
    let cut = usize::from(*cut).min(body.len());
    let mut rw = ResponseRewriter::new(api, framing, 1 << 16);
    let mut out = Vec::new();
    let ok = rw
        .push(&body[..cut], false, &mut IdentityFilter, &mut out)
        .is_ok()
        && rw
            .push(&body[cut..], true, &mut IdentityFilter, &mut out)
            .is_ok();
    if ok {
        assert_eq!(out, body);
    }
});
