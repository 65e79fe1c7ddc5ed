"""Each memory's predecessor: the memory matching a filter stored just before it in
its namespace, if no more than a given time earlier (``Store.preceding``).

Ties in time are in the order the memories were written (rowid). When only
the namespace narrows the filter, the word index answers with an array
lookup per memory; otherwise the SQL takes one step back along the
(namespace, created_at) index per memory asked about.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from ...model import Filter, to_micros, utcnow
from .allowed import namespace_decides
from .database import SqliteDatabase
from .schema import filter_sql
from .words import WordIndex

MICROSECOND = timedelta(microseconds=1)  # times are stored in these


def preceding(
    db: SqliteDatabase,
    words: WordIndex,
    memory_ids: Sequence[str],
    flt: Filter,
    within: timedelta,
) -> dict[str, str]:
    """The id of each asked memory's predecessor, for those that have one."""
    if not memory_ids:
        return {}
    if not flt.include_chunks and namespace_decides(db, flt, to_micros(utcnow())):
        found = _by_words(db, words, memory_ids, within)
        if found is not None:
            return found
    where, params = filter_sql(flt, to_micros(utcnow()))
    rows = db.rows(
        "SELECT c.id AS later, ("
        f"  SELECT m.id FROM memories m WHERE {where} AND m.namespace = c.namespace"
        "   AND m.created_at >= c.created_at - ?"
        "   AND (m.created_at, m.rowid) < (c.created_at, c.rowid)"
        "   ORDER BY m.created_at DESC, m.rowid DESC LIMIT 1) AS earlier "
        f"FROM memories c WHERE c.id IN ({','.join('?' * len(memory_ids))})",
        [*params, within // MICROSECOND, *memory_ids],
    )
    return {r.later: r.earlier for r in rows if r.earlier is not None}


def _by_words(
    db: SqliteDatabase, words: WordIndex, memory_ids: Sequence[str], within: timedelta
) -> dict[str, str] | None:
    """``preceding`` when nothing narrows the namespace, from the word index.

    It holds every memory that is not a chunk, with its time, so one step
    back is an array lookup instead of an index walk per memory. None if a
    chunk is asked about: the index does not hold it.
    """
    with words.reading(db):
        # Read from the index on ids alone, not from the memory rows.
        asked = db.mapping(
            f"SELECT rowid, id FROM memories WHERE id IN ({','.join('?' * len(memory_ids))})",
            memory_ids,
        )
        before = words.preceding(db, list(asked), within // MICROSECOND)
        if before is None:
            return None
        unnamed = [rowid for rowid in before.values() if rowid not in asked]
        marks = ",".join("?" * len(unnamed))
        names = (
            db.mapping(f"SELECT rowid, id FROM memories WHERE rowid IN ({marks})", unnamed)
            if unnamed
            else {}
        )
    names.update(asked)
    return {asked[later]: names[earlier] for later, earlier in before.items()}
