//! Sluice inside Envoy as a proxy-wasm filter.
