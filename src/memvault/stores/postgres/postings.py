"""BM25 over a postings table: the word ranking's fast path (``words`` falls back to
its tiers when this one cannot prove its ranking).

``memvault_postings`` holds a row per (lexeme, memory) of every top-level
memory's words, with the lexeme's frequency in it (``tf``, its positions, as
``words`` scores it) and the memory's length, keyed by (lexeme, namespace,
rowid) with both numbers in the key's index. So a query term's postings, in
the store or in one namespace, are one range of that index, read without
visiting the table (an index-only scan), and a memory's BM25 score is the
sum of its postings' weights: about 0.5 µs a posting, where reading a
memory's row and unnesting its words costs about 6 µs (``words``' tiers).
Triggers on ``memvault_memories`` keep the table in the statement that
writes the rows: every writer (a bulk load, a memvault from before it during
a rolling upgrade) keeps it alike, and concurrent writers never touch the
same posting (its key holds the row's own id). A batch of 100 memories pays
about 20 ms of server time for its postings.

A search ranks in one pass, exactly (MaxScore's argument):

1. The rarest terms, while their postings sum to at most ``POSTED_AT_MOST``
   (the *listed* terms), are summed per memory: each memory's score over
   them (``partial``), a lower bound of its whole score.
2. Those memories are walked from the highest partial score, each checked
   against the filter on its row, until ``k`` pass; their whole scores are
   looked up, and the lowest of them is a lower bound of the k-th whole score.
3. The terms not listed add at most the sum of their bounds (``unlisted``,
   ``bm25.upper_bound``) to any memory. Every other memory with a partial
   score within ``unlisted`` of that bound is scored over all terms
   (its postings looked up by key; for many such memories, every term's
   postings read in turn and checked against a hash of them, which costs less
   than a lookup per memory and term), then read for the filter from the best
   whole score down until k pass, and the k best kept.
4. That is the ranking if every term was listed, or if the k-th whole score
   beats ``unlisted``: a memory holding only unlisted terms scores less, and
   one left out in step 3 scores less than the bound. Otherwise (or for a
   phrase, which needs positions) the tiers in ``words`` rank the query.

Scores are summed in the query's term order, as the other stores sum them,
so that memories scoring alike score exactly alike and rank oldest first.
"""

from __future__ import annotations

from typing import Any

from .. import bm25
from .schema import literal
from .search import CANDIDATE_COLUMNS

# The postings the fast path sums at most (the listed terms'); about 5 ms of work.
POSTED_AT_MOST = 10_000
# Looking up one posting by key costs about as much as reading this many in turn and
# summing them (about 8 µs against 3 µs under EXPLAIN ANALYZE at 1,000,000 memories).
LOOKUP_COST = 3
# Float sums are compared with this relative slack, so rounding never drops a tie.
SLACK = 1e-9

MIGRATION = """
    CREATE TABLE memvault_postings (
        lexeme text COLLATE "C" NOT NULL,
        namespace text COLLATE "C" NOT NULL,
        rowid bigint NOT NULL,
        tf smallint NOT NULL,
        word_count integer
    );
    CREATE FUNCTION memvault_postings_added() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO memvault_postings
            SELECT u.lexeme, n.namespace, n.rowid, cardinality(u.positions), n.word_count
            FROM added n, unnest(n.words) AS u WHERE n.parent_id IS NULL;
            RETURN NULL;
        END $$;
    CREATE FUNCTION memvault_postings_removed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM memvault_postings p USING removed o, unnest(o.words) AS u
            WHERE o.parent_id IS NULL AND p.lexeme = u.lexeme AND p.namespace = o.namespace
              AND p.rowid = o.rowid;
            RETURN NULL;
        END $$;
    CREATE FUNCTION memvault_postings_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM memvault_postings p USING unnest(OLD.words) AS u
            WHERE OLD.parent_id IS NULL AND p.lexeme = u.lexeme AND p.namespace = OLD.namespace
              AND p.rowid = OLD.rowid;
            INSERT INTO memvault_postings
            SELECT u.lexeme, NEW.namespace, NEW.rowid, cardinality(u.positions), NEW.word_count
            FROM unnest(NEW.words) AS u WHERE NEW.parent_id IS NULL;
            RETURN NULL;
        END $$;
    -- The triggers lock the table against writers first, so the copy below misses none.
    CREATE TRIGGER memvault_postings_added AFTER INSERT ON memvault_memories
        REFERENCING NEW TABLE AS added
        FOR EACH STATEMENT EXECUTE FUNCTION memvault_postings_added();
    CREATE TRIGGER memvault_postings_removed AFTER DELETE ON memvault_memories
        REFERENCING OLD TABLE AS removed
        FOR EACH STATEMENT EXECUTE FUNCTION memvault_postings_removed();
    -- Only the words' conversion (``retokenize``) changes a row's words.
    CREATE TRIGGER memvault_postings_changed AFTER UPDATE OF words, word_count
        ON memvault_memories FOR EACH ROW
        WHEN (OLD.words IS DISTINCT FROM NEW.words
              OR OLD.word_count IS DISTINCT FROM NEW.word_count)
        EXECUTE FUNCTION memvault_postings_changed();
    INSERT INTO memvault_postings
    SELECT u.lexeme, m.namespace, m.rowid, cardinality(u.positions), m.word_count
    FROM memvault_memories m, unnest(m.words) AS u WHERE m.parent_id IS NULL;
    ALTER TABLE memvault_postings
        ADD PRIMARY KEY (lexeme, namespace, rowid) INCLUDE (tf, word_count);
"""


