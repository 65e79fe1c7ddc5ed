"""The Store protocol: what the Vault needs from a backend, and nothing more.

One adapter per engine implements it (SQLite + sqlite-vec, PostgreSQL +
pgvector, ChromaDB local or remote). The conformance suite in
``tests/test_store_conformance.py`` runs unchanged against each of them.

Rules every store keeps:

- A memory is unique by ``(namespace, content_hash)`` among top-level memories;
  chunks (``parent_id`` set) are children of one memory and share its tags,
  type, metadata, importance, namespace and timestamps so filters apply to them
  too. Deleting or updating a memory does the same to its chunks.
- ``add`` is atomic: all of a batch is written, or none of it.
- Filters are applied inside every query, including the nearest-neighbour
  search, so a filtered search returns ``k`` hits whenever ``k`` memories match.
- Reads hide chunks unless ``Filter.include_chunks``, and hide memories whose
  ``expires_at`` has passed unless ``Filter.include_expired``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import IncompatibleEmbedding, InvalidInput
from ..model import Candidate, EmbeddingSpec, Filter, Memory, MemoryChanges, as_vector

HASH_LENGTH = 64


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Totals a store can compute cheaply in one pass of aggregate queries."""

    total: int
    namespaces: dict[str, int]
    by_type: dict[str, int]
    top_tags: list[tuple[str, int]]
    per_month: dict[str, int]
    oldest: str | None = None
    newest: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DetailedStats:
    """Distributions of the memories a filter matches, for analytics.

    Times are bucketed in UTC. ``by_importance`` keys are the lower bound of
    tenth-wide buckets ("0.0" to "0.9"; 1.0 falls in "0.9"). ``largest`` holds
    (id, content bytes), biggest first.
    """

    total: int
    expired: int
    content_bytes: int
    by_tag: dict[str, int]
    distinct_tags: int
    by_type: dict[str, int]
    by_importance: dict[str, int]
    by_hour: dict[int, int]
    by_weekday: dict[int, int]
    by_month: dict[str, int]
    largest: list[tuple[str, int]]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing; ``next_cursor`` is None on the last page."""

    memories: list[Memory]
    next_cursor: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"memories": [m.to_dict() for m in self.memories], "next_cursor": self.next_cursor}


# A page cursor is "<created_at in microseconds since 1970>:<id>" in every store; an id
# holds no control character (PostgreSQL could not even compare one holding NUL).
_PAGE_CURSOR = re.compile(r"(-?\d{1,19}):([^\x00-\x1f\x7f]+)")


def parse_page_cursor(cursor: str) -> tuple[int, str]:
    """``(created_at microseconds, id)`` of the last memory of a page; a cursor a client
    made up is refused, whatever its numbers (no store compares beyond 64 bits)."""
    found = _PAGE_CURSOR.fullmatch(cursor)
    if found is None or not -(1 << 63) <= int(found[1]) < 1 << 63:
        raise InvalidInput("cursor is malformed", field="cursor")
    return int(found[1]), found[2]


@runtime_checkable
class Store(Protocol):
    """A place memories live. Methods raise ``memvault.errors`` types only."""

    url: str
    """The URL it was opened with, password removed."""

    # -- identity and model -------------------------------------------------
    def identity(self) -> str:
        """A stable id of this store's data (kept inside the store), for coordination."""
        ...

    def embedding_spec(self) -> EmbeddingSpec | None:
        """The model the stored vectors belong to, or None while the store is empty of it."""
        ...

    def bind_embedding(self, spec: EmbeddingSpec) -> None:
        """Record ``spec`` on first use; raise IncompatibleEmbedding if another is recorded."""
        ...

    # -- writes -------------------------------------------------------------
    def add(self, memories: Sequence[Memory]) -> list[tuple[Memory, bool]]:
        """Write memories (each with an embedding) in one transaction.

        Returns, per input in order, the memory as stored and whether it was
        new; an existing ``(namespace, content_hash)`` returns the stored one.
        Chunks of a parent that already existed are skipped.
        """
        ...

    def update(self, memory_id: str, changes: MemoryChanges) -> Memory:
        """Apply ``changes`` to a memory and its chunks; raise NotFound if absent."""
        ...

    def delete(self, memory_ids: Sequence[str]) -> int:
        """Delete memories and their chunks; return how many top-level memories went."""
        ...

    # -- reads --------------------------------------------------------------
    def get(
        self, ref: str, namespace: str | None, *, with_embedding: bool = False
    ) -> Memory | None:
        """A memory by id or content_hash (hash needs a namespace), or None."""
        ...

    def get_many(self, memory_ids: Sequence[str], *, with_embedding: bool = False) -> list[Memory]:
        """The memories with these ids that exist, in the order asked."""
        ...

    def existing_hashes(self, namespace: str, hashes: Sequence[str]) -> set[str]:
        """Which of these content hashes already exist in the namespace."""
        ...

    def query(
        self, flt: Filter, *, limit: int, cursor: str | None = None, oldest_first: bool = False
    ) -> Page:
        """Memories matching ``flt``, newest first (or oldest first), keyset-paginated."""
        ...

    def count(self, flt: Filter) -> int: ...

    def vector_search(self, vector: np.ndarray, k: int, flt: Filter) -> list[Candidate]:
        """The ``k`` nearest memories (chunks included), scored by cosine similarity, best first.

        Candidates, not memories: a search weighs many and keeps few, and
        fetches those with ``get_many``.
        """
        ...

    def text_search(self, terms: Sequence[str], k: int, flt: Filter) -> list[Candidate]:
        """The ``k`` best full-text matches for any of ``terms`` (BM25-like), best first."""
        ...

    def preceding(
        self, memory_ids: Sequence[str], flt: Filter, within: timedelta
    ) -> dict[str, str]:
        """For each id, the id of the memory matching ``flt`` stored just before it.

        Just before in its namespace, at most ``within`` earlier; ids without
        one are left out. Memories stored at the same instant are in the order
        they were written (a store without that order may use their ids).
        Search uses it to credit a remark with the words of the reply after it.
        """
        ...

    def scan(
        self,
        flt: Filter,
        *,
        batch_size: int,
        cursor: str | None = None,
        with_embedding: bool = True,
    ) -> Iterator[tuple[list[Memory], str]]:
        """Every matching memory (chunks included when asked) in a stable order.

        Yields ``(batch, cursor)``; passing that cursor back resumes after the batch.
        """
        ...

    # -- upkeep -------------------------------------------------------------
    def stats(self, namespace: str | None) -> StoreStats: ...

    def detailed_stats(self, flt: Filter, *, top: int = 20) -> DetailedStats:
        """Distributions for analytics: aggregate queries where the engine has them.

        ``top`` bounds ``by_tag`` and ``largest``. A store without aggregates
        may answer with ``stores.aggregate.detailed_stats_by_scan``.
        """
        ...

    def optimize(self) -> list[str]:
        """Compact and re-index (VACUUM, ANALYZE, index rebuilds); return the steps taken."""
        ...

    def size_bytes(self) -> int | None:
        """Bytes on disk (or in the database) used by this store, if knowable."""
        ...

    def health(self) -> dict[str, Any]:
        """A cheap liveness check; raises StoreUnavailable when the store is down."""
        ...

    # -- bookkeeping ------------------------------------------------------
    # A small keyed table of JSON records kept beside the memories, for the
    # store's own upkeep (the maintenance operation log, migration checkpoints). Records
    # are never returned, counted, searched or exported as memories. Each put
    # is atomic and replaces the record under the same (kind, key).
    def journal_put(self, kind: str, key: str, value: dict[str, Any]) -> None: ...

    def journal_get(self, kind: str, key: str) -> dict[str, Any] | None: ...

    def journal_list(self, kind: str, prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
        """Records of ``kind`` whose key starts with ``prefix``, in key order."""
        ...

    def journal_delete(self, kind: str, keys: Sequence[str]) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Rankings:
    """Both ranked lists of a hybrid search: ``vector_search``'s and ``text_search``'s
    results, and ``preceding``'s answer for the word matches."""

    by_vector: list[Candidate]
    by_text: list[Candidate]
    preceding: dict[str, str]


@runtime_checkable
class RanksAtOnce(Protocol):
    """A store that answers both sides of a hybrid search in one round trip.

    Optional: a store whose queries are round trips to a server (PostgreSQL)
    offers it; search falls back to the Store methods for the others.
    """

    def rankings(
        self,
        vector: np.ndarray | None,
        terms: Sequence[str],
        k: int,
        flt: Filter,
        within: timedelta | None,
    ) -> Rankings:
        """What ``vector_search(vector, k, flt)`` (none without a vector),
        ``text_search(terms, k, flt)`` and, for the word matches with another
        within ``within`` before them (none when it is None), ``preceding(ids,
        flt without chunks, within)`` return, together."""
        ...


@runtime_checkable
class RepairsInBackground(Protocol):
    """A store whose interrupted upkeep (or upgrade) can leave something to rebuild that
    opening it must not wait for (PostgreSQL: the vector graphs a killed optimize
    dropped, the visibility map of the word postings an upgrade made).

    Optional; a long-running process (``memvault serve``) asks at its start.
    """

    def repair_in_background(self) -> str | None:
        """Start rebuilding what is missing in a thread; what is happening, in words
        for the operator, or None when nothing is missing."""
        ...


def require_embedding(memory: Memory) -> np.ndarray:
    """The memory's vector; every store refuses to write a memory without one."""
    if memory.embedding is None:
        raise InvalidInput(f"memory {memory.id} has no embedding", field="embedding")
    return memory.embedding


def looks_like_hash(ref: str) -> bool:
    """True when a reference is a content hash (64 hex digits) rather than an id."""
    return len(ref) == HASH_LENGTH and all(c in "0123456789abcdef" for c in ref)


def check_same_model(url: str, bound: EmbeddingSpec | None, wanted: EmbeddingSpec) -> None:
    """Raise IncompatibleEmbedding unless the store at ``url`` records the model ``wanted``."""
    if bound != wanted:
        held = f"{bound.model} ({bound.dimension} dimensions)" if bound else "no model"
        raise IncompatibleEmbedding(
            f"store {url} holds vectors of {held}, not {wanted.model} ({wanted.dimension})",
            field="embedding_model",
        )


def checked_vectors(memories: Sequence[Memory], bound: EmbeddingSpec | None) -> list[np.ndarray]:
    """Every memory's vector, checked against the store's model before anything is written."""
    if bound is None:
        raise IncompatibleEmbedding(
            "store has no embedding model bound yet", field="embedding_model"
        )
    return [as_vector(require_embedding(m), bound.dimension) for m in memories]
