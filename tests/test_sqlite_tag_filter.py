"""A SQLite search filtered by a namespace and tags reads only that namespace's
tagged rows, and ranks them as an exact top k of the namespace would."""

from __future__ import annotations

import random

import apsw
import pytest

from memvault.model import Filter, Memory, MemoryChanges, utcnow
from memvault.stores.sqlite.allowed import TagRows, allowed_rowids
from memvault.stores.sqlite.schema import MIGRATIONS, tag_sql
from memvault.stores.sqlite.store import SqliteStore

from .test_store_conformance import SPEC, unit

WORDS = "ferry lisbon noon harbour ticket bridge market river train station".split()
# Namespace "a" holds 1,200 memories: "common" on three in four (more than
# the 256 a vector search scores directly), "rare" on one in sixty, "pair" on
# one in eight beside "common". Namespaces "b" and "c" carry both tags on every
# memory, so the tags are commoner outside "a" than in it.
SIZES = {"a": 1_200, "b": 1_500, "c": 1_500}


def tags_of(namespace: str, i: int) -> tuple[str, ...]:
    if namespace != "a":
        return ("common", "rare")
    tags = ("common",) if i % 4 else ()
    tags += ("rare",) if i % 60 == 7 else ()
    return tags + (("pair",) if i % 8 == 1 else ())


def memories(namespaces: dict[str, int]) -> list[Memory]:
    pick = random.Random(3)
    made: list[Memory] = []
    for namespace, count in namespaces.items():
        first = len(made)  # every vector its own seed: no two score alike
        made.extend(
            Memory(
                content=" ".join(pick.choices(WORDS, k=6)) + f" note {namespace}{i}",
                namespace=namespace,
                tags=tags_of(namespace, i),
                embedding=unit(first + i),
            )
            for i in range(count)
        )
    return made


@pytest.fixture(scope="module")
def tagged(tmp_path_factory):
    store = SqliteStore(tmp_path_factory.mktemp("tags") / "t.db")
    store.bind_embedding(SPEC)
    store.add(memories(SIZES))
    yield store
    store.close()


def rowids_of(store: SqliteStore, namespace: str, tags: tuple[str, ...]) -> list[int]:
    """The rowids of ``namespace`` carrying all ``tags``, read from the memories' rows."""
    held = " AND ".join("EXISTS (SELECT 1 FROM json_each(tags) WHERE value = ?)" for _ in tags)
    return store._db.column(
        f"SELECT rowid FROM memories WHERE namespace = ? AND {held} ORDER BY rowid",
        (namespace, *tags),
    )


def test_a_namespace_and_a_tag_allow_only_that_namespaces_tagged_rows(tagged):
    for tags in (("common",), ("common", "pair")):
        flt = Filter(namespace="a", tags_all=tags)
        allowed = allowed_rowids(tagged._db, flt, TagRows())
        assert allowed is not None
        assert sorted(allowed.tolist()) == rowids_of(tagged, "a", tags)
        # Read from the tags' key by tag and namespace, not by tag alone.
        sql, params = tag_sql(flt)
        plan = " ".join(str(r) for r in tagged._db.rows(f"EXPLAIN QUERY PLAN {sql}", params))
        assert "PRIMARY KEY (tag=? AND namespace=?)" in plan
    for namespace, count in (("a", 900), (None, 3_900)):
        flt = Filter(namespace=namespace, tags_any=("common",))
        assert len(allowed_rowids(tagged._db, flt, TagRows())) == count


@pytest.mark.parametrize(
    ("namespace", "tags"),
    [
        ("a", {"tags_any": ("rare",)}),
        ("a", {"tags_any": ("common",)}),
        ("a", {"tags_any": ("rare", "pair")}),
        ("a", {"tags_all": ("common", "pair")}),
        # More tagged rows than namespace "a" holds: looked up the other way.
        (None, {"tags_any": ("common",)}),
    ],
)
def test_a_rare_or_common_tag_ranks_as_an_exact_top_k(tagged, namespace, tags):
    flt = Filter(namespace=namespace, **tags)
    members = {m.id for m in tagged.query(flt, limit=10_000).memories}
    everything, size = Filter(namespace=namespace), tagged.count(Filter(namespace=namespace))
    assert 0 < len(members) < size
    for probe in range(5):
        query = unit(5_000 + probe)
        # Every memory in scope ranked (k all of them: nothing pruned), then
        # only the tagged ones kept: the exact top 10 among them.
        exact = [c for c in tagged.vector_search(query, size, everything) if c.id in members]
        hits = tagged.vector_search(query, 10, flt)
        assert [c.id for c in hits] == [c.id for c in exact[:10]]
        assert [c.score for c in hits] == pytest.approx([c.score for c in exact[:10]], abs=1e-6)
        terms = WORDS[probe : probe + 2]
        ranked = [c for c in tagged.text_search(terms, size, everything) if c.id in members]
        words = tagged.text_search(terms, 10, flt)
        assert [(c.id, c.score) for c in words] == [(c.id, c.score) for c in ranked[:10]]


