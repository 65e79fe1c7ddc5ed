"""The SQLite store's vector precision: float16 or int8, chosen when a store is made."""

from __future__ import annotations

import json

import apsw
import numpy as np
import pytest

from memvault.config import Settings
from memvault.errors import InvalidInput
from memvault.maintenance.duplicates import find_duplicates
from memvault.model import EmbeddingSpec, Filter, Memory
from memvault.stores import open_store
from memvault.stores.sqlite.store import SqliteStore
from memvault.transfer.backup import export_dump
from memvault.transfer.dump import read_dump
from memvault.transfer.migrate import migrate
from memvault.transfer.restore import restore

from .conftest import run_cli
from .retrieval_set import CODES, MEMORIES, PARAPHRASES, PLAIN
from .transfer_data import SPEC, assert_same_memories, everything, fill, filled, sample, unit


def blob_lengths(path) -> set[int]:
    conn = apsw.Connection(str(path))
    try:
        return {r[0] for r in conn.execute("SELECT length(embedding) FROM memory_vectors")}
    finally:
        conn.close()


def notes(n: int) -> list[Memory]:
    return [
        Memory(content=f"a short note, number {i}", namespace=f"user-{i // 10}", embedding=unit(i))
        for i in range(n)
    ]


def test_an_int8_store_is_smaller_for_the_same_memories(tmp_path):
    sizes = {}
    for precision in ("float16", "int8"):
        store = open_store(f"sqlite://{tmp_path / precision}.db?vectors={precision}")
        store.bind_embedding(SPEC)
        store.add(notes(2000))
        store.optimize()
        sizes[precision] = store.size_bytes()
        store.close()
        stored = {"float16": 2 * 384, "int8": 4 + 384}[precision]  # bytes a vector
        assert blob_lengths(tmp_path / f"{precision}.db") == {stored}
    # 380 bytes less of vector a memory, nearly all of it off the file.
    assert sizes["float16"] - sizes["int8"] > 2000 * 330


def test_int8_ranks_a_real_model_set_as_float16_does(tmp_path, embedder):
    """Every memory ranked for every query, unfiltered and in one namespace: the
    same first hit, and the same order but for memories float16 itself scores
    within int8's error (a few 1e-3) of each other."""
    texts = list(MEMORIES.values())
    vectors = embedder.embed(texts)
    stores = {}
    for precision in ("float16", "int8"):
        store = open_store(f"sqlite://{tmp_path / precision}.db?vectors={precision}")
        store.bind_embedding(EmbeddingSpec(embedder.spec.model, embedder.spec.dimension))
        store.add(
            [
                Memory(content=t, id=f"m{i}", namespace=f"ns{i % 2}", embedding=v)
                for i, (t, v) in enumerate(zip(texts, vectors, strict=True))
            ]
        )
        stores[precision] = store
    queries = embedder.embed([*CODES, *PARAPHRASES, *PLAIN, *texts])
    identical = 0
    for query in queries:
        for flt in (Filter(namespace=None), Filter(namespace="ns1")):
            # Every memory ranked, so both lists hold the same ones.
            half, int8 = (
                [(c.id, c.score) for c in s.vector_search(query, len(texts), flt)]
                for s in stores.values()
            )
            assert half and sorted(i for i, _ in half) == sorted(i for i, _ in int8)
            score = dict(half)
            for above, (ident, _) in enumerate(int8):
                for below, _ in int8[above + 1 :]:
                    assert score[ident] > score[below] - 0.004, (ident, below)
            for (_, a), (_, b) in zip(half, int8, strict=True):
                assert abs(a - b) < 0.004
            identical += [i for i, _ in half[:10]] == [i for i, _ in int8[:10]]
            assert half[0][0] == int8[0][0]
    # Near ties are common among 50 short notes: 115 of the 134 top tens are identical.
    assert identical >= 0.8 * 2 * len(queries)
    for store in stores.values():
        store.close()


