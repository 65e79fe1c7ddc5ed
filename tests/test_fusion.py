"""Fusion arithmetic: reciprocal rank fusion, recency decay and the final blend."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from memvault.search.fusion import RRF_K, blend, recency_factor, rrf


def test_rrf_adds_weight_over_k_plus_rank_per_list():
    scores = rrf([(1.0, ["a", "b", "c"]), (2.0, ["c", "a"])], k=10)
    assert scores["a"] == pytest.approx(1 / 11 + 2 / 12)
    assert scores["b"] == pytest.approx(1 / 12)
    assert scores["c"] == pytest.approx(1 / 13 + 2 / 11)


def test_rrf_default_k_and_an_empty_or_weightless_list():
    assert rrf([(1.0, ["x"])]) == {"x": pytest.approx(1 / (RRF_K + 1))}
    assert rrf([(1.0, []), (0.0, ["y"])]) == {"y": 0.0}
    assert rrf([]) == {}


def test_rrf_a_weightier_list_wins_a_disagreement():
    # Each list puts a different item first; the heavier list's choice wins.
    scores = rrf([(1.0, ["v", "t"]), (1.5, ["t", "v"])])
    assert scores["t"] > scores["v"]
    equal = rrf([(1.0, ["v", "t"]), (1.0, ["t", "v"])])
    assert equal["t"] == pytest.approx(equal["v"])


def test_rrf_agreement_beats_a_single_first_place():
    # Second in both lists outscores first in one list only, at equal weights.
    scores = rrf([(1.0, ["solo", "both"]), (1.0, ["x", "both"])])
    assert scores["both"] > scores["solo"]


def test_the_default_k_lets_a_clear_first_beat_a_low_rank_in_both_lists():
    # First in the words list (weight 1.5, the default) against 10th in both:
    # with K = 10 the first place wins (1.5/11 > 2.5/20); with the paper's
    # K = 60 mere presence in both lists would (1.5/61 < 2.5/70).
    words = ["first", *[f"w{i}" for i in range(8)], "both"]
    meaning = [*[f"m{i}" for i in range(9)], "both"]
    assert RRF_K == 10
    scores = rrf([(1.0, meaning), (1.5, words)])
    assert scores["first"] > scores["both"]
    wide = rrf([(1.0, meaning), (1.5, words)], k=60)
    assert wide["first"] < wide["both"]


NOW = datetime(2025, 3, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("age_days", "expected"), [(0, 1.0), (30, 0.5), (60, 0.25), (15, math.sqrt(0.5))]
)
def test_recency_halves_every_half_life(age_days, expected):
    assert recency_factor(NOW - timedelta(days=age_days), NOW, 30.0) == pytest.approx(expected)


def test_recency_of_the_future_is_one_and_no_half_life_is_zero():
    assert recency_factor(NOW + timedelta(days=3), NOW, 30.0) == 1.0
    assert recency_factor(NOW, NOW, 0.0) == 0.0


def test_blend_is_a_multiplier_of_relevance():
    assert blend(0.02, 0.0, 0.5, 0.3, 0.2) == pytest.approx(0.02)
    assert blend(0.02, 1.0, 0.5, 0.3, 0.2) == pytest.approx(0.02 * 1.3)
    assert blend(0.02, 0.0, 1.0, 0.3, 0.2) == pytest.approx(0.02 * 1.1)
    assert blend(0.02, 0.0, 0.0, 0.3, 0.2) == pytest.approx(0.02 * 0.9)


def test_blend_keeps_relevance_order_when_age_and_importance_are_equal():
    relevances = [0.031, 0.030, 0.016, 0.001]
    for recency, importance in [(0.0, 0.5), (0.7, 0.9), (1.0, 0.0)]:
        blended = [blend(r, recency, importance, 0.3, 0.2) for r in relevances]
        assert blended == sorted(blended, reverse=True)
