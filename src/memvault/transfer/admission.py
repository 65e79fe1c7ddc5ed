"""What of a source's batch a migration's target takes: memories within today's
limits, and chunks whose parent is there (their vectors are ``vectors``')."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import InvalidInput
from ..inputs import check_memory
from ..model import Memory
from ..stores import Store
from .retry import retrying


def within_limits(batch: list[Memory], fail: Callable[[str, str], None]) -> list[Memory]:
    """The batch without memories outside today's limits (a time in the year 1, say;
    control characters stored once pass: ``check_memory``), each told to ``fail``
    with why; their chunks then have no parent and are left out too."""
    kept = []
    for memory in batch:
        if memory.parent_id is None:
            try:
                check_memory(memory)
            except InvalidInput as exc:
                fail(memory.id, exc.message)
                continue
        kept.append(memory)
    return kept


def placeable(batch: list[Memory], target: Store) -> list[Memory]:
    """Drop chunks already in the target, and chunks whose parent is not there."""
    chunks = [m for m in batch if m.parent_id is not None]
    if not chunks:
        return batch
    here = {m.id for m in batch if m.parent_id is None}
    present = {
        m.id
        for m in retrying(
            lambda: target.get_many(
                [m.id for m in chunks] + [m.parent_id for m in chunks if m.parent_id]
            ),
            "reading the target",
        )
    }
    return [
        m
        for m in batch
        if m.parent_id is None
        or (m.id not in present and (m.parent_id in here or m.parent_id in present))
    ]
