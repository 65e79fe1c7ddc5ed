"""A collection's records exactly as Chroma holds them, read out and written back.

A collection another tool wrote is backed up this way before memvault takes
it over: every record (id, document, metadata, vector), whatever it holds,
even one with no document that memvault could not read as a memory, plus the
collection's own metadata and HNSW settings. Writing them back makes the
collection again as the other tool left it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .client import ChromaTarget, chroma_errors
from .scan import scan_records

# The HNSW settings a collection is created with; the rest of its configuration follows.
_HNSW = ("space", "max_neighbors", "ef_construction", "ef_search")


def describe(target: ChromaTarget) -> dict[str, Any]:
    """The collection's own ``metadata`` and ``hnsw`` settings, as it is created with them."""
    client = target.connect()
    try:
        with chroma_errors(target.url):
            col = client.get_collection(target.collection, embedding_function=None)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                hnsw = (col.configuration or {}).get("hnsw") or {}
            return {
                "metadata": dict(col.metadata or {}),
                "hnsw": {k: hnsw[k] for k in _HNSW if hnsw.get(k) is not None},
            }
    finally:
        client.close()


def count(target: ChromaTarget) -> int:
    """How many records the collection holds."""
    client = target.connect()
    try:
        with chroma_errors(target.url):
            return int(client.get_collection(target.collection, embedding_function=None).count())
    finally:
        client.close()


def read_records(target: ChromaTarget, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Every record: ``id``, ``document`` and ``metadata`` (None when absent), ``embedding``."""
    client = target.connect()
    try:
        with chroma_errors(target.url):
            col = client.get_collection(target.collection, embedding_function=None)
            include = ["documents", "metadatas", "embeddings"]
            for res, _ in scan_records(col, None, batch, None, include):
                for i, rid in enumerate(res["ids"]):
                    yield {
                        "id": rid,
                        "document": res["documents"][i],
                        "metadata": res["metadatas"][i],
                        "embedding": np.asarray(res["embeddings"][i], dtype=np.float32),
                    }
    finally:
        client.close()


def write_collection(
    target: ChromaTarget,
    description: dict[str, Any],
    records: Iterable[dict[str, Any]],
    batch: int = 1000,
) -> tuple[int, int]:
    """Make the collection hold exactly ``records``, with the metadata and settings
    ``description`` gives; how many records it held before, and how many it holds now.

    The collection is dropped and created again (with the same name): Chroma
    can change a collection's metadata but not empty it, nor set its distance.
    Its records are deleted first: Chroma 1.5 leaves the list-valued metadata of
    a dropped collection's records behind, and hands it to the records added next.
    """
    from chromadb.errors import NotFoundError

    client = target.connect()
    try:
        with chroma_errors(target.url):
            removed = 0
            try:
                old = client.get_collection(target.collection, embedding_function=None)
                while ids := old.get(limit=batch, include=[])["ids"]:
                    old.delete(ids=ids)
                    removed += len(ids)
                client.delete_collection(target.collection)
            except NotFoundError:
                pass
            col = client.create_collection(
                target.collection,
                embedding_function=None,
                configuration={"hnsw": description["hnsw"]},
                metadata=description["metadata"] or None,
            )
            written, pending = 0, []
            for record in records:
                pending.append(record)
                if len(pending) >= batch:
                    written += _add(col, pending)
                    pending = []
            written += _add(col, pending)
        return removed, written
    finally:
        client.close()


def _add(col: Any, records: list[dict[str, Any]]) -> int:
    if records:
        col.add(
            ids=[r["id"] for r in records],
            embeddings=[r["embedding"] for r in records],
            documents=[r["document"] for r in records],
            metadatas=[r["metadata"] for r in records],
        )
    return len(records)
