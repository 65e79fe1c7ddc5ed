"""Reading a statement's one row: an aggregate, a ``SHOW``, a ``RETURNING`` that always returns."""

from __future__ import annotations

from typing import Any

import psycopg

from ...errors import StoreUnavailable


def one_row(cur: psycopg.Cursor[Any]) -> tuple[Any, ...]:
    """The row a statement always returns; a server that returns none has failed."""
    row = cur.fetchone()
    if row is None:
        raise StoreUnavailable("PostgreSQL returned no row where one is always returned")
    return tuple(row)
