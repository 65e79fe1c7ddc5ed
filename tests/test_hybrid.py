"""Hybrid ranking stages over a real SQLite store with known vectors (no model needed)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from memvault.errors import StoreUnavailable
from memvault.model import Candidate, EmbeddingSpec, Filter, Memory
from memvault.search.hybrid import (
    SearchSettings,
    credit_preceding,
    fuse,
    hybrid_search,
    memory_matches,
    rankings,
)
from memvault.search.timephrase import TimeRange
from memvault.stores.base import Rankings
from memvault.stores.sqlite.store import SqliteStore

DIM = 384
NOW = datetime(2025, 3, 12, 12, tzinfo=UTC)


def direction(*weights: float) -> np.ndarray:
    """A unit vector in the span of the first few axes: similarities are easy to reason about."""
    v = np.zeros(DIM, dtype=np.float32)
    v[: len(weights)] = weights
    return v / np.linalg.norm(v)


def first_axis(query: str) -> np.ndarray:
    """The query vector of every search here."""
    return direction(1)


def candidates(*scored: tuple[Memory, float]) -> list[Candidate]:
    return [Candidate.of(memory, score) for memory, score in scored]


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "hybrid.db")
    s.bind_embedding(EmbeddingSpec("all-MiniLM-L6-v2", DIM))
    yield s
    s.close()


def test_a_chunk_stands_for_its_memory_at_its_best_similarity():
    parent = Memory("long note, first part", id="p")
    chunk = Memory("second part", id="p#1", parent_id="p", chunk_index=1)
    other = Memory("other", id="o")
    matches = memory_matches(candidates((chunk, 0.9), (other, 0.8), (parent, 0.5)), 0.0)
    assert list(matches) == ["p", "o"]
    assert matches["p"].similarity == 0.9 and matches["p"].chunk_index == 1


def test_chunk_margin_discounts_later_chunks_only():
    parent = Memory("first part", id="p")
    chunk = Memory("second part", id="p#1", parent_id="p", chunk_index=1)
    other = Memory("other", id="o")
    matches = memory_matches(candidates((chunk, 0.9), (other, 0.85), (parent, 0.5)), 0.1)
    assert list(matches) == ["o", "p"]
    assert matches["p"].similarity == pytest.approx(0.8)
    # The first chunk (the memory itself) is never discounted.
    assert memory_matches(candidates((parent, 0.5)), 0.1)["p"].similarity == 0.5


def test_fuse_returns_the_parent_of_a_matched_chunk_once(store):
    parent = Memory("intro " * 5, id="p", embedding=direction(0, 1))
    chunk = Memory(
        "tail with the fact", id="p#1", parent_id="p", chunk_index=1, embedding=direction(1, 0.1)
    )
    store.add([parent, chunk])
    hits = hybrid_search(store, "fact", first_axis, 5, Filter(), SearchSettings(), NOW)
    assert [h.memory.id for h in hits] == ["p"]
    assert hits[0].chunk_index == 1 and hits[0].memory.content == parent.content


def add_three(store):
    """'words' matches the query's words, 'meaning' its vector, 'both' a bit of each."""
    store.add(
        [
            Memory("zebra crossing rules", id="words", embedding=direction(0, 1)),
            Memory("pedestrian safety at roads", id="meaning", embedding=direction(1)),
            Memory("zebra pedestrian", id="both", embedding=direction(1, 1)),
        ]
    )


def ranked(store, **changes) -> list[str]:
    settings = replace(SearchSettings(), **changes)
    hits = hybrid_search(store, "zebra crossing", first_axis, 3, Filter(), settings, NOW)
    return [h.memory.id for h in hits]


def test_each_side_alone_and_the_weights_between_them(store):
    add_three(store)
    assert ranked(store, text_weight=0.0) == ["meaning", "both", "words"]
    assert ranked(store, vector_weight=0.0) == ["words", "both"]
    # With a small rrf_k, ranks matter more than agreement: the heavy side's first wins.
    assert ranked(store, text_weight=5.0, rrf_k=1)[0] == "words"
    assert ranked(store, vector_weight=5.0, rrf_k=1, text_first=False)[0] == "meaning"


def test_the_fused_score_is_weighted_reciprocal_rank(store):
    add_three(store)
    settings = replace(SearchSettings(), vector_weight=0.5, text_weight=2.0, rrf_k=10)
    hits = hybrid_search(store, "zebra crossing", first_axis, 3, Filter(), settings, NOW)
    parts = {h.memory.id: h.parts for h in hits}
    # A rank moves down by the share of its list's best score it falls short of.
    cosine, words = parts["both"]["vector"], parts["both"]["text"] / parts["words"]["text"]
    assert parts["words"]["rrf"] == pytest.approx(0.5 / (13 + 1) + 2.0 / 11)
    assert parts["both"]["rrf"] == pytest.approx(0.5 / (12 + 1 - cosine) + 2.0 / (12 + 1 - words))
    assert parts["meaning"]["rrf"] == pytest.approx(0.5 / 11)


