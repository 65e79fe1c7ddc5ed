"""A declared tool as the SDK serves it: arguments checked strictly, the caller's scope first.

The SDK builds a tool's input and output schemas from a function's signature;
``sdk_tool`` gives it one made from the declaration (the tool's arguments,
the client's ``Context``, the result model), whose call is answered through
the runner. Unknown arguments are refused, and a bad argument is reported
as a tool error naming it.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any, cast

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from mcp_types import CallToolResult
from pydantic import ConfigDict, ValidationError

from ..access.principal import Scope
from ..errors import InvalidInput, MemvaultError
from .access import CALLER, Caller, request_principal
from .runner import error_result
from .tools.declare import Declared
from .work import Runner


class StrictTool(Tool):
    """A tool whose arguments are checked strictly, with errors that name the argument,
    run only for a caller whose key has the scope it ``needs``."""

    needs: Scope = "admin"

    async def run(
        self, arguments: dict[str, Any], context: Any, convert_result: bool = False
    ) -> Any:
        try:
            principal = request_principal(context)
            principal.require(self.needs)
            self.fn_metadata.validate_arguments(arguments)
        except ValidationError as exc:
            return error_result(argument_error(exc))
        except MemvaultError as exc:
            return error_result(exc)
        token = CALLER.set(Caller(principal, writing=self.needs != "read"))
        try:
            return await super().run(arguments, context, convert_result)
        finally:
            CALLER.reset(token)


def argument_error(exc: ValidationError) -> InvalidInput:
    """The first bad argument, as InvalidInput naming it (the others are listed too)."""
    names: list[str] = []
    messages: list[str] = []
    for err in exc.errors():
        name = ".".join(str(part) for part in err["loc"]) or "arguments"
        names.append(name)
        if err["type"] == "extra_forbidden":
            messages.append(f"unknown argument {name!r}")
        elif err["type"] == "missing":
            messages.append(f"{name} is required")
        else:
            messages.append(f"{name}: {err['msg']}")
    return InvalidInput("; ".join(messages), field=names[0].split(".")[0])


def sdk_tool(declared: Declared, runner: Runner) -> Tool:
    """The SDK tool for a declaration, answering its calls through ``runner``."""

    async def call(ctx: Context | None = None, **arguments: Any) -> CallToolResult:
        return await declared.answer(runner, ctx, arguments)

    # The SDK reads the schemas from the signature and names the arguments'
    # model after the function, as it would for a function written out.
    returns = Annotated[CallToolResult, declared.out]
    ctx = inspect.Parameter(
        "ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=Context | None
    )
    parameters = [*declared.parameters, ctx]
    call.__name__ = call.__qualname__ = declared.name
    call.__signature__ = inspect.Signature(parameters, return_annotation=returns)  # type: ignore[attr-defined]
    call.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": returns}
    tool = cast(
        StrictTool,
        StrictTool.from_function(
            call,
            name=declared.name,
            title=declared.title,
            description=declared.description,
            annotations=declared.hints,
            structured_output=True,
        ),
    )
    tool.needs = declared.needs
    model = tool.fn_metadata.arg_model
    strict = cast(
        type[ArgModelBase],
        type(
            model.__name__,
            (model,),
            {"model_config": ConfigDict(extra="forbid"), "__module__": model.__module__},
        ),
    )
    tool.fn_metadata.arg_model = strict
    tool.parameters = strict.model_json_schema(by_alias=True)
    return tool
