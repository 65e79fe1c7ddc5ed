"""``memvault mcp``: the MCP server over stdio, for Claude Desktop, Claude Code and others."""

from __future__ import annotations

import typer

from .support import NamespaceOption, StoreOption, load_settings

app = typer.Typer()


@app.command()
def mcp(store: StoreOption = None, namespace: NamespaceOption = None) -> None:
    """Serve MCP over stdin/stdout (the client starts this command).

    Answers the handshake at once and loads the model in the background. When a
    memvault server for the same store runs (MEMVAULT_SERVER_URL, or the local
    MEMVAULT_PORT), every tool call is forwarded to it, and run here again
    whenever it is gone. Logs go to stderr.

    [dim]claude mcp add memvault -e MEMVAULT_NAMESPACE=code -- memvault mcp[/]
    """
    from ..mcp.stdio import serve

    # The configured store is created if new; one named by --store must exist.
    serve(load_settings(store, namespace), create_store=store is None)
