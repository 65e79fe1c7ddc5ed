"""Before-images: memories as they were, with chunks and vectors, and putting them back.

They are kept as dump records (``transfer.dump``), the one serialized form of
a memory, both in the operation log and in backup files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..model import Memory, MemoryChanges
from ..stores import Store
from ..transfer.dump import DumpHeader, write_dump
from ..transfer.records import memory_from_record, memory_to_record

BATCH = 500


def before_images(
    store: Store, ids: Sequence[str], chunks: Mapping[str, Sequence[str]]
) -> list[Memory]:
    """The memories with these ids and their chunks (ids in ``chunks``), with vectors."""
    wanted = [part for memory_id in ids for part in (memory_id, *chunks.get(memory_id, ()))]
    out: list[Memory] = []
    for start in range(0, len(wanted), BATCH):
        out += store.get_many(wanted[start : start + BATCH], with_embedding=True)
    return out


def to_records(memories: Iterable[Memory]) -> list[dict[str, Any]]:
    return [memory_to_record(m) for m in memories]


def from_records(records: Iterable[dict[str, Any]]) -> list[Memory]:
    return [memory_from_record(r, None) for r in records]


def put_back(store: Store, images: Sequence[Memory]) -> int:
    """Make each memory (and its chunks) exactly its image again; idempotent.

    A memory that changed since is replaced by its image; one that is gone is
    added back with its id, timestamps and vectors. Returns how many top-level
    memories were written.
    """
    parents = [m for m in images if m.parent_id is None]
    current = {m.id: m for m in store.get_many([m.id for m in parents])}
    stale = [m.id for m in parents if m.id in current and current[m.id] != m]
    store.delete(stale)
    missing = {m.id for m in parents if m.id not in current or m.id in stale}
    todo = [m for m in images if (m.parent_id or m.id) in missing]
    store.add(todo)
    return len(missing)


def write_backup(store: Store, memories: Iterable[Memory], path: Path) -> Path:
    """A dump of ``memories`` at ``path``, restorable with ``memvault restore``."""
    spec = store.embedding_spec()
    header = DumpHeader(
        model=spec.model if spec else None,
        dimension=spec.dimension if spec else None,
        source=store.url,
    )
    write_dump(path, memories, header)
    return path


def changes_to_dict(changes: MemoryChanges) -> dict[str, Any]:
    return {
        "tags": list(changes.tags or ()),
        "metadata": changes.metadata,
        "importance": changes.importance,
    }


def changes_from_dict(data: Mapping[str, Any]) -> MemoryChanges:
    return MemoryChanges(
        tags=tuple(data["tags"]),
        metadata=dict(data["metadata"]),
        importance=float(data["importance"]),
    )