def test_the_precision_is_recorded_and_kept(tmp_path):
    url = f"sqlite://{tmp_path / 'kept.db'}"
    store = open_store(url + "?vectors=int8")
    fill(store, sample(6))
    store.close()
    env = {"MEMVAULT_DATA_DIR": str(tmp_path), "MEMVAULT_SQLITE_VECTORS": "int8"}
    for reopened in (open_store(url), open_store(url, Settings.from_env(env))):
        assert reopened.health()["vector_precision"] == "int8"
        assert reopened.stats(None).extra == {"vector_precision": "int8"}
        reopened.add([Memory(content="one more", embedding=unit(99))])
        reopened.close()
    assert blob_lengths(tmp_path / "kept.db") == {388}
    conn = apsw.Connection(str(tmp_path / "kept.db"))
    assert conn.execute("SELECT value FROM meta WHERE key = 'vector_precision'").fetchall() == [
        ("int8",)
    ]
    conn.close()
    made = open_store(f"sqlite://{tmp_path / 'by-env.db'}", Settings.from_env(env))
    assert isinstance(made, SqliteStore) and made.precision.name == "int8"
    made.close()


def test_asking_a_store_for_another_precision_is_refused_naming_both(tmp_path):
    for held, asked in (("int8", "float16"), ("float16", "int8")):
        path = tmp_path / f"{held}.db"
        filled(f"sqlite://{path}?vectors={held}", sample(3))
        written = path.read_bytes()
        with pytest.raises(InvalidInput, match=rf"as {held} .* asks for {asked}") as url_refusal:
            open_store(f"sqlite://{path}?vectors={asked}")
        assert url_refusal.value.field == "store_url"
        env = {"MEMVAULT_DATA_DIR": str(tmp_path), "MEMVAULT_SQLITE_VECTORS": asked}
        with pytest.raises(InvalidInput, match="MEMVAULT_SQLITE_VECTORS asks") as env_refusal:
            open_store(f"sqlite://{path}", Settings.from_env(env))
        assert env_refusal.value.field == "sqlite_vectors"
        assert path.read_bytes() == written


def test_a_store_made_before_the_choice_holds_float16_and_says_so(tmp_path):
    path = tmp_path / "older.db"
    memories = sample(3)
    filled(f"sqlite://{path}?vectors=float16", memories)
    conn = apsw.Connection(str(path))  # as schema version 7 left it: nothing recorded
    conn.execute("DELETE FROM meta WHERE key = 'vector_precision'")
    conn.execute("DELETE FROM schema_migrations WHERE version > 7")
    conn.close()
    with pytest.raises(InvalidInput, match=r"as float16 .* asks for int8"):
        open_store(f"sqlite://{path}?vectors=int8")
    store = open_store(f"sqlite://{path}")
    assert store.health()["vector_precision"] == "float16"
    assert_same_memories(memories, store)
    store.close()
    conn = apsw.Connection(str(path))
    assert conn.execute("SELECT value FROM meta WHERE key = 'vector_precision'").fetchall() == [
        ("float16",)
    ]
    conn.close()


@pytest.mark.parametrize(
    ("url", "env", "field", "message"),
    [
        ("x.db?vectors=int4", {}, "store_url", "vectors parameter must be float16 or int8"),
        ("x.db?vector=int8", {}, "store_url", "unknown SQLite store URL parameter 'vector'"),
        ("x.db", {"MEMVAULT_SQLITE_VECTORS": "fp8"}, "sqlite_vectors", "must be float16 or int8"),
    ],
)
def test_a_bad_precision_is_refused_and_creates_nothing(tmp_path, url, env, field, message):
    settings = Settings.from_env({"MEMVAULT_DATA_DIR": str(tmp_path), **env})
    with pytest.raises(InvalidInput, match=message) as refusal:
        open_store(f"sqlite://{tmp_path / url}", settings)
    assert refusal.value.field == field
    assert not (tmp_path / "x.db").exists()


