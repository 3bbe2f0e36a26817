//! Sluice's sans-I/O inspection engine: detectors, protocol codecs and the streaming
//! holdback redactor, driven through [`Exchange`]. Nothing here does I/O or knows Envoy, so the
//! ext_proc service and the proxy-wasm filter behave the same.

pub mod audit;
pub mod codec;
pub mod decompress;
pub mod detect;
pub mod exchange;
pub mod finding;
pub mod holdback;
pub mod inject;
pub mod policy;
pub mod summary;

pub use codec::{Api, TokenUsage};
pub use detect::{DetectorOptions, Scanner};
pub use exchange::{
    AuditRecord, BodyOutcome, Decision, Engine, Exchange, ExchangeContext, HeaderMutation,
    HeadersOutcome, LocalReply, METRIC_LABELS, error_kind, metric_label,
};
pub use finding::{Category, Encoding, Finding};
pub use holdback::HeldBack;
pub use inject::{InjectionDetector, InjectionReport};
pub use policy::{Action, Policy};
pub use summary::DecisionSummary;
