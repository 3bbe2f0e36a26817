"""Streams through Sluice with the official SDKs and prints what the application would see.

Reads one JSON object on stdin: {"sdk": "openai-chat" | "openai-responses" | "anthropic" |
"gemini" | "ollama",
"base_url": ..., "mode": "stream" | "blocked", "prompt": ..., "headers": {...}}.
Prints one JSON object: {"text": ..., "tool": ...} for a stream, or {"error": class name,
"status": HTTP status} when the SDK raised its API error (null when it did not).
"""

import json
import sys


def openai_client(cfg):
    import openai

    return openai, openai.OpenAI(
        base_url=cfg["base_url"] + "/v1",
        api_key="sk-test-not-a-key",
        max_retries=0,
        timeout=30,
        default_headers=cfg.get("headers") or {},
    )


def anthropic_client(cfg):
    import anthropic

    return anthropic, anthropic.Anthropic(
        base_url=cfg["base_url"],
        api_key="test-not-a-key",
        max_retries=0,
        timeout=30,
        default_headers=cfg.get("headers") or {},
    )


def run(cfg):
    sdk = cfg["sdk"]
    prompt = cfg.get("prompt", "hello")
    if sdk == "openai-chat":
        module, client = openai_client(cfg)
        call = lambda: client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": prompt}],
            stream=True,
        )
        if cfg["mode"] == "blocked":
            return blocked(module, lambda: list(call()))
        text, tool = "", ""
        for chunk in call():
            for choice in chunk.choices:
                text += choice.delta.content or ""
                for tc in choice.delta.tool_calls or []:
                    if tc.function and tc.function.arguments:
                        tool += tc.function.arguments
        return {"text": text, "tool": tool}
    if sdk == "openai-responses":
        module, client = openai_client(cfg)
        call = lambda: client.responses.create(model="gpt-4.1-mini", input=prompt, stream=True)
        if cfg["mode"] == "blocked":
            return blocked(module, lambda: list(call()))
        text, final = "", ""
        for event in call():
            if event.type == "response.output_text.delta":
                text += event.delta
            elif event.type == "response.completed":
                final = event.response.output_text
        return {"text": text, "tool": final}
    if sdk == "anthropic":
        module, client = anthropic_client(cfg)
        kwargs = dict(
            model="claude-sonnet-4-5",
            max_tokens=256,
            messages=[{"role": "user", "content": prompt}],
        )
        if cfg["mode"] == "blocked":
            return blocked(module, lambda: client.messages.create(**kwargs))
        text = ""
        with client.messages.stream(**kwargs) as stream:
            for event in stream:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    text += event.delta.text
            final = stream.get_final_message()
        tool = "".join(json.dumps(b.input) for b in final.content if b.type == "tool_use")
        return {"text": text, "tool": tool}
    if sdk == "gemini":
        from google import genai
        from google.genai import errors, types

        client = genai.Client(
            api_key="test-not-a-key",
            http_options=types.HttpOptions(
                base_url=cfg["base_url"],
                headers=cfg.get("headers") or {},
                timeout=30000,
            ),
        )
        call = lambda: client.models.generate_content_stream(
            model="gemini-2.5-flash", contents=prompt
        )
        if cfg["mode"] == "blocked":
            try:
                list(call())
            except errors.APIError as e:
                return {"error": type(e).__name__, "status": e.code}
            return {"error": None, "status": None}
        text = "".join(chunk.text or "" for chunk in call())
        return {"text": text, "tool": ""}
    if sdk == "ollama":
        import ollama

        client = ollama.Client(host=cfg["base_url"], headers=cfg.get("headers") or {}, timeout=30)
        call = lambda: client.chat(
            model="llama3.2", messages=[{"role": "user", "content": prompt}], stream=True
        )
        if cfg["mode"] == "blocked":
            try:
                list(call())
            except ollama.ResponseError as e:
                return {"error": type(e).__name__, "status": e.status_code}
            return {"error": None, "status": None}
        text = "".join(chunk.message.content or "" for chunk in call())
        return {"text": text, "tool": ""}
    raise SystemExit("unknown sdk " + sdk)


def blocked(module, call):
    try:
        call()
    except module.APIStatusError as e:
        return {"error": type(e).__name__, "status": e.status_code}
    return {"error": None, "status": None}


if __name__ == "__main__":
    print(json.dumps(run(json.load(sys.stdin))))
