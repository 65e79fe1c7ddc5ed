"""Where a ``sqlite://`` URL points, and what the file there holds (looked at, never changed).

One path rule for every role a URL plays (store, migration source or target,
backup): the path is what follows ``sqlite://`` up to any ``?``. Leading
slashes beyond the first count as one, so ``sqlite:////abs/x.db`` (as
SQLAlchemy writes it, and what ``sqlite:///$DIR/x.db`` becomes) is
``/abs/x.db`` like ``sqlite:///abs/x.db``; ``sqlite://rel/x.db`` is relative to
the working directory; ``~`` is expanded.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import apsw

from ...errors import InvalidInput
from .pragmas import BUSY_TIMEOUT_MS

# Less free disk than this beside the file, and the disk counts as full.
LOW_DISK_BYTES = 1 << 20

# Tables every memvault file has (created together by its first migration).
MEMVAULT_TABLES = frozenset({"schema_migrations", "meta", "memories"})
# mcp-memory-service's sqlite_vec backend: its memories and their vectors.
MCP_TABLES = frozenset({"memories", "memory_embeddings"})


def sqlite_path(url: str, field: str = "store_url") -> Path:
    """The file a ``sqlite://`` (or ``mcp-memory-service+sqlite://``) URL names."""
    rest = url.split("://", 1)[1] if "://" in url else ""
    path = rest.split("?", 1)[0]
    if path.startswith("/"):
        path = "/" + path.lstrip("/")
    if not path or path == "/":
        raise InvalidInput(f"SQLite URL names no file: {url!r}", field=field)
    return Path(path).expanduser()


@dataclass(frozen=True, slots=True)
class Layout:
    """What a path holds: ``missing``, ``empty`` (no tables yet), ``memvault``,
    ``mcp`` (an mcp-memory-service database), ``foreign`` (another application's
    tables, listed) or ``unreadable`` (not a SQLite file, or one that cannot be
    read: ``problem`` says why)."""

    kind: str
    tables: tuple[str, ...] = ()
    problem: str = ""

    def describe(self, path: Path) -> str:
        """One sentence naming what was found, for an error message."""
        if self.kind == "foreign":
            shown = ", ".join(self.tables[:8]) + (", ..." if len(self.tables) > 8 else "")
            return f"{path} is another application's SQLite database (tables: {shown})"
        if self.kind == "mcp":
            return f"{path} is an mcp-memory-service database"
        if self.kind == "unreadable":
            return f"{path} cannot be read as SQLite: {self.problem}"
        return "the file is empty" if self.kind == "empty" else "the file does not exist"


def read_only_reason(path: Path) -> str | None:
    """Why the existing file at ``path`` cannot be written, or None if it can."""
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return "it is on a read-only file system"
    except OSError:
        pass
    if not os.access(path, os.W_OK):
        return "the file is read-only"
    # A write needs a journal, or the WAL files, created beside the file.
    if not os.access(path.absolute().parent, os.W_OK):
        return "its directory is read-only"
    # Closed cleanly, a WAL store has no shared-memory file, and SQLite cannot
    # make one on a full disk: it could not even be read. Read as it stands
    # (every change is in the file: no write-ahead log is left to replay).
    if not _beside(path, "-shm").exists() and not _pending_log(path):
        return disk_full(path)
    return None


def disk_full(path: Path) -> str | None:
    """ "the disk is full: ..." when the file system of ``path`` has (almost) no room left."""
    try:
        free = shutil.disk_usage(path.absolute().parent).free
    except OSError:
        return None
    where = path.absolute().parent
    return f"the disk is full: {free >> 10} KB free at {where}" if free < LOW_DISK_BYTES else None


def _beside(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _pending_log(path: Path) -> bool:
    log = _beside(path, "-wal")
    return log.exists() and log.stat().st_size > 0


def open_read_only(path: Path) -> apsw.Connection:
    """A connection that can only read ``path``, and never creates or changes a file.

    Where the shared-memory file a WAL database is read through cannot be made
    (a read-only file system, or a read-only directory or full disk without one
    already), the file is
    opened as immutable: SQLite could not read it otherwise.
    """
    uri = "file:" + quote(str(path.absolute()))
    reason = read_only_reason(path) or ""
    if reason == "it is on a read-only file system" or (
        reason.startswith(("its directory is read-only", "the disk is full"))
        and not _beside(path, "-shm").exists()
    ):
        uri += "?immutable=1"
    conn = apsw.Connection(uri, flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    # Another process may be setting the file up or writing it: wait, as for a write.
    conn.setbusytimeout(BUSY_TIMEOUT_MS)
    return conn


def sqlite_layout(path: Path) -> Layout:
    """What the file at ``path`` holds, read through a read-only connection."""
    if not path.exists():
        return Layout("missing")
    if path.is_file() and path.stat().st_size == 0:
        return Layout("empty")
    if not os.access(path, os.R_OK):
        return Layout("unreadable", problem="permission denied")
    try:
        conn = open_read_only(path)
        try:
            tables = tuple(
                sorted(
                    r[0]
                    for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                )
            )
        finally:
            conn.close()
    except apsw.Error as exc:
        return Layout("unreadable", problem=str(exc))
    names = frozenset(tables)
    if not names:
        return Layout("empty")
    if names >= MEMVAULT_TABLES:
        return Layout("memvault", tables)
    if names >= MCP_TABLES:
        return Layout("mcp", tables)
    return Layout("foreign", tables)
