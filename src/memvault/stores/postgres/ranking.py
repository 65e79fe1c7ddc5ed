"""Both sides of a hybrid search in one statement: the word ranking (``words``), each
word match's predecessor, and the nearest vectors (``search``).

Each statement is a round trip to the server, which for a fleet is a network
away; the three queries share nothing but the filter, so they run as CTEs of
one statement and answer in one result, each row marked with its side.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from ...model import Candidate
from ..base import Rankings
from .search import preceding_sql, to_candidate

# A statement's parts: its CTEs, the final SELECT over them, the parameters.
Parts = tuple[str, str, list[Any]]

# The word matches with another match at most the interval (the parameter) before
# them: only those can be preceded by a match, which is all the credit needs.
ASKED = """c.id IN (
    SELECT t.id FROM text_hits t WHERE EXISTS (
        SELECT FROM text_hits o WHERE o.id <> t.id
        AND o.created_at >= t.created_at - %s AND o.created_at <= t.created_at))"""

COLUMNS = "id, created_at, importance, parent_id, chunk_index, score"


def rankings_query(
    words: Parts | None,
    preceding: tuple[str, list[Any], timedelta] | None,
    nearest: Parts | None,
) -> tuple[str, list[Any]]:
    """One statement (SQL, parameters) for the given sides: ``words`` from
    ``words.text_search_parts``, ``preceding`` the word side's filter (WHERE,
    parameters) and interval, ``nearest`` from ``search.nearest_parts``.

    Rows: the ``side`` ('text' or 'vector'), CANDIDATE_COLUMNS, the ``score``
    (BM25, or cosine similarity), the predecessor's id (``before``, word matches
    only); each side best first.
    """
    ctes: list[str] = []
    selects: list[str] = []
    params: list[Any] = []
    if words is not None:
        found, final, found_params = words
        ctes += [found, f"text_hits AS MATERIALIZED ({final})"]
        params += found_params
        before = "NULL::text"
        if preceding is not None:
            where, where_params, within = preceding
            ctes.append(f"preceded (id, before) AS MATERIALIZED ({preceding_sql(where, ASKED)})")
            params += [*where_params, within, within]
            before = "(SELECT p.before FROM preceded p WHERE p.id = t.id)"
        selects.append(
            f"SELECT 'text' AS side, {COLUMNS}, rowid, {before} AS before FROM text_hits t"
        )
    if nearest is not None:
        found, final, found_params = nearest
        ctes += [found, f"vector_hits AS MATERIALIZED ({final})"]
        params += found_params
        selects.append(
            "SELECT 'vector' AS side, id, created_at, importance, parent_id, chunk_index, "
            "1 - distance AS score, 0 AS rowid, NULL::text AS before FROM vector_hits"
        )
    union = " UNION ALL ".join(selects)
    # Equal scores: the older memory first, as every store ranks words (``stores.bm25``).
    return f"WITH {', '.join(ctes)} {union} ORDER BY side, score DESC, created_at, rowid", params


def read_rankings(rows: Sequence[Any]) -> Rankings:
    """The Rankings of ``rankings_query``'s (named) rows."""
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
