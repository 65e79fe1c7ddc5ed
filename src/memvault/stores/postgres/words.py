"""BM25 in PostgreSQL: the SQLite store's ranking (``stores.bm25``), in one statement,
without scoring every memory that holds a query word. The words are every
store's (``lexemes``).

The counts BM25 needs are kept by the writes (how many memories hold each
lexeme; on the empty lexeme's rows, the memories with words and their
tokens), and each memory's length in its ``word_count`` column, so that a
search reads them instead of counting. A write adds its counts to its
connection's stripe (``memvault_word_stripes``, one of ``STRIPES`` rows per
lexeme): a counted row stays locked until the write commits, its WAL flush
included, so with one row per lexeme every concurrent write waited for the
one before it on the empty lexeme's row. A recount puts every count in
``memvault_words`` (its trigger empties the stripes); a lexeme's count is the
sum of its rows in both. A term of several tokens
(``snake_case``) is a phrase, counted as FTS5 counts phrases: the memories
holding its rarest token (by the postings' key) whose words hold the phrase.

A search first tries the postings table (``postings``), which ranks most
queries exactly by summing index entries; when it cannot prove its ranking
(a phrase, common words whose bound could still change it, a filter it does
not walk), the same statement ranks in up to two tiers, MaxScore's argument
made in SQL:

1. The memories holding the rarest terms (by the counts, the fewest postings
   up to ``SCORED_FIRST`` memories, at least the rarest term's) are scored
   exactly over all terms, and the k best kept. No other memory can beat
   the k-th of them if it holds only the remaining, common terms, whose most
   possible weight (``bm25.upper_bound``) sums to less than that k-th score,
   and if the first tier was not cut short: then the ranking is exact and
   done. Common words weigh little, so one query word that is not common
   is usually enough.
2. Otherwise the common terms whose bounds still sum to less than the k-th
   score stay out, and the memories holding any other term are all scored,
   exactly, if those terms hold at most ``SCORED_AT_MOST`` postings, or the
   search keeps to a namespace of at most that many memories (counted up to
   the bound through its index): either way at most that many memories are
   read. A query made only of words in more memories than that, in a larger
   namespace or none, keeps the first tier's ranking: the best memories
   among those holding its rarest word.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import bm25
from . import lexemes, postings
from .schema import literal
from .search import CANDIDATE_COLUMNS

SCORED_FIRST = 1_000
SCORED_AT_MOST = 10_000
# The first tier walks the newest memories when even the rarest term is this common,
# reading at most WALKED_ROWS of them.
WALK_SHARE = 0.25
WALKED_ROWS = 4 * SCORED_FIRST

# Concurrent writers' counts go to different rows of each lexeme (by connection).
STRIPES = 16
STRIPE = f"mod(pg_backend_pid(), {STRIPES})::smallint"
# Adds a lexeme's counts (``documents`` and ``tokens`` of a SELECT) to its stripe.
# Lexemes are locked in one order, so writers sharing a stripe wait rather than deadlock.
ADD_TO_STRIPE = """ON CONFLICT (lexeme, stripe) DO UPDATE
SET documents = w.documents + excluded.documents, tokens = w.tokens + excluded.tokens"""

# Every count again from the rows (after a bulk load, whose batches skip the
# counting), into ``memvault_words``; deleting its rows empties the stripes too
# (a trigger, which locks them first). Writers wait for the lock and
# then add their own rows, which the recount could not see; searches go on
# reading the old counts until it commits.
RECOUNT = (
    "LOCK TABLE memvault_words IN SHARE ROW EXCLUSIVE MODE",
    "DELETE FROM memvault_words",
    "INSERT INTO memvault_words SELECT '', count(*), coalesce(sum(word_count), 0) "
    "FROM memvault_memories WHERE parent_id IS NULL",
    "INSERT INTO memvault_words SELECT lexeme, count(*), 0 FROM memvault_memories, "
    "unnest(tsvector_to_array(words)) AS lexeme WHERE parent_id IS NULL GROUP BY lexeme",
)


def count_rows(rows: str, sign: int) -> str:
    """SQL adding (``sign`` 1) or subtracting (-1) the words of ``rows`` to the counts:
    a CTE of inserted or deleted rows with ``top``, ``words`` and ``word_count``."""
    return f"""
    INSERT INTO memvault_word_stripes AS w (lexeme, stripe, documents, tokens)
    SELECT lexeme, {STRIPE}, {int(sign)} * count(*), {int(sign)} * coalesce(sum(tokens), 0)
    FROM (
        SELECT '' AS lexeme, r.word_count AS tokens FROM {rows} r WHERE r.top
        UNION ALL
        SELECT l, 0 FROM {rows} r, unnest(tsvector_to_array(r.words)) AS l WHERE r.top
    ) AS s
    GROUP BY lexeme ORDER BY lexeme
    {ADD_TO_STRIPE}
    """


def counted_rows(lexeme: str) -> str:
    """A lexeme's rows of counts (``documents``, ``tokens``): recounted, and in stripes."""
    return f"""(SELECT documents, tokens FROM memvault_words WHERE lexeme = {lexeme}
        UNION ALL
        SELECT documents, tokens FROM memvault_word_stripes WHERE lexeme = {lexeme})"""


