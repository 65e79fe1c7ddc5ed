"""Store adapters, opened from a URL so every command and test names a backend the same way.

``sqlite:///path/memories.db``, ``postgresql://user@host:5432/db``,
``chroma:///path/dir?collection=NAME``, ``chroma+http://host:8000?collection=NAME``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from ..config import Settings
from ..errors import InvalidInput
from .base import Page, Store, StoreStats

__all__ = ["Page", "Store", "StoreStats", "local_path", "open_store", "redact_url"]


def open_store(url: str, settings: Settings | None = None, *, create: bool = True) -> Store:
    """Open the store a URL names; a malformed or unknown URL raises InvalidInput.

    Without ``create``, a store that does not exist yet raises NotFound naming
    it and nothing is made: reading never creates a store, only writing does.
    """
    if not isinstance(url, str) or "://" not in url:
        raise InvalidInput(f"store URL must look like scheme://..., got {url!r}", field="store_url")
    scheme = url.split("://", 1)[0].lower()
    settings = settings or Settings.from_env()
    if scheme == "sqlite":
        from .sqlite.store import SqliteStore

        return SqliteStore.from_url(url, settings, create=create)
    if scheme in ("chroma", "chroma+http", "chroma+https"):
        from .chroma.store import ChromaStore

        return ChromaStore.from_url(url, settings, create=create)
    if scheme in ("postgresql", "postgres"):
        from .postgres.store import PostgresStore

        return PostgresStore.from_url(url, settings, create=create)
    raise InvalidInput(
        f"unknown store URL scheme {scheme!r}; use sqlite://, postgresql://, "
        f"chroma:// or chroma+http://",
        field="store_url",
    )


def local_path(url: str) -> Path | None:
    """The file or directory a store URL names on this machine; None for a server."""
    scheme = url.split("://", 1)[0].lower()
    if scheme == "sqlite":
        from .sqlite.location import sqlite_path

        return sqlite_path(url)
    if scheme == "chroma":
        from .chroma.client import parse_chroma_url

        return parse_chroma_url(url).path
    return None


def redact_url(url: str) -> str:
    """The URL without its password, fit to print and log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()
