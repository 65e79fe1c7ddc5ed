"""The tools' shared arguments: their schema, and how their values become Vault terms.

The annotated types below are the JSON schema clients see for an argument
(its description and bounds). The helpers check what a schema cannot say
(id or content_hash, a filter that selects something) and re-raise Vault
errors naming the tool argument at fault, never an internal name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import Field

from ...errors import InvalidInput, MemvaultError
from ...inputs import check_k
from ...limits import check_time
from ...model import Filter
from ...vault import MAX_HALF_LIFE_DAYS, MAX_RECENCY

MAX_PAGE_SIZE = 100
MAX_SEARCH_LIMIT = 100

Content = Annotated[
    str,
    Field(
        description="The text to remember, exactly as it should come "
        "back. Storing the same text twice stores it once."
    ),
]
Tags = Annotated[
    list[str] | str | None,
    Field(description='Tags: a list like ["python", "prefs"], or one comma-separated string.'),
]
Recency = Annotated[
    float | None,
    Field(
        ge=0,
        le=MAX_RECENCY,
        description="How much newer memories rank higher, 0 to 10 (default "
        "0): a score is multiplied by 1 + recency × 0.5^(age / half_life_days).",
    ),
]
HalfLife = Annotated[
    float | None,
    Field(
        gt=0,
        le=MAX_HALF_LIFE_DAYS,
        description="The age in days at which the recency bonus halves (default 30).",
    ),
]
MemoryType = Annotated[
    str | None,
    Field(
        description="A free label such as note, decision, fact, preference, reference "
        "(default note)."
    ),
]
Metadata = Annotated[
    dict[str, Any] | None,
    Field(
        description='A JSON object of your own keys, e.g. {"project": "memvault"}. A "session" '
        "key marks a conversation turn: it is embedded with its date and the session's turn "
        "before it, so a short reply is found by what it answers."
    ),
]
Importance = Annotated[
    float | None,
    Field(
        ge=0, le=1, description="How much it matters, 0 to 1 (default 0.5); ranks search results."
    ),
]
Id = Annotated[str | None, Field(description="The memory's id.")]
ContentHash = Annotated[
    str | None, Field(description="The memory's content_hash (SHA-256 of its normalized text).")
]
TagMatch = Annotated[
    Literal["any", "all"],
    Field(description="'any': memories with at least one of the tags; 'all': with every tag."),
]
TimeExpr = Annotated[
    str | None,
    Field(
        description='When it was stored, in words: "yesterday", "last week", "3 days ago", '
        '"in March 2025", "between 2025-01-01 and 2025-02-01".'
    ),
]
After = Annotated[
    str | None, Field(description="Only memories created at or after this ISO 8601 date or time.")
]
Before = Annotated[
    str | None, Field(description="Only memories created before this ISO 8601 date or time.")
]

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


def reference(id: str | None, content_hash: str | None) -> tuple[str, str]:
    """The one reference given, and the argument it came from."""
    if id is not None and content_hash is not None:
        raise InvalidInput("give id or content_hash, not both", field="id")
    if id is None and content_hash is None:
        raise InvalidInput("give the memory's id or content_hash", field="id")
    ref, field = (id, "id") if id is not None else (content_hash or "", "content_hash")
    if not ref.strip():
        raise InvalidInput(f"{field} must not be empty", field=field)
    return ref, field


def selection(
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


def check_limit(value: Any, maximum: int, field: str) -> None:
    check_k(value, field)
    if value > maximum:
        raise InvalidInput(f"{field} must be at most {maximum}, got {value}", field=field)
