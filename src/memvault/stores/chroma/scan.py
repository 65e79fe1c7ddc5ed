"""Walking a Chroma collection in order, which Chroma's API does not offer directly.

``get`` returns records in insertion order with ``limit``/``offset`` but has
no ORDER BY, no keyset paging and no aggregates. ``scan_records`` pages by
offset and re-finds its place on resume; ``window_ids`` finds the ids of the
records nearest a point in time by widening a time window with cheap id-only
reads; ``stats_of`` totals a walk.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ...errors import InvalidInput
from ...model import Memory, to_micros, utcnow
from ..base import StoreStats, parse_page_cursor
from .records import all_of

HOUR_US = 3_600_000_000
_GROWTH = 8
_UNBOUNDED_US = HOUR_US * 24 * 365 * 10_000  # past this the window has no bound at all
_SEEK_BATCH = 5000


def page_after(cursor: str | None) -> tuple[int, str] | None:
    """``(mv_created, id)`` of the last record of a ``query`` page, or None for the first."""
    return parse_page_cursor(cursor) if cursor else None


def scan_records(
    col: Any, clause: dict[str, Any] | None, batch_size: int, cursor: str | None, include: list[str]
) -> Iterator[tuple[dict[str, Any], str]]:
    """Pages of ``col.get`` results in insertion order, each with the cursor after it.

    The cursor is ``"offset:last_id"``. On resume, if deletions moved the
    record at ``offset - 1``, the last id is looked up again (ids only); if it
    is gone the walk restarts, so a resumed consumer must be idempotent.
    """
    offset = _resume_offset(col, clause, cursor) if cursor else 0
    while True:
        res = col.get(where=clause, limit=batch_size, offset=offset, include=include)
        if not res["ids"]:
            return
        offset += len(res["ids"])
        yield res, f"{offset}:{res['ids'][-1]}"


def _resume_offset(col: Any, clause: dict[str, Any] | None, cursor: str) -> int:
    offset, _, last_id = cursor.partition(":")
    if not offset.isdigit() or not last_id:
        raise InvalidInput("scan cursor is malformed", field="cursor")
    offset_n = int(offset)
    if offset_n and col.get(where=clause, limit=1, offset=offset_n - 1, include=[])["ids"] == [
        last_id
    ]:
        return offset_n
    start = 0
    while True:
        ids = col.get(where=clause, limit=_SEEK_BATCH, offset=start, include=[])["ids"]
        if not ids:
            return 0
        if last_id in ids:
            return start + ids.index(last_id) + 1
        start += len(ids)


def window_ids(
    ids_where: Callable[[dict[str, Any] | None], list[str]],
    clause: dict[str, Any] | None,
    after: tuple[int, str] | None,
    limit: int,
    oldest_first: bool,
    first_created: Callable[[dict[str, Any] | None], int | None],
) -> list[str]:
    """Ids of a time window next to ``after`` (or the newest/oldest end) holding a page.

    The window starts one hour wide and grows eightfold until it holds more
    than ``limit`` records past the cursor, or has no bound left. Records at
    exactly the cursor's time are counted out, since the caller drops those
    at or before the cursor id.
    """
    anchor: int | None
    if after is not None:
        anchor = after[0]
        at_cursor = len(ids_where(all_of([clause, {"mv_created": after[0]}])))
    else:
        anchor = first_created(clause) if oldest_first else None
        at_cursor = 0
        if oldest_first and anchor is None:
            return []
    span = HOUR_US
    while True:
        bounded = span < _UNBOUNDED_US
        parts: list[dict[str, Any] | None] = [clause]
        if oldest_first:
            if after is not None:
                parts.append({"mv_created": {"$gte": after[0]}})
            if bounded and anchor is not None:  # None only when empty, returned above
                parts.append({"mv_created": {"$lt": anchor + span}})
        else:
            if after is not None:
                parts.append({"mv_created": {"$lte": after[0]}})
            if bounded:
                parts.append({"mv_created": {"$gte": (anchor or _now_us()) - span}})
        ids = ids_where(all_of(parts))
        if len(ids) > limit + at_cursor or not bounded:
            return ids
        span *= _GROWTH


def _now_us() -> int:
    return to_micros(utcnow())


def stats_of(batches: Iterable[list[Memory]]) -> StoreStats:
    """Totals by namespace, type, tag and month, in one pass over the memories."""
    namespaces: Counter[str] = Counter()
    types: Counter[str] = Counter()
    tags: Counter[str] = Counter()
    months: Counter[str] = Counter()
    oldest = newest = None
    for batch in batches:
        for m in batch:
            namespaces[m.namespace] += 1
            types[m.memory_type] += 1
            tags.update(m.tags)
            months[m.created_at.strftime("%Y-%m")] += 1
            oldest = m.created_at if oldest is None else min(oldest, m.created_at)
            newest = m.created_at if newest is None else max(newest, m.created_at)
    return StoreStats(
        total=sum(namespaces.values()),
        namespaces=dict(namespaces.most_common()),
        by_type=dict(types.most_common()),
        top_tags=sorted(tags.items(), key=lambda t: (-t[1], t[0]))[:20],
        per_month=dict(sorted(months.items())),
        oldest=oldest.isoformat() if oldest else None,
        newest=newest.isoformat() if newest else None,
    )
