"""Analytics and health: what the store holds, how search performs, what the server runs.

Analytics are the store's aggregate counts (``Vault.stats``, at most
``deps.STATS_TTL`` seconds old) drawn as SVG
(``charts``), and search latency and the query cache's hit rate from this
server's metrics. Health is ``Vault.health`` with versions and every setting
and where it came from, as ``memvault config`` prints them; any password in a
URL is replaced by ``***``, and server paths are shown to admins only.
"""

from __future__ import annotations

import functools
import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from .. import __version__
from ..access.principal import Principal, visible_report
from ..stores import redact_url
from ..vault import Vault
from .charts import bars, columns
from .deps import VaultDep, store_stats
from .render import PageRoute, page
from .session import need

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Reader = Annotated[Principal, need("read")]
PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "numpy",
    "onnxruntime",
    "torch",
    "sentence-transformers",
    "apsw",
    "sqlite-vec",
    "psycopg",
    "chromadb",
    "mcp",
)
PATHS = frozenset({"store_url", "data_dir", "model_cache_dir"})


@router.get("/analytics")
def analytics(request: Request, vault: VaultDep, principal: Reader, ns: str = "") -> Response:
    namespace = principal.namespace_or_all(ns.strip() or None, vault.settings.namespace)
    stats = store_stats(request, vault, namespace, wait=False)
    if stats is None:  # counted in the background; the page refreshes itself meanwhile
        return page(request, "analytics.html", stats=None, namespace=namespace)
    months = sorted(stats["per_month"].items())
    spaces = sorted(stats["namespaces"].items(), key=lambda kv: -kv[1])
    types = sorted(stats["by_type"].items(), key=lambda kv: -kv[1])
    tags = [(t["tag"], t["count"]) for t in stats["top_tags"]]
    latency = search_latency(request)
    cache = _cache(vault)
    charts = {
        "months": columns(months, "Memories added per month", every=max(1, len(months) // 8)),
        "types": bars(types, "Memories by type"),
        "tags": bars(tags, "Most used tags"),
        "namespaces": bars(spaces, "Memories per namespace"),
        "latency": columns(latency["buckets"], "Searches by latency (ms)", every=3),
        "cache": bars(
            [("hits", cache["hits"]), ("misses", cache["misses"])], "Query cache: hits and misses"
        ),
    }
    tables = {
        "months": months,
        "types": types,
        "tags": tags,
        "namespaces": spaces,
        "latency": latency["buckets"],
    }
    return page(
        request,
        "analytics.html",
        stats=stats,
        charts=charts,
        tables=tables,
        latency=latency,
        cache=cache,
        namespace=namespace,
    )


def _cache(vault: Vault) -> dict[str, Any]:
    hits, misses = vault.queries.hits, vault.queries.misses
    return {
        "hits": hits,
        "misses": misses,
        "rate": hits / (hits + misses) if hits + misses else None,
    }


def search_latency(request: Request) -> dict[str, Any]:
    """This server's searches by latency bucket (ms), their count and mean, from /metrics."""
    metrics = getattr(request.app.state, "metrics", None)
    cumulative: list[tuple[float, float]] = []
    count = total = 0.0
    # The histogram alone: the whole registry would also count the store's memories.
    for family in metrics.operations.collect() if metrics is not None else ():
        for sample in family.samples:
            if sample.labels.get("operation") != "search":
                continue
            if sample.name.endswith("_bucket"):
                cumulative.append((float(sample.labels["le"]), sample.value))
            elif sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_sum"):
                total = sample.value
    buckets, below = [], 0.0
    for bound, seen in sorted(cumulative):
        label = "more" if bound == float("inf") else f"≤{bound * 1000:g}"
        buckets.append((label, seen - below))
        below = seen
    return {
        "buckets": buckets,
        "count": int(count),
        "mean_ms": total / count * 1000 if count else None,
    }


@functools.cache  # installed versions do not change while the server runs
def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


@router.get("/health")
def health(request: Request, vault: VaultDep, principal: Reader) -> Response:
    status = visible_report(vault.health(), principal)
    settings = [
        {
            "name": name,
            "source": source,
            "value": "(shown to admins)"
            if name in PATHS and not principal.sees_paths
            else redact_url(value)
            if "://" in value
            else value,
        }
        for name, value, source in vault.settings.describe()
    ]
    versions = [
        ("memvault", __version__),
        ("python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("platform", platform.platform()),
        *((p, _version(p)) for p in PACKAGES),
    ]
    return page(request, "health.html", health=status, settings=settings, versions=versions)
