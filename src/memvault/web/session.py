"""Who may use the dashboard, and the forms it posts: sign-in, the access check, CSRF.

``current_principal`` is the one place the dashboard decides access;
everything else asks it through ``need("read" | "write" | "admin")``. It
takes what the server's authentication (``http.auth``) found for the request,
as the API does: keys are the store's API keys (``access.keys.KeyRing``), and
while no key exists the dashboard opens without a sign-in to clients on this
machine (loopback), and to nobody else.

A signed-in key is kept in an HttpOnly, SameSite=Strict cookie. Every form
that changes something carries a token tied to the browser's session cookie
(an HMAC under a secret of this server process); a POST without the right
token is refused before anything runs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from ..access.keys import KeyRing
from ..access.principal import KEY_COOKIE, Principal, Scope, principal_in
from ..errors import Forbidden

SESSION_COOKIE = "memvault_session"
CSRF_FIELD = "csrf"


class BadToken(Forbidden):
    code = "bad_csrf_token"


def key_ring(request: Request) -> KeyRing:
    """The store's keys, read through one ring per app (it caches them for a moment)."""
    state = request.app.state
    if not hasattr(state, "key_ring"):
        state.key_ring = state.vault.keys
    return state.key_ring


def current_principal(request: Request) -> Principal:
    """Whom this request acts as: what the server's authentication found for it (its key
    cookie, as the API's Bearer header), Unauthorized without a valid key."""
    return principal_in(request.scope)


def need(scope: Scope) -> Any:
    """A dependency: the request's principal, refused (403) unless it has ``scope``."""

    def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.may(scope):
            raise Forbidden(f"this needs a key with the {scope} scope", field="scope")
        return principal

    return Depends(dependency)


def _secret(request: Request) -> bytes:
    state = request.app.state
    if not hasattr(state, "dashboard_secret"):
        state.dashboard_secret = secrets.token_bytes(32)
    return state.dashboard_secret


def session_of(request: Request) -> str:
    """The browser's session id: from its cookie, or a new one ``remember_session`` sets."""
    session = request.cookies.get(SESSION_COOKIE) or getattr(request.state, "new_session", None)
    if not session:
        session = request.state.new_session = secrets.token_urlsafe(24)
    return session


def csrf_token(request: Request) -> str:
    return hmac.new(_secret(request), session_of(request).encode(), hashlib.sha256).hexdigest()


def remember_session(request: Request, response: Response) -> None:
    """Set the session cookie if this request started a session."""
    new = getattr(request.state, "new_session", None)
    if new:
        response.set_cookie(
            SESSION_COOKIE,
            new,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token matches this browser's session."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if (
        SESSION_COOKIE not in request.cookies
        or not isinstance(sent, str)
        or not hmac.compare_digest(sent, csrf_token(request))
    ):
        raise BadToken(
            "the form's security token is missing or out of date; reload the page and try again",
            field=CSRF_FIELD,
        )
    return form


def sign_in(request: Request, response: Response, key: str) -> Principal:
    """Check ``key`` and keep it in the key cookie; Unauthorized when it is not a key."""
    principal = key_ring(request).verify(key)
    response.set_cookie(
        KEY_COOKIE, key, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return principal


def sign_out(response: Response) -> None:
    response.delete_cookie(KEY_COOKIE, httponly=True, samesite="strict")
