"""One line of a dump as a Memory and back: every field, the vector in base64.

Reading checks only what every store needs to hold a memory (below); the
file around the lines (header, count, compression) is ``dump``'s.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import numpy as np

from ..errors import InvalidInput
from ..limits import check_importance, is_utf8, to_utc
from ..model import Memory

_LITTLE = np.dtype("<f4")
_REQUIRED = ("id", "content", "content_hash", "namespace", "created_at")


def encode_vector(vector: np.ndarray | None) -> str | None:
    """base64 of the vector as little-endian float32, whatever this machine's byte order."""
    if vector is None:
        return None
    return base64.b64encode(np.asarray(vector, dtype=_LITTLE).tobytes()).decode("ascii")


def decode_vector(text: str, dimension: int | None) -> np.ndarray:
    raw = base64.b64decode(text, validate=True)
    if len(raw) % 4 or (dimension is not None and len(raw) != 4 * dimension):
        raise ValueError(f"vector has {len(raw) / 4:g} dimensions, the header says {dimension}")
    return np.frombuffer(raw, dtype=_LITTLE).astype(np.float32)


def memory_to_record(memory: Memory) -> dict[str, Any]:
    """One dump line's object: every field, ISO timestamps, the vector in base64."""
    record = memory.to_dict()
    record["vector"] = encode_vector(memory.embedding)
    return record


def memory_from_record(record: Any, dimension: int | None) -> Memory:
    """A Memory from one dump line's object; raises InvalidInput naming the bad field."""
    if not isinstance(record, dict):
        raise InvalidInput("line is not a JSON object", field="dump")
    missing = [k for k in _REQUIRED if not record.get(k)]
    if missing:
        raise InvalidInput(f"missing field {missing[0]!r}", field=missing[0])
    for key in ("id", "content_hash"):
        if not isinstance(record[key], str):
            raise InvalidInput(f"{key} must be a string", field=key)
    vector = record.get("vector")
    try:
        embedding = decode_vector(vector, dimension) if vector is not None else None
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"vector is not valid: {exc}", field="vector") from None

    def when(key: str) -> datetime | None:
        return to_utc(record[key], key) if record.get(key) is not None else None

    created = when("created_at")
    if created is None:
        raise InvalidInput("created_at is required", field="created_at")
    parent, chunk = record.get("parent_id"), record.get("chunk_index")
    if (parent is None) != (chunk is None) or (
        chunk is not None
        and (not isinstance(parent, str) or isinstance(chunk, bool) or not isinstance(chunk, int))
    ):
        raise InvalidInput(
            "parent_id (string) and chunk_index (integer) go together", field="chunk_index"
        )
    return Memory(
        id=record["id"],
        content=_text(record, "content"),
        content_hash=record["content_hash"],
        namespace=_text(record, "namespace"),
        tags=tuple(sorted(set(_strings(record.get("tags") or [], "tags")))),
        memory_type=_text(record, "memory_type") if record.get("memory_type") else "note",
        metadata=_object(record.get("metadata") or {}, "metadata"),
        importance=check_importance(record.get("importance", 0.5)),
        created_at=created,
        updated_at=when("updated_at"),
        last_accessed_at=when("last_accessed_at"),
        expires_at=when("expires_at"),
        parent_id=parent,
        chunk_index=chunk,
        embedding=embedding,
    )


# A dump is read as it was written, by any memvault, before the limits of today:
# only what every store needs to hold a memory is checked here (strings without
# NUL, UTF-8, the right types). An import holds each memory to today's limits
# (control characters aside: stored once, they are carried) as it writes it
# (``inputs.check_memory``), refusing those one by one; a restore of the
# store's own archive puts back exactly what left.
def _text(record: dict[str, Any], key: str) -> str:
    value = record[key]
    if not isinstance(value, str) or not value.strip() or "\x00" in value or not is_utf8(value):
        raise InvalidInput(f"{key} must be a non-empty UTF-8 string without NUL", field=key)
    return value


def _strings(values: Any, key: str) -> list[str]:
    if not isinstance(values, list) or not all(
        isinstance(v, str) and _text({key: v}, key) for v in values
    ):
        raise InvalidInput(f"{key} must be a list of strings", field=key)
    return values


def _object(value: Any, key: str) -> dict[str, Any]:
    try:
        sound = (
            isinstance(value, dict)
            and not _holds_nul(value)
            and is_utf8(json.dumps(value, ensure_ascii=False))
        )
    except RecursionError:
        sound = False
    if not sound:
        raise InvalidInput(f"{key} must be a UTF-8 JSON object without NUL", field=key)
    return value


def _holds_nul(value: Any) -> bool:
    """True if any string in a JSON value, key or not, holds a NUL character (in JSON text
    that is an escape, which a string could also hold literally, so the value is walked)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False
