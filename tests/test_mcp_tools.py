"""Every MCP tool and resource, valid and invalid arguments, through the SDK's client.

The server runs in-process here (the SDK's in-memory transport) on a real
SQLite file and the real model, so the full argument grid stays fast; the
stdio tests spawn ``memvault mcp`` itself.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from mcp import Client

from memvault.errors import StoreUnavailable
from memvault.mcp.runner import LocalRunner
from memvault.mcp.server import build_server
from memvault.vault import Vault

from .mcp_helpers import TOOL_NAMES, call, ok, refused

pytestmark = pytest.mark.anyio
NS = "alice"


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
async def client(vault: Vault):
    runner = LocalRunner(lambda: vault, NS, warm_model=False)
    async with Client(build_server(runner), mode="legacy") as connected:
        yield connected


async def test_tools_have_schemas_annotations_and_refuse_unknown_arguments(client):
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert sorted(tools) == sorted(TOOL_NAMES)
    for tool in tools.values():
        assert tool.input_schema["additionalProperties"] is False
        assert tool.output_schema["type"] == "object"
        assert tool.description and tool.title
    read_only = {n for n, t in tools.items() if t.annotations.read_only_hint}
    assert read_only == {
        "memory_search",
        "memory_list",
        "memory_get",
        "memory_stats",
        "memory_health",
        "memory_duplicates",
    }
    destructive = {n for n, t in tools.items() if t.annotations.destructive_hint}
    assert destructive == {"memory_update", "memory_delete", "memory_consolidate"}
    assert all(t.annotations.idempotent_hint for t in tools.values())
    store_args = tools["memory_store"].input_schema["properties"]
    assert set(store_args) == {"content", "tags", "memory_type", "metadata", "importance"}
    assert tools["memory_store"].input_schema["required"] == ["content"]
    search_args = tools["memory_search"].input_schema["properties"]
    assert set(search_args) == {
        "query",
        "limit",
        "tags",
        "tag_match",
        "memory_type",
        "time_expr",
        "after",
        "before",
        "recency",
        "half_life_days",
    }
    error = await refused(client, "memory_search", query="x", n_results=3)
    assert error == {
        "code": "invalid_input",
        "message": "unknown argument 'n_results'",
        "field": "n_results",
    }


async def test_store_writes_to_the_namespace_and_stores_a_duplicate_once(client, vault):
    first = await ok(
        client,
        "memory_store",
        content="Alice prefers tabs over spaces",
        tags="prefs, editor",
        memory_type="preference",
        metadata={"source": "chat"},
        importance=0.9,
    )
    assert first["created"] is True
    memory = first["memory"]
    stored = vault.get(memory["content_hash"], namespace=NS)
    assert stored.id == memory["id"] and stored.tags == ("editor", "prefs")
    assert (stored.memory_type, stored.metadata, stored.importance) == (
        "preference",
        {"source": "chat"},
        0.9,
    )
    assert vault.count(namespace="default") == 0
    again = await ok(client, "memory_store", content="  Alice prefers tabs   over spaces ")
    assert again["created"] is False and again["memory"]["id"] == memory["id"]
    assert vault.count(namespace=NS) == 1


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({}, "content"),
        ({"content": "   "}, "content"),
        ({"content": 42}, "content"),
        ({"content": "x", "importance": 2}, "importance"),
        ({"content": "x", "metadata": "not an object"}, "metadata"),
        ({"content": "x", "tags": [1, 2]}, "tags"),
        ({"content": "x", "memory_type": "t" * 65}, "memory_type"),
        ({"content": "x\x00y"}, "content"),
        ({"content": "x\x1b[2Jy"}, "content"),
        ({"content": "x", "memory_type": "no\x00te"}, "memory_type"),
        ({"content": "x", "tags": ["ok", "b\x1bad"]}, "tags"),
        ({"content": "x", "tags": [f"t{i}" for i in range(101)]}, "tags"),
        ({"content": "x", "metadata": {"k": "v" * 70_000}}, "metadata"),
        ({"content": "x", "metadata": {f"k{i}": i for i in range(1001)}}, "metadata"),
        ({"content": "x", "metadata": {"k\x07": 1}}, "metadata"),
    ],
)
async def test_store_names_the_bad_argument_and_writes_nothing(client, vault, arguments, field):
    error = await refused(client, "memory_store", **arguments)
    assert (error["code"], error["field"]) == ("invalid_input", field)
    assert vault.count(namespace=NS) == 0


async def _seed(client) -> list[dict]:
    items = [
        ("The deploy key rotates every 90 days", ["ops", "security"], "fact"),
        ("We chose PostgreSQL for the billing service", ["decision", "db"], "decision"),
        ("Bob's favourite editor is Helix", ["prefs"], "preference"),
        ("Staging database lives on host db-stg-7", ["ops", "db"], "fact"),
    ]
    return [
        (await ok(client, "memory_store", content=c, tags=t, memory_type=k))["memory"]
        for c, t, k in items
    ]


async def test_search_by_meaning_words_tags_type_and_time(client):
    seeded = await _seed(client)
    found = await ok(client, "memory_search", query="which database did we pick for billing?")
    assert found["results"][0]["memory"]["id"] == seeded[1]["id"]
    assert found["count"] == len(found["results"]) and found["results"][0]["score"] > 0
    exact = await ok(client, "memory_search", query="db-stg-7", limit=1)
    said = (await call(client, "memory_search", query="db-stg-7", limit=1)).content[0].text
    assert f"[{exact['results'][0]['score']:.3f}; meaning " in said and ", words " in said
    assert [r["memory"]["id"] for r in exact["results"]] == [seeded[3]["id"]]
    tagged = await ok(
        client, "memory_search", query="database", tags=["ops", "db"], tag_match="all"
    )
    assert [r["memory"]["id"] for r in tagged["results"]] == [seeded[3]["id"]]
    typed = await ok(client, "memory_search", query="anything", memory_type="preference")
    assert [r["memory"]["id"] for r in typed["results"]] == [seeded[2]["id"]]
    today = await ok(client, "memory_search", time_expr="today", limit=100)
    assert today["count"] == 4 and today["results"][0]["score"] is None
    assert today["time_range"]["start"] < today["time_range"]["end"]
    assert (await ok(client, "memory_search", query="database", time_expr="last year"))[
        "count"
    ] == 0
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert (await ok(client, "memory_search", tags="ops", before=tomorrow))["count"] == 2
    assert (await ok(client, "memory_search", tags="ops", after=tomorrow))["count"] == 0
    weighed = await ok(client, "memory_search", query="database", recency=2, half_life_days=7)
    assert weighed["results"][0]["parts"]["recency"] > 0.99  # all stored just now
    assert (await refused(client, "memory_search", query="x", recency=11))["field"] == "recency"


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({}, "query"),
        ({"query": "x", "limit": 0}, "limit"),
        ({"query": "x", "limit": 101}, "limit"),
        ({"query": "x", "tag_match": "some"}, "tag_match"),
        ({"query": "x", "time_expr": "when pigs fly"}, "time_expr"),
        ({"query": "x", "time_expr": "today", "after": "2025-01-01"}, "time_expr"),
        ({"query": "x", "after": "not a date"}, "after"),
        ({"query": "x", "after": "2025-02-01", "before": "2025-01-01"}, "after"),
        ({"query": "x", "tags": ["t" * 200]}, "tags"),
        ({"query": "x", "after": "0001-01-01T00:00:00Z"}, "after"),
        ({"query": "x", "before": "9999-12-31T23:59:59Z"}, "before"),
        ({"query": "x", "time_expr": "in 1960"}, "time_expr"),
    ],
)
async def test_search_names_the_bad_argument(client, arguments, field):
    error = await refused(client, "memory_search", **arguments)
    assert (error["code"], error["field"]) == ("invalid_input", field)


async def test_list_pages_newest_first_with_filters(client):
    seeded = await _seed(client)
    first = await ok(client, "memory_list", page_size=3)
    assert [m["id"] for m in first["memories"]] == [m["id"] for m in reversed(seeded)][:3]
    assert (first["total"], first["has_more"]) == (4, True)
    second = await ok(client, "memory_list", page=2, page_size=3)
    assert [m["id"] for m in second["memories"]] == [seeded[0]["id"]]
    assert second["has_more"] is False
    assert (await ok(client, "memory_list", page=9))["memories"] == []
    ops = await ok(client, "memory_list", tags=["ops"], memory_type="fact")
    assert {m["id"] for m in ops["memories"]} == {seeded[0]["id"], seeded[3]["id"]}
    for arguments, field in [
        ({"page": 0}, "page"),
        ({"page_size": 101}, "page_size"),
        ({"page": "two"}, "page"),
    ]:
        assert (await refused(client, "memory_list", **arguments))["field"] == field


async def test_get_by_id_or_hash(client):
    seeded = await _seed(client)
    by_id = await ok(client, "memory_get", id=seeded[2]["id"])
    by_hash = await ok(client, "memory_get", content_hash=seeded[2]["content_hash"])
    assert by_id == by_hash and by_id["memory"]["content"] == "Bob's favourite editor is Helix"
    assert (await refused(client, "memory_get"))["field"] == "id"
    both = await refused(client, "memory_get", id=seeded[0]["id"], content_hash="ab" * 32)
    assert both["field"] == "id"
    missing = await refused(client, "memory_get", content_hash="ab" * 32)
    assert (missing["code"], missing["field"]) == ("not_found", "content_hash")


async def test_update_replaces_the_given_fields(client, vault):
    seeded = await _seed(client)
    updated = await ok(
        client,
        "memory_update",
        content_hash=seeded[0]["content_hash"],
        tags=["ops"],
        metadata={"reviewed": True},
        importance=0.1,
        memory_type="runbook",
    )
    assert updated["memory"]["tags"] == ["ops"]
    stored = vault.get(seeded[0]["id"], namespace=NS)
    assert (stored.tags, stored.metadata, stored.importance, stored.memory_type) == (
        ("ops",),
        {"reviewed": True},
        0.1,
        "runbook",
    )
    assert stored.content == seeded[0]["content"]
    assert (await refused(client, "memory_update", id=seeded[0]["id"]))["field"] == "tags"
    missing = await refused(client, "memory_update", id="no-such-id", importance=0.3)
    assert (missing["code"], missing["field"]) == ("not_found", "id")
    assert (await refused(client, "memory_update", id=seeded[0]["id"], importance=-1))[
        "field"
    ] == "importance"


async def test_delete_one_or_by_filter_with_dry_run(client, vault):
    seeded = await _seed(client)
    preview = await ok(
        client, "memory_delete", content_hash=seeded[2]["content_hash"], dry_run=True
    )
    assert (preview["deleted"], preview["matched"]) == (0, 1)
    assert vault.count(namespace=NS) == 4
    gone = await ok(client, "memory_delete", id=seeded[2]["id"])
    assert gone["deleted"] == 1 and gone["memory"]["id"] == seeded[2]["id"]
    assert (await refused(client, "memory_get", id=seeded[2]["id"]))["code"] == "not_found"
    counted = await ok(client, "memory_delete", tags=["db"], dry_run=True)
    assert (counted["matched"], counted["deleted"], vault.count(namespace=NS)) == (2, 0, 3)
    both = await ok(client, "memory_delete", tags=["ops", "db"], tag_match="all")
    assert both["deleted"] == 1
    assert {m.id for m in vault.list(namespace=NS).memories} == {seeded[0]["id"], seeded[1]["id"]}
    for arguments, field in [
        ({}, "id"),
        ({"id": seeded[0]["id"], "tags": ["ops"]}, "id"),
        ({"before": "yesterday-ish"}, "before"),
        ({"tags": "ops", "tag_match": "every"}, "tag_match"),
    ]:
        assert (await refused(client, "memory_delete", **arguments))["field"] == field
    assert vault.count(namespace=NS) == 2


async def test_stats_health_and_resources(client, vault):
    await _seed(client)
    stats = await ok(client, "memory_stats")
    assert (stats["namespace"], stats["total"]) == (NS, 4)
    assert stats["by_type"] == {"fact": 2, "decision": 1, "preference": 1}
    health = await ok(client, "memory_health")
    assert (health["status"], health["mode"], health["namespace"]) == ("ok", "direct", NS)
    assert health["store"]["identity"] == vault.store_backend.identity()
    assert {r.uri for r in (await client.list_resources()).resources} == {
        "memory://stats",
        "memory://tags",
    }
    templates = (await client.list_resource_templates()).resource_templates
    assert [t.uri_template for t in templates] == ["memory://recent/{n}"]
    read = json.loads((await client.read_resource("memory://stats")).contents[0].text)
    assert read["total"] == 4
    tags = json.loads((await client.read_resource("memory://tags")).contents[0].text)
    assert {"tag": "ops", "count": 2} in tags["top_tags"]
    recent = json.loads((await client.read_resource("memory://recent/2")).contents[0].text)
    assert [m["content"] for m in recent["memories"]] == [
        "Staging database lives on host db-stg-7",
        "Bob's favourite editor is Helix",
    ]
    for bad in ("memory://recent/0", "memory://recent/abc", "memory://recent/101"):
        with pytest.raises(Exception, match="n must be"):
            await client.read_resource(bad)


async def test_failing_store_gives_tool_errors_and_the_server_keeps_answering(tmp_path):
    garbage = tmp_path / "broken.db"
    garbage.write_bytes(b"not a database" * 64)
    runner = LocalRunner(lambda: Vault.open(f"sqlite://{garbage}"), "default", warm_model=False)
    async with Client(build_server(runner), mode="legacy") as client:
        for name, arguments in [
            ("memory_store", {"content": "x"}),
            ("memory_search", {"query": "x"}),
            ("memory_stats", {}),
        ]:
            error = await refused(client, name, **arguments)
            assert error["code"] == "store_unavailable" and "broken.db" in error["message"]
        health = await call(client, "memory_health")
        assert not health.is_error and health.structured_content["status"] == "error"
        assert "broken.db" in health.content[0].text
        assert len((await client.list_tools()).tools) == len(TOOL_NAMES)
    with pytest.raises(StoreUnavailable):
        runner.open()
