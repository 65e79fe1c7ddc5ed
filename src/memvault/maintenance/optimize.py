"""Optimize: remove expired memories (into an archive), then compact and re-index.

The engine-specific work (VACUUM, ANALYZE, index merges and rebuilds) is the
store's ``optimize``; this adds the parts every store shares and measures the
bytes before and after.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..model import Filter, utcnow
from ..stores import Store
from .archiving import LIFECYCLE, archive
from .oplog import Operation, Progress, register

EXPIRE = "expire"


@dataclass(frozen=True, slots=True)
class OptimizeReport:
    before_bytes: int | None
    after_bytes: int | None
    expired_archived: int
    expired_archive: str | None
    operation_id: str | None
    steps: list[str] = field(default_factory=list)
    elapsed_seconds: float = 0.0

    @property
    def saved_bytes(self) -> int | None:
        if self.before_bytes is None or self.after_bytes is None:
            return None
        return self.before_bytes - self.after_bytes

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "saved_bytes": self.saved_bytes}


def purge_expired(
    store: Store, archive_dir: Path, progress: Progress | None = None
) -> Operation | None:
    """Archive, then delete, every memory whose ``expires_at`` has passed (any namespace)."""
    everything = Filter(namespace=None)
    expired = store.count(everything.with_changes(include_expired=True)) - store.count(everything)
    if expired <= 0:
        return None
    now = utcnow()
    return archive(
        store,
        everything,
        archive_dir / f"expired-{now:%Y%m%dT%H%M%S%f}.jsonl.gz",
        kind=EXPIRE,
        total=expired,
        progress=progress,
        only=lambda m: m.expires_at is not None and m.expires_at <= now,
    )


def optimize(store: Store, archive_dir: Path, progress: Progress | None = None) -> OptimizeReport:
    started = time.perf_counter()
    before = store.size_bytes()
    purged = purge_expired(store, archive_dir, progress)
    if progress is not None:
        progress("optimize", 0, None)
    steps = store.optimize()
    return OptimizeReport(
        before_bytes=before,
        after_bytes=store.size_bytes(),
        expired_archived=purged.result.get("archived", 0) if purged else 0,
        expired_archive=purged.backup if purged else None,
        operation_id=purged.id if purged else None,
        steps=steps,
        elapsed_seconds=round(time.perf_counter() - started, 3),
    )


register(EXPIRE, LIFECYCLE)