def test_tags_changed_by_an_update_keep_their_namespace(tmp_path):
    store = SqliteStore(tmp_path / "u.db")
    store.bind_embedding(SPEC)
    parent = Memory(content="long parent", namespace="b", tags=("x",), embedding=unit(1))
    chunk = Memory(
        content="its chunk", namespace="b", parent_id=parent.id, chunk_index=1, embedding=unit(2)
    )
    other = Memory(content="elsewhere", namespace="a", tags=("y",), embedding=unit(3))
    store.add([parent, chunk, other])
    store.update(parent.id, MemoryChanges(tags=("y",)))
    in_b = Filter(namespace="b", tags_any=("y",), include_chunks=True)
    assert [c.id for c in store.vector_search(unit(2), 5, in_b)] == [chunk.id, parent.id]
    assert [c.id for c in store.vector_search(unit(2), 5, in_b.with_changes(namespace="a"))] == [
        other.id
    ]
    assert store.count(Filter(namespace="b", tags_any=("x",))) == 0
    store.close()


def test_the_tag_rows_kept_follow_writes_here_and_from_another_connection(tmp_path):
    here, there = SqliteStore(tmp_path / "w.db"), SqliteStore(tmp_path / "w.db")
    here.bind_embedding(SPEC)
    there.bind_embedding(SPEC)
    one, both = Filter(namespace="a", tags_any=("t",)), Filter(namespace="a", tags_all=("t", "u"))

    def agrees(flt: Filter) -> None:
        # What a search allows (its rows kept from the last search of the same
        # filter, unless the file changed) against the filter as SQL (query).
        hits = {c.id for c in here.vector_search(unit(0), 100, flt)}
        assert hits == {m.id for m in here.query(flt, limit=100).memories}

    def tagged(content: str, seed: int, tags: tuple[str, ...] = ("t",)) -> Memory:
        return Memory(content=content, namespace="a", tags=tags, embedding=unit(seed))

    first, mine, theirs = tagged("first", 1, ("t", "u")), tagged("mine", 3), tagged("theirs", 4)
    here.add([first, tagged("other", 2, ("u",))])
    agrees(one)
    here.add([mine])
    agrees(one)
    there.add([theirs])
    agrees(one)
    there.update(first.id, MemoryChanges(tags=("u",)))
    agrees(one)
    agrees(both)
    here.update(mine.id, MemoryChanges(tags=("t", "u")))
    agrees(both)
    there.update(theirs.id, MemoryChanges(tags=("t", "u")))
    agrees(both)
    there.delete([theirs.id])
    agrees(both)
    assert {c.id for c in here.vector_search(unit(0), 100, both)} == {mine.id}
    here.close()
    there.close()


def test_tags_kept_without_their_namespace_by_an_older_schema_gain_it(tmp_path):
    kept = memories({"a": 120, "b": 80})
    stores = {}
    for name in ("fresh", "v8"):
        store = SqliteStore(tmp_path / f"{name}.db")
        store.bind_embedding(SPEC)
        store.add(kept)
        store.close()
    conn = apsw.Connection(str(tmp_path / "v8.db"))  # memory_tags as version 8 left them
    conn.execute("""
        CREATE TABLE old_tags (
            tag TEXT NOT NULL, memory_rowid INTEGER NOT NULL, PRIMARY KEY (tag, memory_rowid)
        ) WITHOUT ROWID;
        INSERT INTO old_tags SELECT tag, memory_rowid FROM memory_tags;
        DROP TABLE memory_tags;
        ALTER TABLE old_tags RENAME TO memory_tags;
        CREATE INDEX memory_tags_memory ON memory_tags(memory_rowid);
        DELETE FROM schema_migrations WHERE version > 8;
    """)
    conn.close()
    for name in ("fresh", "v8"):
        stores[name] = SqliteStore(tmp_path / f"{name}.db")
    every_tag = "SELECT tag, namespace, memory_rowid FROM memory_tags ORDER BY 1, 2, 3"
    assert stores["v8"]._db.rows(every_tag) == stores["fresh"]._db.rows(every_tag)
    assert stores["v8"]._db.scalar("SELECT max(version) FROM schema_migrations") == len(MIGRATIONS)
    flt = Filter(namespace="a", tags_any=("common",))
    searched = [s.vector_search(unit(9), 10, flt) for s in stores.values()]
    assert [c.id for c in searched[0]] == [c.id for c in searched[1]] != []
    assert stores["v8"].count(flt) == 90
    for store in stores.values():
        store.close()


def test_an_expired_memory_is_not_allowed_by_a_namespace_and_a_tag(tmp_path):
    store = SqliteStore(tmp_path / "e.db")
    store.bind_embedding(SPEC)
    live, gone = (
        Memory(content=c, namespace="a", tags=("t",), embedding=unit(i))
        for i, c in enumerate(("live", "gone"))
    )
    store.add([live, gone, Memory(content="other", namespace="b", tags=("t",), embedding=unit(5))])
    store.update(gone.id, MemoryChanges(expires_at=utcnow()))
    allowed = allowed_rowids(store._db, Filter(namespace="a", tags_any=("t",)), TagRows())
    assert allowed is not None and len(allowed) == 1
    assert allowed.tolist() == store._db.column(
        "SELECT rowid FROM memories WHERE id = ?", (live.id,)
    )
    hits = store.vector_search(unit(1), 5, Filter(namespace="a", tags_any=("t",)))
    assert [c.id for c in hits] == [live.id]
    store.close()