def test_migrations_between_int8_float16_and_postgres_verify(tmp_path, settings, database):
    original = sample(45)
    int8 = filled(f"sqlite://{tmp_path / 'a.db'}?vectors=int8", original)
    hops = [
        (int8, f"sqlite://{tmp_path / 'half.db'}"),
        (int8, database),
        (database, f"sqlite://{tmp_path / 'b.db'}?vectors=int8"),
        (f"sqlite://{tmp_path / 'half.db'}", f"sqlite://{tmp_path / 'c.db'}?vectors=int8"),
    ]
    kept = {}
    for source, target in hops:
        before = open_store(source)
        kept[source] = everything(before)  # the source's vectors, as it reads them back
        before.close()
        report = migrate(source, target, settings=settings, batch_size=20)
        assert report.ok and report.verification.ok, report.to_dict()
        assert (report.moved, report.chunks) == (45, 30)
        after = open_store(target)
        assert_same_memories(kept[source], after)  # each vector as the target keeps it
        after.close()
    # int8 -> PostgreSQL -> int8 gives the first store's vectors back, bit for bit.
    back = open_store(f"sqlite://{tmp_path / 'b.db'}")
    for ident, memory in everything(back).items():
        assert memory.embedding.tobytes() == kept[int8][ident].embedding.tobytes()
    back.close()


def test_an_int8_store_exports_its_values_and_restores_them_exactly(tmp_path, settings):
    source = open_store(f"sqlite://{tmp_path / 'a.db'}?vectors=int8")
    fill(source, sample(20))
    kept = everything(source)
    dump = tmp_path / "a.jsonl.gz"
    assert export_dump(source, dump) == 20 + 14
    source.close()
    _, records = read_dump(dump)
    for memory in records:  # float32 in the dump: the stored values, dequantized
        assert memory.embedding.tobytes() == kept[memory.id].embedding.tobytes()
    report = restore(dump, f"sqlite://{tmp_path / 'b.db'}?vectors=int8", settings=settings)
    assert report.ok and report.verification.ok
    a, b = (apsw.Connection(str(tmp_path / name)) for name in ("a.db", "b.db"))
    by_id = "SELECT m.id, v.embedding FROM memories m JOIN memory_vectors v USING (rowid)"
    assert dict(a.execute(by_id).fetchall()) == dict(b.execute(by_id).fetchall())
    a.close()
    b.close()


def test_duplicates_are_found_in_an_int8_store(tmp_path):
    store = open_store(f"sqlite://{tmp_path / 'dups.db'}?vectors=int8")
    store.bind_embedding(SPEC)
    base = unit(1)
    near = base + 0.12 * unit(2)
    near /= np.linalg.norm(near)
    store.add(
        [
            Memory(content="the ferry leaves at noon", embedding=base),
            Memory(content="the ferry departs at noon", embedding=near),
            Memory(content="something else entirely", embedding=unit(3)),
        ]
    )
    plan = find_duplicates(store, Filter(namespace="default"), threshold=0.95)
    (cluster,) = plan.clusters
    assert sorted(m.content for m in cluster.members) == [
        "the ferry departs at noon",
        "the ferry leaves at noon",
    ]
    assert cluster.duplicates[0].similarity == pytest.approx(float(base @ near), abs=0.003)
    store.close()


def test_config_shows_the_precision_and_where_it_came_from(tmp_path):
    shown = {name: (value, source) for name, value, source in Settings.from_env({}).describe()}
    assert shown["sqlite_vectors"] == ("int8", "default")
    settings = Settings.from_env({"MEMVAULT_SQLITE_VECTORS": "float16"})
    shown = {name: (value, source) for name, value, source in settings.describe()}
    assert shown["sqlite_vectors"] == ("float16", "env MEMVAULT_SQLITE_VECTORS")


def test_the_cli_shows_the_precision_and_refuses_another(tmp_path):
    url = f"sqlite://{tmp_path / 'cli.db'}"
    assert run_cli(["store", "a note", "--store", url + "?vectors=int8"], tmp_path).returncode == 0
    health = json.loads(run_cli(["health", "--json", "--store", url], tmp_path).stdout)
    assert health["store"]["vector_precision"] == "int8"
    stats = json.loads(run_cli(["stats", "--json", "--store", url], tmp_path).stdout)
    assert stats["vector_precision"] == "int8" and stats["total"] == 1
    refused = run_cli(["stats", "--store", url], tmp_path, MEMVAULT_SQLITE_VECTORS="float16")
    assert refused.returncode == 2
    assert "keeps its vectors as int8" in refused.stderr and "asks for float16" in refused.stderr
