"""What each MCP tool does with a Vault: arguments in, a JSON-ready result and readable text out.

Free of MCP types, so the stdio server, the ``/mcp`` endpoint of ``memvault serve``
and the tests all run the very same code; ``mcp.server`` turns an ``Outcome``
into a tool result. Errors are ``memvault.errors`` types whose ``field`` is the
name of the tool argument at fault, never an internal name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..access.principal import LOCAL_ADMIN, Principal, visible_report
from ..errors import InvalidInput, MemvaultError
from ..inputs import check_k
from ..limits import check_time
from ..model import Filter, Hit, Memory, evidence
from ..vault import Vault

MAX_PAGE_SIZE = 100
MAX_SEARCH_LIMIT = 100
TEXT_PREVIEW_CHARS = 2000
# Vault and Filter name some things differently from the tool arguments.
_ARGUMENT_NAMES = {
    "k": "limit",
    "time": "time_expr",
    "filter.created_after": "after",
    "filter.created_before": "before",
    "filter.tags_any": "tags",
    "filter.tags_all": "tags",
    "filter.memory_type": "memory_type",
    "changes": "tags",
}


@dataclass(frozen=True)
class Outcome:
    """A tool's result: ``data`` is the structured result, ``text`` what a person reads."""

    data: dict[str, Any]
    text: str


@contextlib.contextmanager
def argument_names(**renames: str) -> Iterator[None]:
    """Re-raise memvault errors with ``field`` naming the tool argument."""
    try:
        yield
    except MemvaultError as exc:
        field = renames.get(exc.field or "") or _ARGUMENT_NAMES.get(exc.field or "", exc.field)
        if field == exc.field:
            raise
        raise type(exc)(exc.message, field=field) from exc


def memory_dict(memory: Memory) -> dict[str, Any]:
    """A memory as tools return it: every field a caller can use, no chunk bookkeeping."""
    data = memory.to_dict()
    for internal in ("parent_id", "chunk_index"):
        data.pop(internal, None)
    return data


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


# Spelled once here: inside VaultTools, ``list`` names the tool, not the builtin.
Memories = list[Memory]


def numbered(lines: list[str]) -> str:
    return "\n".join(f"{i}. {line}" for i, line in enumerate(lines, start=1))


