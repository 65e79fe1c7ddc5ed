"""Hybrid retrieval: vector neighbours and full-text matches, fused by rank, then blended.

The Vault calls ``hybrid_search`` with a way to get the query's vector. All it
needs from a store is in the Store protocol (``vector_search`` and
``text_search`` for two ranked lists of light candidates, ``preceding`` for
the next match's credit, ``get_many`` for the ``k`` memories kept), so every
backend ranks alike; a store may answer the first three in one round trip
(``RanksAtOnce``).
The defaults and their measured effect are in docs/retrieval.md.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np

from ..model import Candidate, Filter, Hit
from ..stores.base import Rankings, RanksAtOnce, Store
from .fusion import RRF_K, blend, recency_factor, rrf
from .text import query_terms
from .timephrase import TimeRange, find_time_range
from .when import asks_when, read_best, tells_time


@dataclass(frozen=True)
class SearchSettings:
    """How ``Vault.search`` ranks.

    - ``vector_weight``, ``text_weight``: the weight of each ranked list in
      reciprocal rank fusion (``weight / (rrf_k + rank)``). Words weigh 1.5
      times meaning: on chat data BM25 alone beats MiniLM alone, and an equal
      weighting fell below BM25 alone (docs/retrieval.md).
    - ``candidates``: how many neighbours each side contributes (at least 3k).
    - ``chunk_margin``: a long memory is embedded in chunks; a chunk after the
      first stands for its memory at this much less cosine similarity, so a
      memory with many chunks does not outrank others merely by having more
      chances to be near the query.
    - ``recency``, ``half_life_days``, ``importance``: the final blend
      (``fusion.blend``), a multiplier that keeps the fused order among
      memories of equal age and importance.
    - ``time_boost``: when the query names a time ("last week", "in July
      2023"), memories created in it score ``1 + time_boost`` times higher.
      Questions about a conversation often name the month or year the answer
      was said in; when every candidate (or none) is inside the time, the
      order is what it would be without it.
    - ``context_weight``, ``context_seconds``: a memory gains this share of
      the word score of the memory stored right after it (same namespace, at
      most this many seconds later), if both hold query words. In a
      conversation a remark and the reply to it are about one thing, and the
      reply often names it in more words, so a remark the reply matches well
      is likelier what the question asks about. Memories stored apart in time
      are untouched.
    - ``when_boost``: when the question asks when ("When did ...", "What
      date ..."), the memories among the 3k best that name a time ("last
      week", "in May", "yesterday") score ``1 + when_boost`` times higher:
      the answer to "when" is the remark that says when.
    - ``head``: the first this many memories of each side's ranking come
      before all others (among themselves, in blended order). Fusing ranks
      drops margins: a memory that meaning alone or words alone puts first or
      second, far ahead, would otherwise fall below memories that merely
      appear in both lists.
    - ``text_first``: the words' first memory stands level with the best of
      the heads before the time and "when" boosts, so it leads unless a boost
      lifts another above it. Fusion otherwise hands first place to a memory
      that is second or third on both sides over the words' clear first: on
      LongMemEval the words' first is right more often (docs/retrieval.md).
    """

    vector_weight: float = 1.0
    text_weight: float = 1.5
    rrf_k: int = RRF_K
    candidates: int = 50
    chunk_margin: float = 0.0
    recency: float = 0.0
    half_life_days: float = 30.0
    importance: float = 0.2
    time_boost: float = 1.0
    context_weight: float = 0.2
    context_seconds: float = 60.0
    when_boost: float = 1.0
    head: int = 2
    text_first: bool = True


def hybrid_search(
    store: Store,
    query: str,
    query_vector: Callable[[str], np.ndarray],
    k: int,
    flt: Filter,
    settings: SearchSettings,
    now: datetime,
    *,
    background: Executor | None = None,
) -> list[Hit]:
    """The ``k`` best memories for ``query`` under ``flt``, each with its score parts.

    The words side needs no vector, so with a ``background`` executor it is
    ranked there while ``query_vector`` embeds the query, which takes longer:
    on two cores that hides most of it. It is finished before the vector side
    starts, so the store serves one side at a time. Without one (the vector is
    at hand), a store that ranks both sides at once (``RanksAtOnce``) does so
    in one round trip; with the kept memories read, a search is then two.
    """
    depth = max(settings.candidates, 3 * k)
    terms = query_terms(query) if settings.text_weight else []
    within = timedelta(seconds=settings.context_seconds) if settings.context_weight else None
    if terms and settings.vector_weight and background is not None:
        words = background.submit(rankings, store, None, terms, depth, flt, within)
        try:
            vector = query_vector(query)
        finally:
            word_side = words.result()
        ranked = replace(word_side, by_vector=store.vector_search(vector, depth, flt))
    else:
        at_hand = query_vector(query) if settings.vector_weight else None
        ranked = rankings(store, at_hand, terms, depth, flt, within)
    named = find_time_range(query, now) if settings.time_boost else None
    by_text = credit_preceding(ranked, settings) if within is not None else ranked.by_text
    when = settings.when_boost > 0 and asks_when(query)
    return fuse(store, ranked.by_vector, by_text, k, settings, now, named, when=when)


def rankings(
    store: Store,
    vector: np.ndarray | None,
    terms: Sequence[str],
    depth: int,
    flt: Filter,
    within: timedelta | None,
) -> Rankings:
    """Both ranked lists and the word matches' predecessors (``RanksAtOnce.rankings``),
    in one round trip where the store offers it, else one Store call for each."""
    if isinstance(store, RanksAtOnce):
        return store.rankings(vector, terms, depth, flt, within)
    by_text = store.text_search(terms, depth, flt) if terms else []
    preceding: dict[str, str] = {}
    if by_text and within is not None:
        times = sorted(c.created_at for c in by_text)
        # Only a memory with another match shortly before it can be preceded by one.
        asked = [
            c.id
            for c in by_text
            if bisect_left(times, _earlier(c.created_at, within))
            < bisect_right(times, c.created_at) - 1
        ]
        preceding = store.preceding(asked, flt.with_changes(include_chunks=False), within)
    by_vector = store.vector_search(vector, depth, flt) if vector is not None else []
    return Rankings(by_vector, by_text, preceding)


def credit_preceding(ranked: Rankings, settings: SearchSettings) -> list[Candidate]:
    """The word ranking again, where each match also counts for the match stored before it.

    That memory gains ``context_weight`` times the later match's score. Only
    memories already in the ranking are credited: in a handful of unrelated
    notes stored in one batch, crediting every predecessor would rank
    memories that hold none of the query's words next to those that do.
    """
    scores = {c.id: c.score for c in ranked.by_text}
    for candidate in ranked.by_text:
        earlier = ranked.preceding.get(candidate.id)
        if earlier in scores:
            scores[earlier] += settings.context_weight * candidate.score
    ranked_text = sorted(ranked.by_text, key=lambda c: (-scores[c.id], c.id))
    return [c if scores[c.id] == c.score else replace(c, score=scores[c.id]) for c in ranked_text]


def _earlier(moment: datetime, by: timedelta) -> datetime:
    """``moment - by``, or the first moment there is: a store written before times were
    bounded, or an imported dump, may hold a time in the year 1."""
    try:
        return moment - by
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class VectorMatch:
    """A memory's standing on the vector side: its similarity and the chunk it came from."""

    similarity: float
    chunk_index: int | None


def memory_matches(by_vector: Sequence[Candidate], chunk_margin: float) -> dict[str, VectorMatch]:
    """Chunk-level neighbours as memory-level ones, best first.

    A memory stands at its best similarity, where a chunk after the first
    counts ``chunk_margin`` less.
    """
    best: dict[str, VectorMatch] = {}
    for candidate in by_vector:
        similarity = candidate.score
        if candidate.parent_id is not None:
            similarity -= chunk_margin
        owner = candidate.memory_id
        if owner not in best or similarity > best[owner].similarity:
            best[owner] = VectorMatch(similarity, candidate.chunk_index)
    return dict(sorted(best.items(), key=lambda item: (-item[1].similarity, item[0])))


def fuse(
    store: Store,
    by_vector: Sequence[Candidate],
    by_text: Sequence[Candidate],
    k: int,
    settings: SearchSettings,
    now: datetime,
    named: TimeRange | None = None,
    *,
    when: bool = False,
) -> list[Hit]:
    """Fuse the two ranked lists by weighted reciprocal rank, then blend.

    ``named`` is the time the question names (``time_boost``); ``when``, that
    it asks when (``when_boost``).
    """
    vector = memory_matches(by_vector, settings.chunk_margin)
    text_scores = {c.id: c.score for c in by_text}
    similarities = {memory_id: match.similarity for memory_id, match in vector.items()}
    fused = rrf(
        [(settings.vector_weight, similarities), (settings.text_weight, text_scores)],
        settings.rrf_k,
    )
    # A chunk carries its memory's time and importance, so any candidate will do.
    standing = {c.memory_id: c for c in (*by_vector, *by_text)}

    def recency(memory_id: str) -> float:
        return recency_factor(standing[memory_id].created_at, now, settings.half_life_days)

    blended: dict[str, float] = {}
    in_time: set[str] = set()
    for memory_id, relevance in fused.items():
        candidate = standing[memory_id]
        # Recency weighs nothing by default: then it is worked out for the kept only.
        blended[memory_id] = blend(
            relevance,
            recency(memory_id) if settings.recency else 0.0,
            candidate.importance,
            settings.recency,
            settings.importance,
        )
        if named is not None and named.start <= candidate.created_at < named.end:
            in_time.add(memory_id)
    # The boosts are multipliers: when every candidate is inside the named time
    # (or none is), the order is exactly what it was without the hint.
    boost = {m: 1.0 + settings.time_boost if m in in_time else 1.0 for m in blended}
    read = read_best(store, {m: b * boost[m] for m, b in blended.items()}, 3 * k) if when else {}
    told = {memory_id for memory_id, memory in read.items() if tells_time(memory.content)}
    for memory_id in told:
        boost[memory_id] *= 1.0 + settings.when_boost
    heads = {*list(vector)[: settings.head], *list(text_scores)[: settings.head]}
    first = next(iter(text_scores), None) if settings.text_first else None
    if first is not None:
        # The words' first stands level with the best head before the boosts, then
        # takes its own: only a boost, never fusion alone, puts another above it.
        blended[first] = max(blended[m] for m in (*heads, first))
    scored = [(b * boost[m], m) for m, b in blended.items()]
    scored.sort(key=lambda item: (item[1] not in heads, -item[0], item[1] != first, item[1]))
    # The score a caller sees orders the hits: the heads come first, so they are
    # lifted by the best score of the rest (their order among themselves kept).
    lift = max((score for score, memory_id in scored if memory_id not in heads), default=0.0)
    scored = [(score + lift if m in heads else score, m) for score, m in scored]
    # Only the k kept are read whole (those a question of when has read already
    # are not read again) and dressed as hits, with the parts of their score; a
    # memory deleted since it was ranked gives its place to the next.
    hits: list[Hit] = []
    position = 0
    while len(hits) < k and position < len(scored):
        window = scored[position : position + k - len(hits)]
        position += len(window)
        unread = [memory_id for _, memory_id in window if memory_id not in read]
        found = {**read, **{m.id: m for m in store.get_many(unread)}} if unread else read
        for score, memory_id in window:
            memory = found.get(memory_id)
            if memory is None:
                continue
            parts = {
                "rrf": fused[memory_id],
                "recency": recency(memory_id),
                "importance": memory.importance,
            }
            match = vector.get(memory_id)
            if match is not None:
                parts["vector"] = match.similarity
            if memory_id in text_scores:
                parts["text"] = text_scores[memory_id]
            if memory_id in in_time:
                parts["time"] = 1.0
            if memory_id in told:
                parts["when"] = 1.0
            hits.append(Hit(memory, score, parts, match.chunk_index if match else None))
    return hits
