"""Factories for every store kind the conformance suite runs against."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from memvault.model import Candidate, Memory
from memvault.stores import Store, open_store
from memvault.stores.chroma.client import parse_chroma_url
from memvault.stores.chroma.store import ChromaStore
from memvault.stores.postgres.store import PostgresStore
from memvault.stores.sqlite.store import SqliteStore

STORE_KINDS = ["sqlite", "sqlite_int8", "chroma", "chroma_http", "postgres"]


def make_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    if kind == "sqlite":
        return SqliteStore(tmp_path / "store.db")
    if kind == "sqlite_int8":
        return open_store(f"sqlite://{tmp_path / 'store.db'}?vectors=int8")
    if kind == "chroma":
        return ChromaStore(parse_chroma_url(f"chroma://{tmp_path / 'chroma'}?collection=memories"))
    if kind == "chroma_http":
        server = request.getfixturevalue("chroma_server")
        return ChromaStore(parse_chroma_url(f"{server.url}?collection=t-{uuid.uuid4().hex}"))
    if kind == "postgres":
        server = request.getfixturevalue("pg_server")
        name = f"t_{uuid.uuid4().hex}"
        store = PostgresStore(server.create_database(name))
        request.addfinalizer(lambda: server.drop_database(name))
        return store
    raise ValueError(f"unknown store kind {kind}")


def found(store: Store, candidates: list[Candidate]) -> list[Memory]:
    """The memories a store's ranked candidates stand for, in rank order."""
    return store.get_many([c.id for c in candidates])


def as_kept(vector: np.ndarray, store: Store) -> np.ndarray:
    """``vector`` as ``store`` keeps it: SQLite rounds to its precision (float16 or
    int8), the others keep float32."""
    if isinstance(store, SqliteStore):
        return store.precision.values(store.precision.blob(vector), len(vector))[0]
    return vector
