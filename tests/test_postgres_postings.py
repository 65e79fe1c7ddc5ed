"""The PostgreSQL word ranking's fast path over its postings table (``postings``):
every ranking equals SQLite's exact BM25, whether the postings prove it or the
tiers rank it instead, and the postings follow every kind of write, concurrent
writers, the words' conversion, bulk loads and the migration that makes them."""

from __future__ import annotations

import threading
from datetime import timedelta

import psycopg
import pytest

from memvault.model import Filter, Memory, utcnow
from memvault.search.text import query_terms
from memvault.stores.postgres import postings, retokenize
from memvault.stores.postgres.ranking import postings_share
from memvault.stores.postgres.rows import one_value
from memvault.stores.postgres.schema import INDEXED_CHARS, TEXT_CONFIG, filter_sql, words_sql
from memvault.stores.postgres.store import PostgresStore
from memvault.stores.postgres.words import RECOUNT, text_search_parts
from memvault.stores.sqlite.store import SqliteStore

from .test_postgres_setup import back_to_version
from .test_postgres_store import batch_with_every_case, stored_and_analyzed
from .test_postgres_word_counts import assert_counts_follow_the_rows
from .test_sqlite_words import QUERIES as NOTE_QUERIES
from .test_sqlite_words import notes
from .test_store_conformance import SPEC, mem

EXPECTED_POSTINGS = """
SELECT u.lexeme, m.namespace, m.rowid, cardinality(u.positions), m.word_count
FROM memvault_memories m, unnest(m.words) AS u WHERE m.parent_id IS NULL ORDER BY 1, 2, 3
"""
VISIBILITY = "SELECT relpages, relallvisible FROM pg_class WHERE relname = 'memvault_postings'"
POSTINGS = "SELECT lexeme, namespace, rowid, tf, word_count FROM memvault_postings ORDER BY 1, 2, 3"


@pytest.fixture
def reference(tmp_path):
    store = SqliteStore(tmp_path / "reference.db")
    store.bind_embedding(SPEC)
    yield store
    store.close()


def assert_postings_follow_the_rows(database: str) -> None:
    with psycopg.connect(database) as conn:
        expected = conn.execute(EXPECTED_POSTINGS).fetchall()
        assert expected  # the check compares something
        assert conn.execute(POSTINGS).fetchall() == expected


def proven(store: PostgresStore, terms: list[str], k: int, flt: Filter) -> bool:
    """Whether the postings prove the ranking of ``terms`` (else the tiers rank them)."""
    where, params = filter_sql(flt.with_changes(include_chunks=False), utcnow())
    ctes, _, values = text_search_parts(
        terms,
        where,
        params,
        k,
        "m.rowid DESC",
        flt.namespace,
        postings_share(store._statistics, flt),
    )
    with store._db.cursor() as cur:
        cur.execute(f"WITH {ctes} SELECT proven FROM fast_done", values)
        return bool(one_value(cur))


def assert_ranks_as_sqlite(pg, reference, terms: list[str], k: int, flt: Filter) -> int:
    """How many memories both rank (the same, with the same scores)."""
    ours = [(c.id, c.score) for c in pg.text_search(terms, k, flt)]
    theirs = [(c.id, c.score) for c in reference.text_search(terms, k, flt)]
    assert [i for i, _ in ours] == [i for i, _ in theirs], (terms, k, flt)
    assert [s for _, s in ours] == pytest.approx([s for _, s in theirs], rel=1e-9)
    return len(ours)