def test_hits_carry_their_score_parts(store):
    add_three(store)
    hit = hybrid_search(store, "zebra crossing", first_axis, 3, Filter(), SearchSettings(), NOW)
    parts = {h.memory.id: h.parts for h in hit}
    assert set(parts["words"]) >= {"rrf", "vector", "text", "recency", "importance"}
    assert parts["meaning"]["vector"] == pytest.approx(1.0, abs=1e-5)
    assert "text" not in parts["meaning"]


def test_time_boost_lifts_memories_in_the_named_time(store):
    old, new = NOW - timedelta(days=40), NOW - timedelta(days=2)
    store.add(
        [
            Memory("a", id="old", created_at=old, embedding=direction(1)),
            Memory("b", id="new", created_at=new, embedding=direction(1, 0.3)),
        ]
    )
    settings = replace(SearchSettings(), time_boost=1.0)
    by_vector = store.vector_search(direction(1), 5, Filter())
    plain = fuse(store, by_vector, [], 2, settings, NOW)
    week = TimeRange(NOW - timedelta(days=7), NOW)
    hinted = fuse(store, by_vector, [], 2, settings, NOW, week)
    assert [h.memory.id for h in plain] == ["old", "new"]
    assert [h.memory.id for h in hinted] == ["new", "old"]
    assert hinted[0].parts["time"] == 1.0


def test_time_boost_changes_nothing_when_all_or_none_are_in_the_time(store):
    add_three(store)
    settings = replace(SearchSettings(), time_boost=1.0)
    by_vector = store.vector_search(direction(1), 5, Filter())
    by_text = store.text_search(["zebra", "crossing"], 5, Filter())
    plain = [h.memory.id for h in fuse(store, by_vector, by_text, 3, settings, NOW)]
    for span in (
        TimeRange(NOW - timedelta(days=1), NOW + timedelta(days=1)),
        TimeRange(NOW - timedelta(days=90), NOW - timedelta(days=60)),
    ):
        hinted = fuse(store, by_vector, by_text, 3, settings, NOW, span)
        assert [h.memory.id for h in hinted] == plain


def test_the_time_named_in_the_query_is_read_against_now(store):
    store.add(
        [
            Memory(
                "trip notes",
                id="march",
                created_at=datetime(2025, 3, 3, tzinfo=UTC),
                embedding=direction(1, 0.2),
            ),
            Memory(
                "trip notes again",
                id="jan",
                created_at=datetime(2025, 1, 9, tzinfo=UTC),
                embedding=direction(1),
            ),
        ]
    )
    settings = replace(SearchSettings(), time_boost=1.0)
    top = hybrid_search(store, "my trip last week", first_axis, 1, Filter(), settings, NOW)
    assert top[0].memory.id == "march"
    top = hybrid_search(store, "my trip in January", first_axis, 1, Filter(), settings, NOW)
    assert top[0].memory.id == "jan"


def test_recency_blend_prefers_the_newer_of_two_equal_matches(store):
    # Equally similar: without recency the tie goes to the smaller id.
    store.add(
        [
            Memory(
                "same words here",
                id="a-older",
                created_at=NOW - timedelta(days=300),
                embedding=direction(1),
            ),
            Memory(
                "same words there",
                id="b-newer",
                created_at=NOW - timedelta(days=1),
                embedding=direction(1),
            ),
        ]
    )
    by_vector = store.vector_search(direction(1), 5, Filter())
    neutral = fuse(store, by_vector, [], 2, SearchSettings(), NOW)
    assert [h.memory.id for h in neutral] == ["a-older", "b-newer"]
    fresh = fuse(store, by_vector, [], 2, replace(SearchSettings(), recency=0.5), NOW)
    assert [h.memory.id for h in fresh] == ["b-newer", "a-older"]
    assert fresh[0].parts["recency"] > 0.9 > 0.01 > fresh[1].parts["recency"]


def test_a_memory_deleted_after_ranking_gives_its_place_to_the_next(store):
    store.add([Memory(f"note {i}", id=f"n{i}", embedding=direction(1, 0.1 * i)) for i in range(4)])
    by_vector = store.vector_search(direction(1), 5, Filter())
    store.delete(["n1"])
    hits = fuse(store, by_vector, [], 3, SearchSettings(), NOW)
    assert [h.memory.id for h in hits] == ["n0", "n2", "n3"]
    assert hits[1].memory.content == "note 2"


