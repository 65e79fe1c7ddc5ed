"""The tools that change and remove memories: ``memory_update`` and ``memory_delete``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from ...errors import InvalidInput
from ..work import Outcome, Target
from .arguments import (
    After,
    Before,
    ContentHash,
    Id,
    Importance,
    MemoryType,
    TagMatch,
    argument_names,
    reference,
    selection,
)
from .declare import DESTRUCTIVE, tool
from .results import DeleteOut, OneMemory, memory_dict, memory_line


@tool("Update a memory", DESTRUCTIVE, "write", OneMemory)
def memory_update(
    at: Target,
    id: Id = None,
    content_hash: ContentHash = None,
    tags: Annotated[
        list[str] | str | None, Field(description="The new tags (they replace the old ones).")
    ] = None,
    metadata: Annotated[
        dict[str, Any] | None,
        Field(description="The new metadata object (it replaces the old one)."),
    ] = None,
    importance: Importance = None,
    memory_type: MemoryType = None,
) -> Outcome:
    """Change a memory's tags, metadata, importance or type; its content stays as it is
    (store the corrected text as a new memory instead). Given fields replace old values.
    """
    ref, field = reference(id, content_hash)
    with argument_names(id=field):
        memory = at.vault.update(
            ref,
            namespace=at.namespace,
            tags=tags,
            metadata=metadata,
            importance=importance,
            memory_type=memory_type,
        )
    return Outcome(
        {"memory": memory_dict(memory)},
        f"Updated memory {memory.content_hash[:12]}:\n{memory_line(memory)}",
    )


@tool("Delete memories", DESTRUCTIVE, "write", DeleteOut)
def memory_delete(
    at: Target,
    id: Id = None,
    content_hash: ContentHash = None,
    tags: Annotated[
        list[str] | str | None,
        Field(description="Delete memories with these tags (see tag_match)."),
    ] = None,
    tag_match: TagMatch = "any",
    memory_type: Annotated[str | None, Field(description="Delete memories of this type.")] = None,
    before: Before = None,
    after: After = None,
    dry_run: Annotated[bool, Field(description="Only report what would be deleted.")] = False,
) -> Outcome:
    """Delete one memory (by id or content_hash) or every memory a filter selects (tags,
    memory_type, before, after; combined with AND). Use dry_run first for a filter.
    """
    selected = selection(tags, tag_match, memory_type, after, before)
    if id is not None or content_hash is not None:
        if selected:
            raise InvalidInput(
                "give id or content_hash, or a filter (tags, memory_type, before, after), not both",
                field="id" if id else "content_hash",
            )
        return _delete_one(at, id, content_hash, dry_run)
    if not selected:
        raise InvalidInput(
            "say what to delete: id, content_hash, or a filter of tags, "
            "memory_type, before or after",
            field="id",
        )
    with argument_names():
        count = at.vault.delete_where(selected, namespace=at.namespace, dry_run=dry_run)
    text = (
        f"Would delete {count} memories" if dry_run else f"Deleted {count} memories"
    ) + f" in namespace {at.namespace!r}."
    return Outcome(
        {"deleted": 0 if dry_run else count, "matched": count, "dry_run": dry_run, "memory": None},
        text,
    )


def _delete_one(at: Target, id: str | None, content_hash: str | None, dry_run: bool) -> Outcome:
    ref, field = reference(id, content_hash)
    with argument_names(id=field):
        memory = (
            at.vault.get(ref, namespace=at.namespace)
            if dry_run
            else at.vault.delete(ref, namespace=at.namespace)
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