def counts_sql(lexeme: str, column: str = "documents") -> str:
    """A lexeme's count (``documents`` or ``tokens``), summed over its rows."""
    return f"(SELECT coalesce(sum(c.{column}), 0)::bigint FROM {counted_rows(lexeme)} AS c)"


# Empties the stripes when ``memvault_words`` is emptied for a recount (also an older
# memvault's, which knows only that table), under a lock so that no write adds to
# them between that and the recount's commit.
STRIPES_MIGRATION = """
    CREATE TABLE memvault_word_stripes (
        lexeme text COLLATE "C" NOT NULL,
        stripe smallint NOT NULL,
        documents bigint NOT NULL,
        tokens bigint NOT NULL,
        PRIMARY KEY (lexeme, stripe)
    );
    CREATE FUNCTION memvault_word_stripes_cleared() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            LOCK TABLE memvault_word_stripes IN SHARE ROW EXCLUSIVE MODE;
            DELETE FROM memvault_word_stripes;
            RETURN NULL;
        END $$;
    CREATE TRIGGER memvault_word_stripes_cleared AFTER DELETE ON memvault_words
        FOR EACH STATEMENT EXECUTE FUNCTION memvault_word_stripes_cleared();
"""


def _tier(
    name: str,
    where: str,
    which_terms: str,
    gate: str,
    limit: str,
    in_space: str,
    k: int,
    walk_order: str | None = None,
) -> str:
    """CTEs scoring the memories that hold any of ``which_terms`` (a condition on
    ``terms``) and pass ``where``: ``{name}_found`` (what was read) and
    ``{name}_scores`` (the k best, with exact BM25 scores).

    The memories are found through the postings of each term's rarest token
    (``postings``; ``in_space`` keeps them to the filter's namespace, if any),
    each row checked for the terms (a phrase's tokens in a row); with
    ``walk_order``, when
    the rarest term is held by more than ``WALK_SHARE`` of all memories, by
    walking the newest memories in that order instead, which reads a few
    thousand rows where the index would list most of the table. The scoring
    is set-based (one pass over each memory's query lexemes, its columns
    carried along), never a subquery per memory.
    """
    weight = bm25.weight_sql("idf", "tf", "word_count", "(SELECT average FROM totals)")
    columns = "f.id, f.created_at, f.importance, f.parent_id, f.chunk_index, f.rowid, f.word_count"
    plain = columns.replace("f.", "")
    read = f"""{CANDIDATE_COLUMNS}, m.rowid, m.word_count,
               ts_filter(setweight(m.words, 'A', (SELECT lexemes FROM wanted)), '{{a}}') AS found"""
    matching = f"""m.words @@ (SELECT string_agg('(' || q::text || ')', ' | ')::tsquery
                                FROM terms WHERE {which_terms})"""
    holding = f"""m.rowid IN (SELECT o.rowid FROM memvault_postings o
        WHERE o.lexeme = ANY(SELECT rarest FROM terms WHERE {which_terms}) {in_space})"""
    found = f"""SELECT {read} FROM memvault_memories m
        WHERE {gate} AND {holding} AND {matching} AND {where}"""
    if walk_order is not None:
        common = f"(SELECT min(df) FROM terms) > {WALK_SHARE} * (SELECT n FROM totals)"
        found = f"""({found} AND NOT {common} {limit})
        UNION ALL
        (SELECT {read} FROM (
            SELECT {CANDIDATE_COLUMNS}, m.rowid, m.word_count, m.words
            FROM memvault_memories m WHERE {gate} AND {common} AND {where}
            ORDER BY {walk_order} LIMIT {WALKED_ROWS}) AS m
         WHERE {matching} {limit})"""
    else:
        found += f" {limit}"
    return f"""
    {name}_found AS MATERIALIZED (
        {found}
    ), {name}_scores AS MATERIALIZED (
        -- Summed in the query's order, as every store sums, so equal scores are equal.
        SELECT {plain}, sum({weight} ORDER BY ord) AS score FROM (
            SELECT {columns}, k.idf, cardinality(u.positions) AS tf, k.ord
            FROM {name}_found f, unnest(f.found) AS u
            JOIN weighted k ON k.lexeme = u.lexeme AND k.size = 1
            UNION ALL
            -- A phrase occurs where each of its tokens is at its offset from one start.
            SELECT {plain}, idf, count(*), ord FROM (
                SELECT {columns}, k.term, k.idf, k.ord FROM {name}_found f, unnest(f.found) AS u
                JOIN weighted k ON k.lexeme = u.lexeme AND k.size > 1, unnest(u.positions) AS p
                WHERE (SELECT bool_or(size > 1) FROM weighted)
                GROUP BY {columns}, k.term, k.idf, k.ord, p - k.shift
                HAVING count(*) = max(k.size)
            ) AS phrase GROUP BY {plain}, term, idf, ord
        ) AS occurrences
        GROUP BY {plain}
        ORDER BY score DESC, created_at, rowid LIMIT {int(k)}
    )"""


