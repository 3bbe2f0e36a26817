//! The latency benchmark behind `sluice-latency`: per-token delivery delay, time to first
//! token and memory per open stream, Envoy alone against Envoy with Sluice, in one run; and
//! behind `sluice-soak`, long runs of many streams and long request bodies.

pub mod admin;
pub mod kinds;
pub mod procfs;
pub mod prompts;
pub mod record;
pub mod report;
pub mod run;
pub mod soak;
pub mod stats;
