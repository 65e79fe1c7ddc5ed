"""What ``memvault serve`` serves: the HTTP API, the dashboard, and MCP at ``/mcp``.

The composition root of the network interfaces: ``http/``, ``web/`` and
``mcp/`` do not know each other; this module puts them on one app, so a test
or an embedding application that wants exactly what the server answers
builds it here.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.routing import Route
from starlette.types import Lifespan

from .config import Settings
from .http.app import create_app
from .http.auth import require_key
from .mcp.server import mount_mcp
from .vault import Vault
from .web import mount_web


def build_app(
    vault: Vault, settings: Settings | None = None, *, lifespan: Lifespan[FastAPI] | None = None
) -> FastAPI:
    """The HTTP API over ``vault``, the dashboard at ``/`` (with ``/docs`` and
    ``/redoc``), and MCP over streamable HTTP at ``/mcp``."""
    settings = settings or vault.settings
    app = create_app(vault, settings, lifespan=lifespan)
    mount_web(app)
    mount_mcp(app, vault, settings)
    for route in app.routes:  # those with no dependencies to declare a scope in
        if isinstance(route, Route) and route.path in ("/mcp", app.openapi_url):
            require_key(route)
    return app
