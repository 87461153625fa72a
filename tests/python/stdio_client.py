"""Drives proxmcp over stdio with the official Python MCP SDK.

Usage: stdio_client.py PROXMCP_BINARY [ARGS...]

The environment (Proxmox URL, token, cache dir) is passed through to the
server. Prints one JSON object: the listed tool names and, per tool, the
structured result and whether it was an error.
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

CALLS = {
    "pve_get_version": {},
    "pve_list_nodes": {"limit": 2},
    "pve_list_vms": {"type": "qemu"},
}


async def main() -> None:
    params = StdioServerParameters(command=sys.argv[1], args=sys.argv[2:] + ["serve"], env=dict(os.environ))
    async with stdio_client(params) as (read, write):
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
