"""The Chroma store's writes: add, update and delete without transactions.

``add`` checks everything first (vectors, ids, duplicates), writes, and on
failure deletes what the call wrote. Uniqueness of ``(namespace,
content_hash)`` is checked before writing and settled after it: of two
records that raced in, the one written first stays. Updates and deletes of a
memory reach its chunks (records whose ``mv_parent`` names it).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import Conflict, NotFound
from ...model import EmbeddingSpec, Memory, MemoryChanges, utcnow
from ..base import checked_vectors
from .client import chroma_errors
from .reads import FULL, ID_BATCH, WRITTEN_KEY, RecordReader
from .records import removed_keys, to_chroma_metadata
from .word_counts import WordCounts


class RecordWriter:
    """Writes to one collection, ``max_batch`` records per call at most."""

    def __init__(
        self, collection: Any, reader: RecordReader, max_batch: int, words: WordCounts
    ) -> None:
        self._col = collection
        self._words = words
        self._reader = reader
        self._max_batch = max_batch
        self.url = reader.url

    def add(
        self, memories: Sequence[Memory], spec: EmbeddingSpec | None
    ) -> list[tuple[Memory, bool]]:
        if not memories:
            return []
        # Everything is checked before anything is written.
        vectors = checked_vectors(memories, spec)
        taken = self._reader.by_ids([m.id for m in memories])
        stored = self._reader.top_level([m.content_hash for m in memories if m.parent_id is None])
        results: list[tuple[Memory, bool]] = []
        rows: list[tuple[Memory, np.ndarray]] = []
        skipped_parents: set[str] = set()
        batch_ids: set[str] = set()
        for memory, vector in zip(memories, vectors, strict=True):
            if memory.parent_id in skipped_parents:
                results.append((memory, False))
                continue
            if memory.parent_id is None:
                key = (memory.namespace, memory.content_hash)
                twin = stored[key][0] if stored.get(key) else None
                if twin is not None:
                    skipped_parents.add(memory.id)
                    results.append((twin, False))
                    continue
                stored[key] = [memory]
            if memory.id in taken or memory.id in batch_ids:
                raise Conflict(
                    f"memory id {memory.id} already exists with other content", field="id"
                )
            batch_ids.add(memory.id)
            rows.append((memory, vector))
            results.append((memory, True))
        self.write(rows)
        return self.settle(results)

    def write(self, rows: list[tuple[Memory, np.ndarray]]) -> None:
        """Add the records; if any part fails, delete every one this call meant to add."""
        if not rows:
            return
        written = time.time_ns()
        try:
            with chroma_errors(self.url):
                for start in range(0, len(rows), self._max_batch):
                    part = rows[start : start + self._max_batch]
                    self._col.add(
                        ids=[m.id for m, _ in part],
                        embeddings=np.stack([v for _, v in part]),
                        documents=[m.content for m, _ in part],
                        metadatas=[
                            {**to_chroma_metadata(m), WRITTEN_KEY: written} for m, _ in part
                        ],
                    )
        except BaseException:
            # The ids were checked to be new above, so deleting them removes only ours.
            with chroma_errors(self.url):
                for start in range(0, len(rows), self._max_batch):
                    self._col.delete(ids=[m.id for m, _ in rows[start : start + self._max_batch]])
            raise
        self._words.change([m.content for m, _ in rows if m.parent_id is None], 1)

    def settle(self, results: list[tuple[Memory, bool]]) -> list[tuple[Memory, bool]]:
        """Resolve a twin another writer added at the same time: the first written stays."""
        ours = {m.id for m, new in results if new and m.parent_id is None}
        if not ours:
            return results
        stored = self._reader.top_level([m.content_hash for m, new in results if m.id in ours])
        winners = {m.id: first for first, *later in stored.values() for m in later if m.id in ours}
        if not winners:
            return results
        self.delete(list(winners))
        return [
            (winners[m.id], False)
            if m.id in winners
            else (m, False)
            if m.parent_id in winners
            else (m, new)
            for m, new in results
        ]

    def update(self, memory_id: str, changes: MemoryChanges) -> Memory:
        res = self._reader.get(ids=[memory_id], include=FULL)
        if not res["ids"]:
            raise NotFound(f"no memory with id {memory_id}", field="id")
        children = self._reader.get(where={"mv_parent": memory_id}, include=FULL)
        now = utcnow()
        ids, metadatas, updated = [], [], []
        for part in (res, children):
            for old_meta, memory in zip(
                part["metadatas"], self._reader.memories(part), strict=True
            ):
                new = memory.with_changes(
                    **{
                        name: getattr(changes, name)
                        for name in ("tags", "metadata", "importance", "memory_type", "expires_at")
                        if getattr(changes, name) is not None
                    },
                    updated_at=now,
                )
                new_meta = {**to_chroma_metadata(new), WRITTEN_KEY: old_meta.get(WRITTEN_KEY, 0)}
                ids.append(memory.id)
                metadatas.append({**removed_keys(old_meta, new_meta), **new_meta})
                updated.append(new)
        with chroma_errors(self.url):
            self._col.update(ids=ids, metadatas=metadatas)  # one call: parent and chunks
        return updated[0]

    def delete(self, memory_ids: Sequence[str]) -> int:
        deleted = 0
        for start in range(0, len(memory_ids), ID_BATCH):
            ids = list(dict.fromkeys(memory_ids[start : start + ID_BATCH]))
            found = self._reader.get(ids=ids, include=["metadatas", "documents"])
            top = [
                text
                for meta, text in zip(found["metadatas"], found["documents"], strict=True)
                if not meta.get("mv_parent")
            ]
            deleted += len(top)
            doomed = found["ids"] + self._reader.ids({"mv_parent": {"$in": ids}})
            if doomed:
                with chroma_errors(self.url):
                    self._col.delete(ids=doomed)
                self._words.change(top, -1)
        return deleted
