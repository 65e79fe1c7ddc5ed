"""API keys: kept hashed in the store, shared by every process that opens it, CLI included."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from memvault.access.keys import KeyRing
from memvault.access.principal import Principal
from memvault.errors import InvalidInput, NotFound, Unauthorized

from .conftest import run_cli
from .key_helpers import expired_key


def test_keys_are_checked_shared_revoked_and_expire_on_every_store(store):
    ring, other = KeyRing(store), KeyRing(store, refresh_seconds=0)  # another server
    assert not other.any_keys()
    key, record = ring.create("laptop", "write", ["bob", "alice", "bob"])
    assert (record.scope, record.namespaces, record.expires_at) == ("write", ["alice", "bob"], None)
    assert other.verify(key) == Principal("write", frozenset({"alice", "bob"}), record.id)
    admin, _ = ring.create("ops", "admin", expires_days=30)
    assert other.verify(admin).namespaces is None
    for wrong in (
        key[:-1] + ("A" if key[-1] != "A" else "B"),
        "mvk_",
        "",
        admin + "x",
        key.replace(record.id, "0" * 12),
    ):
        with pytest.raises(Unauthorized, match="not valid"):
            other.verify(wrong)
    ring.revoke(record.id)
    with pytest.raises(Unauthorized, match="revoked"):
        other.verify(key)
    with pytest.raises(Unauthorized, match="expired"):
        other.verify(expired_key(store))
    assert [r.id for r in other.usable()] == [r.id for r in ring.records() if r.name == "ops"]
    listed = {r["name"]: r for r in (r.public(datetime.now(UTC)) for r in ring.records())}
    assert {n: r["status"] for n, r in listed.items()} == {
        "laptop": "revoked",
        "ops": "active",
        "expired": "expired",
    }
    assert all("sha256" not in r and key not in json.dumps(r) for r in listed.values())


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("", "read", None, None), "name"),
        (("x", "root", None, None), "scope"),
        (("x", "read", [""], None), "namespace"),
        (("x", "read", None, 0), "expires"),
    ],
)
def test_bad_key_requests_name_the_field_and_create_nothing(vault, args, field):
    ring = KeyRing(vault.store_backend)
    with pytest.raises(InvalidInput) as caught:
        ring.create(*args)
    assert caught.value.field == field
    assert ring.records() == []
    with pytest.raises(NotFound):
        ring.revoke("nosuchkey")


def test_cli_prints_the_key_once_and_keeps_only_its_hash(tmp_path):
    db = tmp_path / "keys.db"
    env = {"MEMVAULT_STORE_URL": f"sqlite://{db}"}
    made = run_cli(
        [
            "keys",
            "create",
            "--name",
            "ci",
            "--scope",
            "read",
            "-n",
            "alice",
            "--expires",
            "7",
            "--json",
        ],
        tmp_path,
        **env,
    )
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    key = created["key"]
    assert key.startswith("mvk_") and len(key) > 40
    assert (created["name"], created["scope"], created["namespaces"], created["status"]) == (
        "ci",
        "read",
        ["alice"],
        "active",
    )
    table = run_cli(["keys", "create", "--name", "ops", "--scope", "admin"], tmp_path, **env)
    assert table.returncode == 0 and "mvk_" in table.stdout and "Shown once" in table.stdout

    listed = run_cli(["keys", "list", "--json"], tmp_path, **env)
    keys = json.loads(listed.stdout)["keys"]
    assert sorted(k["name"] for k in keys) == ["ci", "ops"]
    assert key not in listed.stdout and "mvk_" not in listed.stdout
    assert key.encode() not in _store_bytes(db)
    secret = key.split("_", 2)[2]  # the secret may itself hold "_"
    assert secret.encode() not in _store_bytes(db)

    revoked = run_cli(["keys", "revoke", created["id"], "--json"], tmp_path, **env)
    assert json.loads(revoked.stdout)["status"] == "revoked"
    again = json.loads(run_cli(["keys", "list", "--json"], tmp_path, **env).stdout)["keys"]
    assert {k["name"]: k["status"] for k in again} == {"ci": "revoked", "ops": "active"}
    missing = run_cli(["keys", "revoke", "nope", "--json"], tmp_path, **env)
    assert missing.returncode == 3 and json.loads(missing.stderr)["error"]["field"] == "id"
    bad = run_cli(["keys", "create", "--name", "x", "--scope", "owner"], tmp_path, **env)
    assert bad.returncode == 2 and "scope" in bad.stderr
    assert len(json.loads(run_cli(["keys", "list", "--json"], tmp_path, **env).stdout)["keys"]) == 2


def _store_bytes(db: Path) -> bytes:
    """The SQLite file and its journal files, as written."""
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