def test_a_match_is_credited_with_the_words_of_the_match_stored_after_it(store):
    store.add(
        [
            Memory(
                "I finally made a cup at home",
                id="remark",
                created_at=NOW,
                embedding=direction(0, 1),
            ),
            Memory(
                "A Pimm's Cup takes Pimm's, lemonade and cucumber",
                id="reply",
                created_at=NOW + timedelta(seconds=20),
                embedding=direction(0, 0, 1),
            ),
            Memory(
                "no words of the query here",
                id="aside",
                created_at=NOW + timedelta(seconds=30),
                embedding=direction(0, 0, 0, 1),
            ),
            Memory(
                "my cup of tea",
                id="tea",
                created_at=NOW + timedelta(seconds=40),
                embedding=direction(0, 0, 0, 0, 1),
            ),
            Memory(
                "Pimm's is a gin-based liqueur",
                id="later",
                created_at=NOW + timedelta(days=1),
                embedding=direction(0, 0, 0, 0, 0, 1),
            ),
        ]
    )
    settings = SearchSettings()

    def words(within_s: float) -> Rankings:
        return rankings(store, None, ["pimm's", "cup"], 10, Filter(), timedelta(seconds=within_s))

    ranked = words(settings.context_seconds)
    scores = {c.id: c.score for c in ranked.by_text}
    assert set(scores) == {"remark", "reply", "tea", "later"}
    credited = {c.id: c.score for c in credit_preceding(ranked, settings)}
    assert credited["remark"] == pytest.approx(
        scores["remark"] + settings.context_weight * scores["reply"]
    )
    # "aside" holds no query word, so it gains nothing from "tea" and passes
    # nothing on; "later" comes a day after "tea"; nothing follows "later".
    assert {i: credited[i] for i in ("reply", "tea", "later")} == {
        i: scores[i] for i in ("reply", "tea", "later")
    }
    assert list(credited) == sorted(credited, key=lambda i: -credited[i])
    alone = credit_preceding(words(10), replace(settings, context_seconds=10))
    assert {c.id: c.score for c in alone} == scores


def add_lone_and_words(store):
    """ "lone" is meaning's clear first and holds no query word; the others hold
    the words and sit further down meaning's list."""
    store.add(
        [
            Memory(
                "pedestrians", id="lone", embedding=direction(1), created_at=NOW - timedelta(days=4)
            )
        ]
        + [
            Memory(
                text,
                id=f"w{i}",
                embedding=direction(1, i + 1.0),
                created_at=NOW - timedelta(days=i),
            )
            for i, text in enumerate(
                [
                    "zebra crossing",
                    "zebra crossing rules here",
                    "zebra crossing rules here and there and more",
                ],
                start=1,
            )
        ]
    )


def test_each_sides_first_two_come_before_memories_that_are_merely_in_both(store):
    # Fused by rank alone, being in both lists lifts all three "w" above "lone".
    add_lone_and_words(store)

    def order(head: int) -> list[str]:
        settings = replace(SearchSettings(), head=head)
        hits = hybrid_search(store, "zebra crossing", first_axis, 4, Filter(), settings, NOW)
        return [h.memory.id for h in hits]

    assert order(0) == ["w1", "w2", "w3", "lone"]
    # Heads: meaning's "lone" and "w1", words' "w1" and "w2"; "w3" is neither's first two.
    assert order(2) == ["w1", "w2", "lone", "w3"]
    assert order(1) == ["w1", "lone", "w2", "w3"]


class WatchedStore(SqliteStore):
    """A real SQLite store that notes which thread ranks words, and can be made to fail there."""

    def __init__(self, path, fail: bool = False) -> None:
        super().__init__(path)
        self.fail = fail
        self.ranking_words = threading.Event()
        self.word_threads: list[str] = []

    def text_search(self, terms, k, flt):
        self.word_threads.append(threading.current_thread().name)
        self.ranking_words.set()
        if self.fail:
            raise StoreUnavailable("the word index is gone")
        return super().text_search(terms, k, flt)


@pytest.fixture
def watched(tmp_path):
    s = WatchedStore(tmp_path / "watched.db")
    s.bind_embedding(EmbeddingSpec("all-MiniLM-L6-v2", DIM))
    add_three(s)
    yield s
    s.close()


def test_words_are_ranked_in_the_background_while_the_query_is_embedded(watched):
    def embed_after_words(query: str) -> np.ndarray:
        # Returns only once the words side has started elsewhere: proof that they overlap.
        assert watched.ranking_words.wait(timeout=10)
        return direction(1)

    with ThreadPoolExecutor(1, thread_name_prefix="words") as background:
        hits = hybrid_search(
            watched,
            "zebra crossing",
            embed_after_words,
            3,
            Filter(),
            SearchSettings(),
            NOW,
            background=background,
        )
    assert watched.word_threads[0].startswith("words")
    serial = hybrid_search(
        watched, "zebra crossing", first_axis, 3, Filter(), SearchSettings(), NOW
    )
    assert watched.word_threads[1] == threading.current_thread().name
    assert [(h.memory.id, h.score, h.parts) for h in hits] == [
        (h.memory.id, h.score, h.parts) for h in serial
    ]


