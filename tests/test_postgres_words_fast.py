"""``optimize`` converts a large backlog of words PostgreSQL made with the vector
graphs dropped and built again at the end; interrupted anywhere (an error, or the
process killed), the graphs come back and the conversion goes on at the next
``optimize``; the searches then match a store written afresh."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid

import numpy as np
import psycopg
import pytest

from memvault.errors import StoreUnavailable
from memvault.model import Filter
from memvault.stores.postgres import retokenize
from memvault.stores.postgres.schema import INDEXED_CHARS, TEXT_CONFIG, words_sql
from memvault.stores.postgres.store import PostgresStore
from memvault.stores.postgres.words import RECOUNT

from .test_postgres_words_upgrade import QUERIES, failing_after, stale_rows
from .test_store_conformance import SPEC, mem
from .test_word_parity import TEXTS, assert_alike

# "elsewhere" (3 of 16 memories) gets a graph of its own; "home" is over half the store.
URL_OPTIONS = "?namespace_graph_min=3"
GRAPHS = (
    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'memvault_memories' "
    "AND indexdef LIKE '%USING hnsw%'"
)
MEMORIES = [
    mem(text, seed, namespace=namespace)
    for seed, (namespace, text) in enumerate((ns, t) for ns, texts in TEXTS.items() for t in texts)
]


def graphs(database: str) -> dict[str, str]:
    with psycopg.connect(database) as conn:
        return dict(conn.execute(GRAPHS).fetchall())


def searches(store) -> dict[tuple[str, str], list[tuple[str, float]]]:
    """Word and vector rankings, unfiltered and in each namespace."""
    found = {}
    for namespace in (None, "home", "elsewhere"):
        flt = Filter(namespace=namespace)
        for query in QUERIES:
            got = store.text_search(query.lower().split(), 10, flt)
            found[("words", f"{namespace}:{query}")] = [(c.id, c.score) for c in got]
        for memory in MEMORIES[::4]:
            got = store.vector_search(np.asarray(memory.embedding), 5, flt)
            found[("vector", f"{namespace}:{memory.id}")] = [(c.id, c.score) for c in got]
    return found


def assert_same_searches(store, fresh) -> None:
    expected = searches(fresh)
    for key, got in searches(store).items():
        if key[0] == "words":
            assert_alike(got, expected[key], key[1])
        else:
            assert [i for i, _ in got] == [i for i, _ in expected[key]], key[1]
            assert [s for _, s in got] == pytest.approx([s for _, s in expected[key]])


def opened(database: str) -> PostgresStore:
    """The store opened while another connection holds every row, so that the
    background thread, which leaves held rows alone, converts none: ``optimize`` does."""
    with psycopg.connect(database) as conn:
        conn.execute("SELECT FROM memvault_memories FOR UPDATE")
        store = PostgresStore(database + URL_OPTIONS)
        store.word_converter.join()
    return store


@pytest.fixture
def old_store(database, pg_server):
    """A PostgreSQL store whose every row holds the words PostgreSQL made (as migration
    7 finds a store from before it), its graphs as they were, and a store in another
    database written afresh with the same memories."""
    name = f"t_{uuid.uuid4().hex}"
    fresh = PostgresStore(pg_server.create_database(name) + URL_OPTIONS)
    fresh.bind_embedding(SPEC)
    fresh.add(MEMORIES)
    fresh.optimize()
    store = PostgresStore(database + URL_OPTIONS)
    store.bind_embedding(SPEC)
    store.add(MEMORIES)
    store.optimize()  # the namespace graph
    store.close()
    built = graphs(database)
    assert len(built) == 2
    indexed = words_sql(f"left(content, {INDEXED_CHARS})")
    with psycopg.connect(database) as conn:
        conn.execute(
            f"UPDATE memvault_memories SET words = to_tsvector('{TEXT_CONFIG}'::regconfig, "
            f"{indexed}), words_stale = true WHERE parent_id IS NULL"
        )
        for statement in RECOUNT:
            conn.execute(statement)
    assert stale_rows(database) == len(MEMORIES)
    yield built, fresh
    fresh.close()
    pg_server.drop_database(name)


def test_optimize_converts_a_large_backlog_with_the_graphs_rebuilt(database, old_store):
    built, fresh = old_store
    store = opened(database)
    try:
        health = store.health()
        assert health["memories_with_old_words"] == stale_rows(database) > 0
        assert "memvault optimize" in health["old_words_note"]
        assert "problems" not in health  # searches work meanwhile
        done = store.optimize()
        assert any("vector graphs built after" in line for line in done)
        assert stale_rows(database) == 0
        assert graphs(database) == built
        assert_same_searches(store, fresh)
        health = store.health()
        assert health["memories_with_old_words"] == 0 and "old_words_note" not in health
        assert health["vector_index"] == "hnsw"
    finally:
        store.close()


def test_an_optimize_that_fails_midway_leaves_the_graphs_and_goes_on(
    database, old_store, monkeypatch
):
    built, fresh = old_store
    monkeypatch.setattr(retokenize, "BULK_BATCH", 4)
    made = retokenize.document
    store = opened(database)
    try:
        monkeypatch.setattr(retokenize, "document", failing_after(6))
        with pytest.raises(StoreUnavailable):
            store.optimize()
        assert stale_rows(database) == len(MEMORIES) - 4
        assert graphs(database) == built
        monkeypatch.setattr(retokenize, "document", made)
        store.optimize()
        assert stale_rows(database) == 0
        assert graphs(database) == built
        assert_same_searches(store, fresh)
    finally:
        store.close()


# An optimize converting the old words with the graphs dropped, held after a few
# rows until told to go on (a line on stdin).
HELD = textwrap.dedent(
    """
    import sys
    import psycopg
    from memvault.stores.postgres import retokenize
    from memvault.stores.postgres.store import PostgresStore

    retokenize.BULK_BATCH = 4
    made, calls = retokenize.document, []

    def held(content):
        calls.append(content)
        if len(calls) == 7:
            print("held", flush=True)
            sys.stdin.readline()
        return made(content)

    with psycopg.connect(sys.argv[2]) as conn:  # no background conversion: see opened()
        conn.execute("SELECT FROM memvault_memories FOR UPDATE")
        store = PostgresStore(sys.argv[1])
        store.word_converter.join()
    retokenize.document = held
    print("\\n".join(store.optimize()), flush=True)
    store.close()
    """
)


def held_optimize(url: str, database: str) -> subprocess.Popen[str]:
    """``HELD`` started: it says "held" once it is, and goes on after a line on stdin."""
    return subprocess.Popen(
        [sys.executable, "-c", HELD, url, database],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def kill_an_optimize_midway(database: str) -> None:
    """Leave the state an optimize killed with the graphs dropped leaves."""
    process = held_optimize(database + URL_OPTIONS, database)
    try:
        assert process.stdout.readline().strip() == "held"
    finally:
        process.kill()
        process.wait()
    assert graphs(database) == {}


def test_an_optimize_killed_midway_is_finished_by_the_next(database, old_store):
    built, fresh = old_store
    url = database + URL_OPTIONS
    kill_an_optimize_midway(database)
    assert stale_rows(database) > 0
    store = PostgresStore(url)
    try:
        health = store.health()
        assert health["vector_index"] == "missing"
        assert "memvault optimize" in health["vector_index_note"]
        store.optimize()
        store.word_converter.join()
        assert stale_rows(database) == 0
        assert graphs(database) == built
        assert "vector_index_note" not in store.health()
        assert_same_searches(store, fresh)
    finally:
        store.close()
