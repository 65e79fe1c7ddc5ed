"""Running a tool against a Vault in this process, and shaping what comes back as MCP results.

A tool call ends as a ``CallToolResult`` with readable text and, for success,
structured content; an error carries ``{"error": {code, message, field}}`` and
``isError``, so a model reads what went wrong and a program can act on it.
Nothing a tool does can take the server down: every exception becomes such a
result.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import anyio.from_thread
import anyio.to_thread
from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, TextContent

from ..access.principal import LOCAL_ADMIN, Principal, visible_report
from ..errors import MemvaultError, StoreUnavailable
from ..limits import check_namespace
from ..memory_vectors import ChunkProgress
from ..vault import Vault
from .access import CALLER
from .work import Outcome, Target, Work

log = logging.getLogger("memvault.mcp")

NAMESPACE_HEADER = "x-memvault-namespace"


def outcome_result(outcome: Outcome) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=outcome.text)], structured_content=outcome.data
    )


def error_result(error: MemvaultError) -> CallToolResult:
    return _error(error.to_dict())


def unexpected_result(exc: BaseException) -> CallToolResult:
    """An exception nobody anticipated: logged with its traceback, reported in one line."""
    log.error("tool failed unexpectedly", exc_info=exc)
    return _error(
        {
            "code": "internal_error",
            "message": f"unexpected {type(exc).__name__}: {exc}",
            "field": None,
        }
    )


def _error(error: dict[str, Any]) -> CallToolResult:
    about = f" (argument: {error['field']})" if error["field"] else ""
    return CallToolResult(
        content=[
            TextContent(type="text", text=f"Error [{error['code']}]: {error['message']}{about}")
        ],
        structured_content={"error": error},
        is_error=True,
    )


def health_result(report: dict[str, Any]) -> CallToolResult:
    """memory_health's result: a failing store is a finding here, not a tool error."""
    mode = report.get("mode", "direct")
    if report.get("status") != "ok":
        message = (report.get("error") or {}).get("message", "unknown error")
        text = f"memvault cannot use its store ({mode}): {message}"
    else:
        store = report.get("store") or {}
        text = (
            f"memvault is working ({mode}"
            + (f" via {report['server_url']}" if report.get("server_url") else "")
            + f"): store {store.get('url')} (identity {store.get('identity')}), model "
            f"{report.get('model')} {report.get('model_state', '')}, namespace "
            f"{report.get('namespace')!r}."
        )
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=report)


def header_namespace(ctx: Context | None) -> str | None:
    """The namespace an HTTP client asked for with the X-Memvault-Namespace header."""
    headers: Mapping[str, str] | None = ctx.headers if ctx is not None else None
    value = headers.get(NAMESPACE_HEADER) if headers else None
    return check_namespace(value, "X-Memvault-Namespace header") if value else None


def _progress_to(ctx: Context | None) -> ChunkProgress | None:
    """Progress of the work (run on a worker thread) as the call's progress notifications.

    The SDK sends them only when the request carried a progress token.
    """
    if ctx is None:
        return None

    def report(done: int, total: int) -> None:
        message = f"embedded {done} of {total} chunks"
        anyio.from_thread.run(ctx.report_progress, done, total, message)

    return report


class ModelWarmup:
    """Loads the embedding model on a background thread and says how far it got."""

    def __init__(self) -> None:
        self.state = "not started"
        self._started = False
        self._lock = threading.Lock()

    def start(self, vault: Vault) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            self.state = "loading"
        threading.Thread(
            target=self._load, args=(vault,), name="memvault-model", daemon=True
        ).start()

    def _load(self, vault: Vault) -> None:
        try:
            vault.embedder.load()
        except Exception as exc:  # the tool that needs the model reports it again
            self.state = f"failed: {type(exc).__name__}: {exc}"
            log.error("embedding model failed to load", exc_info=exc)
        else:
            self.state = "ready"


class LocalRunner:
    """Runs tools on a Vault opened in this process (lazily, so startup stays fast).

    ``open_vault`` is called on first use and again after a failure, so a store
    that was unavailable is retried. With ``warm_model`` the model starts
    loading in the background as soon as the vault opens; a call that needs
    it waits for it (the embedder's load is locked and happens once).
    """

    def __init__(
        self,
        open_vault: Callable[[], Vault],
        namespace: str,
        *,
        warm_model: bool = True,
        namespace_from_header: bool = False,
    ) -> None:
        self._open_vault = open_vault
        self.namespace = check_namespace(namespace)
        self.namespace_from_header = namespace_from_header
        self.warmup = ModelWarmup() if warm_model else None
        self._vault: Vault | None = None
        self._lock = threading.Lock()

    def open(self) -> Vault:
        """The vault, opened on first use; the model is not touched."""
        with self._lock:
            if self._vault is None:
                self._vault = self._open_vault()
            return self._vault

    def vault(self) -> Vault:
        """The vault, with the model loading in the background if it is not yet."""
        vault = self.open()
        if self.warmup is not None:
            self.warmup.start(vault)
        return vault

    def namespace_for(self, ctx: Context | None) -> str:
        """The header's namespace, else the server's; for a caller with a key, as it allows."""
        chosen = header_namespace(ctx) if self.namespace_from_header else None
        caller = CALLER.get()
        if caller is None:
            return chosen or self.namespace
        return caller.principal.namespace(chosen, self.namespace, writing=caller.writing)

    async def call(
        self, ctx: Context | None, name: str, work: Work, arguments: dict[str, Any] | None = None
    ) -> CallToolResult:
        try:
            namespace = self.namespace_for(ctx)
            progress = _progress_to(ctx)
            outcome = await anyio.to_thread.run_sync(
                lambda: work(Target(self.vault(), namespace, self._caller(), progress))
            )
        except MemvaultError as exc:
            return error_result(exc)
        except Exception as exc:
            return unexpected_result(exc)
        return outcome_result(outcome)

    def health_report(self) -> dict[str, Any]:
        """The vault's health and the model's state; a failing store is reported, not raised."""
        try:
            report = self.vault().health()
        except Exception as exc:
            error = (
                exc
                if isinstance(exc, MemvaultError)
                else StoreUnavailable(f"store check failed: {type(exc).__name__}: {exc}")
            )
            return {"status": "error", "error": error.to_dict()}
        if self.warmup is not None and not report.get("model_loaded"):
            report["model_state"] = self.warmup.state
        else:
            report["model_state"] = "ready" if report.get("model_loaded") else "not loaded"
        return report

    async def health(self, ctx: Context | None, name: str) -> CallToolResult:
        """The health tool's answer, from here (``name`` matters only to a forwarding runner)."""
        report = await anyio.to_thread.run_sync(self.health_report)
        try:
            namespace = self.namespace_for(ctx)
        except MemvaultError as exc:
            return error_result(exc)
        report.update(mode="direct", namespace=namespace)
        return health_result(visible_report(report, self._caller()))

    @staticmethod
    def _caller() -> Principal:
        """Who the tool runs for (over stdio: the local admin)."""
        caller = CALLER.get()
        return caller.principal if caller is not None else LOCAL_ADMIN

    def close(self) -> None:
        with self._lock:
            if self._vault is not None:
                self._vault.close()
                self._vault = None
