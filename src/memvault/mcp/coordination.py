"""Coordination: ``memvault mcp`` forwards to a memvault HTTP server for the same store.

Several assistants (Claude Desktop, Claude Code, agents) each start their own
``memvault mcp``. When a ``memvault serve`` is running for the same store, every
tool call is forwarded to its ``/mcp`` endpoint instead of opening the store
here: one process owns the store and the model, the others stay small.

The rules, in full:

- Where to look: ``MEMVAULT_SERVER_URL`` if set, else the configured local
  port (``MEMVAULT_PORT``, default 8000) on 127.0.0.1. ``/api/v1/health`` must
  answer with a ``store.identity``.
- A server that requires API keys is sent ``MEMVAULT_API_KEY``; without
  one it does not answer, and calls run here.
- Which server counts: a server found on the local port is used only if its
  store identity equals the local store's (the id kept inside the store), so a
  server for another store is never written to. A server named by
  ``MEMVAULT_SERVER_URL`` is used as it is (it may serve a store this machine
  cannot open, e.g. a team PostgreSQL).
- When it goes away (connection refused, dropped or timed out), the call runs
  here on the local store, and so do the calls after it. For a named server
  that is allowed only if its identity, seen earlier, is the local store's;
  otherwise the call fails with ``store_unavailable`` rather than write to a
  different store.
- And back: while running locally, the server is looked for again at most every
  ``RECHECK_SECONDS`` (on the next call); once it answers, calls are forwarded
  again. A call that was cut off mid-flight is run again here: storing and
  updating are idempotent, a repeated delete may report "not found".
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import httpx

from ..config import Settings
from ..errors import StoreUnavailable
from .runner import (
    NAMESPACE_HEADER,
    LocalRunner,
    error_result,
    health_result,
)
from .work import Work

if TYPE_CHECKING:
    from mcp.shared.dispatcher import ProgressFnT

log = logging.getLogger("memvault.mcp")

RECHECK_SECONDS = 5.0
PROBE_TIMEOUT = httpx.Timeout(2.0, connect=0.5)
# A forwarded call may wait for the server's model to load; only a hung server takes longer.
FORWARD_TIMEOUT_SECONDS = 300.0


def server_candidate(settings: Settings) -> str:
    """The base URL to look for a memvault server at."""
    if settings.server_url:
        return settings.server_url.rstrip("/")
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}"


def key_headers(settings: Settings) -> dict[str, str]:
    """The API key (MEMVAULT_API_KEY) for a server that requires one."""
    return {"authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}


async def fetch_identity(base_url: str, headers: dict[str, str]) -> str | None:
    """The store identity a memvault server reports, or None if none answers there."""
    try:
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT, headers=headers) as client:
            response = await client.get(f"{base_url}/api/v1/health")
        identity = response.json()["store"]["identity"] if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None
    return identity if isinstance(identity, str) and identity else None


class ServerGone(Exception):
    """The server could not be reached, or the connection broke before an answer came."""


class Forwarder:
    """Sends tool calls to a memvault server's ``/mcp``, one self-contained request each.

    Each call is a single POST in the stateless 2026-07-28 protocol revision, so
    there is no session to lose when the server restarts.
    """

    def __init__(self, base_url: str, namespace: str, headers: dict[str, str]) -> None:
        self.url = f"{base_url}/mcp"
        self.headers = {NAMESPACE_HEADER: namespace, **headers}
        self._http: Any = None

    async def call(
        self, name: str, arguments: dict[str, Any], on_progress: ProgressFnT | None = None
    ) -> Any:
        """The server's result; its progress notifications go to ``on_progress``."""
        # Imported here: the client half of the SDK is needed only when forwarding.
        import httpx2
        from mcp import Client, MCPError
        from mcp.client.streamable_http import streamable_http_client
        from mcp_types import CallToolRequest, CallToolRequestParams, CallToolResult

        if self._http is None:
            self._http = httpx2.AsyncClient(headers=self.headers, timeout=FORWARD_TIMEOUT_SECONDS)
        request = CallToolRequest(params=CallToolRequestParams(name=name, arguments=arguments))
        try:
            transport = streamable_http_client(self.url, http_client=self._http)
            async with Client(transport, mode="2026-07-28") as client:
                # send_request, not call_tool: the stdio side checks the result
                # against the same output schema already.
                return await client.session.send_request(
                    request, CallToolResult, progress_callback=on_progress
                )
        except Exception as exc:
            causes = _leaves(exc)
            if any(isinstance(c, httpx2.HTTPError | OSError | MCPError) for c in causes):
                raise ServerGone(
                    f"{self.url}: " + "; ".join(f"{type(c).__name__}: {c}" for c in causes)
                ) from exc
            raise

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, or the exception itself."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


