"""Memories with every field set, and ways to compare stores, for the transfer tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from memvault.model import EmbeddingSpec, Memory
from memvault.stores import Store, open_store
from memvault.transfer.source import EVERYTHING

from .backends import as_kept

DIM = 384
SPEC = EmbeddingSpec("all-MiniLM-L6-v2", DIM)


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def sample(n: int, seed: int = 0) -> list[Memory]:
    """``n`` top-level memories over three namespaces, every third with two chunks."""
    base = datetime(2024, 1, 1, 8, 0, 0, 123456, tzinfo=UTC)
    out: list[Memory] = []
    for i in range(n):
        created = base + timedelta(hours=i, microseconds=i)
        parent = Memory(
            content=f"memory {seed}-{i}: ünïcode ✓ 🧠 about topic {i % 7}",
            namespace=("alice", "bob", "default")[i % 3],
            tags=tuple(sorted({f"t{i % 5}", "all"})),
            memory_type=("note", "fact", "decision")[i % 3],
            metadata={"i": i, "session": f"s{i % 4}", "nested": {"list": [i, "x", None]}},
            importance=round((i % 10) / 10, 1),
            created_at=created,
            updated_at=created + timedelta(minutes=5),
            last_accessed_at=created + timedelta(days=1) if i % 2 else None,
            expires_at=base - timedelta(days=1) if i % 11 == 5 else None,
            embedding=unit(seed * 1_000_000 + i),
        )
        out.append(parent)
        if i % 3 == 0:
            out += [
                parent.with_changes(
                    id=f"{parent.id}-c{j}",
                    content=f"chunk {j} of {i}",
                    content_hash="",
                    parent_id=parent.id,
                    chunk_index=j,
                    embedding=unit(seed * 1_000_000 + 500_000 + i * 2 + j),
                )
                for j in range(2)
            ]
    return out


def fill(store: Store, memories: list[Memory], batch: int = 500) -> None:
    store.bind_embedding(SPEC)
    for start in range(0, len(memories), batch):
        store.add(memories[start : start + batch])


def filled(url: str, memories: list[Memory]) -> str:
    """Create the store at ``url`` holding ``memories``; return the URL."""
    store = open_store(url)
    fill(store, memories)
    store.close()
    return url


def everything(store: Store) -> dict[str, Memory]:
    """Every memory (chunks and expired ones too) with its vector, by id."""
    return {m.id: m for batch, _ in store.scan(EVERYTHING, batch_size=1000) for m in batch}


def assert_same_memories(expected: list[Memory] | dict[str, Memory], store: Store) -> None:
    want = expected if isinstance(expected, dict) else {m.id: m for m in expected}
    got = everything(store)
    assert sorted(got) == sorted(want)
    for ident, memory in want.items():
        other = got[ident]
        assert other.to_dict() == memory.to_dict(), ident
        assert np.allclose(other.embedding, as_kept(memory.embedding, store), atol=1e-6), ident
