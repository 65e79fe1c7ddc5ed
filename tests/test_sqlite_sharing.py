"""One SQLite file shared by several handles (as by several ``memvault mcp`` processes)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import apsw
import numpy as np
import pytest

from memvault.errors import StoreUnavailable
from memvault.model import EmbeddingSpec, Filter, Memory
from memvault.stores.sqlite.database import SqliteDatabase
from memvault.stores.sqlite.store import SqliteStore

from .backends import found
from .conftest import cli_env


def test_handle_opened_on_an_empty_store_sees_vectors_written_by_another(tmp_path: Path):
    # Claude Desktop's server opens the new store first; Claude Code's stores into it.
    reader = SqliteStore(tmp_path / "shared.db")
    writer = SqliteStore(tmp_path / "shared.db")
    try:
        writer.bind_embedding(EmbeddingSpec("model-x", 4))
        vector = np.array([1, 0, 0, 0], dtype=np.float32)
        writer.add([Memory(content="written by the other process", embedding=vector)])

        nearest = reader.vector_search(vector, 5, Filter())
        assert [m.content for m in found(reader, nearest)] == ["written by the other process"]
        assert reader.embedding_spec() == EmbeddingSpec("model-x", 4)
        attached = reader.get_many([nearest[0].id], with_embedding=True)[0]
        assert np.allclose(attached.embedding, vector)
    finally:
        reader.close()
        writer.close()


def test_file_that_is_not_a_database_is_store_unavailable(tmp_path: Path):
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(StoreUnavailable, match=r"garbage\.db"):
        SqliteStore(path)


def test_directory_in_place_of_the_file_is_store_unavailable(tmp_path: Path):
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreUnavailable, match=r"dir\.db"):
        SqliteStore(tmp_path / "dir.db")


def _held_while_opening(path: Path, lock: str) -> SqliteDatabase:
    """Open ``path`` as a store while another connection holds ``lock`` on it (a
    process setting the file up), released a moment later from another thread."""
    other = apsw.Connection(str(path))
    other.execute("PRAGMA user_version=1")  # the file has a header, and no tables yet
    other.execute(lock)
    release = threading.Timer(0.3, other.execute, ("ROLLBACK",))
    release.start()
    try:
        return SqliteDatabase(path)
    finally:
        release.join()
        other.close()


@pytest.mark.parametrize(
    "lock",
    [
        # About to write it: turning the file to WAL needs it alone, and SQLite
        # answers "locked" at once instead of waiting (two processes doing so).
        "BEGIN IMMEDIATE; PRAGMA user_version=2",
        # Writing it: even reading what the file holds has to wait.
        "BEGIN EXCLUSIVE; PRAGMA user_version=2",
    ],
)
def test_opening_a_new_file_waits_for_another_process_setting_it_up(tmp_path: Path, lock: str):
    db = _held_while_opening(tmp_path / "new.db", lock)
    try:
        assert db.scalar("PRAGMA journal_mode") == "wal"
        assert db.meta("store_id")
    finally:
        db.close()


# Opens each path it is given on stdin as a store, and says how that went.
OPENER = """
import sys
from pathlib import Path
from memvault.stores.sqlite.store import SqliteStore
print("ready", flush=True)
for line in sys.stdin:
    try:
        SqliteStore(Path(line.strip())).close()
        print("ok", flush=True)
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", flush=True)
"""


def test_processes_creating_one_new_file_at_once_all_open_it(tmp_path: Path):
    # Each round, six processes are given the same new path at once.
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER],
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=cli_env(tmp_path),
        )
        for _ in range(6)
    ]
    try:
        assert [p.stdout.readline() for p in openers] == ["ready\n"] * 6
        failures = []
        for round_ in range(30):
            for opener in openers:
                opener.stdin.write(f"{tmp_path / f'new-{round_}.db'}\n")
                opener.stdin.flush()
            answers = [opener.stdout.readline().strip() for opener in openers]
            failures += [answer for answer in answers if answer != "ok"]
        assert failures == []
    finally:
        for opener in openers:
            opener.stdin.close()
            opener.wait(timeout=60)
