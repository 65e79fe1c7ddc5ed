"""Helpers for the MCP tests: spawning ``memvault mcp`` and calling tools with the SDK's client."""

from __future__ import annotations

import socket
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters
from mcp_types import CallToolResult

from .conftest import cli_env

TOOL_NAMES = ["memory_store", "memory_search", "memory_list", "memory_get", "memory_update",
              "memory_delete", "memory_stats", "memory_health"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mcp_params(tmp_path: Path, db: Path, **env: str) -> StdioServerParameters:
    """``memvault mcp`` over stdio, on this checkout's source, with the store at ``db``.

    The port defaults to a closed one, so no server is found unless a test starts one.
    """
    settings = {"MEMVAULT_STORE_URL": f"sqlite://{db}", "MEMVAULT_PORT": str(free_port()),
                **env}
    return StdioServerParameters(command=sys.executable, args=["-m", "memvault.mcp_stdio"],
                                 env=cli_env(tmp_path, **settings))


@asynccontextmanager
async def stdio_client(tmp_path: Path, db: Path, **env: str):
    async with Client(mcp_params(tmp_path, db, **env), mode="legacy",
                      read_timeout_seconds=300) as client:
        yield client


async def call(client: Client, name: str, **arguments: Any) -> CallToolResult:
    return await client.call_tool(name, arguments)


async def ok(client: Client, name: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool that must succeed; its structured result."""
    result = await call(client, name, **arguments)
    assert not result.is_error, result.content[0].text
    assert result.content[0].text.strip()
    return result.structured_content


async def refused(client: Client, name: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool that must fail; its ``{code, message, field}`` error."""
    result = await call(client, name, **arguments)
    assert result.is_error, result.content[0].text
    error = result.structured_content["error"]
    assert error["message"] in result.content[0].text
    return error
