"""Opening stores: reading never creates one, another application's file is never changed,
and one path rule holds for every spelling of a ``sqlite://`` URL in every role."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import anyio
import apsw
import chromadb
import psycopg
import pytest
from chromadb.config import Settings as ChromaSettings
from typer.testing import CliRunner, Result

from memvault.cli.app import app
from memvault.errors import InvalidInput, NotFound
from memvault.model import Filter
from memvault.stores import open_store
from memvault.transfer import backup as backups
from memvault.transfer.dump import DumpHeader, write_dump
from memvault.transfer.migrate import migrate
from memvault.transfer.restore import restore
from memvault.transfer.sources import open_source

from .mcp_helpers import refused, stdio_client
from .mounts import tmpfs
from .test_peers import build_mcp_sqlite, digest
from .transfer_data import fill, sample

EVERY = Filter(namespace=None, include_expired=True)


def invoke(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(
        app, [*args, "--json"], env={"MEMVAULT_DATA_DIR": str(tmp_path / "data")}
    )


def error_of(result: Result) -> dict:
    return json.loads(result.stderr.strip().splitlines()[-1])["error"]


def filled_sqlite(path: Path, n: int = 6) -> str:
    url = f"sqlite://{path}"
    store = open_store(url)
    fill(store, sample(n))
    store.close()
    return url


@pytest.mark.parametrize(
    "command",
    [
        ["search", "x"],
        ["health"],
        ["stats"],
        ["list"],
        ["tags"],
        ["get", "some-id"],
        ["backup"],
        ["dedup"],
        ["serve"],
    ],
)
def test_reading_a_store_that_does_not_exist_is_not_found_and_creates_nothing(tmp_path, command):
    missing = tmp_path / "nonexistent" / "dir" / "x.db"
    result = invoke(tmp_path, *command, "--store", f"sqlite://{missing}")
    assert result.exit_code == 3, (result.stdout, result.stderr)
    error = error_of(result)
    assert error["code"] == "not_found" and str(missing) in error["message"]
    assert not (tmp_path / "nonexistent").exists()


def test_export_of_a_store_that_does_not_exist_creates_nothing(tmp_path):
    missing = tmp_path / "x.db"
    result = invoke(tmp_path, "export", f"sqlite://{missing}", str(tmp_path / "out.jsonl.gz"))
    assert result.exit_code == 3 and str(missing) in error_of(result)["message"]
    assert not missing.exists() and not (tmp_path / "out.jsonl.gz").exists()


def test_a_store_that_is_not_found_is_named_by_the_library_too(tmp_path):
    with pytest.raises(NotFound, match=r"x\.db"):
        open_store(f"sqlite://{tmp_path / 'x.db'}", create=False)
    with pytest.raises(NotFound, match="no Chroma data"):
        open_store(f"chroma://{tmp_path / 'c'}?collection=mem", create=False)
    assert list(tmp_path.iterdir()) == []
    open_store(f"chroma://{tmp_path / 'c'}?collection=other").close()
    with pytest.raises(NotFound, match="no collection 'mem'"):
        open_store(f"chroma://{tmp_path / 'c'}?collection=mem", create=False)


def test_another_applications_sqlite_file_is_refused_unchanged(tmp_path):
    other = tmp_path / "app.db"
    conn = apsw.Connection(str(other))
    conn.execute(
        "CREATE TABLE users (name TEXT); CREATE TABLE orders (id INTEGER);"
        "INSERT INTO users VALUES ('ann')"
    )
    conn.close()
    before = digest(other)
    for command in (["stats"], ["store", "hello"], ["search", "x"]):
        result = invoke(tmp_path, *command, "--store", f"sqlite://{other}")
        assert result.exit_code == 2, (result.stdout, result.stderr)
        message = error_of(result)["message"]
        assert "another application's" in message and "orders, users" in message
    with pytest.raises(InvalidInput, match="another application's"):
        open_store(f"sqlite://{other}")
    assert digest(other) == before


def test_a_dry_run_creates_no_sqlite_file_and_no_chroma_collection(
    tmp_path, settings, chroma_server
):
    source = filled_sqlite(tmp_path / "a.db")
    target = tmp_path / "new" / "b.db"
    report = migrate(source, f"sqlite://{target}", dry_run=True, settings=settings)
    assert report.dry_run and (report.source_count, report.moved) == (6, 6)
    assert not (tmp_path / "new").exists()

    local = tmp_path / "chroma"
    report = migrate(
        source, f"chroma://{local}?collection=mem", dry_run=True, settings=settings, replace=True
    )
    assert (report.moved, report.removed) == (6, 0) and not local.exists()

    remote = f"{chroma_server.url}?collection=dry-run-only"
    assert migrate(source, remote, dry_run=True, settings=settings).moved == 6
    client = chromadb.HttpClient(
        host="127.0.0.1",
        port=chroma_server.port,
        settings=ChromaSettings(anonymized_telemetry=False),
    )
    assert not [c for c in client.list_collections() if c.name.startswith("dry-run-only")]


def test_a_refused_migration_leaves_no_store_behind(tmp_path, settings):
    dump = tmp_path / "a.jsonl.gz"
    backups.export_dump(open_source(filled_sqlite(tmp_path / "a.db")), dump)
    with tmpfs(tmp_path / "small", "1m") as small:
        result = invoke(tmp_path, "import", str(dump), f"sqlite://{small / 'new.db'}")
        assert result.exit_code == 4, (result.stdout, result.stderr)
        assert "not enough free disk" in error_of(result)["message"]
        assert list(small.iterdir()) == []


NEW_STORES = {
    "sqlite": lambda new: f"sqlite://{new / 'dir' / 'x.db'}",
    "chroma": lambda new: f"chroma://{new / 'chroma'}?collection=mem",
}
LONG = " ".join(f"sentence {i} about something else entirely." for i in range(800))
REFUSED_WRITES = {
    "too many chunks": (["store", LONG], "content"),
    "empty content": (["store", "  "], "content"),
    "bad date": (["store", "x", "--created-at", "not a date"], "created_at"),
    "metadata not an object": (["store", "x", "--metadata", "[1]"], "metadata"),
    "importance out of range": (["store", "x", "--importance", "7"], "importance"),
    "bad namespace": (["store", "x", "-n", "a/b"], "namespace"),
    "bad key scope": (["keys", "create", "--name", "k", "--scope", "root"], "scope"),
    "bad key namespace": (
        ["keys", "create", "--name", "k", "--scope", "read", "-n", ".."],
        "namespace",
    ),
    "import of bad JSON": (["import", "{bad}"], "dump"),
    "restore of a damaged dump": (["restore", "{bad}"], "dump"),
}


@pytest.mark.parametrize("kind", sorted(NEW_STORES))
@pytest.mark.parametrize("case", sorted(REFUSED_WRITES))
def test_a_refused_write_leaves_no_store_behind(tmp_path, kind, case):
    bad = tmp_path / "bad.json"
    bad.write_text("{bad")
    args, field = REFUSED_WRITES[case]
    command = [str(bad) if arg == "{bad}" else arg for arg in args]
    result = CliRunner().invoke(
        app,
        [*command, "--store", NEW_STORES[kind](tmp_path / "new"), "--json"],
        env={"MEMVAULT_DATA_DIR": str(tmp_path / "data"), "MEMVAULT_MAX_CHUNKS": "20"},
    )
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert error_of(result)["field"] == field
    assert not (tmp_path / "new").exists()


def test_a_restore_refused_for_its_options_leaves_no_store_behind(tmp_path, settings):
    dump = tmp_path / "a.jsonl.gz"
    backups.export_dump(open_source(filled_sqlite(tmp_path / "a.db")), dump)
    with pytest.raises(InvalidInput, match="batch_size"):
        restore(dump, f"sqlite://{tmp_path / 'new' / 'b.db'}", settings=settings, batch_size=0)
    assert not (tmp_path / "new").exists()
    report = restore(dump, f"sqlite://{tmp_path / 'new' / 'b.db'}", settings=settings)
    assert report.ok and report.moved == 6


def test_a_migration_that_fits_a_small_disk_is_not_refused(tmp_path, settings):
    # 400 memories make a file of under 1 MB: a 16 MB disk holds them with room to spare.
    source = filled_sqlite(tmp_path / "a.db", 400)
    with tmpfs(tmp_path / "small", "16m") as small:
        report = migrate(source, f"sqlite://{small / 'copy.db'}", settings=settings)
        assert report.moved == 400
        assert report.verification is not None and report.verification.ok


def test_writing_commands_create_the_store(tmp_path, settings):
    source = filled_sqlite(tmp_path / "a.db")
    target = tmp_path / "deep" / "b.db"
    assert migrate(source, f"sqlite://{target}", settings=settings).ok
    assert target.is_file()


SPELLINGS = {
    "three slashes": lambda path: f"sqlite://{path}",
    "four slashes": lambda path: f"sqlite:///{path}",
    "relative": lambda path: f"sqlite://{path.name}",
}


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_one_path_rule_for_every_role(tmp_path, settings, monkeypatch, spelling):
    monkeypatch.chdir(tmp_path)
    url = SPELLINGS[spelling]
    # As a store: written, then opened again for reading.
    store = open_store(url(tmp_path / "store.db"))
    fill(store, sample(6))
    store.close()
    assert (tmp_path / "store.db").is_file()
    reopened = open_store(url(tmp_path / "store.db"), create=False)
    assert reopened.count(EVERY) == 6
    # As a backup's store: the copy and the dump name the file.
    result = backups.backup(reopened, settings)
    assert result.count == 10 and result.sqlite_copy.name.startswith("store-")
    reopened.close()
    # As a migration's source and target.
    report = migrate(url(tmp_path / "store.db"), url(tmp_path / "target.db"), settings=settings)
    assert report.ok and report.moved == 6 and (tmp_path / "target.db").is_file()
    # An mcp-memory-service file as a source.
    build_mcp_sqlite(tmp_path / "sqlite_vec.db")
    peer = open_source(url(tmp_path / "sqlite_vec.db"), settings)
    assert peer.count(EVERY) == 3
    peer.close()
    assert (
        migrate(
            url(tmp_path / "sqlite_vec.db"), url(tmp_path / "target.db"), settings=settings
        ).moved
        == 3
    )


def test_mcp_on_a_store_named_by_store_that_does_not_exist_answers_not_found(tmp_path):
    missing = tmp_path / "typo" / "x.db"

    async def scenario() -> dict:
        async with stdio_client(
            tmp_path, tmp_path / "configured.db", "--store", f"sqlite://{missing}"
        ) as client:
            return await refused(client, "memory_list")

    error = anyio.run(scenario)
    assert error["code"] == "not_found" and str(missing) in error["message"]
    assert not (tmp_path / "typo").exists() and not (tmp_path / "configured.db").exists()


def refused_dump(path: Path) -> Path:
    """A dump whose every memory today's limits refuse at write time (times before 1970)."""
    early = datetime(1960, 5, 1, tzinfo=UTC)
    memories = [m.with_changes(created_at=early, updated_at=early) for m in sample(4)]
    write_dump(path, [m for m in memories if m.parent_id is None], DumpHeader("m", 384))
    return path


