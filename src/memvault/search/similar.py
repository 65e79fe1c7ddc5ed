"""The memories nearest in meaning to one memory: its stored vector as the query."""

from __future__ import annotations

from ..model import Filter, Hit, Memory
from ..stores.base import Store


def nearest_to(store: Store, memory: Memory, k: int, parts: int, flt: Filter) -> list[Hit]:
    """Up to ``k`` memories, best first, ``memory`` left out; ``parts`` is how many chunks
    it was embedded in. Each hit's score is the cosine similarity of its nearest part."""
    vector = store.get_many([memory.id], with_embedding=True)[0].vector()
    # Its own parts and several parts of one long memory can take places: ask for more.
    candidates = store.vector_search(vector, 2 * k + parts, flt)
    best: dict[str, float] = {}
    for candidate in candidates:
        owner = candidate.memory_id
        if owner != memory.id and owner not in best:
            best[owner] = candidate.score
    kept = list(best)[:k]
    found = {m.id: m for m in store.get_many(kept)}
    return [Hit(found[i], best[i], {"vector": best[i]}) for i in kept if i in found]
