"""Settings, read once from the environment.

Each setting has a ``MEMVAULT_*`` variable. People switching from
mcp-memory-service can keep their ``MCP_MEMORY_*`` variables: where one means
the same thing, it is accepted as an alias (the ``MEMVAULT_*`` name wins).
``memvault config`` prints every setting and where its value came from.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload
from urllib.parse import urlsplit, urlunsplit

import platformdirs

from .errors import InvalidInput

APP_NAME = "memvault"
# A host name or IP address (IPv6 in brackets), any port ignored; an origin adds a scheme.
HOST_NAME = re.compile(r"(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")
ORIGIN = re.compile(r"https?://(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")
# The PostgreSQL store's knobs when neither its URL nor the environment sets
# them; kept here (stores/postgres/options.py reads them) so that
# ``memvault config`` shows what a store will use.
PG_DEFAULTS: dict[str, int] = {
    "pg_hnsw_m": 16,
    "pg_hnsw_ef_construction": 64,
    "pg_ef_search": 100,
    "pg_pool_size": 10,
}
# How a new SQLite store keeps its vectors in the file (stores/sqlite/precision.py):
# "float16" or "int8". A store keeps the precision it was created with.
DEFAULT_SQLITE_VECTORS = "int8"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def sqlite_url(path: str | Path) -> str:
    """``sqlite://`` followed by the absolute path (so three slashes in all)."""
    return f"sqlite://{Path(path).expanduser().resolve()}"


