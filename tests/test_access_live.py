"""Keys on running servers: made by the CLI or another server, noticed without a restart;
no listening beyond this machine without one; MCP namespaces held to the key."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from memvault.vault import Vault

from .conftest import run_cli
from .http_helpers import API, http_client
from .key_helpers import bearer
from .mcp_helpers import free_port, memvault_serve, ok, refused, stdio_client
from .test_http_hosts import INIT, MCP_HEADERS


def cli_key(tmp_path: Path, db: Path, *args: str) -> dict:
    made = run_cli(
        ["keys", "create", *args, "--json"], tmp_path, MEMVAULT_STORE_URL=f"sqlite://{db}"
    )
    assert made.returncode == 0, made.stderr
    return json.loads(made.stdout)


def wait_for(status: int, ask: Callable[[], int], seconds: float = 30) -> None:
    """Until ``ask()`` answers ``status``; a key change must be seen within seconds."""
    deadline = time.monotonic() + seconds
    while (got := ask()) != status:
        assert time.monotonic() < deadline, f"still {got}, not {status}"
        time.sleep(0.2)


def test_keys_made_and_revoked_by_the_cli_reach_a_running_server(tmp_path):
    db, port = tmp_path / "served.db", free_port()
    admin = cli_key(tmp_path, db, "--name", "ops", "--scope", "admin")["key"]
    url = f"http://127.0.0.1:{port}{API}/memories?namespace=alice"
    with memvault_serve(tmp_path, db, port, key=admin):
        assert httpx.get(url).status_code == 401
        reader = cli_key(tmp_path, db, "--name", "reader", "--scope", "read", "-n", "alice")
        wait_for(200, lambda: httpx.get(url, headers=bearer(reader["key"])).status_code)
        assert (
            httpx.post(
                f"http://127.0.0.1:{port}{API}/memories",
                json={"content": "not allowed"},
                headers=bearer(reader["key"]),
            ).status_code
            == 403
        )
        revoked = run_cli(
            ["keys", "revoke", reader["id"]], tmp_path, MEMVAULT_STORE_URL=f"sqlite://{db}"
        )
        assert revoked.returncode == 0, revoked.stderr
        wait_for(401, lambda: httpx.get(url, headers=bearer(reader["key"])).status_code)


def test_listening_beyond_this_machine_needs_a_key_and_keeps_host_checks(tmp_path):
    db, port = tmp_path / "served.db", free_port()
    refused_start = run_cli(
        ["serve", "--host", "0.0.0.0", "--port", str(port)],
        tmp_path,
        MEMVAULT_STORE_URL=f"sqlite://{db}",
    )
    assert refused_start.returncode != 0
    assert "no API key" in refused_start.stderr
    assert "memvault keys create --name admin --scope admin" in refused_start.stderr
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}{API}/health")

    key = cli_key(tmp_path, db, "--name", "ops", "--scope", "admin")["key"]
    with memvault_serve(tmp_path, db, port, "--host", "0.0.0.0", key=key):
        base = f"http://127.0.0.1:{port}"
        for path, body in ((f"{API}/memories", {"content": "x"}), ("/mcp", INIT)):
            foreign_host = httpx.post(
                base + path,
                json=body,
                headers={**bearer(key), **MCP_HEADERS, "host": "attacker.example"},
            )
            assert foreign_host.status_code == 421
            foreign_origin = httpx.post(
                base + path,
                json=body,
                headers={**bearer(key), **MCP_HEADERS, "origin": "http://attacker.example"},
            )
            assert foreign_origin.status_code == 403
        assert (
            httpx.post(base + "/mcp", json=INIT, headers={**bearer(key), **MCP_HEADERS}).status_code
            == 200
        )
        assert httpx.post(base + "/mcp", json=INIT, headers=MCP_HEADERS).status_code == 401


def test_mcp_holds_a_key_to_its_namespaces(tmp_path):
    db, port = tmp_path / "served.db", free_port()
    admin = cli_key(tmp_path, db, "--name", "ops", "--scope", "admin")["key"]
    alice = cli_key(tmp_path, db, "--name", "alice", "--scope", "write", "-n", "alice")["key"]
    base = f"http://127.0.0.1:{port}"

    async def as_alice(header: str | None, scenario):
        headers = {**bearer(alice), **({"X-Memvault-Namespace": header} if header else {})}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=300) as http,
            Client(
                streamable_http_client(f"{base}/mcp", http_client=http), mode="legacy"
            ) as client,
        ):
            return await scenario(client)

    async def via_bob(client) -> dict:
        out = {
            name: (await refused(client, name, **args))["code"]
            for name, args in (
                ("memory_search", {"query": "bank PIN"}),
                ("memory_list", {}),
                ("memory_stats", {}),
                ("memory_get", {"id": bob_id}),
                ("memory_store", {"content": "planted"}),
                ("memory_delete", {"id": bob_id}),
            )
        }
        try:
            out["resource"] = (await client.read_resource("memory://stats")).model_dump_json()
        except MCPError as exc:  # a resource that fails is an error response
            out["resource"] = str(exc)
        return out

    async def own(client) -> dict:
        stored = await ok(client, "memory_store", content="Alice likes tea")
        search = await ok(client, "memory_search", query="bank PIN")
        health = await ok(client, "memory_health")
        stats = await ok(client, "memory_stats")
        merge = await refused(client, "memory_consolidate")
        recent = json.loads((await client.read_resource("memory://recent/5")).contents[0].text)
        return {
            "stored": stored,
            "search": search,
            "health": health,
            "stats": stats,
            "merge": merge,
            "recent": recent,
        }

    with memvault_serve(tmp_path, db, port, key=admin):
        bob_id = httpx.post(
            f"{base}{API}/memories",
            headers=bearer(admin),
            json={"content": "Bob's bank PIN is in the drawer", "namespace": "bob"},
        ).json()["memory"]["id"]
        bob = anyio.run(as_alice, "bob", via_bob)
        mine = anyio.run(as_alice, None, own)
    assert {k: v for k, v in bob.items() if k != "resource"} == {
        "memory_search": "not_found",
        "memory_list": "not_found",
        "memory_stats": "not_found",
        "memory_get": "not_found",
        "memory_store": "forbidden",
        "memory_delete": "forbidden",
    }
    assert "Bob" not in bob["resource"] and "drawer" not in bob["resource"]
    assert mine["stored"]["memory"]["namespace"] == "alice"
    assert [r["memory"]["content"] for r in mine["search"]["results"]] == ["Alice likes tea"]
    assert mine["health"]["namespace"] == "alice"
    assert str(db) not in json.dumps(mine["health"]) + json.dumps(mine["stats"])
    assert (mine["stats"]["store"], mine["stats"]["total"]) == ("sqlite", 1)
    assert mine["merge"]["code"] == "forbidden"
    assert [m["content"] for m in mine["recent"]["memories"]] == ["Alice likes tea"]
    with Vault.open(f"sqlite://{db}") as vault:
        assert vault.count(namespace="bob") == 1


def test_servers_of_a_fleet_on_one_postgres_share_keys(database, embedder, settings):
    with (
        Vault.open(database, settings=settings, embedder=embedder) as one,
        Vault.open(database, settings=settings, embedder=embedder) as two,
        http_client(one) as first,
        http_client(two) as second,
    ):
        ring = first.app.state.key_ring  # server one makes the keys
        ring.create("bootstrap", "admin")
        wait_for(401, lambda: second.get(f"{API}/stats").status_code)
        key, record = ring.create("agent", "read", ["team"])

        def second_lists() -> int:
            return second.get(f"{API}/memories", headers=bearer(key)).status_code

        wait_for(200, second_lists)
        ring.revoke(record.id)
        wait_for(401, second_lists)


def test_memvault_mcp_forwards_with_its_api_key(tmp_path):
    served, port = tmp_path / "served.db", free_port()
    admin = cli_key(tmp_path, served, "--name", "ops", "--scope", "admin")["key"]
    alice = cli_key(tmp_path, served, "--name", "alice", "--scope", "write", "-n", "alice")

    async def through(key: str | None) -> dict:
        env = {
            "MEMVAULT_SERVER_URL": f"http://127.0.0.1:{port}",
            "MEMVAULT_NAMESPACE": "alice",
            **({"MEMVAULT_API_KEY": key} if key else {}),
        }
        async with stdio_client(tmp_path, tmp_path / "local.db", **env) as client:
            if key is None:
                return await refused(client, "memory_store", content="Nowhere to go")
            stored = await ok(client, "memory_store", content="Alice's forwarded note")
            return {"stored": stored, "health": await ok(client, "memory_health")}

    with memvault_serve(tmp_path, served, port, key=admin):
        keyless = anyio.run(through, None)
        forwarded = anyio.run(through, alice["key"])
    assert keyless["code"] == "store_unavailable"  # the server did not answer without a key
    assert forwarded["health"]["mode"] == "forwarding"
    assert forwarded["stored"]["memory"]["namespace"] == "alice"
    with Vault.open(f"sqlite://{served}") as vault:
        assert [m.content for m in vault.list(namespace="alice").memories] == [
            "Alice's forwarded note"
        ]
    assert not (tmp_path / "local.db").exists()
