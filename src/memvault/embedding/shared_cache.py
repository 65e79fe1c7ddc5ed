"""Query vectors shared by a fleet of servers through Redis (or Valkey).

Behind a load balancer, N servers would each embed a repeated question once;
with ``MEMVAULT_CACHE_URL`` set, the first to embed it stores the vector, and
the others read it (a GET of 1.5 KB, well under a millisecond on a local
network, against several milliseconds of the model). Keys name the model and
the exact query text (hashed, so any text makes a short key); values are the
raw float32 bytes, which any client can read.

The cache only ever saves work: every call is bounded by short timeouts, and
after an error the cache is left alone for ``retry_after`` seconds (a circuit
breaker), so a cache that is down or slow costs a search at most one timeout
per interval, never an error.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time

import numpy as np
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..errors import InvalidInput
from ..model import EmbeddingSpec

log = logging.getLogger(__name__)

TIMEOUT_S = 0.1
RETRY_AFTER_S = 10.0
# Long enough for a repeated question to be repeated; Redis's own eviction
# policy bounds the memory before that.
KEEP_S = 7 * 86_400


class SharedRedis:
    """A Redis client for a cache that only saves work: short timeouts, no retries, and
    a breaker that leaves the cache alone for ``retry_after`` seconds after an error."""

    def __init__(
        self, url: str, *, what: str, timeout: float = TIMEOUT_S, retry_after: float = RETRY_AFTER_S
    ) -> None:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise InvalidInput(
                "cache_url must be a redis://, rediss:// or unix:// URL, got "
                f"{url.split('://')[0]}://...",
                field="cache_url",
            )
        self.what = what
        self.retry_after = retry_after
        self.failures = 0
        # No retries inside the client (it would otherwise retry with backoff):
        # a failed call counts as a miss, and the breaker decides when to try again.
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
        )
        self._down_until = 0.0
        self._lock = threading.Lock()

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            self.failures += 1
            self._down_until = time.monotonic() + self.retry_after
        log.warning(
            "%s cache unavailable, working without it for %.0f s: %s",
            self.what,
            self.retry_after,
            exc,
        )

    def close(self) -> None:
        self._client.close()


class SharedVectors(SharedRedis):
    """Query vectors of one model in a shared Redis. Thread-safe."""

    def __init__(self, url: str, spec: EmbeddingSpec, **options: float) -> None:
        """``options``: SharedRedis's ``timeout`` and ``retry_after``."""
        super().__init__(url, what="query vector", **options)
        self.hits = self.misses = 0
        self._prefix = f"memvault:query-vector:{spec.model}:{spec.dimension}:"
        self._dimension = spec.dimension

    def _key(self, text: str) -> str:
        return self._prefix + hashlib.sha256(text.encode("utf-8")).hexdigest()

    def get(self, text: str) -> np.ndarray | None:
        """The vector stored for ``text``, or None (not stored, or the cache is away)."""
        if not self._available():
            return None
        try:
            raw = self._client.get(self._key(text))
        except redis.RedisError as exc:
            self._failed(exc)
            return None
        if not isinstance(raw, bytes) or len(raw) != 4 * self._dimension:
            self.misses += 1
            return None
        self.hits += 1
        return np.frombuffer(raw, dtype="<f4")

    def put(self, text: str, vector: np.ndarray) -> None:
        if not self._available():
            return
        try:
            self._client.set(self._key(text), np.asarray(vector, dtype="<f4").tobytes(), ex=KEEP_S)
        except redis.RedisError as exc:
            self._failed(exc)
