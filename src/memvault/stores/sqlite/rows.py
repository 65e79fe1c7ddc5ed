"""Rows of an APSW statement, read by column name.

APSW gives each row as a plain tuple, so a reader would have to know where a
column stands in the SELECT (``row[9]``), and a column added in the middle
would silently shift every read after it. Here a statement's column names
(``AS`` names where given) become a named tuple class, made once per set of
names, and each row is built from the driver's tuple by ``tuple.__new__``
without a Python frame: searches read a few hundred rows each, so the names
cost a fraction of a microsecond a row. A name that is not an identifier
(``count(*)``) gets a positional one: alias such a column to read it, and
not as ``count`` or ``index``, which are a tuple's methods.

Single values, single columns and two-column lookups have their own readers
(``scalar``, ``column``, ``mapping``), which build no rows at all.
"""

from __future__ import annotations

import collections
import functools
import itertools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, cast

import apsw

if TYPE_CHECKING:

    class Row(tuple[Any, ...]):
        """A row: each column by its name (``row.created_at``), and still a tuple."""

        def __getattr__(self, name: str) -> Any: ...

else:
    Row = tuple


@functools.lru_cache(maxsize=512)
def _row_maker(names: tuple[str, ...]) -> Callable[[Iterable[Any]], Row]:
    row_type = collections.namedtuple("Row", names, rename=True)  # type: ignore[misc]
    return cast(Callable[[Iterable[Any]], Row], functools.partial(tuple.__new__, row_type))


def named(cursor: apsw.Cursor, size: int | None = None) -> list[Row]:
    """The rows an executed statement returns, each readable by column name; with
    ``size``, only its next ``size`` rows (a big read taken in batches)."""
    try:
        description = cursor.get_description()
    except apsw.ExecutionCompleteError:  # no row (left)
        return []
    rows = cursor if size is None else itertools.islice(cursor, size)
    return list(map(_row_maker(tuple(name for name, _ in description)), rows))


def column(cursor: apsw.Cursor) -> list[Any]:
    """The values of an executed statement that selects one column."""
    return [value for (value,) in cursor]


def mapping(cursor: apsw.Cursor) -> dict[Any, Any]:
    """An executed statement's rows of two columns as a dict: first column to second."""
    return dict(cursor)


def scalar(cursor: apsw.Cursor) -> Any:
    """The one value of an executed statement that returns one row of one column
    (an aggregate, a pragma); None if it returned no row."""
    found = None
    for (value,) in cursor:  # to the end, so the statement is finished and its read lock gone
        found = value
    return found
