"""SQLite-specific behaviour: the in-process vector index follows other connections."""

from __future__ import annotations

import apsw
import numpy as np
import pytest
import sqlite_vec

from memvault.errors import InvalidInput, StoreUnavailable
from memvault.model import EmbeddingSpec, Filter, Memory
from memvault.stores.sqlite import int8_scan
from memvault.stores.sqlite.precision import META_KEY, PRECISIONS, Request
from memvault.stores.sqlite.schema import MIGRATIONS
from memvault.stores.sqlite.store import SqliteStore, parse_pragmas

from .backends import found
from .test_store_conformance import SPEC, unit

# The tests of float16 rows and of stores upgraded from float32 keep float16.
FLOAT16 = Request("float16", "the test", "store_url")


def test_vector_index_follows_writes_from_another_connection(tmp_path):
    writer, reader = SqliteStore(tmp_path / "s.db"), SqliteStore(tmp_path / "s.db")
    writer.bind_embedding(SPEC)
    first = Memory(content="first", embedding=unit(1))
    writer.add([first])
    reader.bind_embedding(SPEC)
    assert [m.id for m in reader.vector_search(unit(1), 3, Filter.build())] == [first.id]

    second = Memory(content="second", embedding=unit(2))
    writer.add([second])
    assert reader.vector_search(unit(2), 1, Filter.build())[0].id == second.id

    # Delete the newest row and add another: the rowid is not reused, and the
    # reader must neither return the deleted memory nor miss the new one.
    writer.delete([second.id])
    third = Memory(content="third", embedding=unit(2))
    writer.add([third])
    ids = [m.id for m in reader.vector_search(unit(2), 3, Filter.build())]
    assert second.id not in ids and third.id in ids and first.id in ids
    writer.delete([first.id])
    assert [m.id for m in reader.vector_search(unit(1), 3, Filter.build())] == [third.id]
    writer.close()
    reader.close()


def test_search_over_all_namespaces_merges_partitions(tmp_path):
    store = SqliteStore(tmp_path / "n.db")
    store.bind_embedding(SPEC)
    store.add(
        [Memory(content=f"m{i}", namespace=f"ns{i % 3}", embedding=unit(i)) for i in range(30)]
    )
    hits = found(store, store.vector_search(unit(7), 5, Filter(namespace=None)))
    assert hits[0].content == "m7" and len(hits) == 5
    exact = sorted(range(30), key=lambda i: -float(unit(i) @ unit(7)))[:5]
    assert [m.content for m in hits] == [f"m{i}" for i in exact]
    store.close()


def test_a_model_bound_elsewhere_is_seen(tmp_path):
    a, b = SqliteStore(tmp_path / "m.db"), SqliteStore(tmp_path / "m.db")
    a.bind_embedding(EmbeddingSpec("model-a", 4))
    b.bind_embedding(EmbeddingSpec("model-a", 4))
    a.add([Memory(content="x", embedding=np.ones(4, dtype=np.float32) / 2)])
    assert b.count(Filter.build()) == 1
    a.close()
    b.close()


def test_checkpoints_kept_as_notes_by_an_older_memvault_move_into_the_journal(tmp_path):
    path = tmp_path / "old.db"
    SqliteStore(path).close()
    conn = apsw.Connection(str(path))  # the schema and notes as version 2 left them
    conn.execute("DELETE FROM schema_migrations WHERE version > 2")
    conn.execute(
        "INSERT INTO meta VALUES ('note:migration:abc', ?), ('note:other', 'text')",
        ('{"cursor": "41", "moved": 40}',),
    )
    conn.close()
    store = SqliteStore(path)
    assert store.journal_get("checkpoint", "migration:abc") == {"cursor": "41", "moved": 40}
    assert [key for key, _ in store.journal_list("checkpoint")] == ["migration:abc"]
    store.close()
    conn = apsw.Connection(str(path))
    assert conn.execute("SELECT key FROM meta WHERE key LIKE 'note:%'").fetchall() == [
        ("note:other",)
    ]
    conn.close()


