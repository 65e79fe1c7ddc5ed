"""Which memory of a duplicate cluster survives, and what it keeps of the others.

Survivor rules (``--keep``), each breaking ties with the next criteria and
finally the id, so a plan is deterministic:

- ``newest``: the latest ``created_at`` (the most current wording), then the
  most important, then the longest.
- ``important``: the highest ``importance``, then the newest, then the longest.
- ``longest``: the most content (it likely says the most), then the newest,
  then the most important.

The merged memory keeps the survivor's content, type and timestamps, and takes:
the union of every member's tags; the highest importance; metadata where the
survivor's keys win and keys only the others have are added (the better
ranked member first); and provenance: ``merged_from`` lists the ids merged in
(also those merged into any member earlier), ``merge_operation`` the operation
that did it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import InvalidInput
from ..model import Memory, MemoryChanges

MERGED_FROM = "merged_from"
MERGE_OPERATION = "merge_operation"


@dataclass(frozen=True, slots=True)
class Candidate:
    """What a survivor rule looks at; known for every memory without loading it whole."""

    id: str
    created_at: datetime
    importance: float
    length: int


_RULES: dict[str, Callable[[Candidate], tuple[Any, ...]]] = {
    "newest": lambda c: (c.created_at, c.importance, c.length),
    "important": lambda c: (c.importance, c.created_at, c.length),
    "longest": lambda c: (c.length, c.created_at, c.importance),
}
RULES = tuple(_RULES)


def check_rule(rule: str) -> str:
    if rule not in _RULES:
        raise InvalidInput(f"keep must be one of {', '.join(RULES)}, got {rule!r}", field="keep")
    return rule


def rank(candidates: Sequence[Candidate], rule: str) -> list[Candidate]:
    """Best first by ``rule``; the first is the survivor."""
    key = _RULES[check_rule(rule)]
    # Sort by id ascending first so equal keys keep a deterministic order.
    by_id = sorted(candidates, key=lambda c: c.id)
    return sorted(by_id, key=key, reverse=True)


def candidate(memory: Memory) -> Candidate:
    return Candidate(memory.id, memory.created_at, memory.importance, len(memory.content))


def merged_changes(ranked: Sequence[Memory], operation: str | None) -> MemoryChanges:
    """The update that turns ``ranked[0]`` into the merge of all of ``ranked``."""
    survivor = ranked[0]
    tags = sorted({tag for m in ranked for tag in m.tags})
    metadata: dict[str, Any] = {}
    for memory in reversed(ranked):
        metadata.update(memory.metadata)
    provenance: list[str] = []
    for memory in ranked:
        earlier = memory.metadata.get(MERGED_FROM, [])
        ids = ([*earlier] if isinstance(earlier, list) else []) + (
            [memory.id] if memory is not survivor else []
        )
        provenance += [i for i in ids if isinstance(i, str) and i not in provenance]
    metadata[MERGED_FROM] = provenance
    if operation is not None:
        metadata[MERGE_OPERATION] = operation
    return MemoryChanges(
        tags=tuple(tags), metadata=metadata, importance=max(m.importance for m in ranked)
    )