class VaultTools:
    """The tools' work, over one Vault; every call names its namespace."""

    def __init__(self, vault: Vault, viewer: Principal = LOCAL_ADMIN) -> None:
        self.vault = vault
        self.viewer = viewer  # where the store is (its URL) is shown to admins only

    # -- writing ------------------------------------------------------------
    def store(
        self,
        namespace: str,
        content: str,
        *,
        tags: Any = None,
        memory_type: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        importance: float | None = None,
    ) -> Outcome:
        result = self.vault.store(
            content,
            tags=tags,
            memory_type=memory_type,
            metadata=metadata,
            importance=importance,
            namespace=namespace,
        )
        memory = result.memory
        verb = "Stored new memory" if result.created else "Already stored (same content)"
        return Outcome(
            {"memory": memory_dict(memory), "created": result.created},
            f"{verb} {memory.content_hash[:12]} in namespace {namespace!r}:\n{memory_line(memory)}",
        )

    def update(
        self,
        namespace: str,
        *,
        id: str | None = None,
        content_hash: str | None = None,
        tags: Any = None,
        metadata: Mapping[str, Any] | None = None,
        importance: float | None = None,
        memory_type: str | None = None,
    ) -> Outcome:
        ref, field = _reference(id, content_hash)
        with argument_names(id=field):
            memory = self.vault.update(
                ref,
                namespace=namespace,
                tags=tags,
                metadata=metadata,
                importance=importance,
                memory_type=memory_type,
            )
        return Outcome(
            {"memory": memory_dict(memory)},
            f"Updated memory {memory.content_hash[:12]}:\n{memory_line(memory)}",
        )

    def delete(
        self,
        namespace: str,
        *,
        id: str | None = None,
        content_hash: str | None = None,
        tags: Any = None,
        tag_match: str = "any",
        memory_type: str | None = None,
        before: str | None = None,
        after: str | None = None,
        dry_run: bool = False,
    ) -> Outcome:
        selected = _filter(tags, tag_match, memory_type, after, before)
        if id is not None or content_hash is not None:
            if selected:
                raise InvalidInput(
                    "give id or content_hash, or a filter (tags, memory_type, "
                    "before, after), not both",
                    field="id" if id else "content_hash",
                )
            return self._delete_one(namespace, id, content_hash, dry_run)
        if not selected:
            raise InvalidInput(
                "say what to delete: id, content_hash, or a filter of tags, "
                "memory_type, before or after",
                field="id",
            )
        with argument_names():
            count = self.vault.delete_where(selected, namespace=namespace, dry_run=dry_run)
        text = (
            f"Would delete {count} memories" if dry_run else f"Deleted {count} memories"
        ) + f" in namespace {namespace!r}."
        return Outcome(
            {
                "deleted": 0 if dry_run else count,
                "matched": count,
                "dry_run": dry_run,
                "memory": None,
            },
            text,
        )

    def _delete_one(
        self, namespace: str, id: str | None, content_hash: str | None, dry_run: bool
    ) -> Outcome:
        ref, field = _reference(id, content_hash)
        with argument_names(id=field):
            memory = (
                self.vault.get(ref, namespace=namespace)
                if dry_run
                else self.vault.delete(ref, namespace=namespace)
            )
        verb = "Would delete" if dry_run else "Deleted"
        return Outcome(
            {
                "deleted": 0 if dry_run else 1,
                "matched": 1,
                "dry_run": dry_run,
                "memory": memory_dict(memory),
            },
            f"{verb} memory {memory.content_hash[:12]}:\n{memory_line(memory)}",
        )

    # -- reading ------------------------------------------------------------
    def get(
        self, namespace: str, *, id: str | None = None, content_hash: str | None = None
    ) -> Outcome:
        ref, field = _reference(id, content_hash)
        with argument_names(id=field):
            memory = self.vault.get(ref, namespace=namespace)
        return Outcome({"memory": memory_dict(memory)}, memory_line(memory))

    def search(
        self,
        namespace: str,
        *,
        query: str | None = None,
        limit: int = 10,
        tags: Any = None,
        tag_match: str = "any",
        memory_type: str | None = None,
        time_expr: str | None = None,
        after: str | None = None,
        before: str | None = None,
        recency: float | None = None,
        half_life_days: float | None = None,
    ) -> Outcome:
        """By meaning and words when there is a query; otherwise the newest matching."""
        _check_limit(limit, MAX_SEARCH_LIMIT, "limit")
        span = None
        if time_expr is not None:
            if after is not None or before is not None:
                raise InvalidInput("give time_expr or after/before, not both", field="time_expr")
            with argument_names(time="time_expr"):
                span = Vault.time_range(time_expr)
            after, before = span.start.isoformat(), span.end.isoformat()
        selected = _filter(tags, tag_match, memory_type, after, before)
        if query is not None and query.strip():
            with argument_names():
                hits = self.vault.search(
                    query,
                    k=limit,
                    namespace=namespace,
                    filter=selected,
                    recency=recency,
                    half_life_days=half_life_days,
                )
        elif selected:
            with argument_names():
                page = self.vault.list(namespace=namespace, filter=selected, limit=limit)
            hits = [Hit(m, 0.0) for m in page.memories]
        else:
            raise InvalidInput(
                "give a query, or find by tags, memory_type, time_expr, after or before",
                field="query",
            )
        ranked = query is not None and query.strip() != ""
        results = [
            {
                "memory": memory_dict(h.memory),
                "score": h.score if ranked else None,
                "parts": h.parts,
                "chunk_index": h.chunk_index,
            }
            for h in hits
        ]
        data = {
            "results": results,
            "count": len(results),
            "query": query if ranked else None,
            "time_range": {"start": span.start.isoformat(), "end": span.end.isoformat()}
            if span
            else None,
        }
        what = f"for {query!r}" if ranked else "matching the filter"
        if not hits:
            return Outcome(data, f"No memories found {what} in namespace {namespace!r}.")
        lines = [
            memory_line(h.memory, h.score, h.parts) if ranked else memory_line(h.memory)
            for h in hits
        ]
        return Outcome(data, f"Found {len(hits)} memories {what}:\n{numbered(lines)}")

    def list(
        self,
        namespace: str,
        *,
        page: int = 1,
        page_size: int = 20,
        tags: Any = None,
        memory_type: str | None = None,
    ) -> Outcome:
        """Newest first, a page at a time; filters combine (any of the tags, and the type)."""
        _check_limit(page_size, MAX_PAGE_SIZE, "page_size")
        if isinstance(page, bool) or not isinstance(page, int) or page < 1:
            raise InvalidInput("page must be an integer of at least 1", field="page")
        selected = _filter(tags, "any", memory_type, None, None) or None
        with argument_names():
            total = self.vault.count(namespace=namespace, filter=selected)
            memories = self._page(namespace, selected, page, page_size, total)
        data = {
            "memories": [memory_dict(m) for m in memories],
            "page": page,
            "page_size": page_size,
            "total": total,
            "has_more": page * page_size < total,
        }
        if not memories:
            return Outcome(
                data, f"No memories on page {page} ({total} in namespace {namespace!r})."
            )
        first = (page - 1) * page_size + 1
        lines = "\n".join(f"{first + i}. {memory_line(m)}" for i, m in enumerate(memories))
        return Outcome(
            data,
            f"Memories {first}-{first + len(memories) - 1} of {total} (newest first):\n{lines}",
        )

    def _page(
        self, namespace: str, selected: dict[str, Any] | None, page: int, size: int, total: int
    ) -> Memories:
        skip = (page - 1) * size
        if skip >= total:
            return []
        cursor = None
        # Listing is keyset-paginated; walk to the page in large steps.
        while skip:
            step = min(skip, 1000)
            walked = self.vault.list(
                namespace=namespace, filter=selected, limit=step, cursor=cursor
            )
            if walked.next_cursor is None:
                return []
            cursor, skip = walked.next_cursor, skip - step
        return self.vault.list(
            namespace=namespace, filter=selected, limit=size, cursor=cursor
        ).memories

    # -- about the vault ----------------------------------------------------
    def stats(self, namespace: str) -> Outcome:
        stats = visible_report(self.vault.stats(namespace=namespace), self.viewer)
        tags = ", ".join(f"{t['tag']} ({t['count']})" for t in stats["top_tags"][:10]) or "none"
        types = ", ".join(f"{k} ({v})" for k, v in stats["by_type"].items()) or "none"
        return Outcome(
            {"namespace": namespace, **stats},
            f"{stats['total']} memories in namespace {namespace!r}; "
            f"types: {types}; top tags: {tags}; newest {stats['newest'] or '-'}; "
            f"store {stats['store']} ({stats['size_bytes'] or 0} bytes), "
            f"model {stats['model']}.",
        )


