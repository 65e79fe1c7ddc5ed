"""What the tools return: the models of their structured results, and how a memory reads in them.

Each model becomes a tool's output schema, and the SDK checks every
successful result against it, so a result that drifts from its schema fails
loudly. ``memory_dict`` and ``memory_line`` are a memory as every tool shows
it, structured and as text.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from ...model import Memory, evidence

TEXT_PREVIEW_CHARS = 2000


class MemoryOut(BaseModel):
    id: str
    content: str
    content_hash: str
    namespace: str
    tags: list[str]
    memory_type: str
    metadata: dict[str, Any]
    importance: float
    created_at: str
    updated_at: str
    last_accessed_at: str | None = None
    expires_at: str | None = None


class OneMemory(BaseModel):
    memory: MemoryOut


class StoreOut(BaseModel):
    memory: MemoryOut
    created: bool


class HitOut(BaseModel):
    memory: MemoryOut
    score: float | None
    parts: dict[str, float]
    chunk_index: int | None = None


class TimeRangeOut(BaseModel):
    start: str
    end: str


class SearchOut(BaseModel):
    results: list[HitOut]
    count: int
    query: str | None
    time_range: TimeRangeOut | None


class ListOut(BaseModel):
    memories: list[MemoryOut]
    page: int
    page_size: int
    total: int
    has_more: bool


class DeleteOut(BaseModel):
    deleted: int
    matched: int
    dry_run: bool
    memory: MemoryOut | None


class TagCount(BaseModel):
    tag: str
    count: int


class StatsOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    namespace: str
    total: int
    by_type: dict[str, int]
    top_tags: list[TagCount]
    per_month: dict[str, int]
    oldest: str | None
    newest: str | None
    size_bytes: int | None
    store: str
    model: str
    dimension: int


class HealthOut(BaseModel):
    """``status`` is "ok" or "error"; ``mode`` is "direct" or "forwarding"."""

    model_config = ConfigDict(extra="allow")

    status: str
    mode: str
    namespace: str
    server_url: str | None = None
    store: dict[str, Any] | None = None
    model: str | None = None
    model_state: str | None = None
    error: dict[str, Any] | None = None


def public(data: dict[str, Any]) -> dict[str, Any]:
    """A memory's fields as tools return them: every field a caller can use, no chunk
    bookkeeping."""
    return {key: value for key, value in data.items() if key not in ("parent_id", "chunk_index")}


def memory_dict(memory: Memory) -> dict[str, Any]:
    return public(memory.to_dict())


def memory_line(
    memory: Memory, score: float | None = None, parts: dict[str, float] | None = None
) -> str:
    content = memory.content
    if len(content) > TEXT_PREVIEW_CHARS:
        content = content[:TEXT_PREVIEW_CHARS] + " [...] (use memory_get for the rest)"
    about = [memory.memory_type, memory.created_at.date().isoformat()]
    if memory.tags:
        about.append("tags: " + ", ".join(memory.tags))
    said = evidence(parts or {})
    prefix = "" if score is None else f"[{score:.3f}{'; ' + said if said else ''}] "
    return (
        f"{prefix}{content}\n   ({'; '.join(about)}; hash {memory.content_hash[:12]}, "
        f"id {memory.id})"
    )


def numbered(lines: list[str]) -> str:
    return "\n".join(f"{i}. {line}" for i, line in enumerate(lines, start=1))
