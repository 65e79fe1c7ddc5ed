"""A PostgreSQL hybrid search runs its word and vector sides at once on two pooled
connections when a second is free, else both in one statement on one: either
way the same rankings, and many threads searching on a small pool all finish."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from memvault.model import Filter, utcnow
from memvault.search.text import query_terms
from memvault.stores.base import Rankings
from memvault.stores.postgres.store import PostgresStore

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


def rankings_of_every_query(store: PostgresStore) -> list[Rankings]:
    return [
        store.rankings(unit(100 + i), query_terms(query), 10, flt, WITHIN)
        for i, query in enumerate(QUERIES)
        for flt in FILTERS
    ]


def paired_reads(store: PostgresStore) -> dict[str, int]:
    return dict(store.health()["pool"]["paired_reads"])


def test_sides_at_once_rank_as_one_statement(database_with_memories):
    apart = PostgresStore(database_with_memories)
    # One connection: never a second free, so every search is one statement.
    together = PostgresStore(database_with_memories + "?pool_size=1")
    try:
        expected = rankings_of_every_query(together)
        assert paired_reads(together) == {"at once": 0, "one connection": len(expected)}
        assert any(r.by_text for r in expected) and any(r.preceding for r in expected)
        assert all(r.by_vector for r in expected)

        assert rankings_of_every_query(apart) == expected
        # A lone client finds a second connection free, unless the store's own
        # background work (indexing, the words' conversion) holds one just then.
        reads = paired_reads(apart)
        assert reads["at once"] > 0 and sum(reads.values()) == len(expected)
    finally:
        apart.close()
        together.close()


def test_with_every_other_connection_taken_a_search_is_one_statement(database_with_memories):
    roomy = PostgresStore(database_with_memories)
    store = PostgresStore(database_with_memories + "?pool_size=2")
    try:
        query, flt = query_terms(QUERIES[3]), FILTERS[0]
        expected = roomy.rankings(unit(7), query, 10, flt, WITHIN)
        before = paired_reads(store)
        with store._db.cursor() as held:  # one of the pool's two connections, in use
            held.execute("SELECT 1")
            crowded = store.rankings(unit(7), query, 10, flt, WITHIN)
        assert paired_reads(store) == {
            "at once": before["at once"],
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
