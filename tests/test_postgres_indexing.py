"""The indexer moves each waiting vector into the HNSW graph in a transaction of its
own (``indexing``): it holds one row at a time, so a write to any other waiting row
goes on; the background indexer leaves a row a writer holds to a later pass; and
every vector ends in the graph, none lost, with the writes kept."""

from __future__ import annotations

import threading
import time

import numpy as np
import psycopg

from memvault.model import Filter, MemoryChanges
from memvault.stores.postgres import ranking
from memvault.stores.postgres import writes as postgres_writes
from memvault.stores.postgres.indexing import VectorIndexer

from .test_postgres_store import waiting_in_table
from .test_store_conformance import mem, unit


def left_waiting(pg, count: int) -> list:
    """Memories written as a server's writes leave them, no indexer woken; in the
    order of their rows (the indexer's)."""
    return left_waiting_as(pg, [mem(f"waiting {i}", 900 + i) for i in range(count)])


def left_waiting_as(pg, memories: list) -> list:
    """``memories`` written as a server's writes leave them, in the order of their rows."""
    postgres_writes.add(pg._db, memories, [m.embedding for m in memories], deferred=True)
    assert waiting_in_table(pg_url(pg)) == len(memories)
    with psycopg.connect(pg_url(pg)) as conn:
        order = [i for (i,) in conn.execute("SELECT id FROM memvault_memories ORDER BY rowid")]
    return sorted(memories, key=lambda m: order.index(m.id))


def pg_url(pg) -> str:
    return pg._db._conninfo


def assert_all_indexed(pg, memories) -> None:
    """Every vector in the indexed column, as it was written."""
    with psycopg.connect(pg_url(pg)) as conn:
        assert conn.execute(
            "SELECT count(*) FROM memvault_memories WHERE id = ANY(%s) "
            "AND embedding IS NOT NULL AND fresh_embedding IS NULL",
            ([m.id for m in memories],),
        ).fetchone() == (len(memories),)
    for memory in memories:
        back = pg.get(memory.id, None, with_embedding=True)
        assert np.array_equal(back.embedding, memory.embedding)


def blocked_by(database: str, pid: int) -> bool:
    """Whether some session waits for a lock ``pid`` holds."""
    with psycopg.connect(database) as conn:
        return bool(
            conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                (pid,),
            ).fetchone()[0]
        )


def test_the_indexer_holds_one_row_at_a_time(pg):
    memories = left_waiting(pg, 10)
    database = pg_url(pg)
    drained = []
    with psycopg.connect(database) as holder:
        # A writer in the middle of its transaction on the last row to move.
        holder.execute(
            "UPDATE memvault_memories SET importance = 0.9 WHERE id = %s", (memories[-1].id,)
        )
        indexer = VectorIndexer(pg._db)
        thread = threading.Thread(target=lambda: drained.append(indexer.drain()))
        thread.start()  # without sharing: it waits for the held row
        try:
            deadline = time.monotonic() + 60
            while not blocked_by(database, holder.info.backend_pid):
                assert time.monotonic() < deadline and thread.is_alive()
                time.sleep(0.02)
            # While it waits for that row, it holds none of the others: each is moved
            # and committed, and another writer locks every one of them at once.
            with psycopg.connect(database) as other:
                free = other.execute(
                    "SELECT id FROM memvault_memories WHERE id = ANY(%s) "
                    "AND fresh_embedding IS NULL FOR UPDATE SKIP LOCKED",
                    ([m.id for m in memories[:-1]],),
                ).fetchall()
                assert len(free) == 9
            changed = pg.update(memories[0].id, MemoryChanges(tags=("changed",)))
            assert changed.tags == ("changed",)
        finally:
            holder.commit()
            thread.join()
    assert drained == [10]
    assert waiting_in_table(database) == 0
    assert_all_indexed(pg, memories)
    assert pg.get(memories[-1].id, None).importance == 0.9


