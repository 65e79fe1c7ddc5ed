"""MCP over streamable HTTP at ``/mcp`` of a running ``memvault serve``."""

from __future__ import annotations

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from .mcp_helpers import (
    check_store_after_exercise,
    exercise_every_tool,
    free_port,
    memvault_serve,
    ok,
    refused,
)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_every_tool_at_slash_mcp(tmp_path, embedder, mode):
    """Both a handshake session (legacy) and the stateless 2026-07-28 revision (auto)."""
    db, port = tmp_path / "served.db", free_port()

    async def scenario() -> dict:
        async with Client(f"http://127.0.0.1:{port}/mcp", mode=mode) as client:
            return await exercise_every_tool(client, "default")

    with memvault_serve(tmp_path, db, port):
        seen = anyio.run(scenario)
        assert (seen["health"]["mode"], seen["health"]["status"]) == ("direct", "ok")
    check_store_after_exercise(seen, db, "default", embedder)


def test_namespace_header_picks_the_namespace(tmp_path, embedder):
    db, port = tmp_path / "served.db", free_port()

    async def as_namespace(value: str, tool: str, **arguments) -> dict:
        async with (
            httpx2.AsyncClient(headers={"X-Memvault-Namespace": value}, timeout=300) as http,
            Client(
                streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http),
                mode="legacy",
            ) as client,
        ):
            if tool == "refused":
                return await refused(client, "memory_stats")
            return await ok(client, tool, **arguments)

    async def scenario() -> dict:
        stored = await as_namespace("team", "memory_store", content="A team decision")
        return {
            "stored": stored,
            "team": await as_namespace("team", "memory_stats"),
            "other": await as_namespace("bob", "memory_stats"),
            "bad": await as_namespace("x" * 200, "refused"),
        }

    with memvault_serve(tmp_path, db, port):
        seen = anyio.run(scenario)
    assert seen["stored"]["memory"]["namespace"] == "team"
    assert (seen["team"]["total"], seen["other"]["total"]) == (1, 0)
    assert seen["bad"]["field"] == "X-Memvault-Namespace header"
