"""Helpers for the MCP tests: spawning ``memvault mcp`` and calling tools with the SDK's client."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
from mcp import Client, StdioServerParameters
from mcp_types import CallToolResult

from memvault.vault import Vault

from .conftest import cli_env

TOOL_NAMES = [
    "memory_store",
    "memory_search",
    "memory_list",
    "memory_get",
    "memory_update",
    "memory_delete",
    "memory_stats",
    "memory_health",
    "memory_duplicates",
    "memory_consolidate",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mcp_params(tmp_path: Path, db: Path, *options: str, **env: str) -> StdioServerParameters:
    """``memvault mcp [options]`` over stdio, on this checkout's source, with the store at ``db``.

    The port defaults to a closed one, so no server is found unless a test starts one.
    """
    settings = {"MEMVAULT_STORE_URL": f"sqlite://{db}", "MEMVAULT_PORT": str(free_port()), **env}
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "memvault", "mcp", *options],
        env=cli_env(tmp_path, **settings),
    )


@asynccontextmanager
async def stdio_client(tmp_path: Path, db: Path, *options: str, **env: str):
    async with Client(
        mcp_params(tmp_path, db, *options, **env), mode="legacy", read_timeout_seconds=300
    ) as client:
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


async def exercise_every_tool(client: Client, namespace: str) -> dict[str, Any]:
    """Every tool with valid and invalid arguments; what a check against the store needs."""
    assert sorted(t.name for t in (await client.list_tools()).tools) == sorted(TOOL_NAMES)
    kept = (
        await ok(
            client,
            "memory_store",
            content="The CI runs on Fridays only",
            tags=["ci"],
            metadata={"repo": "memvault"},
        )
    )["memory"]
    doomed = (await ok(client, "memory_store", content="Temporary scratch note", tags=["scratch"]))[
        "memory"
    ]
    assert kept["namespace"] == namespace
    assert (await refused(client, "memory_store", content=""))["field"] == "content"

    hits = await ok(client, "memory_search", query="when does continuous integration run")
    assert hits["results"][0]["memory"]["id"] == kept["id"]
    assert (await refused(client, "memory_search", query="ci", limit=0))["field"] == "limit"
    assert (await ok(client, "memory_list"))["total"] == 2
    assert (await refused(client, "memory_list", page=0))["field"] == "page"
    got = await ok(client, "memory_get", content_hash=kept["content_hash"])
    assert got["memory"]["metadata"] == {"repo": "memvault"}
    assert (await refused(client, "memory_get"))["field"] == "id"
    await ok(client, "memory_update", id=kept["id"], importance=0.8, tags=["ci", "ops"])
    assert (await refused(client, "memory_update", id=kept["id"]))["field"] == "tags"
    assert (await ok(client, "memory_delete", tags=["scratch"], dry_run=True))["matched"] == 1
    assert (await ok(client, "memory_delete", id=doomed["id"]))["deleted"] == 1
    assert (await refused(client, "memory_delete"))["field"] == "id"
    assert (await ok(client, "memory_stats"))["total"] == 1
    assert (await refused(client, "memory_stats", verbose=True))["field"] == "verbose"
    health = await ok(client, "memory_health")
    assert (health["status"], health["namespace"]) == ("ok", namespace)
    assert (await refused(client, "memory_health", deep=1))["field"] == "deep"
    recent = json.loads((await client.read_resource("memory://recent/5")).contents[0].text)
    assert [m["id"] for m in recent["memories"]] == [kept["id"]]
    return {"kept": kept, "health": health}


def check_store_after_exercise(
    seen: dict[str, Any], db: Path, namespace: str, embedder: Any
) -> None:
    """The file holds exactly what ``exercise_every_tool`` left, in its namespace."""
    with Vault.open(f"sqlite://{db}", embedder=embedder) as vault:
        stored = vault.list(namespace=namespace).memories
        assert [m.id for m in stored] == [seen["kept"]["id"]]
        assert (stored[0].importance, stored[0].tags) == (0.8, ("ci", "ops"))
        assert vault.count(namespace="default" if namespace != "default" else "other") == 0


def start_serve(
    tmp_path: Path, db: Path | str, port: int, *options: str, key: str | None = None, **env: str
) -> subprocess.Popen:
    """``memvault serve [options]`` on ``port`` over ``db`` (a SQLite file, or a store
    URL), once it answers (to ``key``)."""
    store_url = f"sqlite://{db}" if isinstance(db, Path) else db
    proc = subprocess.Popen(
        [sys.executable, "-m", "memvault", "serve", "--port", str(port), *options],
        env=cli_env(tmp_path, MEMVAULT_STORE_URL=store_url, **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_healthy(port, proc, key=key)
    except BaseException:
        stop(proc)
        raise
    return proc


@contextmanager
def memvault_serve(
    tmp_path: Path, db: Path, port: int, *options: str, key: str | None = None, **env: str
) -> Iterator[subprocess.Popen]:
    proc = start_serve(tmp_path, db, port, *options, key=key, **env)
    try:
        yield proc
    finally:
        stop(proc)


def wait_until_healthy(
    port: int, proc: subprocess.Popen, timeout: float = 180, key: str | None = None
) -> None:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"memvault serve exited: {proc.stderr.read().decode()}")
        try:
            if (
                httpx.get(
                    f"http://127.0.0.1:{port}/api/v1/health", headers=headers, timeout=2
                ).status_code
                == 200
            ):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("memvault serve did not answer /api/v1/health")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=30)
