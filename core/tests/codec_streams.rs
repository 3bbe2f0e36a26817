//! Response codecs over the byte-exact corpus captures: passthrough, flush-before-end and
//! masking, for every chunking.

mod codec_support;

use codec_support::*;
use proptest::prelude::*;
use sluice_core::codec::{IdentityFilter, TextFilter};

const NEEDLES: &[&str] = &[
    "AKIAIX6EA6QOM66ZJOJY",
    "ops@example.com",
    "biufMdI8X2Y4rUmer+BH3M1XS0DRdJuPnBIKpi99",
    "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",
    "xoxp-614897071248-1075690072003-fQ7Dh3yEg42ipqnX1fkkjbd9",
];

#[test]
fn identity_is_byte_exact_at_every_split_point() {
    for (name, api, framing) in streams() {
        let input = corpus(name);
        for cut in 0..=input.len() {
            let out = run(api, framing, &input, &[cut], &mut IdentityFilter).unwrap();
            assert!(out == input, "{name}: split at {cut} changed the bytes");
        }
    }
}

#[test]
fn identity_is_byte_exact_byte_by_byte() {
    for (name, api, framing) in streams() {
        let input = corpus(name);
        let cuts: Vec<usize> = (0..input.len()).collect();
        let out = run(api, framing, &input, &cuts, &mut IdentityFilter).unwrap();
        assert!(out == input, "{name}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn identity_is_byte_exact_for_random_splits(seed in prop::collection::vec(any::<usize>(), 0..16)) {
        for (name, api, framing) in streams() {
            let input = corpus(name);
            let cuts = cuts_from(&seed, input.len());
            let out = run(api, framing, &input, &cuts, &mut IdentityFilter).unwrap();
            prop_assert!(out == input, "{}", name);
        }
    }

    #[test]
    fn masking_is_chunking_independent_for_random_splits(seed in prop::collection::vec(any::<usize>(), 0..16)) {
        for (name, api, framing) in streams() {
            let input = corpus(name);
            let base = run(api, framing, &input, &[], &mut Masker::new(NEEDLES)).unwrap();
            let cuts = cuts_from(&seed, input.len());
            let out = run(api, framing, &input, &cuts, &mut Masker::new(NEEDLES)).unwrap();
            prop_assert!(out == base, "{}", name);
        }
    }
}

/// Checks an output against the input's texts with `f` applied, and that it is the same for
/// every single split point.
fn check_filter<F: TextFilter>(make: impl Fn() -> F, expect: impl Fn(&str) -> String) {
    for (name, api, framing) in streams() {
        let input = corpus(name);
        let base = run(api, framing, &input, &[], &mut make()).unwrap();
        let want: std::collections::BTreeMap<String, String> = stream_texts(api, framing, &input)
            .into_iter()
            .map(|(k, v)| (k, expect(&v)))
            .collect();
        assert!(!want.is_empty(), "{name}: no text found in the corpus file");
        let got = stream_texts(api, framing, &base);
        assert_eq!(got, want, "{name}");
        for cut in 0..=input.len() {
            let out = run(api, framing, &input, &[cut], &mut make()).unwrap();
            assert!(out == base, "{name}: split at {cut} changed the output");
        }
    }
}

#[test]
fn held_text_is_flushed_before_each_stream_ends() {
    check_filter(HoldAll::default, |s| s.to_string());
}

#[test]
fn masked_values_never_leave_and_text_is_otherwise_intact() {
    let m = Masker::new(NEEDLES);
    check_filter(|| Masker::new(NEEDLES), |s| m.mask(s));
    for (name, api, framing) in streams() {
        let input = corpus(name);
        let cuts: Vec<usize> = (0..input.len()).collect();
        let out = run(api, framing, &input, &cuts, &mut Masker::new(NEEDLES)).unwrap();
        let text = String::from_utf8(out).unwrap();
        for n in NEEDLES {
            assert!(!text.contains(n), "{name}: {n} leaked");
        }
        assert!(text.contains("[MASKED]"), "{name}: nothing masked");
    }
}

#[test]
fn unchanged_events_keep_their_original_bytes_when_others_change() {
    // Only the events that carry part of a masked value may differ from the input.
    let input = corpus("openai-chat.sse");
    let out = run(
        sluice_core::Api::OpenAiChat,
        sluice_core::codec::Framing::Sse,
        &input,
        &[],
        &mut Masker::new(NEEDLES),
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    let original = String::from_utf8(input).unwrap();
    let want: Vec<&str> = original.split("\n\n").collect();
    let got: Vec<&str> = text.split("\n\n").collect();
    assert_eq!(want.len(), got.len());
    let mut differing = 0;
    for (w, g) in want.iter().zip(&got) {
        if w != g {
            differing += 1;
            assert!(
                w.contains("\"content\":") || w.contains("\"arguments\":"),
                "a non-text event changed: {g}"
            );
        }
    }
    // The AWS key id spans 7 deltas, the e-mail 3, the secret 3: a few events change,
    // most keep their bytes.
    assert!(differing > 0 && differing < want.len() / 2, "{differing}");
}
