"""Files memvault writes: private from the start, and named only from safe parts.

Stores, dumps, backups and archives hold what people told their assistants,
so each file is created readable by its owner only (0600) and each directory
memvault makes is 0700. The modes are given when a file or directory is
created, never widened afterwards, so a stricter umask still applies. A SQLite
file is created empty here before SQLite opens it, because SQLite gives its
``-wal``, ``-shm`` and ``-journal`` files the mode of the database file.

A file name that stands for a namespace is a slug of it plus a hash of the
exact namespace, so no text a client sends becomes part of a path as it is,
and two namespaces that slug alike still get files of their own.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
_SLUG_CHARS = 40
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def private_dir(path: str | Path) -> Path:
    """``path`` as a directory, creating it and any missing parent with mode 0700."""
    path = Path(path)
    missing = []
    where = path
    while not where.exists():
        missing.append(where)
        if where.parent == where:
            break
        where = where.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process
            directory.mkdir(mode=PRIVATE_DIR)
    return path


def private_opener(path: str, flags: int) -> int:
    """For ``open(..., opener=private_opener)``: a new file is created with mode 0600."""
    return os.open(path, flags, PRIVATE_FILE)


def create_private(path: str | Path) -> None:
    """Create ``path`` empty with mode 0600 (its directory 0700) unless it exists."""
    path = Path(path)
    private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))


def slug(text: str, fallback: str = "store") -> str:
    """``text`` reduced to letters, digits, '.', '-' and '_' (at most 40), never empty, never
    starting or ending with a dot."""
    return _UNSAFE.sub("-", text).strip("-_.")[:_SLUG_CHARS].strip("-_.") or fallback


def namespace_slug(namespace: str) -> str:
    """A file name part for a namespace: its slug, then a short hash of it exactly."""
    digest = hashlib.sha256(namespace.encode("utf-8")).hexdigest()[:10]
    return f"{slug(namespace, 'ns')}-{digest}"
