"""Upkeep a long-running process starts in a thread of its own, on a connection of
its own, so that opening the store waits for none of it (``graph_repair``,
``visibility``); closing the store cancels it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg


class BackgroundWork:
    """At most one run at a time per object. Thread-safe."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection | None = None
        self._closing = False

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _begin(self, work: Callable[..., None], *args: Any) -> None:
        self._thread = threading.Thread(target=work, args=args, name=self._name, daemon=True)
        self._thread.start()

    @contextlib.contextmanager
    def _cancellable(self, conn: psycopg.Connection) -> Iterator[bool]:
        """While the body runs, closing cancels the statement ``conn`` runs; gives
        whether to go on (False: the store is closing already)."""
        self._conn = conn
        try:
            yield not self._closing
        finally:
            self._conn = None

    def join(self, timeout: float | None = None) -> None:
        """Wait until the work has ended (done, failed, or left to another process)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        self._closing = True
        # A cancel lands on the statement running then; the work may have several.
        while self._thread is not None and self._thread.is_alive():
            if (conn := self._conn) is not None:
                conn.cancel_safe()
            self._thread.join(0.2)
