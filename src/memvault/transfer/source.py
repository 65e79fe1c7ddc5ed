"""What a migration or an export reads from: the ``Source`` protocol.

A ``Source`` is the read-only part of the Store protocol that moving memories
needs. Every memvault store is one; so are the readers in ``peers.py`` for
data other tools wrote (a ChromaDB collection of mcp-memory-service or a
hand-made assistant, an mcp-memory-service SQLite-vec file), and a dump file
(``backup.DumpSource``). ``sources.open_source`` picks the one a URL names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

from ..model import EmbeddingSpec, Filter, Memory

# Everything a store holds: every namespace, chunks and expired memories too.
EVERYTHING = Filter(namespace=None, include_chunks=True, include_expired=True)

MCP_SQLITE_SCHEME = "mcp-memory-service+sqlite"
CHROMA_SCHEMES = ("chroma", "chroma+http", "chroma+https")


@runtime_checkable
class Source(Protocol):
    """Memories to read in a stable, resumable order."""

    url: str

    def embedding_spec(self) -> EmbeddingSpec | None: ...

    def count(self, flt: Filter) -> int: ...

    def scan(
        self,
        flt: Filter,
        *,
        batch_size: int,
        cursor: str | None = None,
        with_embedding: bool = True,
    ) -> Iterator[tuple[list[Memory], str]]: ...

    def identity(self) -> str: ...

    def health(self) -> dict[str, Any]: ...

    def close(self) -> None: ...
