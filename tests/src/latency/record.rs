//! What one benchmarked stream saw, and the per-token timings derived from it.
//!
//! Tokens are matched by cumulative text length rather than by content: the benchmark's
//! tokens are ordinary words (a unique marker such as a number would itself be held back by
//! the digit-run rules), and holdback moves text between events without changing it.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::inspect;

/// One SSE event as the client completed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventArrival {
    /// When the body chunk that completed the event arrived.
    pub at: Instant,
    /// Assistant text received so far, this event included (bytes).
    pub text_len: usize,
}

/// Splits a chat-completions SSE body into events as bytes arrive.
#[derive(Debug, Default)]
pub struct ChatSseReader {
    pending: Vec<u8>,
    text_len: usize,
    text: String,
    events: Vec<EventArrival>,
}

impl ChatSseReader {
    pub fn new() -> ChatSseReader {
        ChatSseReader::default()
    }

    /// Feeds one body chunk that arrived at `at`.
    pub fn feed(&mut self, bytes: &[u8], at: Instant) {
        self.pending.extend_from_slice(bytes);
        let parsed = inspect::sse_events(&self.pending);
        if parsed.events.is_empty() {
            return;
        }
        for event in &parsed.events {
            let delta = chat_delta_text(&event.data);
            self.text_len += delta.len();
            self.text.push_str(&delta);
            self.events.push(EventArrival {
                at,
                text_len: self.text_len,
            });
        }
        self.pending = parsed.trailing;
    }

    pub fn events(&self) -> &[EventArrival] {
        &self.events
    }

    /// The assistant text received so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn into_events(self) -> Vec<EventArrival> {
        self.events
    }
}

