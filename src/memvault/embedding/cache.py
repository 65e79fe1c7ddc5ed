"""An LRU cache of query vectors: the same question asked again skips the model.

With a fleet's shared cache (``shared_cache``) behind it, a question this
process has not seen is looked up there before the model runs, and what the
model computes is stored there for the other servers.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np

from ..config import Settings
from .base import Embedder

if TYPE_CHECKING:  # the Redis client is imported only by a server configured to use it
    from .shared_cache import SharedVectors


class QueryCache:
    """Wraps an Embedder's single-text path with a bounded LRU and hit/miss counters."""

    def __init__(
        self, embedder: Embedder, size: int = 1024, shared: SharedVectors | None = None
    ) -> None:
        self.embedder = embedder
        self.size = size
        self.shared = shared
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def for_settings(cls, embedder: Embedder, settings: Settings) -> QueryCache:
        """The cache the settings ask for: its size, and the fleet's shared cache if set."""
        shared = None
        if settings.cache_url:
            from .shared_cache import SharedVectors  # imports the Redis client

            shared = SharedVectors(settings.cache_url, embedder.spec)
        return cls(embedder, settings.query_cache_size, shared)

    def __contains__(self, text: object) -> bool:
        """Whether ``text``'s vector is held (a glance: it counts as neither hit nor miss)."""
        with self._lock:
            return text in self._items

    def vector(self, text: str) -> np.ndarray:
        with self._lock:
            cached = self._items.get(text)
            if cached is not None:
                self._items.move_to_end(text)
                self.hits += 1
                return cached
            self.misses += 1
        vector = self.shared.get(text) if self.shared is not None else None
        if vector is None:
            vector = self.embedder.embed([text])[0]
            if self.shared is not None:
                self.shared.put(text, vector)
        vector.setflags(write=False)
        with self._lock:
            self._items[text] = vector
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return vector
