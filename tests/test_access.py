"""Keys on the HTTP API: who is served without one, namespaces a key is bound to, paths."""

from __future__ import annotations

import time

import pytest

from memvault.access.keys import KeyRing
from memvault.access.principal import KEY_COOKIE

from .http_helpers import API, assert_error, http_client
from .key_helpers import bearer
from .test_http_hosts import INIT, MCP_HEADERS


def test_without_keys_only_this_machine_is_served_until_a_key_exists(vault):
    with http_client(vault) as local, http_client(vault, client=("203.0.113.9", 40000)) as remote:
        health = local.get(f"{API}/health").json()
        assert health["store"]["path"]  # a local client without keys is the admin
        for method, path, body in (
            ("GET", f"{API}/stats", None),
            ("POST", "/mcp", INIT),
            ("GET", "/openapi.json", None),
        ):
            refused = remote.request(method, path, json=body, headers=MCP_HEADERS)
            error = assert_error(refused, 403, "authorization", "forbidden")
            assert "memvault keys create --name NAME --scope" in error["message"]
        KeyRing(vault.store_backend).create("first", "read")  # as another process would
        deadline = time.monotonic() + 30
        while (answer := local.get(f"{API}/stats")).status_code == 200:
            assert time.monotonic() < deadline, "the new key was not noticed"
            time.sleep(0.2)
        assert_error(answer, 401, "authorization", "unauthorized")
        assert answer.headers["www-authenticate"].startswith("Bearer")


def test_store_paths_are_shown_to_admin_keys_only(vault):
    ring = KeyRing(vault.store_backend)
    read, admin = ring.create("r", "read")[0], ring.create("a", "admin")[0]
    with http_client(vault) as client:
        seen = client.get(f"{API}/health", headers=bearer(read)).json()
        assert seen["status"] == "ok" and seen["store"]["identity"]
        assert "path" not in seen["store"] and "url" not in seen["store"]
        assert str(vault.store_backend.path) not in str(seen)
        full = client.get(f"{API}/health", headers=bearer(admin)).json()
        assert full["store"]["path"] == str(vault.store_backend.path)
        assert client.get(f"{API}/stats", headers=bearer(read)).json()["store"] == "sqlite"
        assert (
            client.get(f"{API}/stats", headers=bearer(admin)).json()["store"]
            == vault.store_backend.url
        )


def test_a_key_bound_to_a_namespace_sees_nothing_else(vault):
    secret = vault.store("Bob's bank PIN is in the drawer", tags=["bank"], namespace="bob")
    mine = vault.store("Alice waters the garden", tags=["home"], namespace="alice").memory
    alice = KeyRing(vault.store_backend).create("alice", "write", ["alice"])[0]
    memory = secret.memory
    with http_client(vault, headers=bearer(alice)) as client:
        for ref in (memory.id, memory.content_hash):
            for query in ("?namespace=bob", ""):
                assert_error(
                    client.get(f"{API}/memories/{ref}{query}"),
                    404,
                    "namespace" if query else "id",
                    "not_found",
                )
        for method, path, body in (
            ("GET", f"{API}/memories?namespace=bob", None),
            ("GET", f"{API}/stats?namespace=bob", None),
            ("POST", f"{API}/search", {"query": "bank PIN", "namespace": "bob"}),
            ("POST", f"{API}/search/tags", {"tags": ["bank"], "namespace": "bob"}),
            ("POST", f"{API}/search/time", {"when": "today", "namespace": "bob"}),
        ):
            assert_error(client.request(method, path, json=body), 404, "namespace", "not_found")
        for method, path, body in (
            ("POST", f"{API}/memories", {"content": "planted", "namespace": "bob"}),
            ("POST", f"{API}/memories/batch", {"items": [{"content": "x"}], "namespace": "bob"}),
            ("PATCH", f"{API}/memories/{memory.id}?namespace=bob", {"importance": 1}),
            ("DELETE", f"{API}/memories/{memory.id}?namespace=bob", None),
        ):
            assert_error(client.request(method, path, json=body), 403, "namespace", "forbidden")
        # Naming no namespace means the key's own one.
        assert client.get(f"{API}/memories/{mine.id}").json()["id"] == mine.id
        hits = client.post(f"{API}/search", json={"query": "bank PIN"}).json()["hits"]
        assert [h["memory"]["id"] for h in hits] == [mine.id]
        stats = client.get(f"{API}/stats").json()
        assert stats["total"] == 1 and "bob" not in str(stats)
        stored = client.post(f"{API}/memories", json={"content": "Alice's new note"}).json()
        assert stored["memory"]["namespace"] == "alice"
    assert vault.get(memory.id, namespace="bob").importance == memory.importance
    assert vault.count(namespace="bob") == 1


@pytest.mark.parametrize(
    ("namespaces", "chosen"), [(["alice", "default"], "default"), (["alice", "bob"], None)]
)
def test_a_key_bound_to_several_namespaces_must_name_one_unless_default_is_among(
    vault, namespaces, chosen
):
    key = KeyRing(vault.store_backend).create("k", "write", namespaces)[0]
    with http_client(vault, headers=bearer(key)) as client:
        answer = client.post(f"{API}/memories", json={"content": "Which namespace?"})
        if chosen is None:
            error = assert_error(answer, 422, "namespace")
            assert "alice, bob" in error["message"]
            assert vault.count(namespace="default") == 0
        else:
            assert answer.json()["memory"]["namespace"] == chosen
        named = client.post(f"{API}/memories", json={"content": "In alice", "namespace": "alice"})
        assert named.json()["memory"]["namespace"] == "alice"


def test_keys_come_as_bearer_or_in_the_dashboard_cookie(vault):
    key = KeyRing(vault.store_backend).create("k", "read")[0]
    with http_client(vault) as client:
        for header in (f"Basic {key}", "Bearer", f"Bearer {key}x", key):
            answer = client.get(f"{API}/stats", headers={"authorization": header})
            assert_error(answer, 401, "authorization", "unauthorized")
        assert (
            client.get(f"{API}/stats", headers={"authorization": f"bearer  {key} "}).status_code
            == 200
        )
        client.cookies.set(KEY_COOKIE, key)
        assert client.get(f"{API}/stats").status_code == 200
        # A key in the header is checked even with a good one in the cookie.
        assert (
            client.get(f"{API}/stats", headers={"authorization": "Bearer nope"}).status_code == 401
        )