def test_a_failure_on_either_side_reaches_the_caller(watched):
    def broken_model(query: str) -> np.ndarray:
        raise RuntimeError("the model is gone")

    with ThreadPoolExecutor(1) as background:
        with pytest.raises(RuntimeError, match="model is gone"):
            hybrid_search(
                watched,
                "zebra",
                broken_model,
                3,
                Filter(),
                SearchSettings(),
                NOW,
                background=background,
            )
        watched.fail = True
        with pytest.raises(StoreUnavailable, match="word index is gone"):
            hybrid_search(
                watched,
                "zebra",
                first_axis,
                3,
                Filter(),
                SearchSettings(),
                NOW,
                background=background,
            )


def test_a_search_by_words_alone_does_not_embed_the_query(watched):
    def no_model(query: str) -> np.ndarray:
        raise AssertionError("the query was embedded")

    settings = replace(SearchSettings(), vector_weight=0.0)
    with ThreadPoolExecutor(1) as background:
        hits = hybrid_search(
            watched, "zebra crossing", no_model, 3, Filter(), settings, NOW, background=background
        )
    assert [h.memory.id for h in hits] == ["words", "both"]


def test_hits_of_clearly_different_relevance_get_different_scores(store):
    # "close" is meaning's 2nd, nearly as near the query as its 1st; "far" is
    # words' 2nd, one query word against the best's four. At equal weights
    # whole ranks gave both exactly 1/12.
    store.add(
        [
            Memory("pedestrian safety", id="m1", embedding=direction(1)),
            Memory("walking home late", id="close", embedding=direction(1, 0.05)),
            Memory("zebra crossing zebra crossing", id="w1", embedding=direction(0, 1)),
            Memory(
                "zebra " + "unrelated words about something else " * 6,
                id="far",
                embedding=direction(0, 0, 1),
            ),
        ]
    )
    by_vector = store.vector_search(direction(1), 2, Filter())
    by_text = store.text_search(["zebra", "crossing"], 2, Filter())
    assert [c.id for c in by_vector] == ["m1", "close"]
    assert [c.id for c in by_text] == ["w1", "far"]
    settings = replace(SearchSettings(), text_weight=1.0, head=0)
    score = {h.memory.id: h.score for h in fuse(store, by_vector, by_text, 4, settings, NOW)}
    assert score["close"] - score["far"] > 0.001


def add_words_first_far_in_meaning(store):
    """ "a" is the words' clear first but far in meaning; "b" is second in words and
    meaning's first, stored a week after "a"; five memories without the words sit
    between them in meaning."""
    long_ago = NOW - timedelta(days=20)
    store.add(
        [
            Memory("zebra crossing", id="a", embedding=direction(0, 1), created_at=long_ago),
            Memory(
                "zebra crossing rules here and there",
                id="b",
                embedding=direction(1),
                created_at=NOW - timedelta(days=3),
            ),
        ]
        + [
            Memory("pedestrians", id=f"p{i}", embedding=direction(1, 0.2 * i), created_at=long_ago)
            for i in range(1, 6)
        ]
    )


def test_the_words_first_leads_unless_a_boost_lifts_another(store):
    add_words_first_far_in_meaning(store)
    by_vector = store.vector_search(direction(1), 10, Filter())
    by_text = store.text_search(["zebra", "crossing"], 10, Filter())

    def first(named: TimeRange | None = None, **changes) -> str:
        settings = replace(SearchSettings(), **changes)
        return fuse(store, by_vector, by_text, 3, settings, NOW, named)[0].memory.id

    # Fused by rank, being high on both sides puts "b" first.
    assert first(text_first=False) == "b"
    assert first() == "a"
    # A time that holds every memory changes nothing; one that holds only "b"
    # boosts it above the words' first again.
    assert first(TimeRange(NOW - timedelta(days=30), NOW)) == "a"
    assert first(TimeRange(NOW - timedelta(days=7), NOW)) == "b"


def test_the_score_a_caller_sees_orders_the_hits(store):
    # The heads come before memories that merely appear in both lists (the
    # test above); their score says so too, and keeps their order among themselves.
    add_lone_and_words(store)
    hits = hybrid_search(store, "zebra crossing", first_axis, 4, Filter(), SearchSettings(), NOW)
    assert [h.memory.id for h in hits] == ["w1", "w2", "lone", "w3"]
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 4
