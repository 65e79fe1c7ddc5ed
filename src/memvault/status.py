"""What a Vault says about its store and model: stats and health.

Each reads the store and the embedder's spec only, so none of them loads the model.
"""

from __future__ import annotations

from typing import Any

from .embedding import Embedder
from .stores import Store
from .transfer.switch import switch_record


def stats(store: Store, embedder: Embedder, namespace: str | None) -> dict[str, Any]:
    """Totals, by type, top tags, per month, size and model; all namespaces if None."""
    s = store.stats(namespace)
    spec = store.embedding_spec()
    return {
        "total": s.total,
        "namespaces": s.namespaces,
        "by_type": s.by_type,
        "top_tags": [{"tag": t, "count": n} for t, n in s.top_tags],
        "per_month": s.per_month,
        "oldest": s.oldest,
        "newest": s.newest,
        "size_bytes": store.size_bytes(),
        "store": store.url,
        "model": spec.model if spec else embedder.spec.model,
        "dimension": spec.dimension if spec else embedder.spec.dimension,
        "runtime": embedder.runtime,
        **s.extra,
    }


def health(store: Store, embedder: Embedder) -> dict[str, Any]:
    """Cheap: checks the store answers."""
    found = store.health()
    switched = switch_record(store)
    if switched is not None:
        found["imported_from_mcp_memory_service"] = switched
    held, local = store.embedding_spec(), embedder.spec
    if held is not None and held != local:
        found["problems"] = [
            *found.get("problems", []),
            f"vectors of {held.model} ({held.dimension} dimensions), not of the local model "
            f"{local.model} ({local.dimension}): searches and writes are refused; "
            "memvault migrate URL NEW_URL --reembed copies it with new vectors",
        ]
    # A store that answers but cannot do everything (damaged, full, read-only, another
    # model's vectors) lists why.
    status = "degraded" if found.get("problems") else "ok"
    return {
        "status": status,
        "store": {"url": store.url, **found},
        "model": embedder.spec.model,
        "dimension": embedder.spec.dimension,
        "runtime": embedder.runtime,
        "model_loaded": bool(getattr(embedder, "loaded", False)),
    }
