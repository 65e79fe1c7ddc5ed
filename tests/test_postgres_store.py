"""What only the PostgreSQL store has to get right when writing and searching, beyond
the conformance suite: several processes storing the same memories at once, the
COPY path for large batches, filtered searches that still use the index, word
ranking that behaves like the SQLite store's, and bulk loads.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import timedelta

import numpy as np
import psycopg
import pytest
from psycopg import pq

from memvault.errors import Conflict
from memvault.model import Filter, Memory, utcnow
from memvault.search.hybrid import SearchSettings, hybrid_search
from memvault.search.text import query_terms
from memvault.stores.postgres import ranking as postgres_ranking
from memvault.stores.postgres import words as postgres_words
from memvault.stores.postgres import writes as postgres_writes
from memvault.stores.postgres.database import PREPARED_MAX
from memvault.stores.postgres.ranking import EXACT_SEARCH_ROWS
from memvault.stores.postgres.statistics import REFRESH_S, FilterStatistics
from memvault.stores.postgres.store import PostgresStore
from memvault.stores.sqlite.store import SqliteStore
from memvault.vault import Vault

from .backends import found
from .conftest import start_together
from .test_postgres_word_counts import assert_counts_follow_the_rows
from .test_sqlite_words import QUERIES as NOTE_QUERIES
from .test_sqlite_words import notes
from .test_store_conformance import DIM, SPEC, mem, unit


# -- writing --------------------------------------------------------------------
def batch_with_every_case(prefix: str) -> list[Memory]:
    """A batch above the COPY threshold: new memories, chunks, a memory already stored
    (with a chunk that must be skipped), and the same content twice."""
    already = mem("already stored", 1)
    twin = mem("already stored", 2)
    parent = mem(f"{prefix} parent", 3)
    batch = [
        twin,
        mem("chunk of the duplicate", 4, parent_id=twin.id, chunk_index=1),
        parent,
        mem(f"{prefix} chunk", 5, parent_id=parent.id, chunk_index=1),
        mem("said twice", 6),
        mem("  said   twice ", 7),
    ]
    batch += [mem(f"{prefix} memory {i}", 100 + i) for i in range(postgres_writes.COPY_MIN_ROWS)]
    return [already, *batch]


def outcome(results: list[tuple[Memory, bool]]) -> list[tuple[str, bool]]:
    return [
        (m.content_hash if m.parent_id is None else m.content, created) for m, created in results
    ]


def test_copy_and_row_inserts_give_what_the_sqlite_store_gives(
    pg_server, database, tmp_path, monkeypatch
):
    memories = batch_with_every_case("p")
    reference = SqliteStore(tmp_path / "reference.db")
    reference.bind_embedding(SPEC)
    expected = [outcome(reference.add(memories[:1])), outcome(reference.add(memories[1:]))]
    reference.close()
    by_copy = PostgresStore(database)
    by_copy.bind_embedding(SPEC)
    assert [outcome(by_copy.add(memories[:1])), outcome(by_copy.add(memories[1:]))] == expected
    winner = by_copy.add([memories[1]])[0][0]
    assert winner.id == memories[0].id
    copied = by_copy.count(Filter.build(include_chunks=True))
    by_copy.close()
    # The words of the memories the statement inserted are counted, no duplicate's.
    assert_counts_follow_the_rows(database)

    monkeypatch.setattr(postgres_writes, "COPY_MIN_ROWS", 10**9)  # now every batch goes row by row
    name = f"t_{uuid.uuid4().hex}"
    by_rows = PostgresStore(pg_server.create_database(name))
    by_rows.bind_embedding(SPEC)
    assert [outcome(by_rows.add(memories[:1])), outcome(by_rows.add(memories[1:]))] == expected
    assert by_rows.count(Filter.build(include_chunks=True)) == copied
    by_rows.close()
    assert_counts_follow_the_rows(pg_server.url(name))
    pg_server.drop_database(name)


def test_a_copied_batch_that_fails_leaves_nothing(pg):
    taken = mem("first owner of the id", 1)
    pg.add([taken])
    batch = [mem(f"bulk {i}", 10 + i) for i in range(postgres_writes.COPY_MIN_ROWS)]
    batch.append(Memory(id=taken.id, content="other content, same id", embedding=unit(9)))
    with pytest.raises(Conflict):
        pg.add(batch)
    assert pg.count(Filter.build(include_chunks=True)) == 1
    assert pg.text_search(["bulk"], 5, Filter.build()) == []


WRITER = """
import sys
import numpy as np
from memvault.model import Memory
from memvault.stores.postgres.store import PostgresStore

