"""Search results shared by a fleet of servers through Redis, dropped by any write.

With ``MEMVAULT_CACHE_URL`` set, a search's hits are kept in Redis under the
generation of the scope it searched: a counter per namespace, and one for
searches of every namespace. Every write through a server (``AnnouncedWrites``:
add, update, delete, and with them archive, merge, summarize and imports)
increments the counters of the namespaces it touched and the every-namespace
one after it commits and before it returns, so a search that starts after a
write was acknowledged reads a generation no result was kept under yet, on any
server. A result kept under an old generation is never read again; Redis
drops it after ``KEEP_S``.

Only a search whose hits do not depend on the moment it is made is kept: no
recency weight and no time named in the question; a kept hit's recency part is
worked out again for the moment of the search, and a kept result holding a
memory that has expired since is not used.

Like the query vectors, the cache only ever saves work: a call that fails opens
the breaker and the search runs against the store. A write that cannot be
announced is announced before this server reads a kept result again; until then
it reads none. Another server may meanwhile read results that miss that write,
for at most ``KEEP_S``: the one case where a search does not see a committed
write. A write made without a server (the CLI on the database itself) is not
announced either, and is seen once the results kept before it expire.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import redis

from ..embedding.shared_cache import SharedRedis
from ..model import Filter, Hit, Memory, MemoryChanges
from ..stores.base import Store
from .fusion import recency_factor
from .hybrid import SearchSettings
from .timephrase import find_time_range

KEEP_S = 300
EVERY = "*"

# One round trip for a read: the scope's generation, and the result kept under it.
READ = """
local generation = redis.call('GET', KEYS[1]) or '0'
return {generation, redis.call('GET', ARGV[1] .. generation)}
"""


class SharedResults(SharedRedis):
    """Kept search results of one store in a shared Redis. Thread-safe."""

    def __init__(self, url: str, store_id: str, **options: float) -> None:
        """``options``: SharedRedis's ``timeout`` and ``retry_after``."""
        super().__init__(url, what="search result", **options)
        self.hits = self.misses = 0
        self._prefix = f"memvault:results:{store_id}:"
        self._read = self._client.register_script(READ)
        self._unannounced: set[str] = set()

    def _generation(self, scope: str) -> str:
        return f"{self._prefix}generation:{scope}"

    def search(
        self,
        question: tuple[str, int, Filter, SearchSettings, str],
        now: datetime,
        run: Callable[[], list[Hit]],
    ) -> list[Hit]:
        """The hits kept for ``question`` (the query, k, filter, settings and model)
        under the current generation of its scope, else ``run()``'s, then kept."""
        query, _, flt, settings, _ = question
        if settings.recency or (settings.time_boost and find_time_range(query, now)):
            return run()  # hits that depend on the moment
        scope = EVERY if flt.namespace is None else flt.namespace
        digest = hashlib.sha256(json.dumps([scope, *question], default=repr).encode()).hexdigest()
        half_life_days = settings.half_life_days
        result_key = f"{self._prefix}result:{digest}:"
        if not self._announce() or not self._available():
            return run()
        try:
            generation, raw = self._read(keys=[self._generation(scope)], args=[result_key])
        except redis.RedisError as exc:
            self._failed(exc)
            return run()
        if raw is not None:
            kept = [_hit(item, now, half_life_days) for item in json.loads(raw)]
            if not any(
                h.memory.expires_at is not None and h.memory.expires_at <= now for h in kept
            ):
                self.hits += 1
                return kept
        self.misses += 1
        hits = run()
        try:
            value = json.dumps([h.to_dict() for h in hits])
            self._client.set(result_key + generation.decode(), value, ex=KEEP_S)
        except redis.RedisError as exc:
            self._failed(exc)
        return hits

    def written(self, namespaces: Iterable[str]) -> None:
        """Announce writes to ``namespaces``: results kept for them are not read again."""
        with self._lock:
            self._unannounced.update(namespaces)
        self._announce()

    def _announce(self) -> bool:
        """Increment the generations of the namespaces written since the last
        announcement; whether none is left unannounced."""
        with self._lock:
            scopes = sorted(self._unannounced)
            self._unannounced.clear()
        if not scopes:
            return True
        if self._available():
            try:
                with self._client.pipeline(transaction=False) as pipe:
                    for scope in (*scopes, EVERY):
                        pipe.incr(self._generation(scope))
                    pipe.execute()
                return True
            except redis.RedisError as exc:
                self._failed(exc)
        with self._lock:
            self._unannounced.update(scopes)
        return False


def _hit(item: dict[str, Any], now: datetime, half_life_days: float) -> Hit:
    """A kept hit (``Hit.to_dict``), its recency part as of ``now``."""
    fields = dict(item["memory"])
    for name in ("created_at", "updated_at", "last_accessed_at", "expires_at"):
        if fields[name] is not None:
            fields[name] = datetime.fromisoformat(fields[name])
    memory = Memory(**{**fields, "tags": tuple(fields["tags"])})
    parts = {**item["parts"], "recency": recency_factor(memory.created_at, now, half_life_days)}
    return Hit(memory, item["score"], parts, item["chunk_index"])


class AnnouncedWrites:
    """A store whose writes are announced to the shared results once they commit;
    everything else is the store's own."""

    def __init__(self, store: Store, results: SharedResults) -> None:
        self.store = store
        self.results = results

    def add(self, memories: Sequence[Memory]) -> list[tuple[Memory, bool]]:
        stored = self.store.add(memories)
        self.results.written({m.namespace for m in memories})
        return stored

    def update(self, memory_id: str, changes: MemoryChanges) -> Memory:
        memory = self.store.update(memory_id, changes)
        self.results.written({memory.namespace})
        return memory

    def delete(self, memory_ids: Sequence[str]) -> int:
        namespaces = {m.namespace for m in self.store.get_many(memory_ids)}
        try:
            return self.store.delete(memory_ids)
        finally:
            self.results.written(namespaces)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)
