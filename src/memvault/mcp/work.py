"""What a tool's work is given and gives back, and the runner that decides where it runs.

A tool's work (``mcp.tools``) is a plain function of a ``Target`` (the Vault,
the namespace and who asks) and the tool's arguments, returning an
``Outcome``. Free of where it runs: a ``Runner`` runs it in this process
(``mcp.runner``) or forwards the tool's name and arguments to a memvault
server (``mcp.coordination``), and turns the outcome into the tool's result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult

from ..access.principal import Principal
from ..memory_vectors import ChunkProgress
from ..vault import Vault


@dataclass(frozen=True)
class Target:
    """Where a tool works: the Vault, the namespace, the viewer (who asks; where
    the store is, its URL, is shown to admins only) and where progress goes."""

    vault: Vault
    namespace: str
    viewer: Principal
    # Tells the client how far a long piece of work got (chunks embedded, of how
    # many), when it asked to hear that (a progress token in the request).
    progress: ChunkProgress | None = None


@dataclass(frozen=True)
class Outcome:
    """A tool's result: ``data`` is the structured result, ``text`` what a person reads."""

    data: dict[str, Any]
    text: str


# A tool's work with its arguments bound, waiting for the place it runs.
Work = Callable[[Target], Outcome]


class Runner(Protocol):
    """Where tools run: in this process, or forwarded to a memvault server.

    ``call`` runs ``work`` here, or forwards the tool ``name`` with ``arguments``
    (by default the arguments of the tool call ``ctx`` belongs to). ``health``
    answers the health tool ``name``: how this server reaches its store.
    """

    async def call(
        self, ctx: Context | None, name: str, work: Work, arguments: dict[str, Any] | None = None
    ) -> CallToolResult: ...

    async def health(self, ctx: Context | None, name: str) -> CallToolResult: ...