def test_words_indexed_before_namespaces_joined_the_word_index_are_still_found(tmp_path):
    path = tmp_path / "v3.db"
    store = SqliteStore(path)
    store.bind_embedding(SPEC)
    store.add(
        [
            Memory(content="the harbour ferry leaves at noon", namespace=ns, embedding=unit(i))
            for i, ns in enumerate(["a", "b"])
        ]
    )
    store.close()
    conn = apsw.Connection(str(path))  # the word index as schema version 3 left it
    conn.execute("""
        DROP TRIGGER memories_fts_insert; DROP TRIGGER memories_fts_delete;
        DROP TABLE memories_fts;
        CREATE VIRTUAL TABLE memories_fts USING fts5(content, content='memories',
            content_rowid='rowid', tokenize='porter unicode61 remove_diacritics 2');
        INSERT INTO memories_fts(memories_fts) VALUES ('rebuild');
        CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories WHEN new.parent_id IS NULL
        BEGIN INSERT INTO memories_fts(rowid, content) VALUES (new.rowid, new.content); END;
        CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories WHEN old.parent_id IS NULL
        BEGIN INSERT INTO memories_fts(memories_fts, rowid, content)
              VALUES ('delete', old.rowid, old.content); END;
        DELETE FROM schema_migrations WHERE version > 3;
    """)
    conn.close()
    store = SqliteStore(path)
    for ns in ("a", "b"):
        hits = store.text_search(["ferry"], 5, Filter(namespace=ns))
        assert [m.namespace for m in found(store, hits)] == [ns]
    gone = store.text_search(["ferry"], 5, Filter(namespace="a"))[0]
    store.delete([gone.id])  # the delete trigger removes the words it indexed
    assert store.text_search(["ferry"], 5, Filter(namespace="a")) == []
    store.close()


def test_pragmas_are_parsed_and_bad_ones_named():
    assert parse_pragmas("busy_timeout=1000, cache_size=-2000") == {
        "busy_timeout": "1000",
        "cache_size": "-2000",
    }
    for bad in ["journal_mode", "x=1;DROP TABLE memories", "=3"]:
        with pytest.raises(InvalidInput) as err:
            parse_pragmas(bad)
        assert err.value.field == "sqlite_pragmas"


def test_an_unknown_pragma_is_refused_by_name(tmp_path):
    with pytest.raises(InvalidInput) as err:
        SqliteStore(tmp_path / "p.db", pragmas={"cache_sise": "-2000"})
    assert err.value.field == "sqlite_pragmas" and "'cache_sise'" in err.value.message
    # Either variable may have set it (memvault's, or the peer's it reads when switching).
    assert "MCP_MEMORY_SQLITE_PRAGMAS" in err.value.message
    assert not (tmp_path / "p.db").exists()
    SqliteStore(tmp_path / "p.db", pragmas={"cache_size": "-2000"}).close()


def test_a_namespace_of_one_memory_costs_kilobytes_not_megabytes(tmp_path):
    store = SqliteStore(tmp_path / "ns.db")
    store.bind_embedding(SPEC)
    store.add(
        [Memory(content=f"note {i}", namespace=f"user-{i}", embedding=unit(i)) for i in range(200)]
    )
    store.optimize()
    # A vector is 768 bytes; its row, tags and words little more. (vec0 gave
    # each namespace a 1,024-slot chunk: 1.6 MB apiece, 300 MB here.)
    assert store.size_bytes() < 200 * 8_000
    for i in (0, 199):
        hits = store.vector_search(unit(i), 3, Filter(namespace=f"user-{i}"))
        assert [m.content for m in found(store, hits)] == [f"note {i}"]
    store.close()


