"""Commands about the vault itself: ``config``, ``stats``, ``health``, ``serve`` (the HTTP
service) and ``ui``."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shlex
import socket
import sys
import threading
import time
import webbrowser
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from ipaddress import ip_address
from typing import Annotated

import typer
from rich.console import Group

from ..errors import Conflict, Forbidden, StoreUnavailable
from .render import health_view, settings_view, stats_view
from .support import (
    JsonOption,
    NamespaceOption,
    StoreOption,
    emit,
    err_console,
    load_settings,
    open_vault,
)
from .upkeep_views import detail_view

app = typer.Typer()


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` reaches this machine only."""
    if host == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _create_key_command(store: str | None) -> str:
    where = f" --store {shlex.quote(store)}" if store else ""
    return f"memvault keys create --name admin --scope admin{where}"


@app.command()
def config(
    store: StoreOption = None,
    namespace: NamespaceOption = None,
    json_: JsonOption = False,
) -> None:
    """Print every effective setting and where its value came from.

    Settings come from MEMVAULT_* environment variables (mcp-memory-service's
    MCP_MEMORY_* names are accepted as aliases), then command-line options.
    """
    settings = load_settings(store, namespace)
    rows = [{"name": n, "value": v, "source": s} for n, v, s in settings.describe()]
    emit({"settings": rows}, json_, settings_view)


@app.command()
def stats(
    detail: Annotated[
        bool,
        typer.Option(
            "--detail",
            help="Also by tag, importance, hour, weekday and month; growth; the "
            "largest memories; the duplicate ratio (reads every vector).",
        ),
    ] = False,
    store: StoreOption = None,
    namespace: NamespaceOption = None,
    json_: JsonOption = False,
) -> None:
    """Totals, counts by type, namespace and month, top tags, store size and model.

    Covers every namespace unless --namespace is given. Never loads the model.
    """
    with open_vault(store, namespace) as vault:
        data = vault.stats(namespace=namespace)
        if detail:
            data["detail"] = vault.upkeep.detailed_stats(namespace=namespace)
    emit(
        data,
        json_,
        lambda d: (
            Group(
                stats_view({k: v for k, v in d.items() if k != "detail"}), detail_view(d["detail"])
            )
            if detail
            else stats_view(d)
        ),
    )


@app.command()
def health(
    store: StoreOption = None,
    namespace: NamespaceOption = None,
    json_: JsonOption = False,
) -> None:
    """Check that the store answers; prints its identity, URL and the model.

    Exits 4 when the store cannot be used, or can only partly (its problems are
    listed: damaged, disk full, writes failing, read-only). Never loads the model.
    """
    with open_vault(store, namespace) as vault:
        report = vault.health()
    emit(report, json_, health_view)
    if report["status"] != "ok":
        raise typer.Exit(StoreUnavailable.exit_code)


