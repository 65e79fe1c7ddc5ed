"""Checking what callers send before anything is written.

Every interface funnels user input through these functions, so the same bad
value gets the same error, naming the field, wherever it came from.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from .errors import InvalidInput
from .limits import (
    MAX_ID_CHARS,
    check_importance,
    check_memory_type,
    check_metadata,
    check_name,
    check_namespace,
    check_time,
    has_control,
    is_utf8,
    normalize_tags,
)
from .model import (
    DEFAULT_IMPORTANCE,
    DEFAULT_MEMORY_TYPE,
    Memory,
    MemoryChanges,
    new_id,
    utcnow,
)

MAX_K = 1000
MAX_QUERY_CHARS = 10_000
ITEM_KEYS = frozenset(
    {
        "content",
        "tags",
        "memory_type",
        "metadata",
        "importance",
        "created_at",
        "expires_at",
        "id",
        "updated_at",
        "last_accessed_at",
    }
)


def check_content(content: Any, max_bytes: float, field: str = "content") -> str:
    """Non-empty UTF-8 text, no control characters but tab and newlines, at most ``max_bytes``
    when encoded."""
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"{field} is not valid UTF-8", field=field) from None
    if not isinstance(content, str):
        raise InvalidInput(f"{field} must be a string, got {type(content).__name__}", field=field)
    if not content.strip():
        raise InvalidInput(f"{field} must not be empty or only whitespace", field=field)
    if has_control(content, in_text=True):
        raise InvalidInput(
            f"{field} must not contain control characters other than tab and newlines", field=field
        )
    try:
        size = len(content.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInput(f"{field} is not valid UTF-8 (lone surrogate)", field=field) from None
    if size > max_bytes:
        raise InvalidInput(f"{field} is {size} bytes, over the limit of {max_bytes}", field=field)
    return content


def parse_json_object(text: str | None, field: str) -> dict[str, Any] | None:
    """A JSON object given as text (an option, a query parameter), or None when absent."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep to parse
        raise InvalidInput(f"{field} is not valid JSON: {exc}", field=field) from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be a JSON object", field=field)
    return value


def check_k(k: Any, field: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise InvalidInput(f"{field} must be an integer", field=field)
    if not 1 <= k <= MAX_K:
        raise InvalidInput(f"{field} must be between 1 and {MAX_K}, got {k}", field=field)
    return k


def check_number(
    value: Any, field: str, low: float, high: float, *, low_open: bool = False
) -> float:
    """A number within [low, high] (or (low, high] when ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise InvalidInput(f"{field} must be a number", field=field)
    if not (low < value if low_open else low <= value) or value > high:
        raise InvalidInput(
            f"{field} must be {'above' if low_open else 'at least'} {low:g} "
            f"and at most {high:g}, got {value}",
            field=field,
        )
    return float(value)


def check_query(query: Any, field: str = "query") -> str:
    if not isinstance(query, str) or not query.strip():
        raise InvalidInput(f"{field} must be a non-empty string", field=field)
    if "\x00" in query:
        raise InvalidInput(f"{field} must not contain NUL characters", field=field)
    if not is_utf8(query):
        raise InvalidInput(f"{field} is not valid UTF-8 (lone surrogate)", field=field)
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(f"{field} is longer than {MAX_QUERY_CHARS} characters", field=field)
    return query.strip()


def check_ref(ref: Any) -> str:
    """A memory's id or content hash, as a caller names it."""
    if not isinstance(ref, str) or not ref.strip() or not is_utf8(ref) or has_control(ref):
        raise InvalidInput(
            "id or content_hash must be a non-empty UTF-8 string without control characters",
            field="id",
        )
    return ref.strip()


def check_changes(
    *,
    tags: Sequence[str] | None,
    metadata: Mapping[str, Any] | None,
    importance: float | None,
    memory_type: str | None,
    expires_at: datetime | str | None,
) -> MemoryChanges:
    """What an update changes, each field checked; giving none is an error."""
    changes = MemoryChanges(
        tags=normalize_tags(tags) if tags is not None else None,
        metadata=check_metadata(metadata) if metadata is not None else None,
        importance=check_importance(importance) if importance is not None else None,
        memory_type=check_memory_type(memory_type) if memory_type is not None else None,
        expires_at=check_time(expires_at, "expires_at") if expires_at is not None else None,
    )
    if changes.is_empty():
        raise InvalidInput(
            "nothing to update: give tags, metadata, importance, memory_type or expires_at",
            field="changes",
        )
    return changes


def build_memory(
    item: Mapping[str, Any], namespace: str, max_bytes: int, prefix: str = ""
) -> Memory:
    """A Memory (no embedding yet) from a caller's dict, every field checked."""
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{prefix or 'item'} must be an object", field=prefix or "item")
    unknown = sorted(set(item) - ITEM_KEYS)
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r}", field=prefix + unknown[0])
    created = item.get("created_at")
    created_at = check_time(created, prefix + "created_at") if created is not None else utcnow()
    expires = item.get("expires_at")
    return Memory(
        id=check_name(item.get("id") or new_id(), prefix + "id", MAX_ID_CHARS),
        content=check_content(item.get("content"), max_bytes, prefix + "content"),
        namespace=namespace,
        tags=normalize_tags(item.get("tags"), prefix + "tags"),
        memory_type=check_memory_type(
            DEFAULT_MEMORY_TYPE if item.get("memory_type") is None else item["memory_type"],
            prefix + "memory_type",
        ),
        metadata=check_metadata(item.get("metadata"), prefix + "metadata"),
        importance=check_importance(
            DEFAULT_IMPORTANCE if item.get("importance") is None else item["importance"],
            prefix + "importance",
        ),
        created_at=created_at,
        updated_at=_optional_time(item, "updated_at", prefix) or created_at,
        last_accessed_at=_optional_time(item, "last_accessed_at", prefix),
        expires_at=check_time(expires, prefix + "expires_at") if expires is not None else None,
    )


