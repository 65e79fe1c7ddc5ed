"""One PostgreSQL database behind a connection pool, in memvault's terms.

Opening sets the database up (checks, migrations) over one plain connection,
then opens a pool of connections that speak pgvector's type. Every use is one
transaction on a pooled connection; driver errors come out as StoreUnavailable
with the server's own words, and writes chosen as deadlock victims are re-run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import StoreUnavailable
from .pgvector_types import register_vector
from .postgres_options import PostgresOptions
from .postgres_schema import check_server, migrate

T = TypeVar("T")
WRITE_ATTEMPTS = 5
_RETRYABLE = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)


def one_line(exc: BaseException) -> str:
    """libpq's message, which spans lines, on one line."""
    return " ".join(str(exc).split())


class Database:
    """A migrated database and a pool of ready connections to it. Thread-safe."""

    def __init__(self, conninfo: str, options: PostgresOptions, url: str) -> None:
        self.url = url
        self.options = options
        self._conninfo = conninfo
        self._connect_kwargs = options.connect_kwargs(conninfo)
        try:
            with psycopg.connect(conninfo, **{**self._connect_kwargs, "autocommit": True}
                                 ) as conn:
                check_server(conn, url)
                migrate(conn, url)
                self.vector_oid: int = conn.execute(
                    "SELECT 'vector'::regtype::oid").fetchone()[0]
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(
                f"cannot connect to PostgreSQL at {url}: {one_line(exc)}") from exc
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot open the store in {url}: {exc}") from exc
        self._pool = ConnectionPool(
            conninfo, kwargs=self._connect_kwargs, min_size=1, max_size=options.pool_size,
            configure=self._configure, check=ConnectionPool.check_connection,
            timeout=options.pool_timeout, name="memvault", open=False,
            # After an outage, stop retrying in the background (with ever longer
            # pauses) once a caller would have given up, so that the next caller
            # connects afresh instead of waiting out the pause.
            reconnect_timeout=options.pool_timeout)
        try:
            self._pool.open(wait=True, timeout=options.pool_timeout)
        except PoolTimeout as exc:
            self._pool.close()
            raise self.unreachable(exc) from exc

    def _configure(self, conn: psycopg.Connection) -> None:
        register_vector(conn, self.vector_oid)
        conn.execute("SET TIME ZONE 'UTC'")
        conn.commit()

    @contextlib.contextmanager
    def cursor(self, timeout: float | None = None) -> Iterator[psycopg.Cursor]:
        """A binary cursor in one transaction; committed on success, rolled back on error."""
        try:
            with self._pool.connection(timeout) as conn, conn.cursor(binary=True) as cur:
                yield cur
        except PoolTimeout as exc:
            raise self.unreachable(exc) from exc
        except _RETRYABLE:
            raise
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"PostgreSQL at {self.url} failed: {one_line(exc)}") from exc
        except psycopg.Error as exc:
            raise StoreUnavailable(f"PostgreSQL at {self.url} refused a query: {exc}") from exc

    def write(self, work: Callable[[psycopg.Cursor], T]) -> T:
        """Run ``work`` in one transaction, again from the start if PostgreSQL chose it
        as a deadlock victim (rows are locked in a stable order, so this is rare)."""
        attempt = 1
        while True:
            try:
                with self.cursor() as cur:
                    return work(cur)
            except _RETRYABLE as exc:
                if attempt == WRITE_ATTEMPTS:
                    raise StoreUnavailable(f"PostgreSQL at {self.url} kept aborting a write: "
                                           f"{exc}") from exc
                attempt += 1

    def unreachable(self, exc: Exception) -> StoreUnavailable:
        """Why no connection could be had: the server's own words when it is down."""
        try:
            with psycopg.connect(self._conninfo, **{**self._connect_kwargs,
                                                    "connect_timeout": 3}):
                reason = (f"the server answers, but no pooled connection came free "
                          f"(pool_size={self.options.pool_size}): {exc}")
        except psycopg.Error as direct:
            reason = one_line(direct)
        return StoreUnavailable(f"PostgreSQL at {self.url} is unreachable: {reason}")

    def pool_stats(self) -> dict[str, Any]:
        stats = self._pool.get_stats()
        return {"size": stats.get("pool_size", 0), "available": stats.get("pool_available", 0),
                "max": self.options.pool_size}

    def close(self) -> None:
        self._pool.close()
