"""Data other tools wrote, built here in their layouts with their clients, then migrated."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import apsw
import chromadb
import numpy as np
import pytest
import sqlite_vec
from chromadb.config import Settings
from typer.testing import CliRunner

from memvault.cli.app import app
from memvault.errors import InvalidInput
from memvault.model import Filter, content_hash
from memvault.stores import open_store
from memvault.transfer.collection_copy import is_collection_copy
from memvault.transfer.migrate import migrate
from memvault.transfer.sources import open_source

from .transfer_data import SPEC, unit

T0 = datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=UTC).timestamp()


def mcp_hash(content: str, metadata: dict | None = None) -> str:
    """mcp-memory-service's content hash: lower-cased content plus sorted metadata."""
    text = content.strip().lower()
    if metadata:
        text += json.dumps(metadata, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def build_chroma_collection(path) -> None:
    client = chromadb.PersistentClient(
        path=str(path), settings=Settings(anonymized_telemetry=False)
    )
    col = client.create_collection(
        "memory_collection",
        embedding_function=None,
        metadata={"hnsw:space": "cosine", "hnsw:construction_ef": 200, "hnsw:M": 16},
    )
    current = "Alice prefers tabs over spaces"
    col.add(
        ids=[
            mcp_hash(current),
            mcp_hash("Old style memory"),
            "mem-001",
            "mem-002",
            "dup-of-first",
            "broken",
        ],
        embeddings=[unit(i).tolist() for i in range(6)],
        documents=[current, "Old style memory", "Hand-made note", "Bare record", current, ""],
        metadatas=[
            {
                "content_hash": mcp_hash(current),
                "memory_type": "preference",
                "tags": "prefs,style",
                "timestamp": T0,
                "created_at": T0,
                "created_at_iso": "2024-05-01T10:00:00.250000Z",
                "updated_at": T0 + 60,
                "updated_at_iso": "2024-05-01T10:01:00.250000Z",
                "source": "claude",
            },
            {
                "content_hash": mcp_hash("Old style memory"),
                "type": "fact",
                "tags": '["legacy", "json"]',
                "timestamp_float": T0 - 86400,
                "timestamp_str": "2024-04-30T10:00:00.250000",
            },
            {"tags": ["p", "q"], "created_at": "2024-05-02T08:00:00Z", "project": "x"},
            None,
            {"content_hash": "whatever", "tags": "dup"},
            {"tags": "broken"},
        ],
    )


def test_a_chroma_collection_of_another_tool_migrates_as_is(tmp_path, settings):
    build_chroma_collection(tmp_path / "chroma")
    client = chromadb.PersistentClient(
        path=str(tmp_path / "chroma"), settings=Settings(anonymized_telemetry=False)
    )
    before = client.get_collection("memory_collection", embedding_function=None).get(
        include=["documents", "metadatas", "embeddings"]
    )

    report = migrate(
        f"chroma://{tmp_path / 'chroma'}", f"sqlite://{tmp_path / 'out.db'}", settings=settings
    )
    assert (report.moved, report.skipped, report.failed) == (4, 1, 1)
    assert report.failures == [("broken", "content is missing or empty")]
    assert not report.ok and report.verification.ok
    assert report.vectors == "copied (all-MiniLM-L6-v2)"

    out = open_store(f"sqlite://{tmp_path / 'out.db'}")
    assert out.embedding_spec() == SPEC
    by_content = {m.content: m for m in out.query(Filter.build(), limit=10).memories}
    first = by_content["Alice prefers tabs over spaces"]
    assert first.tags == ("prefs", "style") and first.memory_type == "preference"
    assert first.created_at.timestamp() == pytest.approx(T0)
    assert first.updated_at.timestamp() == pytest.approx(T0 + 60)
    assert first.content_hash == content_hash(first.content)
    assert first.metadata == {"source": "claude", "legacy_content_hash": mcp_hash(first.content)}
    assert first.id != mcp_hash(first.content)  # hash-like ids become stable UUIDs
    old = by_content["Old style memory"]
    assert old.tags == ("json", "legacy") and old.memory_type == "fact"
    assert old.created_at.timestamp() == pytest.approx(T0 - 86400)
    hand = by_content["Hand-made note"]
    assert hand.id == "mem-001" and hand.tags == ("p", "q")
    assert hand.metadata == {"project": "x"}
    assert hand.created_at == datetime(2024, 5, 2, 8, tzinfo=UTC)
    assert by_content["Bare record"].memory_type == "note"
    out.close()

    after = client.get_collection("memory_collection", embedding_function=None).get(
        include=["documents", "metadatas", "embeddings"]
    )
    assert after["ids"] == before["ids"] and after["metadatas"] == before["metadatas"]
    assert (after["embeddings"] == before["embeddings"]).all()
    assert "memvault_format" not in (
        client.get_collection("memory_collection", embedding_function=None).metadata or {}
    )

    again = migrate(
        f"chroma://{tmp_path / 'chroma'}?namespace=alice",
        f"sqlite://{tmp_path / 'alice.db'}",
        settings=settings,
    )
    assert again.moved == 4 and again.verification.ok
    alice = open_store(f"sqlite://{tmp_path / 'alice.db'}")
    assert alice.count(Filter.build(namespace="alice")) == 4
    alice.close()


def build_mcp_sqlite(path, *, empty: bool = False) -> None:
    """The schema mcp-memory-service's sqlite_vec backend creates, filled by plain SQL
    (unless ``empty``)."""
    conn = apsw.Connection(str(path))
    conn.enable_load_extension(True)
    conn.load_extension(sqlite_vec.loadable_path())
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("""
        CREATE TABLE metadata (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE memories (
            id INTEGER PRIMARY KEY AUTOINCREMENT, content_hash TEXT UNIQUE NOT NULL,
            content TEXT NOT NULL, tags TEXT, memory_type TEXT, metadata TEXT,
            created_at REAL, updated_at REAL, created_at_iso TEXT, updated_at_iso TEXT,
            deleted_at REAL DEFAULT NULL);
        CREATE VIRTUAL TABLE memory_embeddings USING vec0(
            content_embedding FLOAT[384] distance_metric=cosine);
        INSERT INTO metadata VALUES ('distance_metric', 'cosine');
    """)
    rows = [
        ("Deploys happen on Tuesdays", "ops,deploy", "decision", {"project": "web"}, T0, None),
        ("Bob's birthday is in June", '["people"]', None, None, T0 + 10, None),
        ("Forgotten memory", "old", "note", {}, T0 + 20, T0 + 30),
        ("Use ruff for linting", "", "fact", {"confidence": 0.9}, T0 + 40, None),
    ]
    for i, (content, tags, mtype, meta, created, deleted) in enumerate(
        [] if empty else rows, start=1
    ):
        conn.execute(
            "INSERT INTO memories (content_hash, content, tags, memory_type, metadata, "
            "created_at, updated_at, created_at_iso, updated_at_iso, deleted_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                mcp_hash(content, meta),
                content,
                tags,
                mtype,
                json.dumps(meta) if meta is not None else None,
                created,
                created,
                datetime.fromtimestamp(created, UTC).isoformat(),
                datetime.fromtimestamp(created, UTC).isoformat(),
                deleted,
            ),
        )
        conn.execute(
            "INSERT INTO memory_embeddings (rowid, content_embedding) VALUES (?, ?)",
            (i, unit(100 + i).tobytes()),
        )
    conn.close()


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_mcp_memory_service_sqlite_file_is_detected_and_read_only(tmp_path, settings):
    db = tmp_path / "sqlite_vec.db"
    build_mcp_sqlite(db)
    before = digest(db)
    source = open_source(f"sqlite://{db}")
    assert source.url.startswith("mcp-memory-service+sqlite://")
    assert source.embedding_spec() == SPEC
    source.close()

    report = migrate(
        f"sqlite://{db}", f"chroma://{tmp_path / 'c'}?collection=mem", settings=settings
    )
    assert report.ok and (report.moved, report.skipped, report.failed) == (3, 0, 0)
    assert digest(db) == before
    conn = apsw.Connection(str(db))
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert "schema_migrations" not in tables

    out = open_store(f"chroma://{tmp_path / 'c'}?collection=mem")
    by_content = {m.content: m for m in out.query(Filter.build(), limit=10).memories}
    assert sorted(by_content) == [
        "Bob's birthday is in June",
        "Deploys happen on Tuesdays",
        "Use ruff for linting",
    ]
    deploy = by_content["Deploys happen on Tuesdays"]
    assert deploy.tags == ("deploy", "ops") and deploy.memory_type == "decision"
    assert deploy.metadata["project"] == "web"
    assert deploy.created_at.timestamp() == pytest.approx(T0)
    assert by_content["Bob's birthday is in June"].tags == ("people",)
    [nearest] = out.vector_search(unit(101), 1, Filter.build())
    assert out.get_many([nearest.id])[0].content == "Deploys happen on Tuesdays"
    assert nearest.score == pytest.approx(1, abs=1e-4)
    out.close()

    named = migrate(
        f"mcp-memory-service+sqlite://{db}?namespace=team",
        f"chroma://{tmp_path / 'c'}?collection=mem",
        settings=settings,
    )
    assert named.moved == 3 and named.verification.ok
    assert digest(db) == before