/// The `choices[0].delta.content` text of one chat-completions event ("" for `[DONE]`,
/// role-only, finish and unparsable events).
pub fn chat_delta_text(data: &str) -> String {
    serde_json::from_str::<Value>(data)
        .ok()
        .and_then(|v| {
            v.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

/// Everything one stream recorded, upstream and client side.
#[derive(Clone, Debug)]
pub struct StreamRecord {
    /// The tokens the upstream sent, in order.
    pub tokens: Vec<String>,
    /// When the upstream handed each event to its connection: the role event, one per
    /// token, the finish event, `[DONE]`.
    pub sent: Vec<Instant>,
    /// When the client sent the request.
    pub request_sent: Instant,
    /// Each SSE event as the client completed it.
    pub events: Vec<EventArrival>,
    /// When the client saw the end of the body.
    pub ended: Instant,
}

/// When one token reached the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenTiming {
    /// From the upstream writing the token to the client holding all of its text.
    pub delay: Duration,
    /// The token's text reached the client no earlier than the upstream's next event: in
    /// a later event than the one that carried it, or in its own event released together
    /// with the next. Queueing longer than a token interval looks the same, which is why
    /// the report shows the count for Envoy alone next to each mode's.
    pub held: bool,
}

/// What the derived timings of one stream are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamTimings {
    pub tokens: Vec<TokenTiming>,
    /// Time to first token, less the upstream's own pause before it: what the path adds.
    pub first_token: Duration,
    /// The same up to the event that carried the first token upstream, whatever text it
    /// holds: time to first token without the text holdback moved to later events (an
    /// event parked whole still counts late).
    pub first_event: Duration,
    /// Per role and token event, client arrival minus upstream write: the path's own delay
    /// when holdback only moves text between events (parked events still count late).
    /// Empty when the client saw fewer events than were sent (merged).
    pub events: Vec<Duration>,
    /// From the upstream's last write (`[DONE]`) to the client seeing the end of the body:
    /// what the end of the answer waits for (in ext_proc and wasm with the audit trail on,
    /// the record's commit).
    pub tail: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimingError {
    #[error("the upstream recorded {sent} writes for {tokens} tokens (expected {expected})")]
    SendCount {
        sent: usize,
        tokens: usize,
        expected: usize,
    },
    #[error("token {index} never arrived ({received} of {expected} text bytes received)")]
    Missing {
        index: usize,
        received: usize,
        expected: usize,
    },
}

/// Events the upstream writes besides one per token: role, finish, `[DONE]`.
const FRAME_EVENTS: usize = 3;

impl StreamRecord {
    pub fn timings(&self) -> Result<StreamTimings, TimingError> {
        let expected = self.tokens.len() + FRAME_EVENTS;
        if self.sent.len() != expected {
            return Err(TimingError::SendCount {
                sent: self.sent.len(),
                tokens: self.tokens.len(),
                expected,
            });
        }
        let received = self.events.last().map_or(0, |e| e.text_len);
        let mut out = Vec::with_capacity(self.tokens.len());
        let mut end = 0usize;
        // Arrival events are ordered by text length, so one forward scan finds each token.
        let mut cursor = 0usize;
        for (index, token) in self.tokens.iter().enumerate() {
            end += token.len();
            while self.events.get(cursor).is_some_and(|e| e.text_len < end) {
                cursor += 1;
            }
            let (Some(arrival), Some(sent)) = (self.events.get(cursor), self.sent.get(index + 1))
            else {
                return Err(TimingError::Missing {
                    index,
                    received,
                    expected: self.tokens.iter().map(String::len).sum(),
                });
            };
            // Upstream event 0 is the role; token `index` rides in event `index + 1`. Held
            // text either moves to a later event, or (events parked whole while text is
            // held) its own event only leaves together with the next one.
            let next_event_first = self
                .events
                .get(index + 2)
                .is_some_and(|next| next.at <= arrival.at);
            out.push(TokenTiming {
                delay: arrival.at.saturating_duration_since(*sent),
                held: cursor > index + 1 || next_event_first,
            });
        }
        // The upstream pauses one gap between the role event and the first token; that pause
        // is the model's, not the path's.
        let think = match (self.sent.first(), self.sent.get(1)) {
            (Some(role), Some(first)) => first.saturating_duration_since(*role),
            _ => Duration::ZERO,
        };
        let since_request = |at: Instant| {
            at.saturating_duration_since(self.request_sent)
                .saturating_sub(think)
        };
        let first_len = self.tokens.first().map_or(0, String::len);
        let first_token = self
            .events
            .iter()
            .find(|e| e.text_len >= first_len)
            .map_or(Duration::ZERO, |e| since_request(e.at));
        let first_event = self
            .events
            .get(1)
            .map_or(Duration::ZERO, |e| since_request(e.at));
        // Role and token events, matched by position: holdback moves text between events but
        // keeps one outgoing event per incoming one; a flush at the end may add events there.
        let matched = self.tokens.len() + 1;
        let events = if self.events.len() >= self.sent.len() {
            self.events
                .iter()
                .zip(&self.sent)
                .take(matched)
                .map(|(e, s)| e.at.saturating_duration_since(*s))
                .collect()
        } else {
            Vec::new()
        };
        let tail = self.sent.last().map_or(Duration::ZERO, |last| {
            self.ended.saturating_duration_since(*last)
        });
        Ok(StreamTimings {
            tokens: out,
            first_token,
            first_event,
            events,
            tail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ApiShape, render_stream};
    use crate::upstream::Chunking;

    fn tokens() -> Vec<String> {
        [" the", " river", " runs"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    }

    fn ms(base: Instant, n: u64) -> Instant {
        base + Duration::from_millis(n)
    }

    #[test]
    fn reader_follows_events_split_anywhere() {
        let body = render_stream(ApiShape::OpenAiChat, &tokens());
        let start = Instant::now();
        for cut in 0..body.len() {
            let (a, b) = body.split_at(cut);
            let mut r = ChatSseReader::new();
            r.feed(a, start);
            r.feed(b, start);
            assert_eq!(r.text(), " the river runs", "cut at {cut}");
            let lens: Vec<usize> = r.events().iter().map(|e| e.text_len).collect();
            assert_eq!(lens, vec![0, 4, 10, 15, 15, 15], "cut at {cut}");
        }
    }

    #[test]
    fn reader_stamps_each_event_with_the_chunk_that_completed_it() {
        let body = render_stream(ApiShape::OpenAiChat, &tokens());
        let events = Chunking::Events.split(&body);
        let t0 = Instant::now();
        let mut r = ChatSseReader::new();
        // The first token's event arrives in two halves, 5 ms apart.
        let first = events.get(1).cloned().unwrap_or_default();
        let (head, tail) = first.split_at(first.len() / 2);
        r.feed(events.first().map(Vec::as_slice).unwrap_or_default(), t0);
        r.feed(head, ms(t0, 1));
        r.feed(tail, ms(t0, 6));
        assert_eq!(r.events().len(), 2);
        assert_eq!(r.events().get(1).map(|e| e.at), Some(ms(t0, 6)));
    }

    fn record(events: &[(u64, usize)]) -> StreamRecord {
        let t0 = Instant::now();
        StreamRecord {
            tokens: tokens(),
            // role at 10, tokens at 30/50/70, finish 90, done 90
            sent: [10, 30, 50, 70, 90, 90]
                .iter()
                .map(|n| ms(t0, *n))
                .collect(),
            request_sent: t0,
            events: events
                .iter()
                .map(|(at, len)| EventArrival {
                    at: ms(t0, *at),
                    text_len: *len,
                })
                .collect(),
            ended: ms(t0, 95),
        }
    }

    #[test]
    fn prompt_delivery_is_neither_delayed_nor_held() {
        let r = record(&[(11, 0), (31, 4), (51, 10), (71, 15), (91, 15), (91, 15)]);
        let t = r.timings().unwrap_or_else(|e| panic!("{e}"));
        assert!(t.tokens.iter().all(|x| x.delay == Duration::from_millis(1)));
        assert!(t.tokens.iter().all(|x| !x.held));
        // 31 ms to the first token, of which 20 ms were the upstream's own pause.
        assert_eq!(t.first_token, Duration::from_millis(11));
        assert_eq!(t.first_event, Duration::from_millis(11));
        assert_eq!(t.events, vec![Duration::from_millis(1); 4]);
        // `[DONE]` written at 90, the end of the body seen at 95.
        assert_eq!(t.tail, Duration::from_millis(5));
    }

    #[test]
    fn held_text_counts_against_the_token_it_belongs_to() {
        // " river" is held back and rides with " runs" in the third token event.
        let r = record(&[(11, 0), (31, 4), (51, 4), (71, 15), (91, 15), (91, 15)]);
        let t = r.timings().unwrap_or_else(|e| panic!("{e}"));
        let held: Vec<bool> = t.tokens.iter().map(|x| x.held).collect();
        assert_eq!(held, vec![false, true, false]);
        assert_eq!(t.first_token, Duration::from_millis(11));
        assert_eq!(
            t.tokens.get(1).map(|x| x.delay),
            Some(Duration::from_millis(21))
        );
    }

    #[test]
    fn an_event_parked_until_the_next_is_held() {
        // Every event byte-identical, but the " river" event leaves with the " runs" one.
        let r = record(&[(11, 0), (31, 4), (71, 10), (71, 15), (91, 15), (91, 15)]);
        let t = r.timings().unwrap_or_else(|e| panic!("{e}"));
        let held: Vec<bool> = t.tokens.iter().map(|x| x.held).collect();
        assert_eq!(held, vec![false, true, false]);
        assert_eq!(
            t.tokens.get(1).map(|x| x.delay),
            Some(Duration::from_millis(21))
        );
        assert_eq!(t.events.len(), 4);
    }

    #[test]
    fn text_flushed_only_at_the_end_is_held() {
        let r = record(&[(11, 0), (31, 0), (51, 0), (71, 0), (91, 15), (91, 15)]);
        let t = r.timings().unwrap_or_else(|e| panic!("{e}"));
        assert!(t.tokens.iter().all(|x| x.held));
        // The first token's text came 60 ms after its event: holdback, not the path.
        assert_eq!(t.first_token, Duration::from_millis(71));
        assert_eq!(t.first_event, Duration::from_millis(11));
    }

    #[test]
    fn missing_text_is_an_error_not_a_timing() {
        let r = record(&[(11, 0), (31, 4), (51, 10)]);
        assert_eq!(
            r.timings(),
            Err(TimingError::Missing {
                index: 2,
                received: 10,
                expected: 15
            })
        );
        let mut short = record(&[]);
        short.sent.pop();
        assert!(matches!(
            short.timings(),
            Err(TimingError::SendCount { .. })
        ));
    }

    #[test]
    fn an_extra_flush_event_keeps_per_event_figures() {
        // " runs" held until the finish event, flushed in an event of its own before it.
        let r = record(&[
            (11, 0),
            (31, 4),
            (51, 10),
            (71, 10),
            (91, 15),
            (91, 15),
            (91, 15),
        ]);
        let t = r.timings().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.events, vec![Duration::from_millis(1); 4]);
        let held: Vec<bool> = t.tokens.iter().map(|x| x.held).collect();
        assert_eq!(held, vec![false, false, true]);
    }

    #[test]
    fn merged_events_give_no_per_event_figures() {
        let r = record(&[(11, 0), (51, 10), (71, 15), (91, 15), (91, 15)]);
        let t = r.timings().unwrap_or_else(|e| panic!("{e}"));
        assert!(t.events.is_empty());
        // " the" arrives in the event at 51 ms: later than sent, and in the event at ordinal 1.
        assert_eq!(
            t.tokens.first().map(|x| x.delay),
            Some(Duration::from_millis(21))
        );
    }
}
