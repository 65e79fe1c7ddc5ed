"""The HTTP API over a real Vault on a SQLite file, with the real model.

Detailed cases go through FastAPI's TestClient (same app, no socket); one
test starts ``memvault serve`` as a process and talks to it over real HTTP.
Failures and the error shape are in ``test_http_errors.py``.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from memvault.stores.sqlite.store import SqliteStore
from memvault.vault import Vault

from .conftest import cli_env
from .http_helpers import API, assert_error, http_client, total


@pytest.fixture
def client(vault: Vault) -> TestClient:
    return http_client(vault)


def test_store_get_update_delete(client: TestClient, vault: Vault):
    body = {
        "content": "Alice prefers tabs over spaces",
        "tags": ["prefs"],
        "metadata": {"source": "chat", "nested": {"ok": [1, 2]}},
        "importance": 0.7,
    }
    created = client.post(f"{API}/memories", json=body)
    assert created.status_code == 201, created.text
    memory = created.json()["memory"]
    assert created.json()["created"] is True
    assert {k: memory[k] for k in body} == body

    again = client.post(f"{API}/memories", json={"content": "  Alice prefers tabs over spaces "})
    assert again.status_code == 200
    assert (again.json()["created"], again.json()["memory"]["id"]) == (False, memory["id"])

    assert client.get(f"{API}/memories/{memory['content_hash']}").json()["id"] == memory["id"]
    patched = client.patch(
        f"{API}/memories/{memory['id']}", json={"tags": ["editor"], "importance": 1}
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["tags"], patched.json()["importance"], patched.json()["metadata"]) == (
        ["editor"],
        1.0,
        body["metadata"],
    )
    assert_error(client.patch(f"{API}/memories/{memory['id']}", json={}), 422, "changes")
    assert_error(
        client.patch(f"{API}/memories/{memory['id']}", json={"content": "new"}), 422, "content"
    )

    deleted = client.delete(f"{API}/memories/{memory['id']}")
    assert deleted.json()["deleted"]["id"] == memory["id"]
    assert_error(client.get(f"{API}/memories/{memory['id']}"), 404, "id", "not_found")
    assert_error(client.delete(f"{API}/memories/{memory['id']}"), 404, "id", "not_found")
    assert total(vault) == 0


def test_namespaces_are_separate(client: TestClient, vault: Vault):
    stored = client.post(f"{API}/memories", json={"content": "team fact", "namespace": "team"})
    ref = stored.json()["memory"]["id"]
    assert client.get(f"{API}/memories/{ref}", params={"namespace": "team"}).status_code == 200
    assert client.get(f"{API}/memories/{ref}").status_code == 404
    assert (total(vault, "team"), total(vault)) == (1, 0)


def test_search_takes_a_recency_weight(client: TestClient, vault: Vault):
    vault.store("the release checklist lives in the wiki")
    hits = client.post(
        f"{API}/search", json={"query": "release checklist", "recency": 1, "half_life_days": 2}
    ).json()["hits"]
    assert hits[0]["score"] > 1.9 * hits[0]["parts"]["rrf"]  # made just now: almost doubled
    assert_error(
        client.post(f"{API}/search", json={"query": "x", "half_life_days": -3}),
        422,
        "half_life_days",
    )


def test_posts_take_the_namespace_in_the_query_as_gets_do(client: TestClient, vault: Vault):
    team = {"namespace": "team"}
    stored = client.post(f"{API}/memories", params=team, json={"content": "the team's fact"})
    assert stored.status_code == 201 and stored.json()["memory"]["namespace"] == "team"
    batch = client.post(f"{API}/memories/batch", params=team, json={"items": [{"content": "b"}]})
    assert batch.json()["results"][0]["memory"]["namespace"] == "team"
    hits = client.post(f"{API}/search", params=team, json={"query": "the team's fact"})
    assert hits.json()["hits"][0]["memory"]["content"] == "the team's fact"
    assert client.post(f"{API}/search", json={"query": "the team's fact"}).json()["hits"] == []
    tagged = client.post(f"{API}/search/tags", params=team, json={"tags": ["x"]})
    assert tagged.status_code == 200, tagged.text
    job = client.post(f"{API}/maintenance/dedup", params=team, json={})
    assert job.status_code == 202 and job.json()["params"]["namespace"] == "team"
    assert_error(
        client.post(f"{API}/memories", params=team, json={"content": "x", "namespace": "other"}),
        422,
        "namespace",
    )
    assert (total(vault, "team"), total(vault, "other")) == (2, 0)


def test_batch_is_checked_whole_before_anything_is_written(client: TestClient, vault: Vault):
    items = [{"content": "first"}, {"content": "second", "tags": ["b"]}, {"content": "first"}]
    stored = client.post(f"{API}/memories/batch", json={"items": items})
    assert stored.status_code == 200, stored.text
    assert stored.json()["created"] == 2
    results = stored.json()["results"]
    assert results[0]["memory"]["id"] == results[2]["memory"]["id"]

    bad = [{"content": "third"}, {"content": "fourth"}, {"content": " "}]
    assert_error(client.post(f"{API}/memories/batch", json={"items": bad}), 422, "items[2].content")
    assert_error(
        client.post(f"{API}/memories/batch", json={"items": [{"content": ""}]}),
        422,
        "items[0].content",
    )
    assert_error(
        client.post(f"{API}/memories/batch", json={"items": [{"content": "x"}, {"content": 3}]}),
        422,
        "items[1].content",
    )
    assert total(vault) == 2


def test_list_filters_and_cursor_pagination(client: TestClient, vault: Vault):
    vault.store_many(
        [
            {
                "content": f"note number {i}",
                "tags": ["even" if i % 2 else "odd"],
                "memory_type": "fact" if i < 3 else "note",
                "metadata": {"project": "a" if i < 5 else "b"},
            }
            for i in range(7)
        ]
    )
    seen, cursor = [], None
    while True:
        page = client.get(
            f"{API}/memories", params={"limit": 3, "cursor": cursor} if cursor else {"limit": 3}
        ).json()
        seen += [m["content"] for m in page["memories"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(f"note number {i}" for i in range(7))

    def contents(**params) -> set[str]:
        response = client.get(f"{API}/memories", params=params)
        assert response.status_code == 200, response.text
        return {m["content"] for m in response.json()["memories"]}

    assert contents(tags_any="odd", memory_type="fact") == {"note number 0", "note number 2"}
    assert contents(metadata='{"project": "b"}') == {"note number 5", "note number 6"}
    assert len(contents(tags_any=["odd", "even"])) == 7
    assert contents(oldest_first="true", limit=1) == {"note number 0"}

    assert_error(client.get(f"{API}/memories", params={"namespce": "x"}), 422, "namespce")
    assert_error(client.get(f"{API}/memories", params={"limit": "abc"}), 422, "limit")
    assert_error(client.get(f"{API}/memories", params={"limit": 0}), 422, "limit")
    assert_error(client.get(f"{API}/memories", params={"metadata": "[1]"}), 422, "metadata")
    assert_error(
        client.get(f"{API}/memories", params={"created_after": "soon"}), 422, "filter.created_after"
    )
    assert_error(client.get(f"{API}/memories", params={"cursor": "garbage"}), 422, "cursor")


FTS_QUERIES = [
    'the "XK-42 laptop',
    "XK-42*",
    "NEAR(XK-42 laptop",
    "laptop -XK-42",
    "(XK-42 laptop",
    "laptop) OR (",
    '"*" NEAR( - ) ("',
]


@pytest.mark.parametrize("query", FTS_QUERIES)
def test_search_treats_fts_syntax_literally(client: TestClient, vault: Vault, query: str):
    vault.store_many(
        [
            {"content": "Dave's laptop has the serial XK-42"},
            {"content": "The office plant needs water on Mondays"},
        ]
    )
    response = client.post(f"{API}/search", json={"query": query, "k": 2})
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]
    assert len(hits) == 2
    if query != FTS_QUERIES[-1]:  # the last one has no word to find
        assert hits[0]["memory"]["content"] == "Dave's laptop has the serial XK-42"


def test_search_filters_inside_and_explains_scores(client: TestClient, vault: Vault):
    vault.store_many(
        [
            {"content": "Deploys happen on Tuesdays", "tags": ["ops"]},
            {"content": "Deploys are frozen in December", "tags": ["ops", "policy"]},
            {"content": "The cat is called Miso", "tags": ["home"]},
        ]
    )
    response = client.post(
        f"{API}/search",
        json={"query": "when do we deploy", "k": 5, "filter": {"tags_all": ["ops", "policy"]}},
    )
    hits = response.json()["hits"]
    assert [h["memory"]["content"] for h in hits] == ["Deploys are frozen in December"]
    assert {"rrf", "vector", "recency", "importance"} <= set(hits[0]["parts"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": "x", "k": 0}, "k"),
        ({"query": "x", "k": 1001}, "k"),
        ({"query": "x", "k": "5"}, "k"),
        ({"query": "x", "k": True}, "k"),
        ({"query": "x", "k": 2.5}, "k"),
        ({"query": "   "}, "query"),
        ({"query": 7}, "query"),
        ({"query": "bad\u0000query"}, "query"),
        ({"k": 3}, "query"),
        ({"query": "x", "filter": {"bogus": 1}}, "filter.bogus"),
        ({"query": "x", "filter": {"tags_any": "ops"}}, "filter.tags_any"),
        ({"query": "x", "filter": {"metadata": {"k": [1]}}}, "filter.metadata"),
        ({"query": "x", "filter": {"created_after": [2025]}}, "filter.created_after"),
        (
            {
                "query": "x",
                "filter": {"created_after": "2025-02-01", "created_before": "2025-01-01"},
            },
            "filter.created_after",
        ),
        ({"query": "x", "namespace": ""}, "namespace"),
        ({"query": "x", "limit": 3}, "limit"),
    ],
)
def test_search_bad_input(client: TestClient, body: dict, field: str):
    assert_error(client.post(f"{API}/search", json=body), 422, field)


def test_tag_search_any_all_and_pages(client: TestClient, vault: Vault):
    vault.store_many(
        [
            {"content": "a1", "tags": ["a"]},
            {"content": "ab", "tags": ["a", "b"]},
            {"content": "b1", "tags": ["b"]},
        ]
    )
    any_ = client.post(f"{API}/search/tags", json={"tags": ["a", "b"], "limit": 2}).json()
    rest = client.post(
        f"{API}/search/tags", json={"tags": ["a", "b"], "limit": 2, "cursor": any_["next_cursor"]}
    ).json()
    assert sorted(m["content"] for m in any_["memories"] + rest["memories"]) == ["a1", "ab", "b1"]
    all_ = client.post(f"{API}/search/tags", json={"tags": ["a", "b"], "match": "all"}).json()
    assert [m["content"] for m in all_["memories"]] == ["ab"]
    assert_error(
        client.post(f"{API}/search/tags", json={"tags": ["a"], "match": "most"}), 422, "match"
    )
    assert_error(client.post(f"{API}/search/tags", json={"tags": []}), 422, "tags")


def test_time_search(client: TestClient, vault: Vault):
    now = datetime.now(UTC)
    vault.store_many(
        [
            {"content": "old decision about databases", "created_at": now - timedelta(days=40)},
            # Stored at the test's "now": an hour earlier is yesterday just after midnight.
            {"content": "recent decision about databases", "created_at": now},
        ]
    )
    phrase = client.post(f"{API}/search/time", json={"when": "today"}).json()
    assert [h["memory"]["content"] for h in phrase["hits"]] == ["recent decision about databases"]
    span = {
        "start": (now - timedelta(days=41)).isoformat(),
        "end": (now - timedelta(days=39)).isoformat(),
        "query": "databases",
    }
    ranged = client.post(f"{API}/search/time", json=span)
    assert [h["memory"]["content"] for h in ranged.json()["hits"]] == [
        "old decision about databases"
    ]
    assert_error(client.post(f"{API}/search/time", json={}), 422, "when")
    assert_error(client.post(f"{API}/search/time", json={"when": "today", **span}), 422, "when")
    assert_error(client.post(f"{API}/search/time", json={"start": span["start"]}), 422, "end")
    assert_error(client.post(f"{API}/search/time", json={"when": "the bronze age"}), 422, "time")


def test_stats_health_docs_and_metrics(client: TestClient, vault: Vault):
    vault.store_many([{"content": "one", "tags": ["t"]}, {"content": "two"}])
    vault.store("elsewhere", namespace="other")
    stats = client.get(f"{API}/stats").json()
    assert (stats["total"], stats["namespaces"]) == (3, {"default": 2, "other": 1})
    assert client.get(f"{API}/stats", params={"namespace": "other"}).json()["total"] == 1

    health = client.get(f"{API}/health").json()
    assert health["status"] == "ok"
    assert health["store"]["url"] == vault.store_backend.url
    assert health["store"]["identity"] == vault.store_backend.identity()

    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        f"{API}/memories",
        f"{API}/memories/batch",
        f"{API}/memories/{{ref}}",
        f"{API}/search",
        f"{API}/search/tags",
        f"{API}/search/time",
        f"{API}/stats",
        f"{API}/health",
    } <= set(paths)

    for _ in range(3):
        client.post(f"{API}/search", json={"query": "one"})
    client.post(f"{API}/memories", json={"content": "three"})
    text = client.get("/metrics").text
    assert _sample(text, "memvault_query_embedding_cache_misses_total") == 1
    assert _sample(text, "memvault_query_embedding_cache_hits_total") == 2
    assert _sample(text, "memvault_memories") == 4
    assert _sample(text, "memvault_store_up") == 1
    assert (
        _sample(
            text,
            'memvault_http_request_duration_seconds_count{method="POST",'
            'route="/api/v1/search",status="200"}',
        )
        == 3
    )
    for operation in ("search", "store", "embed"):
        assert (
            _sample(text, f'memvault_operation_duration_seconds_count{{operation="{operation}"}}')
            >= 1
        )


def _sample(text: str, series: str) -> float:
    """The value of one series in Prometheus text format."""
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert match, f"{series} not in metrics"
    return float(match.group(1))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_end_to_end(tmp_path: Path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    url = f"sqlite://{tmp_path / 'served.db'}"
    # The configured store (not one named by --store) is created by serve if new.
    server = subprocess.Popen(
        [sys.executable, "-m", "memvault", "serve", "--port", str(port), "--log-level", "warning"],
        env=cli_env(tmp_path, MEMVAULT_STORE_URL=url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        health = _wait_for_health(base, server)
        assert health["store"]["url"] == url and health["store"]["identity"]
        with httpx.Client(base_url=base, timeout=120) as http:
            stored = http.post(
                f"{API}/memories",
                json={"content": "The VPN config lives in /etc/wg0.conf", "tags": ["ops"]},
            )
            assert stored.status_code == 201, stored.text
            hits = http.post(f"{API}/search", json={"query": "where is the vpn set up?"})
            assert hits.json()["hits"][0]["memory"]["id"] == stored.json()["memory"]["id"]
            assert_error(http.post(f"{API}/memories", json={"content": ""}), 422, "content")
            metrics = http.get("/metrics")
            assert metrics.headers["content-type"].startswith("text/plain")
            assert _sample(metrics.text, "memvault_memories") == 1
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    # uvicorn shuts down gracefully, then ends by re-raising the signal it caught.
    assert server.returncode in (0, -signal.SIGTERM), server.stderr.read()
    wal = tmp_path / "served.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # the store was closed cleanly


def test_serve_on_a_busy_port_says_so(tmp_path: Path):
    SqliteStore(tmp_path / "busy.db").close()  # serve creates only the default store
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "memvault",
                "serve",
                "--port",
                str(port),
                "--store",
                f"sqlite://{tmp_path / 'busy.db'}",
            ],
            env=cli_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1, result.stderr  # was an abort (134) from the model thread
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr


def _wait_for_health(base: str, server: subprocess.Popen) -> dict:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"server exited: {server.stderr.read()}")
        try:
            return httpx.get(f"{base}{API}/health", timeout=5).raise_for_status().json()
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("server did not answer /api/v1/health in time")
