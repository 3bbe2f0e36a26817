//! The built-in policy holds nothing back in benign streamed answers of the benchmark's four
//! stream kinds (whole words, sub-word prose, code, JSON): every event leaves, unchanged, before
//! the next one arrives. Run through the real engine, one OpenAI chat-completions SSE event per
//! token, as `sluice-latency` streams them. What still can wait, and why, is in
//! `docs/architecture.md`, "What holdback costs".

use sluice_core::exchange::{BodyOutcome, HeadersOutcome};
use sluice_core::{Action, Engine, ExchangeContext, Policy};
use sluice_e2e::latency::kinds::StreamKind;

fn event(token: &str) -> Vec<u8> {
    let chunk = serde_json::json!({
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": token}, "finish_reason": null}],
    });
    format!("data: {chunk}\n\n").into_bytes()
}

/// Streams `tokens` through a fresh exchange of `engine`, one event per body chunk. Returns the
/// tokens whose event had not fully left by the time it was answered, everything that left,
/// and everything that was sent.
fn stream(engine: &Engine, tokens: &[String]) -> (Vec<String>, Vec<u8>, Vec<u8>) {
    let mut ex = engine.exchange(ExchangeContext::default());
    let request = [
        (":path".to_string(), "/v1/chat/completions".to_string()),
        (":method".to_string(), "POST".to_string()),
    ];
    assert!(matches!(
        ex.request_headers(&request),
        HeadersOutcome::Continue(_)
    ));
    let response = [
        (":status".to_string(), "200".to_string()),
        ("content-type".to_string(), "text/event-stream".to_string()),
    ];
    assert!(matches!(
        ex.response_headers(&response),
        HeadersOutcome::Continue(_)
    ));
    let mut sent = Vec::new();
    let mut emitted = Vec::new();
    let mut held = Vec::new();
    for token in tokens {
        let ev = event(token);
        sent.extend_from_slice(&ev);
        match ex.response_body(&ev, false) {
            BodyOutcome::Unchanged => emitted.extend_from_slice(&ev),
            BodyOutcome::Replace(b) => emitted.extend_from_slice(&b),
            BodyOutcome::Reply(r) => panic!("unexpected reply {}", r.reason),
        }
        if emitted != sent {
            held.push(token.clone());
        }
    }
    let done = b"data: [DONE]\n\n";
    sent.extend_from_slice(done);
    match ex.response_body(done, true) {
        BodyOutcome::Unchanged => emitted.extend_from_slice(done),
        BodyOutcome::Replace(b) => emitted.extend_from_slice(&b),
        BodyOutcome::Reply(r) => panic!("unexpected reply {}", r.reason),
    }
    let record = ex.finish();
    assert!(record.errors.is_empty(), "errors: {:?}", record.errors);
    (held, emitted, sent)
}

