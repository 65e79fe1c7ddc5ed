"""How a Memory is laid out in a Chroma record, and a Filter as a Chroma ``where``.

Chroma metadata values are scalars (or non-empty lists of one scalar type),
so a memory is spread over several keys:

- the keys mcp-memory-service and other Chroma memory tools read, so they can
  still use a collection memvault wrote: ``content_hash``, ``memory_type``,
  ``tags`` (comma-joined), ``timestamp`` / ``created_at`` / ``updated_at``
  (float epoch seconds) and their ``*_iso`` strings;
- memvault's exact fields: ``namespace``, ``importance``, ``mv_created`` /
  ``mv_updated`` / ``mv_accessed`` / ``mv_expires`` (integer microseconds),
  ``mv_parent`` / ``mv_chunk``, ``mv_tags`` (the tag list, for ``$contains``)
  and ``mv_metadata`` (the metadata as JSON);
- ``meta.<key>`` for each scalar top-level metadata value, so metadata
  equality filters run inside Chroma.

The document is the content; the record id is the memory id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from ...model import Filter, Memory, from_micros, to_micros

NO_PARENT = ""
NO_CHUNK = -1
NEVER = 2**62  # mv_expires of a memory that never expires: "> now" stays one comparison
META_PREFIX = "meta."


def _seconds(value: datetime) -> float:
    return value.timestamp()


def to_chroma_metadata(m: Memory) -> dict[str, Any]:
    """The Chroma metadata of one memory record."""
    meta: dict[str, Any] = {
        "content_hash": m.content_hash,
        "namespace": m.namespace,
        "memory_type": m.memory_type,
        "tags": ",".join(m.tags),
        "importance": float(m.importance),
        "timestamp": _seconds(m.created_at),
        "created_at": _seconds(m.created_at),
        "created_at_iso": m.created_at.isoformat(),
        "updated_at": _seconds(m.updated_at or m.created_at),
        "updated_at_iso": (m.updated_at or m.created_at).isoformat(),
        "mv_created": to_micros(m.created_at),
        "mv_updated": to_micros(m.updated_at),
        "mv_expires": to_micros(m.expires_at) if m.expires_at else NEVER,
        "mv_parent": m.parent_id or NO_PARENT,
        "mv_chunk": NO_CHUNK if m.chunk_index is None else m.chunk_index,
        "mv_metadata": json.dumps(m.metadata, ensure_ascii=False, separators=(",", ":")),
    }
    if m.tags:
        meta["mv_tags"] = list(m.tags)
    if m.last_accessed_at is not None:
        meta["mv_accessed"] = to_micros(m.last_accessed_at)
    for key, value in m.metadata.items():
        if isinstance(value, str | int | float | bool):
            meta[META_PREFIX + key] = _filterable(value)
    return meta


def _filterable(value: str | int | float | bool) -> str | int | float:
    # As in the SQLite store (json_extract), a boolean compares equal to 1 or 0.
    return int(value) if isinstance(value, bool) else value


def removed_keys(old: dict[str, Any], new: dict[str, Any]) -> dict[str, None]:
    """Keys to delete in a Chroma ``update`` (which merges) so ``new`` replaces ``old``."""
    return {key: None for key in old if key not in new}


def from_chroma(
    record_id: str, document: str, meta: dict[str, Any], embedding: Any = None
) -> Memory:
    """A Memory from one record memvault wrote."""
    accessed = meta.get("mv_accessed")
    expires = meta.get("mv_expires", NEVER)
    parent = meta.get("mv_parent") or None
    chunk = meta.get("mv_chunk", NO_CHUNK)
    return Memory(
        id=record_id,
        content=document,
        content_hash=meta["content_hash"],
        namespace=meta["namespace"],
        tags=tuple(meta.get("mv_tags") or ()),
        memory_type=meta["memory_type"],
        metadata=json.loads(meta.get("mv_metadata") or "{}"),
        importance=float(meta["importance"]),
        created_at=from_micros(meta["mv_created"]),
        updated_at=from_micros(meta["mv_updated"]),
        last_accessed_at=from_micros(accessed) if accessed is not None else None,
        expires_at=None if expires >= NEVER else from_micros(expires),
        parent_id=parent,
        chunk_index=None if chunk == NO_CHUNK else chunk,
        embedding=None if embedding is None else np.asarray(embedding, dtype=np.float32),
    )


def where(flt: Filter, now: datetime) -> dict[str, Any] | None:
    """``flt`` as a Chroma ``where`` clause (None when nothing narrows the set)."""
    clauses: list[dict[str, Any]] = []
    if flt.namespace is not None:
        clauses.append({"namespace": flt.namespace})
    if not flt.include_chunks:
        clauses.append({"mv_parent": NO_PARENT})
    if not flt.include_expired:
        clauses.append({"mv_expires": {"$gt": to_micros(now)}})
    if flt.memory_type is not None:
        clauses.append({"memory_type": flt.memory_type})
    if flt.created_after is not None:
        clauses.append({"mv_created": {"$gte": to_micros(flt.created_after)}})
    if flt.created_before is not None:
        clauses.append({"mv_created": {"$lt": to_micros(flt.created_before)}})
    if flt.tags_any:
        clauses.append(any_of([{"mv_tags": {"$contains": t}} for t in flt.tags_any]))
    clauses.extend({"mv_tags": {"$contains": t}} for t in flt.tags_all)
    for key, value in sorted(flt.metadata.items()):
        clauses.append({META_PREFIX + key: _filterable(value)})
    return all_of(clauses)


def all_of(clauses: Sequence[dict[str, Any] | None]) -> dict[str, Any] | None:
    """Chroma wants ``$and`` with two or more parts, a lone clause as is, or no where."""
    given = [c for c in clauses if c]
    if not given:
        return None
    return given[0] if len(given) == 1 else {"$and": given}


def any_of(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


Mark = tuple[str, str, int]  # (id, namespace, created µs) of a record


def time_marks(res: dict[str, Any]) -> list[Mark]:
    """Each record's id, namespace and creation time, from a ``get`` with metadatas."""
    return [
        (rid, meta["namespace"], meta["mv_created"])
        for rid, meta in zip(res["ids"], res["metadatas"], strict=True)
    ]


def windows_before(marks: list[Mark], span_us: int) -> dict[str, Any]:
    """A ``where`` for the records in the ``span_us`` before each mark, in its namespace."""
    return any_of(
        [
            {
                "$and": [
                    {"namespace": ns},
                    {"mv_created": {"$gte": created - span_us}},
                    {"mv_created": {"$lte": created}},
                ]
            }
            for _, ns, created in marks
        ]
    )


def latest_before(nearby: list[Mark], mark: Mark, span_us: int) -> str | None:
    """The id of the record of ``nearby`` just before ``mark`` (by time, then id) in its span."""
    record_id, namespace, created = mark
    earlier = [
        (c, rid)
        for rid, ns, c in nearby
        if ns == namespace and (c, rid) < (created, record_id) and created - c <= span_us
    ]
    return max(earlier)[1] if earlier else None