url, worker = sys.argv[1], int(sys.argv[2])
def vector(i):
    v = np.random.default_rng(i).standard_normal(384).astype(np.float32)
    return v / np.linalg.norm(v)
memories = [Memory(content=f"shared fact {i}", embedding=vector(i)) for i in range(300)]
if worker % 2:
    memories.reverse()
size = 150 if worker < 2 else 7  # two write by COPY, two row by row
store = PostgresStore(url)
print("ready", flush=True)
sys.stdin.readline()
created, ids = 0, set()
for start in range(0, len(memories), size):
    for memory, new in store.add(memories[start:start + size]):
        created += new
        ids.add(memory.id)
store.close()
print(created, len(ids), ",".join(sorted(ids)))
"""


def test_processes_storing_the_same_memories_at_once_store_each_once(pg, database, tmp_path):
    outputs = start_together(WRITER, [[database, str(w)] for w in range(4)], tmp_path)
    created = [int(out.split()[0]) for out in outputs]
    returned = [set(out.split()[2].split(",")) for out in outputs]
    assert sum(created) == 300
    assert pg.count(Filter.build()) == 300
    stored = {
        m.id for b, _ in pg.scan(Filter.build(), batch_size=500, with_embedding=False) for m in b
    }
    assert all(ids == stored for ids in returned)  # every process got the winners back


def test_a_store_opened_before_another_bound_the_model_finds_its_memories(database):
    early = PostgresStore(database)  # opened while the database is still empty
    writer = PostgresStore(database)
    writer.bind_embedding(SPEC)
    writer.add([mem("stored by another server", 1)])
    nearest = early.vector_search(unit(1), 1, Filter.build())
    assert [m.content for m in found(early, nearest)] == ["stored by another server"]
    assert early.embedding_spec() == SPEC
    writer.close()
    early.close()


def test_threads_storing_the_same_content_through_a_vault_get_one_memory(pg, embedder):
    vault = Vault(pg, embedder)
    facts = [f"the deploy key of service {i} rotates monthly" for i in range(5)]
    results: list = []
    barrier = threading.Barrier(6)

    def store_all() -> None:
        barrier.wait()
        results.extend(vault.store(fact) for fact in facts)

    threads = [threading.Thread(target=store_all) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert vault.count() == 5
    assert sum(r.created for r in results) == 5
    assert len({r.memory.id for r in results}) == 5


# -- vectors indexed after the write ---------------------------------------------
def waiting_in_table(database: str) -> int:
    with psycopg.connect(database) as conn:
        return conn.execute(
            "SELECT count(*) FROM memvault_memories WHERE fresh_embedding IS NOT NULL"
        ).fetchone()[0]


def test_vectors_waiting_for_the_index_are_searched_and_read_at_once(pg, database):
    indexed = [mem(f"indexed {i}", 600 + i) for i in range(30)]
    waiting = [mem(f"waiting {i}", 700 + i) for i in range(30)]
    # Written straight to the table, so that no indexer runs until asked: the
    # first as a bulk load does, the others as a server's writes leave them.
    postgres_writes.add(pg._db, indexed, [m.embedding for m in indexed])
    postgres_writes.add(pg._db, waiting, [m.embedding for m in waiting], deferred=True)
    assert waiting_in_table(database) == 30

    def nearest(i: int) -> str:
        return pg.vector_search(unit(i), 1, Filter.build())[0].id

    assert [nearest(610), nearest(710)] == [indexed[10].id, waiting[10].id]
    back = pg.get(waiting[3].id, None, with_embedding=True)
    assert np.array_equal(back.embedding, waiting[3].embedding)
    scanned = {m.id: m.embedding for b, _ in pg.scan(Filter.build(), batch_size=100) for m in b}
    assert all(np.array_equal(scanned[m.id], m.embedding) for m in waiting)

    pg.index_waiting_vectors()
    assert waiting_in_table(database) == 0
    assert [nearest(610), nearest(710)] == [indexed[10].id, waiting[10].id]


def test_a_server_indexes_vectors_another_left_waiting(pg, database):
    left = [mem(f"left behind {i}", 800 + i) for i in range(20)]
    postgres_writes.add(pg._db, left, [m.embedding for m in left], deferred=True)
    other = PostgresStore(database)  # finds them waiting when it opens, and indexes them
    deadline = time.monotonic() + 120
    while waiting_in_table(database) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert waiting_in_table(database) == 0
    assert other.health()["vectors_waiting_for_index"] == 0
    assert other.vector_search(unit(805), 1, Filter.build())[0].id == left[5].id
    other.close()


# -- searching ------------------------------------------------------------------
def test_a_filter_matching_many_still_gets_k_from_the_index(database):
    store = PostgresStore(database + "?hnsw_ef_construction=32")
    store.bind_embedding(SPEC)
    query = unit(7)
    rng = np.random.default_rng(0)
    # Every memory of "near" is closer to the query than any of "far", so the
    # index's first candidates are all filtered out.
    near = [
        Memory(
            content=f"near {i}",
            namespace="near",
            embedding=query + 0.05 * rng.standard_normal(DIM).astype(np.float32),
        )
        for i in range(EXACT_SEARCH_ROWS)
    ]
    far = [mem(f"far {i}", 10_000 + i, namespace="far") for i in range(EXACT_SEARCH_ROWS)]
    for part in (near, far):
        store.add(part)
    hits = store.vector_search(query, 10, Filter.build(namespace="far"))
    vectors = np.stack([m.embedding for m in far])
    exact = {far[i].id for i in np.argsort(-(vectors @ query))[:10]}
    assert len(hits) == 10 and all(m.namespace == "far" for m in found(store, hits))
    assert len(exact & {m.id for m in hits}) >= 8
    store.close()


CORPUS = [
    "The blue widget has product code XK-9000",
    "a red widget and a green widget",
    "She was running late; he runs every morning",
    "Lunch at the café was naïve but nice",
    "state-of-the-art retrieval for the team",
    "mail alice@example.com about the snake_case names",
    "pi is roughly 3.14 and e is 2.71",
    "中文 text sits here",
    "nothing relevant at all in this sentence",
]
QUERIES = [
    ["widgets"],
    ["cafe"],
    ["naive"],
    ["run"],
    ["state", "art"],
    ["xk"],
    ["9000"],
    ["alice", "example"],
    ["snake_case"],
    ["14"],
    ["中文"],
    ["the"],
    ["xk", "widget"],
]


def word_scores(store, terms: list[str]) -> dict[str, float]:
    """Content -> BM25 score of every memory the store finds for the terms."""
    hits = store.text_search(terms, 50, Filter.build())
    contents = {m.id: m.content for m in store.get_many([c.id for c in hits])}
    return {contents[c.id]: c.score for c in hits}


def test_words_are_found_and_scored_like_the_sqlite_store(pg, tmp_path):
    reference = SqliteStore(tmp_path / "reference.db")
    reference.bind_embedding(SPEC)
    memories = [mem(text, 200 + i) for i, text in enumerate(CORPUS)]
    reference.add(memories)
    pg.add(memories[:4])  # a batch, then one at a time: both keep the counts
    for memory in memories[4:]:
        pg.add([memory])

    def compare() -> None:
        for terms in QUERIES:
            ours, theirs = word_scores(pg, terms), word_scores(reference, terms)
            assert ours.keys() == theirs.keys(), terms
            assert ours == pytest.approx(theirs, rel=1e-9), terms
            if theirs:
                assert max(ours, key=ours.get) == max(theirs, key=theirs.get), terms

    compare()
    assert all(word_scores(pg, terms) for terms in QUERIES)
    # Deleting changes every count BM25 uses (documents, lengths, term counts).
    gone = [memories[1].id, memories[5].id]
    reference.delete(gone)
    pg.delete(gone)
    compare()
    reference.close()


def test_filter_values_in_the_statement_select_what_the_sqlite_store_selects(pg, tmp_path):
    """A filter's values are SQL literals in the statements (``schema.filter_sql``):
    quotes, percent signs and backslashes in them select what they select on SQLite."""
    reference = SqliteStore(tmp_path / "reference.db")
    reference.bind_embedding(SPEC)
    odd, tag, kind = '50%\'s %s "x"', "t%'1 %(n)s", "note's %"
    value = {"k": "v%'\\ %s"}
    memories = [
        mem(
            "cache eviction notes", 1, namespace=odd, tags=(tag,), memory_type=kind, metadata=value
        ),
        mem("cache eviction others", 2, namespace=odd, tags=("t1",), metadata={"k": "v"}),
        mem("cache eviction elsewhere", 3, namespace="plain", tags=(tag,), memory_type=kind),
        mem("cache eviction again", 4, namespace=odd, tags=(tag, "t1"), metadata=value),
    ]
    reference.add(memories)
    pg.add(memories)
    for flt in (
        Filter.build(namespace=odd),
        Filter.build(namespace=None, tags_any=[tag]),
        Filter.build(namespace=odd, tags_all=[tag, "t1"]),
        Filter.build(namespace=None, memory_type=kind),
        Filter.build(namespace=None, metadata=value),
        Filter.build(namespace=odd, created_after=utcnow() - timedelta(hours=1)),
    ):
        ours, theirs = selected(pg, flt), selected(reference, flt)
        assert ours == theirs and ours[3] > 0, flt
    reference.close()


def test_a_connection_keeps_a_bounded_number_of_statements_prepared(database):
    """Each filter's ranking statements (words, vectors) are statements of its own (its
    values are in them), and their plans hold megabytes of the server's memory: a
    connection keeps at most PREPARED_MAX prepared, the least recently run let go
    first."""
    store = PostgresStore(database + "?pool_size=1")
    store.bind_embedding(SPEC)
    namespaces = [f"team {n}" for n in range(PREPARED_MAX + 8)]
    store.add([mem(f"notes of {ns}", i, namespace=ns) for i, ns in enumerate(namespaces)])
    for namespace in namespaces:
        for _ in range(6):  # prepared at the fifth run
            store.rankings(unit(1), ["notes"], 10, Filter.build(namespace=namespace), None)
    with store._db.cursor() as cur:
        cur.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [r.statement for r in cur.fetchall()]
    # Those let go last are deallocated on the way to a later statement: the two
    # a search's statements, sent together, let go.
    assert PREPARED_MAX - 2 <= len(prepared) <= PREPARED_MAX + 2
    assert any(f"'{namespaces[-1]}'" in statement for statement in prepared)
    assert not any("'team 0'" in statement for statement in prepared)
    store.close()


def selected(store, flt: Filter) -> tuple[set[str], set[str], set[str], int]:
    """What a word search, a vector search, a listing and a count find under ``flt``."""
    return (
        {c.id for c in store.text_search(["cache"], 10, flt)},
        {c.id for c in store.vector_search(unit(1), 10, flt)},
        {m.id for m in store.query(flt, limit=10).memories},
        store.count(flt),
    )


def analyzed(store: PostgresStore, database: str) -> None:
    """ANALYZE the memories once ``store``'s indexer has moved every waiting vector:
    ANALYZE reads the table page by page, not in one snapshot, so a row the indexer
    moves meanwhile (its old version on one page, its new one on a later page) may
    be counted twice or not at all (597 to 603 of 600 memories seen), and an
    estimate of ten memories be eleven."""
    store.index_waiting_vectors()
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("ANALYZE memvault_memories")


def stored_and_analyzed(memories: list[Memory], pg, reference, database: str) -> PostgresStore:
    """The memories stored in both stores, then the table analyzed: a store opened
    after that, which reads the statistics ANALYZE made."""
    reference.add(memories)
    pg.add(memories)
    analyzed(pg, database)
    return PostgresStore(database)


def test_a_word_search_under_a_common_tag_ranks_as_under_a_rare_one(pg, database, tmp_path):
    """A tag on most memories is checked on the rows the words find, not listed by
    its index (``statistics``); the ranking is SQLite's either way."""
    reference = SqliteStore(tmp_path / "reference.db")
    reference.bind_embedding(SPEC)
    memories = [
        mem(text, 700 + i, tags=("everywhere", "rare") if i % 200 == 0 else ("everywhere",))
        for i, text in enumerate(notes(300, seed=9))
    ]
    store = stored_and_analyzed(memories, pg, reference, database)
    tags = FilterStatistics(store._db)
    assert tags.all_common(["everywhere"]) and not tags.all_common(["everywhere", "rare"])
    for flt in (
        Filter.build(tags_any=["everywhere"]),
        Filter.build(tags_all=["everywhere"]),
        Filter.build(tags_any=["rare"]),
    ):
        for query in NOTE_QUERIES:
            terms = query_terms(query)
            # Equal scores may come in either order; the scores line up exactly.
            ours = [c.score for c in store.text_search(terms, 15, flt)]
            theirs = [c.score for c in reference.text_search(terms, 15, flt)]
            assert ours == pytest.approx(theirs, rel=1e-9), (query, flt)
    store.close()
    reference.close()


