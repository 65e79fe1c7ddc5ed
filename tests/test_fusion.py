"""Fusion arithmetic: reciprocal rank fusion, recency decay and the final blend."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from memvault.search.fusion import RRF_K, blend, recency_factor, rrf, shortfalls


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


def test_scored_lists_rank_fractionally_by_the_share_of_the_best_they_fall_short_of():
    # Meaning's 2nd place, nearly as close as its 1st, against words' 8th, a
    # fifth of the best BM25: whole ranks tie them exactly (1/12 = 1.5/18).
    meaning = {"m1": 0.80, "close": 0.79}
    words = {f"w{i}": 10.0 - i for i in range(7)} | {"far": 2.0}
    whole = rrf([(1.0, list(meaning)), (1.5, list(words))])
    assert whole["close"] == pytest.approx(whole["far"])
    scores = rrf([(1.0, meaning), (1.5, words)])
    assert scores["close"] == pytest.approx(1 / (RRF_K + 2 + 0.01 / 0.8))
    assert scores["far"] == pytest.approx(1.5 / (RRF_K + 8 + 0.8))
    assert scores["close"] - scores["far"] > 0.003
    # Each list keeps its order, and its best keeps a whole first place.
    assert scores["m1"] == pytest.approx(1 / (RRF_K + 1))
    assert [scores[f"w{i}"] for i in range(7)] == sorted(
        (scores[f"w{i}"] for i in range(7)), reverse=True
    )


def test_shortfalls_are_shares_of_the_best_within_zero_and_one():
    assert shortfalls({"a": 4.0, "b": 3.0, "c": -2.0}) == {"a": 0.0, "b": 0.25, "c": 1.0}
    assert shortfalls({"a": 0.0, "b": -0.5}) == {"a": 0.0, "b": 1.0}
    assert shortfalls({}) == {}


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
