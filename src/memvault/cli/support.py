"""What every ``memvault`` command shares: options, opening the vault, output, exit codes.

A command module (``cli/app.py`` and each module it registers) builds its commands
from these pieces, so every command takes the same ``--store``,
``--namespace`` and ``--json`` options, prints the same way and exits with
the same codes. Errors are turned into exit codes in one place,
``VaultGroup.invoke``, so a command just lets ``MemvaultError`` propagate.

Exit codes: 0 ok, 2 bad input (``InvalidInput`` and usage errors), 3 not
found, 4 store failure (``StoreUnavailable``), 1 any other memvault error
(``Conflict``, ``IncompatibleEmbedding``).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

import typer
from rich.console import Console, RenderableType
from rich.markup import escape
from typer.core import TyperGroup

from ..config import Settings
from ..errors import InvalidInput, MemvaultError
from ..inputs import parse_json_object
from ..vault import Vault
from .render import terminal_safe

console = Console(soft_wrap=False)
err_console = Console(stderr=True, soft_wrap=True)
_JSON_KEY = "memvault.json"


class VaultGroup(TyperGroup):
    """The top-level command group: reports memvault errors and sets the exit code."""

    # typer always passes its own Context, a subclass of the one the base names.
    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except MemvaultError as error:
            report_error(error, as_json=bool(ctx.meta.get(_JSON_KEY)))
            ctx.exit(error.exit_code)


def report_error(error: MemvaultError, *, as_json: bool) -> None:
    """Write an error to stderr: JSON ``{"error": ...}`` or one readable line."""
    if as_json:
        sys.stderr.write(json.dumps({"error": error.to_dict()}, ensure_ascii=False) + "\n")
        return
    where = f" (field: {error.field})" if error.field else ""
    err_console.print(
        f"[bold red]Error:[/] {escape(terminal_safe(error.message + where))}",
        markup=True,
        highlight=False,
    )


def _remember_json(ctx: typer.Context, value: bool) -> bool:
    # Stored on the shared context so that VaultGroup reports errors as JSON too.
    if value:
        ctx.meta[_JSON_KEY] = True
    return value


StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        "-s",
        metavar="URL",
        show_default=False,
        help="Store URL: sqlite:///path/memories.db, postgresql://..., chroma:///dir. "
        "Default: MEMVAULT_STORE_URL, else a SQLite file in the data directory.",
    ),
]
NamespaceOption = Annotated[
    str | None,
    typer.Option(
        "--namespace",
        "-n",
        show_default=False,
        help="Namespace (tenant) to work in. Default: MEMVAULT_NAMESPACE, else 'default'.",
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json", callback=_remember_json, help="Print JSON for machines instead of tables."
    ),
]
TagOption = Annotated[
    list[str] | None,
    typer.Option(
        "--tag",
        "-t",
        show_default=False,
        help="Only memories with this tag; repeat for any of several.",
    ),
]
TypeOption = Annotated[
    str | None,
    typer.Option("--type", show_default=False, help="Only memories of this memory_type."),
]
FilterOption = Annotated[
    str | None,
    typer.Option(
        "--filter",
        "-f",
        metavar="JSON",
        show_default=False,
        help='A filter as a JSON object, e.g. \'{"tags_all": ["a", "b"], '
        '"created_after": "2025-01-01", "metadata": {"project": "x"}}\'. '
        "Keys: tags_any, tags_all, memory_type, created_after, created_before, metadata, "
        "include_expired.",
    ),
]


def load_settings(store: str | None = None, namespace: str | None = None) -> Settings:
    """Settings from the environment, with command-line options taking precedence."""
    settings = Settings.from_env()
    changes: dict[str, Any] = {}
    sources = dict(settings.sources)
    for name, value, option in (
        ("store_url", store, "--store"),
        ("namespace", namespace, "--namespace"),
    ):
        if value is not None:
            changes[name] = value
            sources[name] = f"option {option}"
    return dataclasses.replace(settings, sources=sources, **changes)


@contextmanager
def open_vault(
    store: str | None,
    namespace: str | None = None,
    *,
    create: bool | Literal["on_write"] = False,
) -> Iterator[Vault]:
    """The vault the options name; ``namespace`` becomes its default namespace.

    A store is created only by the commands that write, at their first write
    (``"on_write"``: one refused for its input leaves none behind), and by the
    servers on the configured store (``True``). For any other command, a store
    that does not exist is an error naming it (exit 3). The model is not loaded
    here: only commands that embed text load it.
    """
    with Vault.open(settings=load_settings(store, namespace), create=create) as vault:
        yield vault


def filter_from_options(
    tags: list[str] | None, memory_type: str | None, filter_json: str | None
) -> dict[str, Any]:
    """One filter dict from ``--tag``, ``--type`` and ``--filter`` (the Vault checks it)."""
    flt = parse_json_object(filter_json, "filter") or {}
    if "namespace" in flt:  # as the HTTP API refuses it: one place names the namespace
        raise InvalidInput(
            "the namespace is not a filter key; give it with --namespace/-n",
            field="filter.namespace",
        )
    if tags:
        existing = flt.get("tags_any") or []
        if not isinstance(existing, list):
            raise InvalidInput("filter.tags_any must be a list of strings", field="filter.tags_any")
        flt["tags_any"] = [*existing, *tags]
    if memory_type is not None:
        flt["memory_type"] = memory_type
    return flt


def read_content(argument: str, max_bytes: int) -> str:
    """The content argument, or stdin (as UTF-8) when it is ``-``; the Vault checks the rest."""
    if argument != "-":
        return argument
    # Read one byte past the limit at most: enough to say it is too long.
    data = sys.stdin.buffer.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InvalidInput(
            f"content on stdin is over the limit of {max_bytes} bytes", field="content"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"content on stdin is not valid UTF-8 (byte {exc.start})", field="content"
        ) from None


def emit(data: Any, as_json: bool, render: Callable[[Any], RenderableType]) -> None:
    """Print ``data`` as JSON, or as the table ``render`` makes of it."""
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        console.print(render(terminal_safe(data)))
