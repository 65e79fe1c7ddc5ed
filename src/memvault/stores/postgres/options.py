"""PostgreSQL store URLs: libpq's own parameters plus a few of memvault's.

``postgresql://user:password@host:5432/db?sslmode=require&ef_search=80&pool_size=20``

Every libpq parameter (sslmode, connect_timeout, application_name, options,
host=/socket/dir, ...) passes through unchanged. memvault reads and removes its
own before handing the rest to libpq:

- ``hnsw_m``, ``hnsw_ef_construction``: the HNSW graph's build parameters, used
  when the index is created (``MEMVAULT_PG_HNSW_M``, ``MEMVAULT_PG_HNSW_EF_CONSTRUCTION``);
- ``ef_search``: candidates kept while searching the graph, per query
  (``MEMVAULT_PG_EF_SEARCH``); higher is slower and finds more true neighbours;
- ``pool_size``: most connections this process opens (``MEMVAULT_PG_POOL_SIZE``);
- ``pool_timeout``: seconds to wait for a connection before failing;
- ``namespace_graph_min``: memories a namespace needs for a vector graph of its
  own (``namespace_graphs``); 0 for none, which ``optimize`` then drops.

A value in the URL wins over the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ...config import PG_DEFAULTS, Settings
from ...errors import InvalidInput

SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True)
class PostgresOptions:
    """memvault's knobs for one PostgreSQL store; the defaults suit MiniLM-sized vectors."""

    hnsw_m: int = PG_DEFAULTS["pg_hnsw_m"]
    hnsw_ef_construction: int = PG_DEFAULTS["pg_hnsw_ef_construction"]
    ef_search: int = PG_DEFAULTS["pg_ef_search"]
    pool_size: int = PG_DEFAULTS["pg_pool_size"]
    pool_timeout: float = 10.0
    namespace_graph_min: int = 10_000

    def connect_kwargs(self, conninfo: str) -> dict[str, Any]:
        """Connection parameters memvault sets unless the URL sets them itself."""
        given = conninfo_to_dict(conninfo)
        kwargs: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in given:
            kwargs["connect_timeout"] = 10  # libpq would wait forever on a silent host
        if "application_name" not in given:
            kwargs["application_name"] = "memvault"
        return kwargs


# name -> (lowest, highest) accepted value
_BOUNDS: dict[str, tuple[float, float]] = {
    "hnsw_m": (2, 100),
    "hnsw_ef_construction": (4, 1000),
    "ef_search": (1, 1000),
    "pool_size": (1, 1000),
    "pool_timeout": (0.1, 3600),
    "namespace_graph_min": (0, 1_000_000_000),
}


def parse_postgres_url(url: str, settings: Settings | None = None) -> tuple[str, PostgresOptions]:
    """Split a store URL into a libpq connection URL and memvault's options."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise InvalidInput(f"not a PostgreSQL URL: {url!r}", field="store_url")
    options = _from_settings(settings) if settings is not None else PostgresOptions()
    passed: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in _BOUNDS:
            options = replace(options, **{key: _number(key, value)})
        else:
            passed.append((key, value))
    conninfo = parts._replace(query=urlencode(passed)).geturl()
    try:
        conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        raise InvalidInput(f"bad PostgreSQL URL: {exc}", field="store_url") from None
    if options.hnsw_ef_construction < 2 * options.hnsw_m:
        raise InvalidInput("hnsw_ef_construction must be at least twice hnsw_m", field="store_url")
    return conninfo, options


def _from_settings(settings: Settings) -> PostgresOptions:
    """The options set by MEMVAULT_PG_* variables (``pg_<name>`` settings); defaults elsewhere."""
    options = PostgresOptions()
    for f in fields(PostgresOptions):
        value = getattr(settings, f"pg_{f.name}", None)
        if value is not None:
            options = replace(
                options,
                **{
                    f.name: _bounded(f.name, value, f"MEMVAULT_PG_{f.name.upper()}", f"pg_{f.name}")
                },
            )
    return options


def _number(key: str, raw: str) -> Any:
    kind = {f.name: f.type for f in fields(PostgresOptions)}[key]
    try:
        value = float(raw) if kind == "float" else int(raw)
    except ValueError:
        raise InvalidInput(
            f"store URL parameter {key} must be a number, got {raw!r}", field="store_url"
        ) from None
    return _bounded(key, value, f"store URL parameter {key}", "store_url")


def _bounded(key: str, value: float, origin: str, field: str) -> Any:
    low, high = _BOUNDS[key]
    if not low <= value <= high:
        raise InvalidInput(f"{origin} must be from {low:g} to {high:g}, got {value}", field=field)
    return value
