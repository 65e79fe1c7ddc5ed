"""The shapes of the MCP tools' structured results; each becomes the tool's output schema.

They mirror what ``mcp.operations`` returns, and the SDK checks every successful
result against them, so a result that drifts from its schema fails loudly.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


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
