"""The ``memvault`` command line: each command is one Vault call, printed as a table or JSON.

Every command takes ``--store URL``, ``--namespace NAME`` and ``--json``.
Exit codes: 0 ok, 2 bad input, 3 not found, 4 store failure, 1 any other
memvault error (see ``cli.support``). Commands that embed nothing (get,
delete, list, tags, stats, health, config) never load the model.

This module is the root: ``--version`` and the command modules (``memories``
first: store, search, tags, recall, get, list, update, delete), each defining
its own ``typer.Typer()`` with options from ``cli.support`` and registered at
the bottom of this file.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from .support import VaultGroup

app = typer.Typer(
    cls=VaultGroup,
    name="memvault",
    help="Persistent, searchable long-term memory for AI assistants and agents.\n\n"
    "Store what you learn, then find it again by meaning, by tag or by time.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


def _print_version(asked: bool) -> None:
    # A callback of the option, run as it is parsed: the group's own callback
    # would only run once a command was named ("Missing command" otherwise).
    if asked:
        typer.echo(f"memvault {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Options before any command."""


def _register_command_modules() -> None:
    # Each module defines `app = typer.Typer()`; its commands join the top level.
    from . import keys as cli_keys
    from . import maintenance as cli_maintenance
    from . import mcp as cli_mcp
    from . import memories as cli_memories
    from . import service as cli_service
    from . import transfer as cli_transfer

    for module in (cli_memories, cli_service, cli_transfer, cli_maintenance, cli_mcp):
        app.add_typer(module.app)
    app.add_typer(cli_keys.app)  # a group of its own: memvault keys create|list|revoke


_register_command_modules()
