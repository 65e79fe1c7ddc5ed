"""``memvault mcp`` forwarding to a running ``memvault serve``, and falling back when it stops."""

from __future__ import annotations

import time
from pathlib import Path

import anyio

from memvault.vault import Vault

from .mcp_helpers import free_port, ok, refused, start_serve, stdio_client, stop


async def wait_for_mode(client, mode: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        health = await ok(client, "memory_health")
        if health["mode"] == mode or time.monotonic() > deadline:
            return health
        await anyio.sleep(0.5)


def contents(db: Path, namespace: str, embedder) -> list[str]:
    with Vault.open(f"sqlite://{db}", embedder=embedder) as vault:
        return sorted(m.content for m in vault.list(namespace=namespace).memories)


def test_forwards_to_a_server_for_the_same_store_falls_back_and_returns(tmp_path, embedder):
    db, port = tmp_path / "shared.db", free_port()
    servers = [start_serve(tmp_path, db, port)]

    async def scenario() -> dict:
        async with stdio_client(
            tmp_path, db, MEMVAULT_PORT=str(port), MEMVAULT_NAMESPACE="code"
        ) as client:
            health = await ok(client, "memory_health")
            assert (health["mode"], health["server_url"]) == (
                "forwarding",
                f"http://127.0.0.1:{port}",
            )
            await ok(client, "memory_store", content="Stored through the server")
            hits = await ok(client, "memory_search", query="through the server")
            assert hits["results"][0]["memory"]["namespace"] == "code"
            # Forwarded work never touched this process's model.
            assert (await ok(client, "memory_health"))["coordination"][
                "local_model"
            ] == "not started"

            stop(servers.pop())  # the server goes away mid-run
            await ok(client, "memory_store", content="Stored here after the server died")
            health = await ok(client, "memory_health")
            assert health["mode"] == "direct" and health["coordination"]["last_error"]
            hits = await ok(client, "memory_search", query="stored through the server")
            assert hits["results"][0]["memory"]["content"] == "Stored through the server"

            servers.append(start_serve(tmp_path, db, port))  # and comes back
            assert (await wait_for_mode(client, "forwarding"))["mode"] == "forwarding"
            await ok(client, "memory_store", content="Stored through the restarted server")
            return await ok(client, "memory_stats")

    try:
        stats = anyio.run(scenario)
    finally:
        for server in servers:
            stop(server)
    assert stats["total"] == 3
    assert contents(db, "code", embedder) == [
        "Stored here after the server died",
        "Stored through the restarted server",
        "Stored through the server",
    ]


def test_server_for_another_store_on_the_port_is_not_used(tmp_path, embedder):
    mine, theirs, port = tmp_path / "mine.db", tmp_path / "theirs.db", free_port()
    server = start_serve(tmp_path, theirs, port)

    async def scenario() -> dict:
        async with stdio_client(tmp_path, mine, MEMVAULT_PORT=str(port)) as client:
            await ok(client, "memory_store", content="Only in my own store")
            return await ok(client, "memory_health")

    try:
        health = anyio.run(scenario)
    finally:
        stop(server)
    assert health["mode"] == "direct" and health["coordination"]["server_identity"] is None
    assert contents(mine, "default", embedder) == ["Only in my own store"]
    assert contents(theirs, "default", embedder) == []


def test_named_server_gets_every_call_and_its_loss_is_an_error_not_a_local_write(
    tmp_path, embedder
):
    local, remote, port = tmp_path / "local.db", tmp_path / "remote.db", free_port()
    server = start_serve(tmp_path, remote, port)

    async def scenario() -> dict:
        async with stdio_client(
            tmp_path,
            local,
            MEMVAULT_NAMESPACE="team",
            MEMVAULT_SERVER_URL=f"http://127.0.0.1:{port}/",
        ) as client:
            stored = await ok(client, "memory_store", content="Kept by the team server")
            assert stored["memory"]["namespace"] == "team"
            assert (await refused(client, "memory_store", content=" "))["field"] == "content"
            stop(server)
            lost = await refused(client, "memory_store", content="Must not land locally")
            health = await ok(client, "memory_health")
            return {"lost": lost, "health": health}

    try:
        seen = anyio.run(scenario)
    finally:
        stop(server)
    assert seen["lost"]["code"] == "store_unavailable"
    assert f"127.0.0.1:{port}" in seen["lost"]["message"]
    assert seen["health"]["status"] == "error" and seen["health"]["mode"] == "direct"
    assert contents(remote, "team", embedder) == ["Kept by the team server"]
    assert contents(local, "team", embedder) == []


def test_named_server_that_never_answered_is_an_error(tmp_path):
    port = free_port()

    async def scenario() -> dict:
        async with stdio_client(
            tmp_path, tmp_path / "local.db", MEMVAULT_SERVER_URL=f"http://127.0.0.1:{port}"
        ) as client:
            return await refused(client, "memory_search", query="anything")

    error = anyio.run(scenario)
    assert error["code"] == "store_unavailable"
    assert not (tmp_path / "local.db").exists()
