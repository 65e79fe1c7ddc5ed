"""Search results a fleet shares through a real ``redis-server``: a repeated search is
answered from the cache, any server's write drops what it could change, and a cache
that is away or paused never fails a search nor serves one that misses a write."""

from __future__ import annotations

import time
from datetime import timedelta

import redis

from memvault.model import utcnow

from .redis_server import RedisServer
from .test_shared_cache import open_vault


def contents(hits) -> list[str]:
    return [h.memory.content for h in hits]


def test_a_repeated_search_is_answered_from_the_cache_until_a_write_changes_it(
    tmp_path, embedder, redis_server
):
    first = open_vault(tmp_path / "fleet.db", embedder, redis_server.url)
    second = open_vault(tmp_path / "fleet.db", embedder, redis_server.url)
    first.store("the standup moved to ten o'clock", namespace="team")
    first.store("the standup is in room four", namespace="other")
    question = f"when is the standup? {tmp_path.name}"

    now = utcnow()  # the moment dates each hit's recency part, kept or not
    ranked = first.search(question, k=5, namespace="team", now=now)
    assert (first.results.hits, first.results.misses) == (0, 1)
    kept = second.search(question, k=5, namespace="team", now=now)
    assert (second.results.hits, second.results.misses) == (1, 0)
    assert [(h.memory, h.score, h.parts) for h in kept] == [
        (h.memory, h.score, h.parts) for h in ranked
    ]
    in_other = second.search(question, k=5, namespace="other")

    # A write to one namespace leaves the results kept for another.
    first.store("the standup notes are in the wiki", namespace="other")
    assert second.search(question, k=5, namespace="team", now=now) == kept
    assert second.results.hits == 2
    assert len(first.search(question, k=5, namespace="other")) == len(in_other) + 1

    # Each kind of write, through either server, is seen by the other's next search.
    added = second.store("standup on friday is cancelled", namespace="team")
    assert "standup on friday is cancelled" in contents(first.search(question, namespace="team"))
    first.search(question, k=5, namespace="team")
    updated = second.update(added.memory.id, namespace="team", tags=["cancelled"])
    assert updated in [h.memory for h in first.search(question, k=5, namespace="team")]
    second.delete(added.memory.id, namespace="team")
    assert added.memory.id not in [h.memory.id for h in first.search(question, namespace="team")]
    archived = second.upkeep.archive(
        namespace="team", older_than=utcnow() + timedelta(days=1), path=tmp_path / "all.jsonl"
    )
    assert archived is not None
    assert first.search(question, k=5, namespace="team") == []
    first.close()
    second.close()


def test_a_write_the_cache_missed_is_announced_before_a_kept_result_is_read(tmp_path, embedder):
    server = RedisServer(tmp_path / "redis").start()
    vault = open_vault(tmp_path / "v.db", embedder, server.url)
    vault.results.retry_after = 0.5
    vault.store("the wifi password is on the fridge")
    question = "where is the wifi password?"
    assert len(vault.search(question)) == 1
    assert len(vault.search(question)) == 1 and vault.results.hits == 1

    # The cache stops answering for a while, keeping what it holds: the write's
    # announcement times out, searches meanwhile run against the store.
    redis.Redis.from_url(server.url).execute_command("CLIENT", "PAUSE", 1500, "ALL")
    vault.store("the guest wifi password is taped under the router")
    assert len(vault.search(question)) == 2
    assert vault.results.failures == 1

    time.sleep(1.5 + vault.results.retry_after)
    assert len(vault.search(question)) == 2  # the old result, still kept, is not read
    assert len(vault.search(question)) == 2 and vault.results.hits == 2

    server.stop()  # gone: searches still answer, from the store
    assert len(vault.search("the fridge")) >= 1
    assert vault.results.failures == 2
    vault.close()
