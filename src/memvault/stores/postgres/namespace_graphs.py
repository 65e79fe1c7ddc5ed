"""A vector graph of its own for each large namespace: partial HNSW indexes.

A search in one namespace walks the store's HNSW graph with the namespace
as a filter, and pgvector's iterative scan pays for every row it passes,
kept or not: for a namespace holding a tenth of the store, ten rows per row
kept. A partial index over one namespace's rows (``WHERE namespace = ...``)
is a graph of only those rows, walked unfiltered. The planner takes it for a
search in that namespace because the namespace is a literal in the
statement (``schema.filter_sql``), which proves the index's condition, also
in the one plan a prepared statement keeps for every vector.
Measured with 50 real questions (load average 6 to 7, so slow alike): at
1,000,000 memories in ten namespaces, the vector query in one namespace took
5.8 ms against 25-32 ms, the whole hybrid search 33.7 against 46-67 ms; at
100,000, 10.6 against 32 ms; the same top 10 either way.

``optimize`` builds a graph for each namespace holding at least
``namespace_graph_min`` memories (a URL option, 10,000 by default; 0 for
none) and at most ``MAX_SHARE`` of the store (a larger one gains
little over the store's graph), the ``MOST`` largest at most, and drops the
graphs of namespaces that no longer qualify; a bulk load drops them first
and builds them again at its end, with the store's graph. The cost: every
vector in such a namespace is inserted into two graphs (at 100,000 memories in ten
namespaces, writing and indexing 2,000 memories took 15.2 CPU seconds with a
graph per namespace against 7.0 and 8.2 without), and the index takes about
the namespace's share of the store's graph on disk.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import TypeVar

from psycopg import sql

from .database import Database
from .options import PostgresOptions
from .rows import Cursor, one_value
from .schema import build_memory_sql, vector_index_sql

MAX_SHARE = 0.5
MOST = 16
PREFIX = "memvault_namespace_graph_"

N = TypeVar("N", int, float)  # rows counted, or estimated

SIZES = "SELECT namespace, count(*) AS rows FROM memvault_memories GROUP BY namespace"
# Catalog rows only, and the server's list of index builds under way (read once):
# cheap enough for a health check. A concurrent build is listed with its index,
# which is invalid until the build ends.
EXISTING = f"""
SELECT c.relname AS name, i.indisvalid AS valid,
       pg_get_expr(i.indpred, i.indrelid) AS condition, p.pid IS NOT NULL AS building
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
LEFT JOIN pg_stat_progress_create_index p ON p.index_relid = i.indexrelid
WHERE i.indrelid = 'memvault_memories'::regclass AND starts_with(c.relname, '{PREFIX}')
"""
# How the server writes a graph's condition back (a namespace holds no backslash).
CONDITION = re.compile(r"\(namespace = '(.*)'::text\)")
# Whether a namespace holds at least so many rows, reading no more index entries.
AT_LEAST = (
    "SELECT count(*) AS rows FROM "
    "(SELECT FROM memvault_memories WHERE namespace = %s LIMIT %s) AS enough"
)


def graph_name(namespace: str) -> str:
    """The index name of a namespace's graph (a hash: names are limited to 63 bytes)."""
    return PREFIX + hashlib.sha256(namespace.encode()).hexdigest()[:16]


def existing(cur: Cursor) -> dict[str, bool]:
    """The namespace graphs there are, by name: whether each is valid (a concurrent
    build that failed leaves an invalid one)."""
    cur.execute(EXISTING)
    return {r.name: r.valid for r in cur.fetchall()}


def drop_all(cur: Cursor) -> None:
    for name in existing(cur):
        cur.execute(f"DROP INDEX IF EXISTS {name}")


def wanted_graphs(cur: Cursor, options: PostgresOptions) -> dict[str, tuple[str, int]]:
    """The graphs the namespaces qualify for, by name: the namespace and its rows."""
    if options.namespace_graph_min <= 0:
        return {}
    cur.execute(SIZES)
    sizes = {r.namespace: r.rows for r in cur.fetchall()}
    return {
        graph_name(namespace): (namespace, rows)
        for namespace, rows in qualifying(sizes, sum(sizes.values()), options)
    }


def qualifying(
    sizes: Mapping[str, N], total: float, options: PostgresOptions
) -> list[tuple[str, N]]:
    """The namespaces that get a graph, the largest first, with their rows: of
    ``sizes`` (rows by namespace) in a store of ``total`` rows."""
    if options.namespace_graph_min <= 0:
        return []
    largest = sorted(
        (
            (rows, namespace)
            for namespace, rows in sizes.items()
            if options.namespace_graph_min <= rows <= MAX_SHARE * total
        ),
        reverse=True,
    )[:MOST]
    return [(namespace, rows) for rows, namespace in largest]


