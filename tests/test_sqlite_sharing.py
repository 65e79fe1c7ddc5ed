"""One SQLite file shared by several handles (as by several ``memvault mcp`` processes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memvault.errors import StoreUnavailable
from memvault.model import EmbeddingSpec, Filter, Memory
from memvault.stores.sqlite.store import SqliteStore

from .backends import found


def test_handle_opened_on_an_empty_store_sees_vectors_written_by_another(tmp_path: Path):
    # Claude Desktop's server opens the new store first; Claude Code's stores into it.
    reader = SqliteStore(tmp_path / "shared.db")
    writer = SqliteStore(tmp_path / "shared.db")
    try:
        writer.bind_embedding(EmbeddingSpec("model-x", 4))
        vector = np.array([1, 0, 0, 0], dtype=np.float32)
        writer.add([Memory(content="written by the other process", embedding=vector)])

        nearest = reader.vector_search(vector, 5, Filter())
        assert [m.content for m in found(reader, nearest)] == ["written by the other process"]
        assert reader.embedding_spec() == EmbeddingSpec("model-x", 4)
        attached = reader.get_many([nearest[0].id], with_embedding=True)[0]
        assert np.allclose(attached.embedding, vector)
    finally:
        reader.close()
        writer.close()


def test_file_that_is_not_a_database_is_store_unavailable(tmp_path: Path):
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(StoreUnavailable, match=r"garbage\.db"):
        SqliteStore(path)


def test_directory_in_place_of_the_file_is_store_unavailable(tmp_path: Path):
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreUnavailable, match=r"dir\.db"):
        SqliteStore(tmp_path / "dir.db")
