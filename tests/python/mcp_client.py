"""Drives proxmcp with the official Python MCP SDK over any transport.

Usage:
  mcp_client.py stdio PROXMCP_BINARY [ARGS...]   (the environment is passed to the server)
  mcp_client.py http URL [BEARER_TOKEN]          (streamable HTTP, e.g. http://127.0.0.1:8000/mcp)
  mcp_client.py sse URL [BEARER_TOKEN]           (legacy SSE, e.g. http://127.0.0.1:8000/sse)
  mcp_client.py elicit accept|decline PROXMCP_BINARY [ARGS...]
      (the SDK's high-level Client in its default mode, with an elicitation
      callback that gives that answer, calls pve_stop_vm on vmid 100 over stdio)

X_PROXMOX_TOKEN in the environment is sent as the X-Proxmox-Token header over
HTTP and SSE (a caller's own Proxmox API token).

Prints one JSON object: the listed tool names and, per tool, the
structured result and whether it was an error.
"""

import asyncio
import contextlib
import json
import os
import sys

from mcp import Client, ClientSession, StdioServerParameters, types
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

CALLS = {
    "pve_get_version": {},
    "pve_list_nodes": {"limit": 2},
    "pve_list_vms": {"type": "qemu"},
}


@contextlib.asynccontextmanager
async def connect(mode: str, args: list[str]):
    if mode == "stdio":
        params = StdioServerParameters(command=args[0], args=args[1:] + ["serve"], env=dict(os.environ))
        async with stdio_client(params) as (read, write):
            yield read, write
        return
    url = args[0]
    headers = {"Authorization": f"Bearer {args[1]}"} if len(args) > 1 else {}
    # A caller's own Proxmox API token, for targets with credentials = "caller".
    if os.environ.get("X_PROXMOX_TOKEN"):
        headers["X-Proxmox-Token"] = os.environ["X_PROXMOX_TOKEN"]
    headers = headers or None
    if mode == "http":
        async with create_mcp_http_client(headers=headers) as http:
            async with streamable_http_client(url, http_client=http) as streams:
                yield streams[0], streams[1]
    elif mode == "sse":
        async with sse_client(url, headers=headers) as (read, write):
            yield read, write
    else:
        raise SystemExit(f"unknown mode {mode!r}; use stdio, http or sse")


async def elicit(answer: str, args: list[str]) -> None:
    asked = []

    async def on_elicit(context, params):
        asked.append(params.message)
        return types.ElicitResult(action=answer)

    server = StdioServerParameters(command=args[0], args=args[1:] + ["serve"], env=dict(os.environ))
    async with Client(server, elicitation_callback=on_elicit) as client:
        r = await client.call_tool("pve_stop_vm", {"vmid": 100})
        version = client.session.protocol_version
    texts = [c.text for c in r.content if getattr(c, "type", "") == "text"]
    print(json.dumps({"asked": asked, "is_error": bool(r.is_error), "text": texts, "protocol": str(version)}))


async def main() -> None:
    mode, rest = sys.argv[1], sys.argv[2:]
    if mode == "elicit":
        await elicit(rest[0], rest[1:])
        return
    async with connect(mode, rest) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            listed = await session.list_tools()
            results = {}
            for name, args in CALLS.items():
                r = await session.call_tool(name, args)
                results[name] = {
                    "is_error": bool(r.is_error),
                    "structured": r.structured_content,
                    "text": [c.text for c in r.content if getattr(c, "type", "") == "text"],
                }
    print(json.dumps({"tools": sorted(t.name for t in listed.tools), "results": results}))


if __name__ == "__main__":
    asyncio.run(main())
