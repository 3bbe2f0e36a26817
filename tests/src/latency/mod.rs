//! The latency benchmark behind `sluice-latency`: per-token delivery delay, time to first
//! token and memory per open stream, Envoy alone against Envoy with Sluice, in one run.

pub mod procfs;
pub mod record;
pub mod report;
pub mod run;
pub mod stats;
