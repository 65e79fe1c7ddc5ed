"""Where a migration or an export reads from: any memvault store, or a peer's data as it is.

A ``Source`` is the read-only part of the Store protocol that moving memories
needs. Every memvault store is one; so are the readers in ``transfer/peers.py``
for data other tools wrote (a ChromaDB collection of mcp-memory-service or a
hand-made assistant, an mcp-memory-service SQLite-vec file). Opening a source
never creates or changes anything: a missing file or collection is an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..config import Settings
from ..errors import InvalidInput, NotFound
from ..model import EmbeddingSpec, Filter, Memory
from ..stores import open_store
from ..stores.chroma.client import parse_chroma_url

MCP_SQLITE_SCHEME = "mcp-memory-service+sqlite"


@runtime_checkable
class Source(Protocol):
    """Memories to read in a stable, resumable order."""

    url: str

    def embedding_spec(self) -> EmbeddingSpec | None: ...

    def count(self, flt: Filter) -> int: ...

    def scan(self, flt: Filter, *, batch_size: int, cursor: str | None = None,
             with_embedding: bool = True) -> Iterator[tuple[list[Memory], str]]: ...

    def identity(self) -> str: ...

    def health(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


def open_source(url: str, settings: Settings | None = None) -> Source:
    """A memvault store, a peer reader when the URL names data another tool wrote, or a
    dump when it is the path of a file."""
    from . import peers

    if isinstance(url, str) and "://" not in url and Path(url).expanduser().is_file():
        from .backup import DumpSource

        return DumpSource(Path(url).expanduser())
    if not isinstance(url, str) or "://" not in url:
        raise InvalidInput(f"source URL must look like scheme://..., got {url!r}",
                           field="source_url")
    settings = settings or Settings.from_env()
    scheme = url.split("://", 1)[0].lower()
    if scheme == MCP_SQLITE_SCHEME:
        return peers.McpSqliteSource.from_url(url)
    if scheme == "sqlite":
        path = Path(url.split("://", 1)[1].split("?", 1)[0]).expanduser()
        if not path.is_file():
            raise NotFound(f"no SQLite file at {path}", field="source_url")
        layout = peers.sqlite_layout(path)
        if layout == "mcp":
            return peers.McpSqliteSource.from_url(url)
        if layout is None:
            raise InvalidInput(f"{path} is neither a memvault nor an mcp-memory-service "
                               f"database", field="source_url")
    elif scheme in ("chroma", "chroma+http", "chroma+https"):
        target = parse_chroma_url(url, options=peers.CHROMA_PEER_OPTIONS)
        layout = peers.chroma_layout(target)
        if layout is None:
            raise NotFound(f"no collection {target.collection!r} at {target.url}",
                           field="source_url")
        if layout == "peer":
            return peers.ChromaPeerSource(target)
    return open_store(url, settings)
