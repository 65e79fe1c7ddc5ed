"""The PostgreSQL store's upkeep: the journal, statistics as aggregate queries, optimize.

Kept apart from ``store.py`` so the adapter's read/write path stays short.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from ...model import Filter, utcnow
from ..base import DetailedStats, StoreStats
from . import graph_order, namespace_graphs
from .bulk_load import index_built_at_end
from .database import Database
from .options import PostgresOptions
from .retokenize import rebuild_worth_it, retokenize
from .rows import Cursor, one_row, one_value
from .schema import GIN_INDEXES, build_memory_sql, filter_sql

PAGE = 200
_UTC = "m.created_at AT TIME ZONE 'UTC'"


def journal_put(db: Database, kind: str, key: str, value: dict[str, Any]) -> None:
    def write(cur: Cursor) -> None:
        cur.execute(
            "INSERT INTO memvault_journal (kind, key, value) VALUES (%s, %s, %s) "
            "ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, "
            "updated_at = now()",
            (kind, key, json.dumps(value, ensure_ascii=False)),
        )

    db.write(write)


def journal_get(db: Database, kind: str, key: str) -> dict[str, Any] | None:
    with db.cursor() as cur:
        cur.execute("SELECT value FROM memvault_journal WHERE kind = %s AND key = %s", (kind, key))
        row = cur.fetchone()
    return json.loads(row.value) if row else None


def journal_list(db: Database, kind: str, prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    # Keyset pages: a long log streams, and no connection is held between pages.
    last = ""
    while True:
        with db.cursor() as cur:
            cur.execute(
                "SELECT key, value FROM memvault_journal WHERE kind = %s AND key > %s "
                "AND starts_with(key, %s) ORDER BY key LIMIT %s",
                (kind, last, prefix, PAGE),
            )
            rows = cur.fetchall()
        for row in rows:
            yield row.key, json.loads(row.value)
        if len(rows) < PAGE:
            return
        last = rows[-1].key


def journal_delete(db: Database, kind: str, keys: Sequence[str]) -> None:
    def write(cur: Cursor) -> None:
        cur.execute(
            "DELETE FROM memvault_journal WHERE kind = %s AND key = ANY(%s)", (kind, list(keys))
        )

    db.write(write)


def stats(db: Database, namespace: str | None) -> StoreStats:
    """Totals by namespace, type, tag and month, and the time span, in a few queries."""
    where, params = filter_sql(Filter(namespace=namespace), utcnow())
    with db.cursor() as cur:

        def grouped(
            expr: str, source: str = "memvault_memories m", limit: str = ""
        ) -> list[tuple[Any, int]]:
            cur.execute(
                f"SELECT {expr} AS g, count(*) AS n FROM {source} WHERE {where} "
                f"GROUP BY g ORDER BY n DESC, g {limit}",
                params,
            )
            return [(r.g, r.n) for r in cur.fetchall()]

        cur.execute(
            f"SELECT count(*) AS total, min(m.created_at) AS oldest, max(m.created_at) AS newest "
            f"FROM memvault_memories m WHERE {where}",
            params,
        )
        span = one_row(cur)
        namespaces = dict(grouped("m.namespace"))
        by_type = dict(grouped("m.memory_type"))
        top_tags = grouped("t.tag", "memvault_memories m, unnest(m.tags) AS t(tag)", "LIMIT 20")
        months = grouped(f"to_char({_UTC}, 'YYYY-MM')")
    return StoreStats(
        total=span.total,
        namespaces=namespaces,
        by_type=by_type,
        top_tags=top_tags,
        per_month=dict(sorted(months)),
        oldest=span.oldest.isoformat() if span.oldest else None,
        newest=span.newest.isoformat() if span.newest else None,
    )


def detailed_stats(db: Database, flt: Filter, top: int) -> DetailedStats:
    """Every distribution in a handful of GROUP BY queries over the filtered rows."""
    now = utcnow()
    where, params = filter_sql(flt, now)
    all_where, all_params = filter_sql(flt.with_changes(include_expired=True), now)
    with db.cursor() as cur:

        def grouped(expr: str, source: str = "memvault_memories m") -> dict[Any, int]:
            cur.execute(
                f"SELECT {expr} AS g, count(*) AS n FROM {source} WHERE {where} GROUP BY g",
                params,
            )
            return {r.g: r.n for r in cur.fetchall()}

        cur.execute(
            f"SELECT count(*) AS total, coalesce(sum(octet_length(m.content)), 0) AS bytes "
            f"FROM memvault_memories m WHERE {where}",
            params,
        )
        sizes = one_row(cur)
        cur.execute(f"SELECT count(*) FROM memvault_memories m WHERE {all_where}", all_params)
        with_expired = one_value(cur)
        tags = sorted(
            grouped("t.tag", "memvault_memories m, unnest(m.tags) AS t(tag)").items(),
            key=lambda kv: (-kv[1], kv[0]),
        )
        buckets = grouped("least(floor(m.importance * 10)::int, 9)")
        hours = grouped(f"extract(hour FROM {_UTC})::int")
        weekdays = grouped(f"extract(isodow FROM {_UTC})::int - 1")
        months = grouped(f"to_char({_UTC}, 'YYYY-MM')")
        by_type = grouped("m.memory_type")
        cur.execute(
            f"SELECT m.id, octet_length(m.content) AS size FROM memvault_memories m "
            f"WHERE {where} ORDER BY size DESC, m.id LIMIT %s",
            (*params, top),
        )
        largest = [(r.id, r.size) for r in cur.fetchall()]
    return DetailedStats(
        total=sizes.total,
        expired=with_expired - sizes.total,
        content_bytes=int(sizes.bytes),
        by_tag=dict(tags[:top]),
        distinct_tags=len(tags),
        by_type=by_type,
        by_importance={f"{b / 10:.1f}": n for b, n in sorted(buckets.items())},
        by_hour=dict(sorted(hours.items())),
        by_weekday=dict(sorted(weekdays.items())),
        by_month=dict(sorted(months.items())),
        largest=largest,
    )


def optimize(db: Database, options: PostgresOptions, dimension: int | None) -> list[str]:
    """Make the words of rows stored with old ones, vacuum, and bring the namespace
    graphs up to date (with a store's ``dimension``: a model bound)."""
    if dimension is not None and rebuild_worth_it(db):
        # Many rows of old words, or the graph missing: rewritten with the graphs
        # dropped, and the vacuum too, then the graphs built once (``retokenize``).
        with index_built_at_end(db, options, dimension, None):
            converted = retokenize(db.write, bulk=True)
            done = vacuum(db, options, dimension)
        done.insert(0, f"words: {converted:,} rows made again, the vector graphs built after")
    else:
        retokenize(db.write)
        done = vacuum(db, options, dimension)
    if dimension is not None:
        done += namespace_graphs.update(db, options, dimension)
    return done


def vacuum(db: Database, options: PostgresOptions, dimension: int | None) -> list[str]:
    """Merge the GIN pending lists, rewrite the memories in write order (``graph_order``)
    and the other tables with VACUUM FULL, every index built again (the HNSW graphs
    in place too, with ``maintenance_work_mem`` raised to hold the store's), and
    refresh the statistics.

    The rewrite gives space back to the file system, as ``memvault optimize``
    promises, at the price of an exclusive lock while it runs (a minute or two
    per 100k memories with their graphs, mostly the graphs); the autovacuum
    daemon does the plain, non-blocking kind meanwhile.
    """
    with db.cursor() as cur:
        for index in GIN_INDEXES:
            cur.execute("SELECT gin_clean_pending_list(%s::regclass)", (index,))
        cur.execute("SELECT count(*) FROM memvault_memories")
        rows = one_value(cur)
    # On one connection of its own, which the memory setting lasts for; VACUUM
    # cannot run in a transaction block. CLUSTER and VACUUM FULL leave the
    # visibility map unset, which index-only scans need (the postings' are read
    # through their key alone, else every posting fetches its row: a 1,000,000
    # store's word ranking 25 % slower at p50): a plain VACUUM after each sets it.
    memory = (
        []
        if dimension is None
        else [build_memory_sql(rows, dimension, options.hnsw_m, session=True)]
    )
    db.run_outside_transaction(
        [
            *memory,
            graph_order.CLUSTER,
            "VACUUM (ANALYZE) memvault_memories",
            *(
                statement
                for table in ("memvault_postings", "memvault_journal", "memvault_meta")
                for statement in (f"VACUUM (FULL) {table}", f"VACUUM (ANALYZE) {table}")
            ),
        ]
    )
    return [
        "gin: merged the pending lists of the tag and metadata indexes",
        "cluster: rewrote the memories in the order they were written, and their indexes "
        "(the vector graphs too, built in that order)",
        "vacuum full: rewrote the other tables and their indexes without dead rows",
        "analyze: refreshed query planner statistics",
    ]
