//! Sluice inside Envoy as a proxy-wasm filter: the same core as the ext_proc service, driven
//! from Envoy's HTTP filter callbacks. This crate only translates; the core decides.
//!
//! Build: `cargo build --profile release-wasm -p sluice-wasm --target wasm32-wasip1`.
//! Configuration, fail-closed behaviour and limits: `docs/wasm.md`.

pub mod config;
pub mod filter;
pub mod host;
pub mod metadata;
pub mod metrics;
mod plugin;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> {
        Box::new(plugin::SluiceRoot::default())
    });
}}