def test_queries_rank_as_sqlite_with_and_without_the_postings(pg, database, reference, monkeypatch):
    memories = [
        mem(
            text,
            100 + i,
            namespace="ab"[i % 2],
            tags=("everywhere", "half") if i % 4 < 2 else ("everywhere",),
        )
        for i, text in enumerate(notes(300, seed=11))
    ]
    store = stored_and_analyzed(memories, pg, reference, database)
    filters = [
        Filter.build(namespace=None),
        Filter.build(namespace="a"),
        Filter.build(namespace=None, tags_any=["everywhere"]),
        Filter.build(namespace="b", tags_all=["half"]),
    ]
    taken = {True: 0, False: 0}
    for query in NOTE_QUERIES:
        terms = query_terms(query)
        phrase = any("_" in term for term in terms)  # PRJ_4471, e_mail: phrases
        for flt in filters:
            for k in (5, 15):
                assert assert_ranks_as_sqlite(store, reference, terms, k, flt)
                fast = proven(store, terms, k, flt)
                assert fast is not phrase, (query, flt, k)
                taken[fast] += 1
    assert taken[True] and taken[False]
    monkeypatch.setattr(postings, "POSTED_AT_MOST", 0)  # the tiers alone: the same
    for query in NOTE_QUERIES:
        terms = query_terms(query)
        for flt in filters:
            assert not proven(store, terms, 15, flt)
            assert_ranks_as_sqlite(store, reference, terms, 15, flt)
    store.close()


@pytest.mark.parametrize("lookup_cost", [0, 10**9], ids=["looked-up", "scanned"])
def test_words_the_postings_leave_out_complete_the_scores_or_leave_them_to_the_tiers(
    pg, reference, monkeypatch, lookup_cost
):
    """With few postings summed, the common words are added to the best memories'
    scores, each candidate's postings looked up by key or, for many candidates, every
    term's postings read in turn; where their bound could still change the ranking,
    or too few memories hold the listed words, the tiers rank the query."""
    monkeypatch.setattr(postings, "LOOKUP_COST", lookup_cost)
    texts = [f"everyday chores list {i}" for i in range(150)]
    texts += [f"everyday zebra sighting {i}" + " at the zoo" * (i % 3) for i in range(6)]
    texts += [f"quokka {i} everyday" for i in range(3)]
    texts += [f"often zebra {i}" for i in range(4)] + [f"often seen {i}" for i in range(16)]
    memories = [mem(text, 400 + i, namespace="n") for i, text in enumerate(texts)]
    reference.add(memories)
    pg.add(memories)
    monkeypatch.setattr(postings, "POSTED_AT_MOST", 13)  # quokka and zebra, 3 + 10
    for flt in (Filter.build(namespace=None), Filter.build(namespace="n")):
        cases = [
            (["zebra", "quokka", "everyday"], 3, True),  # everyday bounds at ~0: completed
            (["zebra", "quokka", "everyday"], 20, False),  # 13 memories hold the listed
            (["everyday"], 3, False),  # no term is listed
            (["zebra", "often"], 3, True),
            (["zebra", "often", "quokka"], 12, False),  # often's bound beats the 12th
        ]
        for terms, k, fast in cases:
            assert proven(pg, terms, k, flt) is fast, (terms, k)
            assert assert_ranks_as_sqlite(pg, reference, terms, k, flt)


def test_memories_scoring_alike_rank_oldest_first_past_the_kth(pg, reference):
    start = utcnow() - timedelta(hours=1)
    memories = [
        mem(f"tie word{i} pad", 600 + i, created_at=start + timedelta(seconds=(i * 7) % 30))
        for i in range(30)
    ]
    reference.add(memories)
    pg.add(memories)
    for flt in (Filter.build(), Filter.build(namespace=None)):
        for k in (1, 10, 29):
            assert proven(pg, ["tie"], k, flt)
            assert_ranks_as_sqlite(pg, reference, ["tie"], k, flt)


