#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target (fuzz/corpus/<target>/) from the captures in
tests/corpus: each seed is laid out the way its target reads its input (selector and cut bytes
first, see fuzz/fuzz_targets/). Deterministic; rerun after a capture or a target changes:

    python3 scripts/fuzz-seeds.py
"""
import gzip
import hashlib
import json
import pathlib
import shutil

ROOT = pathlib.Path(__file__).resolve().parent.parent
STREAMS = ROOT / "tests/corpus/streams"
OUT = ROOT / "fuzz/corpus"

# Index into Api::ALL (core/src/codec/mod.rs) and into the exchange target's PATHS.
API = {"openai-chat": 0, "openai-responses": 1, "anthropic": 2, "gemini": 3, "ollama": 4, "mcp": 5, "text": 6}
# The response_rewriter target's framings and the exchange target's content types, by index.
SSE, NDJSON, JSON, RAW = 0, 1, 2, 3
GZIP = 1  # the exchange target's ENCODINGS index

CAPTURES = [
    # file, api, framing
    ("openai-chat.sse", "openai-chat", SSE),
    ("openai-responses.sse", "openai-responses", SSE),
    ("anthropic.sse", "anthropic", SSE),
    ("gemini.sse", "gemini", SSE),
    ("ollama.ndjson", "ollama", NDJSON),
    ("mcp-tools-call-result.sse", "mcp", SSE),
    ("mcp-tools-list.json", "mcp", JSON),
]


def read(name):
    return (STREAMS / name).read_bytes()


def jsonl(name, n):
    lines = (ROOT / "tests/corpus" / name).read_bytes().splitlines()
    return [line for line in lines if line.strip()][:n]


def texts(n):
    """Prompt texts with planted findings from the detector corpus."""
    out = []
    for line in jsonl("secrets-pii.jsonl", 300):
        record = json.loads(line)
        if record.get("findings"):
            out.append(record["text"])
        if len(out) == n:
            break
    return out


def sse_data(body, n):
    out = []
    for line in body.splitlines():
        if line.startswith(b"data:"):
            data = line[5:].strip()
            if data.startswith(b"{"):
                out.append(data)
        if len(out) == n:
            break
    return out


def request_for(api, text):
    if api == "mcp":
        return read("mcp-tools-call-request.json")
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": text}]}
    return json.dumps(body).encode()


def exchange_input(sel, enc, cut_a, cut_b, request, response):
    # The target splits the rest at len/3: pad the request (JSON allows trailing blanks) so the
    # split falls exactly between request and response.
    want = len(response) // 2
    if len(request) < want:
        request = request + b" " * (want - len(request))
    else:
        response = response + b"\n" * (2 * len(request) - len(response))
    rest = request + response
    assert rest[: len(rest) // 3] == request
    return bytes([sel, enc, cut_a, cut_b]) + rest


def seeds():
    prompts = texts(8)
    out = {t: [] for t in ["sse_decoder", "ndjson_decoder", "json_splice", "response_rewriter", "exchange"]}
    for i, (name, api, framing) in enumerate(CAPTURES):
        body = read(name)
        cut = (37 * (i + 1)) % 251
        if framing == SSE:
            out["sse_decoder"].append(bytes([cut]) + body)
            out["sse_decoder"].append(bytes([3]) + body.replace(b"\n", b"\r\n"))
            out["json_splice"].extend(sse_data(body, 4))
        if framing == NDJSON:
            out["ndjson_decoder"].append(bytes([cut]) + body)
            out["json_splice"].extend(body.splitlines()[:4])
        if framing == JSON:
            out["json_splice"].append(body)
        sel = API[api] | (framing << 4)
        out["response_rewriter"].append(bytes([sel, cut]) + body)
        request = request_for(api, prompts[i % len(prompts)])
        out["exchange"].append(exchange_input(sel, 0, cut, 200, request, body))
        if framing == SSE and i < 3:
            out["exchange"].append(exchange_input(sel, GZIP, 10, 90, request, gzip.compress(body, mtime=0)))
    out["json_splice"].append(read("mcp-tools-call-request.json"))
    out["json_splice"].extend(jsonl("secrets-pii.jsonl", 8) + jsonl("injection-dev.jsonl", 6))
    lines = b"\n".join(jsonl("secrets-pii.jsonl", 12)) + b"\n"
    out["ndjson_decoder"].append(bytes([101]) + lines)
    out["ndjson_decoder"].append(bytes([0]) + lines.replace(b"\n", b"\r\n"))
    for j, text in enumerate(prompts[:4]):
        raw = text.encode()
        out["response_rewriter"].append(bytes([API["text"] | (RAW << 4), j * 11]) + raw)
        out["exchange"].append(exchange_input(API["text"] | (RAW << 4), 0, 5, 40, request_for("openai-chat", text), raw))
    return out


def main():
    for target, inputs in seeds().items():
        folder = OUT / target
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for data in inputs:
            (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)
        print(f"fuzz/corpus/{target}: {len(list(folder.iterdir()))} seeds")


if __name__ == "__main__":
    main()