def test_a_filter_the_statistics_put_far_above_the_count_is_searched_without_it(
    database, monkeypatch
):
    """Not counted, the filter's memories are walked in the index; when the estimate
    is stale (most of them deleted since), the exact search still finds the rest."""
    store = PostgresStore(database)
    store.bind_embedding(SPEC)
    memories = [mem(f"note {i}", 900 + i, namespace="big", tags=("t",)) for i in range(300)]
    store.add(memories + [mem(f"other {i}", 1300 + i, namespace="small") for i in range(30)])
    analyzed(store, database)
    store.close()
    flt = Filter.build(namespace="big", tags_any=["t"])
    store = PostgresStore(database)  # reads the statistics ANALYZE just made
    assert FilterStatistics(store._db).estimated_matches(flt) == pytest.approx(300, rel=0.1)
    assert FilterStatistics(store._db).estimated_matches(Filter.build(memory_type="fact")) == 0
    monkeypatch.setattr(postgres_ranking, "EXACT_SEARCH_ROWS", 20)
    query = unit(950)
    vectors = np.stack([m.embedding for m in memories])
    exact = {memories[i].id for i in np.argsort(-(vectors @ query))[:10]}
    hits = store.vector_search(query, 10, flt)
    assert len(hits) == 10 and len(exact & {c.id for c in hits}) >= 8
    store.delete([m.id for m in memories[5:]])
    assert {c.id for c in store.vector_search(query, 10, flt)} == {m.id for m in memories[:5]}
    store.close()


