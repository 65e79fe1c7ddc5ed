"""What a memory's stored vectors are computed from: the one rule every writer follows.

A memory is embedded in chunks of the model's window; its first chunk comes
after its turn context (``turns``: a header and the turns before it in its
session) when that is configured, later chunks alone. Storing, summaries,
and a migration's re-embedding all embed through here, so a store never
holds vectors of two kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from . import turns
from .chunking import chunk_record, split_into_chunks, window_chars
from .embedding import Embedder
from .model import Filter, Memory
from .stores import Store

# Chunks embedded between two progress reports: the ONNX runtime's batch.
EMBED_STEP = 32
# Told, after each step, how many chunks are embedded so far and of how many.
ChunkProgress = Callable[[int, int], None]


class MemoryVectors:
    """Embeds memories (and their chunk records) for storage."""

    def __init__(self, embedder: Embedder, turn_context: turns.TurnContext) -> None:
        self.embedder = embedder
        self.turn_context = turn_context
        self.chunk_chars = window_chars(embedder.max_tokens)

    def chunks(self, content: str) -> list[str]:
        """The parts content is embedded in (one part if it fits the model's window)."""
        return split_into_chunks(content, self.chunk_chars)

    def prefixes(self, memories: Sequence[Memory], history: Store) -> list[str]:
        """What each memory's first chunk is embedded after: "" for most.

        ``memories`` are in the order they were said: a turn's context is the
        turns of its session before it in the list, else read from ``history``.
        """
        return turns.prefixes(memories, self.turn_context, _earlier_in(history))

    def prefixes_each(self, memories: Sequence[Memory], history: Store | None) -> list[str]:
        """As ``prefixes``, each memory's earlier turns read from ``history`` alone:
        for memories in no particular order (a migration's batch). Without a
        history a turn gets its header (date, speaker) and no earlier turns."""
        earlier = _earlier_in(history)
        return [turns.prefixes([m], self.turn_context, earlier)[0] for m in memories]

    def embed(
        self,
        memories: list[Memory],
        prefixes: Sequence[str],
        progress: ChunkProgress | None = None,
    ) -> list[Memory]:
        """The memories with vectors, each followed by its chunk records if it is long.

        ``prefixes`` (one per memory) are embedded before a memory's first
        chunk; the stored content stays the memory's own. ``progress`` hears
        before the first and after every ``EMBED_STEP`` chunks how far it got.
        """
        if not memories:
            return []
        texts: list[str] = []
        chunks: list[str] = []
        owners: list[tuple[int, int]] = []
        for i, memory in enumerate(memories):
            for j, chunk in enumerate(self.chunks(memory.content)):
                chunks.append(chunk)
                texts.append(prefixes[i] + chunk if j == 0 else chunk)
                owners.append((i, j))
        vectors = self._embed(texts, progress)
        records: list[Memory] = []
        for (i, j), text, vector in zip(owners, chunks, vectors, strict=True):
            parent = memories[i]
            if j == 0:
                records.append(parent.with_changes(embedding=vector))
            else:
                records.append(chunk_record(parent, j, text, embedding=vector))
        return records

    def _embed(self, texts: list[str], progress: ChunkProgress | None) -> np.ndarray:
        if progress is None:
            return self.embedder.embed(texts)
        # In steps, so a long memory's minute of embedding can be shown as it goes.
        progress(0, len(texts))
        parts = []
        for start in range(0, len(texts), EMBED_STEP):
            parts.append(self.embedder.embed(texts[start : start + EMBED_STEP]))
            progress(min(start + EMBED_STEP, len(texts)), len(texts))
        return np.concatenate(parts)

    def reembed(self, records: list[Memory], history: Store | None) -> list[Memory]:
        """Stored records (memories and chunk records) with fresh vectors, as storing
        them now would give: a memory from its first chunk after its turn context
        (earlier turns read from ``history``; none without one), a chunk record
        from its own text."""
        if not records:
            return []
        parents = [m for m in records if m.parent_id is None]
        prefix_of = dict(
            zip([m.id for m in parents], self.prefixes_each(parents, history), strict=True)
        )
        texts = [
            prefix_of[m.id] + self.chunks(m.content)[0] if m.parent_id is None else m.content
            for m in records
        ]
        vectors = self.embedder.embed(texts)
        return [m.with_changes(embedding=v) for m, v in zip(records, vectors, strict=True)]


def _earlier_in(history: Store | None) -> turns.EarlierTurns:
    def earlier(namespace: str, session: object, first: Memory, count: int) -> list[str]:
        if count == 0 or history is None:
            return []
        flt = Filter(
            namespace=namespace,
            metadata={turns.SESSION_KEY: session},
            created_before=first.created_at,
        )
        page = history.query(flt, limit=count)
        return [m.content for m in reversed(page.memories)]

    return earlier
