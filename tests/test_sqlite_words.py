"""The SQLite store's in-process BM25 ranks exactly as FTS5's own bm25() would,
and follows the file when other connections write or delete."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from memvault.model import Filter, Memory
from memvault.search.text import query_terms
from memvault.stores.sqlite import words as sqlite_words
from memvault.stores.sqlite.store import SqliteStore

from .backends import found
from .test_store_conformance import SPEC, unit

WORDS = (
    "harbour ferry noon ticket lisbon porto train delayed running runner ran budget "
    "review invoice PRJ_4471 e_mail quarterly report dentist appointment kitchen tiles "
    "renovation vegetarian menu birthday party staging server release"
).split()
QUERIES = [
    "ferry to Lisbon at noon",
    "running late for the train",
    "PRJ_4471 invoice",
    "quarterly budget review report",
    "kitchen renovation tiles",
    "e_mail the dentist",
    "birthday party menu vegetarian",
    "staging server release delayed",
]


def notes(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 30))) + f" note{i}"
        for i in range(count)
    ]


def fts5_ranking(store: SqliteStore, query: str, k: int, namespace: str) -> list[tuple[str, float]]:
    """What SQLite's FTS5 ranks for the query: its bm25() over any of the terms."""
    match = " OR ".join('"' + t.replace('"', '""') + '"' for t in query_terms(query))
    rows = store._db.rows(
        "SELECT m.id, -bm25(memories_fts) AS score FROM memories_fts f "
        "JOIN memories m ON m.rowid = f.rowid WHERE memories_fts MATCH ? "
        "AND m.namespace = ? ORDER BY score DESC, f.rowid LIMIT ?",
        (match, namespace, k),
    )
    return in_order([(memory_id, score) for memory_id, score in rows])


def ranking(store: SqliteStore, query: str, k: int, namespace: str) -> list[tuple[str, float]]:
    hits = store.text_search(query_terms(query), k, Filter(namespace=namespace))
    return in_order([(c.id, c.score) for c in hits])


