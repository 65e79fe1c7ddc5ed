"""Migration between real stores: round trips, idempotence, replace, dry run, models."""

from __future__ import annotations

import itertools
import uuid

import apsw
import psycopg
import pytest

from memvault.errors import IncompatibleEmbedding, InvalidInput
from memvault.inputs import check_content
from memvault.model import EmbeddingSpec, Filter, Memory, MemoryChanges
from memvault.stores import open_store
from memvault.stores.postgres.schema import VECTOR_INDEX
from memvault.transfer.backup import export_dump
from memvault.transfer.migrate import migrate
from memvault.transfer.restore import restore
from memvault.transfer.sources import open_source
from memvault.transfer.verify import fingerprint

from .transfer_data import SPEC, assert_same_memories, everything, fill, filled, sample, unit


def test_round_trip_through_every_kind_keeps_every_field(tmp_path, settings, chroma_server):
    """sqlite -> chroma (local) -> chroma (http) -> dump -> sqlite, every field equal, and
    every vector the first store's, bit for bit."""
    original = sample(60)
    hops = [
        filled(f"sqlite://{tmp_path / 'first.db'}", original),
        f"chroma://{tmp_path / 'chroma'}?collection=hop",
        f"{chroma_server.url}?collection=hop-{uuid.uuid4().hex}",
    ]
    for source, target in itertools.pairwise(hops):
        report = migrate(source, target, settings=settings, batch_size=25)
        assert report.ok and report.verification.ok, report.to_dict()
        assert (report.moved, report.skipped, report.chunks) == (60, 0, 40)
    dump = tmp_path / "hop.jsonl.gz"
    first = open_store(hops[0])
    kept = everything(first)  # float16 vectors, as SQLite keeps them
    first.close()
    http = open_store(hops[-1])
    assert export_dump(http, dump) == 100
    assert_same_memories(kept, http)
    http.close()
    report = migrate(str(dump), f"sqlite://{tmp_path / 'last.db'}", settings=settings)
    assert report.ok and report.moved == 60
    last = open_store(f"sqlite://{tmp_path / 'last.db'}")
    assert_same_memories(original, last)
    for ident, memory in everything(last).items():
        assert memory.embedding.tobytes() == kept[ident].embedding.tobytes()
    assert last.embedding_spec() == SPEC
    last.close()


def test_a_large_move_into_postgres_builds_the_vector_index_once_at_the_end(
    tmp_path, settings, database, monkeypatch
):
    monkeypatch.setattr("memvault.transfer.migrate.BULK_MIN_MEMORIES", 20)
    src = filled(f"sqlite://{tmp_path / 'a.db'}", sample(30))
    watcher = open_store(database)
    seen: list[str | None] = []

    class IndexWatch:
        """Looks at the target's vector index after every batch."""

        def start(self, label, total):
            pass

        def advance(self, n):
            seen.append(watcher.health()["vector_index"])

        def finish(self):
            pass

    report = migrate(src, database, settings=settings, batch_size=10, progress=IndexWatch())
    assert report.ok and report.moved == 30 and report.verification.ok
    assert "missing" in seen  # dropped while the batches went in
    assert watcher.health()["vector_index"] == "hnsw"
    hits = watcher.vector_search(unit(3), 1, Filter(namespace=None))
    assert hits[0].score > 0.999
    watcher.close()


def test_a_rerun_rebuilds_a_vector_index_left_missing_by_a_killed_bulk_load(
    tmp_path, settings, database
):
    src = filled(f"sqlite://{tmp_path / 'a.db'}", sample(12))
    target = open_store(database)
    target.bind_embedding(SPEC)
    fill(target, sample(30, seed=1))  # more than the move: no bulk mode for its size
    with psycopg.connect(database, autocommit=True) as conn:  # a bulk load killed midway
        conn.execute(f"DROP INDEX {VECTOR_INDEX}")
    assert target.health()["vector_index"] == "missing"
    assert migrate(src, database, settings=settings).ok
    assert target.health()["vector_index"] == "hnsw"
    target.close()


