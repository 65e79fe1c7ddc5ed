"""A PostgreSQL store's vector graph built again, by ``optimize`` or at a bulk load's
end, finds the true nearest neighbours as well as the graph the store was first
built with, after updates moved rows: it is built over the rows in the order
they were written (``graph_order``). The background build, which cannot
reorder them, says so.

The store is one a graph's build order shows in: a few hundred vectors alike
(sentences on one subject, say) written before thousands unlike them, and a
small graph (m = 4). Built with the alike ones inserted last, as a build over
the table as it lies after they were updated inserts them, the graph found
about half of their ten nearest (0.47); in write order, nearly all (0.997).
"""

from __future__ import annotations

import logging

import numpy as np
import psycopg
import pytest

from memvault.model import Filter, Memory
from memvault.stores.postgres.graph_order import LATE
from memvault.stores.postgres.schema import VECTOR_INDEX
from memvault.stores.postgres.store import PostgresStore

from .test_store_conformance import DIM, SPEC

ALIKE = 300
OTHERS = 9_700
SMALL_GRAPH = "?hnsw_m=4&hnsw_ef_construction=8&ef_search=40&namespace_graph_min=0"


def vectors() -> np.ndarray:
    """ALIKE unit vectors near one direction, varying along 8 others, then OTHERS random."""
    rng = np.random.default_rng(1)
    centre = rng.standard_normal(DIM)
    centre /= np.linalg.norm(centre)
    spread = rng.standard_normal((DIM, 8)) / np.sqrt(DIM)
    alike = centre + rng.standard_normal((ALIKE, 8)) @ spread.T * 3 / np.sqrt(8)
    out = np.concatenate([alike, rng.standard_normal((OTHERS, DIM))]).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def recall_of_the_alike(store: PostgresStore, ids: list[str], every: np.ndarray) -> float:
    """Recall@10 of the graph for each alike vector, against every vector compared."""
    found = []
    for row in range(ALIKE):
        true = {ids[i] for i in np.argsort(-(every @ every[row]))[:10]}
        hits = store.vector_search(every[row], 10, Filter(namespace=None))
        found.append(len({h.id for h in hits} & true) / 10)
    return float(np.mean(found))


def rows_late(database: str) -> int:
    with psycopg.connect(database) as conn:
        return conn.execute(LATE).fetchone()[0]


@pytest.mark.parametrize("rebuild", ["optimize", "bulk load", "background build"])
def test_a_graph_built_again_after_updates_finds_the_neighbours_the_first_did(
    database, rebuild, caplog
):
    every = vectors()
    store = PostgresStore(database + SMALL_GRAPH)
    try:
        store.bind_embedding(SPEC)
        memories = [Memory(content=f"memory {n}", embedding=v) for n, v in enumerate(every)]
        # The graph built once over the rows as written; the alike ones first (a
        # batch's rows are written in their content hashes' order).
        with store.bulk_load():
            stored = store.add(memories[:ALIKE]) + store.add(memories[ALIKE:])
        ids = [memory.id for memory, _ in stored]
        first = recall_of_the_alike(store, ids, every)
        assert first >= 0.95

        # Rewritten in one statement (as a batch of the word conversion or of the
        # indexer rewrites rows), the alike rows get new versions at the table's end.
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute(
                "UPDATE memvault_memories SET importance = 0.9 WHERE id = ANY(%s)", (ids[:ALIKE],)
            )
        assert rows_late(database) == ALIKE

        if rebuild == "background build":
            # As a killed optimize leaves it: the graph missing. ``memvault serve``
            # builds it over the table as it lies, without the lock a rewrite takes,
            # and says so; ``optimize`` builds it again in write order.
            with psycopg.connect(database, autocommit=True) as conn:
                conn.execute(f"DROP INDEX {VECTOR_INDEX}")
            caplog.set_level(logging.WARNING, logger="memvault.stores.postgres.graph_repair")
            assert store.repair_in_background() is not None
            store.graph_builder.join()
            assert f"built over {ALIKE} rows out of the order they were written" in caplog.text
            assert rows_late(database) == ALIKE
        if rebuild == "bulk load":
            with store.bulk_load():
                pass
        else:
            store.optimize()
        assert recall_of_the_alike(store, ids, every) >= 0.95
        assert rows_late(database) == 0
    finally:
        store.close()


def test_rows_written_into_room_left_early_in_the_table_do_not_rewrite_it(database, caplog):
    """A table filled while autovacuum runs gets later rows here and there in the room
    earlier pages had left. Those lie early, which no graph minds, and shift the rows
    after them by a few places; a bulk load must not rewrite the table for them."""
    rng = np.random.default_rng(2)
    every = rng.standard_normal((3_300, DIM)).astype(np.float32)
    store = PostgresStore(database + SMALL_GRAPH)
    try:
        store.bind_embedding(SPEC)
        with store.bulk_load():
            store.add(
                [
                    Memory(content="long " * int(rng.integers(20, 180)) + str(n), embedding=v)
                    for n, v in enumerate(every[:3_000])
                ]
            )
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute("VACUUM memvault_memories")  # the room each page has left, noted
        caplog.set_level(logging.INFO, logger="memvault.stores.postgres.bulk_load")
        with store.bulk_load():
            store.add(
                [Memory(content=f"short {n}", embedding=v) for n, v in enumerate(every[3_000:])]
            )
            with psycopg.connect(database) as conn:
                early = conn.execute(
                    "SELECT count(*) FROM (SELECT row_number() OVER (ORDER BY ctid) "
                    "- row_number() OVER (ORDER BY rowid) AS late FROM memvault_memories) AS r "
                    "WHERE late < 0"
                ).fetchone()[0]
            assert early > 0  # short rows went into the room early pages had left
        assert rows_late(database) == 0
        assert "rewrote the memories" not in caplog.text
    finally:
        store.close()
