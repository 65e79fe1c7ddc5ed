"""The upkeep part of the Store protocol: journal, detailed stats, optimize; every store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from memvault.model import Filter, Memory
from memvault.stores.aggregate import detailed_stats_by_scan

from .backends import as_kept
from .test_store_conformance import SPEC, mem, unit


@pytest.fixture
def bound(store):
    store.bind_embedding(SPEC)
    return store


def test_journal_records_round_trip_in_key_order_and_stay_out_of_memories(bound):
    bound.journal_put("operation", "b", {"status": "pending", "ünï": ["✓", 1.5, None]})
    bound.journal_put("operation", "a/2", {"n": 2})
    bound.journal_put("operation", "a/1", {"n": 1})
    bound.journal_put("other", "a/3", {"n": 3})
    bound.journal_put("operation", "b", {"status": "applied"})
    assert bound.journal_get("operation", "b") == {"status": "applied"}
    assert bound.journal_get("operation", "zz") is None
    assert [k for k, _ in bound.journal_list("operation")] == ["a/1", "a/2", "b"]
    assert list(bound.journal_list("operation", prefix="a/")) == [
        ("a/1", {"n": 1}),
        ("a/2", {"n": 2}),
    ]
    bound.journal_delete("operation", ["a/1", "missing"])
    assert [k for k, _ in bound.journal_list("operation")] == ["a/2", "b"]
    everything = Filter(namespace=None, include_chunks=True, include_expired=True)
    assert bound.count(everything) == 0
    assert bound.stats(None).total == 0


def test_journal_lists_long_logs_completely(bound):
    for i in range(450):
        bound.journal_put("step", f"op/{i:05d}", {"i": i})
    assert [v["i"] for _, v in bound.journal_list("step", prefix="op/")] == list(range(450))


def seeded(bound) -> list[Memory]:
    base = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)  # a Monday
    memories = [
        mem("short", 1, tags=("a", "b"), importance=0.05, created_at=base),
        mem(
            "a bit longer ✓",
            2,
            tags=("a",),
            importance=0.3,
            memory_type="fact",
            created_at=base + timedelta(days=1, hours=2),
        ),
        mem("x" * 500, 3, importance=1.0, created_at=base + timedelta(days=40)),
        mem("other namespace", 4, namespace="elsewhere", created_at=base),
        mem(
            "gone",
            5,
            tags=("a",),
            created_at=base,
            expires_at=datetime.now(UTC) - timedelta(seconds=1),
        ),
    ]
    parent = memories[2]
    bound.add([*memories, mem("chunk", 6, parent_id=parent.id, chunk_index=1)])
    return memories


def test_detailed_stats_counts_every_distribution(bound):
    memories = seeded(bound)
    stats = bound.detailed_stats(Filter.build(), top=2)
    assert stats.total == 3 and stats.expired == 1
    assert stats.content_bytes == len("short") + len("a bit longer ✓".encode()) + 500
    assert stats.by_tag == {"a": 2, "b": 1} and stats.distinct_tags == 2
    assert stats.by_type == {"note": 2, "fact": 1}
    assert stats.by_importance == {"0.0": 1, "0.3": 1, "0.9": 1}
    assert stats.by_hour == {9: 2, 11: 1}
    assert stats.by_weekday == {0: 1, 1: 1, 5: 1}
    assert stats.by_month == {"2025-03": 2, "2025-04": 1}
    assert stats.largest == [(memories[2].id, 500), (memories[1].id, 16)]


def test_detailed_stats_by_scan_agrees_with_the_store(bound):
    seeded(bound)
    for flt in (
        Filter.build(),
        Filter(namespace=None),
        Filter.build(tags_any=["a"]),
        Filter.build(include_expired=True),
    ):
        assert detailed_stats_by_scan(bound, flt, top=3) == bound.detailed_stats(flt, top=3)


def test_optimize_gives_back_space_and_keeps_every_memory(bound):
    memories = [mem(f"memory number {i} " + "filler " * 40, 100 + i) for i in range(3000)]
    for start in range(0, len(memories), 1000):
        bound.add(memories[start : start + 1000])
    # Every other memory goes: no vector chunk empties, so only a rebuild frees them.
    bound.delete([m.id for m in memories[::2]])
    before = bound.size_bytes()
    steps = bound.optimize()
    after = bound.size_bytes()
    # A store behind a server (chroma+http) cannot measure itself; every other shrinks.
    assert steps and ((before, after) == (None, None) or after < before)
    kept = memories[1::2]
    assert bound.count(Filter.build()) == len(kept)
    hits = bound.vector_search(unit(101), 3, Filter.build())
    assert hits[0].id == kept[0].id and hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert [m.id for m in bound.text_search(["number"], 5, Filter.build())]
    got = bound.get(kept[5].id, "default", with_embedding=True)
    assert np.allclose(got.embedding, as_kept(kept[5].embedding, bound), atol=1e-6)
    bound.add([mem("after optimize", 9999)])
    assert bound.count(Filter.build()) == len(kept) + 1
