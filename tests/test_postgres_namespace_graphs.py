"""Large namespaces get a vector graph of their own (a partial HNSW index), which a
search in that namespace walks: built by ``optimize`` and at the end of a bulk load,
dropped when the namespace no longer qualifies."""

from __future__ import annotations

import threading

import numpy as np
import psycopg
import pytest

from memvault.model import Filter
from memvault.stores.postgres import namespace_graphs
from memvault.stores.postgres import ranking as postgres_ranking
from memvault.stores.postgres.namespace_graphs import graph_name
from memvault.stores.postgres.store import PostgresStore

from .test_store_conformance import SPEC, mem, unit


def graphs(database: str) -> dict[str, str]:
    """The namespace graphs there are: index name -> its definition."""
    with psycopg.connect(database) as conn:
        return dict(
            conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE starts_with(indexname, %s)",
                (namespace_graphs.PREFIX,),
            ).fetchall()
        )


def searched_plan(store: PostgresStore, vector: np.ndarray, flt: Filter) -> str:
    """The plan of the statement a vector search sends, with its values."""
    sent = []
    execute = psycopg.Cursor.execute
    searching = threading.get_ident()

    def kept(cur, query, params=None, *args, **kwargs):
        if threading.get_ident() == searching:
            sent.append((query, params))
        return execute(cur, query, params, *args, **kwargs)

    psycopg.Cursor.execute = kept
    try:
        store.vector_search(vector, 10, flt)
    finally:
        psycopg.Cursor.execute = execute
    (query, params), *_ = [s for s in sent if "approximate AS" in str(s[0])]
    with store._db.cursor() as cur:
        cur.execute("EXPLAIN " + query, params)
        return "\n".join(row[0] for row in cur.fetchall())


def walk_graphs_at_any_size(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make searches of a few hundred rows walk a graph, as those of 10,000 and more do:
    such small sets are cheaper to sort than to find by any graph."""
    monkeypatch.setattr(postgres_ranking, "EXACT_SEARCH_ROWS", 10)  # walk, not compare all
    with psycopg.connect(database, autocommit=True) as conn:
        name = conn.info.dbname
        conn.execute(f'ALTER DATABASE "{name}" SET enable_seqscan = off')
        conn.execute(f'ALTER DATABASE "{name}" SET enable_sort = off')


def test_a_large_namespace_gets_a_graph_its_searches_walk(database, monkeypatch):
    walk_graphs_at_any_size(database, monkeypatch)
    store = PostgresStore(database + "?namespace_graph_min=300")
    store.bind_embedding(SPEC)
    sizes = {"alice's": 400, "bob": 400, "carol": 250}  # at most half the store: 525
    memories = {
        namespace: [mem(f"{namespace} {i}", 1000 * n + i, namespace=namespace) for i in range(size)]
        for n, (namespace, size) in enumerate(sizes.items())
    }
    for part in memories.values():
        store.add(part)
    assert graphs(database) == {}

    report = store.optimize()
    built = graphs(database)
    assert set(built) == {graph_name("alice's"), graph_name("bob")}
    assert "WHERE (namespace = 'alice''s'::text)" in built[graph_name("alice's")]
    assert sum(line.startswith("namespace graph: built") for line in report) == 2
    assert store.health()["namespace_graphs"] == {"alice's": "hnsw", "bob": "hnsw"}

    query = unit(7)
    plan = searched_plan(store, query, Filter.build(namespace="alice's"))
    assert graph_name("alice's") in plan
    vectors = np.stack([m.embedding for m in memories["alice's"]])
    exact = {memories["alice's"][i].id for i in np.argsort(-(vectors @ query))[:10]}
    hits = store.vector_search(query, 10, Filter.build(namespace="alice's"))
    assert len(exact & {c.id for c in hits}) >= 8
    assert namespace_graphs.PREFIX not in searched_plan(
        store, query, Filter.build(namespace="carol")
    )

    # Bob's namespace shrinks below the bar: its graph goes at the next optimize.
    store.delete([m.id for m in memories["bob"][:200]])
    assert any("dropped" in line for line in store.optimize())
    assert set(graphs(database)) == {graph_name("alice's")}

    # A bulk load drops the graphs with the store's own and builds them at its end.
    with store.bulk_load("64MB"):
        assert graphs(database) == {}
        store.add([mem(f"carol more {i}", 9000 + i, namespace="carol") for i in range(250)])
    assert set(graphs(database)) == {graph_name("alice's"), graph_name("carol")}
    store.close()

    # A store opened without them drops those there are.
    store = PostgresStore(database + "?namespace_graph_min=0")
    store.optimize()
    assert graphs(database) == {}
    store.close()


def test_searches_in_namespaces_without_a_graph_do_not_keep_the_others_from_theirs(
    database, monkeypatch
):
    # The driver prepares a statement run five times, and the server may then
    # plan it once for any parameters: the namespace is written into the
    # statement, so a plan made for searches in namespaces without a graph is
    # not used for one with a graph, and that one's own plan still walks it.
    walk_graphs_at_any_size(database, monkeypatch)
    # Every search on one connection.
    store = PostgresStore(database + "?pool_size=1&namespace_graph_min=300")
    store.bind_embedding(SPEC)
    for n, namespace in enumerate(("alice", "bob", "carol")):
        store.add([mem(f"{namespace} {i}", 1000 * n + i, namespace=namespace) for i in range(400)])
    store.add([mem(f"dave {i}", 5000 + i, namespace="dave") for i in range(100)])
    store.optimize()
    assert graph_name("alice") in graphs(database)

    def walks_of_alices_graph() -> int:
        with store._db.cursor() as cur:
            cur.execute("SELECT pg_stat_force_next_flush()")  # this connection's counts
        with psycopg.connect(database) as conn:
            return conn.execute(
                "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = %s",
                (graph_name("alice"),),
            ).fetchone()[0]

    def generic_plans() -> int:
        with store._db.cursor() as cur:
            cur.execute("SELECT coalesce(sum(generic_plans), 0) AS n FROM pg_prepared_statements")
            return int(cur.fetchone().n)

    for i in range(12):
        store.vector_search(unit(100 + i), 10, Filter.build(namespace="dave"))
    before = walks_of_alices_graph()
    store.vector_search(unit(7), 10, Filter.build(namespace="alice"))
    assert walks_of_alices_graph() == before + 1

    # Alice's searches (words and vector), prepared, keep one plan for any query,
    # which walks her graph.
    planned_once = generic_plans()
    for i in range(12):
        store.rankings(unit(200 + i), [f"alice {i}"], 10, Filter.build(namespace="alice"), None)
    assert generic_plans() > planned_once
    before = walks_of_alices_graph()
    store.vector_search(unit(8), 10, Filter.build(namespace="alice"))
    assert walks_of_alices_graph() == before + 1
    store.close()
