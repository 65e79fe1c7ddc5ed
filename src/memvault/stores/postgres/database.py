"""One PostgreSQL database behind a connection pool, in memvault's terms.

Opening sets the database up (checks, migrations) over one plain connection,
then opens a pool of connections that speak pgvector's type. Pooled
connections are in autocommit mode: a read is one statement and one round
trip; a write is an explicit transaction, re-run from the start when
PostgreSQL picks it as a deadlock victim. Two reads that share nothing are
one round trip, on two connections at once when a second is free
(``fetch_both``). Driver errors come out as StoreUnavailable with the
server's own words.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import namedtuple_row
from psycopg_pool import ConnectionPool, PoolTimeout

from ...errors import NotFound, StoreUnavailable
from ..write_failures import WriteFailures
from .migrations import check_server, migrate
from .options import PostgresOptions
from .rows import Cursor, one_value
from .vector_types import register_vector

T = TypeVar("T")
# A statement's SQL and parameters.
Statement = tuple[str, Sequence[Any]]
WRITE_ATTEMPTS = 5
# A pooled connection idle for longer than this is checked (one round trip)
# before use; one used more recently is trusted, which saves that round trip
# under load while a server restart is still noticed on the next quiet use.
CHECK_AFTER_IDLE_S = 1.0
_RETRYABLE = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)
# The statements a connection keeps prepared at most (psycopg's default is 100),
# the least recently run let go first: two for each filter's hybrid search (its
# words' plan about 2 MB of the server's memory, its vectors' 0.2 MB), so 32
# filters, about 70 MB.
PREPARED_MAX = 64
# How long a read waits for a second connection to run alongside its first
# (``fetch_both``) before it does without: about the time a free one takes to
# hand over (psycopg_pool fails a wait of 0 at once, even with one free).
SPARE_WAIT_S = 0.001
PIPELINE = psycopg.Pipeline.is_supported()


def one_line(exc: BaseException) -> str:
    """libpq's message, which spans lines, on one line."""
    return " ".join(str(exc).split())