def text_search_parts(
    terms: Sequence[str],
    where: str,
    where_params: list[Any],
    k: int,
    newest_first: str,
    namespace: str | None = None,
    postings_share: float | None = 1.0,
) -> tuple[str, str, list[Any]]:
    """The ``k`` best memories holding any term, by BM25, as parts of one statement:
    its CTEs, the final SELECT over them (unordered), the parameters (``ranking``
    puts them together).

    ``newest_first`` is an ORDER BY over ``m`` that an index serves under the
    filter; ``namespace`` the one the filter keeps to, if any; ``postings_share``
    the share of the postings the search reads (its namespace's), or None not
    to try them (the store's call, by the filter). Rows:
    CANDIDATE_COLUMNS, the score, the rowid.
    """
    idf = bm25.idf_sql("(SELECT n FROM totals)", "d.df")
    bound = bm25.upper_bound_sql("idf")
    rarest = f"rarity = 1 OR reach <= {SCORED_FIRST}"
    # The terms that could still lift a memory above the k-th score of the first tier.
    lifting = "tail >= (SELECT kth FROM bar)"
    # The tiers run only when the postings (``postings``) cannot prove the ranking.
    slow = "NOT (SELECT proven FROM fast_done)"
    fast, fast_params = postings.fast_parts(where, where_params, k, namespace, postings_share)
    in_space = f"AND o.namespace = {literal(namespace)}" if namespace is not None else ""
    first = _tier("first", where, rarest, slow, f"LIMIT {SCORED_FIRST}", in_space, k, newest_first)
    few = f"(SELECT sum(df) FROM terms WHERE {lifting}) <= {SCORED_AT_MOST}"
    if namespace is not None:
        # Asked only when the words are too common: a walk of the namespace's index.
        few = f"""({few} OR (SELECT count(*) FROM (
            SELECT FROM memvault_memories s
            WHERE s.namespace = {literal(namespace)} AND s.parent_id IS NULL
            LIMIT {SCORED_AT_MOST + 1}) AS s) <= {SCORED_AT_MOST})"""
    second = _tier(
        "second",
        where,
        lifting,
        f"{slow} AND NOT (SELECT done FROM bar) AND {few}",
        "",
        in_space,
        k,
    )
    ctes = f"""
    totals AS MATERIALIZED (
        SELECT documents::float8 AS n, greatest(tokens, 1)::float8 / greatest(documents, 1)
               AS average
        FROM (SELECT coalesce(sum(documents), 0) AS documents, coalesce(sum(tokens), 0) AS tokens
              FROM {counted_rows("''")} AS c) AS c
    ), parsed AS MATERIALIZED (
        -- Each distinct term once ("run" and "running" are one), with its tokens.
        SELECT DISTINCT ON (v::text) v::text AS term, v AS vector, t.q::tsquery AS q, t.ord,
               (SELECT sum(cardinality(positions)) FROM unnest(v)) AS size,
               (SELECT min(lexeme) FROM unnest(v)) AS first,
               (SELECT u.lexeme FROM unnest(v) AS u
                ORDER BY {counts_sql("u.lexeme")}, u.lexeme LIMIT 1) AS rarest
        -- The arrays are read through sub-selects, which hide their lengths from
        -- the planner: so the one plan kept for every query (``database``) is
        -- estimated as cheap as one made for a query's own terms, and is kept.
        FROM unnest((SELECT %s::text[]), (SELECT %s::text[])) WITH ORDINALITY AS t(w, q, ord),
             LATERAL (SELECT t.w::tsvector) AS x(v)
        WHERE length(v) > 0
        ORDER BY v::text, ord
    ), tokens AS MATERIALIZED (
        -- Each term's tokens at their offsets in it: a phrase occurs where all line up.
        SELECT p.term, p.size, u.lexeme, pos - 1 AS shift
        FROM parsed p, unnest(p.vector) AS u, unnest(u.positions) AS pos
    ), wanted AS MATERIALIZED (
        SELECT array_agg(DISTINCT lexeme) AS lexemes FROM tokens
    ), counted AS MATERIALIZED (
        SELECT p.term, p.q, p.ord, p.first AS lexeme, p.rarest, p.size, d.df, {idf} AS idf
        FROM parsed p CROSS JOIN LATERAL (SELECT CASE WHEN p.size = 1
            THEN {counts_sql("p.first")}
            ELSE (SELECT count(*) FROM memvault_memories x WHERE x.rowid IN (
                SELECT o.rowid FROM memvault_postings o WHERE o.lexeme = p.rarest)
                AND x.words @@ p.q) END AS df) AS d
        WHERE d.df > 0
    ), terms AS MATERIALIZED (
        SELECT term, q, ord, lexeme, rarest, size, df, idf,
               row_number() OVER (ORDER BY df, term) AS rarity,
               sum(df) OVER (ORDER BY df, term) AS reach,
               sum({bound}) OVER (ORDER BY df DESC, term DESC) AS tail
        FROM counted
    ), weighted AS MATERIALIZED (
        SELECT k.*, t.idf, t.ord FROM tokens k JOIN terms t USING (term)
    ), {fast}, {first},
    bar AS MATERIALIZED (
        -- The k-th score so far (0 short of k), and whether it already proves the ranking.
        SELECT s.kth, (SELECT count(*) FROM first_found) < {SCORED_FIRST}
               AND (SELECT min(df) FROM terms) <= {WALK_SHARE} * (SELECT n FROM totals)
               AND coalesce((SELECT sum({bound}) FROM terms WHERE NOT ({rarest})), 0)
                   < greatest(s.kth, 1e-300) AS done
        FROM (SELECT coalesce((SELECT score FROM first_scores ORDER BY score DESC, created_at, rowid
                               OFFSET {int(k) - 1} LIMIT 1), 0) AS kth) AS s
    ), {second}"""
    final = f"""
    SELECT id, created_at, importance, parent_id, chunk_index, score, rowid FROM fast_scores
    WHERE (SELECT proven FROM fast_done)
    UNION ALL
    SELECT id, created_at, importance, parent_id, chunk_index, score, rowid FROM second_scores
    UNION ALL
    SELECT id, created_at, importance, parent_id, chunk_index, score, rowid FROM first_scores
    WHERE NOT EXISTS (SELECT FROM second_scores) AND {slow}"""
    vectors, queries = lexemes.query(terms)
    return (
        ctes,
        final,
        [vectors, queries, *fast_params, *where_params, *where_params, *where_params],
    )
