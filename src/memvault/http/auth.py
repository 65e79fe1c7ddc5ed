"""Who a request is: its API key checked once per request, and what each route needs.

``Authenticate`` (ASGI middleware) runs ``authenticate`` for every request
and leaves the ``Principal``, or the error that says why there is none, in
the request's scope (``access.principal.principal_in`` reads it back). It
refuses nothing itself, so the dashboard can answer a browser without a key
with its sign-in page; the routes refuse:

- an API route says what it needs in its own signature, a parameter typed
  ``Reader``, ``Writer`` or ``Admin`` (``StoreReader``, ``StoreAdmin`` for
  routes that span every namespace), which also gives it the namespace to
  work in; without a valid key it answers 401 (``WWW-Authenticate: Bearer``);
- routes that are not FastAPI's (``/mcp``, the OpenAPI schema) are wrapped by
  ``require_key``: any valid key (``/mcp`` checks each tool's scope itself);
- dashboard pages ask ``principal_in`` through their ``need``.

Once any key exists, every request needs one; while none does, only clients on
this machine (by the peer address, never a header) are served, as admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_address
from typing import Annotated

import anyio.to_thread
from fastapi import Depends
from starlette.requests import HTTPConnection, Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..access.keys import KeyRing
from ..access.principal import KEY_COOKIE, PRINCIPAL_KEY, Principal, principal_in
from ..access.principal import Scope as KeyScope
from ..errors import Forbidden, MemvaultError, Unauthorized
from .middleware import send_error

CREATE_KEY = "memvault keys create --name NAME --scope read|write|admin"
CHALLENGE = (b"www-authenticate", b'Bearer realm="memvault"')


def is_local(conn: HTTPConnection) -> bool:
    """Whether the peer is this machine (by its address; headers can say anything)."""
    try:
        return conn.client is not None and ip_address(conn.client.host).is_loopback
    except ValueError:
        return False


def presented_key(conn: HTTPConnection) -> str | None:
    """The key from ``Authorization: Bearer KEY``, else from the dashboard's cookie."""
    header = conn.headers.get("authorization")
    if header is not None:
        kind, _, key = header.strip().partition(" ")
        if kind.lower() != "bearer" or not key.strip():
            raise Unauthorized(
                "send the API key as Authorization: Bearer KEY", field="authorization"
            )
        return key.strip()
    return conn.cookies.get(KEY_COOKIE)


def authenticate(conn: HTTPConnection) -> Principal:
    """The principal a request acts as; Unauthorized or Forbidden (saying why) otherwise.

    Reads the key set of ``conn.app.state.key_ring``, which re-reads the store
    when its copy is over two seconds old: call it off the event loop.
    """
    keys: KeyRing = conn.app.state.key_ring
    key = presented_key(conn)
    if key is not None:
        return keys.verify(key)
    if keys.any_keys():
        raise Unauthorized(
            "this server needs an API key: send Authorization: Bearer KEY", field="authorization"
        )
    if not is_local(conn):
        raise Forbidden(
            "no API key exists yet, so this server is open only on this machine; "
            f"create one with: {CREATE_KEY}",
            field="authorization",
        )
    return Principal("admin")


class Authenticate:
    """Places every request (``authenticate``) before any route sees it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            conn = HTTPConnection(scope)
            try:
                if conn.app.state.key_ring.stale():  # the store is read: not on the loop
                    scope[PRINCIPAL_KEY] = await anyio.to_thread.run_sync(authenticate, conn)
                else:
                    scope[PRINCIPAL_KEY] = authenticate(conn)
            except MemvaultError as exc:
                scope[PRINCIPAL_KEY] = exc
        await self.app(scope, receive, send)


async def refuse(send: Send, error: MemvaultError) -> None:
    """The app's error response, with the Bearer challenge on a 401."""
    await send_error(
        send,
        error.status,
        error.code,
        error.message,
        error.field,
        [CHALLENGE] if error.status == 401 else [],
    )


class _KeyRequired:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            principal_in(scope)
        except MemvaultError as exc:
            await refuse(send, exc)
            return
        await self.app(scope, receive, send)


def require_key(route: Route) -> None:
    """Serve ``route`` (not one of FastAPI's) only to a request with a principal."""
    route.app = _KeyRequired(route.app)


@dataclass(frozen=True)
class Access:
    """A request's principal, checked for what its route needs, and its namespace rules."""

    principal: Principal
    default_namespace: str
    writing: bool

    def namespace(self, requested: str | None) -> str:
        return self.principal.namespace(requested, self.default_namespace, writing=self.writing)

    def namespace_or_all(self, requested: str | None) -> str | None:
        return self.principal.namespace_or_all(requested, self.default_namespace)


class Needs:
    """A route's requirement: a scope, and for ``whole_store`` a key bound to no namespace."""

    def __init__(self, scope: KeyScope, *, whole_store: bool = False) -> None:
        self.scope = scope
        self.whole_store = whole_store

    def __call__(self, request: Request) -> Access:
        principal = principal_in(request.scope)
        principal.require(self.scope, whole_store=self.whole_store)
        return Access(principal, request.app.state.settings.namespace, writing=self.scope != "read")


Reader = Annotated[Access, Depends(Needs("read"))]
Writer = Annotated[Access, Depends(Needs("write"))]
Admin = Annotated[Access, Depends(Needs("admin"))]
StoreReader = Annotated[Access, Depends(Needs("read", whole_store=True))]
StoreAdmin = Annotated[Access, Depends(Needs("admin", whole_store=True))]