def test_rerun_adds_nothing_twice(tmp_path, settings):
    src = filled(f"sqlite://{tmp_path / 'a.db'}", sample(30))
    dst = f"chroma://{tmp_path / 'c'}?collection=mem"
    first = migrate(src, dst, settings=settings, batch_size=7)
    again = migrate(src, dst, settings=settings, batch_size=7)
    assert (first.moved, first.skipped) == (30, 0)
    assert (again.moved, again.skipped, again.chunks) == (0, 30, 0)
    assert again.resumed_from is None and again.verification.ok
    target = open_store(dst)
    assert target.count(Filter(namespace=None, include_chunks=True, include_expired=True)) == 50
    target.close()


def test_into_a_target_that_already_holds_some(tmp_path, settings):
    memories = sample(12)
    src, dst = (
        open_store(f"sqlite://{tmp_path / 'a.db'}"),
        open_store(f"sqlite://{tmp_path / 'b.db'}"),
    )
    fill(src, memories)
    second = [m for m in memories if m.parent_id is None][1]
    fill(
        dst,
        [
            second.with_changes(id="twin", tags=("changed",)),
            Memory(content="only in target", embedding=unit(99)),
        ],
    )
    report = migrate(src, dst, settings=settings)
    assert (report.moved, report.skipped) == (11, 1)
    # The twin kept its own tags, and verification names it.
    assert not report.verification.ok
    assert report.verification.different[0].startswith("twin ")
    assert report.verification.extra == []
    src.close()
    dst.close()


def test_a_memory_the_target_refuses_is_listed_and_the_rest_move(tmp_path, settings):
    memories = [m for m in sample(6) if m.parent_id is None]
    src, dst = (
        open_store(f"sqlite://{tmp_path / 'a.db'}"),
        open_store(f"sqlite://{tmp_path / 'b.db'}"),
    )
    fill(src, memories)
    fill(dst, [Memory(id=memories[2].id, content="other content, same id", embedding=unit(5))])
    report = migrate(src, dst, settings=settings)
    assert (report.moved, report.failed) == (5, 1) and not report.ok
    assert report.failures[0][0] == memories[2].id
    assert "already exists" in report.failures[0][1]
    assert report.verification.missing[0].startswith(memories[2].id)
    src.close()
    dst.close()


def test_replace_makes_the_target_hold_exactly_the_source(tmp_path, settings):
    """The ChromaDB -> SQLite -> defragment -> ChromaDB round trip users ask for."""
    chroma = filled(f"chroma://{tmp_path / 'c'}?collection=mem", sample(40))
    sqlite = f"sqlite://{tmp_path / 'work.db'}"
    assert migrate(chroma, sqlite, settings=settings).ok
    work = open_store(sqlite)
    top = work.query(Filter(namespace=None), limit=40).memories
    work.delete([m.id for m in top[:10]])
    work.update(top[10].id, MemoryChanges(tags=("merged",), metadata={"merged": True}))
    work.add([Memory(content="a consolidated summary", memory_type="summary", embedding=unit(7))])
    wanted = everything(work)
    work.close()

    report = migrate(sqlite, chroma, settings=settings, replace=True)
    assert report.ok and report.verification.ok, report.to_dict()
    assert report.removed == 11  # ten deleted, one changed (removed, then copied anew)
    assert report.backup and (settings.data_dir / "backups").is_dir()
    target = open_store(chroma)
    got = everything(target)
    assert sorted(got) == sorted(wanted)
    assert {fingerprint(m) for m in got.values()} == {fingerprint(m) for m in wanted.values()}
    target.close()


def test_dry_run_writes_nothing(tmp_path, settings):
    src = filled(f"sqlite://{tmp_path / 'a.db'}", sample(9))
    dst = f"sqlite://{tmp_path / 'b.db'}"
    report = migrate(src, dst, settings=settings, dry_run=True)
    assert report.dry_run and (report.moved, report.skipped) == (9, 0)
    assert report.verification is None
    target = open_store(dst)
    assert target.count(Filter(namespace=None, include_chunks=True)) == 0
    assert target.embedding_spec() is None
    target.close()
    conn = apsw.Connection(str(tmp_path / "b.db"))
    assert conn.execute("SELECT count(*) FROM journal").fetchall() == [(0,)]
    conn.close()