def _optional_time(item: Mapping[str, Any], key: str, prefix: str) -> Any:
    value = item.get(key)
    return check_time(value, prefix + key) if value is not None else None


def check_memory(memory: Memory) -> Memory:
    """A memory read from elsewhere (a dump, another store) held to the limits a caller's is,
    but for control characters, which it keeps as they are.

    Its content may be longer than this store's limit (the source's limit applied
    there), but every other limit holds, so what an import writes is what any
    interface could have stored, and every search can read it back. Control
    characters (other than NUL, which no store holds) are refused in new input,
    but a memory stored before that rule was accepted then: a migration, a
    dump's restore or import carries it whole rather than lose it, and the
    interfaces show such characters escaped.
    """
    checked = _masked(memory)
    check_content(checked.content, math.inf)
    check_name(checked.id, "id", MAX_ID_CHARS)
    check_namespace(checked.namespace)
    normalize_tags(checked.tags)
    check_memory_type(checked.memory_type)
    check_metadata(checked.metadata)
    check_importance(memory.importance)
    for name in ("created_at", "updated_at", "last_accessed_at", "expires_at"):
        moment = getattr(memory, name)
        if moment is not None:
            check_time(moment, name)
    return memory


# Every control character the checks refuse but NUL; tab, newline and CR are
# left to the checks (they are whitespace, allowed in text and not in names).
_STORED_CONTROL = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _masked(memory: Memory) -> Memory:
    """The memory with each such control character replaced by a character the checks
    treat alike but for the rule itself: a space for one that is whitespace (so
    stripping and emptiness are judged as before), else ``_``."""

    def mask(value: Any) -> Any:
        if isinstance(value, str):
            return _STORED_CONTROL.sub(lambda m: " " if m[0].isspace() else "_", value)
        if isinstance(value, dict):
            return {mask(k): mask(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mask(v) for v in value]
        return value

    try:
        metadata = mask(memory.metadata)
    except RecursionError:  # nested too deep: check_metadata says so
        metadata = memory.metadata
    return memory.with_changes(
        content=mask(memory.content),
        id=mask(memory.id),
        namespace=mask(memory.namespace),
        tags=tuple(mask(t) for t in memory.tags),
        memory_type=mask(memory.memory_type),
        metadata=metadata,
    )
