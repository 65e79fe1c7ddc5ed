"""Stores on read-only and full file systems, and damaged files: reads keep working where
they can, and every failure says what is wrong (real mounts: the tests run as root)."""

from __future__ import annotations

import json
from pathlib import Path

import apsw
import pytest
from typer.testing import CliRunner, Result

from memvault.cli.app import app
from memvault.errors import StoreUnavailable
from memvault.model import Filter, Memory
from memvault.stores import open_store
from memvault.vault import Vault

from .mounts import immutable, remount_read_only, tmpfs
from .test_sqlite_store import as_float32_store, as_vec0_store
from .transfer_data import fill, sample, unit

EVERY = Filter(namespace=None, include_expired=True)


def invoke(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(
        app, [*args, "--json"], env={"MEMVAULT_DATA_DIR": str(tmp_path / "data")}
    )


def message(result: Result) -> str:
    return json.loads(result.stderr.strip().splitlines()[-1])["error"]["message"]


def filled_store(path: Path, n: int, query: str = "") -> str:
    url = f"sqlite://{path}{query}"
    store = open_store(url)
    fill(store, sample(n))
    store.close()
    return url


def fill_disk(directory: Path) -> None:
    """Write zeros into ``directory`` until its file system has no space left."""
    with open(directory / "filler", "wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass


def reads_but_refuses_writes(tmp_path: Path, url: str, folder: Path, why: str) -> None:
    """Listing, export and migration from the store work; a delete fails saying ``why``;
    health is degraded; nothing new appears in ``folder``."""
    listed = invoke(tmp_path, "list", "--store", url)
    assert listed.exit_code == 0, listed.stderr
    assert len(json.loads(listed.stdout)["memories"]) == 3  # the live ones in "default"
    exported = invoke(tmp_path, "export", str(tmp_path / "out.jsonl.gz"), "--store", url)
    assert exported.exit_code == 0, exported.stderr
    assert json.loads(exported.stdout)["count"] == 20
    moved = invoke(tmp_path, "migrate", url, f"sqlite://{tmp_path / 'copy.db'}")
    assert moved.exit_code == 0, moved.stderr

    some_id = json.loads(listed.stdout)["memories"][0]["id"]
    refused = invoke(tmp_path, "delete", some_id, "--store", url)
    assert refused.exit_code == 4
    assert f"cannot be written: {why}" in message(refused)
    health = invoke(tmp_path, "health", "--store", url)
    assert health.exit_code == 4
    report = json.loads(health.stdout)
    assert report["status"] == "degraded"
    assert any("read-only" in p for p in report["store"]["problems"])
    assert sorted(p.name for p in folder.iterdir()) == ["memories.db"]


def test_a_store_on_a_read_only_file_system_reads_and_exports_but_refuses_writes(tmp_path):
    with tmpfs(tmp_path / "ro", "16m") as mount:
        url = filled_store(mount / "memories.db", 12)
        remount_read_only(mount)
        reads_but_refuses_writes(tmp_path, url, mount, "it is on a read-only file system")


def test_a_store_in_a_read_only_directory_reads_and_exports_but_refuses_writes(tmp_path):
    # The file could be written, but SQLite cannot make the files a WAL database
    # is read through beside it.
    with tmpfs(tmp_path / "mount", "16m") as mount:
        folder = mount / "store"
        folder.mkdir()
        url = filled_store(folder / "memories.db", 12)
        with immutable(folder):
            reads_but_refuses_writes(tmp_path, url, folder, "its directory is read-only")


def test_a_read_only_store_of_an_older_schema_is_read_through_an_upgraded_copy(
    tmp_path, embedder, settings
):
    with tmpfs(tmp_path / "ro", "128m") as mount:
        path = mount / "memories.db"
        # float16, as the stores of that schema were once upgraded: scores compare exactly.
        url = filled_store(path, 12, "?vectors=float16")
        with Vault.open(url, settings=settings, embedder=embedder, create=False) as vault:
            expected = [(h.memory.id, h.score) for h in vault.search("note", k=5)]
        # As memvault wrote it before vectors left vec0 (schema 5), float32 vectors.
        as_float32_store(path)
        as_vec0_store(path)
        written = path.read_bytes()
        remount_read_only(mount)

        with Vault.open(url, settings=settings, embedder=embedder, create=False) as vault:
            assert [(h.memory.id, h.score) for h in vault.search("note", k=5)] == expected
            report = vault.health()
            assert report["status"] == "degraded"
            assert any("older memvault" in p for p in report["store"]["problems"])
            with pytest.raises(StoreUnavailable, match="read-only file system"):
                vault.store_backend.delete([expected[0][0]])
        exported = invoke(tmp_path, "export", url, str(tmp_path / "out.jsonl.gz"))
        assert exported.exit_code == 0, exported.stderr
        assert json.loads(exported.stdout)["count"] == 20
        assert path.read_bytes() == written
        assert sorted(p.name for p in mount.iterdir()) == ["memories.db"]


def damage(path: Path) -> None:
    """Overwrite three whole pages (headers included) of the file with junk."""
    data = bytearray(path.read_bytes())
    page, pages = 4096, len(data) // 4096
    for n in (pages // 3, pages // 2, 2 * pages // 3):
        data[n * page : (n + 1) * page] = b"\xa5" * page
    path.write_bytes(bytes(data))


def test_health_names_damage_in_the_file(tmp_path):
    path = tmp_path / "damaged.db"
    url = filled_store(path, 300)
    assert invoke(tmp_path, "health", "--store", url).exit_code == 0
    damage(path)

    health = invoke(tmp_path, "health", "--store", url)
    assert health.exit_code == 4, health.stdout
    report = json.loads(health.stdout)
    assert report["status"] == "degraded"
    assert any(p.startswith("the file is damaged") for p in report["store"]["problems"])


def damage_table(path: Path, table: str) -> None:
    """Overwrite every page of one table of the file with junk."""
    conn = apsw.Connection(str(path))
    size = conn.execute("PRAGMA page_size").fetchall()[0][0]
    pages = [r[0] for r in conn.execute("SELECT pageno FROM dbstat WHERE name = ?", (table,))]
    conn.close()
    data = bytearray(path.read_bytes())
    for n in pages:  # numbered from 1
        data[(n - 1) * size : n * size] = b"\xa5" * size
    path.write_bytes(bytes(data))


def test_a_search_of_a_damaged_word_index_fails_naming_the_damage(tmp_path, embedder, settings):
    path = tmp_path / "damaged.db"
    url = filled_store(path, 300)
    damage_table(path, "memories_fts_data")

    # The word ranking reads in one transaction, whose end reports the damage again:
    # each search must fail as the store being unavailable, not as a raw SQLite error.
    with Vault.open(url, settings=settings, embedder=embedder, create=False) as vault:
        for _ in range(2):
            with pytest.raises(StoreUnavailable, match="disk image is malformed"):
                vault.search("note", k=5, filter=EVERY)


def test_health_says_when_the_disk_is_full_and_writes_fail(tmp_path, embedder, settings):
    with tmpfs(tmp_path / "small", "16m") as mount:
        url = filled_store(mount / "memories.db", 6)
        with Vault.open(url, settings=settings, embedder=embedder, create=False) as vault:
            assert vault.health()["status"] == "ok"
            fill_disk(mount)
            with pytest.raises(StoreUnavailable):  # the WAL's spare room runs out soon
                for i in range(10_000):
                    vault.store_backend.add(
                        [Memory(content=f"filler {i} " + "x" * 2000, embedding=unit(10_000 + i))]
                    )
            report = vault.health()
            assert report["status"] == "degraded"
            problems = " | ".join(report["store"]["problems"])
            assert "writes fail" in problems and "the disk is full" in problems
            assert vault.count(namespace="alice") == 2  # reads still work

        health = invoke(tmp_path, "health", "--store", url)
        assert health.exit_code == 4 and "the disk is full" in health.stdout


def test_a_closed_store_on_a_disk_that_filled_up_is_read_and_says_the_disk_is_full(tmp_path):
    # Closed cleanly, the store has no shared-memory file, which SQLite cannot
    # make on a full disk: it is read as it stands, and writes say why they fail.
    with tmpfs(tmp_path / "small", "4m") as mount:
        url = filled_store(mount / "memories.db", 6)
        before = invoke(tmp_path, "list", "--store", url).stdout
        fill_disk(mount)
        listed = invoke(tmp_path, "list", "--store", url)
        assert listed.exit_code == 0, message(listed)
        assert json.loads(listed.stdout)["memories"] == json.loads(before)["memories"]
        health = invoke(tmp_path, "health", "--store", url)
        assert health.exit_code == 4 and "the disk is full" in health.stdout, health.stdout
        stored = invoke(tmp_path, "store", "one more", "--store", url)
        assert stored.exit_code == 4 and "the disk is full" in message(stored)


def test_export_and_migrate_to_a_full_disk_fail_clearly_and_leave_nothing(tmp_path):
    url = filled_store(tmp_path / "memories.db", 200)
    with tmpfs(tmp_path / "full", "1m") as mount:
        fill_disk(mount)
        exported = invoke(tmp_path, "export", url, str(mount / "out.jsonl.gz"))
        assert exported.exit_code == 4, exported.stderr
        assert "No space left on device" in message(exported)
        migrated = invoke(tmp_path, "migrate", url, f"sqlite://{mount / 'copy.db'}")
        assert migrated.exit_code == 4, migrated.stderr
        assert "not enough free disk" in message(migrated)
        assert [p.name for p in mount.iterdir()] == ["filler"]
