"""A PostgreSQL store whose words PostgreSQL's parser and stemmer made (before
migration 7) gets memvault's words once opened, in batches that resume after
an interruption, and then ranks words as the SQLite store does."""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from memvault.errors import StoreUnavailable
from memvault.model import Filter
from memvault.stores.postgres import retokenize
from memvault.stores.postgres.store import PostgresStore
from memvault.stores.sqlite.store import SqliteStore

from .test_postgres_setup import back_to_version
from .test_store_conformance import SPEC, mem
from .test_word_parity import TEXTS, assert_alike

QUERIES = ["running days", "happy connections", "O'Brien's café", "3.14 pi"]


def rankings(store) -> dict[str, list[tuple[str, float]]]:
    return {
        query: [
            (c.id, c.score)
            for c in store.text_search(query.lower().split(), 10, Filter(namespace="home"))
        ]
        for query in QUERIES
    }


def stale_rows(database: str) -> int:
    with psycopg.connect(database) as conn:
        found = conn.execute("SELECT count(*) FROM memvault_memories WHERE words_stale")
        return int(found.fetchone()[0])


def failing_after(calls: int) -> Callable[[str], tuple[str, int]]:
    """``retokenize.document`` until it has made ``calls`` rows' words, then the
    server gone away."""
    made, seen = retokenize.document, []

    def failing(content: str) -> tuple[str, int]:
        seen.append(content)
        if len(seen) > calls:
            raise StoreUnavailable("the server went away")
        return made(content)

    return failing


def test_old_words_are_made_again_in_batches_that_resume(database, tmp_path, monkeypatch):
    memories = [mem(t, i, namespace="home") for i, t in enumerate(TEXTS["home"])]
    sqlite = SqliteStore(tmp_path / "store.db")
    sqlite.bind_embedding(SPEC)
    sqlite.add(memories)
    store = PostgresStore(database)
    store.bind_embedding(SPEC)
    store.add(memories)
    store.close()
    with psycopg.connect(database) as conn:
        back_to_version(conn, 6)
    # PostgreSQL's own words rank otherwise ("days" is "day" to Snowball English).
    with psycopg.connect(database) as conn:
        (old,) = conn.execute(
            "SELECT words::text FROM memvault_memories WHERE content LIKE 'The runner%'"
        ).fetchone()
    assert "'day'" in old and "'dai'" not in old

    # The opening starts converting, 4 rows a batch, and the server goes away in
    # the third batch.
    monkeypatch.setattr(retokenize, "BATCH", 4)
    made = retokenize.document
    monkeypatch.setattr(retokenize, "document", failing_after(9))
    store = PostgresStore(database)
    store.word_converter.join()
    store.close()
    assert stale_rows(database) == len(memories) - 8

    monkeypatch.setattr(retokenize, "document", made)
    store = PostgresStore(database)
    store.word_converter.join()
    try:
        assert stale_rows(database) == 0
        expected = rankings(sqlite)
        for query, got in rankings(store).items():
            assert_alike(got, expected[query], query)
        # New writes get the same words as the converted rows.
        extra = mem("more running days", 99, namespace="home")
        for each in (store, sqlite):
            each.add([extra])
        assert_alike(
            rankings(store)["running days"], rankings(sqlite)["running days"], "after a write"
        )
    finally:
        store.close()
        sqlite.close()


def test_a_row_an_older_memvault_writes_gets_its_words_at_optimize(database, tmp_path):
    memories = [mem(t, i, namespace="home") for i, t in enumerate(TEXTS["home"])]
    late = mem("running days, written by an older server", 50, namespace="home")
    sqlite = SqliteStore(tmp_path / "store.db")
    store = PostgresStore(database)
    try:
        for each in (sqlite, store):
            each.bind_embedding(SPEC)
            each.add(memories)
        sqlite.add([late])
        with psycopg.connect(database) as conn:  # as a memvault before migration 7 wrote it
            conn.execute(
                "INSERT INTO memvault_memories (id, namespace, content, content_hash, "
                "memory_type, importance, created_at, updated_at, embedding) "
                "SELECT %s, namespace, %s, %s, memory_type, importance, created_at, updated_at, "
                "embedding FROM memvault_memories WHERE id = %s",
                (late.id, late.content, late.content_hash, memories[0].id),
            )
        assert stale_rows(database) == 1
        store.optimize()
        assert stale_rows(database) == 0
        expected = rankings(sqlite)
        for query, got in rankings(store).items():
            assert_alike(got, expected[query], query)
        assert late.id in {i for i, _ in rankings(store)["running days"]}
    finally:
        store.close()
        sqlite.close()
