"""The PostgreSQL store's two retrieval queries: nearest vectors, and best word matches.

Both take a WHERE clause from ``schema.filter_sql`` so that filters
apply inside the search, never to its results.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from ...model import Candidate
from .schema import TEXT_CONFIG, words_sql

# What fusion needs of each candidate (``model.Candidate``); the score follows.
CANDIDATE_COLUMNS = "m.id, m.created_at, m.importance, m.parent_id, m.chunk_index"


def to_candidate(row: tuple[Any, ...], score: float) -> Candidate:
    """A Candidate from a row of CANDIDATE_COLUMNS."""
    return Candidate(row[0], score, row[1].astimezone(UTC), row[2], row[3], row[4])


def nearest_query(where: str, where_params: list[Any], vector: Any, k: int, exact_below: int
                  ) -> tuple[str, list[Any]]:
    """The ``k`` nearest memories by cosine distance, in one statement (SQL, parameters).

    A filter matching fewer than ``exact_below`` memories is answered exactly:
    every match compared (``cosine_distance()``, which no index serves). A
    broader one walks the HNSW index (the ``<=>`` operator), which the session's
    iterative scan keeps walking past rejected rows until ``k`` pass; if the scan
    still gives up early, the exact search runs instead. The counting stops at
    ``exact_below`` rows, so it stays cheap for any namespace size. Rows from
    the relaxed-order scan are sorted again at the end.
    """
    sql = f"""
    WITH candidates AS MATERIALIZED (
        SELECT count(*) AS n FROM (SELECT 1 FROM memvault_memories m WHERE {where} LIMIT %s) AS s
    ), approximate AS MATERIALIZED (
        SELECT {CANDIDATE_COLUMNS}, m.embedding <=> %s AS distance FROM memvault_memories m
        WHERE {where} AND (SELECT n FROM candidates) >= %s
        ORDER BY distance LIMIT %s
    ), exact AS MATERIALIZED (
        SELECT {CANDIDATE_COLUMNS}, cosine_distance(m.embedding, %s) AS distance
        FROM memvault_memories m
        WHERE {where} AND (SELECT count(*) FROM approximate) < %s
        ORDER BY distance LIMIT %s
    )
    SELECT * FROM exact
    UNION ALL SELECT * FROM approximate WHERE NOT EXISTS (SELECT FROM exact)
    ORDER BY distance
    """
    params = [*where_params, exact_below, vector, *where_params, exact_below, k,
              vector, *where_params, k, k]
    return sql, params


def text_search_sql(where: str) -> str:
    """The ``k`` best matches of any term, ranked like BM25 (parameters: terms, filter..., k).

    BM25 adds, for each query term found in a memory, the term's rarity (IDF)
    times how well the memory matches it (term frequency, saturating, divided
    by document length). PostgreSQL has the parts: ``ts_rank`` of a one-term
    query is a saturating frequency (1 + 1/4 + 1/9 + ... of the occurrences),
    normalization 1 divides it by 1 + log(length), and the IDF needs the number
    of memories holding the term. A plain ``ts_rank`` of the whole OR query
    would weigh "the" like "XK9000".

    That number is counted through the GIN index for rare terms; for common
    ones, counting would visit every row holding them, so it is read from the
    statistics ANALYZE keeps (the most common lexemes and their frequencies).
    The memory count is the statistics collector's live-row estimate, never
    below the largest term count.

    Each term is a phrase query, as in the SQLite store: ``foo_bar`` must find
    "foo bar" with the words adjacent.
    """
    to_words = words_sql("w")
    return f"""
    WITH common AS MATERIALIZED (
        SELECT s.most_common_elems::text::text[] AS lexemes,
               s.most_common_elem_freqs::text::float8[] AS freqs,
               c.reltuples * (1 - s.null_frac) AS rows
        FROM pg_class c JOIN pg_stats s ON s.schemaname = c.relnamespace::regnamespace::name
             AND s.tablename = c.relname AND s.attname = 'words'
        WHERE c.oid = 'memvault_memories'::regclass AND s.most_common_elems IS NOT NULL
    ), parsed AS (
        SELECT phraseto_tsquery('{TEXT_CONFIG}', {to_words}) AS q,
               tsvector_to_array(to_tsvector('{TEXT_CONFIG}', {to_words})) AS lexemes
        FROM unnest(%s::text[]) AS w
    ), terms AS MATERIALIZED (
        SELECT q, coalesce(
            (SELECT c.freqs[array_position(c.lexemes, p.lexemes[1])] * c.rows FROM common c
             WHERE cardinality(p.lexemes) = 1 AND p.lexemes[1] = ANY(c.lexemes)),
            (SELECT count(*) FROM memvault_memories x WHERE x.words @@ p.q)) AS df
        FROM parsed p
        WHERE numnode(p.q) > 0
    ), weights AS MATERIALIZED (
        SELECT q, ln(1.0 + (docs.n - df + 0.5) / (df + 0.5))::float8 AS idf
        FROM terms, (SELECT greatest(max(df), (SELECT n_live_tup FROM pg_stat_user_tables
                                               WHERE relid = 'memvault_memories'::regclass)) AS n
                     FROM terms) AS docs
        WHERE df > 0
    )
    SELECT {CANDIDATE_COLUMNS},
           (SELECT sum(w.idf * ts_rank(m.words, w.q, 1)) FROM weights w) AS score
    FROM memvault_memories m
    WHERE m.words @@ (SELECT string_agg('(' || q::text || ')', ' | ')::tsquery FROM weights)
      AND {where}
    ORDER BY score DESC, m.rowid
    LIMIT %s
    """


def preceding_sql(where: str) -> str:
    """Each memory's predecessor under a filter (parameters: filter..., interval, ids).

    The id of the memory matching the filter stored just before it in its
    namespace, by (created_at, rowid), if no more than the interval earlier:
    one step back along the (namespace, created_at) index per memory asked about.
    """
    return f"""
    SELECT c.id, p.id
    FROM memvault_memories c
    CROSS JOIN LATERAL (
        SELECT m.id FROM memvault_memories m
        WHERE {where} AND m.namespace = c.namespace AND m.created_at >= c.created_at - %s
          AND m.created_at <= c.created_at  -- the index bound; the row comparison is not one
          AND (m.created_at, m.rowid) < (c.created_at, c.rowid)
        ORDER BY m.created_at DESC, m.rowid DESC LIMIT 1
    ) AS p
    WHERE c.id = ANY(%s)
    """
