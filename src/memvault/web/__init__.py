"""The dashboard: pages for the person whose memories these are, served at ``/``.

``mount_web(app)`` adds it to the HTTP app: the pages (``browse``, ``defrag``,
``upkeep``, ``insight``), the offline API docs (``docs``) and the static
assets under ``/static``, all shipped in the package. Pages are rendered by
the server and readable with JavaScript off; every call goes through the same
Vault as the API, and who may do what is decided in ``session``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from . import browse, defrag, docs, insight, operations, upkeep

STATIC = Path(__file__).parent / "static"


def mount_web(app: FastAPI) -> None:
    """Add the dashboard, ``/docs``, ``/redoc`` and ``/static`` to ``app``.

    Build the app with ``docs_url=None, redoc_url=None``: these replace
    FastAPI's CDN-loading pages.
    """
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (docs, browse, defrag, operations, upkeep, insight):
        app.include_router(module.router)
