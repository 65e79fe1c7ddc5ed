"""ASGI middleware of the HTTP service: request timing, Host and Origin checks, a body limit.

All are plain ASGI (not BaseHTTPMiddleware), so streaming responses, such as
those of an app mounted under the API (``/mcp``), pass through untouched.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..metrics import Metrics

# Names of this machine that no DNS answer can make point elsewhere.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})


async def send_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    field: str | None,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """A response in the app's one error shape, sent from below the app's error handlers."""
    payload = json.dumps({"error": {"code": code, "message": message, "field": field}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class RequestTimer:
    """Request latency by method, route template (never the raw path) and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            # The router records the matched route in the (shared) scope.
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe_request(
                scope["method"], route, status, time.perf_counter() - started
            )


class BodyLimit:
    """Refuses a request body over ``limit`` bytes with a JSON 413, before any parsing.

    The body is read here (as FastAPI would read it for JSON anyway) and handed
    on whole, so a body sent in chunks without a Content-Length is counted too.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            if len(body) > self.limit:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # later reads wait for a disconnect, as usual
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        await send_error(
            send,
            413,
            "body_too_large",
            f"request body is over the limit of {self.limit} bytes",
            "body",
        )


def host_name(host: str) -> str:
    """The name part of a Host header (``[::1]:8000`` -> ``[::1]``), lower-cased."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0].rstrip(".") if host.count(":") <= 1 else host


class HostCheck:
    """Against DNS rebinding: a request must name this server, and come from its own pages.

    A Host outside the loopback names and ``allowed_hosts`` (any port) is
    refused with 421: a web page whose name was made to resolve to this
    machine cannot reach the API. A request carrying an ``Origin`` that is
    neither the server's own (the Host it addressed) nor one of
    ``allowed_origins`` is refused with 403, whatever its method: browsers send
    Origin on every cross-site fetch and form post, and MCP's streamable HTTP
    asks for it on every request. Clients that are not browsers send no Origin.
    """

    def __init__(
        self, app: ASGIApp, allowed_hosts: Iterable[str], allowed_origins: Iterable[str]
    ) -> None:
        self.app = app
        self.hosts = LOOPBACK_HOSTS | {host_name(h) for h in allowed_hosts}
        self.origins = frozenset(o.lower().rstrip("/") for o in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if host_name(host) not in self.hosts:
            await send_error(
                send,
                421,
                "misdirected_request",
                f"this server does not answer to the host name {host!r}; "
                "add it to MEMVAULT_ALLOWED_HOSTS to allow it",
                "Host",
            )
            return
        origin = headers.get("origin")
        if origin is not None and not self._own_origin(origin, host):
            await send_error(
                send,
                403,
                "forbidden_origin",
                f"requests from the web origin {origin!r} are refused; add it "
                "to MEMVAULT_CORS_ORIGINS to allow it",
                "Origin",
            )
            return
        await self.app(scope, receive, send)

    def _own_origin(self, origin: str, host: str) -> bool:
        origin = origin.strip().lower().rstrip("/")
        return origin in self.origins or urlsplit(origin).netloc == host.strip().lower()
