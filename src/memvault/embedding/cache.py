"""An LRU cache of query vectors: the same question asked again skips the model."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from .base import Embedder


class QueryCache:
    """Wraps an Embedder's single-text path with a bounded LRU and hit/miss counters."""

    def __init__(self, embedder: Embedder, size: int = 1024) -> None:
        self.embedder = embedder
        self.size = size
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

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
        vector = self.embedder.embed([text])[0]
        vector.setflags(write=False)
        with self._lock:
            self._items[text] = vector
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return vector
