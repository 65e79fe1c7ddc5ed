"""The rows a filter allows a search to return, as rowids for the in-process rankings.

The filter picks the candidate rows first, so the k best are chosen among
matching memories only (never filtered afterwards). The rankings keep
namespaces apart themselves, so a filter that names only a namespace needs
no rowid set at all, and one that adds only tags is read from the tags' own
key (tag, namespace, rowid) rather than from scattered memory rows: only
the namespace's tagged rows, however common the tag is elsewhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...model import Filter, to_micros, utcnow
from .database import SqliteDatabase
from .schema import filter_sql, tag_sql

EXPIRED_SQL = "FROM memories WHERE expires_at IS NOT NULL AND expires_at <= ?"


class TagRows:
    """The rowids of the last tags asked for, kept until the file changes.

    A hybrid search asks for its filter's rows twice (each side ranks), and
    reading them through the driver is most of what a tag costs a search
    (25,000 rowids, about 5 ms). Kept as one (key, rows) pair, so a thread
    never sees one's key with another's rows; the rows are read-only.
    """

    def __init__(self) -> None:
        self._last: tuple[tuple[Any, ...], np.ndarray] | None = None

    def read(self, db: SqliteDatabase, flt: Filter) -> np.ndarray:
        # The mark first: a commit between it and the read makes the next look
        # read again, never keeps rows older than their mark.
        key = (flt.namespace, flt.tags_any, flt.tags_all, db.change_mark())
        last = self._last
        if last is not None and last[0] == key:
            return last[1]
        rows = _rowids(db, *tag_sql(flt))
        rows.flags.writeable = False
        self._last = key, rows
        return rows


def allowed_rowids(db: SqliteDatabase, flt: Filter, tags: TagRows) -> np.ndarray | None:
    """The rowids a search may return, or None when the namespace alone decides."""
    now = to_micros(utcnow())
    if namespace_decides(db, flt, now):
        return None
    if not flt.is_namespace_only and flt.with_changes(tags_any=(), tags_all=()).is_namespace_only:
        # The in-process indexes hold chunks or not as each side needs, so the
        # tags alone pick the rows.
        tagged = tags.read(db, flt)
        if flt.include_expired:
            return tagged
        expired = _rowids(db, f"SELECT rowid {EXPIRED_SQL}", [now])
        return np.setdiff1d(tagged, expired, assume_unique=True) if len(expired) else tagged
    where, params = filter_sql(flt, now)
    return _rowids(db, f"SELECT m.rowid FROM memories m WHERE {where}", params)


def namespace_decides(db: SqliteDatabase, flt: Filter, now: int) -> bool:
    """Whether the namespace alone picks the rows ``flt`` allows (no rowid set needed)."""
    return flt.is_namespace_only and not db.scalar(f"SELECT 1 {EXPIRED_SQL} LIMIT 1", (now,))


def _rowids(db: SqliteDatabase, sql: str, params: list[Any]) -> np.ndarray:
    """The rowids a statement selects, ascending and each once (as ``positions_of``
    takes them): several tags may name a row twice, and a plan may read by time.
    Sorted here rather than by np.unique, whose hashing took 5 ms for 25,000."""
    found = np.sort(np.array(db.column(sql, params), dtype=np.int64))
    return found[np.diff(found, prepend=0) > 0]  # rowids start at 1


def positions_of(rowids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Where the rowids in ``wanted`` (ascending, each once) sit in the ascending
    ``rowids``, in order.

    Rowids not held are skipped: ``wanted`` may hold other namespaces' rows, or
    chunks where a ranking holds none. Each of the smaller array is looked up in
    the other by binary search: a tag of a quarter of 1,000,000 memories is
    more rows than each of ten namespaces holds.
    """
    if len(wanted) > len(rowids):
        found = np.searchsorted(wanted, rowids).clip(max=len(wanted) - 1)
        return np.flatnonzero(wanted[found] == rowids)
    positions = np.searchsorted(rowids, wanted)
    inside = positions < len(rowids)
    positions = positions[inside]
    return positions[rowids[positions] == wanted[inside]]