def test_a_tag_rare_in_one_namespace_is_counted_and_its_memories_compared_exactly(
    database, monkeypatch
):
    """A tag on most memories of one namespace and a few of another: the statistics
    sample the two together, so the search in the second counts its matches and,
    finding few, compares each (the exact top k), where the shares of the tag and
    of the namespace alone put it far above the count's bound."""
    store = PostgresStore(database)
    store.bind_embedding(SPEC)
    many = [mem(f"many {i}", 1700 + i, namespace="many", tags=("t",)) for i in range(300)]
    few = [
        mem(f"few {i}", 2000 + i, namespace="few", tags=("t",) if i % 30 == 0 else ())
        for i in range(300)
    ]
    store.add(many + few)
    analyzed(store, database)
    store.close()
    store = PostgresStore(database)  # reads the statistics ANALYZE just made
    statistics = FilterStatistics(store._db)
    rare, common = (Filter.build(namespace=n, tags_any=["t"]) for n in ("few", "many"))
    shares = statistics._current()
    assert 600 * shares.namespaces["few"] * shares.tags["t"] == pytest.approx(155, rel=0.1)
    assert statistics.estimated_matches(rare) == pytest.approx(10, rel=0.1)
    assert statistics.estimated_matches(common) == pytest.approx(300, rel=0.1)
    monkeypatch.setattr(postgres_ranking, "EXACT_SEARCH_ROWS", 20)
    query = unit(2015)

    def counted_up_to(flt: Filter) -> str:
        """The count's bound in the vector statement the search sends (0: none)."""
        sql, _ = postgres_ranking.ranking_statements(statistics, query, [], 5, flt, None)[0]
        return sql.split(") AS s")[0].rsplit("LIMIT", 1)[1].strip()

    assert counted_up_to(rare) == "20" and counted_up_to(common) == "0"
    tagged = [m for m in few if m.tags]
    vectors = np.stack([m.embedding for m in tagged])
    exact = [tagged[i].id for i in np.argsort(-(vectors @ query))[:5]]
    assert [c.id for c in store.vector_search(query, 5, rare)] == exact
    store.close()


