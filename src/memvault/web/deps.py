"""What the dashboard's routes share: the vault, the namespace a page works in, forms.

The namespace list is counted by the store's aggregate query, which is cached
for a few seconds so that page after page does not recount a large store.
"""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import FormData

from ..access.principal import Principal
from ..errors import InvalidInput
from ..vault import Vault

NAMESPACES_TTL = 10.0
_lock = threading.Lock()


def _vault(request: Request) -> Vault:
    return request.app.state.vault


VaultDep = Annotated[Vault, Depends(_vault)]


def namespace_counts(request: Request, vault: Vault, principal: Principal) -> dict[str, int]:
    """Memories per namespace the principal may see (cached for ``NAMESPACES_TTL`` seconds)."""
    state = request.app.state
    with _lock:
        cached = getattr(state, "dashboard_namespaces", None)
        if cached is None or time.monotonic() - cached[0] > NAMESPACES_TTL:
            cached = (time.monotonic(), dict(vault.store_backend.stats(None).namespaces))
            state.dashboard_namespaces = cached
    seen = principal.namespaces
    return {ns: n for ns, n in sorted(cached[1].items()) if seen is None or ns in seen}


def chosen_namespace(vault: Vault, principal: Principal, asked: str | None) -> str:
    """The namespace a page works in: the one asked for, else the server's (or the key's).

    One the key may not see reads as not found, as in the API."""
    return principal.namespace(asked.strip() if asked and asked.strip() else None,
                               vault.settings.namespace, writing=False)


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
