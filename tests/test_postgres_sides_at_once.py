"""A PostgreSQL hybrid search sends its word and vector statements together: on two
pooled connections, which the server runs at once, when a second is free and no
other is in use, else on one; either way the rankings of the Store methods one
at a time, and many threads searching on a small pool all finish."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from memvault.model import Filter, utcnow
from memvault.search.hybrid import rankings
from memvault.search.text import query_terms
from memvault.stores.base import Rankings
from memvault.stores.postgres import database
from memvault.stores.postgres.store import PostgresStore

from .test_postgres_store import OnlyTheStoreProtocol
from .test_store_conformance import SPEC, mem, unit
from .test_word_parity import QUERIES, TEXTS

WITHIN = timedelta(seconds=60)
FILTERS = [
    Filter(namespace=None),
    Filter(namespace="home"),
    Filter(namespace="home", tags_any=("odd",)),
]


@pytest.fixture
def database_with_memories(database: str) -> str:
    """Texts in two namespaces, every other one tagged, each 10 s after the one before
    (so word matches have predecessors to credit)."""
    store = PostgresStore(database)
    store.bind_embedding(SPEC)
    start = utcnow() - timedelta(hours=1)
    texts = [(ns, text) for ns, texts in TEXTS.items() for text in texts]
    store.add(
        [
            mem(
                text,
                seed,
                namespace=namespace,
                tags=["odd"] if seed % 2 else [],
                created_at=start + timedelta(seconds=10 * seed),
            )
            for seed, (namespace, text) in enumerate(texts)
        ]
    )
    store.index_waiting_vectors()
    store.close()
    return database


def rankings_of_every_query(store) -> list[Rankings]:
    return [
        rankings(store, unit(100 + i), query_terms(query), 10, flt, WITHIN)
        for i, query in enumerate(QUERIES)
        for flt in FILTERS
    ]


def paired_reads(store: PostgresStore) -> dict[str, int]:
    return dict(store.health()["pool"]["paired_reads"])


def test_both_sides_on_two_connections_or_one_rank_as_the_store_methods(
    database_with_memories,
):
    roomy = PostgresStore(database_with_memories)
    # One connection: never a second free, so both statements go on it.
    single = PostgresStore(database_with_memories + "?pool_size=1")
    try:
        # Word search, vector search and the predecessors asked one at a time.
        expected = rankings_of_every_query(OnlyTheStoreProtocol(single))
        assert any(r.by_text for r in expected) and any(r.preceding for r in expected)
        assert all(r.by_vector for r in expected)

        assert rankings_of_every_query(single) == expected
        assert paired_reads(single) == {"two connections": 0, "one connection": len(expected)}
        assert rankings_of_every_query(roomy) == expected
        # A lone client finds a second connection free, unless the store's own
        # background work (indexing, the words' conversion) holds one just then.
        reads = paired_reads(roomy)
        assert reads["two connections"] > 0 and sum(reads.values()) == len(expected)
    finally:
        roomy.close()
        single.close()


def test_without_pipeline_mode_the_statements_run_one_after_the_other_alike(
    database_with_memories, monkeypatch
):
    roomy = PostgresStore(database_with_memories)
    single = PostgresStore(database_with_memories + "?pool_size=1")
    try:
        expected = rankings_of_every_query(OnlyTheStoreProtocol(single))
        # As with a libpq older than 14, which has no pipeline mode.
        monkeypatch.setattr(database, "PIPELINE", False)
        assert rankings_of_every_query(single) == expected
        assert rankings_of_every_query(roomy) == expected
    finally:
        roomy.close()
        single.close()


@pytest.mark.parametrize("options", ["?pool_size=2", ""])
def test_with_another_connection_in_use_a_search_keeps_to_one(database_with_memories, options):
    roomy = PostgresStore(database_with_memories)
    # Of two connections, or of ten: another in use means other work on the
    # server's cores (with two, also that none is left).
    store = PostgresStore(database_with_memories + options)
    try:
        query, flt = query_terms(QUERIES[3]), FILTERS[0]
        expected = roomy.rankings(unit(7), query, 10, flt, WITHIN)
        before = paired_reads(store)
        with store._db.cursor() as held:
            held.execute("SELECT 1")
            crowded = store.rankings(unit(7), query, 10, flt, WITHIN)
        assert paired_reads(store) == {
            "two connections": before["two connections"],
            "one connection": before["one connection"] + 1,
        }
        assert crowded == expected
        assert crowded.by_text and crowded.by_vector and crowded.preceding
    finally:
        store.close()
        roomy.close()


def test_many_threads_searching_on_a_small_pool_all_finish_with_the_same_rankings(
    database_with_memories,
):
    # A few seconds to find a first connection: a starved pool would fail searches.
    store = PostgresStore(database_with_memories + "?pool_size=3&pool_timeout=5")
    try:
        expected = rankings_of_every_query(store)
        before = paired_reads(store)
        results: dict[int, list[Rankings]] = {}
        failures: list[BaseException] = []

        def search(worker: int) -> None:
            try:
                results[worker] = rankings_of_every_query(store)
            except BaseException as exc:  # reported by the assert below
                failures.append(exc)

        threads = [threading.Thread(target=search, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not [t for t in threads if t.is_alive()], "searches stuck waiting for connections"
        assert failures == []
        assert all(got == expected for got in results.values()) and len(results) == 8
        after = paired_reads(store)
        searched = {key: after[key] - before[key] for key in after}
        assert sum(searched.values()) == 8 * len(expected)
        # Eight threads on three connections: many found no second one free.
        assert searched["one connection"] > 0
    finally:
        store.close()


def test_a_search_s_connections_are_back_in_the_pool_when_it_returns(database_with_memories):
    store = PostgresStore(database_with_memories)
    try:
        back = []
        for i, query in enumerate(QUERIES * 3):
            store.rankings(unit(i), query_terms(query), 10, FILTERS[0], WITHIN)
            pool = store._db.pool_stats()
            back.append(pool["available"] == pool["size"])
        assert store._db.pool_stats()["paired_reads"]["two connections"] > 0
        # Handed back as the search ends (not later by the pool's worker thread), so
        # the next search finds both free and a lone client's pool does not grow. (A
        # check may meet the indexer's look for waiting vectors, every 5 s.)
        assert back.count(False) <= 2
        assert store._db.pool_stats()["size"] <= 3
    finally:
        store.close()
