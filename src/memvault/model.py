"""Plain data types shared by every layer: Memory, Hit, Filter. No I/O here."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any, overload

import numpy as np

from .errors import IncompatibleEmbedding, InvalidInput
from .limits import (
    MAX_METADATA_KEYS,
    check_memory_type,
    check_namespace,
    check_time,
    has_control,
    is_scalar,
    is_utf8,
    normalize_tags,
)

DEFAULT_NAMESPACE = "default"
DEFAULT_MEMORY_TYPE = "note"
DEFAULT_IMPORTANCE = 0.5
_WHITESPACE = re.compile(r"\s+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@overload
def to_micros(value: datetime) -> int: ...
@overload
def to_micros(value: None) -> None: ...
@overload
def to_micros(value: datetime | None) -> int | None: ...
def to_micros(value: datetime | None) -> int | None:
    """Microseconds since the epoch: how every store but PostgreSQL keeps a time. Exact:
    a float timestamp loses microseconds after 2255."""
    if value is None:
        return None
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@overload
def from_micros(value: int) -> datetime: ...
@overload
def from_micros(value: None) -> None: ...
@overload
def from_micros(value: int | None) -> datetime | None: ...
def from_micros(value: int | None) -> datetime | None:
    if value is None:
        return None
    # Whole seconds and the rest, positionally: three times faster than
    # timedelta(microseconds=...), and a search converts ~100 of these.
    seconds, micros = divmod(int(value), 1_000_000)
    return _EPOCH + timedelta(0, seconds, micros)


def utcnow() -> datetime:
    """Now, in UTC, at the microsecond precision every store keeps."""
    return datetime.now(UTC)


def normalize_content(content: str) -> str:
    """Strip surrounding whitespace and fold inner runs of it to one space.

    Case is kept: "Paris" and "paris" are different memories.
    """
    return _WHITESPACE.sub(" ", content.strip())


def content_hash(content: str) -> str:
    """SHA-256 (hex) of the normalized content: the identity of a memory in a namespace."""
    return hashlib.sha256(normalize_content(content).encode("utf-8")).hexdigest()


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Memory:
    """One remembered thing. ``embedding`` is a float32 vector or None when not loaded."""

    content: str
    namespace: str = DEFAULT_NAMESPACE
    tags: tuple[str, ...] = ()
    memory_type: str = DEFAULT_MEMORY_TYPE
    metadata: dict[str, Any] = field(default_factory=dict)
    importance: float = DEFAULT_IMPORTANCE
    id: str = field(default_factory=new_id)
    content_hash: str = ""
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime | None = None
    last_accessed_at: datetime | None = None
    expires_at: datetime | None = None
    parent_id: str | None = None
    chunk_index: int | None = None
    embedding: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.content_hash:
            object.__setattr__(self, "content_hash", content_hash(self.content))
        if self.updated_at is None:
            object.__setattr__(self, "updated_at", self.created_at)

    def with_changes(self, **changes: Any) -> Memory:
        return replace(self, **changes)

    def vector(self) -> np.ndarray:
        """The embedding of a memory read with it (``with_embedding=True``)."""
        if self.embedding is None:
            raise ValueError(f"memory {self.id} was read without its vector")
        return self.embedding

    def to_dict(self, *, with_embedding: bool = False) -> dict[str, Any]:
        """A JSON-ready dict; timestamps as ISO 8601 strings."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "embedding":
                if with_embedding and value is not None:
                    out["embedding"] = [float(x) for x in value]
                continue
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


@dataclass(frozen=True, slots=True)
class Hit:
    """A search result: the memory, its final score and the parts the score came from."""

    memory: Memory
    score: float
    parts: dict[str, float] = field(default_factory=dict)
    chunk_index: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "memory": self.memory.to_dict(),
            "score": self.score,
            "parts": self.parts,
            "chunk_index": self.chunk_index,
        }


