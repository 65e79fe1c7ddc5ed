"""What the conformance suite does not cover about ChromaStore: URLs, collections, peers, races."""

from __future__ import annotations

import chromadb
import numpy as np
import pytest
from chromadb.config import Settings

from memvault.errors import InvalidInput, StoreUnavailable
from memvault.model import EmbeddingSpec, Filter, Memory
from memvault.stores import open_store
from memvault.stores.chroma.client import parse_chroma_url
from memvault.stores.chroma.store import ChromaStore

from .backends import found
from .chroma_server import free_port, running_chroma
from .mounts import tmpfs
from .test_damaged_stores import fill_disk

DIM = 16
SPEC = EmbeddingSpec("test-model", DIM)


def vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def raw_client(path) -> chromadb.ClientAPI:
    return chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("chroma:///tmp/x?collection=a", "store_url.collection"),
        ("chroma:///tmp/x?collection=-bad-", "store_url.collection"),
        ("chroma:///tmp/x?colection=memories", "store_url.colection"),
        ("chroma:///tmp/x?hnsw_m=0", "store_url.hnsw_m"),
        ("chroma:///tmp/x?hnsw_search_ef=lots", "store_url.hnsw_search_ef"),
        ("chroma://", "store_url"),
        ("chroma+http://:8000", "store_url"),
        ("chroma+http://host:notaport", "store_url"),
    ],
)
def test_bad_urls_name_the_field(url, field):
    with pytest.raises(InvalidInput) as err:
        parse_chroma_url(url)
    assert err.value.field == field


def test_url_forms():
    local = parse_chroma_url("chroma:///data/dir?hnsw_m=32&hnsw_search_ef=50")
    assert str(local.path) == "/data/dir" and local.collection == "memory_collection"
    assert local.hnsw == {"max_neighbors": 32, "ef_search": 50}
    remote = parse_chroma_url("chroma+https://:s3cret@example.org?collection=mine")
    assert (remote.host, remote.port, remote.ssl, remote.token) == (
        "example.org",
        443,
        True,
        "s3cret",
    )
    assert "s3cret" not in remote.url and ":***@" in remote.url


def test_hnsw_parameters_are_applied_and_fixed_ones_checked(tmp_path):
    url = f"chroma://{tmp_path}?collection=tuned&hnsw_m=24&hnsw_construction_ef=150"
    store = open_store(url + "&hnsw_search_ef=40")
    store.close()
    hnsw = raw_client(tmp_path).get_collection("tuned").configuration["hnsw"]
    assert (hnsw["space"], hnsw["max_neighbors"], hnsw["ef_construction"], hnsw["ef_search"]) == (
        "cosine",
        24,
        150,
        40,
    )
    with pytest.raises(InvalidInput) as err:
        open_store(f"chroma://{tmp_path}?collection=tuned&hnsw_m=8")
    assert "fixed at creation" in err.value.message
    store = open_store(f"chroma://{tmp_path}?collection=tuned&hnsw_search_ef=90")
    store.close()
    assert raw_client(tmp_path).get_collection("tuned").configuration["hnsw"]["ef_search"] == 90


def test_a_collection_written_by_another_tool_is_not_taken_over(tmp_path):
    col = raw_client(tmp_path).create_collection("memory_collection", embedding_function=None)
    col.add(
        ids=["x"],
        embeddings=[vec(1).tolist()],
        documents=["theirs"],
        metadatas=[{"content_hash": "abc", "tags": "a,b"}],
    )
    with pytest.raises(InvalidInput) as err:
        open_store(f"chroma://{tmp_path}")
    assert "memvault migrate" in err.value.message
    assert col.count() == 1 and col.get(ids=["x"])["documents"] == ["theirs"]


