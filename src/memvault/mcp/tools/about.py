"""The tools about the vault itself: ``memory_stats`` and ``memory_health``."""

from __future__ import annotations

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult

from ...access.principal import visible_report
from ..work import Outcome, Runner, Target
from .declare import READ_ONLY, runner_tool, tool
from .results import HealthOut, StatsOut


@tool("Memory statistics", READ_ONLY, "read", StatsOut)
def memory_stats(at: Target) -> Outcome:
    """How many memories there are, by type and month, the top tags, store size and model."""
    stats = visible_report(at.vault.stats(namespace=at.namespace), at.viewer)
    tags = ", ".join(f"{t['tag']} ({t['count']})" for t in stats["top_tags"][:10]) or "none"
    types = ", ".join(f"{k} ({v})" for k, v in stats["by_type"].items()) or "none"
    return Outcome(
        {"namespace": at.namespace, **stats},
        f"{stats['total']} memories in namespace {at.namespace!r}; "
        f"types: {types}; top tags: {tags}; newest {stats['newest'] or '-'}; "
        f"store {stats['store']} ({stats['size_bytes'] or 0} bytes), "
        f"model {stats['model']}.",
    )


# The runner answers: only it knows whether it reaches the store directly or forwards.
@runner_tool("Memory health", READ_ONLY, "read", HealthOut)
async def memory_health(runner: Runner, ctx: Context | None, name: str) -> CallToolResult:
    """Whether memory works: the store answers, the model is loaded, and how this server
    reaches the store (directly, or through a memvault HTTP server). Never waits for
    the model.
    """
    return await runner.health(ctx, name)