class RefreshedAfterFirstRead(FilterStatistics):
    """Statistics whose snapshot another thread refreshes, after ``change`` and an
    ANALYZE, right after this one's first read of it."""

    def __init__(self, store: PostgresStore, change) -> None:
        super().__init__(store._db)
        self.store = store
        self.change = change
        self.reads = 0

    def _current(self):
        shares = super()._current()
        self.reads += 1
        if self.reads == 1:
            self.change()
            self.store.index_waiting_vectors()  # as ``analyzed`` does, for exact counts
            with self._db.cursor() as cur:
                cur.execute("ANALYZE memvault_memories")
            self._read_at = -REFRESH_S  # the other thread's refresh: due now
        return shares


def test_an_estimate_comes_from_one_snapshot_of_the_statistics(pg, database):
    """A refresh while an estimate is made leaves it that of the old snapshot or of
    the new one, never rows from one and shares from the other."""
    flt = Filter.build(namespace="big", tags_any=["t"])
    pg.add([mem(f"tagged {i}", 2000 + i, namespace="big", tags=("t",)) for i in range(100)])
    analyzed(pg, database)
    # Ten times as many memories, the tag on a tenth: 100 match in either snapshot.
    untagged = [mem(f"untagged {i}", 3000 + i, namespace="big") for i in range(900)]
    statistics = RefreshedAfterFirstRead(pg, lambda: pg.add(untagged))
    assert statistics.estimated_matches(flt) == pytest.approx(100, rel=0.1)
    assert statistics.reads == 1
    assert statistics.estimated_matches(flt) == pytest.approx(100, rel=0.1)  # the new one
    assert statistics._current().rows == pytest.approx(1000, rel=0.01)  # a sampled count


