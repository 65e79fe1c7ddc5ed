"""Reading rows: every pooled cursor gives named tuples (``Database.cursor``), so a
row is read by column name; and a statement's one row or one value (an aggregate,
a ``SHOW``, a ``RETURNING`` that always returns)."""

from __future__ import annotations

from typing import Any, TypeAlias

import psycopg

from ...errors import StoreUnavailable

# A pooled cursor: its rows are named tuples (``psycopg.rows.namedtuple_row``).
Cursor: TypeAlias = psycopg.Cursor[Any]


def one_row(cur: psycopg.Cursor[Any]) -> Any:
    """The row a statement always returns; a server that returns none has failed."""
    row = cur.fetchone()
    if row is None:
        raise StoreUnavailable("PostgreSQL returned no row where one is always returned")
    return row


def one_value(cur: psycopg.Cursor[Any]) -> Any:
    """The value of a statement that always returns one row of one column."""
    (value,) = one_row(cur)
    return value
