"""Embedders: the Embedder protocol and the local, offline adapters behind it."""

from __future__ import annotations

from ..config import Settings
from .base import Embedder
from .cache import QueryCache
from .onnx_embedder import OnnxEmbedder
from .sentence import SentenceTransformerEmbedder

__all__ = ["Embedder", "OnnxEmbedder", "QueryCache", "SentenceTransformerEmbedder", "open_embedder"]


def open_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for; nothing is loaded until first use.

    ``embedding_runtime``: ``torch`` (sentence-transformers), ``onnx``,
    ``onnx-int8``, or ``auto`` (the fastest ONNX model that passes the quality gate).
    """
    if settings.embedding_runtime == "torch":
        return SentenceTransformerEmbedder(settings.embedding_model)
    return OnnxEmbedder(
        settings.embedding_model,
        settings.model_cache_dir or settings.data_dir / "models",
        settings.embedding_runtime,
    )