/// The content deltas of an emitted chat-completions stream, concatenated.
fn content(emitted: &[u8]) -> String {
    let text = std::str::from_utf8(emitted).expect("UTF-8");
    let mut out = String::new();
    for data in text.split("\n\n").filter_map(|e| e.strip_prefix("data: ")) {
        if data == "[DONE]" {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(data).expect("event data is JSON");
        out.push_str(
            v["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap_or_default(),
        );
    }
    out
}

fn summary(held: &[String]) -> Vec<(String, usize)> {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for h in held {
        *counts.entry(h.as_str()).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().map(|(k, n)| (k.to_owned(), n)).collect();
    v.sort_by_key(|e| std::cmp::Reverse(e.1));
    v.truncate(12);
    v
}

#[test]
fn built_in_policy_holds_no_token_of_any_stream_kind() {
    let engine = Engine::new(Policy::default()).expect("built-in policy");
    for kind in StreamKind::ALL {
        for seed in [1, 7, 42] {
            let tokens = kind.tokens(2000, seed);
            let (held, emitted, sent) = stream(&engine, &tokens);
            assert!(
                emitted == sent,
                "{kind} seed {seed}: a benign stream left changed"
            );
            eprintln!(
                "{kind} seed {seed}: {} of {} held",
                held.len(),
                tokens.len()
            );
            assert!(
                held.is_empty(),
                "{kind} seed {seed}: {} of {} tokens held back: {:?}",
                held.len(),
                tokens.len(),
                summary(&held)
            );
        }
    }
}

/// Masking e-mail and phone numbers in streams too (the opt-in policy
/// `docs/policies/mask-email-in-streams.json` plus `phone_in_streams: mask`) holds what those
/// grammars can still grow into; printed with `--nocapture`, for docs/performance.md, and
/// bounded so a rule that starts holding more fails here.
#[test]
fn masking_email_and_phones_in_streams_holds_only_their_candidates() {
    let mut policy = Policy::default();
    policy.response.email_in_streams = Some(Action::Mask);
    policy.response.phone_in_streams = Some(Action::Mask);
    let engine = Engine::new(policy).expect("policy");
    for (kind, max_percent) in [
        (StreamKind::Words, 100.0),
        (StreamKind::Subword, 100.0),
        (StreamKind::Code, 60.0),
        (StreamKind::Json, 60.0),
    ] {
        let tokens = kind.tokens(2000, 7);
        let (held, emitted, sent) = stream(&engine, &tokens);
        assert!(emitted == sent, "{kind}: a benign stream left changed");
        eprintln!(
            "{kind} (e-mail, phones masked): {} of {} held; {:?}",
            held.len(),
            tokens.len(),
            summary(&held)
        );
        let percent = held.len() as f64 * 100.0 / tokens.len() as f64;
        assert!(percent <= max_percent, "{kind}: {percent:.1} % held");
    }
}

fn tokens(list: &[&str]) -> Vec<String> {
    list.iter().map(|t| (*t).to_owned()).collect()
}

/// The trade-off the zero above costs (docs/architecture.md, "What holdback costs"): a
/// number's first group leaves at once, so when it turns out to open a card or an SSN the
/// mask covers the rest. No more than that leaves, whatever the split.
#[test]
fn a_card_or_ssn_whose_first_group_left_is_masked_from_there() {
    let engine = Engine::new(Policy::default()).expect("built-in policy");
    let cases: [(&[&str], &str); 4] = [
        (
            &["Card ", "4111", " 1111", " 1111", " 1111", " on file."],
            "Card 4111[REDACTED:credit-card] on file.",
        ),
        (
            &["Card ", "411", "111", "111", "111", "1111", " on file."],
            "Card 411111[REDACTED:credit-card] on file.",
        ),
        (
            &["SSN ", "330", "-28-2276", " on file."],
            "SSN 330[REDACTED:us-ssn] on file.",
        ),
        // Nothing of the number left yet: masked whole.
        (
            &["Card ", "4111 1111", " 1111 1111", " on file."],
            "Card [REDACTED:credit-card] on file.",
        ),
    ];
    for (list, want) in cases {
        let (_, emitted, _) = stream(&engine, &tokens(list));
        assert_eq!(content(&emitted), want, "{list:?}");
    }
}

/// Phone numbers and e-mail addresses are flagged in streamed answers by the built-in policy
/// (they leave unchanged and are counted), masked when the policy opts in.
#[test]
fn phones_are_flagged_in_streams_unless_the_policy_masks_them() {
    let list = tokens(&["Call ", "415", "-555", "-0100", " today."]);
    let (held, emitted, sent) = stream(&Engine::new(Policy::default()).expect("policy"), &list);
    assert!(
        held.is_empty() && emitted == sent,
        "built-in policy: {held:?}"
    );
    let mut policy = Policy::default();
    policy.response.phone_in_streams = Some(Action::Mask);
    let (_, emitted, _) = stream(&Engine::new(policy).expect("policy"), &list);
    assert_eq!(content(&emitted), "Call [REDACTED:phone] today.");
}