def missing(cur: Cursor, options: PostgresOptions) -> list[str]:
    """What an interrupted build of the namespace graphs left, in words, for ``changes``
    to build or drop: a qualifying namespace's graph missing or invalid, and an
    invalid graph of one that no longer qualifies (every write still updates it)."""
    have = existing(cur)
    wanted = wanted_graphs(cur, options)
    return [
        f"the graph of namespace {namespace!r}"
        for name, (namespace, _) in wanted.items()
        if not have.get(name)
    ] + [
        f"the invalid graph {name}"
        for name, valid in have.items()
        if not valid and name not in wanted
    ]


def states(
    cur: Cursor, options: PostgresOptions, estimated: Mapping[str, float], total: float
) -> dict[str, str]:
    """For ``health``, cheaply: each namespace graph's state by namespace, ``hnsw``
    (valid), ``building`` (a concurrent build under way), ``invalid`` or ``missing``.

    Which graphs exist, and their state, is read from the catalog. Which are
    missing is judged from ``estimated`` (rows by namespace of a store of
    ``total``, from the planner's statistics, ``statistics.namespace_rows``),
    not from ``wanted_graphs``' count of every namespace's rows (0.15-0.4 s at
    a million memories, too much for a check a load balancer polls), nor from a
    record of the graphs built, which every build, drop and kill would have to
    keep true, and which would not know a namespace grown large since. A
    namespace the statistics put over the threshold with no graph is counted,
    up to the threshold only (an index's first ``namespace_graph_min``
    entries, and only while one is missing), so a sampling error never reports
    a graph no build would make. One they put under it, or do not list
    (ANALYZE's sample lists the most common namespaces), is not reported;
    ``graph_repair`` counts every namespace.
    """
    cur.execute(EXISTING)
    found = cur.fetchall()
    graphs = {
        namespace_of(r.name, r.condition): "hnsw"
        if r.valid
        else "building"
        if r.building
        else "invalid"
        for r in found
    }
    names = {r.name for r in found}
    for namespace, _ in qualifying(estimated, total, options):
        if graph_name(namespace) not in names:
            cur.execute(AT_LEAST, (namespace, options.namespace_graph_min))
            if one_value(cur) >= options.namespace_graph_min:
                graphs[namespace] = "missing"
    return dict(sorted(graphs.items()))


def namespace_of(name: str, condition: str) -> str:
    """The namespace a graph holds, from its condition; its index name if unreadable."""
    found = CONDITION.fullmatch(condition or "")
    return found[1].replace("''", "'") if found else name


def changes(
    cur: Cursor, options: PostgresOptions, dimension: int, *, concurrently: bool
) -> tuple[list[str], list[str]]:
    """The statements bringing the namespace graphs up to date, and what they do, in
    words. ``concurrently``: built and dropped without blocking writes (outside a
    transaction, then)."""
    wanted = wanted_graphs(cur, options)
    have = existing(cur)
    how = "CONCURRENTLY " if concurrently else ""
    statements: list[str] = []
    done: list[str] = []
    for name, valid in have.items():
        if name not in wanted or not valid:
            statements.append(f"DROP INDEX {how}IF EXISTS {name}")
            if name not in wanted:
                done.append(f"namespace graph: dropped {name} (its namespace no longer qualifies)")
    for name, (namespace, rows) in wanted.items():
        if have.get(name):
            continue
        # For the session of a connection of its own, else for this transaction.
        statements.append(build_memory_sql(rows, dimension, options.hnsw_m, session=concurrently))
        condition = sql.SQL("namespace = {}").format(sql.Literal(namespace))
        statements.append(
            vector_index_sql(
                name,
                options.hnsw_m,
                options.hnsw_ef_construction,
                concurrently=concurrently,
                where=condition.as_string(cur.connection),
            )
        )
        done.append(f"namespace graph: built {name} for {namespace!r} ({rows:,} memories)")
    return statements, done


def update(db: Database, options: PostgresOptions, dimension: int) -> list[str]:
    """Bring the namespace graphs up to date without blocking writes; what was done."""
    with db.cursor() as cur:
        statements, done = changes(cur, options, dimension, concurrently=True)
    db.run_outside_transaction(statements)
    return done
