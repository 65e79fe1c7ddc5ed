"""Real small and read-only file systems for tests of full disks and read-only stores.

The tests run as root (CI does), so they mount a tmpfs of a given size, and
remount it read-only, rather than pretending; every mount is undone on exit.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _run(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True)


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (e.g. "2m") mounted at ``path``, unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    _run("mount", "-t", "tmpfs", "-o", f"size={size}", "memvault-test", str(path))
    try:
        yield path
    finally:
        _run("umount", "--lazy", str(path))


def remount_read_only(path: Path) -> None:
    """Make the tmpfs at ``path`` read-only (its files stay)."""
    _run("mount", "-o", "remount,ro", str(path))


@contextmanager
def immutable(path: Path) -> Iterator[Path]:
    """The directory at ``path`` made immutable (nothing can be created or removed in
    it, as a read-only directory is for its owner's other users), restored afterwards."""
    _run("chattr", "+i", str(path))
    try:
        yield path
    finally:
        _run("chattr", "-i", str(path))
