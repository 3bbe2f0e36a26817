#!/usr/bin/env bash
# Brings up the local stack — the sample LLM upstream, `sluice serve`, and real Envoy 1.40 —
# and streams a sample answer through it. The answer carries an AWS key id and an e-mail
# address cut into small tokens; what reaches the terminal has them masked.
#
#   scripts/demo.sh                 # OpenAI Chat Completions stream
#   scripts/demo.sh anthropic       # or: openai-responses, gemini, ollama
#   SLUICE_DEMO_POLICY=docs/policies/mask-email-in-streams.json scripts/demo.sh
#                                   # a policy file instead of the built-in policy
set -euo pipefail
cd "$(dirname "$0")/.."
api=${1:-openai-chat}

./scripts/setup.sh
echo "== building sluice and the sample upstream (release)" >&2
# Two builds: `--bin` applies to every package named with it, so one command would build only
# the mock upstream and leave `target/release/sluice` missing on a fresh clone.
cargo build --release --quiet -p sluice-ext-proc
cargo build --release --quiet -p sluice-e2e --bin sluice-mock-upstream

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=$(free_port); listen=$(free_port); admin=$(free_port)

target/release/sluice-mock-upstream --listen "127.0.0.1:$up" 2>"$work/upstream.log" &
pids+=($!)
policy_args=()
if [ -n "${SLUICE_DEMO_POLICY:-}" ]; then policy_args=(--policy "$SLUICE_DEMO_POLICY"); fi
target/release/sluice serve --listen "unix:$work/sluice.sock" "${policy_args[@]}" 2>"$work/sluice.log" &
pids+=($!)
target/release/sluice envoy-bootstrap --mode ext-proc --listen "127.0.0.1:$listen" \
  --upstream "http://127.0.0.1:$up" --sluice "unix:$work/sluice.sock" --admin "127.0.0.1:$admin" \
  >"$work/envoy.yaml"
for _ in $(seq 100); do grep -q "listening on" "$work/sluice.log" 2>/dev/null && break; sleep 0.1; done
.venv/bin/envoy -c "$work/envoy.yaml" --base-id "$listen" --log-level warn 2>"$work/envoy.log" &
pids+=($!)
for _ in $(seq 150); do
  [ "$(curl -s "http://127.0.0.1:$admin/ready" || true)" = "LIVE" ] && break
  sleep 0.2
done
[ "$(curl -s "http://127.0.0.1:$admin/ready" || true)" = "LIVE" ] || { echo "Envoy did not become ready:" >&2; tail -20 "$work/envoy.log" >&2; exit 1; }

case "$api" in
  openai-chat) path=/v1/chat/completions; body='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"What is my key?"}]}' ;;
  openai-responses) path=/v1/responses; body='{"model":"gpt-4.1-mini","stream":true,"input":"What is my key?"}' ;;
  anthropic) path=/v1/messages; body='{"model":"claude-sonnet-4-5","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"What is my key?"}]}' ;;
  gemini) path='/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse'; body='{"contents":[{"parts":[{"text":"What is my key?"}]}]}' ;;
  ollama) path=/api/chat; body='{"model":"llama3.2","messages":[{"role":"user","content":"What is my key?"}]}' ;;
  *) echo "unknown api: $api" >&2; exit 2 ;;
esac

echo "== streaming $api through Envoy + Sluice (http://127.0.0.1:$listen$path)" >&2
curl -sS -N -D "$work/headers" "http://127.0.0.1:$listen$path" -H 'content-type: application/json' -d "$body" | tee "$work/answer"
echo >&2
grep -i '^x-sluice-decision' "$work/headers" >&2 || true
echo "== the text the client reads:" >&2
.venv/bin/python - "$api" "$work/answer" <<'PY'
import json, sys
api, path = sys.argv[1], sys.argv[2]
text = []
for line in open(path, encoding="utf-8"):
    line = line.strip()
    if line.startswith("data:"):
        line = line[5:].strip()
    if not line.startswith("{"):
        continue
    ev = json.loads(line)
    if api == "openai-chat":
        for c in ev.get("choices", []):
            text.append(c.get("delta", {}).get("content") or "")
    elif api == "openai-responses" and ev.get("type") == "response.output_text.delta":
        text.append(ev["delta"])
    elif api == "anthropic" and ev.get("type") == "content_block_delta":
        d = ev["delta"]; text.append(d.get("text") or d.get("partial_json") or "")
    elif api == "gemini":
        for c in ev.get("candidates", []):
            for p in c.get("content", {}).get("parts", []):
                text.append(p.get("text", ""))
    elif api == "ollama":
        text.append(ev.get("message", {}).get("content", ""))
print("".join(text))
PY
echo "== what Sluice recorded for this exchange (the audit record holds rule ids and counts, never a value):" >&2
for _ in $(seq 50); do grep -q 'sluice::audit' "$work/sluice.log" && break; sleep 0.1; done
.venv/bin/python - "$work/sluice.log" <<'PY'
import json, sys
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    if "sluice::audit" not in line or "record=" not in line:
        continue
    record = json.loads(line.split("record=", 1)[1].strip())
    print("decision:", record.get("decision"))
    for f in record.get("findings", []):
        print(f"  {f['direction']}: {f['rule']} x{f['count']} -> {f['action']}")
PY
