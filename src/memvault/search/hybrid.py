"""Hybrid retrieval: vector neighbours and full-text matches, fused by rank, then blended.

The Vault calls ``hybrid_search`` with the query's vector; everything it needs
from a store is two calls of the Store protocol (``vector_search`` and
``text_search``) and one ``get_many`` for parents of matched chunks, so every
backend ranks the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from ..model import Filter, Hit, Memory
from ..stores.base import Store
from .fusion import RRF_K, blend, recency_factor, rrf
from .text import query_terms


@dataclass(frozen=True)
class SearchSettings:
    """How ``Vault.search`` ranks; the defaults and their measured effect are in the README."""

    vector_weight: float = 1.0
    text_weight: float = 1.0
    rrf_k: int = RRF_K
    candidates: int = 50
    recency: float = 0.0
    half_life_days: float = 30.0
    importance: float = 0.2


def hybrid_search(store: Store, vector: np.ndarray, query: str, k: int, flt: Filter,
                  settings: SearchSettings, now: datetime) -> list[Hit]:
    """The ``k`` best memories for ``query`` under ``flt``, each with its score parts."""
    depth = max(settings.candidates, 3 * k)
    by_vector = store.vector_search(vector, depth, flt) if settings.vector_weight else []
    by_text = store.text_search(query_terms(query), depth, flt) if settings.text_weight else []
    return fuse(store, by_vector, by_text, k, settings, now)


def fuse(store: Store, by_vector: Sequence[tuple[Memory, float]],
         by_text: Sequence[tuple[Memory, float]], k: int, settings: SearchSettings,
         now: datetime) -> list[Hit]:
    """Fuse the two ranked lists; a chunk counts for its parent, at its best rank."""
    parents: dict[str, Memory] = {m.id: m for m, _ in by_text}
    vector_ids: list[str] = []
    best: dict[str, tuple[float, int | None]] = {}
    for memory, similarity in by_vector:
        owner = memory.parent_id or memory.id
        if owner not in best:
            vector_ids.append(owner)
            best[owner] = (similarity, memory.chunk_index)
        if memory.parent_id is None:
            parents[memory.id] = memory
    missing = [i for i in vector_ids if i not in parents]
    parents.update((m.id, m) for m in store.get_many(missing))
    text_scores = {m.id: s for m, s in by_text}
    fused = rrf([(settings.vector_weight, vector_ids),
                 (settings.text_weight, [m.id for m, _ in by_text])], settings.rrf_k)
    hits = []
    for memory_id, relevance in fused.items():
        memory = parents.get(memory_id)
        if memory is None:
            continue
        recency = recency_factor(memory.created_at, now, settings.half_life_days)
        parts = {"rrf": relevance, "recency": recency, "importance": memory.importance}
        if memory_id in best:
            parts["vector"] = best[memory_id][0]
        if memory_id in text_scores:
            parts["text"] = text_scores[memory_id]
        score = blend(relevance, recency, memory.importance, settings.recency,
                      settings.importance)
        hits.append(Hit(memory, score, parts, best.get(memory_id, (0.0, None))[1]))
    hits.sort(key=lambda h: (-h.score, h.memory.id))
    return hits[:k]
