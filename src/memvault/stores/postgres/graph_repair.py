"""Vector graphs an interrupted optimize or bulk load left missing, built again in
the background by a long-running process.

Killed while the graphs were dropped, an optimize or a bulk load leaves the
store without them: searches compare every vector (slower, the same
results) until they are built. Killed after the store's graph was built
again, or while building a namespace's (``namespace_graphs``) concurrently,
it leaves a namespace's graph missing or invalid: searches there walk the
store's graph, and every write still updates an invalid graph. A missing
namespace graph cannot be told from one a namespace grown large since the
last optimize never had; either is built. ``optimize`` builds them, and so does
``memvault serve`` at its start (``GraphBuilder``), in a thread: opening the
store must not wait (a graph of a million memories takes about 17 minutes),
and a short command (a search, a store) would end before a build it started.
The build is ``CREATE INDEX CONCURRENTLY``, so writes and searches go on. It
runs under ``graph_lock``, on the lock's own connection, so it never races an
optimize or a bulk load (one running builds the graphs at its end anyway),
and the lock lasts exactly as long as the build. It walks the table as it
lies, which the rewrite in write order that the graph depends on
(``graph_order``) would lock for minutes, so it says when rows are out of
that order and ``optimize`` is worth running. Closing the store cancels a
build under way; the invalid index that leaves counts as missing, and the
next build drops it first.
"""

from __future__ import annotations

import logging
import time

import psycopg
from psycopg.rows import namedtuple_row

from ...errors import Conflict, MemvaultError
from . import graph_order, namespace_graphs
from .background import BackgroundWork
from .database import Database
from .graph_lock import rebuilding_graphs
from .options import PostgresOptions
from .rows import one_value
from .schema import VECTOR_INDEX, VECTOR_INDEX_VALID, build_memory_sql, vector_index_sql

log = logging.getLogger(__name__)

ROWS = "SELECT count(*) FROM memvault_memories"


def build(conn: psycopg.Connection, options: PostgresOptions, dimension: int) -> list[str]:
    """Build the store's graph if it is missing and the namespaces' that are, on
    ``conn`` (autocommit); what was done."""
    with conn.cursor(row_factory=namedtuple_row) as cur:
        done = []
        if not one_value(cur.execute(f"SELECT {VECTOR_INDEX_VALID}")):
            rows = one_value(cur.execute(ROWS))
            started = time.perf_counter()
            for statement in (
                f"DROP INDEX CONCURRENTLY IF EXISTS {VECTOR_INDEX}",  # left invalid
                build_memory_sql(rows, dimension, options.hnsw_m, session=True),
                vector_index_sql(
                    VECTOR_INDEX, options.hnsw_m, options.hnsw_ef_construction, concurrently=True
                ),
            ):
                cur.execute(statement)
            done.append(
                f"vector graph: built {VECTOR_INDEX} over {rows:,} rows "
                f"in {time.perf_counter() - started:.1f} s"
            )
            if behind := graph_order.rows_out_of_order(cur):
                done.append(
                    f"vector graph: built over {behind:,} rows out of the order they were "
                    "written in, which can leave some true neighbours unfound; `memvault "
                    "optimize` builds it again in that order"
                )
        statements, built = namespace_graphs.changes(cur, options, dimension, concurrently=True)
        for statement in statements:
            cur.execute(statement)
    return done + built


class GraphBuilder(BackgroundWork):
    """The background build of missing graphs, at most one per store object."""

    def __init__(self, db: Database, options: PostgresOptions) -> None:
        super().__init__("memvault-graphs")
        self._db = db
        self._options = options

    def start(self, dimension: int) -> str | None:
        """Start building if a graph is missing, the store's or a namespace's; what is
        happening to the store's graph, in words, or None when it is there. Whether a
        namespace's is missing takes a count of every namespace's rows (0.15-0.4 s at
        a million memories), so the thread looks, and says so in the log."""
        if self.running:
            return None
        with self._db.cursor() as cur:
            store_graph = not one_value(cur.execute(f"SELECT {VECTOR_INDEX_VALID}"))
        if not store_graph:
            self._begin(self._build_namespaces, dimension)
            return None
        self._begin(self._build, dimension)
        return (
            "The store's vector graph is missing (an optimize or bulk load was killed, or "
            "is running): building it in the background unless that one still is. "
            "Searches compare every vector until then (slower, the same results); "
            "writes go on."
        )

    def _build_namespaces(self, dimension: int) -> None:
        try:
            with self._db.cursor() as cur:
                namespaces = namespace_graphs.missing(cur, self._options)
        except MemvaultError as exc:
            log.warning("looking for missing namespace graphs failed: %s", exc)
            return
        if not namespaces or self._closing:
            return
        log.warning(
            "Namespace vector graphs are missing or invalid (%s: an optimize or bulk load "
            "was killed or is running, or a namespace grew large since the last optimize): "
            "building them in the background unless that one still is. Searches in those "
            "namespaces walk the store's graph until then; writes go on.",
            ", ".join(namespaces),
        )
        self._build(dimension)

    def _build(self, dimension: int) -> None:
        try:
            with (
                rebuilding_graphs(self._db, "graph build") as conn,
                self._cancellable(conn) as going_on,
            ):
                if not going_on:
                    return
                for line in build(conn, self._options, dimension):
                    log.warning("%s", line)
        except Conflict as exc:
            log.warning("not building the vector graphs here: %s", exc.message)
        except MemvaultError as exc:
            if not self._closing:
                log.warning(
                    "building the vector graphs failed (memvault optimize builds them): %s", exc
                )
