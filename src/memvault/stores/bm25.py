"""Okapi BM25: the one word score every store ranks by.

It is SQLite FTS5's ``bm25()``, the SQLite store's ranking from the start:
k1 = 1.2, b = 0.75, and idf = ln((N - df + 0.5) / (df + 0.5)) floored at
1e-6, so that a word held by more than half the documents still counts a
little and every match scores above zero. N, df and the average length are
taken over the whole store, all namespaces, as FTS5 takes them over its file.
The SQLite store computes it with numpy, the Chroma store over candidate
texts, the PostgreSQL store in SQL (``weight_sql``): the same constants and
the same arithmetic in each, over the same words (``stores.tokens``). Equal
scores (memories of the same length holding the same query words as often)
rank the older memory first, then in the order the store keeps: so each
store returns the same ranking.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np

K1, B = 1.2, 0.75
IDF_FLOOR = 1e-6

Number = TypeVar("Number", float, np.ndarray)


def idf(documents: float, holding: float) -> float:
    """The rarity of a term held by ``holding`` of ``documents`` documents."""
    return max(math.log((documents - holding + 0.5) / (holding + 0.5)), IDF_FLOOR)


def weight(term_idf: float, tf: Number, length: Number, average_length: float) -> Number:
    """A term's share of a document's score: ``tf`` occurrences in ``length`` tokens."""
    return term_idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / average_length))


def upper_bound(term_idf: float) -> float:
    """The most a term can add to any document's score (its weight as tf grows)."""
    return term_idf * (K1 + 1)


def idf_sql(documents: str, holding: str) -> str:
    """``idf`` as a SQL expression over two numeric SQL expressions."""
    return f"greatest(ln(({documents} - {holding} + 0.5) / ({holding} + 0.5)), {IDF_FLOOR})::float8"


def upper_bound_sql(term_idf: str) -> str:
    """``upper_bound`` as a SQL expression."""
    return f"({term_idf} * {K1 + 1})"


def weight_sql(term_idf: str, tf: str, length: str, average_length: str) -> str:
    """``weight`` as a SQL expression over SQL expressions (float8 arithmetic)."""
    return (
        f"({term_idf} * {tf} * {K1 + 1} / ({tf} + {K1} * "
        f"(1 - {B} + {B} * {length} / {average_length})))"
    )
