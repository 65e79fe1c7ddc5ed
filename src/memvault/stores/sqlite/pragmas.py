"""The pragmas a memvault connection runs with, and waiting out another process's lock.

The pragmas come from ``schema.DEFAULT_PRAGMAS`` and the
MEMVAULT_SQLITE_PRAGMAS setting, checked before any file is touched. Every
connection waits up to ``BUSY_TIMEOUT_MS`` for a lock another process holds;
``patiently`` extends that wait to the steps SQLite's busy handler does not
cover, which processes opening one new file at once run into.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import TypeVar

import apsw

from ...errors import InvalidInput
from .rows import named

T = TypeVar("T")
BUSY_TIMEOUT_MS = 60_000
# Pragmas that write to the file; a read-only store skips them.
WRITING_PRAGMAS = frozenset({"journal_mode"})


def parse_pragmas(text: str) -> dict[str, str]:
    """``"key=value,key=value"`` as given in MEMVAULT_SQLITE_PRAGMAS (or the peer's
    MCP_MEMORY_SQLITE_PRAGMAS)."""
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if (
            not sep
            or not key.replace("_", "").isalnum()
            or not value
            or not all(c.isalnum() or c in "-_." for c in value)
        ):
            raise InvalidInput(
                f"bad SQLite pragma {item!r}; expected name=value", field="sqlite_pragmas"
            )
        out[key.lower()] = value
    return out


def check_known(pragmas: dict[str, str]) -> None:
    """SQLite ignores a pragma it does not know, so a misspelt one would
    silently change nothing: refuse it, before any file is touched."""
    probe = apsw.Connection(":memory:")
    known = {row.name for row in named(probe.execute("PRAGMA pragma_list"))}
    probe.close()
    unknown = sorted(set(pragmas) - known)
    if unknown:
        raise InvalidInput(
            f"unknown SQLite pragma {unknown[0]!r} in the SQLite pragmas setting "
            "(MEMVAULT_SQLITE_PRAGMAS or MCP_MEMORY_SQLITE_PRAGMAS)",
            field="sqlite_pragmas",
        )


def apply_pragmas(conn: apsw.Connection, pragmas: dict[str, str], *, read_only: bool) -> None:
    """Run each pragma on ``conn`` (those that write the file only if it may be written)."""
    for key, value in pragmas.items():
        if not (read_only and key in WRITING_PRAGMAS):
            patiently(partial(conn.execute, f"PRAGMA {key}={value}"))


def patiently(step: Callable[[], T]) -> T:
    """``step``, run again while SQLite answers "database is locked", for up to the busy timeout.

    The busy handler does not cover a connection that has read the file and then
    needs to write it while another holds the write lock: SQLite answers at once,
    since waiting could deadlock the two. ``PRAGMA journal_mode=WAL`` on a new
    file is such a step (two processes creating one file both run it), and
    ``PRAGMA optimize``'s ANALYZE another. Between attempts nothing is held,
    so waiting here cannot deadlock.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            return step()
        except apsw.BusyError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
