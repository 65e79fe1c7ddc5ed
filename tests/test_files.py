"""Files memvault writes: inside the data directory whatever a client sends, and private.

A namespace never becomes a path: archives are named by the server from a slug
and a hash of it. Stores, dumps, backups and archives are 0600, the directories
memvault makes 0700, and a stricter umask still applies.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from memvault.config import Settings
from memvault.errors import InvalidInput
from memvault.files import create_private, namespace_slug
from memvault.model import Memory
from memvault.transfer.backup import backup
from memvault.transfer.dump import DumpHeader, write_dump
from memvault.vault import Vault

from .conftest import MODEL_CACHE
from .http_helpers import API, assert_error, finished, http_client

ESCAPES = ["../../../x/y", "..", "../archives2", "a/../../b", "x\x00y", "\\..\\w", "n" * 10_000]
# Valid namespaces that would make odd file names if used as they are.
ODD = ["ünï côde", "a b", "a-b", ".hidden", "CON", "-rf", "n" * 128, "a.b", "%2e%2e"]


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def contained(tmp_path: Path, embedder) -> Iterator[tuple[Vault, Path]]:
    """A vault whose data directory (and store) sits two levels inside ``tmp_path``."""
    data = tmp_path / "root" / "data"
    settings = Settings.from_env(
        {"MEMVAULT_DATA_DIR": str(data), "MEMVAULT_MODEL_CACHE_DIR": str(MODEL_CACHE)}
    )
    with Vault.open(settings=settings, embedder=embedder) as vault:
        yield vault, data


def test_nothing_is_written_outside_the_data_directory(contained, tmp_path: Path):
    vault, data = contained
    client = http_client(vault)
    absolute = str(tmp_path / "escape") + "/y"
    for namespace in ODD:
        vault.store(
            f"old note in {namespace}", namespace=namespace, created_at="2020-01-01T00:00:00Z"
        )
    before = files_under(tmp_path)
    for namespace in [*ESCAPES, absolute, "/tmp/memvault-escape/y"]:
        assert_error(
            client.post(
                f"{API}/maintenance/archive", json={"older_than": "1d", "namespace": namespace}
            ),
            422,
            "namespace",
        )
        with pytest.raises(InvalidInput) as err:
            vault.upkeep.archive(older_than="1d", namespace=namespace)
        assert err.value.field == "namespace"
    assert files_under(tmp_path) == before
    for i, namespace in enumerate(ODD):
        if i % 2:
            job = client.post(
                f"{API}/maintenance/archive", json={"older_than": "1d", "namespace": namespace}
            ).json()
            assert finished(client, job)["status"] == "done"
        else:
            assert vault.upkeep.archive(older_than="1d", namespace=namespace) is not None
    written = files_under(tmp_path) - before
    archives = data / "archives"
    assert all(p.parent == archives for p in written), written
    # One file per namespace, named from its slug and hash ("a b" and "a-b" slug alike).
    assert len(written) == len(ODD)
    assert {p.name.rsplit("-", 1)[0] for p in written} == {namespace_slug(n) for n in ODD}
    assert all(len(p.name) <= 90 and p.name[0] not in ".-" for p in written)
    assert not Path("/tmp/memvault-escape").exists()
    assert not (tmp_path / "escape").exists() and not (tmp_path / "x").exists()


def test_stores_backups_and_archives_are_private(tmp_path: Path, embedder):
    data = tmp_path / "fresh" / "data"
    settings = Settings.from_env(
        {"MEMVAULT_DATA_DIR": str(data), "MEMVAULT_MODEL_CACHE_DIR": str(MODEL_CACHE)}
    )
    with Vault.open(settings=settings, embedder=embedder) as vault:
        vault.store("a private thought", created_at="2020-01-01T00:00:00Z")
        vault.upkeep.archive(older_than="1d")
        vault.store("another private thought")
        backup(vault.store_backend, settings)
        store = data / "memories.db"
        # While the store is open, SQLite's side files exist: they are private too.
        assert {p.name for p in data.iterdir()} >= {"memories.db-wal", "memories.db-shm"}
        for path in data.rglob("*"):
            assert mode(path) == (0o700 if path.is_dir() else 0o600), path
    assert mode(tmp_path / "fresh") == 0o700 and mode(store) == 0o600
    assert {p.parent.name for p in data.rglob("*.gz")} == {"archives", "backups"}


def test_a_stricter_umask_still_applies(tmp_path: Path):
    """The modes are given at creation, so a umask that takes more away still does."""
    previous = os.umask(0o277)
    try:
        write_dump(
            tmp_path / "strict.jsonl.gz",
            [Memory("kept under a strict umask")],
            DumpHeader(None, None),
        )
        create_private(tmp_path / "strict.db")
    finally:
        os.umask(previous)
    assert mode(tmp_path / "strict.jsonl.gz") == mode(tmp_path / "strict.db") == 0o400
