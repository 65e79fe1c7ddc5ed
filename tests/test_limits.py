"""Every input bounded: each bad value is a 4xx (or InvalidInput) naming its field and
changes nothing, on every interface; what the limits let in, every store keeps and every
search reads back, and a store holding times from before the limits still answers."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from memvault.errors import InvalidInput
from memvault.limits import (
    EARLIEST,
    LATEST,
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    MAX_METADATA_KEYS,
    MAX_TAG_CHARS,
    MAX_TAGS,
)
from memvault.mcp.runner import LocalRunner
from memvault.model import Memory
from memvault.search.hybrid import SearchSettings
from memvault.transfer.dump import DumpHeader, write_dump
from memvault.transfer.restore import restore
from memvault.vault import Vault

from .conftest import cli_env
from .http_helpers import API, assert_error, http_client, total

BAD_NAMESPACES = [
    "../../../x/y",
    "/tmp/memvault-escape/y",
    "..",
    "a/b",
    "a\\b",
    "x\x00y",
    "tab\there",
    " padded",
    "padded ",
    "",
    "n" * 129,
    "esc\x1b[31m",
]


def nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


# (body of POST /memories, the field the error names)
BAD_STORES = [
    ({"content": "ok", "created_at": "0001-01-01T00:00:00Z"}, "created_at"),
    ({"content": "ok", "created_at": "1969-12-31T23:59:59Z"}, "created_at"),
    ({"content": "ok", "created_at": "9999-06-01T00:00:00Z"}, "created_at"),
    ({"content": "ok", "created_at": "9999-12-31T23:00:00-05:00"}, "created_at"),
    ({"content": "ok", "created_at": -1}, "created_at"),
    ({"content": "ok", "created_at": 1e300}, "created_at"),
    ({"content": "ok", "created_at": 10**30}, "created_at"),
    ({"content": "ok", "expires_at": 253402300800}, "expires_at"),
    ({"content": "ok", "expires_at": "0001-01-01"}, "expires_at"),
    ({"content": "ok", "memory_type": "no\x00te"}, "memory_type"),
    ({"content": "ok", "memory_type": "note\x1b[2J"}, "memory_type"),
    ({"content": "ok", "memory_type": "t" * 65}, "memory_type"),
    ({"content": "ok", "tags": [f"t{i}" for i in range(MAX_TAGS + 1)]}, "tags"),
    ({"content": "ok", "tags": ["t" * (MAX_TAG_CHARS + 1)]}, "tags"),
    ({"content": "ok", "tags": ["bell\x07"]}, "tags"),
    ({"content": "ok", "tags": ["c1\x9b"]}, "tags"),
    ({"content": "ok", "metadata": {"k": "v" * MAX_METADATA_BYTES}}, "metadata"),
    ({"content": "ok", "metadata": {f"k{i}": 1 for i in range(MAX_METADATA_KEYS + 1)}}, "metadata"),
    ({"content": "ok", "metadata": nested(MAX_METADATA_DEPTH + 1)}, "metadata"),
    ({"content": "ok", "metadata": {"k\x1b": 1}}, "metadata"),
    ({"content": "ok", "metadata": {"k": "a\x00b"}}, "metadata"),
    ({"content": "ok", "metadata": {"k": "a\x1bb"}}, "metadata"),
    ({"content": "ok", "metadata": {"k": 2**64}}, "metadata"),
    ({"content": "esc \x1b[31m red"}, "content"),
    ({"content": "ok", "namespace": "../x"}, "namespace"),
]


@pytest.mark.parametrize(("body", "field"), BAD_STORES, ids=range(len(BAD_STORES)))
def test_bad_values_are_422_naming_the_field_and_change_nothing(vault: Vault, body, field):
    client = http_client(vault)
    assert_error(client.post(f"{API}/memories", json=body), 422, field)
    batch = client.post(
        f"{API}/memories/batch",
        json={"items": [{"content": "fine"}, body]}
        if "namespace" not in body
        else {"items": [{"content": "fine"}], "namespace": body["namespace"]},
    )
    assert_error(batch, 422, f"items[1].{field}" if "namespace" not in body else field)
    assert total(vault) == 0
    with pytest.raises(InvalidInput) as err:
        vault.store(**body)
    assert err.value.field == field


def test_limits_themselves_are_accepted(vault: Vault):
    """The edge of every limit is inside it; tab and newlines are text."""
    body = {
        "content": "line one\n\tline two\r\n",
        "memory_type": "t" * 64,
        "tags": [f"{i:03d}" + "t" * (MAX_TAG_CHARS - 3) for i in range(MAX_TAGS)],
        "metadata": {"deep": nested(MAX_METADATA_DEPTH - 1), "text": "a\tb\nc"},
        "created_at": EARLIEST.isoformat(),
        "expires_at": "9998-12-31T23:59:59Z",
    }
    response = http_client(vault).post(f"{API}/memories", json=body)
    assert response.status_code == 201, response.text
    assert len(response.json()["memory"]["tags"]) == MAX_TAGS


@pytest.mark.parametrize("namespace", BAD_NAMESPACES)
def test_bad_namespaces_are_refused_on_every_route(vault: Vault, namespace: str):
    client = http_client(vault)
    assert_error(client.get(f"{API}/memories", params={"namespace": namespace}), 422, "namespace")
    assert_error(
        client.post(f"{API}/search", json={"query": "x", "namespace": namespace}), 422, "namespace"
    )
    assert_error(
        client.post(
            f"{API}/maintenance/archive", json={"older_than": "1d", "namespace": namespace}
        ),
        422,
        "namespace",
    )
    for call in (
        lambda: vault.list(namespace=namespace),
        lambda: vault.search("x", namespace=namespace),
        lambda: vault.upkeep.archive(older_than="1d", namespace=namespace),
    ):
        with pytest.raises(InvalidInput) as err:
            call()
        assert err.value.field == "namespace"
    with pytest.raises(InvalidInput):
        LocalRunner(lambda: vault, namespace)


def test_cli_refuses_a_bad_namespace(tmp_path: Path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "memvault",
            "store",
            "hello",
            "--namespace",
            "../../x",
            "--json",
            "--store",
            f"sqlite://{tmp_path / 'cli.db'}",
        ],
        capture_output=True,
        text=True,
        env=cli_env(tmp_path),
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert json.loads(result.stderr.strip().splitlines()[-1])["error"]["field"] == "namespace"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "search",
            {"query": "x", "filter": {"created_after": "0001-01-01"}},
            "filter.created_after",
        ),
        ("search", {"query": "x", "filter": {"created_before": 1e20}}, "filter.created_before"),
        ("search", {"query": "x", "filter": {"metadata": {"k": 2**70}}}, "filter.metadata"),
        ("search", {"query": "x", "filter": {"metadata": {"k": "\x1b"}}}, "filter.metadata"),
        (
            "search",
            {"query": "x", "filter": {"tags_any": [str(i) for i in range(MAX_TAGS + 1)]}},
            "filter.tags_any",
        ),
        ("search/time", {"start": "0001-01-01", "end": "2020-01-01"}, "start"),
        ("search/time", {"start": 0, "end": -86400}, "end"),
        ("search/time", {"start": "2020-01-01", "end": 1e300}, "end"),
        ("search/time", {"when": "in 1960"}, "time"),
        ("search/time", {"when": "99999999999 days ago"}, "time"),
        ("search/time", {"when": "between 9999-01-01 and 9999-12-31"}, "time"),
    ],
)
def test_bad_times_in_searches_are_422(vault: Vault, path, body, field):
    assert_error(http_client(vault).post(f"{API}/{path}", json=body), 422, field)


def test_patch_refuses_a_time_out_of_range(vault: Vault):
    memory = vault.store("patch me").memory
    client = http_client(vault)
    assert_error(
        client.patch(f"{API}/memories/{memory.id}", json={"expires_at": -5}), 422, "expires_at"
    )
    assert_error(client.get(f"{API}/memories/bad%1Bid"), 422, "id")
    assert vault.get(memory.id).expires_at is None


# -- what the limits let in, every store keeps ------------------------------------
EDGE_TIMES = [EARLIEST, LATEST - timedelta(microseconds=1)]


def test_the_edges_of_every_limit_round_trip_on_every_store(store, embedder, settings):
    vault = Vault(store, embedder, settings)
    big = {"text": "é" * ((MAX_METADATA_BYTES - 400) // 2), "deep": nested(MAX_METADATA_DEPTH - 1)}
    many = {f"k{i}": i for i in range(MAX_METADATA_KEYS - 1)}
    tags = [f"{i:03d}" + "t" * (MAX_TAG_CHARS - 3) for i in range(MAX_TAGS)]
    stored = [
        vault.store(
            f"edge of time number {i} about lighthouses",
            created_at=when,
            expires_at=LATEST - timedelta(microseconds=1),
            metadata=meta,
            tags=tags,
        ).memory
        for i, (when, meta) in enumerate(zip(EDGE_TIMES, [big, many], strict=True))
    ]
    for memory in stored:
        assert vault.get(memory.id) == memory
    hits = vault.search("lighthouses", k=5)
    assert {h.memory.id for h in hits} == {m.id for m in stored}
    assert {h.memory.created_at for h in hits} == set(EDGE_TIMES)
    span = vault.recall((EARLIEST, LATEST - timedelta(microseconds=1)), k=5).hits
    assert [h.memory.id for h in span] == [stored[0].id]


def test_times_stored_before_the_limits_do_not_break_search(store, embedder, settings):
    """Rows from a store written before times were bounded (year 1, the last microsecond
    Python holds) are found and listed; neither the context window nor recency overflows."""
    vault = Vault(
        store, embedder, settings, search_settings=SearchSettings(recency=0.5, context_seconds=3600)
    )
    first, last = datetime(1, 1, 1, tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    old = [
        Memory("a trip to Paris with Alice", created_at=first),
        Memory("another trip to Paris with Bob", created_at=first + timedelta(seconds=30)),
        Memory("a trip to Paris at the end of time", created_at=last, expires_at=last),
    ]
    vectors = embedder.embed([m.content for m in old])
    store.bind_embedding(embedder.spec)
    store.add([m.with_changes(embedding=v) for m, v in zip(old, vectors, strict=True)])
    hits = vault.search("trip to Paris", k=3)
    assert {h.memory.created_at for h in hits} == {m.created_at for m in old}
    assert len(vault.list(oldest_first=True).memories) == 3
    assert vault.recall("last week", k=3).hits == []


def test_an_import_refuses_memories_outside_the_limits_one_by_one(tmp_path, embedder, settings):
    """Control characters excepted: a memory stored before they were refused is carried."""
    dump = tmp_path / "old.jsonl.gz"
    texts = ["kept memory", "ancient memory", "long-tagged memory", "escaped memory"]
    vectors = embedder.embed(texts)
    memories = [
        Memory(texts[0], embedding=vectors[0]),
        Memory(texts[1], created_at=datetime(1, 1, 1, tzinfo=UTC), embedding=vectors[1]),
        Memory(texts[2], tags=("t" * 129,), embedding=vectors[2]),
        Memory(texts[3], tags=("bad\x1btag",), embedding=vectors[3]),
    ]
    write_dump(dump, memories, DumpHeader(embedder.spec.model, embedder.spec.dimension))
    report = restore(
        dump, f"sqlite://{tmp_path / 'target.db'}", settings=settings, embedder=embedder
    )
    assert (report.moved, report.failed, report.ok) == (2, 2, False)
    reasons = dict(report.failures)
    assert "created_at" in reasons[memories[1].id] and "out of range" in reasons[memories[1].id]
    assert "tags" in reasons[memories[2].id]
    with Vault.open(
        f"sqlite://{tmp_path / 'target.db'}", settings=settings, embedder=embedder
    ) as target:
        found = {m.content: m.tags for m in target.list().memories}
        assert found == {"kept memory": (), "escaped memory": ("bad\x1btag",)}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "99999999999999999999999999:x"}, "cursor"),
        ({"cursor": "-99999999999999999999:x"}, "cursor"),
        ({"cursor": "--5:x"}, "cursor"),
        ({"metadata": "[" * 10_000}, "metadata"),
    ],
)
def test_made_up_cursors_and_deep_query_json_are_422(vault: Vault, params, field):
    """They were 500 (an OverflowError binding the number, a RecursionError parsing)."""
    assert_error(http_client(vault).get(f"{API}/memories", params=params), 422, field)


def test_made_up_cursors_are_refused_by_every_store(store, embedder, settings):
    vault = Vault(store, embedder, settings)
    for cursor in (
        "99999999999999999999999999:x",
        "-9223372036854775809:x",
        "--5:x",
        "5:",
        "5:a\x00b",
    ):
        with pytest.raises(InvalidInput) as err:
            vault.list(cursor=cursor)
        assert err.value.field == "cursor"
