//! End-to-end harness: a mock LLM upstream and real Envoy + Sluice on loopback.
//!
//! - [`upstream`]: the mock provider (every API shape, scripted, chunked, paused, gzipped).
//! - [`harness`]: Envoy, `sluice serve` and the mock as one [`harness::Stack`].
//! - [`client`]: a client that sees each chunk as it arrives and tells cut streams apart.
//! - [`inspect`]: framing checks and planted-value searches that never print a value.
//! - [`latency`]: the `sluice-latency` benchmark (per-token delay, time to first token, memory).

pub mod api;
pub mod client;
pub mod harness;
pub mod inspect;
pub mod latency;
pub mod scenario;
pub mod upstream;
