"""Request bodies of the HTTP API: typed for the OpenAPI docs, strict, unknown keys refused.

Only types are checked here (a number where a string belongs, an unknown key);
values (sizes, ranges, time phrases) are checked by the Vault, so every
interface gives the same error for the same bad value.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from ..errors import InvalidInput

MAX_BATCH_ITEMS = 1000

# Checked by the Vault (to_utc), which names the field; a pydantic union would
# report one error per member type instead.
Timestamp = Annotated[
    Any, WithJsonSchema({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "number"}]})
]
NAMESPACE = Field(None, description="Namespace (tenant); default: the server's namespace.")
TIMESTAMP_HELP = "ISO 8601 (e.g. 2025-03-01T12:00:00Z) or epoch seconds."
RECENCY_HELP = (
    "How much newer memories rank higher, 0 to 10 (default 0): a score is "
    "multiplied by 1 + recency × 0.5^(age / half_life_days)."
)
HALF_LIFE_HELP = "The age in days at which the recency bonus halves (default 30)."


class Body(BaseModel):
    """Strict: no type coercion, and an unknown key is an error naming it."""

    model_config = ConfigDict(extra="forbid", strict=True)


class FilterIn(Body):
    """Which memories to consider; every condition must hold."""

    tags_any: list[str] | None = Field(None, description="At least one of these tags.")
    tags_all: list[str] | None = Field(None, description="Every one of these tags.")
    memory_type: str | None = None
    created_after: Timestamp | None = Field(None, description=TIMESTAMP_HELP)
    created_before: Timestamp | None = Field(None, description=TIMESTAMP_HELP)
    metadata: dict[str, Any] | None = Field(
        None,
        description="Metadata keys that must equal these values (strings, numbers or booleans).",
    )
    include_expired: bool = False

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude_defaults=True)


def filter_dict(flt: FilterIn | None) -> dict[str, Any] | None:
    return flt.to_dict() if flt is not None else None


def namespace_of(body: str | None, query: str | None) -> str | None:
    """A POST's namespace: in its body, or in ``?namespace=`` as every GET takes it."""
    if body is not None and query is not None and body != query:
        raise InvalidInput(
            f"namespace {body!r} in the body but {query!r} in the query; give it once",
            field="namespace",
        )
    return body if body is not None else query


class MemoryIn(Body):
    content: str = Field(
        description="The text to remember, exactly as it should come back. Embedded in "
        "chunks of about 1 KB, at most MEMVAULT_MAX_CHUNKS (default 256, 10-20 s of "
        "embedding on 2 cores); more is refused with 422 before anything is embedded."
    )
    tags: list[str] | None = None
    memory_type: str | None = Field(None, description="A label: note, decision, fact, ...")
    metadata: dict[str, Any] | None = Field(
        None,
        description='Any JSON object. A "session" key marks a conversation turn: it is '
        "embedded (not stored) with its date and the turn before it in that session.",
    )
    importance: float | None = Field(None, description="0 to 1, default 0.5.")
    created_at: Timestamp | None = Field(
        None, description="Keep an original time. " + TIMESTAMP_HELP
    )
    expires_at: Timestamp | None = Field(
        None, description="Hidden after this time. " + TIMESTAMP_HELP
    )


class StoreIn(MemoryIn):
    namespace: str | None = NAMESPACE


class BatchIn(Body):
    items: list[MemoryIn] = Field(
        max_length=MAX_BATCH_ITEMS, description=f"Up to {MAX_BATCH_ITEMS} memories."
    )
    namespace: str | None = NAMESPACE


class MemoryPatch(Body):
    """The fields to change; those left out stay as they are. Content cannot change."""

    tags: list[str] | None = Field(None, description="Replaces every tag.")
    metadata: dict[str, Any] | None = Field(None, description="Replaces the metadata.")
    importance: float | None = None
    memory_type: str | None = None
    expires_at: Timestamp | None = Field(None, description=TIMESTAMP_HELP)


class SearchIn(Body):
    query: str = Field(description="Plain words; operators like quotes or * are literal.")
    k: int = Field(10, description="How many hits, 1 to 1000.")
    namespace: str | None = NAMESPACE
    filter: FilterIn | None = None
    recency: float | None = Field(None, description=RECENCY_HELP)
    half_life_days: float | None = Field(None, description=HALF_LIFE_HELP)


class TagSearchIn(Body):
    tags: list[str] = Field(description="The tags to look for.")
    match: Literal["any", "all"] = "any"
    limit: int = Field(50, description="Page size, 1 to 1000.")
    cursor: str | None = Field(None, description="next_cursor of the previous page.")
    namespace: str | None = NAMESPACE
    filter: FilterIn | None = None


class TimeSearchIn(Body):
    """A time given as a phrase, or as start and end; optionally ranked by a query."""

    when: str | None = Field(
        None,
        description='"yesterday", "last week", "3 days ago", '
        '"in March 2025", "between 2025-01-01 and 2025-02-01".',
    )
    start: Timestamp | None = Field(None, description="Instead of when: " + TIMESTAMP_HELP)
    end: Timestamp | None = Field(None, description="Instead of when: " + TIMESTAMP_HELP)
    query: str | None = Field(None, description="Rank by this; without it, newest first.")
    k: int = Field(10, description="How many hits, 1 to 1000.")
    namespace: str | None = NAMESPACE
    filter: FilterIn | None = None
