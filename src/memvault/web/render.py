"""Pages from templates, and errors as pages.

``page`` renders a template of ``web/templates`` with what every page shows
(the signed-in principal, the form token, the navigation). ``PageRoute`` is the
route class of every dashboard router: a memvault error, a refused access or
bad form input becomes an HTML page with the right status (a sign-in is a
redirect to the sign-in page), not the API's JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ..errors import MemvaultError, Unauthorized
from .session import CSRF_FIELD, csrf_token, current_principal, remember_session

NAV = (
    ("/", "Memories"),
    ("/defrag", "Defragmenter"),
    ("/upkeep", "Upkeep"),
    ("/analytics", "Analytics"),
    ("/health", "Health"),
    ("/docs", "API"),
)


def _when(value: datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M")


def query_string(base: dict[str, Any], **changes: Any) -> str:
    """A query string: ``base`` with ``changes``, empty values left out."""
    merged = {**base, **changes}
    pairs = [(k, v) for k, v in merged.items() if v not in (None, "", [])]
    flat = [(k, x) for k, v in pairs for x in (v if isinstance(v, list) else [v])]
    return "?" + urlencode(flat) if flat else ""


env = Environment(
    loader=PackageLoader("memvault.web", "templates"),
    autoescape=select_autoescape(["html", "svg"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters["when"] = _when
env.filters["urlpart"] = lambda value: quote(str(value), safe="")
env.globals["qs"] = query_string
env.globals["csrf_field"] = CSRF_FIELD
env.globals["nav"] = NAV


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The rendered page; starts a session (for form tokens) if there is none yet."""
    try:
        principal = current_principal(request)
    except MemvaultError:
        principal = None
    html = env.get_template(template).render(
        request=request,
        principal=principal,
        csrf=csrf_token(request),
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    remember_session(request, response)
    return response


def see_other(url: str) -> RedirectResponse:
    """After a POST: go to ``url`` with GET (so reloading does not post again)."""
    return RedirectResponse(url, status_code=303)


def error_page(request: Request, exc: Exception) -> Response:
    if isinstance(exc, Unauthorized):
        return see_other("/signin" + query_string({"next": request.url.path}))
    if isinstance(exc, MemvaultError):
        status = exc.status
        message, field = exc.message, exc.field
    elif isinstance(exc, RequestValidationError):
        first = exc.errors()[0]
        status, field = 422, str(first["loc"][-1])
        message = f"{field}: {first['msg']}"
    else:
        assert isinstance(exc, HTTPException)
        status, message, field = exc.status_code, str(exc.detail), None
    return page(request, "error.html", status=status, message=message, field=field)


class PageRoute(APIRoute):
    """A dashboard route: its errors are pages (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except (MemvaultError, RequestValidationError, HTTPException) as exc:
                return error_page(request, exc)

        return handle
