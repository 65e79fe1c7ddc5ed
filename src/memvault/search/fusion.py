"""Reciprocal rank fusion and the final blend with recency and importance.

Fusion works on ranks, not raw scores, because BM25 and cosine similarity
live on unrelated scales. Each list contributes ``weight / (K + rank)``, where
a rank is fractional: it moves down by up to one place by the share of the
list's best score the item's falls short of. Whole ranks
alone give two items of very different relevance the same score (meaning's
2nd place weighs what words' 8th does: 1/12 = 1.5/18), one a close match and
the other barely one; the fraction parts them, and never reorders a list.

K is 10, not the 60 of the original RRF paper: each list here is a few dozen
candidates, and with K = 60 ranks 1 and 10 weigh almost alike (1/61 against
1/70), so a memory that merely appears in both lists beats the clear first
of either. Measured on LongMemEval (docs/retrieval.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime

RRF_K = 10


def rrf(
    rankings: Sequence[tuple[float, Sequence[str] | Mapping[str, float]]], k: int = RRF_K
) -> dict[str, float]:
    """Fuse ranked lists ``[(weight, ids best-first), ...]`` into one score per id.

    A list given as ``{id: score}`` (best first) ranks its items fractionally
    by their scores; a list of ids alone by whole ranks.
    """
    scores: dict[str, float] = {}
    for weight, ranked in rankings:
        shortfall = shortfalls(ranked) if isinstance(ranked, Mapping) else {}
        for rank, item in enumerate(ranked, start=1):
            place = rank + shortfall.get(item, 0.0)
            scores[item] = scores.get(item, 0.0) + weight / (k + place)
    return scores


def shortfalls(scored: Mapping[str, float]) -> dict[str, float]:
    """How far each score falls short of the list's best, as a share of it, within [0, 1].

    A share of the best, not of the best-to-worst range: the last of a short
    list may be nearly as good as the first (two near neighbours), and the
    range would call it the worst there is. Both scores are "higher is better"
    and positive for a real match (BM25, cosine similarity); a best at or below
    0 says nothing about the others, which then fall short by a whole place.
    Within a list sorted best first, place ``rank + shortfall`` rises with rank,
    so fusion keeps every list's order.
    """
    if not scored:
        return {}
    best = max(scored.values())
    if best <= 0:
        return {item: 0.0 if score == best else 1.0 for item, score in scored.items()}
    return {item: min(1.0, (best - score) / best) for item, score in scored.items()}


def recency_factor(created_at: datetime, now: datetime, half_life_days: float) -> float:
    """1.0 for a memory made now, 0.5 one half-life ago, toward 0 with age."""
    age_days = max(0.0, (now - created_at).total_seconds() / 86400.0)
    return math.pow(0.5, age_days / half_life_days) if half_life_days > 0 else 0.0


def blend(
    relevance: float,
    recency: float,
    importance: float,
    recency_weight: float,
    importance_weight: float,
) -> float:
    """``relevance × (1 + w_r × recency + w_i × (importance − 0.5))``.

    A multiplier, so memories equally old and equally important keep exactly
    their fused relevance order.
    """
    return relevance * (1.0 + recency_weight * recency + importance_weight * (importance - 0.5))
