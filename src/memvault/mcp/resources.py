"""The ``memory://`` resources: ``memory://stats``, ``memory://tags`` and ``memory://recent/{n}``.

Each is read through a tool (``memory_stats``, ``memory_list``) and its
runner, so it is forwarded when tools are; stats and tags use the server's
namespace (or the key's own). The contents are the tool's structured
result, or a part of it, as JSON.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.server.mcpserver.resources import FunctionResource

from .tools.about import memory_stats
from .tools.arguments import MAX_PAGE_SIZE
from .tools.declare import VaultTool
from .tools.remember import memory_list
from .work import Runner


def add_resources(server: MCPServer, runner: Runner) -> None:
    """Add the resources to ``server``, reading through ``runner``."""

    async def read(tool: VaultTool, arguments: dict[str, Any], pick: tuple[str, ...] = ()) -> str:
        result = await runner.call(None, tool.name, tool.bind(**arguments), arguments)
        data = result.structured_content or {}
        if result.is_error:
            raise ResourceError(data.get("error", {}).get("message") or "memory read failed")
        if pick:
            data = {key: data[key] for key in pick}
        return json.dumps(data, ensure_ascii=False, indent=2)

    async def stats() -> str:
        return await read(memory_stats, {})

    async def tags() -> str:
        return await read(memory_stats, {}, pick=("namespace", "top_tags"))

    async def recent(n: str) -> str:
        if not n.isdigit() or not 1 <= int(n) <= MAX_PAGE_SIZE:
            raise ResourceError(f"n must be a whole number from 1 to {MAX_PAGE_SIZE}, got {n!r}")
        return await read(memory_list, {"page_size": int(n)}, pick=("memories", "total"))

    for uri, fn, description in (
        ("memory://stats", stats, "Totals, types, months, top tags, store size and model."),
        ("memory://tags", tags, "The most used tags, with how many memories carry each."),
    ):
        server.add_resource(
            FunctionResource.from_function(
                fn,
                uri=uri,
                name=uri.removeprefix("memory://"),
                description=description,
                mime_type="application/json",
            )
        )
    server.resource(
        "memory://recent/{n}",
        name="recent",
        description="The n newest memories (n from 1 to 100).",
        mime_type="application/json",
    )(recent)
