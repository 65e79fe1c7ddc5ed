"""The PostgreSQL word counts BM25 reads (``words``): each connection adds to its own
stripe, so a write does not wait for another's commit, and the sums stay the
rows' counts through writes, deletes and recounts (an older memvault's
recount included). Concurrent writers: ``test_postgres_postings``."""

from __future__ import annotations

import psycopg

from memvault.stores.postgres.store import PostgresStore
from memvault.stores.postgres.words import RECOUNT, STRIPES, count_rows, counts_sql

from .test_sqlite_words import notes
from .test_store_conformance import SPEC, mem

# Every lexeme's count from the rows, and the totals on the empty lexeme.
FROM_ROWS = """
SELECT '' AS lexeme, count(*) AS documents, coalesce(sum(word_count), 0) AS tokens
FROM memvault_memories WHERE parent_id IS NULL
UNION ALL
SELECT lexeme, count(*), 0 FROM memvault_memories, unnest(tsvector_to_array(words)) AS lexeme
WHERE parent_id IS NULL GROUP BY lexeme
"""


def assert_counts_follow_the_rows(database: str, stripes_at_least: int = 0) -> None:
    """The counts a search reads are the rows' (and were added in so many stripes)."""
    with psycopg.connect(database) as conn:
        expected = sorted(conn.execute(FROM_ROWS).fetchall())
        assert len(expected) > 1  # the check compares something
        kept = [
            (lexeme, documents, tokens)
            for lexeme, documents, tokens in conn.execute(
                f"SELECT l.lexeme, {counts_sql('l.lexeme')}, {counts_sql('l.lexeme', 'tokens')} "
                "FROM (SELECT lexeme FROM memvault_words UNION "
                "SELECT lexeme FROM memvault_word_stripes) AS l"
            )
            if documents or lexeme == ""
        ]
        assert sorted(kept) == expected
        stripes = conn.execute("SELECT count(DISTINCT stripe) FROM memvault_word_stripes")
        assert stripes.fetchone()[0] >= stripes_at_least


def test_a_write_does_not_wait_for_another_writers_uncommitted_counts(database):
    # One connection, so the store writes through a known stripe; a lock it would
    # wait for fails the write at once instead.
    store = PostgresStore(f"{database}?pool_size=1&options=-clock_timeout%3D2000")
    store.bind_embedding(SPEC)
    first = mem("common words first", 1)
    store.add([first])
    with store._db.cursor() as cur:
        cur.execute(f"SELECT mod(pg_backend_pid(), {STRIPES}) AS stripe")
        taken = cur.fetchone().stripe
    other = psycopg.connect(database)
    while other.info.backend_pid % STRIPES == taken:
        other.close()
        other = psycopg.connect(database)
    try:
        # Another writer's counts for the same words, not committed yet (its WAL
        # flush, say): the empty lexeme's totals and "common", "words" locked.
        other.execute(
            "WITH r AS (SELECT true AS top, 'common:1 words:2'::tsvector AS words, "
            f"2 AS word_count), counted AS ({count_rows('r', 1)}) SELECT 1"
        )
        store.add([mem("common words again", 2)])
        store.add([mem(f"common words in a batch {i}", 3 + i) for i in range(3)])
        store.delete([first.id])
    finally:
        other.rollback()
        other.close()
    assert_counts_follow_the_rows(database)
    store.close()


def test_a_recount_empties_the_stripes_and_writes_fill_them_again(database):
    stores = [PostgresStore(database) for _ in range(2)]
    stores[0].bind_embedding(SPEC)
    memories = [mem(text, 100 + i) for i, text in enumerate(notes(60, seed=5))]
    stores[0].add(memories[:30])
    for memory in memories[30:]:
        stores[1].add([memory])
    stores[1].delete([m.id for m in memories[::3]])
    assert_counts_follow_the_rows(database, stripes_at_least=2)
    # A recount (a bulk load's, an older memvault's, which knows only
    # memvault_words) puts every count in one row per lexeme.
    with psycopg.connect(database) as conn, conn.transaction():
        for statement in RECOUNT:
            conn.execute(statement)
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM memvault_word_stripes").fetchone()[0] == 0
    assert_counts_follow_the_rows(database)
    stores[0].add([mem("written after the recount", 500)])
    stores[1].delete([memories[1].id])
    assert_counts_follow_the_rows(database, stripes_at_least=1)
    for store in stores:
        store.close()
