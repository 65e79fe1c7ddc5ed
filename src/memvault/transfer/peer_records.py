"""What both peer readers make of another tool's record, and what they share.

A record becomes a memory with memvault's own content hash (SHA-256 of the
normalized content, so duplicates are found as memvault finds them), the
peer's differing hash kept in metadata as ``legacy_content_hash``; a stable id
(the peer's, unless it is a hash or an integer, then a UUID derived from it and
the namespace). Vectors are taken as all-MiniLM-L6-v2 when they have its 384
dimensions (both tools' default), unless the URL names the model. A record that
cannot be read is skipped and listed in ``rejected`` with the reason.
"""

from __future__ import annotations

import contextlib
import json
import math
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import InvalidInput, MemvaultError
from ..limits import check_memory_type, check_metadata, normalize_tags, to_utc
from ..model import EmbeddingSpec, Filter, Memory, content_hash
from ..stores.base import looks_like_hash

DEFAULT_PEER_MODEL = "all-MiniLM-L6-v2"
DEFAULT_PEER_DIMENSION = 384
_ID_NAMESPACE = uuid.UUID("7f8e9a52-4b1d-4c6e-9d0a-6a1f3b2c5d4e")


def peer_spec(dimension: int | None, model: str | None) -> EmbeddingSpec | None:
    if dimension is None:
        return None
    if model is None:
        model = (
            DEFAULT_PEER_MODEL if dimension == DEFAULT_PEER_DIMENSION else f"unknown-{dimension}d"
        )
    return EmbeddingSpec(model, dimension)


def peer_id(raw: Any, namespace: str) -> str:
    """The peer's id if it can be a memvault id, else a UUID derived from it and the
    namespace (stable across runs; distinct when one peer is read into two namespaces)."""
    text = str(raw)
    if isinstance(raw, int) or looks_like_hash(text) or len(text) > 128 or not text.strip():
        return str(uuid.uuid5(_ID_NAMESPACE, f"{namespace}/{text}"))
    return text


def parse_tags(raw: Any) -> tuple[str, ...]:
    """Tags stored as a list, a JSON list in a string, or a comma-joined string."""
    if isinstance(raw, str) and raw.strip().startswith("["):
        with contextlib.suppress(json.JSONDecodeError):
            raw = json.loads(raw)
    if isinstance(raw, list):
        raw = [str(t) for t in raw]
    return normalize_tags(raw or None)


def parse_time(*candidates: Any) -> Any:
    """The first usable timestamp: epoch seconds (milliseconds if huge) or ISO text."""
    for value in candidates:
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value > 0
        ):
            return to_utc(value / 1000 if value > 1e11 else value)
        if isinstance(value, str) and value.strip():
            try:
                return to_utc(value)
            except InvalidInput:
                continue
    return None


def build_peer_memory(
    *,
    raw_id: Any,
    content: Any,
    peer_hash: Any,
    tags: Any,
    memory_type: Any,
    metadata: dict[str, Any],
    created: Any,
    updated: Any,
    namespace: str,
    importance: Any = None,
    embedding: Any = None,
) -> Memory:
    """A Memory from a peer's record; raises InvalidInput naming what is unusable."""
    if not isinstance(content, str) or not content.strip() or "\x00" in content:
        raise InvalidInput("content is missing or empty", field="content")
    ours = content_hash(content)
    metadata = dict(metadata)
    if isinstance(peer_hash, str) and peer_hash and peer_hash != ours:
        metadata["legacy_content_hash"] = peer_hash
    if not (isinstance(importance, int | float) and 0 <= importance <= 1) or isinstance(
        importance, bool
    ):
        importance = 0.5
    created_at = created or updated
    return Memory(
        id=peer_id(raw_id, namespace),
        content=content,
        content_hash=ours,
        namespace=namespace,
        tags=tags,
        metadata=check_metadata(metadata),
        memory_type=check_memory_type(memory_type)
        if isinstance(memory_type, str) and memory_type.strip()
        else "note",
        importance=float(importance),
        **({"created_at": created_at} if created_at else {}),
        **({"updated_at": updated} if updated else {}),
        embedding=None if embedding is None else np.asarray(embedding, dtype=np.float32),
    )


class PeerSource:
    """What both peer readers share: filtering, counting, and the list of rejects."""

    url: str

    def __init__(self) -> None:
        self.rejected: dict[str, str] = {}
        """Records that could not be read: the peer's id and why."""

    def _reject(self, raw_id: Any, exc: MemvaultError) -> None:
        self.rejected[str(raw_id)] = exc.message

    def _records(
        self, batch_size: int, cursor: str | None, with_embedding: bool
    ) -> Iterator[tuple[list[Memory], str]]:
        raise NotImplementedError

    def scan(
        self,
        flt: Filter,
        *,
        batch_size: int,
        cursor: str | None = None,
        with_embedding: bool = True,
    ) -> Iterator[tuple[list[Memory], str]]:
        for batch, next_cursor in self._records(batch_size, cursor, with_embedding):
            yield [m for m in batch if flt.matches(m)], next_cursor

    def count(self, flt: Filter) -> int:
        return sum(len(b) for b, _ in self.scan(flt, batch_size=1000, with_embedding=False))