@app.command()
def serve(
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            show_default=False,
            help="Interface to listen on. Default: MEMVAULT_HOST, else 127.0.0.1 (this machine "
            "only). Another address (0.0.0.0: every interface) needs an API key in the "
            "store first (memvault keys create).",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port", "-p", show_default=False, help="Port. Default: MEMVAULT_PORT, else 8000."
        ),
    ] = None,
    log_level: Annotated[
        str,
        typer.Option(
            "--log-level", help="uvicorn log level: critical, error, warning, info, debug."
        ),
    ] = "info",
    open_: Annotated[
        bool,
        typer.Option(
            "--open", help="Open the dashboard in your web browser once the server answers."
        ),
    ] = False,
    store: StoreOption = None,
    namespace: NamespaceOption = None,
    json_: JsonOption = False,
) -> None:
    """Run the HTTP API and the dashboard (at /; API docs at /docs, metrics at /metrics).

    --namespace sets the namespace of requests that name none. The model loads
    in the background at start, so the first search does not wait for it; so
    do vector graphs a killed optimize left missing (PostgreSQL).
    With --json the address is printed as one JSON line once known.

    Once the store has an API key, every request needs one; until then only
    this machine is served, and listening beyond it is refused.

    [dim]memvault serve --port 8080[/]
    """
    import uvicorn

    from ..server import build_app

    # The configured store is created if new; one named by --store must exist.
    with open_vault(store, namespace, create=store is None) as vault:
        settings = dataclasses.replace(
            vault.settings, host=host or vault.settings.host, port=port or vault.settings.port
        )
        if not is_loopback(settings.host) and not vault.keys.usable():
            raise Forbidden(
                f"memvault serve --host {settings.host} would answer other machines, and this "
                "store has no API key in use. Create one first (it is printed once), then start "
                "again and send it as Authorization: Bearer KEY:\n  "
                f"{_create_key_command(store)}",
                field="host",
            )
        if not is_loopback(settings.host) and not settings.allowed_hosts:
            err_console.print(
                "Only requests to 127.0.0.1, localhost or [::1] are answered; "
                "set MEMVAULT_ALLOWED_HOSTS to the names clients use for this "
                "server.",
                highlight=False,
                markup=False,
            )
        listener = _listen(settings.host, settings.port)
        address = {
            "url": f"http://{settings.host}:{settings.port}",
            "store": vault.url,
        }
        if json_:
            sys.stdout.write(json.dumps(address) + "\n")
            sys.stdout.flush()
        threading.Thread(target=vault.embedder.load, name="model-warmup", daemon=True).start()
        if repairing := vault.upkeep.repair_in_background():
            err_console.print(repairing, highlight=False, markup=False)

        @asynccontextmanager
        async def close_vault_at_shutdown(app: object) -> AsyncIterator[None]:
            # Closed here, not after uvicorn.run(): uvicorn ends the process by
            # re-raising the SIGTERM/SIGINT it caught, so code after run() may not run.
            yield
            vault.close()

        if open_:
            threading.Thread(
                target=open_when_up,
                args=(settings.host, settings.port),
                name="open-dashboard",
                daemon=True,
            ).start()
        app = build_app(vault, settings, lifespan=close_vault_at_shutdown)
        config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=log_level)
        uvicorn.Server(config).run(sockets=[listener])


def dashboard_url(host: str, port: int) -> str:
    # A server listening on every interface is reached on this machine at loopback.
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/"


def answers(host: str, port: int) -> bool:
    with (
        contextlib.suppress(OSError),
        socket.create_connection(
            ("127.0.0.1" if host in ("0.0.0.0", "::", "") else host, port), timeout=0.5
        ),
    ):
        return True
    return False


def open_when_up(host: str, port: int, wait_seconds: float = 60.0) -> None:
    """Open the dashboard in the user's browser as soon as the server accepts connections."""
    deadline = time.monotonic() + wait_seconds
    while not answers(host, port):
        if time.monotonic() > deadline:
            return
        time.sleep(0.2)
    webbrowser.open(dashboard_url(host, port))


@app.command()
def ui(
    host: Annotated[
        str | None, typer.Option("--host", show_default=False, help="As for serve.")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", "-p", show_default=False, help="As for serve.")
    ] = None,
    store: StoreOption = None,
    namespace: NamespaceOption = None,
) -> None:
    """Open the dashboard in your web browser, starting the server if none answers.

    [dim]memvault ui[/]
    """
    settings = load_settings(store, namespace)
    address = (host or settings.host, port or settings.port)
    if answers(*address):
        typer.echo(f"Opening {dashboard_url(*address)}")
        webbrowser.open(dashboard_url(*address))
        return
    serve(
        host=host,
        port=port,
        log_level="info",
        open_=True,
        store=store,
        namespace=namespace,
        json_=False,
    )


def _listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound before anything starts: uvicorn, finding the
    port taken, would exit with the model loading in a thread (an abort, 134)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise Conflict(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; is another "
            "server running there? Choose another port with --port",
            field="port",
        ) from None
    return listener