def test_an_import_or_restore_that_writes_nothing_leaves_no_store_behind(
    tmp_path, settings, database
):
    dump = refused_dump(tmp_path / "refused.jsonl.gz")
    chroma = tmp_path / "new" / "chroma"
    targets = {
        "sqlite": f"sqlite://{tmp_path / 'new' / 'dir' / 'x.db'}",
        "chroma": f"chroma://{chroma}?collection=mem",
        "postgres": database,
    }
    for kind, url in targets.items():
        for command in ("import", "restore"):
            result = invoke(tmp_path, command, str(dump), url)
            assert result.exit_code == 1, (kind, command, result.stdout, result.stderr)
            report = json.loads(result.stdout)
            assert (report["failed"], report["moved"]) == (4, 0)
            assert report["target_not_created"] is True
            assert "1970" in report["failures"][0][1]
            with pytest.raises(NotFound):
                open_store(url, create=False).close()
    assert not (tmp_path / "new" / "dir").exists()
    with psycopg.connect(database) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables.fetchone() == (0,)
    # One memory it can write, and the store is made.
    sound = sample(1)[0]
    write_dump(tmp_path / "one.jsonl.gz", [sound], DumpHeader("m", 384))
    result = invoke(tmp_path, "import", str(tmp_path / "one.jsonl.gz"), targets["sqlite"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["moved"] == 1 and report["target_not_created"] is False
    store = open_store(targets["sqlite"], create=False)
    assert store.get(sound.id, None).content == sound.content
    store.close()
