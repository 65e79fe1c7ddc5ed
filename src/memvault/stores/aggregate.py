"""Analytics for stores without aggregate queries: one streaming pass over ``scan``.

A store whose engine cannot GROUP BY (Chroma) answers ``detailed_stats`` with
this; it holds only counters and the ``top`` largest, never the memories.
"""

from __future__ import annotations

import heapq
from collections import Counter

from ..model import Filter, utcnow
from .base import DetailedStats, Store

SCAN_BATCH = 1000


def importance_bucket(importance: float) -> str:
    """The lower bound of the tenth-wide bucket; 1.0 belongs to "0.9"."""
    return f"{min(int(importance * 10), 9) / 10:.1f}"


def detailed_stats_by_scan(store: Store, flt: Filter, top: int = 20) -> DetailedStats:
    now = utcnow()
    counts: dict[str, Counter] = {
        name: Counter() for name in ("tag", "type", "importance", "hour", "weekday", "month")
    }
    largest: list[tuple[int, _Reversed]] = []
    total = expired = content_bytes = 0
    for batch, _ in store.scan(
        flt.with_changes(include_expired=True), batch_size=SCAN_BATCH, with_embedding=False
    ):
        for memory in batch:
            if (
                not flt.include_expired
                and memory.expires_at is not None
                and memory.expires_at <= now
            ):
                expired += 1
                continue
            total += 1
            size = len(memory.content.encode("utf-8"))
            content_bytes += size
            counts["tag"].update(memory.tags)
            counts["type"][memory.memory_type] += 1
            counts["importance"][importance_bucket(memory.importance)] += 1
            counts["hour"][memory.created_at.hour] += 1
            counts["weekday"][memory.created_at.weekday()] += 1
            counts["month"][memory.created_at.strftime("%Y-%m")] += 1
            # Ties go to the smaller id, as in the SQL stores' ORDER BY size DESC, id.
            item = (size, _Reversed(memory.id))
            if len(largest) < top:
                heapq.heappush(largest, item)
            elif item > largest[0]:
                heapq.heapreplace(largest, item)
    tags = sorted(counts["tag"].items(), key=lambda kv: (-kv[1], kv[0]))
    return DetailedStats(
        total=total,
        expired=expired,
        content_bytes=content_bytes,
        by_tag=dict(tags[:top]),
        distinct_tags=len(tags),
        by_type=dict(counts["type"]),
        by_importance=dict(sorted(counts["importance"].items())),
        by_hour=dict(sorted(counts["hour"].items())),
        by_weekday=dict(sorted(counts["weekday"].items())),
        by_month=dict(sorted(counts["month"].items())),
        largest=[(rid.value, size) for size, rid in sorted(largest, reverse=True)],
    )


class _Reversed:
    """Orders strings backwards, so a min-heap of (size, id) keeps the smallest ids."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return self.value > other.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)
