//! Streaming holdback redaction (see docs/architecture.md).
