"""A bulk load into PostgreSQL: the HNSW index dropped first and built once at the end.

Building the graph once over all vectors is many times faster than updating
it row by row. Meanwhile searches still work, comparing every vector. The
build needs ``maintenance_work_mem`` to hold the whole graph, or it slows
down sharply once the graph outgrows it; by default it is raised (for this
build only, never lowered) to what the graph of the rows then in the table
takes. The server's parallel maintenance workers share the build. The
graphs of large namespaces (``namespace_graphs``) are dropped too and built
again after it.

Before the build the word counts, which the load's own batches skip, are
counted once from the rows, the table is rewritten in write order if rows
moved (``graph_order``: the graph depends on the order it is built in), and
vacuumed and analyzed: that
merges the GIN pending lists, refreshes the statistics and leaves autovacuum
nothing to do about the load, which it would otherwise start on within a
minute, on the same cores as the build. The build itself is one ``CREATE
INDEX``, timed and logged with its settings.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

from . import graph_order, namespace_graphs
from .database import Database
from .options import PostgresOptions
from .rows import Cursor, one_row, one_value
from .schema import MOVE_WAITING, VECTOR_INDEX, hnsw_graph_bytes, vector_index_sql
from .words import RECOUNT

log = logging.getLogger(__name__)
# What the build logs: the index, its seconds, maintenance_work_mem and parallel workers.
BUILT = "built %s in %.1f s (maintenance_work_mem %s, max_parallel_maintenance_workers %s)"


@contextlib.contextmanager
def index_built_at_end(
    db: Database, options: PostgresOptions, dimension: int, maintenance_work_mem: str | None
) -> Iterator[None]:
    """Drop the vector index now; on leaving, even after a failure, count the words
    and build the indexes again (a failed load must not leave the store without them)."""
    with db.cursor() as cur:
        cur.execute(f"DROP INDEX IF EXISTS {VECTOR_INDEX}")
        namespace_graphs.drop_all(cur)
    try:
        yield
    finally:
        db.write(recount_words)
        with db.cursor() as cur:
            # Vectors waiting move for free while there is no index to update.
            cur.execute(
                f"UPDATE memvault_memories m SET {MOVE_WAITING} WHERE fresh_embedding IS NOT NULL"
            )
            # The graphs are built in the table's order: the order of the writes, as
            # the first load's graph was (``graph_order``), unless rows moved since.
            late = graph_order.rows_out_of_order(cur)
            reorder = [graph_order.CLUSTER] if late else []
        # The postings too: their index is read alone only where the table's pages
        # are marked all visible.
        db.run_outside_transaction(
            [*reorder, "VACUUM (ANALYZE) memvault_memories, memvault_postings"]
        )
        if reorder:
            log.info(
                "rewrote the memories in the order they were written before the build "
                "(%s rows lay far later than written)",
                late,
            )
        with db.cursor(transaction=True) as cur:
            build_vector_index(cur, options, dimension, maintenance_work_mem)
            statements, done = namespace_graphs.changes(cur, options, dimension, concurrently=False)
            for statement in statements:
                cur.execute(statement)
            for line in done:
                log.info("%s", line)


def build_vector_index(
    cur: Cursor, options: PostgresOptions, dimension: int, maintenance_work_mem: str | None
) -> None:
    """CREATE INDEX for the vectors, in the caller's transaction, with
    ``maintenance_work_mem`` (by default what the graph of the rows takes)."""
    if maintenance_work_mem is None:
        cur.execute("SELECT count(*) FROM memvault_memories")
        graph = one_value(cur) * hnsw_graph_bytes(dimension, options.hnsw_m)
        cur.execute(
            "SELECT set_config('maintenance_work_mem', greatest(%s, "
            "pg_size_bytes(current_setting('maintenance_work_mem')) "
            "/ 1024)::text || 'kB', true)",
            (graph // 1024 + 1,),
        )
    else:
        cur.execute("SELECT set_config('maintenance_work_mem', %s, true)", (maintenance_work_mem,))
    cur.execute(
        "SELECT current_setting('maintenance_work_mem') AS memory, "
        "current_setting('max_parallel_maintenance_workers') AS workers"
    )
    settings = one_row(cur)
    started = time.perf_counter()
    cur.execute(vector_index_sql(VECTOR_INDEX, options.hnsw_m, options.hnsw_ef_construction))
    log.info(
        BUILT,
        VECTOR_INDEX,
        time.perf_counter() - started,
        settings.memory,
        settings.workers,
    )


def recount_words(cur: Cursor) -> None:
    for statement in RECOUNT:
        cur.execute(statement)
