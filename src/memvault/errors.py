"""The few error types a caller can act on.

Each class carries its own ``code``, HTTP ``status`` and CLI ``exit_code``, so
the interfaces need no mapping of their own: the CLI exits with ``exit_code``,
the HTTP app answers ``status``, MCP returns a tool error; all three report
``to_dict()``.
"""

from __future__ import annotations


class MemvaultError(Exception):
    """Base class of every error memvault raises on purpose."""

    code = "error"
    status = 500
    exit_code = 1

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "field": self.field}


class InvalidInput(MemvaultError):
    """The caller sent something malformed; ``field`` names what."""

    code = "invalid_input"
    status = 422
    exit_code = 2


class NotFound(MemvaultError):
    """No memory (or other object) matches the reference given."""

    code = "not_found"
    status = 404
    exit_code = 3


class Conflict(MemvaultError):
    """The request clashes with the current state (e.g. restore over data)."""

    code = "conflict"
    status = 409
    exit_code = 1


class StoreUnavailable(MemvaultError):
    """The backing store cannot be reached or failed underneath us."""

    code = "store_unavailable"
    status = 503
    exit_code = 4


class IncompatibleEmbedding(MemvaultError):
    """A vector's model or dimension differs from the one the store records."""

    code = "incompatible_embedding"
    status = 409
    exit_code = 1


class Unauthorized(MemvaultError):
    """The request carries no valid API key (none, unknown, expired or revoked)."""

    code = "unauthorized"
    status = 401
    exit_code = 1


class Forbidden(MemvaultError):
    """The caller is known but may not do this (its key's scope or namespaces)."""

    code = "forbidden"
    status = 403
    exit_code = 1
