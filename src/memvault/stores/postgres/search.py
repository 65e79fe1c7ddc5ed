"""The PostgreSQL store's vector queries: nearest vectors, and each match's predecessor
(the word ranking is in ``words``).

Both take a WHERE clause from ``schema.filter_sql`` so that filters
apply inside the search, never to its results.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from ...model import Candidate

# What fusion needs of each candidate (``model.Candidate``); the score follows.
CANDIDATE_COLUMNS = "m.id, m.created_at, m.importance, m.parent_id, m.chunk_index"


def to_candidate(row: Any, score: float) -> Candidate:
    """A Candidate from a (named) row of CANDIDATE_COLUMNS."""
    return Candidate(
        row.id,
        score,
        row.created_at.astimezone(UTC),
        row.importance,
        row.parent_id,
        row.chunk_index,
    )


def nearest_parts(
    where: str, where_params: list[Any], vector: Any, k: int, exact_below: int
) -> tuple[str, str, list[Any]]:
    """The ``k`` nearest memories by cosine distance, as parts of one statement: its
    CTEs (``candidates``, ``approximate``, ``exact``, ``waiting``), the final SELECT
    over them, the parameters (``ranking`` puts them together).

    A filter matching fewer than ``exact_below`` memories is answered exactly:
    every match compared (``cosine_distance()``, which no index serves). A
    broader one walks the HNSW index (the ``<=>`` operator), which the session's
    iterative scan keeps walking past rejected rows until ``k`` pass, and
    compares the vectors still waiting for the index (``indexing``) exactly;
    if the scan gives up early, the exact search runs instead. The counting
    stops at ``exact_below`` rows, so it stays cheap for any namespace size;
    an ``exact_below`` of 0 counts nothing (a filter known to match many).
    Rows from the relaxed-order scan are sorted again at the end.
    """
    k, exact_below = int(k), int(exact_below)
    ctes = f"""
    candidates AS MATERIALIZED (
        SELECT count(*) AS n FROM (
            SELECT 1 FROM memvault_memories m WHERE {where} LIMIT {exact_below}) AS s
    ), approximate AS MATERIALIZED (
        SELECT {CANDIDATE_COLUMNS}, m.embedding <=> %s AS distance FROM memvault_memories m
        WHERE {where} AND m.embedding IS NOT NULL AND (SELECT n FROM candidates) >= {exact_below}
        ORDER BY distance LIMIT {k}
    ), exact AS MATERIALIZED (
        SELECT {CANDIDATE_COLUMNS},
               cosine_distance(coalesce(m.embedding, m.fresh_embedding), %s) AS distance
        FROM memvault_memories m
        WHERE {where} AND (SELECT count(*) FROM approximate) < {k}
        ORDER BY distance LIMIT {k}
    ), waiting AS MATERIALIZED (
        SELECT {CANDIDATE_COLUMNS}, cosine_distance(m.fresh_embedding, %s) AS distance
        FROM memvault_memories m
        WHERE m.fresh_embedding IS NOT NULL AND {where} AND NOT EXISTS (SELECT FROM exact)
        ORDER BY distance LIMIT {k}
    )"""
    final = f"""
    SELECT * FROM exact
    UNION ALL SELECT * FROM approximate WHERE NOT EXISTS (SELECT FROM exact)
    UNION ALL SELECT * FROM waiting
    ORDER BY distance LIMIT {k}
    """
    params = [*where_params, vector, *where_params, vector, *where_params, vector, *where_params]
    return ctes, final, params


def preceding_sql(where: str, asked: str = "c.id = ANY(%s)") -> str:
    """Each memory's predecessor under a filter (parameters: filter..., interval, then
    those of ``asked``, the condition on ``c`` naming the memories asked about: by
    default the ids given).

    The id of the memory matching the filter stored just before it in its
    namespace, by (created_at, rowid), if no more than the interval earlier:
    one step back along the (namespace, created_at) index per memory asked about.
    """
    return f"""
    SELECT c.id AS later, p.id AS earlier
    FROM memvault_memories c
    CROSS JOIN LATERAL (
        SELECT m.id FROM memvault_memories m
        WHERE {where} AND m.namespace = c.namespace AND m.created_at >= c.created_at - %s
          AND m.created_at <= c.created_at  -- the index bound; the row comparison is not one
          AND (m.created_at, m.rowid) < (c.created_at, c.rowid)
        ORDER BY m.created_at DESC, m.rowid DESC LIMIT 1
    ) AS p
    WHERE {asked}
    """
