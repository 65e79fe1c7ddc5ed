"""``python -m memvault`` and the ``memvault`` script: the command line."""

import sys


def main() -> None:
    if sys.argv[1:] == ["mcp"]:
        # MCP clients give up on servers that start slowly, so a bare `memvault mcp`
        # (settings from the environment) starts serving before the command-line
        # framework loads; with options it goes through the CLI like any command.
        from .mcp.stdio import serve

        serve()
        return
    from .cli.app import app

    app(prog_name="memvault")


if __name__ == "__main__":
    main()
