"""Switching from mcp-memory-service by keeping MCP_MEMORY_SQLITE_PATH: its file is imported
once into a memvault store beside it, resumably, and that store is served from then on."""

from __future__ import annotations

import json

import pytest
from mcp import Client

from memvault.config import Settings
from memvault.mcp.runner import LocalRunner
from memvault.mcp.server import build_server
from memvault.model import Filter
from memvault.stores import open_store
from memvault.transfer.migrate import migrate
from memvault.transfer.peers import McpSqliteSource
from memvault.transfer.switch import imported_path
from memvault.vault import Vault

from .conftest import MODEL_CACHE, run_cli
from .mcp_helpers import ok
from .test_peers import build_mcp_sqlite, digest

LIVE = ["Bob's birthday is in June", "Deploys happen on Tuesdays", "Use ruff for linting"]
EVERY = Filter(namespace=None)


def contents(result: dict) -> list[str]:
    return sorted(m["content"] for m in result["memories"])


def test_the_cli_imports_the_peer_file_once_and_serves_the_import(tmp_path):
    peer = tmp_path / "sqlite_vec.db"
    build_mcp_sqlite(peer)
    before = digest(peer)

    first = run_cli(["list", "--json"], tmp_path, MCP_MEMORY_SQLITE_PATH=str(peer))
    assert first.returncode == 0, first.stderr
    assert contents(json.loads(first.stdout)) == LIVE
    assert first.stderr.count("imported 3 memories from the mcp-memory-service database") == 1
    assert str(imported_path(peer)) in first.stderr

    health = run_cli(["health", "--json"], tmp_path, MCP_MEMORY_SQLITE_PATH=str(peer))
    assert health.returncode == 0, health.stderr
    assert "imported" not in health.stderr
    report = json.loads(health.stdout)
    assert report["store"]["url"] == f"sqlite://{imported_path(peer)}"
    switched = report["store"]["imported_from_mcp_memory_service"]
    assert (switched["from"], switched["memories"], switched["verified"]) == (str(peer), 3, True)

    stats = run_cli(["stats", "--json"], tmp_path, MCP_MEMORY_SQLITE_PATH=str(peer))
    assert stats.returncode == 0 and json.loads(stats.stdout)["total"] == 3
    assert digest(peer) == before


class StopAfterFirstBatch:
    """A progress that interrupts the migration once its first batch is checkpointed."""

    def start(self, label: str, total: int | None) -> None:
        pass

    def advance(self, n: int) -> None:
        if n:
            raise KeyboardInterrupt

    def finish(self) -> None:
        pass


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_an_interrupted_import_resumes_and_mcp_tools_serve_the_import(
    tmp_path, anyio_backend
):
    peer = tmp_path / "sqlite_vec.db"
    build_mcp_sqlite(peer)
    target = f"sqlite://{imported_path(peer)}"
    settings = Settings.from_env(
        {
            "MCP_MEMORY_SQLITE_PATH": str(peer),
            "MEMVAULT_DATA_DIR": str(tmp_path / "data"),
            "MEMVAULT_MODEL_CACHE_DIR": str(MODEL_CACHE),
        }
    )
    with pytest.raises(KeyboardInterrupt):
        migrate(
            McpSqliteSource(peer),
            target,
            batch_size=1,
            settings=settings,
            progress=StopAfterFirstBatch(),
        )
    partial = open_store(target)
    assert partial.count(EVERY) == 1
    partial.close()

    runner = LocalRunner(
        lambda: Vault.open(settings=settings, create=False), "default", warm_model=False
    )
    async with Client(build_server(runner), mode="legacy") as client:
        listed = await ok(client, "memory_list")
        assert contents(listed) == LIVE
        assert (await ok(client, "memory_stats"))["total"] == 3
        health = await ok(client, "memory_health")
        assert health["store"]["imported_from_mcp_memory_service"]["memories"] == 3
    runner.close()


def test_switching_from_an_empty_peer_file_serves_an_empty_store(tmp_path):
    peer = tmp_path / "sqlite_vec.db"
    build_mcp_sqlite(peer, empty=True)
    stats = run_cli(["stats", "--json"], tmp_path, MCP_MEMORY_SQLITE_PATH=str(peer))
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["total"] == 0
    assert "imported 0 memories" in stats.stderr
    again = run_cli(["stats", "--json"], tmp_path, MCP_MEMORY_SQLITE_PATH=str(peer))
    assert again.returncode == 0 and "imported" not in again.stderr
