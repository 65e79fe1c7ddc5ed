"""Vault behaviour with the real model over a real SQLite file."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from memvault import Filter, IncompatibleEmbedding, InvalidInput, NotFound, Vault
from memvault.config import Settings
from memvault.model import EmbeddingSpec, Memory, utcnow
from memvault.stores import open_store
from memvault.transfer.migrate import migrate

FACTS = [
    "The replacement part for the espresso machine is order code QZ-7781",
    "Alice prefers tabs over spaces when she writes Python",
    "Our team standup moved from 9:30 to 10:00 every weekday",
    "Bob is allergic to peanuts and shellfish",
    "The staging database runs PostgreSQL 16 on a small VM",
    "My grandmother's lasagna recipe uses nutmeg in the bechamel",
    "The dog's vet appointment is on the first Monday of the month",
    "Carol's favourite band is Radiohead; she saw them live in 2017",
]


@pytest.fixture
def filled(vault: Vault) -> Vault:
    vault.store_many([{"content": c} for c in FACTS])
    return vault


def top(vault: Vault, query: str, **kw) -> str:
    return vault.search(query, k=3, **kw)[0].memory.content


def test_hybrid_finds_a_rare_exact_word(filled):
    # A product code carries no meaning the model knows; the words side finds it.
    assert top(filled, "QZ-7781") == FACTS[0]
    hit = filled.search("QZ-7781", k=1)[0]
    assert "text" in hit.parts and "vector" in hit.parts


def test_hybrid_finds_a_paraphrase_without_shared_words(filled):
    # No word of the question appears in the memory; meaning alone finds it.
    query = "which food makes him sick?"
    assert not set(query.lower().split()) & set(FACTS[3].lower().split())
    assert top(filled, query) == FACTS[3]
    assert top(filled, "how does she like to indent her programs") == FACTS[1]


def test_a_query_asked_again_ranks_the_same_from_the_cached_vector(filled):
    # The first search embeds (its words ranked meanwhile on a background
    # thread); the second finds the vector cached and ranks in the caller's.
    query = "what should I order for the espresso machine?"
    assert query not in filled.queries
    first = filled.search(query, k=4)
    assert query in filled.queries
    again = filled.search(query, k=4)
    assert [(h.memory.id, h.score) for h in first] == [(h.memory.id, h.score) for h in again]
    assert first[0].memory.content == FACTS[0]
    assert (filled.queries.misses, filled.queries.hits) == (1, 1)


def test_store_twice_says_it_was_a_duplicate(vault):
    first = vault.store("Paris is the capital of France")
    again = vault.store("  Paris is the capital   of France ")
    lower = vault.store("paris is the capital of france")
    assert first.created and not again.created and lower.created
    assert again.memory.id == first.memory.id
    assert vault.count() == 2


def test_store_many_dedups_within_the_batch(vault):
    results = vault.store_many([{"content": "same"}, {"content": "other"}, {"content": "same"}])
    assert [r.created for r in results] == [True, True, False]
    assert results[2].memory.id == results[0].memory.id
    assert vault.count() == 2


def test_similar_but_distinct_facts_are_both_kept(vault):
    vault.store("The meeting is on Tuesday")
    assert vault.store("The meeting is on Wednesday").created
    assert vault.count() == 2


def test_namespaces_are_isolated(vault):
    vault.store("Alice's secret project is called Bluebird", namespace="alice")
    assert vault.search("secret project name", namespace="bob") == []
    assert vault.search("secret project name", namespace="alice")[0].memory.namespace == "alice"
    memory = vault.list(namespace="alice").memories[0]
    with pytest.raises(NotFound):
        vault.get(memory.id, namespace="bob")


def test_long_content_is_chunked_and_found_by_its_later_part(vault):
    filler = " ".join(f"Paragraph {i} discusses quarterly logistics planning." for i in range(150))
    long_text = filler + "\n\nThe wifi password for the cabin is larch-meadow-42."
    result = vault.store(long_text)
    assert vault.count() == 1
    assert vault.count(filter={"include_chunks": True}) > 1
    vault.store("Unrelated note about gardening tomatoes")
    hits = vault.search("what is the cabin wifi password", k=2)
    assert hits[0].memory.id == result.memory.id
    assert hits[0].memory.content == long_text
    assert hits[0].chunk_index is not None and hits[0].chunk_index > 0
    assert len({h.memory.id for h in hits}) == len(hits)


def test_filters_narrow_search_tags_and_types(vault):
    vault.store("Deploys happen on Fridays", tags=["ops"], memory_type="decision")
    vault.store("Deploys are frozen in December", tags=["ops", "calendar"])
    vault.store("Friday is pizza day", tags=["fun"])
    hits = vault.search("when do deploys happen", filter={"tags_any": ["fun"]})
    assert [h.memory.content for h in hits] == ["Friday is pizza day"]
    decisions = vault.search("deploys", filter={"memory_type": "decision"})
    assert [h.memory.content for h in decisions] == ["Deploys happen on Fridays"]
    page = vault.search_by_tag(["ops", "calendar"], match="all")
    assert [m.content for m in page.memories] == ["Deploys are frozen in December"]
    assert len(vault.search_by_tag("ops").memories) == 2


def test_search_lifts_memories_from_the_time_the_question_names(vault):
    # The March memory matches the question's words better; the question names July.
    vault.store_many(
        [
            {
                "content": "We went hiking in the mountains with the kids, a great hike",
                "created_at": "2023-03-12T10:00:00Z",
            },
            {
                "content": "We took the kids up to the lake for a long walk",
                "created_at": "2023-07-16T10:00:00Z",
            },
        ]
    )
    query = "Where did we go hiking with the kids in July 2023?"
    saved = vault.search_settings
    vault.search_settings = dataclasses.replace(saved, time_boost=0.0)
    try:
        assert top(vault, query).startswith("We went hiking")
    finally:
        vault.search_settings = saved
    hits = vault.search(query, k=2)
    assert hits[0].memory.content.startswith("We took the kids")
    assert hits[0].parts["time"] == 1.0 and "time" not in hits[1].parts


def test_recall_by_time_phrase(vault):
    now = datetime.now(UTC)
    vault.store("Yesterday we chose Postgres", created_at=now - timedelta(days=1))
    vault.store("Last year we used MySQL", created_at=now - timedelta(days=400))
    vault.store("Today we shipped", created_at=now)
    recent = vault.recall("yesterday", now=now)
    assert [h.memory.content for h in recent.hits] == ["Yesterday we chose Postgres"]
    assert recent.span.end - recent.span.start == timedelta(days=1)
    assert recent.span.start <= now - timedelta(days=1) < recent.span.end
    start, end = now - timedelta(days=2), now + timedelta(seconds=1)
    window = vault.recall((start, end))
    assert (window.span.start, window.span.end) == (start, end)
    assert {h.memory.content for h in window.hits} == {
        "Yesterday we chose Postgres",
        "Today we shipped",
    }
    with_query = vault.recall("last 30 days", query="database choice", now=now)
    assert with_query.hits[0].memory.content == "Yesterday we chose Postgres"
    assert with_query.to_dict()["end"] == with_query.span.end.isoformat()
    with pytest.raises(InvalidInput) as err:
        vault.recall("the day after the party")
    assert err.value.field == "time"


def test_content_over_the_chunk_budget_is_refused_before_any_embedding(tmp_path, embedder):
    settings = Settings.from_env({"MEMVAULT_DATA_DIR": str(tmp_path), "MEMVAULT_MAX_CHUNKS": "5"})
    with Vault.open(f"sqlite://{tmp_path / 'c.db'}", settings=settings, embedder=embedder) as vault:
        long = " ".join(
            f"Sentence {i} of a long report about the quarterly numbers." for i in range(200)
        )
        with pytest.raises(InvalidInput) as err:
            vault.store(long)
        assert err.value.field == "content" and "MEMVAULT_MAX_CHUNKS" in err.value.message
        with pytest.raises(InvalidInput) as err:
            vault.store_many([{"content": "short"}, {"content": long}])
        assert err.value.field == "items[1].content"
        assert vault.count() == 0
        vault.store(long[:2000])  # a few chunks: within the budget
        assert vault.count() == 1


def test_a_search_can_weigh_recency_and_bad_weights_are_named(vault):
    now = datetime.now(UTC)
    vault.store("We keep the staging database on host db-7", created_at=now - timedelta(days=300))
    vault.store("The staging database moved to host db-9", created_at=now - timedelta(days=1))
    plain = vault.search("staging database host", k=2, now=now)
    recent = vault.search("staging database host", k=2, now=now, recency=5, half_life_days=7)
    assert recent[0].memory.content == "The staging database moved to host db-9"
    by_content = {h.memory.content: h.score for h in plain}
    assert recent[0].score > 4 * by_content[recent[0].memory.content]
    for kwargs, field in [
        ({"recency": -1}, "recency"),
        ({"recency": 11}, "recency"),
        ({"recency": "high"}, "recency"),
        ({"half_life_days": 0}, "half_life_days"),
    ]:
        with pytest.raises(InvalidInput) as err:
            vault.search("staging", **kwargs)
        assert err.value.field == field


def test_importance_breaks_ties_but_recency_does_not_reorder_equals(vault):
    vault.store("The office plant needs water weekly", importance=0.1)
    vault.store("The office plant needs water on Mondays", importance=0.95)
    hits = vault.search("office plant water", k=2)
    scores = {h.memory.importance: h.score for h in hits}
    assert set(scores) == {0.1, 0.95}
    for hit in hits:
        assert {"rrf", "recency", "importance"} <= set(hit.parts)


def test_update_and_delete(filled):
    memory = filled.search("Bob allergy", k=1)[0].memory
    updated = filled.update(
        memory.content_hash, tags=["health"], importance=0.9, metadata={"source": "chat"}
    )
    assert updated.tags == ("health",) and updated.metadata == {"source": "chat"}
    assert filled.get(memory.id).importance == 0.9
    deleted = filled.delete(memory.id)
    assert deleted.id == memory.id
    with pytest.raises(NotFound):
        filled.get(memory.id)
    with pytest.raises(NotFound):
        filled.delete(memory.id)


def test_delete_where_needs_a_filter_and_supports_dry_run(filled):
    filled.store("temporary scratch note", tags=["scratch"])
    filled.store("another scratch note", tags=["scratch"])
    with pytest.raises(InvalidInput):
        filled.delete_where({})
    assert filled.delete_where({"tags_any": ["scratch"]}, dry_run=True) == 2
    assert filled.count() == len(FACTS) + 2
    assert filled.delete_where({"tags_any": ["scratch"]}) == 2
    assert filled.count() == len(FACTS)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"content": ""}, "content"),
        ({"content": "   \n\t"}, "content"),
        ({"content": "nul\x00byte"}, "content"),
        ({"content": 42}, "content"),
        ({"content": b"\xff\xfe bad"}, "content"),
        ({"content": "x" * 1_000_001}, "content"),
        ({"content": "ok", "importance": 1.5}, "importance"),
        ({"content": "ok", "importance": "high"}, "importance"),
        ({"content": "ok", "tags": "a,b", "metadata": ["not", "object"]}, "metadata"),
        ({"content": "ok", "metadata": {"k\x00": 1}}, "metadata"),
        ({"content": "ok", "metadata": {"k": ["fine", {"deep": "nul\x00"}]}}, "metadata"),
        ({"content": "ok", "tags": [1, 2]}, "tags"),
        ({"content": "ok", "created_at": "yesterday-ish"}, "created_at"),
        ({"content": "ok", "memory_type": ""}, "memory_type"),
        ({"content": "ok", "namespace": ""}, "namespace"),
    ],
)
def test_bad_store_input_is_refused_and_changes_nothing(vault, kwargs, field):
    content = kwargs.pop("content")
    with pytest.raises(InvalidInput) as err:
        vault.store(content, **kwargs)
    assert err.value.field == field
    assert vault.count() == 0


def test_a_bad_item_in_a_batch_stores_nothing(vault):
    with pytest.raises(InvalidInput) as err:
        vault.store_many([{"content": "fine"}, {"content": ""}, {"content": "also fine"}])
    assert err.value.field == "items[1].content"
    with pytest.raises(InvalidInput) as err:
        vault.store_many([{"content": "fine", "colour": "blue"}])
    assert err.value.field == "items[0].colour"
    assert vault.count() == 0


def test_store_many_in_batches_keeps_order_repeats_and_progress(vault):
    vault.store("Bob is allergic to peanuts and shellfish")
    texts = [f"note number {i} about the garden" for i in range(7)]
    items = [{"content": t} for t in texts[:4]] + [
        {"content": texts[1]},
        {"content": "Bob is allergic to peanuts and shellfish"},
        *({"content": t} for t in texts[4:]),
    ]
    done: list[int] = []
    results = vault.store_many(items, batch_size=2, progress=done.append)
    assert [r.created for r in results] == [True] * 4 + [False, False] + [True] * 3
    assert results[4].memory.id == results[1].memory.id  # the repeat is the first one
    assert [r.memory.content for r in results] == [i["content"] for i in items]
    assert sum(done) == len(items) and done[:4] == [2, 2, 2, 1]  # four batches of the new
    assert vault.count() == 8
    assert vault.search("note number 5 about the garden", k=1)[0].memory.content == texts[5]


class InterruptedModel:
    """The real model, interrupted (as by Ctrl-C) on its third batch."""

    def __init__(self, model) -> None:
        self.model, self.calls = model, 0
        self.spec, self.runtime, self.max_tokens = model.spec, model.runtime, model.max_tokens

    def embed(self, texts):
        self.calls += 1
        if self.calls == 3:
            raise KeyboardInterrupt
        return self.model.embed(texts)

    def load(self) -> None:
        self.model.load()


def test_an_interrupted_store_many_keeps_whole_batches(tmp_path, embedder, settings):
    path = tmp_path / "interrupted.db"
    interrupted = Vault.open(
        f"sqlite://{path}", settings=settings, embedder=InterruptedModel(embedder)
    )
    with interrupted, pytest.raises(KeyboardInterrupt):
        interrupted.store_many([{"content": f"fact {i}"} for i in range(10)], batch_size=3)
    # The second batch was being written while the third was embedded: it is
    # there whole, and nothing of the third is.
    with Vault.open(f"sqlite://{path}", settings=settings, embedder=embedder) as vault:
        assert sorted(m.content for m in vault.list().memories) == [f"fact {i}" for i in range(6)]


@pytest.mark.parametrize(
    "query",
    ['"unbalanced', "star*", "NEAR(a b", "-minus", "(((", "a AND", "OR", "col:umn", "^caret", '""'],
)
def test_search_syntax_characters_are_searched_literally(filled, query):
    filled.search(query, k=3)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"k": 0}, "k"),
        ({"k": 1001}, "k"),
        ({"k": "5"}, "k"),
        ({"filter": {"colour": "blue"}}, "filter.colour"),
        ({"filter": {"tags_any": "x", "created_after": "never"}}, "filter.created_after"),
    ],
)
def test_bad_search_input_names_the_field(filled, kwargs, field):
    with pytest.raises(InvalidInput) as err:
        filled.search("anything", **kwargs)
    assert err.value.field == field


def test_empty_query_is_refused(filled):
    with pytest.raises(InvalidInput) as err:
        filled.search("   ")
    assert err.value.field == "query"


def test_a_store_of_another_model_is_refused(tmp_path, embedder, settings):
    url = f"sqlite://{tmp_path / 'other.db'}"
    with Vault.open(url, settings=settings, embedder=embedder) as v:
        v.store_backend.bind_embedding(EmbeddingSpec("some-other-model", 384))
        with pytest.raises(IncompatibleEmbedding):
            v.store("refused")
        assert v.count() == 0


def test_searching_a_store_of_another_model_is_refused_and_reembedding_is_the_way(
    tmp_path, embedder, settings
):
    other = EmbeddingSpec("other-minilm-384", 384)
    url = f"sqlite://{tmp_path / 'other.db'}"
    store = open_store(url)
    store.bind_embedding(other)
    vector = embedder.embed(["Alice prefers tabs over spaces"])[0]
    store.add([Memory(content="Alice prefers tabs over spaces", embedding=vector)])
    with Vault(store, embedder, settings) as v:
        for search in (
            lambda: v.search("tabs"),
            lambda: v.recall((v.list().memories[0].created_at, utcnow()), query="tabs"),
        ):
            with pytest.raises(IncompatibleEmbedding) as err:
                search()
            assert "other-minilm-384" in err.value.message
            assert "all-MiniLM-L6-v2" in err.value.message and "--reembed" in err.value.message
        assert v.list().memories[0].content == "Alice prefers tabs over spaces"
        report = v.health()
        assert report["status"] == "degraded"
        problem = " | ".join(report["store"]["problems"])
        assert "other-minilm-384" in problem and "all-MiniLM-L6-v2" in problem
        assert "--reembed" in problem
    fresh = f"sqlite://{tmp_path / 'fresh.db'}"
    assert migrate(url, fresh, reembed=True, settings=settings, embedder=embedder).ok
    with Vault.open(fresh, settings=settings, embedder=embedder) as v:
        assert v.search("tabs", k=1)[0].memory.content == "Alice prefers tabs over spaces"
        assert v.health()["status"] == "ok"


def test_bad_store_urls_name_the_field(settings, embedder):
    for url in ["not a url", "mysql://localhost/db", "sqlite://"]:
        with pytest.raises(InvalidInput) as err:
            Vault.open(url, settings=settings, embedder=embedder)
        assert err.value.field == "store_url"


def test_stats_and_health_do_not_load_the_model(tmp_path, settings):
    from memvault.embedding import SentenceTransformerEmbedder

    lazy = SentenceTransformerEmbedder()
    with Vault.open(f"sqlite://{tmp_path / 's.db'}", settings=settings, embedder=lazy) as v:
        assert v.health()["status"] == "ok"
        stats = v.stats()
        assert stats["total"] == 0 and stats["model"] == "all-MiniLM-L6-v2"
        assert v.count(filter=Filter.build()) == 0
        assert not lazy.loaded


def test_what_the_vault_tells_of_its_store(vault, tmp_path):
    # What interfaces ask instead of reaching into the store: its url and
    # identity, the total over every namespace, its keys, a backup.
    vault.store("one in the default namespace")
    vault.store("one elsewhere", namespace="other")
    assert vault.count() == 1 and vault.total() == 2
    assert vault.url == f"sqlite://{tmp_path / 'vault.db'}"
    with Vault.open(vault.url, settings=vault.settings, embedder=vault.embedder) as again:
        assert again.identity() == vault.identity()
        assert not again.keys.records()
        key, record = vault.keys.create("laptop", "read")
        assert vault.keys.verify(key).may("read")
        assert [r.id for r in again.keys.records()] == [record.id]  # kept in the store
    done = vault.backup(keep=1)
    assert done.count == 2 and done.dump.exists()


def test_metadata_may_hold_the_text_of_a_nul_escape(vault):
    # A backslash, "u" and four zeros is text; only a real NUL is refused.
    literal = {"\\u0000": "path\\u0000x", "list": ["\\u0000"]}
    stored = vault.store("escaped", metadata=literal).memory
    assert vault.get(stored.id).metadata == literal