def test_model_mismatch_is_refused_before_anything_moves(tmp_path, settings):
    src, dst = (
        open_store(f"sqlite://{tmp_path / 'a.db'}"),
        open_store(f"sqlite://{tmp_path / 'b.db'}"),
    )
    fill(src, sample(3))
    dst.bind_embedding(EmbeddingSpec("other-model", 384))
    with pytest.raises(IncompatibleEmbedding) as err:
        migrate(src, dst, settings=settings)
    assert "--reembed" in err.value.message
    assert dst.count(Filter(namespace=None)) == 0
    with pytest.raises(InvalidInput):
        migrate(src, src, settings=settings)
    src.close()
    dst.close()


def test_reembed_recomputes_vectors_with_the_local_model(tmp_path, settings, embedder):
    src, dst = (
        open_store(f"sqlite://{tmp_path / 'a.db'}"),
        open_store(f"sqlite://{tmp_path / 'b.db'}"),
    )
    src.bind_embedding(EmbeddingSpec("some-old-model", 384))
    src.add(
        [
            Memory(content="Alice prefers tabs over spaces", embedding=unit(1)),
            Memory(content="The build runs on Fridays", embedding=unit(2)),
        ]
    )
    report = migrate(src, dst, settings=settings, embedder=embedder, reembed=True)
    assert report.ok and report.reembedded == 2 and "re-embedded" in report.vectors
    assert dst.embedding_spec() == embedder.spec
    query = embedder.embed(["how does Alice indent?"])[0]
    [best] = dst.vector_search(query, 1, Filter.build())
    assert dst.get_many([best.id])[0].content == "Alice prefers tabs over spaces"
    assert best.score > 0.3
    src.close()
    dst.close()


# As a store written before control characters were refused holds them (written
# to the store directly: every interface refuses them now).
STORED_BEFORE_THE_CHECK = [
    Memory(content="stored before the check\x02: a control character", embedding=unit(1)),
    Memory(
        content="a tag, a type and metadata",
        tags=("plain", "t\x02"),
        memory_type="no\x1bte",
        metadata={"k": "v\x02", "k\x03": [1, "x\x7f"]},
        embedding=unit(2),
    ),
    Memory(content="kept in an odd namespace", namespace="n\x02s", embedding=unit(3)),
    Memory(content="\x1c a separator first, then words", embedding=unit(4)),
]


@pytest.mark.parametrize("kind", ["postgres", "chroma", "dump"])
def test_memories_stored_before_the_control_character_check_are_carried_whole(
    tmp_path, settings, request, kind
):
    source = filled(f"sqlite://{tmp_path / 'old.db'}", STORED_BEFORE_THE_CHECK)
    old = open_store(source)
    kept = everything(old)  # the vectors as the source keeps them
    old.close()
    with pytest.raises(InvalidInput, match="control characters"):
        check_content("new input\x02", 100)  # new input is still refused
    if kind == "dump":
        dump = tmp_path / "old.jsonl.gz"
        old = open_source(source)
        assert export_dump(old, dump) == len(STORED_BEFORE_THE_CHECK)
        old.close()
        target = f"sqlite://{tmp_path / 'restored.db'}"
        report = restore(dump, target, settings=settings)
    else:
        target = (
            request.getfixturevalue("database")
            if kind == "postgres"
            else f"chroma://{tmp_path / 'chroma'}?collection=mem"
        )
        report = migrate(source, target, settings=settings)
    assert report.failures == [] and report.ok, report.to_dict()
    assert report.moved == len(STORED_BEFORE_THE_CHECK) and report.verification.ok
    store = open_store(target)
    try:
        assert_same_memories(kept, store)
        (hit,) = store.text_search(["words"], 5, Filter(namespace="default"))
        assert hit.id == STORED_BEFORE_THE_CHECK[3].id
        (hit,) = store.text_search(["odd"], 5, Filter(namespace="n\x02s"))
        assert hit.id == STORED_BEFORE_THE_CHECK[2].id
        # A second run finds them all there.
        assert migrate(source, store, settings=settings).skipped == len(STORED_BEFORE_THE_CHECK)
    finally:
        store.close()
