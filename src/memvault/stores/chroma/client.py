"""Chroma URLs, clients and errors, shared by the Chroma store and the Chroma peer reader.

``chroma:///path/dir?collection=NAME`` opens an embedded PersistentClient;
``chroma+http://host:8000?collection=NAME`` (or ``chroma+https://``) an
HttpClient against a ``chroma run`` server; a password in the URL
(``chroma+http://:TOKEN@host:8000``) is sent as a bearer token. HNSW
parameters apply when a collection is created: ``hnsw_m``,
``hnsw_construction_ef``, ``hnsw_search_ef`` (the last can change later).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx

from ...errors import InvalidInput, MemvaultError, NotFound, StoreUnavailable
from ...files import private_dir

DEFAULT_COLLECTION = "memory_collection"
CHROMA_FILE = "chroma.sqlite3"  # what an embedded Chroma keeps in its directory
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")
_HNSW_PARAMS = {
    "hnsw_m": "max_neighbors",
    "hnsw_construction_ef": "ef_construction",
    "hnsw_search_ef": "ef_search",
}


@dataclass(frozen=True, slots=True)
class ChromaTarget:
    """Where a Chroma collection lives, parsed from a URL."""

    url: str
    collection: str
    path: Path | None = None
    host: str | None = None
    port: int | None = None
    ssl: bool = False
    token: str | None = field(default=None, repr=False)
    hnsw: dict[str, int] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)

    @property
    def is_remote(self) -> bool:
        return self.host is not None

    def connect(self, *, create: bool = False) -> Any:
        """A chromadb client; telemetry off, since memvault never phones home.

        An embedded client makes its directory and files as it starts, so
        without ``create`` a directory that holds no Chroma data is NotFound.
        """
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        if self.path is not None and not create and not (self.path / CHROMA_FILE).is_file():
            raise NotFound(
                f"no Chroma data at {self.path} (no {CHROMA_FILE} there)", field="store_url"
            )
        with chroma_errors(self.url):
            if self.path is not None:
                # Chroma's own files take the umask's mode; the directory keeps them private.
                private_dir(self.path)
                return chromadb.PersistentClient(path=str(self.path), settings=settings)
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
            assert self.host is not None and self.port is not None, "no path: a server's target"
            return chromadb.HttpClient(
                host=self.host, port=self.port, ssl=self.ssl, headers=headers, settings=settings
            )


def parse_chroma_url(url: str, options: frozenset[str] = frozenset()) -> ChromaTarget:
    """Parse a chroma:// or chroma+http(s):// URL; ``options`` names extra query keys allowed."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key != "collection" and key not in _HNSW_PARAMS and key not in options:
            known = ", ".join(sorted({"collection", *_HNSW_PARAMS, *options}))
            raise InvalidInput(
                f"unknown Chroma URL parameter {key!r}; known: {known}", field=f"store_url.{key}"
            )
        query[key] = value
    collection = query.pop("collection", DEFAULT_COLLECTION)
    if not _NAME.match(collection) or ".." in collection:
        raise InvalidInput(
            f"Chroma collection name {collection!r} must be 3-512 characters of "
            "letters, digits, '.', '_' or '-', starting and ending with a letter "
            "or digit",
            field="store_url.collection",
        )
    hnsw = {}
    for key, name in _HNSW_PARAMS.items():
        if key in query:
            value = query.pop(key)
            if not value.isdigit() or not 1 <= int(value) <= 10_000:
                raise InvalidInput(
                    f"{key} must be an integer from 1 to 10000, got {value!r}",
                    field=f"store_url.{key}",
                )
            hnsw[name] = int(value)
    shown = _redacted(url, parts.password)
    if scheme == "chroma":
        if parts.netloc or not parts.path or parts.path == "/":
            raise InvalidInput(
                f"Chroma URL must be chroma:///path/to/dir, got {shown!r}", field="store_url"
            )
        return ChromaTarget(
            url=shown,
            collection=collection,
            hnsw=hnsw,
            options=query,
            path=Path(unquote(parts.path)).expanduser(),
        )
    if scheme in ("chroma+http", "chroma+https"):
        try:
            port = parts.port
        except ValueError:
            port = -1
        if not parts.hostname or port == -1:
            raise InvalidInput(
                f"Chroma URL must be chroma+http://host:port, got {shown!r}", field="store_url"
            )
        ssl = scheme == "chroma+https"
        return ChromaTarget(
            url=shown,
            collection=collection,
            hnsw=hnsw,
            options=query,
            host=parts.hostname,
            port=port or (443 if ssl else 8000),
            ssl=ssl,
            token=unquote(parts.password) if parts.password else None,
        )
    raise InvalidInput(f"not a Chroma URL: {shown!r}", field="store_url")


def _redacted(url: str, password: str | None) -> str:
    return url.replace(f":{password}@", ":***@") if password else url


@contextlib.contextmanager
def chroma_errors(url: str) -> Iterator[None]:
    """Turn chromadb and network failures into memvault's errors, naming the store."""
    from chromadb.errors import ChromaError

    try:
        yield
    except MemvaultError:
        raise
    except (httpx.HTTPError, ConnectionError, TimeoutError) as exc:
        raise StoreUnavailable(f"Chroma at {url} is unreachable: {exc}") from exc
    except ChromaError as exc:
        raise StoreUnavailable(f"Chroma at {url} failed: {exc}") from exc
    except ValueError as exc:
        # chromadb reports a refused connection as a ValueError raised from httpx's error.
        if isinstance(exc.__context__, httpx.HTTPError):
            raise StoreUnavailable(f"Chroma at {url} is unreachable: {exc}") from exc
        raise InvalidInput(
            f"Chroma at {url} refused the request: {exc}", field="store_url"
        ) from exc


# Side collections (the journal, the word counts) are looked up by id only; each
# record carries this vector because Chroma requires one.
PLACEHOLDER_VECTOR = [1.0]


def side_collection(client: Any, collection: str, suffix: str, url: str) -> Any:
    """The collection named ``collection`` + ``suffix`` beside a memories collection,
    made if missing, with no embedding function (records are never searched)."""
    with chroma_errors(url):
        return client.get_or_create_collection(collection + suffix, embedding_function=None)


def collection_config(hnsw: dict[str, int]) -> dict[str, Any]:
    """A new collection's configuration: cosine space, and the HNSW parameters asked for."""
    return {"hnsw": {"space": "cosine", **hnsw}}
