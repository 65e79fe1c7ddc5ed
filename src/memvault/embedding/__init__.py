"""Embedders: the Embedder protocol and the local, offline adapters behind it."""

from __future__ import annotations

from ..config import Settings
from .base import Embedder
from .cache import QueryCache
from .sentence import SentenceTransformerEmbedder

__all__ = ["Embedder", "QueryCache", "SentenceTransformerEmbedder", "open_embedder"]


def open_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for; nothing is loaded until first use."""
    return SentenceTransformerEmbedder(settings.embedding_model)
