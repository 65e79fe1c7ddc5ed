"""Export with filters, backup with rotation, restore and its refusals."""

from __future__ import annotations

import gzip
import json

import pytest
from typer.testing import CliRunner

from memvault.cli.app import app
from memvault.errors import Conflict, InvalidInput
from memvault.model import Filter, Memory
from memvault.stores import open_store
from memvault.stores.sqlite.store import SqliteStore
from memvault.transfer.backup import backup, export_dump
from memvault.transfer.dump import read_dump
from memvault.transfer.restore import restore

from .conftest import cli_env
from .transfer_data import assert_same_memories, everything, fill, sample, unit


@pytest.fixture
def filled(tmp_path):
    store = open_store(f"sqlite://{tmp_path / 'memories.db'}")
    memories = sample(30)
    fill(store, memories)
    yield store, memories
    store.close()


@pytest.fixture
def dumped(tmp_path, filled):
    """A dump of the ``filled`` store, and its memories as it keeps them (float16 vectors)."""
    store, _ = filled
    dump = tmp_path / "all.jsonl.gz"
    export_dump(store, dump)
    return dump, everything(store)


def test_export_applies_filters_and_records_them(tmp_path, filled):
    store, memories = filled
    path = tmp_path / "alice.jsonl.gz"
    flt = Filter.build(namespace="alice", tags_any=["t1", "t2"], include_chunks=True)
    count = export_dump(store, path, flt)
    header, got = read_dump(path)
    got = list(got)
    wanted = [
        m
        for m in memories
        if m.namespace == "alice" and {"t1", "t2"} & set(m.tags) and m.expires_at is None
    ]
    assert count == len(got) == header.count > 0
    assert all(m.namespace == "alice" and {"t1", "t2"} & set(m.tags) for m in got)
    assert header.filter == {"namespace": "alice", "tags_any": ["t1", "t2"]}
    assert header.source == store.url
    assert {m.id for m in got} == {m.id for m in wanted}


def test_backup_keeps_the_newest_and_copies_sqlite_online(tmp_path, filled, settings):
    store, memories = filled
    results = [backup(store, settings, keep=2) for _ in range(3)]
    folder = settings.data_dir / "backups"
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 4  # two dumps, two SQLite copies
    assert results[-1].dump.name in names and results[-1].sqlite_copy.name in names
    assert results[0].dump.name not in names
    assert [p.name for p in results[2].removed] == [
        results[0].dump.name,
        results[0].sqlite_copy.name,
    ]
    assert results[-1].count == len(memories)
    copy = SqliteStore(results[-1].sqlite_copy)
    assert_same_memories(memories, copy)
    copy.close()
    with pytest.raises(InvalidInput):
        backup(store, settings, keep=0)


def test_restore_into_an_empty_store(tmp_path, dumped, settings):
    dump, memories = dumped
    report = restore(dump, f"chroma://{tmp_path / 'c'}?collection=restored", settings=settings)
    assert report.ok and report.moved == 30 and report.backup is None
    target = open_store(f"chroma://{tmp_path / 'c'}?collection=restored")
    assert_same_memories(memories, target)
    target.close()


def test_restore_refuses_a_store_with_memories_unless_replacing(tmp_path, dumped, settings):
    dump, memories = dumped
    other = open_store(f"sqlite://{tmp_path / 'other.db'}")
    fill(other, [Memory(content="already here", embedding=unit(1))])
    before = everything(other)
    with pytest.raises(Conflict) as err:
        restore(dump, other, settings=settings)
    assert "--replace" in err.value.message
    assert everything(other).keys() == before.keys()

    report = restore(dump, other, replace=True, settings=settings)
    assert report.ok and report.removed == 1 and report.backup
    _, backed_up = read_dump(report.backup)
    assert [m.content for m in backed_up] == ["already here"]
    assert_same_memories(memories, other)
    other.close()


def test_restore_checks_the_whole_dump_before_touching_the_store(tmp_path, dumped, settings):
    dump, _ = dumped
    lines = gzip.decompress(dump.read_bytes()).decode().splitlines()
    lines[-1] = lines[-1][:40]
    damaged = tmp_path / "damaged.jsonl.gz"
    damaged.write_bytes(gzip.compress("\n".join(lines).encode() + b"\n"))
    target = open_store(f"sqlite://{tmp_path / 'target.db'}")
    fill(target, [Memory(content="keep me", embedding=unit(2))])
    with pytest.raises(InvalidInput) as err:
        restore(damaged, target, replace=True, settings=settings)
    assert f":{len(lines)}:" in err.value.message
    assert [m.content for m in everything(target).values()] == ["keep me"]
    assert not (settings.data_dir / "backups").exists()
    target.close()


@pytest.mark.parametrize("command", ["restore", "import"])
@pytest.mark.parametrize("engine", ["sqlite", "postgresql", "chroma"])
def test_an_empty_dump_restored_or_imported_creates_the_store(
    engine, command, tmp_path, settings, request
):
    """Restoring is a write: a backup of an empty store, loaded at a new URL, makes an
    empty store there, which reads then find."""
    empty = open_store(f"sqlite://{tmp_path / 'empty.db'}")
    dump = backup(empty, settings).dump
    empty.close()
    url = {
        "sqlite": lambda: f"sqlite://{tmp_path / 'new' / 'restored.db'}",
        "postgresql": lambda: request.getfixturevalue("database"),
        "chroma": lambda: f"chroma://{tmp_path / 'chroma'}?collection=restored",
    }[engine]()
    env = cli_env(tmp_path)
    done = CliRunner().invoke(app, [command, str(dump), "--store", url, "--json"], env=env)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["moved"] == 0
    stats = CliRunner().invoke(app, ["stats", "--store", url, "--json"], env=env)
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.stdout)["total"] == 0
    listed = CliRunner().invoke(app, ["list", "--store", url, "--json"], env=env)
    assert listed.exit_code == 0 and json.loads(listed.stdout)["memories"] == []
