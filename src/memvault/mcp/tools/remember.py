"""The tools that keep and find memories: ``memory_store``, ``memory_search``, ``memory_list``
and ``memory_get``.

Tool names and arguments follow mcp-memory-service's current tools, so its
users switch by changing one line of client config.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from ...errors import InvalidInput
from ...model import Hit, Memory
from ...vault import Vault
from ..work import Outcome, Target
from .arguments import (
    MAX_PAGE_SIZE,
    MAX_SEARCH_LIMIT,
    After,
    Before,
    Content,
    ContentHash,
    HalfLife,
    Id,
    Importance,
    MemoryType,
    Metadata,
    Recency,
    TagMatch,
    Tags,
    TimeExpr,
    argument_names,
    check_limit,
    reference,
    selection,
)
from .declare import READ_ONLY, WRITES, tool
from .results import ListOut, OneMemory, SearchOut, StoreOut, memory_dict, memory_line, numbered


@tool("Store a memory", WRITES, "write", StoreOut)
def memory_store(
    at: Target,
    content: Content,
    tags: Tags = None,
    memory_type: MemoryType = None,
    metadata: Metadata = None,
    importance: Importance = None,
) -> Outcome:
    """Remember something for later sessions: a preference, a decision, a fact, a snippet.

    Returns the stored memory with its id and content_hash, and whether it was new
    (the same content is stored once per namespace).
    """
    result = at.vault.store(
        content,
        tags=tags,
        memory_type=memory_type,
        metadata=metadata,
        importance=importance,
        namespace=at.namespace,
        embedding_progress=at.progress,
    )
    memory = result.memory
    verb = "Stored new memory" if result.created else "Already stored (same content)"
    return Outcome(
        {"memory": memory_dict(memory), "created": result.created},
        f"{verb} {memory.content_hash[:12]} in namespace {at.namespace!r}:\n{memory_line(memory)}",
    )


@tool("Search memories", READ_ONLY, "read", SearchOut)
def memory_search(
    at: Target,
    query: Annotated[
        str | None,
        Field(
            description="What to look for, in your own words; matched by meaning and by "
            "exact words. Omit it to list the newest memories a filter selects."
        ),
    ] = None,
    limit: Annotated[
        int, Field(ge=1, le=MAX_SEARCH_LIMIT, description="How many results (1-100).")
    ] = 10,
    tags: Tags = None,
    tag_match: TagMatch = "any",
    memory_type: MemoryType = None,
    time_expr: TimeExpr = None,
    after: After = None,
    before: Before = None,
    recency: Recency = None,
    half_life_days: HalfLife = None,
) -> Outcome:
    """Find memories by meaning and words, optionally only those with some tags, a type,
    or from a time ("last week", or after/before dates). Best matches first, each with
    its score and the parts it came from.
    """
    check_limit(limit, MAX_SEARCH_LIMIT, "limit")
    span = None
    if time_expr is not None:
        if after is not None or before is not None:
            raise InvalidInput("give time_expr or after/before, not both", field="time_expr")
        with argument_names(time="time_expr"):
            span = Vault.time_range(time_expr)
        after, before = span.start.isoformat(), span.end.isoformat()
    selected = selection(tags, tag_match, memory_type, after, before)
    if query is not None and query.strip():
        with argument_names():
            hits = at.vault.search(
                query,
                k=limit,
                namespace=at.namespace,
                filter=selected,
                recency=recency,
                half_life_days=half_life_days,
            )
    elif selected:
        # Without a query: the newest memories the filter selects.
        with argument_names():
            page = at.vault.list(namespace=at.namespace, filter=selected, limit=limit)
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
        return Outcome(data, f"No memories found {what} in namespace {at.namespace!r}.")
    lines = [
        memory_line(h.memory, h.score, h.parts) if ranked else memory_line(h.memory) for h in hits
    ]
    return Outcome(data, f"Found {len(hits)} memories {what}:\n{numbered(lines)}")


@tool("List memories", READ_ONLY, "read", ListOut)
def memory_list(
    at: Target,
    page: Annotated[int, Field(ge=1, description="Page number, from 1.")] = 1,
    page_size: Annotated[
        int, Field(ge=1, le=MAX_PAGE_SIZE, description="Memories per page (1-100).")
    ] = 20,
    tags: Annotated[
        list[str] | str | None, Field(description="Only memories with any of these tags.")
    ] = None,
    memory_type: MemoryType = None,
) -> Outcome:
    """Browse memories newest first, a page at a time, optionally by tags or type."""
    check_limit(page_size, MAX_PAGE_SIZE, "page_size")
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise InvalidInput("page must be an integer of at least 1", field="page")
    selected = selection(tags, "any", memory_type, None, None) or None
    with argument_names():
        total = at.vault.count(namespace=at.namespace, filter=selected)
        memories = _page(at, selected, page, page_size, total)
    data = {
        "memories": [memory_dict(m) for m in memories],
        "page": page,
        "page_size": page_size,
        "total": total,
        "has_more": page * page_size < total,
    }
    if not memories:
        return Outcome(data, f"No memories on page {page} ({total} in namespace {at.namespace!r}).")
    first = (page - 1) * page_size + 1
    lines = "\n".join(f"{first + i}. {memory_line(m)}" for i, m in enumerate(memories))
    return Outcome(
        data, f"Memories {first}-{first + len(memories) - 1} of {total} (newest first):\n{lines}"
    )


def _page(
    at: Target, selected: dict[str, Any] | None, page: int, size: int, total: int
) -> list[Memory]:
    skip = (page - 1) * size
    if skip >= total:
        return []
    cursor = None
    # Listing is keyset-paginated; walk to the page in large steps.
    while skip:
        step = min(skip, 1000)
        walked = at.vault.list(namespace=at.namespace, filter=selected, limit=step, cursor=cursor)
        if walked.next_cursor is None:
            return []
        cursor, skip = walked.next_cursor, skip - step
    return at.vault.list(
        namespace=at.namespace, filter=selected, limit=size, cursor=cursor
    ).memories


@tool("Get a memory", READ_ONLY, "read", OneMemory)
def memory_get(at: Target, id: Id = None, content_hash: ContentHash = None) -> Outcome:
    """One memory, by its id or its content_hash."""
    ref, field = reference(id, content_hash)
    with argument_names(id=field):
        memory = at.vault.get(ref, namespace=at.namespace)
    return Outcome({"memory": memory_dict(memory)}, memory_line(memory))
