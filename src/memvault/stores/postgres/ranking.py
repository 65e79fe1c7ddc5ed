"""Both sides of a hybrid search: the word ranking (``words``) with each word
match's predecessor, and the nearest vectors (``search``).

Each statement is a round trip to the server, which for a fleet is a network
away; the sides share nothing but the filter. One statement runs on one
core, the sides one after the other if it holds both, so each side is a
statement of its own, the two sent together (``Database.fetch_both``): on
two connections the server runs them side by side, which takes the longer
one's time; on one, in one round trip still.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import numpy as np

from ...model import Candidate, Filter, utcnow
from ..base import Rankings
from .database import Statement
from .schema import filter_sql
from .search import nearest_parts, preceding_sql, to_candidate
from .statistics import FilterStatistics
from .words import text_search_parts

# A statement's parts: its CTEs, the final SELECT over them, the parameters.
Parts = tuple[str, str, list[Any]]

# A filter matching fewer memories than this is searched exactly (every match
# compared); above it, the HNSW index is walked with pgvector's iterative scan.
# A filter the statistics put at this many or more is not counted (``statistics``).
EXACT_SEARCH_ROWS = 2000
# Tags kept by a smaller share of the memories are left to the word index.
POSTINGS_TAG_SHARE = 0.1

# The word matches with another match at most the interval (the parameter) before
# them: only those can be preceded by a match, which is all the credit needs.
ASKED = """c.id IN (
    SELECT t.id FROM text_hits t WHERE EXISTS (
        SELECT FROM text_hits o WHERE o.id <> t.id
        AND o.created_at >= t.created_at - %s AND o.created_at <= t.created_at))"""

COLUMNS = "id, created_at, importance, parent_id, chunk_index, score"


def words_statement(words: Parts, preceding: tuple[str, list[Any], timedelta] | None) -> Statement:
    """The word side's statement: ``words`` from ``words.text_search_parts``,
    ``preceding`` the filter (WHERE, parameters) and interval for each match's
    predecessor, if asked. Rows: the ``side`` ('text'), CANDIDATE_COLUMNS, the
    BM25 ``score``, the predecessor's id (``before``); best first."""
    found, final, params = words
    ctes = [found, f"text_hits AS MATERIALIZED ({final})"]
    before = "NULL::text"
    if preceding is not None:
        where, where_params, within = preceding
        ctes.append(f"preceded (id, before) AS MATERIALIZED ({preceding_sql(where, ASKED)})")
        params = [*params, *where_params, within, within]
        before = "(SELECT p.before FROM preceded p WHERE p.id = t.id)"
    # Equal scores: the older memory first, as every store ranks words (``stores.bm25``).
    return (
        f"WITH {', '.join(ctes)} SELECT 'text' AS side, {COLUMNS}, rowid, {before} AS before "
        "FROM text_hits t ORDER BY score DESC, created_at, rowid",
        params,
    )


def nearest_statement(nearest: Parts) -> Statement:
    """The vector side's statement, ``nearest`` from ``search.nearest_parts``: rows
    as ``words_statement``'s, the ``side`` 'vector', the cosine similarity as
    ``score``."""
    found, final, params = nearest
    return (
        f"WITH {found}, vector_hits AS MATERIALIZED ({final}) "
        "SELECT 'vector' AS side, id, created_at, importance, parent_id, chunk_index, "
        "1 - distance AS score, 0 AS rowid, NULL::text AS before FROM vector_hits "
        "ORDER BY score DESC, created_at, rowid",
        params,
    )


def ranking_statements(
    statistics: FilterStatistics,
    vector: np.ndarray | None,
    terms: Sequence[str],
    k: int,
    flt: Filter,
    within: timedelta | None,
) -> list[Statement]:
    """A statement for each side ranking ``terms`` and ``vector`` under ``flt`` (the
    words with their predecessors first), each one's plan chosen from the
    ``statistics``; none with neither.

    The two run as separate statements (``Database.fetch_both``). Under read
    committed each sees the commits made before it started, so a write
    committing between the two may be seen by one side only, as by one
    statement started just before or after it: the fused ranking is of the
    memories some moment's store held or holds, and the memories are read
    afterwards anyway (a memory deleted by then is left out either way)."""
    now = utcnow()
    words = preceding = nearest = None
    if terms:
        where, params = filter_sql(
            flt.with_changes(include_chunks=False),
            now,
            tags_by_index=not statistics.all_common((*flt.tags_any, *flt.tags_all)),
        )
        # Served by the (namespace, created_at) index within a namespace, else the key.
        newest = "m.created_at DESC" if flt.namespace is not None else "m.rowid DESC"
        words = text_search_parts(
            terms, where, params, k, newest, flt.namespace, postings_share(statistics, flt)
        )
        if within is not None:
            preceding = (where, params, within)
    if vector is not None:
        where, params = filter_sql(flt.with_changes(include_chunks=True), now)
        exact_below = max(EXACT_SEARCH_ROWS, 2 * k)
        if statistics.estimated_matches(flt) >= exact_below:
            exact_below = 0  # no count: the walk, then the exact search if it falls short
        nearest = nearest_parts(where, params, vector, k, exact_below)
    statements = []
    if words is not None:
        statements.append(words_statement(words, preceding))
    if nearest is not None:
        statements.append(nearest_statement(nearest))
    return statements


def postings_share(statistics: FilterStatistics, flt: Filter) -> float | None:
    """How the word ranking should use the postings (``postings``): None not at
    all, else the share of the store's postings a search reads. They check a
    filter on the rows they rank, best first, so it must keep most of them; a
    namespace is read from the postings themselves, its share from the
    statistics (one they do not list counts as the whole store, which only
    lists fewer terms); common tags are checked."""
    if flt.memory_type is not None or flt.metadata or flt.created_after or flt.created_before:
        return None
    if statistics.tag_share(flt) < POSTINGS_TAG_SHARE:
        return None
    if flt.namespace is None:
        return 1.0
    return statistics.namespace_share(flt.namespace) or 1.0


def read_rankings(rows: Sequence[Any]) -> Rankings:
    """The Rankings of the (named) rows of ``ranking_statements``' statements."""
    by_text: list[Candidate] = []
    by_vector: list[Candidate] = []
    preceding: dict[str, str] = {}
    for row in rows:
        candidate = to_candidate(row, float(row.score))
        if row.side == "vector":
            by_vector.append(candidate)
            continue
        by_text.append(candidate)
        if row.before is not None:
            preceding[candidate.id] = row.before
    return Rankings(by_vector, by_text, preceding)
