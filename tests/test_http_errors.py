"""HTTP API failures: every one answers in memvault's error shape, with the status
its error type maps to, and changes nothing (bad bodies, an oversized body, a
locked store, a store of another model, unknown routes).
"""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from memvault.config import Settings
from memvault.model import EmbeddingSpec
from memvault.stores.sqlite.store import SqliteStore
from memvault.vault import Vault

from .http_helpers import API, JSON, assert_error, http_client, total


@pytest.fixture
def small_vault(tmp_path: Path, embedder) -> Vault:
    settings = Settings.from_env(
        {"MEMVAULT_DATA_DIR": str(tmp_path), "MEMVAULT_MAX_CONTENT_BYTES": "100"}
    )
    with Vault.open(f"sqlite://{tmp_path / 'small.db'}", settings=settings, embedder=embedder) as v:
        v.store("already here")
        yield v


BAD_BODIES = [
    (b'{"content": ""}', 422, "content", "invalid_input"),
    (b'{"content": " \\n\\t "}', 422, "content", "invalid_input"),
    (b'{"content": "' + b"x" * 101 + b'"}', 422, "content", "invalid_input"),
    ('{"content": "' + "é" * 51 + '"}', 422, "content", "invalid_input"),  # 102 bytes
    (b'{"content": "caf\xe9"}', 400, "body", "invalid_body"),
    (b'{"content": "nul \\u0000 inside"}', 422, "content", "invalid_input"),
    (b'{"content": "lone \\udc80 surrogate"}', 422, "content", "invalid_input"),
    (b'{"content": 5}', 422, "content", "invalid_input"),
    (b'{"content": ["a"]}', 422, "content", "invalid_input"),
    (b'{"content": "ok", "tags": "prefs"}', 422, "tags", "invalid_input"),
    (b'{"content": "ok", "tags": ["a", 1]}', 422, "tags[1]", "invalid_input"),
    (b'{"content": "ok", "tags": ["\\udc80"]}', 422, "tags", "invalid_input"),
    (b'{"content": "ok", "importance": "high"}', 422, "importance", "invalid_input"),
    (b'{"content": "ok", "importance": 1.5}', 422, "importance", "invalid_input"),
    (b'{"content": "ok", "metadata": [1]}', 422, "metadata", "invalid_input"),
    (b'{"content": "ok", "metadata": {"k": "\\u0000"}}', 422, "metadata", "invalid_input"),
    (b'{"content": "ok", "created_at": "last tuesday"}', 422, "created_at", "invalid_input"),
    (b'{"content": "ok", "colour": "red"}', 422, "colour", "invalid_input"),
    (b'{"content": "ok", "namespace": 3}', 422, "namespace", "invalid_input"),
    (b'{"content": "ok"', 400, "body", "invalid_json"),
    (b"", 422, "body", "invalid_input"),
    (b"[1, 2]", 422, "body", "invalid_input"),
]


@pytest.mark.parametrize(
    ("raw", "status", "field", "code"), BAD_BODIES, ids=[str(i) for i in range(len(BAD_BODIES))]
)
def test_bad_store_bodies_change_nothing(small_vault: Vault, raw, status, field, code):
    client = http_client(small_vault)
    raw = raw.encode() if isinstance(raw, str) else raw
    assert_error(client.post(f"{API}/memories", content=raw, headers=JSON), status, field, code)
    assert total(small_vault) == 1


def test_store_unavailable_is_503(tmp_path: Path, embedder):
    settings = Settings.from_env(
        {"MEMVAULT_DATA_DIR": str(tmp_path), "MEMVAULT_SQLITE_PRAGMAS": "busy_timeout=100"}
    )
    path = tmp_path / "locked.db"
    with Vault.open(f"sqlite://{path}", settings=settings, embedder=embedder) as vault:
        client = http_client(vault)
        locker = apsw.Connection(str(path))
        locker.execute("BEGIN EXCLUSIVE")
        try:
            assert_error(
                client.post(f"{API}/memories", json={"content": "blocked"}),
                503,
                None,
                "store_unavailable",
            )
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert total(vault) == 0
        assert client.post(f"{API}/memories", json={"content": "blocked"}).status_code == 201


def test_incompatible_embedding_is_409(tmp_path: Path, embedder, settings):
    path = tmp_path / "other-model.db"
    store = SqliteStore(path)
    store.bind_embedding(EmbeddingSpec("some-other-model", embedder.spec.dimension))
    store.close()
    with Vault.open(f"sqlite://{path}", settings=settings, embedder=embedder) as vault:
        client = http_client(vault)
        error = assert_error(
            client.post(f"{API}/memories", json={"content": "x"}),
            409,
            "embedding_model",
            "incompatible_embedding",
        )
        assert "some-other-model" in error["message"]


def test_unknown_routes_and_methods_answer_in_the_error_shape(vault: Vault):
    client = http_client(vault)
    assert_error(client.get(f"{API}/nothing-here"), 404, None, "not_found")
    assert_error(client.delete(f"{API}/search"), 405, None, "method_not_allowed")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_body_is_413_and_changes_nothing(vault: Vault, chunked: bool):
    client = http_client(vault)
    body = b'{"content": "' + b"x" * 33_000_000 + b'"}'
    content = (body[i : i + 1_000_000] for i in range(0, len(body), 1_000_000)) if chunked else body
    assert_error(
        client.post(f"{API}/memories", content=content, headers=JSON), 413, "body", "body_too_large"
    )
    assert total(vault) == 0
