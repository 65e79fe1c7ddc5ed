"""Interrupted migrations: killed with SIGKILL half-way, or cut off from a remote server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import apsw

from memvault.errors import StoreUnavailable
from memvault.model import Filter
from memvault.stores import open_store
from memvault.transfer.migrate import migrate

from .chroma_server import ChromaServer
from .conftest import cli_env
from .transfer_data import fill, sample

ALL = Filter(namespace=None, include_chunks=True, include_expired=True)


def checkpoint_cursor(db) -> str | None:
    """The cursor of the checkpoint a running migration keeps in a SQLite target."""
    if not db.exists():
        return None
    conn = apsw.Connection(
        f"file:{db}?mode=ro", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI
    )
    try:
        conn.setbusytimeout(5000)
        rows = conn.execute(
            "SELECT value FROM journal WHERE kind = 'checkpoint' AND key LIKE 'migration:%'"
        ).fetchall()
    except apsw.SQLError:
        return None
    finally:
        conn.close()
    return json.loads(rows[0][0])["cursor"] if rows else None


def kill_after_a_checkpoint(script: str, target, tmp_path) -> None:
    """Run ``script`` (a migration into the SQLite file ``target``) in a process, and
    SIGKILL it once it has checkpointed a batch."""
    child = subprocess.Popen([sys.executable, "-c", script], env=cli_env(tmp_path))
    try:
        deadline = time.monotonic() + 180
        while checkpoint_cursor(target) is None:
            assert child.poll() is None, "the migration ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.1)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL


def test_kill_9_half_way_then_rerun_completes_without_duplicates(tmp_path, settings):
    source, target = tmp_path / "source.db", tmp_path / "target.db"
    store = open_store(f"sqlite://{source}")
    memories = sample(3000)
    fill(store, memories)
    store.close()
    script = (
        f"from memvault.transfer.migrate import migrate\n"
        f"migrate('sqlite://{source}', 'sqlite://{target}', batch_size=100, "
        f"max_rate=400)\n"
    )
    kill_after_a_checkpoint(script, target, tmp_path)
    partial = open_store(f"sqlite://{target}")
    moved_before = partial.count(ALL.with_changes(include_chunks=False))
    partial.close()
    assert 0 < moved_before < 3000

    report = migrate(f"sqlite://{source}", f"sqlite://{target}", settings=settings, batch_size=100)
    assert report.resumed_from is not None
    assert report.ok and report.verification.ok, report.to_dict()
    # "moved" is what this run added; the killed run's count is reported apart.
    assert report.moved == 3000 - moved_before
    assert 0 < report.moved_earlier <= moved_before
    done = open_store(f"sqlite://{target}")
    assert done.count(ALL.with_changes(include_chunks=False)) == 3000
    assert done.count(ALL) == len(memories)
    done.close()


def test_remote_server_stopped_mid_migration_then_resumed(tmp_path, settings, monkeypatch):
    """The server goes away: retries, a clear error, and a rerun finishes the job."""
    monkeypatch.setattr("memvault.transfer.retry.RETRY_FIRST_DELAY", 0.2)
    source = tmp_path / "source.db"
    store = open_store(f"sqlite://{source}")
    memories = sample(1500)
    fill(store, memories)
    store.close()
    server = ChromaServer(tmp_path / "server")
    server.start()
    target = f"{server.url}?collection=remote"
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["report"] = migrate(
                f"sqlite://{source}", target, settings=settings, batch_size=50, max_rate=300
            )
        except StoreUnavailable as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    try:
        worker.start()
        deadline = time.monotonic() + 120
        while _remote_count(target) < 200:
            assert worker.is_alive() and time.monotonic() < deadline
            time.sleep(0.2)
        server.stop()
        worker.join(timeout=300)
        assert not worker.is_alive()
        error = outcome.get("error")
        assert isinstance(error, StoreUnavailable), outcome
        assert (
            "unreachable" in error.message
            and "run the same command again" in error.message
            and f"127.0.0.1:{server.port}" in error.message
        )

        server.start()
        report = migrate(f"sqlite://{source}", target, settings=settings, batch_size=50)
        assert report.resumed_from is not None
        assert report.ok and report.verification.ok, report.to_dict()
        remote = open_store(target)
        assert remote.count(ALL.with_changes(include_chunks=False)) == 1500
        assert remote.count(ALL) == len(memories)
        remote.close()
    finally:
        server.stop()


def _remote_count(url: str) -> int:
    try:
        store = open_store(url)
    except StoreUnavailable:
        return 0
    try:
        return store.count(ALL)
    finally:
        store.close()
