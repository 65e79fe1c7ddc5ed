"""How a tool is declared: once, on the function that does its work.

``@tool(title, hints, needs, out)`` on a function makes it an MCP tool named
as the function, with its title, its behaviour hints, the key scope a caller
needs and the model of its structured result, all beside its signature (the
input schema, after the first parameter, the ``Target``) and its docstring
(the description). The function body is the work: what it asks the Vault for
and how it shapes the result. Where that work runs is the runner's business.
``declared_in(module)`` lists a module's tools in the order they are written,
which is the order ``tools/list`` answers.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel

from ...access.principal import Scope
from ..work import Outcome, Runner, Target, Work

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
class Declared(ABC):
    """A tool as clients see it, and how a call of it is answered through a runner."""

    name: str
    title: str
    hints: ToolAnnotations
    needs: Scope
    out: type[BaseModel]
    description: str
    # The tool's arguments: their annotations and defaults are the input schema.
    parameters: tuple[inspect.Parameter, ...]

    @abstractmethod
    async def answer(
        self, runner: Runner, ctx: Context | None, arguments: dict[str, Any]
    ) -> CallToolResult: ...


@dataclass(frozen=True)
class VaultTool(Declared):
    """A tool whose work is a function of a ``Target`` and its arguments."""

    work: Callable[..., Outcome]

    def bind(self, **arguments: Any) -> Work:
        """The work with these arguments, for the runner to run wherever it decides."""
        return lambda target: self.work(target, **arguments)

    async def answer(
        self, runner: Runner, ctx: Context | None, arguments: dict[str, Any]
    ) -> CallToolResult:
        return await runner.call(ctx, self.name, self.bind(**arguments))


@dataclass(frozen=True)
class RunnerTool(Declared):
    """A tool without arguments that the runner answers itself (how it reaches the store)."""

    ask: Callable[[Runner, Context | None, str], Awaitable[CallToolResult]]

    async def answer(
        self, runner: Runner, ctx: Context | None, arguments: dict[str, Any]
    ) -> CallToolResult:
        return await self.ask(runner, ctx, self.name)


def tool(
    title: str, hints: ToolAnnotations, needs: Scope, out: type[BaseModel]
) -> Callable[[Callable[..., Outcome]], VaultTool]:
    """Declare the function below, ``work(target, **arguments)``, an MCP tool named as it."""

    def declare(work: Callable[..., Outcome]) -> VaultTool:
        target, *arguments = inspect.signature(work, eval_str=True).parameters.values()
        if target.annotation is not Target:
            raise TypeError(f"{work.__name__}: the first parameter must be the Target")
        return VaultTool(
            work.__name__,
            title,
            hints,
            needs,
            out,
            inspect.cleandoc(work.__doc__ or ""),
            tuple(arguments),
            work,
        )

    return declare


def runner_tool(
    title: str, hints: ToolAnnotations, needs: Scope, out: type[BaseModel]
) -> Callable[[Callable[[Runner, Context | None, str], Awaitable[CallToolResult]]], RunnerTool]:
    """Declare the function below, ``ask(runner, ctx, name)``, an MCP tool named as it."""

    def declare(
        ask: Callable[[Runner, Context | None, str], Awaitable[CallToolResult]],
    ) -> RunnerTool:
        return RunnerTool(
            ask.__name__, title, hints, needs, out, inspect.cleandoc(ask.__doc__ or ""), (), ask
        )

    return declare


def declared_in(module: ModuleType) -> list[Declared]:
    """The tools a module declares, in written order."""
    return [value for value in vars(module).values() if isinstance(value, Declared)]
