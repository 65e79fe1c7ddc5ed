"""The SQLite store's upkeep: the journal, analytics as aggregate queries, compaction.

Kept apart from ``store.py`` so the adapter's read/write path stays short;
everything here runs through the store's own connection and lock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from ...model import Filter, from_micros, to_micros, utcnow
from ..base import DetailedStats, StoreStats
from .database import SqliteDatabase
from .schema import filter_sql

_SECONDS = "m.created_at / 1000000, 'unixepoch'"
PAGE = 200


def journal_put(db: SqliteDatabase, kind: str, key: str, value: dict[str, Any]) -> None:
    with db.write() as cur:
        cur.execute(
            "INSERT INTO journal(kind, key, value, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(kind, key) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            (kind, key, json.dumps(value, ensure_ascii=False), to_micros(utcnow())),
        )


def journal_get(db: SqliteDatabase, kind: str, key: str) -> dict[str, Any] | None:
    value = db.scalar("SELECT value FROM journal WHERE kind = ? AND key = ?", (kind, key))
    return json.loads(value) if value is not None else None


def journal_list(
    db: SqliteDatabase, kind: str, prefix: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    # Keyset pages, so a long log streams and the lock is not held between pages.
    last = ""
    while True:
        rows = db.rows(
            "SELECT key, value FROM journal WHERE kind = ? AND key > ? "
            "AND substr(key, 1, ?) = ? ORDER BY key LIMIT ?",
            (kind, last, len(prefix), prefix, PAGE),
        )
        for row in rows:
            yield row.key, json.loads(row.value)
        if len(rows) < PAGE:
            return
        last = rows[-1].key


def journal_delete(db: SqliteDatabase, kind: str, keys: Sequence[str]) -> None:
    with db.write() as cur:
        cur.executemany(
            "DELETE FROM journal WHERE kind = ? AND key = ?", [(kind, key) for key in keys]
        )


def stats(db: SqliteDatabase, namespace: str | None) -> StoreStats:
    """Totals by namespace, type, tag and month, and the time span, in a few queries."""
    where, params = filter_sql(Filter(namespace=namespace), to_micros(utcnow()))

    def grouped(expr: str) -> list[tuple[Any, int]]:
        return [
            (r.g, r.n)
            for r in db.rows(
                f"SELECT {expr} AS g, count(*) AS n FROM memories m WHERE {where} "
                f"GROUP BY g ORDER BY n DESC, g",
                params,
            )
        ]

    (span,) = db.rows(
        f"SELECT count(*) AS total, min(m.created_at) AS oldest, max(m.created_at) AS newest "
        f"FROM memories m WHERE {where}",
        params,
    )
    top_tags = [
        (r.tag, r.n)
        for r in db.rows(
            f"SELECT t.tag, count(*) AS n FROM memory_tags t JOIN memories m "
            f"ON m.rowid = t.memory_rowid WHERE {where} GROUP BY t.tag "
            f"ORDER BY n DESC, t.tag LIMIT 20",
            params,
        )
    ]
    months = grouped(f"strftime('%Y-%m', {_SECONDS})")
    return StoreStats(
        total=span.total,
        namespaces=dict(grouped("m.namespace")),
        by_type=dict(grouped("m.memory_type")),
        top_tags=top_tags,
        per_month=dict(sorted(months)),
        oldest=_iso(span.oldest),
        newest=_iso(span.newest),
    )


def _iso(micros: int | None) -> str | None:
    value = from_micros(micros)
    return value.isoformat() if value is not None else None


def detailed_stats(db: SqliteDatabase, flt: Filter, top: int) -> DetailedStats:
    """Every distribution in a handful of GROUP BY queries over the filtered rows."""
    now = to_micros(utcnow())
    where, params = filter_sql(flt, now)
    expired_where, expired_params = filter_sql(flt.with_changes(include_expired=True), now)

    def grouped(expr: str) -> dict[Any, int]:
        return {
            r.g: r.n
            for r in db.rows(
                f"SELECT {expr} AS g, count(*) AS n FROM memories m WHERE {where} GROUP BY g",
                params,
            )
        }

    (sizes,) = db.rows(
        f"SELECT count(*) AS total, coalesce(sum(length(CAST(m.content AS BLOB))), 0) AS bytes "
        f"FROM memories m WHERE {where}",
        params,
    )
    with_expired = db.scalar(
        f"SELECT count(*) FROM memories m WHERE {expired_where}", expired_params
    )
    tag_rows = db.rows(
        f"SELECT t.tag, count(*) AS n FROM memory_tags t JOIN memories m "
        f"ON m.rowid = t.memory_rowid WHERE {where} GROUP BY t.tag ORDER BY n DESC, t.tag",
        params,
    )
    buckets = grouped("min(CAST(m.importance * 10 AS INTEGER), 9)")
    weekdays = grouped(f"(CAST(strftime('%w', {_SECONDS}) AS INTEGER) + 6) % 7")
    largest = db.rows(
        f"SELECT m.id, length(CAST(m.content AS BLOB)) AS size FROM memories m "
        f"WHERE {where} ORDER BY size DESC, m.id LIMIT ?",
        (*params, top),
    )
    return DetailedStats(
        total=sizes.total,
        expired=with_expired - sizes.total,
        content_bytes=sizes.bytes,
        by_tag={r.tag: r.n for r in tag_rows[:top]},
        distinct_tags=len(tag_rows),
        by_type=grouped("m.memory_type"),
        by_importance={f"{b / 10:.1f}": n for b, n in sorted(buckets.items())},
        by_hour=dict(sorted(grouped(f"CAST(strftime('%H', {_SECONDS}) AS INTEGER)").items())),
        by_weekday=dict(sorted(weekdays.items())),
        by_month=dict(sorted(grouped(f"strftime('%Y-%m', {_SECONDS})").items())),
        largest=[(r.id, r.size) for r in largest],
    )


def optimize(db: SqliteDatabase) -> list[str]:
    """Merge the FTS index, refresh the planner's statistics, VACUUM (which gives
    back the pages of deleted rows, vectors included), and truncate the WAL.
    Returns what was done."""
    steps = []
    with db.write() as cur:
        cur.execute("INSERT INTO memories_fts(memories_fts) VALUES ('optimize')")
        steps.append("fts: merged index segments")
        cur.execute("ANALYZE")
        steps.append("analyze: refreshed query planner statistics")
    # VACUUM cannot run inside a transaction; it rewrites the file compactly.
    db.run_outside_transaction(["VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"])
    steps += ["vacuum: rewrote the database file", "wal: checkpointed and truncated"]
    return steps
