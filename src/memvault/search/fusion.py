"""Reciprocal rank fusion and the final blend with recency and importance.

Fusion works on ranks, not raw scores, because BM25 and cosine similarity
live on unrelated scales. Each list contributes ``weight / (K + rank)``.

K is 10, not the 60 of the original RRF paper: each list here is a few dozen
candidates, and with K = 60 ranks 1 and 10 weigh almost alike (1/61 against
1/70), so a memory that merely appears in both lists beats the clear first
of either. Measured on LongMemEval (docs/retrieval.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

RRF_K = 10


def rrf(rankings: Sequence[tuple[float, Sequence[str]]], k: int = RRF_K) -> dict[str, float]:
    """Fuse ranked id lists ``[(weight, ids best-first), ...]`` into one score per id."""
    scores: dict[str, float] = {}
    for weight, ids in rankings:
        for rank, item in enumerate(ids, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return scores


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
