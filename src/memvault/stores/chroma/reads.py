"""Reading one Chroma collection's records as memories: by id, by content hash, by
``where``, in batches Chroma accepts, with its errors in memvault's terms.

The store's reads and searches and its writes' checks all go through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...model import Memory
from .client import chroma_errors
from .records import NO_PARENT, all_of, from_chroma

# Nanoseconds since the epoch when a record was written: of two twins that raced
# in, the one written first stays (``writes``).
WRITTEN_KEY = "mv_written"
ID_BATCH = 500
FULL = ["documents", "metadatas"]


class RecordReader:
    """Reads of one collection; ``url`` names the store in errors."""

    def __init__(self, collection: Any, url: str) -> None:
        self._col = collection
        self.url = url

    def get(self, **kw: Any) -> dict[str, Any]:
        with chroma_errors(self.url):
            return self._col.get(**kw)

    def ids(self, clause: dict[str, Any] | None) -> list[str]:
        return self.get(where=clause, include=[])["ids"]

    @staticmethod
    def memories(res: dict[str, Any]) -> list[Memory]:
        """The memories of one ``get`` or ``query`` answer, in its order."""
        embeddings = res.get("embeddings")
        return [
            from_chroma(
                rid,
                res["documents"][i],
                res["metadatas"][i],
                None if embeddings is None else embeddings[i],
            )
            for i, rid in enumerate(res["ids"])
        ]

    def by_ids(self, ids: Sequence[str], *, with_embedding: bool = False) -> dict[str, Memory]:
        found: dict[str, Memory] = {}
        include = [*FULL, "embeddings"] if with_embedding else FULL
        for start in range(0, len(ids), ID_BATCH):
            part = list(dict.fromkeys(ids[start : start + ID_BATCH]))
            found.update((m.id, m) for m in self.memories(self.get(ids=part, include=include)))
        return found

    def top_level(self, hashes: Sequence[str]) -> dict[tuple[str, str], list[Memory]]:
        """Stored top-level memories with these hashes, by (namespace, hash), earliest first."""
        out: dict[tuple[str, str], list[tuple[int, Memory]]] = {}
        unique = sorted(set(hashes))
        for start in range(0, len(unique), ID_BATCH):
            clause = all_of(
                [
                    {"mv_parent": NO_PARENT},
                    {"content_hash": {"$in": unique[start : start + ID_BATCH]}},
                ]
            )
            res = self.get(where=clause, include=FULL)
            for meta, memory in zip(res["metadatas"], self.memories(res), strict=True):
                written = meta.get(WRITTEN_KEY, 0)
                out.setdefault((memory.namespace, memory.content_hash), []).append(
                    (written, memory)
                )
        return {
            key: [m for _, m in sorted(v, key=lambda x: (x[0], x[1].id))] for key, v in out.items()
        }

    def first_created(self, clause: dict[str, Any] | None) -> int | None:
        """``mv_created`` of any one record ``clause`` matches (None if none does)."""
        res = self.get(where=clause, limit=1, include=["metadatas"])
        return res["metadatas"][0]["mv_created"] if res["ids"] else None
