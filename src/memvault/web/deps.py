"""What the dashboard's routes share: the vault, the namespace a page works in, forms.

A store's aggregate counts (the namespace list, analytics) take seconds on a
large store, so they are kept and recounted in the background (``Refreshing``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import FormData

from ..access.principal import Principal
from ..errors import InvalidInput
from ..vault import Vault

STATS_TTL = 30.0  # seconds a store's aggregate counts are shown before they are recounted


def _vault(request: Request) -> Vault:
    return request.app.state.vault


VaultDep = Annotated[Vault, Depends(_vault)]


class Refreshing:
    """Values slow to compute (a large store's aggregate counts: seconds at 100,000
    memories), kept per app and recomputed on a background thread once older than
    their time to live, so a page never waits for them again after the first time."""

    def __init__(self) -> None:
        self._values: dict[Any, tuple[float, Any]] = {}
        self._running: set[Any] = set()
        self._lock = threading.Lock()

    def get(self, key: Any, compute: Callable[[], Any], ttl: float, *, wait: bool = True) -> Any:
        """The value (stale ones refreshed meanwhile); when there is none yet, computed now,
        or with ``wait=False`` started in the background and None returned."""
        with self._lock:
            entry = self._values.get(key)
        if entry is None and wait:
            value = compute()
            with self._lock:
                self._values[key] = (time.monotonic(), value)
            return value
        if entry is None or time.monotonic() - entry[0] > ttl:
            self._refresh(key, compute)
        return entry[1] if entry is not None else None

    def _refresh(self, key: Any, compute: Callable[[], Any]) -> None:
        with self._lock:
            if key in self._running:
                return
            self._running.add(key)

        def run() -> None:
            try:
                value = compute()
                with self._lock:
                    self._values[key] = (time.monotonic(), value)
            finally:
                with self._lock:
                    self._running.discard(key)

        threading.Thread(target=run, name="dashboard-refresh", daemon=True).start()


_LOCK = threading.Lock()


def kept_on(holder: Any, name: str, make: Callable[[], Any]) -> Any:
    """The object kept on ``holder`` (an app's state) as ``name``, made on first use."""
    with _LOCK:
        if not hasattr(holder, name):
            setattr(holder, name, make())
        return getattr(holder, name)


def store_stats(
    request: Request, vault: Vault, namespace: str | None, *, wait: bool = True
) -> dict[str, Any] | None:
    """``Vault.stats`` of a namespace (None: all), at most ``STATS_TTL`` seconds old."""
    refreshing: Refreshing = kept_on(request.app.state, "dashboard_refreshing", Refreshing)
    return refreshing.get(
        ("stats", namespace), lambda: vault.stats(namespace=namespace), STATS_TTL, wait=wait
    )


def namespace_counts(request: Request, vault: Vault, principal: Principal) -> dict[str, int]:
    """Memories per namespace the principal may see (recounted every ``STATS_TTL`` s)."""
    counts = store_stats(request, vault, None)["namespaces"]  # type: ignore[index]
    seen = principal.namespaces
    return {ns: n for ns, n in sorted(counts.items()) if seen is None or ns in seen}


def chosen_namespace(vault: Vault, principal: Principal, asked: str | None) -> str:
    """The namespace a page works in: the one asked for, else the server's (or the key's).

    One the key may not see reads as not found, as in the API."""
    return principal.namespace(
        asked.strip() if asked and asked.strip() else None, vault.settings.namespace, writing=False
    )


def text(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name, default)
    return value.strip() if isinstance(value, str) else default


def number(form: FormData, name: str, default: float | None = None) -> float | None:
    raw = text(form, name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a number, got {raw!r}", field=name) from None


def scope_filter(tags: str, memory_type: str, after: str, before: str) -> dict[str, Any]:
    """A filter from the dashboard's fields: comma-separated tags (any), type, dates."""
    flt: dict[str, Any] = {}
    if tags.strip():
        flt["tags_any"] = [t for t in tags.split(",") if t.strip()]
    if memory_type.strip():
        flt["memory_type"] = memory_type.strip()
    if after.strip():
        flt["created_after"] = after.strip()
    if before.strip():
        flt["created_before"] = before.strip()
    return flt
