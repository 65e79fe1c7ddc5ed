"""The principal a request acts as: a scope, and the namespaces it may see.

Scopes are ordered: ``read`` searches and reads, ``write`` also stores, updates
and deletes, ``admin`` also runs upkeep and manages keys. A principal bound to
namespaces sees only those. Every interface asks the principal which
namespace a request works in (``namespace``), so no interface can widen it: a
namespace it may not see reads as not found (as if it did not exist, whether
or not it does), and writing there is forbidden.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import Forbidden, InvalidInput, MemvaultError, NotFound, Unauthorized

Scope = Literal["read", "write", "admin"]
# Where an HTTP server keeps a request's principal (or why it has none) in its
# ASGI scope, for every interface served over HTTP (REST, /mcp, the dashboard).
PRINCIPAL_KEY = "memvault.principal"
# The HttpOnly cookie the dashboard keeps a signed-in key in; read like a Bearer key.
KEY_COOKIE = "memvault_key"
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")


def check_scope(value: str) -> Scope:
    if value not in SCOPES:
        raise InvalidInput(
            f"scope must be one of {', '.join(SCOPES)}, got {value!r}", field="scope"
        )
    return value


@dataclass(frozen=True)
class Principal:
    """``namespaces`` None: every namespace. ``key_id`` None: a client on this machine,
    served without a key because none exists yet."""

    scope: Scope
    namespaces: frozenset[str] | None = None
    key_id: str | None = None

    @property
    def sees_paths(self) -> bool:
        """Server paths (store URL, files) are shown to admins only."""
        return self.scope == "admin"

    def may(self, needed: Scope) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(needed)

    def require(self, needed: Scope, *, whole_store: bool = False) -> None:
        """Forbidden unless the scope suffices (and, for ``whole_store``, no namespace binds)."""
        if not self.may(needed):
            raise Forbidden(
                f"this needs a key with the {needed!r} scope; this key has {self.scope!r}",
                field="scope",
            )
        if whole_store and self.namespaces is not None:
            raise Forbidden(
                "this works on the whole store; a key bound to namespaces cannot use it",
                field="namespace",
            )

    def namespace(self, requested: str | None, default: str, *, writing: bool) -> str:
        """The namespace a request works in: the one it names, else the principal's own."""
        allowed = self.namespaces
        if requested is not None:
            if allowed is None or requested in allowed:
                return requested
            if writing:
                raise Forbidden(
                    f"this key may not write to namespace {requested!r}", field="namespace"
                )
            raise NotFound(f"no namespace {requested!r}", field="namespace")
        if allowed is None or default in allowed:
            return default
        if len(allowed) == 1:
            return next(iter(allowed))
        raise InvalidInput(
            "this key is bound to the namespaces "
            + ", ".join(sorted(allowed))
            + "; name one with namespace",
            field="namespace",
        )

    def namespace_or_all(self, requested: str | None, default: str) -> str | None:
        """For a read over every namespace when none is named (stats, the operation log):
        None (all) only for a principal that sees them all."""
        if requested is None and self.namespaces is None:
            return None
        return self.namespace(requested, default, writing=False)


def principal_in(scope: Mapping[str, Any]) -> Principal:
    """The principal an HTTP server's authentication left in a request's ASGI scope.

    Raises what that authentication found instead (Unauthorized, Forbidden, a
    store failure), so every route that asks refuses the same way.
    """
    found = scope.get(PRINCIPAL_KEY)
    if isinstance(found, Principal):
        return found
    if isinstance(found, MemvaultError):
        raise found
    raise Unauthorized("this request was not authenticated", field="authorization")


# The caller of a process that holds the store itself (the CLI, MCP over stdio).
LOCAL_ADMIN = Principal("admin")
# What a health report may show only to admins: where the store is.
PATH_FIELDS = ("url", "path")
# A health report's field keyed by namespace, of which a principal sees its own.
BY_NAMESPACE = "namespace_graphs"


def visible_report(report: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """A health or stats report as ``principal`` may see it: unless admin, without the
    store's file path, and its URL (which may hold a path or a password) cut to its kind;
    bound to namespaces, without what it says of others."""
    store = report.get("store")
    if store is None:
        return report
    if isinstance(store, str):  # stats: the store's URL
        return report if principal.sees_paths else {**report, "store": store.split(":", 1)[0]}
    shown = {k: v for k, v in store.items() if principal.sees_paths or k not in PATH_FIELDS}
    by_namespace, allowed = shown.get(BY_NAMESPACE), principal.namespaces
    if isinstance(by_namespace, dict) and allowed is not None:
        shown[BY_NAMESPACE] = {ns: v for ns, v in by_namespace.items() if ns in allowed}
    return {**report, "store": shown}
