"""What a benchmark search costs besides its wall time: CPU seconds and statements.

On a shared machine wall time includes waiting for a core, so the scale
benchmarks print CPU time too, the statements each search sends to
PostgreSQL (each one a round trip, but for statements sent together), and how
many searches sent their two ranking statements on two connections at once.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import psutil
import psycopg

from memvault.stores.postgres.store import PostgresStore


class CpuMeter:
    """CPU seconds spent so far by this process and the server's memvault connections.

    On a shared machine wall time includes waiting for a core; CPU time is what
    a query costs. Only for a server on this machine (its processes are visible).
    """

    def __init__(self, url: str | None) -> None:
        self.url = url

    def __call__(self) -> float | None:
        if self.url is None:
            return None
        with psycopg.connect(self.url, autocommit=True, application_name="bench") as conn:
            pids = [
                r[0]
                for r in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = 'memvault'"
                )
            ]
        try:
            server = sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in pids)
        except psutil.Error:
            return None
        return server + time.process_time()


class ServerCpu:
    """CPU seconds of the whole server so far: its postmaster, the children it has
    reaped (backends that ended, parallel workers) and those alive."""

    def __init__(self, conn: psycopg.Connection) -> None:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert backend is not None
        self.postmaster = psutil.Process(psutil.Process(backend[0]).ppid())

    def __call__(self) -> float:
        own = self.postmaster.cpu_times()
        total = own.user + own.system + own.children_user + own.children_system
        for child in self.postmaster.children():
            # One that ended meanwhile is in the postmaster's reaped CPU.
            with contextlib.suppress(psutil.Error):
                total += sum(child.cpu_times()[:2])
        return total


class Statements:
    """Counts the statements the thread that made it sends to PostgreSQL (each one a
    round trip), leaving out the pool's empty check of a connection idle for a while,
    and other threads': the store's indexer looking for waiting vectors every few
    seconds, the pool setting up new connections."""

    def __init__(self) -> None:
        self.count = 0
        execute = psycopg.Cursor.execute
        searching = threading.get_ident()

        def counted(cur: psycopg.Cursor, query: Any, *args: Any, **kwargs: Any) -> Any:
            self.count += threading.get_ident() == searching and bool(str(query).strip())
            return execute(cur, query, *args, **kwargs)

        psycopg.Cursor.execute = counted  # type: ignore[method-assign]


STATEMENTS = Statements()


def paired_reads(store: Any) -> dict[str, int] | None:
    """How many PostgreSQL searches so far sent their two ranking statements on two
    connections at once (``two connections``) or on one (``one connection``); None
    for other stores."""
    if not isinstance(store, PostgresStore):
        return None
    return dict(store.health()["pool"]["paired_reads"])
