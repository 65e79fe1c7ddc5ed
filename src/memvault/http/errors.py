"""Every error the HTTP API answers, as ``{"error": {"code", "message", "field"}}``.

A ``MemvaultError`` carries its own status and code; FastAPI's request
validation becomes 422 naming the field (400 when the body is not JSON at all),
Starlette's HTTP errors keep their status, and anything unexpected is logged
and answered 500 without its details.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import InvalidInput, MemvaultError, Unauthorized
from .auth import CHALLENGE

log = logging.getLogger(__name__)
# FastAPI's detail when it cannot decode a body at all (e.g. bytes that are not UTF-8).
BODY_PARSE_ERROR = "There was an error parsing the body"


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "field": field}}, status_code=status
    )


def _field_of(loc: tuple[Any, ...]) -> str:
    """``("body", "items", 0, "content")`` -> ``items[0].content``; query/path -> the name."""
    parts: list[str] = []
    for part in loc[1:]:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else str(part))
    return "".join(parts) or str(loc[0])


def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        reason = first.get("ctx", {}).get("error", "syntax error")
        return error_response(
            400, "invalid_json", f"request body is not valid JSON: {reason}", "body"
        )
    field = _field_of(tuple(first["loc"]))
    if first["type"] == "extra_forbidden":
        message = f"unknown field {field!r}"
    elif first["type"] == "missing" and field == "body":
        message = "a JSON request body is required"
    else:
        message = f"{field}: {first['msg']}"
    return error_response(422, InvalidInput.code, message, field)


def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and exc.detail == BODY_PARSE_ERROR:
        return error_response(400, "invalid_body", "request body is not UTF-8 JSON", "body")
    code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_")
    return error_response(exc.status_code, code, str(exc.detail))


def _memvault_error(request: Request, exc: MemvaultError) -> JSONResponse:
    response = error_response(exc.status, exc.code, exc.message, exc.field)
    if isinstance(exc, Unauthorized):
        response.headers["www-authenticate"] = CHALLENGE[1].decode()
    return response


def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", f"internal error: {type(exc).__name__}")


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(MemvaultError, _memvault_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)