def test_memories_scoring_alike_score_exactly_alike_whatever_the_aggregate_plan(
    database, reference
):
    """Memories holding the same query words alike score the same to the last bit,
    so they rank oldest first: also when the planner sums the postings after sorting
    them by memory (as it does for few postings), a sort that does not keep the
    query's term order, where three float weights added in another order can differ
    in their last bit. Hash aggregation is turned off to make that plan certain."""
    store = PostgresStore(f"{database}?options=--enable_hashagg%3Doff")
    store.bind_embedding(SPEC)
    start = utcnow() - timedelta(hours=1)
    # 40 memories tie; the others give each word its own weight (its idf), such that
    # the 24 orders of adding the four make three different sums.
    texts = [f"amber birch cedar dune pad{i}" for i in range(40)]
    texts += [f"amber filler{i}" for i in range(18)] + [f"birch twig{i}" for i in range(27)]
    texts += [f"cedar bark{i}" for i in range(11)] + [f"plain words{i}" for i in range(100)]
    memories = [
        mem(text, 700 + i, created_at=start + timedelta(seconds=(i * 37) % len(texts)))
        for i, text in enumerate(texts)
    ]
    reference.add(memories)
    store.add(memories)
    terms = ["dune", "amber", "cedar", "birch"]
    for flt in (Filter.build(), Filter.build(namespace=None)):
        for k in (10, 60):
            assert proven(store, terms, k, flt)
            assert_ranks_as_sqlite(store, reference, terms, k, flt)
    store.close()


def test_the_postings_follow_every_write(pg, database):
    pg.add([mem("a single memory about ferries", 1)])
    pg.add([mem(f"a small batch {i} of ferries", 10 + i, namespace="x") for i in range(5)])
    batch = batch_with_every_case("copied")  # chunks, duplicates, COPY
    pg.add(batch)
    pg.add(batch_with_every_case("copied"))  # all duplicates now
    assert_postings_follow_the_rows(database)
    stored = {m.content: m for m, _ in pg.add(batch)}
    pg.delete([stored["copied parent"].id, stored["copied memory 3"].id])
    assert_postings_follow_the_rows(database)
    with pg.bulk_load("64MB"):
        pg.add([mem(f"loaded in bulk {i}", 900 + i) for i in range(150)])
    assert_postings_follow_the_rows(database)


def test_the_words_conversion_changes_the_postings(pg, database, reference):
    memories = [mem(text, 300 + i) for i, text in enumerate(notes(60, seed=3))]
    pg.add(memories)
    reference.add(memories)
    indexed = words_sql(f"left(content, {INDEXED_CHARS})")
    with psycopg.connect(database) as conn:  # PostgreSQL's own words, as before migration 7
        conn.execute(
            f"UPDATE memvault_memories SET words = to_tsvector('{TEXT_CONFIG}'::regconfig, "
            f"{indexed}), words_stale = true WHERE parent_id IS NULL"
        )
        for statement in RECOUNT:
            conn.execute(statement)
    assert_postings_follow_the_rows(database)
    retokenize.retokenize(pg._db.write)
    assert_postings_follow_the_rows(database)
    for query in NOTE_QUERIES:
        assert_ranks_as_sqlite(pg, reference, query_terms(query), 10, Filter.build())
        assert_ranks_as_sqlite(pg, reference, query_terms(query), 10, Filter.build(namespace=None))


def test_a_store_from_before_the_postings_gets_them_made(database, reference):
    store = PostgresStore(database)
    store.bind_embedding(SPEC)
    memories = [mem(text, 200 + i) for i, text in enumerate(notes(80, seed=4))]
    store.add(memories)
    reference.add(memories)
    store.close()
    with psycopg.connect(database) as conn:
        back_to_version(conn, 7)
        assert conn.execute("SELECT to_regclass('memvault_postings')").fetchone()[0] is None
    store = PostgresStore(database)
    try:
        assert_postings_follow_the_rows(database)
        for query in NOTE_QUERIES:
            terms = query_terms(query)
            assert_ranks_as_sqlite(store, reference, terms, 10, Filter.build())
    finally:
        store.close()