def evidence(parts: Mapping[str, float]) -> str:
    """What a hit's score rests on, for people: its cosine similarity and BM25 score.

    The score itself fuses ranks (moved by at most one place by magnitude),
    so it orders hits but says little of how close a match is; these do.
    """
    said = []
    if "vector" in parts:
        said.append(f"meaning {parts['vector']:.2f}")
    if "text" in parts:
        said.append(f"words {parts['text']:.2f}")
    return ", ".join(said)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One entry of a store's ranked list: what fusion needs to rank a memory, no more.

    A search weighs about a hundred candidates to keep ``k``, so stores return
    these instead of whole memories; the Vault fetches only the ``k`` it keeps.
    A chunk's ``created_at`` and ``importance`` are its memory's (every store
    keeps them alike), so a chunk ranks for its memory without reading it.
    """

    id: str
    score: float
    created_at: datetime
    importance: float
    parent_id: str | None = None
    chunk_index: int | None = None

    @property
    def memory_id(self) -> str:
        """The memory this candidate stands for: itself, or the parent of a chunk."""
        return self.parent_id or self.id

    @classmethod
    def of(cls, memory: Memory, score: float) -> Candidate:
        return cls(
            memory.id,
            score,
            memory.created_at,
            memory.importance,
            memory.parent_id,
            memory.chunk_index,
        )


_FILTER_KEYS = {
    "namespace",
    "tags_any",
    "tags_all",
    "memory_type",
    "created_after",
    "created_before",
    "metadata",
    "include_chunks",
    "include_expired",
}


@dataclass(frozen=True, slots=True)
class Filter:
    """Which memories an operation applies to. Every store applies it inside its queries.

    ``namespace=None`` means every namespace; the Vault always sets one unless a
    caller asks for all on purpose (export, migration, stats).
    """

    namespace: str | None = DEFAULT_NAMESPACE
    tags_any: tuple[str, ...] = ()
    tags_all: tuple[str, ...] = ()
    memory_type: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    include_chunks: bool = False
    include_expired: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, *, namespace: str | None) -> Filter:
        """Build from user input, naming the first bad key or value."""
        data = dict(data or {})
        unknown = sorted(set(data) - _FILTER_KEYS)
        if unknown:
            raise InvalidInput(
                f"unknown filter key {unknown[0]!r}; known keys: "
                f"{', '.join(sorted(_FILTER_KEYS - {'include_chunks'}))}",
                field=f"filter.{unknown[0]}",
            )
        data.setdefault("namespace", namespace)
        return cls.build(**data)

    @classmethod
    def build(cls, **kw: Any) -> Filter:
        """Validate and normalize keyword values into a Filter."""
        ns = kw.get("namespace", DEFAULT_NAMESPACE)
        if ns is not None:
            ns = check_namespace(ns)
        memory_type = kw.get("memory_type")
        if memory_type is not None:
            memory_type = check_memory_type(memory_type, "filter.memory_type")
        after, before = kw.get("created_after"), kw.get("created_before")
        after = check_time(after, "filter.created_after") if after is not None else None
        before = check_time(before, "filter.created_before") if before is not None else None
        if after and before and after >= before:
            raise InvalidInput(
                "created_after must be earlier than created_before", field="filter.created_after"
            )
        return cls(
            namespace=ns,
            tags_any=normalize_tags(kw.get("tags_any"), "filter.tags_any"),
            tags_all=normalize_tags(kw.get("tags_all"), "filter.tags_all"),
            memory_type=memory_type,
            created_after=after,
            created_before=before,
            metadata=_metadata_match(kw.get("metadata") or {}),
            include_chunks=bool(kw.get("include_chunks", False)),
            include_expired=bool(kw.get("include_expired", False)),
        )

    def with_changes(self, **changes: Any) -> Filter:
        return replace(self, **changes)

    @property
    def is_namespace_only(self) -> bool:
        """True when nothing but the namespace (and the defaults) narrows the set."""
        return not (
            self.tags_any
            or self.tags_all
            or self.memory_type
            or self.created_after
            or self.created_before
            or self.metadata
        )

    def matches(self, memory: Memory, now: datetime | None = None) -> bool:
        """Whether ``memory`` passes: the definition of what a filter means.

        Each store translates the filter into its own query language (SQLite
        and PostgreSQL SQL, Chroma's ``where``); the conformance suite checks
        every one of them against this on random memories and filters.
        """
        now = now or utcnow()
        if self.namespace is not None and memory.namespace != self.namespace:
            return False
        if memory.parent_id is not None and not self.include_chunks:
            return False
        if memory.expires_at is not None and memory.expires_at <= now and not self.include_expired:
            return False
        if self.memory_type is not None and memory.memory_type != self.memory_type:
            return False
        if self.created_after is not None and memory.created_at < self.created_after:
            return False
        if self.created_before is not None and memory.created_at >= self.created_before:
            return False
        tags = set(memory.tags)
        if self.tags_any and not tags.intersection(self.tags_any):
            return False
        if not tags.issuperset(self.tags_all):
            return False
        return all(memory.metadata.get(k) == v for k, v in self.metadata.items())


# What the Vault's calls accept as a filter: a Filter, its dict form, or nothing.
FilterArg = Filter | Mapping[str, Any] | None


def _metadata_match(metadata: Any) -> dict[str, Any]:
    """A filter's metadata: keys mapped to the strings, numbers or booleans they must equal."""
    field = "filter.metadata"
    if not isinstance(metadata, dict) or len(metadata) > MAX_METADATA_KEYS:
        raise InvalidInput(
            f"{field} must map at most {MAX_METADATA_KEYS} keys to strings, numbers or booleans",
            field=field,
        )
    for key, value in metadata.items():
        if not isinstance(key, str) or has_control(key) or not is_utf8(key):
            raise InvalidInput(
                f"{field} keys must be UTF-8 text without control characters", field=field
            )
        if isinstance(value, str):
            if has_control(value, in_text=True) or not is_utf8(value):
                raise InvalidInput(
                    f"{field} values must be UTF-8 text without control characters", field=field
                )
        elif not is_scalar(value):
            raise InvalidInput(
                f"{field} must map keys to strings, finite numbers or booleans "
                "(integers within 64 bits)",
                field=field,
            )
    return dict(metadata)


@dataclass(frozen=True, slots=True)
class MemoryChanges:
    """The fields an update may change; None means leave as is."""

    tags: tuple[str, ...] | None = None
    metadata: dict[str, Any] | None = None
    importance: float | None = None
    memory_type: str | None = None
    expires_at: datetime | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What ``Vault.store`` did: the memory as stored, and whether it was new."""

    memory: Memory
    created: bool


@dataclass(frozen=True, slots=True)
class EmbeddingSpec:
    """The model a store's vectors belong to; the runtime that computed them does not matter."""

    model: str
    dimension: int


def as_vector(values: Any, dimension: int | None = None) -> np.ndarray:
    """A contiguous float32 vector, checked against ``dimension`` when given."""
    vec = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)
    if dimension is not None and vec.shape[0] != dimension:
        raise IncompatibleEmbedding(
            f"vector has {vec.shape[0]} dimensions, the store expects {dimension}",
            field="embedding",
        )
    return vec