def test_a_memory_costs_its_float16_vector_and_little_more(tmp_path):
    store = SqliteStore(tmp_path / "size.db")
    store.bind_embedding(SPEC)
    store.add(
        [
            Memory(
                content=f"a short note, number {i}", namespace=f"user-{i // 2}", embedding=unit(i)
            )
            for i in range(2000)
        ]
    )
    store.optimize()
    # 768 bytes of vector; a float32 one (1.5 KB) made it over 2 KB a memory.
    assert store.size_bytes() < 2000 * 1_400
    store.close()


def as_float32_store(path, vectors=None):
    """Turn a store back into what schema version 6 wrote: float32 vectors, the
    given ``{id: vector}`` or, by default, the stored ones widened."""
    conn = apsw.Connection(str(path))
    if vectors is None:
        (name,) = conn.execute("SELECT value FROM meta WHERE key = ?", (META_KEY,)).fetchone()
        rows = conn.execute("SELECT rowid, embedding FROM memory_vectors").fetchall()
        widened = [(PRECISIONS[name].values(blob, SPEC.dimension)[0], r) for r, blob in rows]
    else:
        rowids = dict(conn.execute("SELECT id, rowid FROM memories").fetchall())
        widened = [(vector.astype(np.float32), rowids[id_]) for id_, vector in vectors.items()]
    conn.executemany(
        "UPDATE memory_vectors SET embedding = ? WHERE rowid = ?",
        [(vector.tobytes(), rowid) for vector, rowid in widened],
    )
    conn.execute("DELETE FROM meta WHERE key = ?", (META_KEY,))
    conn.execute("DELETE FROM schema_migrations WHERE version > 6")
    conn.close()


def test_a_store_of_float32_vectors_halves_them_and_searches_alike(tmp_path):
    vectors = {f"m{i}": unit(i) for i in range(300)}
    memories = [
        Memory(content=f"note {i}", id=f"m{i}", namespace=f"ns{i % 3}", embedding=vectors[f"m{i}"])
        for i in range(300)
    ]
    stores = {}
    for name in ("fresh", "v6"):
        store = SqliteStore(tmp_path / f"{name}.db", vectors=FLOAT16)
        store.bind_embedding(SPEC)
        store.add(memories)
        store.close()
    as_float32_store(tmp_path / "v6.db", vectors)
    before = (tmp_path / "v6.db").stat().st_size
    for name in ("fresh", "v6"):
        stores[name] = SqliteStore(tmp_path / f"{name}.db")
    conn = apsw.Connection(str(tmp_path / "v6.db"))
    assert {r[0] for r in conn.execute("SELECT length(embedding) FROM memory_vectors")} == {768}
    assert conn.execute("SELECT max(version) FROM schema_migrations").fetchall() == [
        (len(MIGRATIONS),)
    ]
    conn.close()
    for seed in range(500, 520):
        for flt in (Filter(), Filter(namespace="ns1")):
            searched = [s.vector_search(unit(seed), 10, flt) for s in stores.values()]
            assert [(c.id, c.score) for c in searched[0]] == [(c.id, c.score) for c in searched[1]]
    for memory in stores["v6"].get_many(list(vectors), with_embedding=True):
        half = vectors[memory.id].astype(np.float16).astype(np.float32)
        assert memory.embedding.tobytes() == half.tobytes()
    stores["v6"].optimize()
    assert stores["v6"].size_bytes() < before * 0.75
    for store in stores.values():
        store.close()


def test_a_store_of_a_newer_schema_is_refused_unchanged(tmp_path):
    path = tmp_path / "newer.db"
    store = SqliteStore(path)
    store.bind_embedding(SPEC)
    store.add([Memory(content="kept as a later memvault wrote it", embedding=unit(1))])
    store.close()
    conn = apsw.Connection(str(path))
    conn.execute("INSERT INTO schema_migrations VALUES (99, 0)")
    conn.close()
    written = path.read_bytes()
    with pytest.raises(StoreUnavailable, match="schema version 99, newer than this memvault"):
        SqliteStore(path)
    assert path.read_bytes() == written