@dataclass(frozen=True)
class Settings:
    store_url: str
    namespace: str = "default"
    embedding_model: str | None = None
    embedding_runtime: str = "auto"
    host: str = "127.0.0.1"
    port: int = 8000
    max_content_bytes: int = 1_000_000
    # A memory longer than the model's window is embedded in chunks of about
    # 1,000 characters, each as costly as a short paragraph: 1 MB is ~1,100
    # chunks, over a minute on two cores. Content needing more is refused at once.
    max_chunks: int = 256
    # A conversation turn (metadata ``session``) is embedded after this many
    # turns before it and its date (turns.py); 0 embeds the turn alone.
    context_turns: int = 0
    sqlite_pragmas: str = ""
    # A new SQLite store's vector precision; None: DEFAULT_SQLITE_VECTORS (a store URL's
    # ``?vectors=`` wins over it).
    sqlite_vectors: str | None = None
    query_cache_size: int = 1024
    server_url: str | None = None
    # Redis/Valkey shared by a fleet of servers for query vectors (embedding/shared_cache.py).
    cache_url: str | None = field(default=None, repr=False)
    # PostgreSQL store knobs; None leaves the store's default (see stores/postgres/options.py).
    pg_hnsw_m: int | None = None
    pg_hnsw_ef_construction: int | None = None
    pg_ef_search: int | None = None
    pg_pool_size: int | None = None
    summary_url: str | None = None
    summary_model: str | None = None
    summary_api_key: str | None = field(default=None, repr=False)
    # The key ``memvault mcp`` sends to the server it forwards to (never printed).
    api_key: str | None = field(default=None, repr=False)
    data_dir: Path = field(default_factory=default_data_dir)
    # Exported (ONNX) models; safe to share between processes. None: <data_dir>/models.
    model_cache_dir: Path | None = None
    # Host names the HTTP server answers to besides the loopback ones (any port),
    # and origins a browser may call it from (CORS); both empty unless configured.
    allowed_hosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        reader = _Reader(env)
        data_dir = Path(reader.get("data_dir", ["MEMVAULT_DATA_DIR"]) or default_data_dir())
        store_url = reader.get("store_url", ["MEMVAULT_STORE_URL"])
        if store_url is None:
            store_url = _store_url_from_aliases(reader, env)
        if store_url is None:
            store_url = sqlite_url(data_dir / "memories.db")
            reader.sources["store_url"] = "default (platform data directory)"
        return cls(
            store_url=store_url,
            namespace=reader.get("namespace", ["MEMVAULT_NAMESPACE"]) or "default",
            embedding_model=reader.get(
                "embedding_model", ["MEMVAULT_EMBEDDING_MODEL", "MCP_EMBEDDING_MODEL"]
            ),
            embedding_runtime=reader.get("embedding_runtime", ["MEMVAULT_EMBEDDING_RUNTIME"])
            or "auto",
            host=reader.get("host", ["MEMVAULT_HOST", "MCP_HTTP_HOST"]) or "127.0.0.1",
            port=reader.integer("port", ["MEMVAULT_PORT", "MCP_HTTP_PORT"], 8000),
            max_content_bytes=reader.integer(
                "max_content_bytes", ["MEMVAULT_MAX_CONTENT_BYTES"], 1_000_000
            ),
            max_chunks=reader.integer("max_chunks", ["MEMVAULT_MAX_CHUNKS"], 256),
            context_turns=reader.integer("context_turns", ["MEMVAULT_CONTEXT_TURNS"], 0, least=0),
            sqlite_pragmas=reader.get(
                "sqlite_pragmas", ["MEMVAULT_SQLITE_PRAGMAS", "MCP_MEMORY_SQLITE_PRAGMAS"]
            )
            or "",
            sqlite_vectors=reader.get("sqlite_vectors", ["MEMVAULT_SQLITE_VECTORS"]),
            query_cache_size=reader.integer(
                "query_cache_size", ["MEMVAULT_QUERY_CACHE_SIZE"], 1024
            ),
            server_url=reader.get("server_url", ["MEMVAULT_SERVER_URL"]),
            cache_url=reader.get("cache_url", ["MEMVAULT_CACHE_URL"]),
            pg_hnsw_m=reader.integer("pg_hnsw_m", ["MEMVAULT_PG_HNSW_M"], None),
            pg_hnsw_ef_construction=reader.integer(
                "pg_hnsw_ef_construction", ["MEMVAULT_PG_HNSW_EF_CONSTRUCTION"], None
            ),
            pg_ef_search=reader.integer("pg_ef_search", ["MEMVAULT_PG_EF_SEARCH"], None),
            pg_pool_size=reader.integer("pg_pool_size", ["MEMVAULT_PG_POOL_SIZE"], None),
            summary_url=reader.get("summary_url", ["MEMVAULT_SUMMARY_URL"]),
            summary_model=reader.get("summary_model", ["MEMVAULT_SUMMARY_MODEL"]),
            summary_api_key=reader.get("summary_api_key", ["MEMVAULT_SUMMARY_API_KEY"]),
            api_key=reader.get("api_key", ["MEMVAULT_API_KEY"]),
            data_dir=data_dir,
            model_cache_dir=Path(
                reader.get("model_cache_dir", ["MEMVAULT_MODEL_CACHE_DIR"]) or data_dir / "models"
            ).expanduser(),
            allowed_hosts=reader.names(
                "allowed_hosts",
                ["MEMVAULT_ALLOWED_HOSTS"],
                HOST_NAME,
                "host names such as memvault.example.com",
            ),
            cors_origins=reader.names(
                "cors_origins",
                ["MEMVAULT_CORS_ORIGINS"],
                ORIGIN,
                "origins such as https://app.example.com",
            ),
            sources=reader.sources,
        )

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, value, source) for every setting, for ``memvault config``."""
        rows = []
        for name in (
            "store_url",
            "namespace",
            "embedding_model",
            "embedding_runtime",
            "host",
            "port",
            "max_content_bytes",
            "max_chunks",
            "context_turns",
            "sqlite_pragmas",
            "sqlite_vectors",
            "query_cache_size",
            "server_url",
            "cache_url",
            "pg_hnsw_m",
            "pg_hnsw_ef_construction",
            "pg_ef_search",
            "pg_pool_size",
            "summary_url",
            "summary_model",
            "data_dir",
            "model_cache_dir",
            "allowed_hosts",
            "cors_origins",
        ):
            value = getattr(self, name)
            if name == "cache_url" and value:
                value = _without_password(value)
            if value is None:
                value = (
                    DEFAULT_SQLITE_VECTORS if name == "sqlite_vectors" else PG_DEFAULTS.get(name)
                )
            shown = ",".join(value) if isinstance(value, tuple) else value
            rows.append(
                (name, "" if shown is None else str(shown), self.sources.get(name, "default"))
            )
        return rows


def _without_password(url: str) -> str:
    """``url`` with any password in it replaced by ``***``, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class _Reader:
    """Looks variables up in order and remembers which one supplied each setting."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.sources: dict[str, str] = {}

    def get(self, name: str, variables: list[str]) -> str | None:
        for var in variables:
            value = self.env.get(var)
            if value is not None and value.strip() != "":
                self.sources[name] = f"env {var}"
                return value.strip()
        return None

    def names(
        self, name: str, variables: list[str], pattern: re.Pattern[str], what: str
    ) -> tuple[str, ...]:
        """A comma-separated list, lower-cased (host names and origins are case-blind),
        each matching ``pattern``: no wildcard can switch a check off."""
        raw = self.get(name, variables) or ""
        parts = tuple(p.strip().lower().rstrip("/") for p in raw.split(",") if p.strip())
        for part in parts:
            if not pattern.fullmatch(part):
                raise InvalidInput(
                    f"{self.sources[name].removeprefix('env ')} takes {what}, not {part!r}",
                    field=name,
                )
        return parts

    @overload
    def integer(self, name: str, variables: list[str], default: int, *, least: int = 1) -> int: ...
    @overload
    def integer(
        self, name: str, variables: list[str], default: None, *, least: int = 1
    ) -> int | None: ...
    def integer(
        self, name: str, variables: list[str], default: int | None, *, least: int = 1
    ) -> int | None:
        raw = self.get(name, variables)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InvalidInput(
                f"{self.sources[name].removeprefix('env ')} must be an integer, got {raw!r}",
                field=name,
            ) from None
        if value < least:
            must = "positive" if least == 1 else f"at least {least}"
            raise InvalidInput(
                f"{self.sources[name].removeprefix('env ')} must be {must}", field=name
            )
        return value


def _store_url_from_aliases(reader: _Reader, env: Mapping[str, str]) -> str | None:
    """mcp-memory-service's backend variables, mapped to a store URL."""
    backend = (env.get("MCP_MEMORY_STORAGE_BACKEND") or "").strip().lower()
    sqlite_path = env.get("MCP_MEMORY_SQLITE_PATH")
    if backend and backend not in {"sqlite_vec", "sqlite-vec", "sqlite", "chroma", "postgres"}:
        raise InvalidInput(
            f"MCP_MEMORY_STORAGE_BACKEND={backend!r} is not supported by memvault; "
            "use sqlite_vec or set MEMVAULT_STORE_URL",
            field="store_url",
        )
    if backend == "chroma" and env.get("MCP_MEMORY_CHROMA_PATH"):
        reader.sources["store_url"] = "env MCP_MEMORY_STORAGE_BACKEND + MCP_MEMORY_CHROMA_PATH"
        path = Path(env["MCP_MEMORY_CHROMA_PATH"]).expanduser().resolve()
        return f"chroma://{path}?collection=memory_collection"
    if sqlite_path and backend in {"", "sqlite_vec", "sqlite-vec", "sqlite"}:
        reader.sources["store_url"] = "env MCP_MEMORY_SQLITE_PATH"
        return sqlite_url(sqlite_path)
    database_url = env.get("DATABASE_URL")
    if database_url and database_url.startswith(("postgresql://", "postgres://")):
        reader.sources["store_url"] = "env DATABASE_URL"
        return database_url
    return None