@pytest.mark.parametrize("scored_at_most", [30_000, 40])
def test_a_ranking_that_scores_a_few_memories_scores_them_exactly(
    pg, tmp_path, monkeypatch, scored_at_most
):
    """With room to score only ten memories first, the first tier rarely proves the
    ranking alone: the second scores every memory that could still rank, so the k
    best are SQLite's; with too little room for that too, the memories ranked are
    fewer, but each is scored exactly."""
    reference = SqliteStore(tmp_path / "reference.db")
    reference.bind_embedding(SPEC)
    memories = [mem(text, 500 + i) for i, text in enumerate(notes(300, seed=5))]
    reference.add(memories)
    pg.add(memories)
    monkeypatch.setattr(postgres_words, "SCORED_FIRST", 10)
    monkeypatch.setattr(postgres_words, "SCORED_AT_MOST", scored_at_most)
    for query in NOTE_QUERIES:
        terms = query_terms(query)
        everything = {c.id: c.score for c in reference.text_search(terms, 1000, Filter.build())}
        best = [c.score for c in reference.text_search(terms, 15, Filter.build())]
        ours = pg.text_search(terms, 15, Filter.build())
        assert all(c.score == pytest.approx(everything[c.id], rel=1e-9) for c in ours), query
        scores = [c.score for c in ours]
        assert scores == sorted(scores, reverse=True)
        if scored_at_most > len(memories):
            assert scores == pytest.approx(best, rel=1e-9), query
        else:
            assert 0 < len(ours) <= 15
    reference.close()


