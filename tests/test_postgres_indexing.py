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
from memvault.stores.postgres import writes as postgres_writes
from memvault.stores.postgres.indexing import VectorIndexer

from .test_postgres_store import waiting_in_table
from .test_store_conformance import mem


def left_waiting(pg, count: int) -> list:
    """Memories written as a server's writes leave them, no indexer woken; in the
    order of their rows (the indexer's)."""
    memories = [mem(f"waiting {i}", 900 + i) for i in range(count)]
    postgres_writes.add(pg._db, memories, [m.embedding for m in memories], deferred=True)
    assert waiting_in_table(pg_url(pg)) == count
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
