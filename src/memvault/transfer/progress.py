"""Progress reporting for long work, kept apart from how it is shown.

The library reports through this small protocol; the CLI shows it as rich
progress bars, and library callers can pass their own or nothing.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """One step at a time: ``start`` it (total may be unknown), ``advance``, ``finish``."""

    def start(self, label: str, total: int | None) -> None: ...

    def advance(self, n: int) -> None: ...

    def finish(self) -> None: ...


class _Silent:
    def start(self, label: str, total: int | None) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def finish(self) -> None:
        pass


NULL_PROGRESS: Progress = _Silent()
