"""memvault's Chroma collection: opening it, and what memvault keeps in its metadata.

A collection memvault writes carries, in the collection's own metadata, a
format marker (so a collection written by another tool is never mistaken for
one of ours), the store's id, and the embedding model its vectors belong to.
A new or empty collection is adopted; one holding records memvault did not
write is refused, with the command that reads it as a migration source (a
migration with ``--replace`` may take it over: ``take_over``).
HNSW parameters fixed at creation are checked against the URL's.

Before the journal existed, migration checkpoints were kept as "notes" in the
collection's metadata too; opening moves any into the journal.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from typing import Any

from ...errors import InvalidInput, NotFound
from ...model import EmbeddingSpec, new_id
from .client import ChromaTarget, chroma_errors, collection_config
from .upkeep import ChromaJournal
from .word_counts import WORDS_SUFFIX

FORMAT_KEY = "memvault_format"
STORE_ID_KEY = "memvault_store_id"
MODEL_KEY = "memvault_embedding_model"
DIMENSION_KEY = "memvault_embedding_dimension"
NOTE_PREFIX = "memvault_note:"


def open_collection(client: Any, target: ChromaTarget, *, create: bool) -> Any:
    """The target's collection, adopted as memvault's, or created if ``create``."""
    from chromadb.errors import NotFoundError

    name, hnsw = target.collection, target.hnsw
    with chroma_errors(target.url):
        try:
            col = client.get_collection(name, embedding_function=None)
        except NotFoundError:
            if not create:
                raise NotFound(
                    f"no collection {name!r} at {target.url} (only commands that write create one)",
                    field="store_url",
                ) from None
            return client.get_or_create_collection(
                name,
                embedding_function=None,
                configuration=collection_config(hnsw),
                metadata={FORMAT_KEY: 1, STORE_ID_KEY: new_id()},
            )
        meta = col.metadata or {}
        if FORMAT_KEY not in meta:
            if col.count():
                raise InvalidInput(
                    f"collection {name!r} at {target.url} holds {col.count()} records that "
                    f"memvault did not write; read it as a migration source instead: "
                    f"memvault migrate '{target.url}' sqlite:///PATH (or replace them, after a "
                    f"backup: memvault migrate SOURCE '{target.url}' --replace)",
                    field="store_url",
                )
            _mark_ours(col)
        _check_hnsw(col, hnsw)
    return col


def take_over(target: ChromaTarget, batch: int = 1000) -> int:
    """Empty a collection another tool wrote and mark it as memvault's; the records removed.

    The caller has backed it up. The collection itself stays (its name, its
    settings, its other metadata), so the tool that wrote it can read what
    memvault writes into it: the records keep the keys such tools read.
    """
    from chromadb.errors import NotFoundError

    client = target.connect()
    try:
        with chroma_errors(target.url):
            col = client.get_collection(target.collection, embedding_function=None)
            removed = 0
            while ids := col.get(limit=batch, include=[])["ids"]:
                col.delete(ids=ids)
                removed += len(ids)
            # Word counts of what it held, if any, would weigh what memvault writes.
            with contextlib.suppress(NotFoundError):
                client.delete_collection(target.collection + WORDS_SUFFIX)
            _mark_ours(col)
        return removed
    finally:
        client.close()


def _mark_ours(col: Any) -> None:
    """Add memvault's format marker and a store id to another tool's collection metadata.

    ``hnsw:space`` is left out of the update: Chroma refuses any update naming
    it, and the distance it chose stays in the collection's configuration.
    """
    meta = {k: v for k, v in (col.metadata or {}).items() if k != "hnsw:space"}
    col.modify(metadata={**meta, FORMAT_KEY: 1, STORE_ID_KEY: new_id()})


def _check_hnsw(col: Any, hnsw: dict[str, int]) -> None:
    with warnings.catch_warnings():
        # chromadb warns about its own legacy config format for collections without an
        # embedding function, which is what memvault wants.
        warnings.simplefilter("ignore", DeprecationWarning)
        current = (col.configuration or {}).get("hnsw") or {}
    for key in ("max_neighbors", "ef_construction"):
        if key in hnsw and current.get(key) != hnsw[key]:
            raise InvalidInput(
                f"collection {col.name!r} was created with {key}={current.get(key)}; "
                f"it is fixed at creation",
                field="store_url",
            )
    if "ef_search" in hnsw and current.get("ef_search") != hnsw["ef_search"]:
        col.modify(configuration={"hnsw": {"ef_search": hnsw["ef_search"]}})


def fresh_metadata(client: Any, target: ChromaTarget) -> dict[str, Any]:
    """The collection's metadata as stored now (another process may have changed it)."""
    with chroma_errors(target.url):
        return dict(
            client.get_collection(target.collection, embedding_function=None).metadata or {}
        )


def read_spec(meta: dict[str, Any] | None) -> EmbeddingSpec | None:
    """The embedding model recorded in a collection's metadata, if any."""
    meta = meta or {}
    if MODEL_KEY in meta and DIMENSION_KEY in meta:
        return EmbeddingSpec(str(meta[MODEL_KEY]), int(meta[DIMENSION_KEY]))
    return None


def record_model(
    client: Any, target: ChromaTarget, col: Any, spec: EmbeddingSpec
) -> EmbeddingSpec | None:
    """Record ``spec`` unless a model is recorded already; the model recorded now.

    Read back after writing: another process may have recorded another model meanwhile.
    """
    meta = fresh_metadata(client, target)
    if read_spec(meta) is None:
        with chroma_errors(target.url):
            col.modify(metadata={**meta, MODEL_KEY: spec.model, DIMENSION_KEY: spec.dimension})
    return read_spec(fresh_metadata(client, target))


def move_notes_to_journal(
    client: Any, target: ChromaTarget, col: Any, journal: ChromaJournal
) -> None:
    """Checkpoints kept as notes become journal records of kind ``checkpoint``.

    A record already in the journal wins (it is newer); a note that is not a
    JSON object was not written by memvault and stays where it is.
    """
    notes: dict[str, dict[str, Any]] = {}
    for name, value in (col.metadata or {}).items():
        if name.startswith(NOTE_PREFIX):
            try:
                parsed = json.loads(value)
            except (TypeError, ValueError):
                continue
            if isinstance(parsed, dict):
                notes[name] = parsed
    if not notes:
        return
    for name, value in notes.items():
        key = name[len(NOTE_PREFIX) :]
        if journal.get("checkpoint", key) is None:
            journal.put("checkpoint", key, value)
    meta = fresh_metadata(client, target)
    with chroma_errors(target.url):
        col.modify(metadata={k: v for k, v in meta.items() if k not in notes})
