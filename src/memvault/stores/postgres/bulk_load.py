"""A bulk load into PostgreSQL: the HNSW index dropped first and built once at the end.

Building the graph once over all vectors is many times faster than updating
it row by row. Meanwhile searches still work, comparing every vector. The
build needs ``maintenance_work_mem`` to hold the whole graph, or it slows
down sharply once the graph outgrows it; by default it is raised (for this
build only, never lowered) to what the graph of the rows then in the table
takes. The server's parallel maintenance workers share the build. The GIN
pending lists are merged and statistics refreshed at the end too, and the
word counts, which the load's own batches skip, counted once from the rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .database import Database
from .options import PostgresOptions
from .rows import Cursor, one_value
from .schema import GIN_INDEXES, VECTOR_INDEX, hnsw_graph_bytes, vector_index_sql
from .words import RECOUNT


@contextlib.contextmanager
def index_built_at_end(
    db: Database, options: PostgresOptions, dimension: int, maintenance_work_mem: str | None
) -> Iterator[None]:
    """Drop the vector index now; on leaving, even after a failure, count the words
    and build the indexes again (a failed load must not leave the store without them)."""
    with db.cursor() as cur:
        cur.execute(f"DROP INDEX IF EXISTS {VECTOR_INDEX}")
    try:
        yield
    finally:
        db.write(recount_words)
        with db.cursor(transaction=True) as cur:
            # Vectors waiting move for free while there is no index to update.
            cur.execute(
                "UPDATE memvault_memories SET embedding = fresh_embedding, "
                "fresh_embedding = NULL WHERE fresh_embedding IS NOT NULL"
            )
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
                cur.execute(
                    "SELECT set_config('maintenance_work_mem', %s, true)", (maintenance_work_mem,)
                )
            cur.execute(
                vector_index_sql(VECTOR_INDEX, options.hnsw_m, options.hnsw_ef_construction)
            )
            for index in GIN_INDEXES:
                cur.execute("SELECT gin_clean_pending_list(%s::regclass)", (index,))
            cur.execute("ANALYZE memvault_memories")


def recount_words(cur: Cursor) -> None:
    for statement in RECOUNT:
        cur.execute(statement)
