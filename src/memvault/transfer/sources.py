"""Which source a URL names: a memvault store, a peer's data as it is, or a dump file.

Opening a source never creates or changes anything: a missing file or
collection is an error.
"""

from __future__ import annotations

from pathlib import Path

from ..config import Settings
from ..errors import InvalidInput, NotFound, StoreUnavailable
from ..stores import open_store
from ..stores.chroma import parse_chroma_url
from ..stores.sqlite import sqlite_layout, sqlite_path
from . import peers
from .backup import DumpSource
from .collection_copy import is_collection_copy
from .dump import is_dump
from .files import open_files
from .source import CHROMA_SCHEMES, MCP_SQLITE_SCHEME, Source


def open_source(url: str, settings: Settings | None = None, *, split: str = "file") -> Source:
    """A memvault store, a peer reader when the URL names data another tool wrote, or,
    for a path, a dump or the notes, memories or memory graph it holds (``files``;
    ``split`` says how notes are cut, and new memories go into the settings'
    namespace)."""
    if isinstance(url, str) and "://" not in url and Path(url).expanduser().exists():
        path = Path(url).expanduser()
        if path.is_file() and is_collection_copy(path):
            raise InvalidInput(
                f"{path} is a verbatim copy of a Chroma collection, not memories: put it "
                f"back with memvault restore '{path}' chroma:///DIR?collection=NAME --replace",
                field="source_url",
            )
        if path.is_file() and is_dump(path):
            return DumpSource(path)
        settings = settings or Settings.from_env()
        return open_files(path, settings.namespace, settings.max_content_bytes, split)
    if not isinstance(url, str) or "://" not in url:
        raise InvalidInput(
            f"source URL must look like scheme://..., got {url!r}", field="source_url"
        )
    settings = settings or Settings.from_env()
    scheme = url.split("://", 1)[0].lower()
    if scheme == MCP_SQLITE_SCHEME:
        return peers.McpSqliteSource.from_url(url)
    if scheme == "sqlite":
        path = sqlite_path(url, "source_url")
        layout = sqlite_layout(path)
        if layout.kind == "missing":
            raise NotFound(f"no SQLite file at {path}", field="source_url")
        if layout.kind == "unreadable":
            raise StoreUnavailable(layout.describe(path))
        if layout.kind == "mcp":
            return peers.McpSqliteSource.from_url(url)
        if layout.kind != "memvault":
            raise InvalidInput(
                f"{path} is neither a memvault nor an mcp-memory-service "
                f"database ({layout.describe(path)})",
                field="source_url",
            )
    elif scheme in CHROMA_SCHEMES:
        target = parse_chroma_url(url, options=peers.CHROMA_PEER_OPTIONS)
        kind = peers.chroma_layout(target)
        if kind is None:
            raise NotFound(
                f"no collection {target.collection!r} at {target.url}", field="source_url"
            )
        if kind == "peer":
            return peers.ChromaPeerSource(target)
    return open_store(url, settings, create=False)
