"""Every store ranks words alike: the same memories and query give the same word
ranking (ids, order, BM25 scores) on SQLite, PostgreSQL and Chroma, for texts
whose words are easy to split or stem differently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from memvault.model import Filter
from memvault.search.text import query_terms
from memvault.stores import tokens
from memvault.stores.chroma.word_counts import WORDS_SUFFIX
from memvault.stores.sqlite.schema import WORD_INDEX
from memvault.stores.sqlite.store import SqliteStore

from .backends import make_store
from .test_store_conformance import SPEC, mem

TEXTS = {
    "home": [
        "O'Brien's café serves crème brûlée on Tuesdays.",
        "Obrien said the cafe was closed; the well-known chef left early that day.",
        "A well known fact: 3.14 is pi, and 2024-05-01 was a Wednesday.",
        "Running late again: I ran 5km and then kept running, running, running.",
        "The runner's days are long; every day she runs before work.",
        "snake_case names like user_id and snake case prose differ in style.",
        "NAÏVE Bayes vs naive bayes: Ångström units, 10µm, x² and Straße.",
        "Happily, happiness is happy-go-lucky; the happiest of happy days.",
        "It is what it is, and that is that, said the tired runner.",
        "Connection, connected, connecting, connections: all connect the e-mail.",
        "e-mail me at bob@example.com or visit https://example.com/path?q=1 today",
        "日本語のテキスト and emoji 🧠 brain, naïvely written.",
        "Don't, won't, can't: the apostrophes' owners (the owner's dog) wouldn't.",
    ],
    "elsewhere": [
        "café café café in another namespace, about running days",
        "user_id and snake_case appear here too, with connections",
        "a well-known e-mail address, well known to everyone",
    ],
}

QUERIES = [
    "O'Brien's café",
    "well-known chef",
    "3.14 pi 2024",
    "running days",
    "runs",
    "snake_case user_id",
    "naive angstrom strasse",
    "happy connections",
    "e-mail example.com",
    "brûlée Tuesday",
    "日本語",
    "happiness connect the runner",
    "owner's apostrophes won't",
    "naïve bayes",
]


def ranking(store, query: str) -> list[tuple[str, float]]:
    terms = query_terms(query)
    return [(c.id, c.score) for c in store.text_search(terms, 10, Filter(namespace="home"))]


def assert_alike(got: list[tuple[str, float]], expected: list[tuple[str, float]], why: str) -> None:
    assert [i for i, _ in got] == [i for i, _ in expected], why
    assert [s for _, s in got] == pytest.approx([s for _, s in expected], rel=1e-9), why


@pytest.fixture(scope="module")
def stored(tmp_path_factory, request) -> dict[str, object]:
    """The same memories (same ids) in one store of each kind."""
    memories = [
        mem(text, seed, namespace=namespace)
        for seed, (namespace, text) in enumerate(
            (ns, t) for ns, texts in TEXTS.items() for t in texts
        )
    ]
    stores = {}
    for kind in ("sqlite", "postgres", "chroma"):
        store = make_store(kind, tmp_path_factory.mktemp(kind), request)
        store.bind_embedding(SPEC)
        store.add(memories)
        stores[kind] = store
    yield stores
    for store in stores.values():
        store.close()


def test_the_tokenizer_is_the_sqlite_word_index_s():
    assert tokens.TOKENIZE_CLAUSE in WORD_INDEX
    assert tokens.tokens("O'Brien's Cafés, running DAYS x²") == [
        "o",
        "brien",
        "s",
        "cafe",
        "run",
        "dai",
        "x²",
    ]


@pytest.mark.parametrize("kind", ["postgres", "chroma"])
def test_every_store_ranks_words_as_sqlite_does(stored, kind):
    expected = {query: ranking(stored["sqlite"], query) for query in QUERIES}
    # The texts do exercise the ranking: most queries find several memories.
    assert sum(len(found) >= 2 for found in expected.values()) >= 8
    for query in QUERIES:
        assert_alike(ranking(stored[kind], query), expected[query], query)


@pytest.mark.parametrize("kind", ["postgres", "chroma"])
def test_deleting_keeps_the_rankings_alike(tmp_path, request, kind):
    stores = [make_store(k, tmp_path / k, request) for k in ("sqlite", kind)]
    try:
        for store in stores:
            store.bind_embedding(SPEC)
        memories = [mem(t, i, namespace="home") for i, t in enumerate(TEXTS["home"])]
        for store in stores:
            store.add(memories)
            store.delete([memories[3].id, memories[4].id])
        for query in ("running days", "happy connections"):
            sqlite, other = (ranking(store, query) for store in stores)
            assert_alike(other, sqlite, query)
    finally:
        for store in stores:
            store.close()


def sqlite_and_chroma(tmp_path, request):
    """A SQLite and a Chroma store holding the same memories (TEXTS["home"])."""
    sqlite = SqliteStore(tmp_path / "store.db")
    chroma = make_store("chroma", tmp_path, request)
    memories = [mem(t, i, namespace="home") for i, t in enumerate(TEXTS["home"])]
    for store in (sqlite, chroma):
        store.bind_embedding(SPEC)
        store.add(memories)
    return sqlite, chroma


def test_a_chroma_store_from_before_the_word_counts_is_counted_when_searched(tmp_path, request):
    sqlite, chroma = sqlite_and_chroma(tmp_path, request)
    try:
        chroma._client.delete_collection("memories" + WORDS_SUFFIX)
        chroma.close()
        chroma = make_store("chroma", tmp_path, request)
        # Written before the counts: counted as a whole by the first search.
        extra = mem("more running days", 99, namespace="home")
        for store in (sqlite, chroma):
            store.add([extra])
        assert_alike(ranking(chroma, "running days"), ranking(sqlite, "running days"), "")
        assert ranking(chroma, "running days")[0][0] == extra.id
    finally:
        sqlite.close()
        chroma.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres", "chroma"])
def test_equal_scores_rank_the_older_memory_first(tmp_path, request, kind):
    start = datetime(2024, 1, 1, tzinfo=UTC)
    # Same length, the query word once each: equal scores. Stored newest first.
    texts = ["kiwi tart one", "kiwi pie two", "kiwi jam six", "kiwi cake ten"]
    memories = [
        mem(text, i, namespace="home", created_at=start + timedelta(days=len(texts) - i))
        for i, text in enumerate(texts)
    ]
    store = make_store(kind, tmp_path, request)
    try:
        store.bind_embedding(SPEC)
        store.add(memories)
        ranked = ranking(store, "kiwi")
        assert [i for i, _ in ranked] == [m.id for m in reversed(memories)]
        assert len({s for _, s in ranked}) == 1
        # At the cut, the older of equal scores are kept.
        kept = store.text_search(["kiwi"], 2, Filter(namespace="home"))
        assert [c.id for c in kept] == [memories[3].id, memories[2].id]
    finally:
        store.close()


def test_chroma_optimize_counts_the_words_again(tmp_path, request):
    sqlite, chroma = sqlite_and_chroma(tmp_path, request)
    try:
        # A count another writer's update overwrote (Chroma has no transactions).
        words = chroma._client.get_collection("memories" + WORDS_SUFFIX)
        words.update(ids=["run"], metadatas=[{"documents": 9}])
        assert ranking(chroma, "running days") != ranking(sqlite, "running days")
        assert "words: counted again from the memories" in chroma.optimize()
        assert_alike(ranking(chroma, "running days"), ranking(sqlite, "running days"), "")
    finally:
        sqlite.close()
        chroma.close()
