"""The store conformance suite: every Store passes these, unchanged.

Vectors here are seeded random unit vectors: the store is under test, not the
model, and exact expectations need vectors whose neighbours we know.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from memvault.errors import IncompatibleEmbedding, NotFound
from memvault.model import EmbeddingSpec, Filter, Memory, MemoryChanges

from .backends import as_kept, found

DIM = 384
SPEC = EmbeddingSpec("all-MiniLM-L6-v2", DIM)


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def mem(content: str, seed: int, **kw) -> Memory:
    return Memory(content=content, embedding=unit(seed), **kw)


@pytest.fixture
def bound(store):
    store.bind_embedding(SPEC)
    return store


def test_round_trip_of_every_field(bound):
    created = datetime(2024, 2, 29, 12, 30, 15, 123456, tzinfo=UTC)
    original = mem(
        "Ünïcödé ✓ emoji 🧠🚀 and 中文 text",
        1,
        namespace="alice",
        tags=("prefs", "ünï", "🏷"),
        memory_type="decision",
        metadata={
            "nested": {"list": [1, 2.5, "x", None, True]},
            "session": "s1",
            "n": 3,
            "\\u0000": "the text of a NUL escape \\u0000",
        },
        importance=0.9,
        created_at=created,
        updated_at=created + timedelta(seconds=5),
        last_accessed_at=created + timedelta(days=1),
        expires_at=created + timedelta(days=3650),
    )
    [(_, created_new)] = bound.add([original])
    assert created_new
    got = bound.get(original.id, "alice", with_embedding=True)
    assert got == original
    assert np.allclose(got.embedding, as_kept(original.embedding, bound), atol=1e-6)
    assert bound.get(original.content_hash, "alice") == original


def test_one_megabyte_content_round_trips(bound):
    content = ("0123456789abcdef" * 65536)[:1_000_000]
    original = mem(content, 2)
    bound.add([original])
    assert bound.get(original.id, "default").content == content


def test_same_content_twice_is_stored_once(bound):
    first = mem("Alice prefers tabs", 3)
    again = mem("  Alice   prefers tabs ", 4)
    other_ns = mem("Alice prefers tabs", 5, namespace="bob")
    results = bound.add([first, again, other_ns])
    assert [created for _, created in results] == [True, False, True]
    assert results[1][0].id == first.id
    assert bound.count(Filter(namespace="default")) == 1
    assert bound.count(Filter(namespace="bob")) == 1
    assert bound.existing_hashes("default", [first.content_hash, "0" * 64]) == {first.content_hash}


def test_namespaces_never_mix(bound):
    a = mem("secret of alice", 6, namespace="alice")
    bound.add([a])
    assert bound.get(a.id, "bob") is None
    assert bound.vector_search(unit(6), 5, Filter(namespace="bob")) == []
    assert bound.text_search(["secret"], 5, Filter(namespace="bob")) == []
    assert [m.id for m in bound.vector_search(unit(6), 5, Filter(namespace="alice"))] == [a.id]


def test_filter_is_applied_inside_the_nearest_neighbour_search(bound):
    memories = [mem(f"memory {i}", 1000 + i, tags=("common",)) for i in range(10_000)]
    rare = [mem(f"rare {i}", 50_000 + i, tags=("rare", "common")) for i in range(3)]
    for start in range(0, len(memories), 2000):
        bound.add(memories[start : start + 2000])
    bound.add(rare)
    hits = bound.vector_search(unit(1000), 10, Filter.build(tags_any=["rare"]))
    assert sorted(m.id for m in hits) == sorted(m.id for m in rare)
    unfiltered = bound.vector_search(unit(1000), 10, Filter.build())
    assert len(unfiltered) == 10
    assert unfiltered[0].id == memories[0].id
    assert unfiltered[0].score == pytest.approx(1.0, abs=1e-4)


def test_tags_any_and_all(bound):
    bound.add(
        [
            mem("one", 7, tags=("a",)),
            mem("two", 8, tags=("a", "b")),
            mem("three", 9, tags=("b", "c")),
        ]
    )

    def contents(**kw):
        return sorted(m.content for m in bound.query(Filter.build(**kw), limit=10).memories)

    assert contents(tags_any=["a"]) == ["one", "two"]
    assert contents(tags_any=["a", "c"]) == ["one", "three", "two"]
    assert contents(tags_all=["a", "b"]) == ["two"]
    assert contents(tags_all=["a", "c"]) == []
    assert bound.count(Filter.build(tags_all=["b"])) == 2


def test_time_ranges_type_and_metadata_filters(bound):
    base = datetime(2025, 3, 1, tzinfo=UTC)
    bound.add(
        [
            mem(
                f"day {i}",
                10 + i,
                created_at=base + timedelta(days=i),
                memory_type="fact" if i % 2 else "note",
                metadata={"session": f"s{i % 3}"},
            )
            for i in range(10)
        ]
    )
    flt = Filter.build(
        created_after=base + timedelta(days=2), created_before=base + timedelta(days=5)
    )
    assert sorted(m.content for m in bound.query(flt, limit=10).memories) == [
        "day 2",
        "day 3",
        "day 4",
    ]
    assert bound.count(Filter.build(memory_type="fact")) == 5
    assert bound.count(Filter.build(metadata={"session": "s1"})) == 3
    hits = bound.vector_search(unit(13), 3, flt)
    assert found(bound, hits)[0].content == "day 3" and len(hits) == 3
    texts = bound.text_search(["day"], 10, Filter.build(memory_type="fact"))
    assert len(texts) == 5


def test_query_pages_newest_first_without_gaps(bound):
    base = datetime(2025, 1, 1, tzinfo=UTC)
    bound.add([mem(f"m{i}", 100 + i, created_at=base + timedelta(hours=i)) for i in range(25)])
    seen, cursor = [], None
    while True:
        page = bound.query(Filter.build(), limit=10, cursor=cursor)
        seen.extend(m.content for m in page.memories)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [f"m{i}" for i in reversed(range(25))]
    oldest = bound.query(Filter.build(), limit=3, oldest_first=True).memories
    assert [m.content for m in oldest] == ["m0", "m1", "m2"]


def test_update_changes_fields_and_chunks(bound):
    parent = mem("long parent", 20, tags=("x",))
    chunk = mem("chunk text", 21, parent_id=parent.id, chunk_index=1)
    bound.add([parent, chunk])
    updated = bound.update(
        parent.id,
        MemoryChanges(tags=("y", "z"), importance=0.8, metadata={"k": "v"}, memory_type="fact"),
    )
    assert updated.tags == ("y", "z") and updated.importance == 0.8
    assert updated.metadata == {"k": "v"} and updated.memory_type == "fact"
    assert updated.updated_at > parent.updated_at
    assert bound.count(Filter.build(tags_any=["x"])) == 0
    hits = bound.vector_search(unit(21), 1, Filter.build(tags_any=["y"]))
    assert hits[0].id == chunk.id
    with pytest.raises(NotFound):
        bound.update("no-such-id", MemoryChanges(importance=0.1))


def test_delete_removes_memory_chunks_vectors_and_words(bound):
    parent = mem("delete me please", 30)
    chunk = mem("chunk of it", 31, parent_id=parent.id, chunk_index=1)
    keep = mem("keep me", 32)
    bound.add([parent, chunk, keep])
    assert bound.delete([parent.id]) == 1
    assert bound.get(parent.id, "default") is None
    assert bound.get_many([chunk.id]) == []
    assert [m.id for m in bound.vector_search(unit(31), 5, Filter.build())] == [keep.id]
    assert bound.text_search(["delete"], 5, Filter.build()) == []
    assert bound.delete(["no-such-id"]) == 0


def test_chunks_are_hidden_from_listing_but_found_by_vector(bound):
    parent = mem("parent", 40)
    chunk = mem("child", 41, parent_id=parent.id, chunk_index=1)
    bound.add([parent, chunk])
    assert [m.id for m in bound.query(Filter.build(), limit=10).memories] == [parent.id]
    assert bound.count(Filter.build()) == 1
    assert bound.vector_search(unit(41), 1, Filter.build())[0].parent_id == parent.id


def test_chunks_of_an_existing_parent_are_skipped(bound):
    parent = mem("same", 42)
    bound.add([parent])
    twin = mem("same", 43)
    results = bound.add([twin, mem("orphan chunk", 44, parent_id=twin.id, chunk_index=1)])
    assert [c for _, c in results] == [False, False]
    assert bound.get_many([f"{twin.id}"]) == []
    assert bound.count(Filter.build(include_chunks=True)) == 1


def test_expired_memories_are_hidden(bound):
    past = datetime.now(UTC) - timedelta(minutes=1)
    gone = mem("expired", 45, expires_at=past)
    bound.add([gone, mem("alive", 46)])
    assert bound.get(gone.id, "default") is None
    assert bound.count(Filter.build()) == 1
    assert bound.count(Filter.build(include_expired=True)) == 2
    assert all(m.id != gone.id for m in bound.vector_search(unit(45), 5, Filter.build()))


def test_tag_filtered_searches_keep_namespaces_apart_and_hide_expired(bound):
    past = datetime.now(UTC) - timedelta(minutes=1)
    both = mem("widget tagged a and b", 60, tags=("a", "b"))
    only_a = mem("widget tagged a", 61, tags=("a",))
    expired = mem("expired widget tagged a and b", 62, tags=("a", "b"), expires_at=past)
    elsewhere = mem("widget tagged a and b elsewhere", 63, tags=("a", "b"), namespace="other")
    bound.add([both, only_a, expired, mem("untagged widget", 64), elsewhere])
    for flt, expected in (
        (Filter.build(tags_any=["a"]), {both.id, only_a.id}),
        (Filter.build(tags_any=["a"], tags_all=["a", "b"]), {both.id}),
        (Filter.build(tags_all=["b"], namespace="other"), {elsewhere.id}),
    ):
        assert {m.id for m in bound.vector_search(unit(60), 10, flt)} == expected
        assert {m.id for m in bound.text_search(["widget"], 10, flt)} == expected


def test_a_filtered_search_returns_each_match_once_when_namespaces_interleave(bound):
    # Rows of two namespaces alternate, and a tag marks a few of each.
    memories = [
        mem(
            f"m{i}",
            300 + i,
            namespace="big" if i % 2 == 0 else "other",
            tags=("x",) if i % 40 < 3 else (),
        )
        for i in range(800)
    ]
    bound.add(memories)
    tagged = [m for m in memories if m.namespace == "big" and m.tags]
    probe = unit(300)
    exact = sorted(tagged, key=lambda m: -float(m.embedding @ probe))[:10]
    hits = bound.vector_search(probe, 10, Filter.build(namespace="big", tags_any=["x"]))
    assert [m.id for m in hits] == [m.id for m in exact]


def test_text_search_matches_any_term_and_ranks_by_relevance(bound):
    bound.add(
        [
            mem("the blue widget has product code XK9000", 50),
            mem("a red widget", 51),
            mem("nothing relevant here", 52),
        ]
    )
    hits = bound.text_search(["xk9000", "widget"], 10, Filter.build())
    assert [m.content for m in found(bound, hits)][:2] == [
        "the blue widget has product code XK9000",
        "a red widget",
    ]
    assert hits[0].score > hits[1].score
    stemmed = bound.text_search(["widgets"], 10, Filter.build())
    assert len(stemmed) == 2


def test_text_search_keeps_to_namespaces_of_any_spelling(bound):
    # Namespaces made of no words at all, and one whose words sit inside another's.
    spaces = ["🙂", "___", "team-a", "x team-a", "team"]
    bound.add(
        [
            mem(f"the shared ledger entry of {ns}", 80 + i, namespace=ns)
            for i, ns in enumerate(spaces)
        ]
    )
    for ns in spaces:
        hits = bound.text_search(["ledger", "team"], 10, Filter(namespace=ns))
        assert [m.namespace for m in found(bound, hits)] == [ns]


def test_scan_is_resumable_and_complete(bound):
    bound.add([mem(f"scan {i}", 60 + i) for i in range(23)])
    first = bound.scan(Filter(namespace=None), batch_size=10)
    batch, cursor = next(first)
    assert len(batch) == 10 and all(m.embedding is not None for m in batch)
    rest = [
        m for b, _ in bound.scan(Filter(namespace=None), batch_size=10, cursor=cursor) for m in b
    ]
    assert len({m.id for m in batch + rest}) == 23


def test_another_model_is_refused(bound):
    with pytest.raises(IncompatibleEmbedding):
        bound.bind_embedding(EmbeddingSpec("other-model", DIM))
    with pytest.raises(IncompatibleEmbedding):
        bound.bind_embedding(EmbeddingSpec("all-MiniLM-L6-v2", 768))
    wrong_dim = Memory(content="short vector", embedding=np.ones(12, dtype=np.float32))
    with pytest.raises(IncompatibleEmbedding):
        bound.add([wrong_dim])


def test_a_batch_that_fails_half_way_leaves_nothing(bound):
    good = mem("good one", 70)
    bad = Memory(content="bad one", embedding=np.ones(7, dtype=np.float32))
    with pytest.raises(IncompatibleEmbedding):
        bound.add([good, bad])
    assert bound.count(Filter.build(include_chunks=True)) == 0
    assert bound.vector_search(unit(70), 5, Filter.build()) == []
    assert bound.text_search(["good"], 5, Filter.build()) == []


def test_stats_and_health(bound):
    bound.add(
        [
            mem("s1", 80, tags=("t",), memory_type="fact"),
            mem("s2", 81, tags=("t",)),
            mem("s3", 82, namespace="other"),
        ]
    )
    stats = bound.stats(None)
    assert stats.total == 3
    assert stats.namespaces == {"default": 2, "other": 1}
    assert stats.by_type == {"note": 2, "fact": 1}
    assert stats.top_tags[0] == ("t", 2)
    assert sum(stats.per_month.values()) == 3
    assert bound.stats("other").total == 1
    assert bound.health()["identity"] == bound.identity() != ""


def test_missing_things_are_none_or_empty(bound):
    assert bound.get("nope", "default") is None
    assert bound.get("0" * 64, "default") is None
    assert bound.get_many(["a", "b"]) == []
    assert bound.vector_search(unit(1), 5, Filter.build()) == []
    assert bound.text_search([], 5, Filter.build()) == []


def test_preceding_is_the_memory_stored_just_before_under_the_filter(bound):
    t0 = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)

    def at(content: str, seconds: float, **kw) -> Memory:
        return mem(content, 90 + int(seconds), created_at=t0 + timedelta(seconds=seconds), **kw)

    remark, reply = at("remark", 0, tags=("chat",)), at("reply", 30, tags=("chat",))
    aside, late = at("aside", 40), at("late", 200, tags=("chat",))
    other_space = at("elsewhere", 35, namespace="other", tags=("chat",))
    expired = at("expired", 210, tags=("chat",), expires_at=datetime.now(UTC) - timedelta(1))
    after = at("after", 265, tags=("chat",))
    tie_a = at("same instant", 500)
    tie_b = Memory(content="same instant too", embedding=unit(7), created_at=tie_a.created_at)
    chunk = mem("part two", 91, parent_id=aside.id, chunk_index=1, created_at=aside.created_at)
    bound.add([remark, reply, aside, chunk, late, other_space, expired, after, tie_a, tie_b])
    minute = timedelta(seconds=60)

    def preceding(ids: list[str], **flt) -> dict[str, str]:
        return bound.preceding(ids, Filter.build(**flt), minute)

    # The namespace's own memories only, never a chunk, never more than a minute back.
    assert preceding([reply.id, aside.id, late.id, remark.id]) == {
        reply.id: remark.id,
        aside.id: reply.id,
    }
    # The filter applies to the memory found: the untagged aside is passed over.
    assert preceding([late.id, aside.id], tags_any=["chat"]) == {aside.id: reply.id}
    assert preceding([after.id]) == {}  # only an expired memory within the minute
    assert preceding([other_space.id], namespace="other") == {}
    # Of two memories stored at one instant, one comes first (in an order the store keeps).
    assert preceding([tie_a.id, tie_b.id]) in ({tie_b.id: tie_a.id}, {tie_a.id: tie_b.id})
    assert bound.preceding([], Filter.build(), minute) == {}
    assert bound.preceding(["no-such-id"], Filter.build(), minute) == {}


def test_every_store_filters_as_filter_matches_defines(bound):
    """Each store's own translation of a filter (SQL, Chroma's where) against the definition."""
    rng = random.Random(20251205)
    now = datetime.now(UTC)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    tags = ["red", "green", "blue", "ünï"]
    memories = [
        mem(
            f"memory number {i}",
            1000 + i,
            namespace=rng.choice(["a", "b"]),
            tags=tuple(rng.sample(tags, rng.randint(0, 3))),
            memory_type=rng.choice(["note", "decision", "fact"]),
            metadata={"k": rng.choice([1, 2, "x"])} if rng.random() < 0.7 else {},
            created_at=base + timedelta(hours=rng.randint(0, 500)),
            # expired or not by days, so the store's own clock cannot disagree with ours
            expires_at=now + timedelta(days=rng.choice([-2, 2])) if rng.random() < 0.3 else None,
        )
        for i in range(80)
    ]
    bound.add(memories)
    for _ in range(60):
        # bounds taken from the memories' own times, so the edges are exercised
        after, before = sorted(rng.choice(memories).created_at for _ in range(2))
        flt = Filter(
            namespace=rng.choice(["a", "b", None]),
            tags_any=tuple(rng.sample(tags, rng.randint(0, 2))),
            tags_all=tuple(rng.sample(tags, rng.randint(0, 2))) if rng.random() < 0.3 else (),
            memory_type=rng.choice([None, None, "note", "fact"]),
            created_after=after if rng.random() < 0.5 else None,
            created_before=before if rng.random() < 0.5 else None,
            metadata={"k": rng.choice([1, "x"])} if rng.random() < 0.3 else {},
            include_expired=rng.random() < 0.3,
        )
        expected = {m.id for m in memories if flt.matches(m, now)}
        page = bound.query(flt, limit=1000)
        assert {m.id for m in page.memories} == expected, flt
        assert bound.count(flt) == len(expected), flt
