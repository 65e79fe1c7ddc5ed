"""One streaming pass over a namespace, keeping per memory only what analysis needs.

Duplicate analysis and summarizing both compare every memory's vector with
the others. This reads them once through ``Store.scan`` into one float32
matrix, with per memory its id, the facts the survivor rules look at, and
whatever small ``extra`` the caller derives from the memory; contents are not
kept. Chunks are not rows: only which memories have them (and their ids).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..model import Filter, Memory
from ..stores import Store
from .merge import Candidate, candidate
from .oplog import Progress

SCAN_BATCH = 1000


@dataclass
class VectorTable:
    ids: list[str] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    extra: list[Any] = field(default_factory=list)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    chunks: dict[str, list[str]] = field(default_factory=dict)

    @property
    def chunked(self) -> np.ndarray:
        """A mask of the rows whose memory has chunks."""
        return np.array([i in self.chunks for i in self.ids], dtype=bool)

    @classmethod
    def read(
        cls,
        store: Store,
        flt: Filter,
        *,
        progress: Progress | None = None,
        keep: Callable[[Memory], bool] | None = None,
        extra: Callable[[Memory], Any] | None = None,
    ) -> VectorTable:
        """The memories ``flt`` matches (and ``keep`` accepts), in the store's scan order."""
        table = cls()
        total = store.count(flt)
        blocks: list[np.ndarray] = []
        for batch, _ in store.scan(
            flt.with_changes(include_chunks=True), batch_size=SCAN_BATCH, with_embedding=True
        ):
            rows: list[np.ndarray] = []
            for memory in batch:
                if memory.parent_id is not None:
                    table.chunks.setdefault(memory.parent_id, []).append(memory.id)
                elif keep is None or keep(memory):
                    table.ids.append(memory.id)
                    table.candidates.append(candidate(memory))
                    table.extra.append(extra(memory) if extra else None)
                    rows.append(memory.vector())
            if rows:
                blocks.append(np.vstack(rows).astype(np.float32, copy=False))
            if progress is not None:
                progress("scan", len(table.ids), total)
        if blocks:
            table.vectors = np.vstack(blocks)
        kept = set(table.ids)
        table.chunks = {p: c for p, c in table.chunks.items() if p in kept}
        return table