def test_in_a_small_namespace_common_words_are_ranked_exactly(pg, tmp_path, monkeypatch):
    """Words held by more memories of the store than the second tier may score are
    still ranked exactly within a namespace that small: it reads no more."""
    reference = SqliteStore(tmp_path / "reference.db")
    reference.bind_embedding(SPEC)
    memories = [mem(text, 900 + i) for i, text in enumerate(notes(300, seed=7))]
    small = [mem(text, 1300 + i, namespace="small") for i, text in enumerate(notes(40, seed=8))]
    for store in (reference, pg):
        store.add(memories + small)
    monkeypatch.setattr(postgres_words, "SCORED_FIRST", 10)
    monkeypatch.setattr(postgres_words, "SCORED_AT_MOST", 40)
    for query in NOTE_QUERIES:
        terms = query_terms(query)
        flt = Filter(namespace="small")
        best = [(c.id, c.score) for c in reference.text_search(terms, 15, flt)]
        ours = [(c.id, c.score) for c in pg.text_search(terms, 15, flt)]
        assert [i for i, _ in ours] == [i for i, _ in best], query
        assert [s for _, s in ours] == pytest.approx([s for _, s in best], rel=1e-9), query
    reference.close()


def test_a_bulk_load_builds_the_vector_index_at_the_end(pg, database, caplog):
    def index_exists() -> bool:
        with psycopg.connect(database) as conn:
            return (
                conn.execute(
                    "SELECT count(*) FROM pg_indexes WHERE indexname = "
                    "'memvault_memories_embedding'"
                ).fetchone()[0]
                == 1
            )

    def word_count(lexeme: str) -> int:
        with psycopg.connect(database) as conn:
            return conn.execute(
                "SELECT documents FROM memvault_words WHERE lexeme = %s", (lexeme,)
            ).fetchone()[0]

    caplog.set_level(logging.INFO, logger="memvault.stores.postgres.bulk_load")
    memories = [mem(f"bulk {i}", 300 + i) for i in range(500)]
    assert pg.health()["vector_index"] == "hnsw"
    other = PostgresStore(database)
    with pg.bulk_load("64MB"):
        assert not index_exists()
        assert pg.health()["vector_index"] == "missing"
        pg.add(memories[:250])
        other.add([mem("stored meanwhile by another server", 299)])
        pg.add(memories[250:])
        # Searching meanwhile still works, by comparing every vector.
        assert pg.vector_search(unit(310), 1, Filter.build())[0].id == memories[10].id
    assert index_exists()
    assert pg.vector_search(unit(420), 1, Filter.build())[0].id == memories[120].id
    # The load's words are counted once at its end, the other server's write once.
    assert (word_count(""), word_count("bulk"), word_count("meanwhil")) == (501, 500, 1)
    # Vacuumed before the build, so autovacuum has no reason to start on the load
    # while the build runs; the build is logged with the settings it ran with.
    with psycopg.connect(database) as conn:
        assert (
            conn.execute(
                "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'memvault_memories'"
            ).fetchone()[0]
            == 1
        )
    built = [r.getMessage() for r in caplog.records if r.getMessage().startswith("built ")]
    assert len(built) == 1 and "(maintenance_work_mem 64MB, " in built[0]
    other.close()
    with pytest.raises(ZeroDivisionError), pg.bulk_load("64MB"):
        1 / 0  # noqa: B018
    assert index_exists()


