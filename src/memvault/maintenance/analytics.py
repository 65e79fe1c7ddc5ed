"""Usage analytics: what a store holds, when it grew, what is big, how much repeats.

The distributions come from the store's ``detailed_stats`` (aggregate queries
where the engine has them). The duplicate ratio is the share of memories a
consolidation would remove, from the same analysis ``memvault dedup`` runs,
per namespace; it is the one part that reads vectors, so it can be skipped.
"""

from __future__ import annotations

import time
from typing import Any

from ..model import Filter
from ..stores import Store
from .duplicates import DEFAULT_THRESHOLD, find_duplicates

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
PREVIEW_CHARS = 80


def detailed_stats(
    store: Store,
    namespace: str | None,
    *,
    top: int = 20,
    duplicates: bool = True,
    threshold: float = DEFAULT_THRESHOLD,
) -> dict[str, Any]:
    """Counts by tag, type, importance, hour (UTC), weekday and month; growth; largest;
    and, unless ``duplicates`` is False, the duplicate ratio."""
    flt = Filter(namespace=namespace)
    s = store.detailed_stats(flt, top=top)
    previews = {
        m.id: m.content[:PREVIEW_CHARS]
        for m in store.get_many([memory_id for memory_id, _ in s.largest])
    }
    running = 0
    growth = []
    for month, added in s.by_month.items():
        running += added
        growth.append({"month": month, "added": added, "total": running})
    out: dict[str, Any] = {
        "namespace": namespace,
        "total": s.total,
        "expired_pending_removal": s.expired,
        "content_bytes": s.content_bytes,
        "distinct_tags": s.distinct_tags,
        "by_tag": s.by_tag,
        "by_type": s.by_type,
        "by_importance": s.by_importance,
        "by_hour_utc": {f"{h:02d}": s.by_hour.get(h, 0) for h in range(24)},
        "by_weekday": {name: s.by_weekday.get(i, 0) for i, name in enumerate(WEEKDAYS)},
        "by_month": s.by_month,
        "growth": growth,
        "largest": [
            {"id": i, "bytes": size, "preview": previews.get(i, "")} for i, size in s.largest
        ],
    }
    if duplicates:
        out["duplicates"] = duplicate_summary(store, namespace, threshold)
    return out


def duplicate_summary(store: Store, namespace: str | None, threshold: float) -> dict[str, Any]:
    started = time.perf_counter()
    names = [namespace] if namespace is not None else sorted(store.stats(None).namespaces)
    scanned = redundant = clusters = 0
    for name in names:
        plan = find_duplicates(store, Filter(namespace=name), threshold=threshold)
        scanned += plan.scanned
        redundant += plan.redundant
        clusters += len(plan.clusters)
    return {
        "threshold": threshold,
        "clusters": clusters,
        "redundant": redundant,
        "ratio": round(redundant / scanned, 4) if scanned else 0.0,
        "elapsed_seconds": round(time.perf_counter() - started, 3),
    }
