"""What ``health`` reports of a PostgreSQL store: the server, the pool, the vector
graphs (the store's and the large namespaces') and the words still to convert, and
problems that make writes fail."""

from __future__ import annotations

from typing import Any

from . import namespace_graphs
from .database import Database
from .graph_lock import holder
from .options import PostgresOptions
from .retokenize import stale_rows
from .rows import one_row
from .schema import VECTOR_INDEX_VALID
from .statistics import FilterStatistics

# A health check answers within this, even while the server is busy.
HEALTH_WAIT_S = 5.0


def store_health(
    db: Database,
    statistics: FilterStatistics,
    options: PostgresOptions,
    *,
    url: str,
    identity: str,
    waiting: int,
    embedded: bool,
) -> dict[str, Any]:
    """The report; ``waiting``: vectors not yet in the graph; ``embedded``: a model is bound."""
    # Read (at most once a minute) before the report's connection is taken.
    estimated, total = statistics.namespace_rows() if embedded else ({}, 0.0)
    with db.cursor(timeout=HEALTH_WAIT_S) as cur:
        cur.execute(
            "SELECT current_setting('server_version') AS server, (SELECT extversion FROM "
            "pg_extension WHERE extname = 'vector') AS pgvector, "
            f"pg_is_in_recovery() AS replica, {VECTOR_INDEX_VALID} AS indexed, "
            "current_setting('transaction_read_only') AS read_only"
        )
        found = one_row(cur)
        old_words = stale_rows(cur)
        graphs = namespace_graphs.states(cur, options, estimated, total) if embedded else None
        slower = any(state != "hnsw" for state in (graphs or {}).values())
        building = holder(cur) if embedded and (not found.indexed or slower) else None
    problems = []
    if found.replica:
        problems.append("read-only: the server is a standby; reads work, writes fail")
    elif found.read_only == "on":
        problems.append(
            "read-only: the server starts every transaction read-only "
            "(default_transaction_read_only); reads work, writes fail"
        )
    if db.write_failures.last:
        problems.append(f"writes fail: {db.write_failures.last}")
    report = {
        "backend": "postgres",
        "url": url,
        "identity": identity,
        "server_version": found.server,
        "pgvector_version": found.pgvector,
        "read_only_replica": found.replica,
        "pool": db.pool_stats(),
        "vectors_waiting_for_index": waiting,
        "memories_with_old_words": old_words,
        "vector_index": ("hnsw" if found.indexed else "missing") if embedded else None,
        # By namespace: "hnsw", "building", "invalid" or "missing" (``states``).
        "namespace_graphs": graphs,
    }
    if report["vector_index"] == "missing":
        report["vector_index_note"] = (
            f"searches compare every vector (slower) until {building}, now rebuilding "
            "the vector graphs, has ended"
            if building
            else "searches compare every vector (slower) until the graph is built again, by "
            "`memvault optimize` or in the background by a `memvault serve` started since: "
            "an optimize or bulk load was killed"
        )
    # Like the store's graph, not a problem: those searches work, slower. The note
    # names no namespace: a key bound to others sees the graphs of its own only.
    if slower:
        report["namespace_graphs_note"] = (
            "searches in a namespace whose graph is missing, invalid or being built walk "
            "the store's graph with the namespace as a filter (slower) until "
            + (
                f"{building}, now rebuilding the vector graphs, has ended"
                if building
                else "it is built by `memvault optimize` or in the background by a "
                "`memvault serve` started since; an invalid one is still updated by "
                "every write"
            )
        )
    if old_words:  # not a problem: searches work, some rows' words rank otherwise
        report["old_words_note"] = (
            f"{old_words:,} memories keep the words PostgreSQL made, which word searches "
            "rank otherwise; a background thread converts them slowly, `memvault optimize` "
            "fast (writes wait while it rebuilds the vector graphs)"
        )
    return {**report, "problems": problems} if problems else report