class CoordinatingRunner:
    """``memvault mcp``'s runner: forward while a server for the store is up, else run here."""

    def __init__(self, settings: Settings, local: LocalRunner) -> None:
        self.settings = settings
        self.local = local
        self.base_url = server_candidate(settings)
        self.named = bool(settings.server_url)
        self.forwarder: Forwarder | None = None
        self.server_identity: str | None = None
        self.last_error: str | None = None
        self._next_look = 0.0
        self._lock = anyio.Lock()

    @property
    def mode(self) -> str:
        return "forwarding" if self.forwarder is not None else "direct"

    async def start(self) -> None:
        """Decide where calls go; when that is here, open the store and warm the model now."""
        await self._look_for_server()
        if self.forwarder is None and not self.named:
            await anyio.to_thread.run_sync(self._open_locally)

    def _open_locally(self) -> None:
        try:
            self.local.vault()
        except Exception as exc:  # reported by the first call that needs the store
            self.last_error = f"{type(exc).__name__}: {exc}"

    def _local_identity(self) -> str | None:
        try:
            return self.local.open().identity()
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            return None

    async def _look_for_server(self) -> None:
        async with self._lock:
            if self.forwarder is not None or time.monotonic() < self._next_look:
                return
            self._next_look = time.monotonic() + RECHECK_SECONDS
            identity = await fetch_identity(self.base_url, key_headers(self.settings))
            if identity is None:
                return
            if not self.named:
                mine = await anyio.to_thread.run_sync(self._local_identity)
                if identity != mine:
                    log.info("memvault server at %s serves another store", self.base_url)
                    return
            self.server_identity = identity
            self.forwarder = Forwarder(
                self.base_url, self.local.namespace, key_headers(self.settings)
            )
            log.info("forwarding tool calls to %s", self.base_url)

    def _may_run_here(self) -> bool:
        """Running here is safe unless a named server may serve a store other than ours.

        A named server never seen is not compared, so no local store gets created for it.
        """
        if not self.named:
            return True
        return self.server_identity is not None and self.server_identity == self._local_identity()

    def _unreachable(self) -> StoreUnavailable:
        why = self.last_error or "no answer"
        return StoreUnavailable(
            f"the memvault server at {self.base_url} is not reachable ({why}), and it is not "
            "known to serve the local store, so nothing was done"
        )

    async def call(
        self, ctx: Any, name: str, work: Work, arguments: dict[str, Any] | None = None
    ) -> Any:
        """Forward the call (its arguments as the client sent them), or run ``work`` here."""
        await self._look_for_server()
        forwarder = self.forwarder
        if forwarder is not None:
            if arguments is None:
                params = ctx.request_context.params if ctx is not None else None
                arguments = dict((params or {}).get("arguments") or {})
            try:
                relay = ctx.report_progress if ctx is not None else None
                return await forwarder.call(name, arguments, relay)
            except ServerGone as exc:
                self._lost(forwarder, exc)
        if not await anyio.to_thread.run_sync(self._may_run_here):
            return error_result(self._unreachable())
        return await self.local.call(ctx, name, work)

    def _lost(self, forwarder: Forwarder, exc: ServerGone) -> None:
        if self.forwarder is forwarder:
            self.forwarder = None
            self._next_look = time.monotonic() + RECHECK_SECONDS
        self.last_error = str(exc)
        log.warning("memvault server gone (%s); running tool calls locally", exc)

    async def health(self, ctx: Any, name: str) -> Any:
        await self._look_for_server()
        forwarder, report = self.forwarder, None
        if forwarder is not None:
            try:
                remote = await forwarder.call(name, {})
                report = dict(remote.structured_content or {})
            except ServerGone as exc:
                self._lost(forwarder, exc)
        if report is None and await anyio.to_thread.run_sync(self._may_run_here):
            report = await anyio.to_thread.run_sync(self.local.health_report)
        if report is None:
            report = {"status": "error", "error": self._unreachable().to_dict()}
        warmup = self.local.warmup
        report.update(
            mode=self.mode,
            namespace=self.local.namespace,
            server_url=self.base_url if self.forwarder else None,
            coordination={
                "server": self.base_url,
                "named": self.named,
                "server_identity": self.server_identity,
                "last_error": self.last_error,
                "local_model": warmup.state if warmup else None,
            },
        )
        return health_result(report)
