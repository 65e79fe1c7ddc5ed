"""Store adapters, opened from a URL so every command and test names a backend the same way.

``sqlite:///path/memories.db``, ``postgresql://user@host:5432/db``,
``chroma:///path/dir?collection=NAME``, ``chroma+http://host:8000?collection=NAME``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..config import Settings
from ..errors import InvalidInput
from .base import Page, Store, StoreStats

__all__ = ["Page", "Store", "StoreStats", "open_store", "redact_url"]


def open_store(url: str, settings: Settings | None = None) -> Store:
    """Open the store a URL names; a malformed or unknown URL raises InvalidInput."""
    if not isinstance(url, str) or "://" not in url:
        raise InvalidInput(f"store URL must look like scheme://..., got {url!r}", field="store_url")
    scheme = url.split("://", 1)[0].lower()
    settings = settings or Settings.from_env()
    if scheme == "sqlite":
        from .sqlite.store import SqliteStore

        return SqliteStore.from_url(url, settings)
    if scheme in ("chroma", "chroma+http", "chroma+https"):
        from .chroma.store import ChromaStore

        return ChromaStore.from_url(url, settings)
    if scheme in ("postgresql", "postgres"):
        from .postgres.store import PostgresStore

        return PostgresStore.from_url(url, settings)
    raise InvalidInput(f"unknown store URL scheme {scheme!r}; use sqlite://, postgresql://, "
                       f"chroma:// or chroma+http://", field="store_url")


def redact_url(url: str) -> str:
    """The URL without its password, fit to print and log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()