def as_vec0_store(path):
    """Turn a store back into what schema version 5 wrote: vectors in a vec0
    table partitioned by namespace (as ``vector_table_sql`` created it)."""
    conn = apsw.Connection(str(path))
    conn.enable_load_extension(True)
    conn.load_extension(sqlite_vec.loadable_path())
    conn.execute(f"""
        CREATE VIRTUAL TABLE vec_old USING vec0(namespace TEXT PARTITION KEY,
            embedding float[{SPEC.dimension}] distance_metric=cosine);
        INSERT INTO vec_old(rowid, namespace, embedding)
            SELECT v.rowid, m.namespace, v.embedding FROM memory_vectors v
            JOIN memories m ON m.rowid = v.rowid;
        DROP TABLE memory_vectors;
        CREATE VIRTUAL TABLE memory_vectors USING vec0(namespace TEXT PARTITION KEY,
            embedding float[{SPEC.dimension}] distance_metric=cosine);
        INSERT INTO memory_vectors(rowid, namespace, embedding)
            SELECT rowid, namespace, embedding FROM vec_old;
        DROP TABLE vec_old;
        DELETE FROM schema_migrations WHERE version > 5;
    """)
    conn.close()


def test_a_store_with_vectors_in_vec0_moves_them_out_unchanged(tmp_path):
    path = tmp_path / "v5.db"
    store = SqliteStore(path, vectors=FLOAT16)
    store.bind_embedding(SPEC)
    kept = [Memory(content=f"m{i}", namespace=f"ns{i % 7}", embedding=unit(i)) for i in range(60)]
    store.add(kept)
    store.delete([kept[5].id])
    store.close()
    as_float32_store(path, {m.id: m.embedding for m in kept if m is not kept[5]})
    as_vec0_store(path)
    store = SqliteStore(path)
    by_id = {m.id: m for m in store.get_many([m.id for m in kept], with_embedding=True)}
    assert set(by_id) == {m.id for m in kept} - {kept[5].id}
    for memory in kept[6:]:
        half = memory.embedding.astype(np.float16).astype(np.float32)
        assert by_id[memory.id].embedding.tobytes() == half.tobytes()
    hits = store.vector_search(unit(9), 2, Filter(namespace="ns2"))
    assert found(store, hits)[0].content == "m9"
    store.add([Memory(content="after", namespace="ns2", embedding=unit(500))])
    assert (
        found(store, store.vector_search(unit(500), 1, Filter(namespace="ns2")))[0].content
        == "after"
    )
    store.close()
    conn = apsw.Connection(str(path))
    assert (
        conn.execute("SELECT sql FROM sqlite_master WHERE name = 'memory_vectors'")
        .fetchall()[0][0]
        .startswith("CREATE TABLE")
    )
    assert "memory_vectors_chunks" not in {
        r[0] for r in conn.execute("SELECT name FROM sqlite_master")
    }
    conn.close()


def test_a_fresh_process_loads_vectors_in_rowid_order_after_deletes(tmp_path):
    # A filtered search finds rows by binary search on rowid, so each
    # namespace's vectors must be held in rowid order whatever the writes were.
    writer = SqliteStore(tmp_path / "o.db")
    writer.bind_embedding(SPEC)
    # Few rows carry the tag, so the filtered search takes the binary-search path.
    first = [
        Memory(
            content=f"a{i}",
            namespace=f"ns{i % 2}",
            tags=("x",) if i % 10 < 2 else (),
            embedding=unit(i),
        )
        for i in range(40)
    ]
    writer.add(first)
    writer.delete([m.id for m in first[:30:2]])
    writer.add(
        [
            Memory(
                content=f"b{i}",
                namespace=f"ns{i % 2}",
                tags=("x",) if i < 4 else (),
                embedding=unit(100 + i),
            )
            for i in range(20)
        ]
    )
    writer.close()
    reader = SqliteStore(tmp_path / "o.db")
    for ns in ("ns0", "ns1"):
        live = reader.query(Filter(namespace=ns, tags_any=("x",)), limit=100).memories
        for probe in (1, 3, 101, 117):
            hits = reader.vector_search(unit(probe), 5, Filter(namespace=ns, tags_any=("x",)))
            by_content = {m.content: m for m in live}
            exact = sorted(
                by_content,
                key=lambda c: -float(unit(int(c[1:]) + (100 if c[0] == "b" else 0)) @ unit(probe)),
            )[:5]
            assert [m.content for m in found(reader, hits)] == exact
    reader.close()


