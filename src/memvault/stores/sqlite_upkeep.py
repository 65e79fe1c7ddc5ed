"""The SQLite store's upkeep: analytics as aggregate queries, and compaction.

Kept apart from ``sqlite.py`` so the adapter's read/write path stays short;
everything here runs through the store's own connection and lock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..model import Filter, utcnow
from .base import DetailedStats
from .sqlite_schema import filter_sql, to_micros, vector_table_sql

if TYPE_CHECKING:
    from .sqlite import SqliteStore

# A vec0 table keeps vectors in fixed-size chunks per partition and frees a
# chunk only once it is empty; scattered deletes leave holes that inserts never
# reuse. Rebuild when at least this share of the slots (and one whole chunk)
# could be given back.
VECTOR_REBUILD_WASTE = 0.2

_SECONDS = "m.created_at / 1000000, 'unixepoch'"


def detailed_stats(store: SqliteStore, flt: Filter, top: int) -> DetailedStats:
    """Every distribution in a handful of GROUP BY queries over the filtered rows."""
    now = to_micros(utcnow())
    where, params = filter_sql(flt, now)
    expired_where, expired_params = filter_sql(flt.with_changes(include_expired=True), now)

    def grouped(expr: str) -> dict[Any, int]:
        return {g: n for g, n in store._rows(
            f"SELECT {expr} AS g, count(*) FROM memories m WHERE {where} GROUP BY g", params)}

    total, content_bytes = store._rows(
        f"SELECT count(*), coalesce(sum(length(CAST(m.content AS BLOB))), 0) "
        f"FROM memories m WHERE {where}", params)[0]
    with_expired = store._rows(f"SELECT count(*) FROM memories m WHERE {expired_where}",
                               expired_params)[0][0]
    tag_rows = store._rows(
        f"SELECT t.tag, count(*) AS n FROM memory_tags t JOIN memories m "
        f"ON m.rowid = t.memory_rowid WHERE {where} GROUP BY t.tag ORDER BY n DESC, t.tag",
        params)
    buckets = grouped("min(CAST(m.importance * 10 AS INTEGER), 9)")
    weekdays = grouped(f"(CAST(strftime('%w', {_SECONDS}) AS INTEGER) + 6) % 7")
    largest = store._rows(
        f"SELECT m.id, length(CAST(m.content AS BLOB)) AS size FROM memories m "
        f"WHERE {where} ORDER BY size DESC, m.id LIMIT ?", (*params, top))
    return DetailedStats(
        total=total,
        expired=with_expired - total,
        content_bytes=content_bytes,
        by_tag=dict(tag_rows[:top]),
        distinct_tags=len(tag_rows),
        by_type=grouped("m.memory_type"),
        by_importance={f"{b / 10:.1f}": n for b, n in sorted(buckets.items())},
        by_hour=dict(sorted(grouped(f"CAST(strftime('%H', {_SECONDS}) AS INTEGER)").items())),
        by_weekday=dict(sorted(weekdays.items())),
        by_month=dict(sorted(grouped(f"strftime('%Y-%m', {_SECONDS})").items())),
        largest=[(memory_id, size) for memory_id, size in largest],
    )


def optimize(store: SqliteStore) -> list[str]:
    """Merge the FTS index, compact the vector table if holes waste space, refresh the
    planner's statistics, VACUUM, and truncate the WAL. Returns what was done."""
    steps = []
    with store._write() as cur:
        cur.execute("INSERT INTO memories_fts(memories_fts) VALUES ('optimize')")
        steps.append("fts: merged index segments")
        spec = store.embedding_spec()
        if spec is not None and _vector_slots_wasted(cur) >= VECTOR_REBUILD_WASTE:
            _rebuild_vectors(cur, spec.dimension)
            steps.append("vectors: rebuilt the vec0 table without deleted slots")
        cur.execute("ANALYZE")
        steps.append("analyze: refreshed query planner statistics")
    with store._lock:
        # VACUUM cannot run inside a transaction; it rewrites the file compactly.
        store._conn.execute("VACUUM")
        store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    steps += ["vacuum: rewrote the database file", "wal: checkpointed and truncated"]
    return steps


def _vector_slots_wasted(cur: Any) -> float:
    """Share of vec0 slots a rebuild would give back; 0 when less than a chunk."""
    chunks = cur.execute("SELECT partition00, size FROM memory_vectors_chunks").fetchall()
    if not chunks:
        return 0.0
    # Every memory row, chunks included, has exactly one vector in its namespace.
    live = dict(cur.execute("SELECT namespace, count(*) FROM memories GROUP BY namespace"))
    size = max(s for _, s in chunks)
    slots = sum(s for _, s in chunks)
    needed = sum(-(-n // size) * size for n in live.values())
    wasted = slots - needed
    return wasted / slots if wasted >= size else 0.0


def _rebuild_vectors(cur: Any, dimension: int) -> None:
    """Copy the vectors out, recreate the vec0 table, copy them back: one transaction.

    (vec0 cannot be renamed: its shadow tables keep the old name.)
    """
    cur.execute("CREATE TEMP TABLE vectors_copy AS "
                "SELECT rowid AS id, namespace, embedding FROM memory_vectors")
    cur.execute("DROP TABLE memory_vectors")
    cur.execute(vector_table_sql(dimension))
    cur.execute("INSERT INTO memory_vectors(rowid, namespace, embedding) "
                "SELECT id, namespace, embedding FROM vectors_copy ORDER BY namespace, id")
    cur.execute("DROP TABLE temp.vectors_copy")
