//! End-to-end harness: a mock LLM upstream and real Envoy + Sluice on loopback.
