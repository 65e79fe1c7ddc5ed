"""``python -m memvault``: the same command line as the ``memvault`` script."""

from .cli import app

app(prog_name="memvault")
