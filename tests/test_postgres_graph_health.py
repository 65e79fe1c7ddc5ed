"""What a PostgreSQL store's health says of the large namespaces' vector graphs: each
one there, invalid, being built or missing, judged without counting every
namespace's rows; over HTTP, to each key of its own namespaces only."""

from __future__ import annotations

import json
import time

import psycopg

from memvault.access.keys import KeyRing
from memvault.stores.postgres.namespace_graphs import graph_name
from memvault.stores.postgres.store import PostgresStore
from memvault.vault import Vault

from .http_helpers import API, http_client
from .key_helpers import bearer
from .test_store_conformance import SPEC, mem

# "work" (5 of 15 memories) qualifies for a graph; "home" holds more than half the store.
URL = "?namespace_graph_min=3"


def with_a_namespace_graph(database: str) -> PostgresStore:
    """A store whose namespace "work" has its graph, built by ``optimize`` (which also
    refreshes the planner's statistics)."""
    store = PostgresStore(database + URL)
    store.bind_embedding(SPEC)
    store.add([mem(f"home {i}", i, namespace="home") for i in range(10)])
    store.add([mem(f"work {i}", 100 + i, namespace="work") for i in range(5)])
    store.optimize()
    return store


def drop_graph(database: str, namespace: str) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(f"DROP INDEX {graph_name(namespace)}")


def test_a_graph_being_built_is_said_so_with_the_build_that_runs_it(database):
    store = with_a_namespace_graph(database)
    try:
        drop_graph(database, "work")
        assert store.health()["namespace_graphs"] == {"work": "missing"}
        # A write under way, which a concurrent build waits for: it stays under way.
        with psycopg.connect(database) as writer:
            writer.execute("LOCK TABLE memvault_memories IN ROW EXCLUSIVE MODE")
            assert store.repair_in_background() is None  # the store's graph is there
            deadline = time.monotonic() + 60
            while (health := store.health())["namespace_graphs"] != {"work": "building"}:
                assert time.monotonic() < deadline, health
                time.sleep(0.1)
            assert "until a memvault graph build (" in health["namespace_graphs_note"]
        store.graph_builder.join()
        health = store.health()
        assert health["namespace_graphs"] == {"work": "hnsw"}
        assert "namespace_graphs_note" not in health
    finally:
        store.close()


def test_a_namespace_the_statistics_overrate_is_counted_before_it_is_called_missing(database):
    store = with_a_namespace_graph(database)
    try:
        assert store.health()["namespace_graphs"] == {"work": "hnsw"}  # statistics read
        # Now under the threshold, as the statistics (sampled before) do not know.
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute(
                "DELETE FROM memvault_memories WHERE namespace = 'work' AND rowid IN "
                "(SELECT rowid FROM memvault_memories WHERE namespace = 'work' LIMIT 3)"
            )
        drop_graph(database, "work")
        health = store.health()
        assert health["namespace_graphs"] == {}
        assert "namespace_graphs_note" not in health
    finally:
        store.close()


def test_the_health_endpoint_shows_each_key_its_own_namespaces_graphs(database, embedder, settings):
    with_a_namespace_graph(database).close()
    drop_graph(database, "work")
    vault = Vault.open(database + URL, settings=settings, embedder=embedder)
    try:
        ring = KeyRing(vault.store_backend)
        admin = ring.create("admin", "admin")[0]
        worker = ring.create("worker", "read", ["work"])[0]
        dweller = ring.create("dweller", "read", ["home"])[0]
        with http_client(vault) as client:
            full = client.get(f"{API}/health", headers=bearer(admin)).json()
            # Slower searches in one namespace, as with the store's graph missing: every
            # search and write works, so not degraded.
            assert full["status"] == "ok" and "problems" not in full["store"]
            assert full["store"]["namespace_graphs"] == {"work": "missing"}
            assert full["store"]["vector_index"] == "hnsw"
            assert "memvault optimize" in full["store"]["namespace_graphs_note"]
            seen = client.get(f"{API}/health", headers=bearer(worker)).json()
            assert seen["store"]["namespace_graphs"] == {"work": "missing"}
            other = client.get(f"{API}/health", headers=bearer(dweller)).json()
            assert other["store"]["namespace_graphs"] == {}
            assert '"work"' not in json.dumps(other)
        vault.store_backend.optimize()
        with http_client(vault) as client:
            full = client.get(f"{API}/health", headers=bearer(admin)).json()
        assert full["store"]["namespace_graphs"] == {"work": "hnsw"}
        assert "namespace_graphs_note" not in full["store"]
    finally:
        vault.close()
