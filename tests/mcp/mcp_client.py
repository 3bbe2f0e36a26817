"""An MCP client (the official `mcp` SDK: `streamable_http_client` + `ClientSession`) for the
end-to-end tests. Reads `{"url": ...}` on stdin, lists the tools and calls each one, and prints
one JSON object: per step either what arrived or the error the SDK raised. Each step is bounded,
so a message that never arrives shows as a timeout instead of a hang.
"""

import json
import sys

import anyio
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

STEP_SECONDS = 20

CALLS = {
    "forecast": {"city": "Lisbon"},
    "weather": {"city": "Lisbon"},
    "credentials": {"environment": "staging"},
}


async def step(out: dict, name: str, action) -> None:
    try:
        with anyio.fail_after(STEP_SECONDS):
            out[name] = {"ok": await action()}
    except MCPError as e:
        out[name] = {"error": "MCPError", "code": e.error.code, "message": e.error.message}
    except TimeoutError:
        out[name] = {"error": "timeout"}
    except Exception as e:  # noqa: BLE001 - the test reports whatever the SDK raised
        out[name] = {"error": type(e).__name__, "message": str(e)}


async def main(url: str) -> dict:
    out: dict = {}
    async with streamable_http_client(url) as (read, write):
        async with ClientSession(read, write) as session:
            with anyio.fail_after(STEP_SECONDS):
                await session.initialize()

            async def tools():
                result = await session.list_tools()
                return {t.name: t.description for t in result.tools}

            await step(out, "tools/list", tools)
            if "error" in out["tools/list"]:
                # `call_tool` re-reads tools/list to validate structured output against the
                # tool's schema; that answer is refused here, so mark the tools as having no
                # output schema and let each call show what its own answer did.
                for name in CALLS:
                    session._tool_output_schemas.setdefault(name, None)
            for name, args in CALLS.items():

                async def call(name=name, args=args):
                    result = await session.call_tool(name, args)
                    texts = [c.text for c in result.content if getattr(c, "type", "") == "text"]
                    return {"text": texts, "is_error": bool(result.is_error)}

                await step(out, name, call)
    return out


if __name__ == "__main__":
    request = json.loads(sys.stdin.read())
    print(json.dumps(anyio.run(main, request["url"])))
