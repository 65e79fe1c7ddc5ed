"""Who an MCP request acts as, for the tools and resources it reaches.

Over HTTP (``/mcp``), the server's authentication left a ``Principal`` in the
request's scope; a tool checks its scope against it and works only in a
namespace it may see (``X-Memvault-Namespace`` picks one, never widens it).
Over stdio the caller runs the process that holds the store: it may do all.
The principal and whether the call writes travel to the runner in
``CALLER``, set around each tool run and resource read.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from ..access.principal import LOCAL_ADMIN, Principal, principal_in


@dataclass(frozen=True)
class Caller:
    principal: Principal
    writing: bool


CALLER: ContextVar[Caller | None] = ContextVar("memvault_mcp_caller", default=None)


def request_principal(context: Any) -> Principal:
    """The principal of the HTTP request behind an MCP call; over stdio, the local admin."""
    try:
        request = context.request_context.request if context is not None else None
    except ValueError:  # the SDK's way of saying there is no request (a direct call)
        request = None
    scope = getattr(request, "scope", None)
    return LOCAL_ADMIN if scope is None else principal_in(scope)