def test_a_sqlite_file_of_unknown_layout_is_refused_untouched(tmp_path, settings):
    db = tmp_path / "other.db"
    conn = apsw.Connection(str(db))
    conn.execute("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hi')")
    conn.close()
    before = digest(db)
    with pytest.raises(InvalidInput) as err:
        migrate(f"sqlite://{db}", f"sqlite://{tmp_path / 'out.db'}", settings=settings)
    assert "neither a memvault nor an mcp-memory-service" in err.value.message
    assert digest(db) == before


def test_replace_takes_over_another_tools_collection_after_a_backup(tmp_path, settings):
    """The round trip: another tool's collection out to SQLite, tidied there, and back."""
    build_chroma_collection(tmp_path / "chroma")
    original = f"chroma://{tmp_path / 'chroma'}"
    work = f"sqlite://{tmp_path / 'work.db'}"
    assert migrate(original, work, settings=settings).moved == 4
    store = open_store(work)
    [dropped] = [
        m for m in store.query(Filter.build(), limit=10).memories if m.content == "Bare record"
    ]
    store.delete([dropped.id])
    store.close()
    client = chromadb.PersistentClient(
        path=str(tmp_path / "chroma"), settings=Settings(anonymized_telemetry=False)
    )
    before = client.get_collection("memory_collection", embedding_function=None)
    before.delete(ids=["broken"])  # no content: not a memory (see the next test)

    planned = migrate(work, original, replace=True, dry_run=True, settings=settings)
    assert (planned.moved, planned.removed, planned.backup) == (3, 5, None)
    assert before.count() == 5

    report = migrate(work, original, replace=True, settings=settings)
    assert report.ok and (report.moved, report.removed) == (3, 5)
    assert report.left_in_backup == []
    assert is_collection_copy(report.backup)  # every record, as Chroma held it

    after = client.get_collection("memory_collection", embedding_function=None)
    assert after.id == before.id and after.configuration["hnsw"]["space"] == "cosine"
    assert after.metadata["hnsw:M"] == 16
    records = after.get(include=["documents", "metadatas", "embeddings"])
    by_content = dict(zip(records["documents"], records["metadatas"], strict=True))
    assert sorted(by_content) == [
        "Alice prefers tabs over spaces",
        "Hand-made note",
        "Old style memory",
    ]
    alice = by_content["Alice prefers tabs over spaces"]
    assert (alice["tags"], alice["memory_type"]) == ("prefs,style", "preference")
    assert alice["timestamp"] == pytest.approx(T0) and alice["content_hash"]
    assert all(len(v) == 384 for v in records["embeddings"])
    # And memvault reads it as its own store from now on.
    assert open_store(original, create=False).count(Filter(namespace=None)) == 3