def _reference(id: str | None, content_hash: str | None) -> tuple[str, str]:
    """The one reference given, and the argument it came from."""
    if id is not None and content_hash is not None:
        raise InvalidInput("give id or content_hash, not both", field="id")
    if id is None and content_hash is None:
        raise InvalidInput("give the memory's id or content_hash", field="id")
    ref, field = (id, "id") if id is not None else (content_hash or "", "content_hash")
    if not ref.strip():
        raise InvalidInput(f"{field} must not be empty", field=field)
    return ref, field


def _filter(
    tags: Any, tag_match: str, memory_type: str | None, after: str | None, before: str | None
) -> dict[str, Any]:
    """A Vault filter from tool arguments (empty when they select nothing)."""
    if tag_match not in ("any", "all"):
        raise InvalidInput("tag_match must be 'any' or 'all'", field="tag_match")
    selected: dict[str, Any] = {}
    with argument_names():
        if tags:
            selected["tags_all" if tag_match == "all" else "tags_any"] = tags
        if memory_type is not None:
            selected["memory_type"] = memory_type
        if after is not None:
            selected["created_after"] = check_time(after, "after")
        if before is not None:
            selected["created_before"] = check_time(before, "before")
        # Checked now, so a bad value is reported before anything runs.
        Filter.from_dict(selected, namespace=None)
    return selected


def _check_limit(value: Any, maximum: int, field: str) -> None:
    check_k(value, field)
    if value > maximum:
        raise InvalidInput(f"{field} must be at most {maximum}, got {value}", field=field)