def test_the_int8_first_pass_keeps_the_exact_neighbours_of_near_duplicates(tmp_path):
    # Clustered vectors (10 centres of 2,000 each, a little noise) are where
    # int8 codes blur the order most, and 256 candidates are few among them.
    # The rescored top 10 must be float32's, except that scores come from
    # float16 rows: neighbours closer than ~1e-4 may swap places.
    rng = np.random.default_rng(5)
    centres = np.stack([unit(i) for i in range(10)])
    vectors = centres[np.arange(20_000) % 10] + rng.normal(0, 0.02, (20_000, len(centres[0])))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    store = SqliteStore(tmp_path / "near.db", vectors=FLOAT16)
    store.bind_embedding(SPEC)
    store.add([Memory(content=f"n{i}", embedding=v) for i, v in enumerate(vectors)])
    for probe in rng.integers(0, 20_000, 30):
        query = vectors[probe] + rng.normal(0, 0.01, vectors.shape[1]).astype(np.float32)
        query /= np.linalg.norm(query)
        exact = [float(s) for s in np.sort(vectors @ query)[::-1][:10]]
        hits = store.vector_search(query, 10, Filter())
        true_scores = [float(vectors[int(m.content[1:])] @ query) for m in found(store, hits)]
        assert true_scores == pytest.approx(exact, abs=2e-4)
        assert [c.score for c in hits] == pytest.approx(true_scores, abs=2e-4)
        assert [c.score for c in hits] == sorted((c.score for c in hits), reverse=True)
    store.close()


def test_the_int8_scan_graph_is_the_one_node_onnx_helper_builds():
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["query", "columns"], ["scores"])],
        "int8_scan",
        [
            helper.make_tensor_value_info("query", TensorProto.UINT8, [1, None]),
            helper.make_tensor_value_info("columns", TensorProto.INT8, [None, None]),
        ],
        [helper.make_tensor_value_info("scores", TensorProto.INT32, [1, None])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    assert model.SerializeToString() == int8_scan.GRAPH


def test_a_tag_filter_too_wide_to_score_directly_keeps_the_exact_neighbours(tmp_path):
    # 400 tagged rows of 4,000: more than the direct-scoring limit, so the int8
    # pass runs over every row and must prune by the k-th best tagged row
    # alone; asking for more than are tagged returns every tagged row.
    rng = np.random.default_rng(8)
    vectors = rng.standard_normal((4000, len(unit(0)))).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    tagged = np.arange(4000) % 10 == 3
    store = SqliteStore(tmp_path / "wide.db", vectors=FLOAT16)
    store.bind_embedding(SPEC)
    store.add(
        [
            Memory(content=f"w{i}", tags=("t3",) if tagged[i] else (), embedding=v)
            for i, v in enumerate(vectors)
        ]
    )
    flt = Filter(tags_any=("t3",))
    for probe in rng.integers(0, 4000, 10):
        query = vectors[probe] + rng.normal(0, 0.05, vectors.shape[1]).astype(np.float32)
        query /= np.linalg.norm(query)
        scores = np.where(tagged, vectors @ query, -np.inf)
        exact = [float(s) for s in np.sort(scores)[::-1][:10]]
        hits = found(store, store.vector_search(query, 10, flt))
        assert all("t3" in m.tags for m in hits)
        true_scores = [float(vectors[int(m.content[1:])] @ query) for m in hits]
        assert true_scores == pytest.approx(exact, abs=2e-4)
    everything = found(store, store.vector_search(unit(1), 500, flt))
    assert sorted(int(m.content[1:]) for m in everything) == np.flatnonzero(tagged).tolist()
    store.close()