def test_the_background_indexer_leaves_a_row_a_writer_holds_to_a_later_pass(pg):
    memories = left_waiting(pg, 10)
    database = pg_url(pg)
    held = memories[3]
    indexer = VectorIndexer(pg._db)
    with psycopg.connect(database) as writer:
        writer.execute("UPDATE memvault_memories SET tags = '{held}' WHERE id = %s", (held.id,))
        assert indexer.drain(share=True) == 9  # the held row skipped, not waited for
        with psycopg.connect(database) as conn:
            assert conn.execute(
                "SELECT id FROM memvault_memories WHERE fresh_embedding IS NOT NULL"
            ).fetchall() == [(held.id,)]
        writer.commit()
    assert indexer.drain(share=True) == 1
    assert waiting_in_table(database) == 0
    assert_all_indexed(pg, memories)
    assert pg.get(held.id, None).tags == ("held",)
    assert pg.vector_search(held.embedding, 1, Filter.build())[0].id == held.id


def stored_apart(database: str, column: str, memories) -> int:
    """Of ``memories``, how many hold ``column`` in the TOAST table, not in their rows."""
    with psycopg.connect(database) as conn:
        return conn.execute(
            f"SELECT count(*) FROM memvault_memories WHERE id = ANY(%s) "
            f"AND pg_column_toast_chunk_id({column}) IS NOT NULL",
            ([m.id for m in memories],),
        ).fetchone()[0]


def test_waiting_vectors_are_kept_in_their_rows_and_ranked_exactly(pg, monkeypatch):
    # Every search compares the waiting vectors; read from the TOAST table, each
    # cost microseconds more. A memory of a few dozen words makes its row,
    # with a 384-d vector, larger than the 2 kB past which PostgreSQL moves values out.
    rng = np.random.default_rng(11)
    texts = [" ".join(f"{w:x}" for w in rng.integers(16**6, size=30)) for _ in range(40)]
    indexed = [mem(text, 600 + i) for i, text in enumerate(texts[:20])]
    postgres_writes.add(pg._db, indexed, [m.embedding for m in indexed])
    waiting = [mem(text, 700 + i) for i, text in enumerate(texts[20:])]
    left_waiting_as(pg, waiting)
    database = pg_url(pg)
    with psycopg.connect(database) as conn:
        (smallest,) = conn.execute(
            "SELECT min(pg_column_size(m.*)) FROM memvault_memories m "
            "WHERE fresh_embedding IS NOT NULL"
        ).fetchone()
    assert smallest > 2_000
    assert stored_apart(database, "fresh_embedding", waiting) == 0
    word_hits = pg.text_search(texts[25].split()[:3], 5, Filter.build())

    # A query near two waiting vectors and an indexed one: ranked as numpy ranks them.
    query = unit(705) + 0.8 * unit(712) + 0.6 * unit(603)
    query /= np.linalg.norm(query)
    everything = indexed + waiting
    similarity = np.array([m.embedding @ query for m in everything])
    expected = [everything[i].id for i in np.argsort(-similarity)[:5]]
    for walked in (False, True):
        # All 40 compared exactly; or, as in a large store, the graph walked and the
        # waiting vectors compared on their own.
        monkeypatch.setattr(ranking, "EXACT_SEARCH_ROWS", 0 if walked else 2_000)
        found = pg.vector_search(query, 5, Filter.build())
        assert [c.id for c in found] == expected
        assert [c.id for c in found[:3]] == [waiting[5].id, waiting[12].id, indexed[3].id]
        assert np.allclose([c.score for c in found], sorted(similarity)[::-1][:5], atol=1e-5)

    pg.index_waiting_vectors()  # moved into the graph's column, unchanged
    assert_all_indexed(pg, waiting)
    # Laid out as the rows indexed at once: the vector apart, the words read by the
    # word ranking in the row.
    for column in ("embedding", "words"):
        assert stored_apart(database, column, waiting) == stored_apart(database, column, indexed)
    assert stored_apart(database, "words", waiting) < len(waiting)
    assert pg.text_search(texts[25].split()[:3], 5, Filter.build()) == word_hits
    assert word_hits[0].id == waiting[5].id
    assert [c.id for c in pg.vector_search(query, 5, Filter.build())] == expected