class Database:
    """A migrated database and a pool of ready connections to it. Thread-safe."""

    def __init__(
        self, conninfo: str, options: PostgresOptions, url: str, *, create: bool = True
    ) -> None:
        self.url = url
        self.options = options
        self.write_failures = WriteFailures()
        self._conninfo = conninfo
        self._connect_kwargs = options.connect_kwargs(conninfo)
        try:
            with psycopg.connect(conninfo, **self._connect_kwargs) as conn:
                check_server(conn, url)
                if (
                    not create
                    and one_value(conn.execute("SELECT to_regclass('memvault_meta')")) is None
                ):
                    raise NotFound(
                        f"no memvault store in database {url} (only commands that "
                        f"write create one)",
                        field="store_url",
                    )
                migrate(conn, url)
                self.vector_oid: int = one_value(conn.execute("SELECT 'vector'::regtype::oid"))
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(
                f"cannot connect to PostgreSQL at {url}: {one_line(exc)}"
            ) from exc
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot open the store in {url}: {exc}") from exc
        self._pool = ConnectionPool(
            conninfo,
            kwargs=self._connect_kwargs,
            # Two, so that a lone client's search can run its sides at once (``fetch_both``).
            min_size=min(2, options.pool_size),
            max_size=options.pool_size,
            configure=self._configure,
            check=self._check,
            timeout=options.pool_timeout,
            name="memvault",
            open=False,
            # After an outage, stop retrying in the background (with ever longer
            # pauses) once a caller would have given up, so that the next caller
            # connects afresh instead of waiting out the pause.
            reconnect_timeout=options.pool_timeout,
        )
        self._last_used: weakref.WeakKeyDictionary[psycopg.Connection, float] = (
            weakref.WeakKeyDictionary()
        )
        self._reads_lock = threading.Lock()
        self._reads = {"two connections": 0, "one connection": 0}
        try:
            self._pool.open(wait=True, timeout=options.pool_timeout)
        except PoolTimeout as exc:
            self._pool.close()
            raise self.unreachable(exc) from exc

    def _configure(self, conn: psycopg.Connection) -> None:
        register_vector(conn, self.vector_oid)
        # Session settings, so that a search is one statement: results in UTC,
        # and HNSW scans that keep walking the graph past rows a filter
        # rejects (pgvector 0.8 iterative scans), in roughly ascending order.
        # No parallel workers: the search's exact fallback looks like a big
        # sort to the planner, which then starts workers on every search even
        # when the fallback does not run (they were 28 of a 39 ms search at
        # 100k memories), and memvault's statements are many short ones, which
        # workers only slow down. A statement the driver has prepared (run five
        # times on a connection) may keep one plan for all its parameters
        # (PostgreSQL's plan_cache_mode auto): the values a plan depends on, a
        # filter's and k, are written into the statement (``schema.filter_sql``),
        # so that plan is the one its values would get, without planning each
        # search again (2 to 5 ms of a search's ranking statement). Each filter is
        # then statements of its own, whose plans hold megabytes of the server's
        # memory: PREPARED_MAX bounds it per connection.
        conn.prepared_max = PREPARED_MAX
        conn.execute(
            f"SET TIME ZONE 'UTC'; SET hnsw.ef_search = {int(self.options.ef_search)}; "
            "SET hnsw.iterative_scan = relaxed_order; SET max_parallel_workers_per_gather = 0"
        )

    def _check(self, conn: psycopg.Connection) -> None:
        if time.monotonic() - self._last_used.get(conn, 0.0) > CHECK_AFTER_IDLE_S:
            ConnectionPool.check_connection(conn)

    @contextlib.contextmanager
    def _connection(self, timeout: float | None) -> Iterator[psycopg.Connection]:
        """A pooled connection, its use noted as it goes back. Noted here, not by the
        pool's ``reset`` callback: with one, the pool hands a connection back from
        its worker thread, and a request made meanwhile finds none free, so the
        pool opens another (a lone client's pool grew to nine connections)."""
        with self._pool.connection(timeout) as conn:
            try:
                yield conn
            finally:
                self._last_used[conn] = time.monotonic()

    @contextlib.contextmanager
    def cursor(
        self, timeout: float | None = None, *, transaction: bool = False
    ) -> Iterator[Cursor]:
        """A binary cursor whose rows are named tuples (read by column name); with
        ``transaction``, inside one that commits on success and rolls back on error,
        else each statement commits on its own."""
        try:
            with (
                self._connection(timeout) as conn,
                conn.cursor(binary=True, row_factory=namedtuple_row) as cur,
            ):
                if not transaction:
                    yield cur
                    return
                with conn.transaction():
                    yield cur
        except _RETRYABLE:
            raise
        except (PoolTimeout, psycopg.OperationalError) as exc:
            raise self.unreachable(exc) from exc
        except psycopg.Error as exc:
            raise StoreUnavailable(f"PostgreSQL at {self.url} refused a query: {exc}") from exc

    def fetch_both(self, one: Statement, other: Statement) -> tuple[list[Any], list[Any]]:
        """The rows of two statements that share nothing, in one round trip: on two
        connections, which the server runs at once, when the pool has a second
        free right now; else one after the other on one connection.

        Each connection is put in pipeline mode and sent its statement; the
        rows are waited for only once both are sent (leaving pipeline mode
        sends the Sync and collects them). The second connection is never
        waited for: a thread holding one connection while it waits for another
        could starve the pool, every connection held by a reader waiting for a
        second. One in the pool's hand or opened within ``SPARE_WAIT_S`` is
        taken; when none is free and the pool cannot grow, none is asked for,
        nor when another of the pool's connections is in use. Both ways are
        counted (``pool_stats``)."""
        with self.cursor() as first:
            spare = self._spare_connection()
            with self._reads_lock:
                self._reads["one connection" if spare is None else "two connections"] += 1
            if spare is None:
                return _pipelined(first, one, first.connection, other)
            try:
                with spare:
                    return _pipelined(first, one, spare, other)
            finally:
                self._last_used[spare] = time.monotonic()
                self._pool.putconn(spare)

    def _spare_connection(self) -> psycopg.Connection | None:
        stats = self._pool.get_stats()
        size, available = stats.get("pool_size", 0), stats.get("pool_available", 0)
        # Only a read alone in this process gains: with others in flight the
        # server's cores are busy with their statements, and a second connection
        # only adds its cost (four threads searching at 100,000 memories: 169
        # searches/s with the sides on two connections, 180 on one each).
        if size - available > 1:
            return None
        if available == 0 and size >= self._pool.max_size:
            return None
        try:
            # Waiting, the pool opens one more if it may: the next read finds it.
            return self._pool.getconn(SPARE_WAIT_S)
        except PoolTimeout:
            return None

    def write(self, work: Callable[[Cursor], T], *, transaction: bool = True) -> T:
        """Run ``work`` in one transaction, again from the start if PostgreSQL chose it
        as a deadlock victim (rows are locked in a stable order, so this is rare).
        Without ``transaction``, ``work``'s statements commit one by one: for work that
        is one statement, which saves the BEGIN and COMMIT round trips."""
        attempt = 1
        while True:
            try:
                with self.write_failures.watch(), self.cursor(transaction=transaction) as cur:
                    return work(cur)
            except _RETRYABLE as exc:
                if attempt == WRITE_ATTEMPTS:
                    with self.write_failures.watch():
                        raise StoreUnavailable(
                            f"PostgreSQL at {self.url} kept aborting a write: {exc}"
                        ) from exc
                attempt += 1

    def run_outside_transaction(self, statements: list[str]) -> None:
        """Statements that cannot run in a transaction (VACUUM), on a connection of their own."""
        with self.connection_of_its_own() as conn:
            for statement in statements:
                conn.execute(statement)

    @contextlib.contextmanager
    def connection_of_its_own(
        self, application_name: str | None = None
    ) -> Iterator[psycopg.Connection]:
        """A connection outside the pool, in autocommit mode, closed on leaving: for
        statements outside a transaction, or a session's lock held for a while."""
        kwargs = {**self._connect_kwargs, "autocommit": True}
        if application_name is not None:
            kwargs["application_name"] = application_name
        try:
            with psycopg.connect(self._conninfo, **kwargs) as conn:
                yield conn
        except psycopg.Error as exc:
            raise StoreUnavailable(f"PostgreSQL at {self.url} failed: {one_line(exc)}") from exc

    def unreachable(self, exc: Exception) -> StoreUnavailable:
        """What went wrong with a connection, in the server's own words when it is down."""
        try:
            with psycopg.connect(self._conninfo, **{**self._connect_kwargs, "connect_timeout": 3}):
                pass
        except psycopg.Error as direct:
            return StoreUnavailable(f"PostgreSQL at {self.url} is unreachable: {one_line(direct)}")
        if isinstance(exc, PoolTimeout):
            return StoreUnavailable(
                f"PostgreSQL at {self.url} answers, but no pooled "
                f"connection came free (pool_size={self.options.pool_size})"
                f": {exc}"
            )
        # The server is back (a restart, a failover): drop every idle connection
        # that died with the old one, so that only calls already in flight fail.
        self._pool.check()
        return StoreUnavailable(f"PostgreSQL at {self.url} dropped the connection: {one_line(exc)}")

    def pool_stats(self) -> dict[str, Any]:
        """The pool's connections, and how many paired reads (``fetch_both``) ran on two
        of them at once or on one, a second not being free."""
        stats = self._pool.get_stats()
        with self._reads_lock:
            reads = dict(self._reads)
        return {
            "size": stats.get("pool_size", 0),
            "available": stats.get("pool_available", 0),
            "max": self.options.pool_size,
            "paired_reads": reads,
        }

    def close(self) -> None:
        self._pool.close()


def _pipelined(
    first: Cursor, one: Statement, conn: psycopg.Connection, other: Statement
) -> tuple[list[Any], list[Any]]:
    """``one`` on ``first`` and ``other`` on ``conn`` (``first``'s connection or
    another), both sent before either's rows are waited for."""
    with conn.cursor(binary=True, row_factory=namedtuple_row) as second:
        with contextlib.ExitStack() as pipelines:
            # A libpq older than 14 (psycopg without its binary package) has no
            # pipeline mode: then each statement waits for its rows before the next.
            if PIPELINE:
                for connection in dict.fromkeys((first.connection, conn)):
                    pipelines.enter_context(connection.pipeline())
            first.execute(*one)
            second.execute(*other)
        return first.fetchall(), second.fetchall()