def test_hybrid_search_through_a_vault_on_postgres(pg, embedder):
    vault = Vault(pg, embedder)
    vault.store("Order XK-9000 shipped to the Berlin office", tags=["orders"])
    vault.store("Alice prefers tabs over spaces when she writes code")
    vault.store("The quarterly report is due on Friday")
    assert vault.search("XK-9000", k=1)[0].memory.content.startswith("Order XK-9000")
    paraphrase = vault.search("how does Alice like to indent?", k=1)[0]
    assert paraphrase.memory.content.startswith("Alice prefers tabs")
    assert vault.search("shipped", k=3, filter={"tags_any": ["orders"]})[0].parts


class OnlyTheStoreProtocol:
    """The PostgreSQL store seen through the Store protocol alone (no ``rankings``):
    hybrid search then asks one Store method at a time, as it does of other stores."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    def __getattr__(self, name: str):
        if name == "rankings":
            raise AttributeError(name)
        return getattr(self._store, name)


def test_a_search_with_its_vector_at_hand_is_two_round_trips_ranking_as_the_store_methods(
    pg, monkeypatch
):
    conversation = [
        "what did we decide about the deploy window",
        "we moved the deploy window to Thursday night",
        "the database migration runs before the deploy",
        "lunch is at noon",
        "remember the deploy checklist lives in the wiki",
    ]
    start = utcnow() - timedelta(hours=1)  # a conversation: each 10 s after the last
    pg.add(
        [
            mem(text, 700 + i, created_at=start + timedelta(seconds=10 * i))
            for i, text in enumerate(conversation)
        ]
    )
    query, vector = "deploy window thursday", unit(701)
    flt = Filter.build()
    settings = SearchSettings()

    both = pg.rankings(vector, query_terms(query), 10, flt, timedelta(seconds=60))
    assert both.by_vector == pg.vector_search(vector, 10, flt)
    assert both.by_text == pg.text_search(query_terms(query), 10, flt)
    matches = [c.id for c in both.by_text]
    every = pg.preceding(matches, flt, timedelta(seconds=60))
    # Asked only for matches with another shortly before: the credit lacks nothing.
    assert both.preceding.items() <= every.items()
    credited = {later: earlier for later, earlier in every.items() if earlier in matches}
    assert {later: both.preceding[later] for later in credited} == credited
    assert credited  # the reply credits the question before it

    statements = []
    real_execute = psycopg.Cursor.execute
    searching = threading.get_ident()

    def counted(cur, query, *args, **kwargs):
        # Only this thread's: the indexer thread looks for waiting vectors every few
        # seconds, and the pool's threads set up new connections, both with
        # statements of their own; nor the pool's check of a connection idle a while.
        if threading.get_ident() == searching and str(query).strip():
            # In pipeline mode a statement is sent without waiting for the one before.
            pipelined = cur.connection.pgconn.pipeline_status != pq.PipelineStatus.OFF
            statements.append(pipelined)
        return real_execute(cur, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counted)
    at_once = hybrid_search(pg, query, lambda _q: vector, 3, flt, settings, start)
    # Both rankings sent together, then the kept memories read.
    assert statements == [True, True, False]
    one_by_one = hybrid_search(
        OnlyTheStoreProtocol(pg), query, lambda _q: vector, 3, flt, settings, start
    )
    assert statements[3:] == [False] * 4
    assert [(h.memory.id, h.score, h.parts) for h in at_once] == [
        (h.memory.id, h.score, h.parts) for h in one_by_one
    ]