def test_replace_takes_over_a_collection_holding_records_that_are_not_memories(tmp_path, settings):
    """Records with an empty or no document cannot become memories: the takeover goes
    ahead, names them, keeps them in its backup, and restore puts the collection back."""
    build_chroma_collection(tmp_path / "chroma")  # "broken" has an empty document
    client = chromadb.PersistentClient(
        path=str(tmp_path / "chroma"), settings=Settings(anonymized_telemetry=False)
    )
    col = client.get_collection("memory_collection", embedding_function=None)
    col.add(ids=["no-document"], embeddings=[unit(7).tolist()], metadatas=[{"tags": "x"}])
    everything = ["documents", "metadatas", "embeddings"]
    before, before_meta = col.get(include=everything), col.metadata
    original = f"chroma://{tmp_path / 'chroma'}"
    work = f"sqlite://{tmp_path / 'work.db'}"
    assert migrate(original, work, settings=settings).moved == 4

    planned = migrate(work, original, replace=True, dry_run=True, settings=settings)
    assert [ident for ident, _ in planned.left_in_backup] == ["broken", "no-document"]
    assert planned.removed == 7 and col.count() == 7

    env = {"MEMVAULT_DATA_DIR": str(settings.data_dir)}
    taken = CliRunner().invoke(app, ["migrate", work, original, "--replace"], env=env)
    assert taken.exit_code == 0, taken.output
    assert "in the backup only: broken: content is missing or empty" in taken.stderr
    assert "in the backup only: no-document: content is missing or empty" in taken.stderr
    [copy] = (settings.data_dir / "backups").glob("*.chroma.jsonl.gz")

    # Plain chromadb reads what memvault wrote, with the keys it wrote itself.
    after = client.get_collection("memory_collection", embedding_function=None)
    records = after.get(include=everything)
    assert sorted(records["documents"]) == [
        "Alice prefers tabs over spaces",
        "Bare record",
        "Hand-made note",
        "Old style memory",
    ]
    assert all(m["content_hash"] and "timestamp" in m for m in records["metadatas"])
    assert after.metadata["hnsw:M"] == 16 and "memvault_format" in after.metadata

    with pytest.raises(InvalidInput) as err:  # not memories: no migration source
        migrate(str(copy), f"sqlite://{tmp_path / 'x.db'}", settings=settings)
    assert "memvault restore" in err.value.message and not (tmp_path / "x.db").exists()
    # The backup holds all seven records; restore puts the collection back as it was.
    refused = CliRunner().invoke(app, ["restore", str(copy), original], env=env)
    assert refused.exit_code != 0 and "--replace" in refused.output
    put_back = CliRunner().invoke(app, ["restore", str(copy), original, "--replace"], env=env)
    assert put_back.exit_code == 0, put_back.output
    again = client.get_collection("memory_collection", embedding_function=None)
    assert again.metadata == before_meta and again.configuration["hnsw"]["space"] == "cosine"
    assert again.configuration["hnsw"]["ef_construction"] == 200
    restored = again.get(ids=before["ids"], include=everything)
    assert restored["ids"] == before["ids"]
    assert restored["documents"] == before["documents"]  # "" and None as they were
    assert restored["metadatas"] == before["metadatas"]
    # Chroma normalizes each vector it is given again: equal up to float32 rounding.
    assert np.abs(restored["embeddings"] - before["embeddings"]).max() < 1e-6
    # memvault's own memories were dumped before the collection was put back.
    dumps = list((settings.data_dir / "backups").glob("*Z.jsonl.gz"))
    assert len(dumps) == 1 and open_source(str(dumps[0])).count(Filter(namespace=None)) == 4
    # Replacing the other tool's collection again copies it first, like a takeover.
    twice = CliRunner().invoke(app, ["restore", str(copy), original, "--replace"], env=env)
    assert twice.exit_code == 0, twice.output
    assert len(list((settings.data_dir / "backups").glob("*.chroma.jsonl.gz"))) == 2
    final = client.get_collection("memory_collection", embedding_function=None)
    assert final.get(ids=before["ids"], include=everything)["metadatas"] == before["metadatas"]