def in_order(hits: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Best first, equal scores by id: the two sides may break ties differently."""
    return sorted(((i, round(s, 9)) for i, s in hits), key=lambda h: (-h[1], h[0]))


def add_notes(store: SqliteStore, texts: list[str], namespace: str, first: int = 0) -> None:
    store.add(
        [
            Memory(content=t, namespace=namespace, embedding=unit(first + i))
            for i, t in enumerate(texts)
        ]
    )


@pytest.fixture
def pair(tmp_path):
    writer, reader = SqliteStore(tmp_path / "w.db"), SqliteStore(tmp_path / "w.db")
    writer.bind_embedding(SPEC)
    reader.bind_embedding(SPEC)
    yield writer, reader
    writer.close()
    reader.close()


def test_scores_and_order_are_fts5_bm25s_in_every_namespace(pair):
    store, _ = pair
    add_notes(store, notes(300, seed=1), "a")
    add_notes(store, notes(120, seed=2), "b", first=300)
    for namespace in ("a", "b"):
        for query in QUERIES:
            # Every match, so that ties at the cut cannot differ.
            expected = fts5_ranking(store, query, 1000, namespace)
            assert len(expected) > 15, query
            assert ranking(store, query, 1000, namespace) == expected, (namespace, query)
            top = [score for _, score in ranking(store, query, 15, namespace)]
            assert top == [score for _, score in expected[:15]]


def test_a_term_of_several_tokens_matches_them_side_by_side(pair):
    store, _ = pair
    add_notes(store, ["ticket PRJ_4471 is open", "PRJ and 4471 apart", "4471 PRJ reversed"], "a")
    hits = store.text_search(["PRJ_4471"], 5, Filter(namespace="a"))
    assert [m.content for m in found(store, hits)] == ["ticket PRJ_4471 is open"]


def test_writes_and_deletes_by_another_connection_are_followed(pair):
    writer, reader = pair
    add_notes(writer, notes(200, seed=3), "a")
    for query in QUERIES:  # the reader now holds these words' postings
        assert ranking(reader, query, 500, "a") == fts5_ranking(writer, query, 500, "a")

    add_notes(writer, notes(50, seed=4), "a", first=200)
    add_notes(writer, ["a ferry to lisbon at noon, lisbon lisbon"], "a", first=250)
    for query in QUERIES:
        assert ranking(reader, query, 500, "a") == fts5_ranking(writer, query, 500, "a"), query
    assert (
        ranking(reader, "lisbon ferry", 1, "a")[0][0]
        == writer.text_search(["lisbon", "ferry"], 1, Filter(namespace="a"))[0].id
    )

    gone = [m.id for m in writer.text_search(["lisbon"], 1000, Filter(namespace="a"))]
    writer.delete(gone)
    assert reader.text_search(["lisbon"], 10, Filter(namespace="a")) == []
    for query in QUERIES:
        assert ranking(reader, query, 500, "a") == fts5_ranking(writer, query, 500, "a"), query


def test_own_writes_are_seen_at_once(pair):
    store, _ = pair
    add_notes(store, notes(50, seed=5), "a")
    assert ranking(store, "lisbon", 5, "a") == fts5_ranking(store, "lisbon", 5, "a")
    add_notes(store, ["lisbon lisbon lisbon"], "a", first=50)
    best = store.text_search(["lisbon"], 1, Filter(namespace="a"))
    assert found(store, best)[0].content == "lisbon lisbon lisbon"


def test_rankings_stay_exact_when_held_postings_are_dropped(pair, monkeypatch):
    monkeypatch.setattr(sqlite_words, "POSTINGS_BUDGET", 40)
    store, _ = pair
    add_notes(store, notes(200, seed=6), "a")
    for query in QUERIES * 2:
        assert ranking(store, query, 500, "a") == fts5_ranking(store, query, 500, "a"), query


def test_a_filter_limits_the_candidates_not_the_statistics(pair):
    store, _ = pair
    texts = notes(100, seed=7)
    store.add(
        [
            Memory(
                content=t, namespace="a", tags=("even",) if i % 2 == 0 else (), embedding=unit(i)
            )
            for i, t in enumerate(texts)
        ]
    )
    full = fts5_ranking(store, "ferry lisbon noon", 100, "a")
    even = {
        m.id for m in store.query(Filter(namespace="a", tags_any=("even",)), limit=100).memories
    }
    hits = store.text_search(
        query_terms("ferry lisbon noon"), 100, Filter(namespace="a", tags_any=("even",))
    )
    assert 0 < len(hits) < len(full)
    assert in_order([(c.id, c.score) for c in hits]) == [h for h in full if h[0] in even]


def test_preceding_from_the_word_index_is_what_the_sql_finds(pair):
    store, reader = pair
    rng = random.Random(11)
    start = datetime(2025, 6, 1, tzinfo=UTC)

    def batch(count: int, seed: int) -> list[Memory]:
        made = []
        for i, text in enumerate(notes(count, seed)):
            # Whole minutes apart or at one instant, so that ties and the window both matter.
            at = start + timedelta(seconds=30 * rng.randint(0, count // 2))
            made.append(
                Memory(
                    content=text,
                    namespace=rng.choice("ab"),
                    created_at=at,
                    embedding=unit(seed * 1000 + i),
                )
            )
            if i % 10 == 0:  # a chunk at its memory's instant, which no search step lands on
                made.append(
                    Memory(
                        content=f"tail of {i}",
                        namespace=made[-1].namespace,
                        parent_id=made[-1].id,
                        chunk_index=1,
                        created_at=at,
                        embedding=unit(seed * 1000 + i + 500),
                    )
                )
        return made

    def both_ways(namespace: str | None) -> tuple[dict[str, str], dict[str, str]]:
        ids = [m.id for m in reader.query(Filter(namespace=namespace), limit=1000).memories]
        within = timedelta(seconds=60)
        reader._words = sqlite_words.WordIndex()  # forget any order worked out before
        quick = reader.preceding(ids, Filter(namespace=namespace), within)
        # A filter that narrows nothing, but is no longer the namespace alone: SQL.
        everything = Filter(namespace=namespace, created_after=start - timedelta(days=1))
        return quick, reader.preceding(ids, everything, within)

    store.add(batch(150, seed=1))
    for namespace in ("a", "b"):
        quick, by_sql = both_ways(namespace)
        assert reader._words._sequence is not None  # the word index answered
        assert len(by_sql) > 20 and quick == by_sql
    # After writes and a delete (by another connection) the index follows.
    store.add(batch(40, seed=2))
    store.delete([m.id for m in reader.query(Filter(namespace="a"), limit=5).memories])
    quick, by_sql = both_ways("a")
    assert quick == by_sql
    # A chunk asked about is answered by SQL, like any other memory.
    chunk = next(
        m
        for m in store.query(Filter(namespace="b", include_chunks=True), limit=1000).memories
        if m.parent_id
    )
    assert reader.preceding(
        [chunk.id], Filter(namespace="b"), timedelta(seconds=60)
    ) == reader.preceding(
        [chunk.id], Filter(namespace="b", created_after=start - timedelta(1)), timedelta(seconds=60)
    )
