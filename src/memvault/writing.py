"""How checked memories reach a store: embedded with their chunks, written in batches.

The Vault holds one ``Writer`` and hands its ``embed`` to upkeep, which
embeds summaries the same way (``memory_vectors``, turn context included). Each batch is one
transaction, written on a background thread while the next batch is embedded,
so the model and the store work at the same time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from functools import partial

from . import turns
from .config import Settings
from .embedding import Embedder
from .errors import InvalidInput
from .memory_vectors import ChunkProgress, MemoryVectors
from .model import Memory, StoreResult
from .stores import Store

STORE_BATCH = 256
Timed = Callable[[str, float], None]
Written = dict[str, tuple[Memory, bool]]


class Writer:
    """Stores memories once each: content already in the namespace is not embedded again."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        settings: Settings,
        turn_context: turns.TurnContext,
        background: Executor,
        timed: Timed,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.max_chunks = settings.max_chunks
        self.vectors = MemoryVectors(embedder, turn_context)
        self._background = background
        self._timed = timed

    def chunks(self, content: str) -> list[str]:
        """The parts content is embedded in (one part if it fits the model's window)."""
        return self.vectors.chunks(content)

    def store_all(
        self,
        memories: list[Memory],
        namespace: str,
        batch_size: int = STORE_BATCH,
        progress: Callable[[int], None] | None = None,
        embedding_progress: ChunkProgress | None = None,
    ) -> list[StoreResult]:
        """One result per memory, in order; repeats and stored content come back not created.

        ``progress`` hears how many memories each written batch held;
        ``embedding_progress`` how many of all the chunks to embed are done.
        An error or an interrupt lets the batch being written finish first.
        """
        started = time.perf_counter()
        first_of: dict[str, Memory] = {}
        for memory in memories:
            first_of.setdefault(memory.content_hash, memory)
        existing = self.store.existing_hashes(namespace, sorted(first_of))
        new = [m for content_hash, m in first_of.items() if content_hash not in existing]
        self._check_chunks(memories, new)
        # A turn's context comes from every item before it, the repeated ones too.
        prefixes = self.vectors.prefixes(memories, self.store)
        prefix_of = dict(zip(map(id, memories), prefixes, strict=True))
        stored: Written = {}

        def written(done: Written) -> None:
            stored.update(done)
            if progress is not None:
                progress(len(done))

        batches = [new[i : i + batch_size] for i in range(0, len(new), batch_size)]
        total = sum(len(self.chunks(m.content)) for m in new) if embedding_progress else 0
        embedded = 0
        writing: Future[Written] | None = None
        try:
            for number, batch in enumerate(batches):
                step = (
                    partial(_counted_on, embedding_progress, embedded, total)
                    if embedding_progress
                    else None
                )
                records = self.embed(batch, [prefix_of[id(m)] for m in batch], step)
                embedded += len(records)
                if writing is not None:
                    done, writing = writing.result(), None
                    written(done)
                if number + 1 < len(batches):
                    writing = self._background.submit(self._write, records)
                else:  # nothing left to embed meanwhile
                    written(self._write(records))
        finally:
            if writing is not None:
                written(writing.result())
        for content_hash in existing:  # stored before this call: read each once
            found = self.store.get(content_hash, namespace)
            stored[content_hash] = (found or first_of[content_hash], False)
        out = []
        for memory in memories:
            kept, created = stored[memory.content_hash]
            out.append(StoreResult(kept, created and first_of[memory.content_hash] is memory))
        if progress is not None and len(memories) > len(new):
            progress(len(memories) - len(new))  # the repeated and the already stored
        self._timed("store", started)
        return out

    def _write(self, records: list[Memory]) -> Written:
        """One transaction; each memory (chunks left out) by its content hash."""
        self.store.bind_embedding(self.embedder.spec)
        return {
            m.content_hash: (m, created)
            for m, created in self.store.add(records)
            if m.parent_id is None
        }

    def _check_chunks(self, memories: list[Memory], new: list[Memory]) -> None:
        """Refuse, before anything is embedded, content that would take more chunks than
        ``max_chunks``: its cost is known now, and paying it could take minutes."""
        for memory in new:
            if len(memory.content) <= self.vectors.chunk_chars:
                continue  # one chunk
            chunks = len(self.chunks(memory.content))
            if chunks > self.max_chunks:
                where = "" if len(memories) == 1 else f"items[{memories.index(memory)}]."
                raise InvalidInput(
                    f"{where}content would be embedded as {chunks} chunks of up to "
                    f"{self.vectors.chunk_chars} characters, over the limit of {self.max_chunks} "
                    "(MEMVAULT_MAX_CHUNKS); each chunk costs the model about as much as a "
                    "paragraph (256 take 10-20 s on 2 cores). Store it as several smaller "
                    "memories, or raise the limit",
                    field=f"{where}content",
                )

    def embed(
        self,
        memories: list[Memory],
        prefixes: Sequence[str] | None = None,
        progress: ChunkProgress | None = None,
    ) -> list[Memory]:
        """The memories with vectors, each followed by its chunk records if it is long.

        Without ``prefixes``, each memory's turn context is worked out here
        (``memory_vectors``): summaries and merges embed the way storing does.
        """
        if not memories:
            return []
        if prefixes is None:
            prefixes = self.vectors.prefixes(memories, self.store)
        started = time.perf_counter()
        records = self.vectors.embed(memories, prefixes, progress)
        self._timed("embed", started)
        return records


def _counted_on(report: ChunkProgress, before: int, total: int, done: int, _of: int) -> None:
    """A batch's embedding progress as progress over the whole call."""
    report(before + done, total)
