"""The Embedder protocol: turn texts into normalized vectors of one model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ..model import EmbeddingSpec


@runtime_checkable
class Embedder(Protocol):
    """A model that maps texts to unit-length float32 vectors.

    ``spec`` must be known without loading the model, so that commands which
    embed nothing (get, delete, stats, health) start fast.
    """

    @property
    def spec(self) -> EmbeddingSpec: ...

    @property
    def runtime(self) -> str:
        """How the model runs (e.g. "torch"); stores record the model, not this."""
        ...

    @property
    def max_tokens(self) -> int:
        """The model's window; longer texts are truncated by the model, so we chunk."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """An (n, dimension) float32 array of L2-normalized vectors."""
        ...

    def load(self) -> None:
        """Load the model now (it otherwise loads on first use)."""
        ...
