"""The MCP upkeep tools, through the SDK's client, on a real SQLite file and the real model."""

from __future__ import annotations

import pytest
from mcp import Client

from memvault.mcp.runner import LocalRunner
from memvault.mcp.server import build_server
from memvault.vault import Vault

from .mcp_helpers import ok, refused
from .upkeep import SEED, seed, snapshot

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
async def client(vault: Vault):
    seed(vault)
    runner = LocalRunner(lambda: vault, "default", warm_model=False)
    async with Client(build_server(runner), mode="legacy") as connected:
        yield connected


async def test_duplicates_is_read_only_and_consolidate_defaults_to_a_dry_run(client, vault):
    before = snapshot(vault.store_backend)
    found = await ok(client, "memory_duplicates", limit=2)
    assert found["clusters"] == 5 and found["redundant"] == 6 and len(found["shown"]) == 2
    survivor = found["shown"][0]["survivor"]
    assert survivor["content"] and "parent_id" not in survivor
    planned = await ok(client, "memory_consolidate")
    assert planned["dry_run"] is True and planned["operation"] is None
    assert snapshot(vault.store_backend) == before
    chosen = planned["shown"][0]
    merged = await ok(client, "memory_consolidate", dry_run=False, clusters=[chosen["id"]])
    assert merged["operation"]["result"]["clusters"] == 1
    assert vault.count() == len(SEED) - (chosen["size"] - 1)
    vault.upkeep.undo(merged["operation"]["id"])
    assert snapshot(vault.store_backend) == before


async def test_bad_arguments_name_the_argument(client):
    error = await refused(client, "memory_duplicates", threshold=1.5)
    assert error["field"] == "threshold"
    error = await refused(client, "memory_consolidate", dry_run=False, clusters=["nope"])
    assert error["field"] == "clusters"
    error = await refused(client, "memory_consolidate", keep="oldest")
    assert error["field"] == "keep"