def fast_parts(
    where: str, where_params: list[Any], k: int, namespace: str | None, share: float | None
) -> tuple[str, list[Any]]:
    """The fast path's CTEs over ``terms`` and ``totals`` (``words``), and their
    parameters: ``fast_scores`` (the k best, exact) and ``fast_done`` (``proven``:
    whether they are the ranking). Within a ``namespace`` (which ``where`` keeps
    to) only its postings are read, about ``share`` of each term's (so more
    terms are listed); a ``share`` of None reads nothing."""
    average = "(SELECT average FROM totals)"
    weight = bm25.weight_sql("t.idf", "p.tf::float8", "p.word_count::float8", average)
    bound = bm25.upper_bound_sql("idf")
    row = f"""SELECT {CANDIDATE_COLUMNS}, m.namespace FROM memvault_memories m
              WHERE m.rowid = c.rowid AND {where}"""
    columns = (
        "c.rowid, c.partial, m.id, m.created_at, m.importance, m.parent_id, m.chunk_index, "
        "m.namespace"
    )
    in_space = f"AND p.namespace = {literal(namespace)}" if namespace is not None else ""
    # A memory's (``f``) whole score: its partial one if every term was listed, else
    # its postings of every term looked up by key.
    whole = f"""CASE WHEN (SELECT unlisted FROM fast_gate) = 0 THEN f.partial ELSE (
        SELECT sum({weight} ORDER BY t.ord) FROM fast_terms t JOIN memvault_postings p
        ON p.lexeme = t.lexeme AND p.namespace = f.namespace AND p.rowid = f.rowid) END"""
    k = int(k)
    # Written in, not parameters: the one plan a prepared statement keeps is then
    # estimated alike (``database``).
    read, tried = float(share if share is not None else 1.0), share is not None
    # Scan the terms' postings rather than look up each candidate's (one per term).
    scanned = f"""((SELECT unlisted FROM fast_gate) > 0
        AND (SELECT max(reach) FROM terms) * {read}
            < {LOOKUP_COST} * (SELECT count(*) FROM fast_near)
              * (SELECT count(*) FROM fast_terms))"""
    ctes = f"""
    fast_terms AS MATERIALIZED (
        SELECT lexeme, idf, ord, reach * {read} <= {POSTED_AT_MOST} AS listed, {bound} AS bound
        FROM terms
    ), fast_gate AS MATERIALIZED (
        SELECT {tried} AND NOT EXISTS (SELECT FROM terms WHERE size > 1)
               AND EXISTS (SELECT FROM fast_terms WHERE listed)
               -- Hopeless when the unlisted terms could outweigh the best listed one.
               AND s.unlisted < (SELECT max(bound) FROM fast_terms WHERE listed) AS go,
               s.unlisted
        FROM (SELECT coalesce(sum(bound) FILTER (WHERE NOT listed), 0) AS unlisted
              FROM fast_terms) AS s
    ), fast_partial AS MATERIALIZED (
        -- Each memory's weights added in the query's order, as every store adds them:
        -- said, not left to the plan, whose sort by memory (chosen for few postings)
        -- does not keep the order the terms were read in, and three weights added in
        -- another order can differ in the last bit, which breaks the tie's order.
        -- (Sorting by memory and term costs 0.5 ms more than hashing by memory for
        -- 8,800 postings: ``docs/benchmarks.md``.)
        SELECT p.rowid, p.namespace, sum({weight} ORDER BY t.ord) AS partial
        FROM (SELECT * FROM fast_terms WHERE listed AND (SELECT go FROM fast_gate)
              ORDER BY ord) AS t
        CROSS JOIN LATERAL (SELECT * FROM memvault_postings p
                            WHERE p.lexeme = t.lexeme {in_space}) AS p
        GROUP BY p.rowid, p.namespace
    ), fast_top AS MATERIALIZED (
        -- The memories in partial score order, each checked on its row, until k pass.
        SELECT {columns}
        FROM (SELECT * FROM fast_partial ORDER BY partial DESC) AS c
        CROSS JOIN LATERAL ({row}) AS m
        ORDER BY c.partial DESC LIMIT {k}
    ), fast_top_whole AS MATERIALIZED (
        -- Their whole scores: the k-th of them is a lower bound of the k-th whole
        -- score at least as high as ``kth``, so fewer memories are near it.
        SELECT f.rowid, {whole} AS score FROM fast_top AS f
    ), fast_kth AS MATERIALIZED (
        SELECT min(partial) AS kth, min(w.score) - (SELECT unlisted FROM fast_gate)
               - {SLACK} * (min(w.score) + (SELECT unlisted FROM fast_gate)) AS floor
        FROM fast_top JOIN fast_top_whole AS w USING (rowid) HAVING count(*) = {k}
    ), fast_near AS MATERIALIZED (
        -- Those the unlisted terms could lift to the k-th, and ties with it: their
        -- rows are read only once their whole scores are known (there may be
        -- thousands, and a row costs more than a posting).
        SELECT c.rowid, c.namespace, c.partial
        FROM fast_partial c
        WHERE c.partial >= (SELECT floor FROM fast_kth) AND c.partial <= (SELECT kth FROM fast_kth)
          AND c.rowid NOT IN (SELECT rowid FROM fast_top)
    ), fast_scanned AS MATERIALIZED (
        -- Whole scores of many candidates: every term's postings read in turn, those
        -- of the candidates summed, where looking up each candidate's by key costs more.
        -- The candidates are a hashed subplan the postings are checked against, not
        -- a join: the planner, taking them for a row or two, would loop over them
        -- for every posting, or look each one up by key, term by term.
        SELECT p.rowid, sum({weight} ORDER BY t.ord) AS score
        FROM (SELECT * FROM fast_terms WHERE {scanned}) AS t
        CROSS JOIN LATERAL (SELECT * FROM memvault_postings p
                            WHERE p.lexeme = t.lexeme {in_space}) AS p
        WHERE (p.rowid IN (SELECT rowid FROM fast_near)) IS TRUE
        GROUP BY p.rowid
    ), fast_near_whole AS MATERIALIZED (
        -- Scanned (each of them holds a listed term, so the scan found them all), or
        -- else looked up; no join of the two, which the planner, taking each for a
        -- row or two, would make a loop over both.
        SELECT rowid, score FROM fast_scanned
        UNION ALL
        SELECT f.rowid, {whole} AS score FROM fast_near AS f WHERE NOT {scanned}
    ), fast_near_kept AS MATERIALIZED (
        -- The best of them by whole score, each checked on its row, until k pass.
        SELECT m.id, m.created_at, m.importance, m.parent_id, m.chunk_index, c.rowid, c.score
        FROM (SELECT * FROM fast_near_whole ORDER BY score DESC) AS c
        CROSS JOIN LATERAL ({row}) AS m
        ORDER BY c.score DESC, m.created_at, c.rowid LIMIT {k}
    ), fast_scores AS MATERIALIZED (
        SELECT * FROM (
            SELECT f.id, f.created_at, f.importance, f.parent_id, f.chunk_index, f.rowid, w.score
            FROM fast_top AS f JOIN fast_top_whole AS w USING (rowid)
            UNION ALL SELECT * FROM fast_near_kept) AS c
        ORDER BY score DESC, created_at, rowid LIMIT {k}
    ), fast_done AS MATERIALIZED (
        SELECT coalesce((SELECT go FROM fast_gate), false) AND (
            (SELECT unlisted FROM fast_gate) = 0
            OR ((SELECT count(*) FROM fast_scores) = {k}
                AND (SELECT min(score) FROM fast_scores)
                    > (SELECT unlisted FROM fast_gate) * (1 + {SLACK}))
        ) AS proven
    )"""
    return ctes, [*where_params, *where_params]