def test_checkpoints_kept_as_notes_by_an_older_memvault_move_into_the_journal(tmp_path):
    open_store(f"chroma://{tmp_path}?collection=memories").close()
    col = raw_client(tmp_path).get_collection("memories")  # notes as memvault kept them
    col.modify(
        metadata={
            **col.metadata,
            "memvault_note:migration:abc": '{"cursor": "7"}',
            "memvault_note:other": "plain text",
        }
    )
    store = open_store(f"chroma://{tmp_path}?collection=memories")
    assert store.journal_get("checkpoint", "migration:abc") == {"cursor": "7"}
    store.journal_put("checkpoint", "migration:abc", {"cursor": "9"})
    store.close()
    meta = raw_client(tmp_path).get_collection("memories").metadata
    assert "memvault_note:migration:abc" not in meta and meta["memvault_note:other"] == "plain text"
    assert meta["memvault_format"] == 1
    store = open_store(f"chroma://{tmp_path}?collection=memories")
    assert store.journal_get("checkpoint", "migration:abc") == {"cursor": "9"}
    store.close()


def test_records_keep_the_keys_other_chroma_memory_tools_read(tmp_path):
    store = open_store(f"chroma://{tmp_path}?collection=memories")
    store.bind_embedding(SPEC)
    m = Memory(
        content="Alice prefers tabs",
        tags=("prefs", "style"),
        memory_type="fact",
        metadata={"session": "s1", "nested": {"a": 1}},
        embedding=vec(2),
    )
    store.add([m])
    store.close()
    meta = raw_client(tmp_path).get_collection("memories").get(ids=[m.id])["metadatas"][0]
    assert meta["content_hash"] == m.content_hash
    assert meta["tags"] == "prefs,style"
    assert meta["memory_type"] == "fact"
    assert meta["timestamp"] == pytest.approx(m.created_at.timestamp())
    assert meta["created_at_iso"] == m.created_at.isoformat()
    assert meta["meta.session"] == "s1"


def test_twins_written_at_once_settle_on_the_first(tmp_path):
    """Two writers that both passed the duplicate check: the later record gives way."""
    url = f"chroma://{tmp_path}?collection=memories"
    first, second = open_store(url), open_store(url)
    for s in (first, second):
        s.bind_embedding(SPEC)
    original = Memory(content="same words", embedding=vec(3))
    twin = Memory(content="same words", embedding=vec(4))
    chunk = Memory(content="words", parent_id=twin.id, chunk_index=0, embedding=vec(5))
    first.add([original])
    second._writer.write([(twin, twin.embedding), (chunk, chunk.embedding)])
    results = second._writer.settle([(twin, True), (chunk, True)])
    assert results[0] == (original, False) and results[1][1] is False
    assert second.count(Filter.build(include_chunks=True)) == 1
    assert second.get_many([twin.id, chunk.id]) == []
    first.close()
    second.close()


def test_text_search_folds_case_and_plurals(tmp_path):
    store = open_store(f"chroma://{tmp_path}?collection=memories")
    store.bind_embedding(SPEC)
    store.add(
        [
            Memory(content="Product code XK9000 ships Monday", embedding=vec(6)),
            Memory(content="Stories about widgets", embedding=vec(7)),
            Memory(content="unrelated", embedding=vec(8)),
        ]
    )

    def best(terms: list[str]) -> list[str]:
        return [m.content for m in found(store, store.text_search(terms, 5, Filter.build()))]

    assert best(["xk9000"]) == ["Product code XK9000 ships Monday"]
    assert best(["story", "widget"]) == ["Stories about widgets"]
    store.close()


def test_unreachable_server_is_a_clear_error():
    port = free_port()
    with pytest.raises(StoreUnavailable) as err:
        ChromaStore(parse_chroma_url(f"chroma+http://127.0.0.1:{port}?collection=memories"))
    assert f"127.0.0.1:{port}" in err.value.message and "unreachable" in err.value.message


def test_health_says_writes_fail_when_the_servers_disk_is_full(tmp_path):
    with tmpfs(tmp_path / "small", "48m") as mount, running_chroma(mount / "data") as server:
        store = open_store(f"{server.url}?collection=full")
        store.bind_embedding(SPEC)
        store.add([Memory(content="before the disk filled", embedding=vec(1))])
        assert "problems" not in store.health()
        fill_disk(mount)
        with pytest.raises(StoreUnavailable):
            for i in range(2_000):
                store.add([Memory(content=f"filler {i} " + "x" * 4000, embedding=vec(10 + i))])
        report = store.health()  # reads still work
        assert report["records"] >= 1
        [problem] = report["problems"]
        assert problem.startswith("writes fail: ") and server.url.split("//")[1] in problem
        store.close()
