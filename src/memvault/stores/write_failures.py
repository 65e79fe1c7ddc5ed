"""Why a store's last write failed, kept for ``health`` until a write succeeds.

A server that answers reads can still refuse every write (its disk full, a
read-only transaction, a collection it cannot extend): only a write shows it,
so the stores that talk to servers remember the last failure and list it
among their problems, as the SQLite store does for its file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ..errors import StoreUnavailable
from ..model import utcnow


class WriteFailures:
    """The last write failure, with its time (None once a write succeeds)."""

    def __init__(self) -> None:
        self.last: str | None = None

    @contextlib.contextmanager
    def watch(self) -> Iterator[None]:
        """Around one write: a StoreUnavailable raised inside is remembered, success clears it."""
        try:
            yield
        except StoreUnavailable as exc:
            self.last = f"{exc.message} ({utcnow().isoformat(timespec='seconds')})"
            raise
        self.last = None
