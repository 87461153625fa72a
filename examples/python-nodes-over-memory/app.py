"""nodes-over-memory: a proxmcp plugin in Python.

One read-only tool, py_nodes_over_memory: the online nodes whose memory use
is above a threshold. Built with componentize-py (see build.sh); the
manifest lives in nodes-over-memory.proxmcp.json next to the .wasm because a
Python component cannot carry the custom section Rust plugins use.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import tools
from wit_world.imports import pve, types

SCHEMA = {
    "type": "object",
    "properties": {"threshold_percent": {"type": "number", "minimum": 0, "maximum": 100}},
    "additionalProperties": False,
}


class Tools(exports.Tools):
    def list_tools(self):
        return [
            tools.Tool(
                name="py_nodes_over_memory",
                title="Nodes over a memory threshold",
                description="Online nodes whose memory use is above threshold_percent (default 80).",
                input_schema=json.dumps(SCHEMA),
                output_schema=None,
                hints=tools.Hints(read_only=True, destructive=False, idempotent=True, open_world=True),
            )
        ]

    def call_tool(self, name, arguments):
        if name != "py_nodes_over_memory":
            raise Err(tools.ToolError_UnknownTool(name))
        args = json.loads(arguments)
        unknown = set(args) - {"threshold_percent"}
        if unknown:
            raise Err(tools.ToolError_InvalidArguments(f"unknown argument(s): {', '.join(sorted(unknown))}"))
        threshold = args.get("threshold_percent", 80)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 100:
            raise Err(tools.ToolError_InvalidArguments("threshold_percent must be a number from 0 to 100, e.g. 80"))
        threshold = float(threshold)
        try:
            nodes = json.loads(pve.request(types.Method.GET, ["nodes"], "{}"))
        except Err as e:
            raise Err(tools.ToolError_Api(e.value))
        over = []
        for n in nodes:
            if n.get("status") != "online" or not n.get("maxmem"):
                continue
            pct = 100.0 * n.get("mem", 0) / n["maxmem"]
            if pct > threshold:
                over.append({"node": n["node"], "mem_percent": round(pct, 1)})
        return tools.Output(
            structured=json.dumps({"threshold_percent": threshold, "nodes": over}),
            text=f"{len(over)} node(s) above {threshold:g}% memory",
        )
