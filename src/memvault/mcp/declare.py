"""How a tool is declared: once, on the method that is the tool.

``@tool(title, hints, needs)`` on a method of a tools class makes it an MCP
tool named as the method, with its title, its behaviour hints and the key
scope a caller needs, all beside its signature (the input schema) and its
docstring (the description). ``declared(tools)`` lists them in the order they
are written, which is the order ``tools/list`` answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mcp_types import ToolAnnotations

from ..access.principal import Scope

Method = TypeVar("Method", bound=Callable[..., Any])

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
# Writes that a second identical call leaves as the first did.
WRITES = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
DESTRUCTIVE = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)


@dataclass(frozen=True)
class ToolSpec:
    """What a tool is besides its signature and docstring."""

    title: str
    hints: ToolAnnotations
    needs: Scope


def tool(title: str, hints: ToolAnnotations, needs: Scope) -> Callable[[Method], Method]:
    """Declare the method below an MCP tool named as the method."""

    def declare(method: Method) -> Method:
        method.tool_spec = ToolSpec(title, hints, needs)  # type: ignore[attr-defined]
        return method

    return declare


def declared(tools: object) -> list[tuple[str, Callable[..., Any], ToolSpec]]:
    """The tools an object's class declares: name, bound method and spec, in written order."""
    return [
        (name, getattr(tools, name), member.tool_spec)
        for name, member in vars(type(tools)).items()
        if hasattr(member, "tool_spec")
    ]
