"""The query-vector cache a fleet shares through a real ``redis-server``: one server's
embedding serves the others, and a cache that dies slows searches without failing them."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pytest
import redis

from memvault.config import Settings
from memvault.embedding.shared_cache import SharedVectors
from memvault.errors import InvalidInput
from memvault.model import EmbeddingSpec
from memvault.vault import Vault

from .conftest import MODEL_CACHE
from .redis_server import RedisServer


def open_vault(path: Path, embedder, cache_url: str | None) -> Vault:
    settings = Settings.from_env(
        {
            "MEMVAULT_DATA_DIR": str(path.parent / "data"),
            "MEMVAULT_MODEL_CACHE_DIR": str(MODEL_CACHE),
            **({"MEMVAULT_CACHE_URL": cache_url} if cache_url else {}),
        }
    )
    return Vault.open(f"sqlite://{path}", settings=settings, embedder=embedder)


def test_servers_sharing_a_cache_embed_a_question_once(tmp_path, embedder, redis_server):
    first = open_vault(tmp_path / "fleet.db", embedder, redis_server.url)
    second = open_vault(tmp_path / "fleet.db", embedder, redis_server.url)
    first.store("the deploy key rotates every month")
    question = f"when does the deploy key rotate? {tmp_path.name}"

    asked_first = first.search(question, k=1)
    assert (first.queries.shared.hits, first.queries.shared.misses) == (0, 1)
    asked_second = second.search(question, k=2)  # not a kept search result: ranked again
    assert (second.queries.shared.hits, second.queries.shared.misses) == (1, 0)
    assert [h.memory.id for h in asked_second] == [h.memory.id for h in asked_first]
    assert np.array_equal(second.queries.vector(question), first.queries.vector(question))

    # What is stored is the vector's float32 bytes, under the model's name and the text.
    raw = [
        redis.Redis.from_url(redis_server.url).get(key)
        for key in redis.Redis.from_url(redis_server.url).scan_iter(
            f"memvault:query-vector:{embedder.spec.model}:*"
        )
    ]
    assert any(
        np.array_equal(np.frombuffer(r, dtype="<f4"), first.queries.vector(question)) for r in raw
    )
    other_model = SharedVectors(
        redis_server.url, dataclasses.replace(embedder.spec, model="another-model")
    )
    assert other_model.get(question) is None
    other_model.close()
    first.close()
    second.close()


def test_without_a_cache_url_each_process_keeps_its_own(tmp_path, embedder):
    vault = open_vault(tmp_path / "alone.db", embedder, None)
    vault.store("a note")
    vault.search("a question", k=1)
    vault.search("a question", k=1)
    assert vault.queries.shared is None
    assert (vault.queries.misses, vault.queries.hits) == (1, 1)
    vault.close()


def test_a_cache_url_that_is_not_redis_is_refused(tmp_path, embedder):
    with pytest.raises(InvalidInput) as refused:
        open_vault(tmp_path / "refused.db", embedder, "http://cache.example:6379")
    assert refused.value.field == "cache_url"


def test_a_cache_that_dies_slows_searches_but_never_fails_them(tmp_path, embedder):
    server = RedisServer(tmp_path / "redis").start()
    vault = open_vault(tmp_path / "v.db", embedder, server.url)
    vault.store("the office wifi password is on the fridge")
    shared = vault.queries.shared
    # Long enough for the three searches below to fall inside it on a loaded machine.
    shared.retry_after = 3.0
    assert vault.search("wifi password", k=1)
    server.stop()

    # Down: the first search after the crash notices, the next ones do not even try.
    for question in ("where is the wifi password?", "fridge", "office wifi"):
        assert vault.search(question, k=1)[0].memory.content.startswith("the office wifi")
    assert shared.failures == 1

    server.start()  # back, empty, on the same port
    time.sleep(shared.retry_after)
    vault.search("what is on the fridge?", k=1)
    reader = SharedVectors(server.url, EmbeddingSpec(embedder.spec.model, embedder.spec.dimension))
    assert np.array_equal(
        reader.get("what is on the fridge?"), vault.queries.vector("what is on the fridge?")
    )
    assert shared.failures == 1
    reader.close()
    vault.close()
    server.stop()
