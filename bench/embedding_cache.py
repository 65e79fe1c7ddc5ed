"""A disk cache of document vectors for benchmark runs.

Embedding ~50k chunks with MiniLM on two shared cores takes the better part of
an hour; the vectors of a text never change for a given model. Benchmarks wrap
the real embedder in ``CachedEmbedder`` so a second ingest (another FTS setup,
another fusion setting, another store backend) costs only the writes. The cache
is keyed by the model, the runtime and the exact text, so a changed chunker,
a different embedded text or another runtime (whose vectors differ slightly)
simply misses and is computed by the real model. Vectors of the reference
runtime (torch) are keyed by model and text alone, as before runtimes existed,
so caches written then stay valid.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from memvault.embedding import Embedder
from memvault.model import EmbeddingSpec


class CachedEmbedder:
    """An Embedder that looks vectors up in a SQLite file before asking the model."""

    def __init__(self, inner: Embedder, path: Path) -> None:
        self.inner = inner
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), timeout=60, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL)"
        )
        self._lock = threading.Lock()
        self.computed = 0
        self.reused = 0

    @property
    def spec(self) -> EmbeddingSpec:
        return self.inner.spec

    @property
    def runtime(self) -> str:
        return self.inner.runtime

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    @property
    def loaded(self) -> bool:
        return bool(getattr(self.inner, "loaded", False))

    def load(self) -> None:
        self.inner.load()

    def _key(self, text: str) -> bytes:
        runtime = self.inner.runtime
        model = self.spec.model if runtime == "torch" else f"{self.spec.model}\0{runtime}"
        return hashlib.sha256(f"{model}\0{text}".encode()).digest()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.inner.load()  # "auto" is a runtime only once loaded; the keys need the real one
        keys = [self._key(t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                part = keys[start : start + 500]
                marks = ",".join("?" * len(part))
                for key, blob in self._db.execute(
                    f"SELECT key, vector FROM vectors WHERE key IN ({marks})", part
                ):
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            text_of = dict(zip(keys, texts, strict=True))
            vectors = self.inner.embed([text_of[k] for k in missing])
            with self._lock, self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                    [(k, v.tobytes()) for k, v in zip(missing, vectors, strict=True)],
                )
            found.update(zip(missing, vectors, strict=True))
        self.computed += len(missing)
        self.reused += len(keys) - len(missing)
        out = np.zeros((len(texts), self.spec.dimension), dtype=np.float32)
        for i, key in enumerate(keys):
            out[i] = found[key]
        return out

    def close(self) -> None:
        self._db.close()