def test_concurrent_writers_keep_the_postings_and_the_ranking(database, reference):
    """Writers adding (in batches and one by one) and deleting at once, with searches
    running meanwhile: the postings are the rows' words, the word counts theirs, the
    ranking SQLite's."""
    stores = [PostgresStore(database) for _ in range(4)]
    stores[0].bind_embedding(SPEC)
    texts = notes(400, seed=21)
    memories = [mem(text, 1000 + i, namespace=f"w{i % 4}") for i, text in enumerate(texts)]
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        mine = memories[worker::4]
        try:
            if worker % 2:
                for memory in mine:
                    stores[worker].add([memory])
            else:
                stores[worker].add(mine)  # 100: by COPY
            stores[worker].delete([m.id for m in mine[::5]])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def search() -> None:
        try:
            while any(t.is_alive() for t in writers):
                for query in NOTE_QUERIES:
                    stores[0].text_search(query_terms(query), 10, Filter.build(namespace=None))
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    searcher = threading.Thread(target=search)
    for thread in [*writers, searcher]:
        thread.start()
    for thread in [*writers, searcher]:
        thread.join()
    assert not errors
    kept: list[Memory] = [m for w in range(4) for i, m in enumerate(memories[w::4]) if i % 5]
    reference.add(kept)
    assert stores[0].count(Filter.build(namespace=None)) == len(kept)
    assert_postings_follow_the_rows(database)
    # Each store's connections added their word counts to stripes of their own.
    assert_counts_follow_the_rows(database, stripes_at_least=2)
    for query in NOTE_QUERIES:
        terms = query_terms(query)
        for flt in (Filter.build(namespace=None), Filter.build(namespace="w1")):
            assert_ranks_as_sqlite(stores[0], reference, terms, 10, flt)
    for store in stores:
        store.close()


def test_a_large_namespace_reads_its_share_of_the_postings(pg, database, reference, monkeypatch):
    """A word in more memories of the store than the postings sum, but not of the
    namespace searched (its share from the statistics), is ranked from them."""
    memories = [
        mem(f"kiwi {i}" if i % 5 == 0 else f"plain {i}", 800 + i, namespace=("big", "other")[i % 2])
        for i in range(200)
    ]
    store = stored_and_analyzed(memories, pg, reference, database)
    monkeypatch.setattr(postings, "POSTED_AT_MOST", 30)  # kiwi: 40 memories, 20 in each
    try:
        for flt, fast in (
            (Filter.build(namespace="big"), True),
            (Filter.build(namespace=None), False),
        ):
            assert proven(store, ["kiwi"], 5, flt) is fast
            assert assert_ranks_as_sqlite(store, reference, ["kiwi"], 5, flt) == 5
    finally:
        store.close()


def test_optimize_leaves_the_postings_readable_from_their_key_alone(pg, database):
    """The postings are read by index-only scans, which fetch each posting's row
    unless the visibility map says its page is all visible; optimize's VACUUM FULL
    leaves that map empty, so a plain VACUUM must follow it."""
    pg.add([mem(f"a note {i} about ferries and harbours", 2000 + i) for i in range(400)])
    pg.optimize()
    with psycopg.connect(database) as conn:
        pages, visible = conn.execute(VISIBILITY).fetchone()
    assert pages > 0
    assert visible == pages


def test_postings_an_upgrade_made_are_vacuumed_by_the_background_repair(database):
    """The migration that makes the postings cannot VACUUM (it runs in a transaction),
    so their visibility map starts empty; ``serve``'s background repair vacuums them."""
    store = PostgresStore(database)
    store.bind_embedding(SPEC)
    store.add([mem(text, 500 + i) for i, text in enumerate(notes(400, seed=6))])
    store.close()
    with psycopg.connect(database) as conn:
        back_to_version(conn, 7)
    store = PostgresStore(database)  # migrates: the postings made
    try:
        store.index_waiting_vectors()  # the last commits before the repair's
        with psycopg.connect(database, autocommit=True) as conn:
            # Autovacuum would get there too, in its own time. Committed synchronously,
            # as by default (the tests' server is not): the commits before it reach the
            # disk, and VACUUM may then mark the rows they wrote visible to all.
            conn.execute("SET synchronous_commit = on")
            conn.execute("ALTER TABLE memvault_postings SET (autovacuum_enabled = false)")
            pages, visible = conn.execute(VISIBILITY).fetchone()
            assert pages > 0 and visible == 0
            note = store.repair_in_background()
            assert note is not None and "vacuuming them in the background" in note
            store.postings_vacuum.join()
            pages, visible = conn.execute(VISIBILITY).fetchone()
            assert pages > 0 and visible == pages
        assert store.repair_in_background() is None
    finally:
        store.close()
