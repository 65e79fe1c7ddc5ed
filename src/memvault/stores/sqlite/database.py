"""One SQLite file opened for memvault: the connection, its lock, transactions, migrations.

apsw is the driver: it bundles a recent SQLite that can load extensions, which
the standard ``sqlite3`` module cannot do on many Pythons (pyenv, macOS). One
connection serves the whole process behind a re-entrant lock; writes are
IMMEDIATE transactions, and errors of the file or the disk underneath come out
as StoreUnavailable naming the file.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import apsw
import sqlite_vec

from ...errors import InvalidInput, NotFound, StoreUnavailable
from ...files import create_private
from ...model import new_id, to_micros, utcnow
from .location import disk_full, open_read_only, read_only_reason, sqlite_layout
from .pragmas import BUSY_TIMEOUT_MS, apply_pragmas, check_known, patiently
from .rows import Row, column, mapping, named, scalar
from .schema import DEFAULT_PRAGMAS, MIGRATIONS

T = TypeVar("T")
# health looks for damage at most this often (the check reads the whole file).
CHECK_EVERY_S = 600.0
# The file or the disk failing underneath us, as opposed to a bug in a query.
UNAVAILABLE = (
    apsw.BusyError,
    apsw.LockedError,
    apsw.IOError,
    apsw.CorruptError,
    apsw.NotADBError,
    apsw.CantOpenError,
    apsw.ReadOnlyError,
    apsw.FullError,
    apsw.PermissionsError,
)


def _cannot_use(path: Path, problem: object) -> StoreUnavailable:
    # A full disk stops SQLite making the shared-memory file a WAL database is
    # read through, and shows only as "disk I/O error": say what is behind it.
    full = disk_full(path)
    return StoreUnavailable(
        f"cannot use SQLite file {path}: {problem}" + (f"; {full}" if full else "")
    )


def _load_sqlite_vec(conn: apsw.Connection) -> None:
    """sqlite-vec reads the vec0 table of stores written before vectors became
    plain rows, for the migration that moves them out of it."""
    conn.enable_load_extension(True)
    conn.load_extension(sqlite_vec.loadable_path())
    conn.enable_load_extension(False)


class SqliteDatabase:
    """A migrated SQLite file. Thread-safe: one connection, one lock.

    Only memvault's own files are opened, and a file (or an empty one) is made
    a store only with ``create``: another application's file is refused unchanged.
    A store made here starts with the ``meta`` entries ``created_with``.
    """

    def __init__(
        self,
        path: Path,
        pragmas: dict[str, str] | None = None,
        *,
        create: bool = True,
        created_with: dict[str, str] | None = None,
    ) -> None:
        check_known(pragmas or {})
        self.path = path
        self._created_with = created_with or {}
        self.lock = threading.RLock()
        layout = sqlite_layout(path)
        if layout.kind in ("missing", "empty") and not create:
            raise NotFound(
                f"no memvault store at {path}: {layout.describe(path)} (only "
                f"commands that write create one)",
                field="store_url",
            )
        if layout.kind == "mcp":
            raise InvalidInput(
                f"{layout.describe(path)}: memvault reads it (memvault migrate) "
                f"but never writes into it",
                field="store_url",
            )
        if layout.kind == "foreign":
            raise InvalidInput(
                f"{layout.describe(path)}; memvault does not change it: name another file",
                field="store_url",
            )
        if layout.kind == "unreadable":
            raise _cannot_use(path, layout.problem)
        # Why writes are refused, for a store that can only be read (reads and exports work).
        self.read_only = read_only_reason(path) if layout.kind == "memvault" else None
        self.last_write_error: str | None = None
        self._checked_at, self._damage = -CHECK_EVERY_S, ""
        try:
            if create and self.read_only is None:
                create_private(self.path)  # SQLite gives -wal and -shm the file's mode
            self._conn = open_read_only(path) if self.read_only else apsw.Connection(str(self.path))
        except (OSError, apsw.Error) as exc:
            raise StoreUnavailable(f"cannot open SQLite file {self.path}: {exc}") from exc
        self._conn.setbusytimeout(BUSY_TIMEOUT_MS)
        _load_sqlite_vec(self._conn)
        # Set when a read-only file of an older schema is served from an upgraded copy in memory.
        self.upgraded_in_memory = False
        try:
            apply_pragmas(
                self._conn, {**DEFAULT_PRAGMAS, **(pragmas or {})}, read_only=bool(self.read_only)
            )
            if self.read_only:
                if self._outdated():
                    self._upgrade_in_memory()
                return
            self._migrate()
            # Table statistics for the query planner, gathered when missing or
            # stale (a no-op otherwise). Without them, a tag filter was planned
            # as a walk over the whole namespace instead of over the tag's rows.
            patiently(
                lambda: self._conn.execute("PRAGMA analysis_limit=1000; PRAGMA optimize=0x10002")
            )
        except UNAVAILABLE as exc:
            self._conn.close()
            raise _cannot_use(self.path, exc) from exc
        except StoreUnavailable:
            self._conn.close()
            raise

    @contextlib.contextmanager
    def write(self) -> Iterator[apsw.Cursor]:
        """One IMMEDIATE transaction: the write lock is taken up front, so two
        processes never deadlock upgrading read locks, and busy_timeout waits."""
        if self.read_only:
            raise StoreUnavailable(
                f"SQLite file {self.path} cannot be written: "
                f"{self.read_only} (reading and exporting work)"
            )
        with self._transaction() as cur:
            yield cur

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[apsw.Cursor]:
        with self.lock:
            cur = self._conn.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
            except UNAVAILABLE as exc:
                raise StoreUnavailable(f"SQLite file {self.path} is locked: {exc}") from exc
            try:
                yield cur
                cur.execute("COMMIT")
                self.last_write_error = None
            except BaseException as exc:
                if not self._conn.getautocommit():
                    cur.execute("ROLLBACK")
                if isinstance(exc, UNAVAILABLE):
                    self.last_write_error = f"{exc} ({utcnow().isoformat(timespec='seconds')})"
                    raise StoreUnavailable(
                        f"SQLite file {self.path} failed a write: {exc}"
                    ) from exc
                raise

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction: every ``rows`` inside sees the same committed state."""
        with self.lock:
            self._conn.execute("BEGIN")
            try:
                yield
            finally:
                self._end_snapshot()

    def _end_snapshot(self) -> None:
        # A read that hit a damaged page leaves its error on the connection, raised
        # again by COMMIT: it surfaces as the store failing, like the read itself,
        # and the transaction ends all the same (or the next BEGIN fails).
        try:
            self._conn.execute("COMMIT")
        except UNAVAILABLE as exc:
            if not self._conn.getautocommit():
                with contextlib.suppress(apsw.Error):
                    self._conn.execute("ROLLBACK")
            raise StoreUnavailable(f"SQLite file {self.path} is unavailable: {exc}") from exc

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Every row of one read statement, each readable by column name; run in
        autocommit, so it sees the latest commit."""
        return self._read(named, sql, params)

    def column(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """The values of one read statement that selects a single column."""
        return self._read(column, sql, params)

    def mapping(self, sql: str, params: Sequence[Any] = ()) -> dict[Any, Any]:
        """A read statement of two columns as a dict from the first to the second."""
        return self._read(mapping, sql, params)

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The one value of a read statement of one row and column (None for no row)."""
        return self._read(scalar, sql, params)

    def _read(self, reader: Callable[[apsw.Cursor], T], sql: str, params: Sequence[Any]) -> T:
        with self.lock:
            try:
                return reader(self._conn.execute(sql, tuple(params)))
            except UNAVAILABLE as exc:
                raise StoreUnavailable(f"SQLite file {self.path} is unavailable: {exc}") from exc

    def change_mark(self) -> tuple[int, int]:
        """A value that moves whenever the file changes: ``PRAGMA data_version``
        with other connections' commits, the rows changed by this one with its own."""
        with self.lock:
            return self.scalar("PRAGMA data_version"), self._conn.total_changes()

    def batches(
        self, sql: str, params: Sequence[Any] = (), size: int = 4096
    ) -> Iterator[list[Row]]:
        """The rows of one read statement, ``size`` at a time and by column name, so a
        big read is never all in memory at once. The lock is held until the last batch
        is taken."""
        with self.lock:
            try:
                cursor = self._conn.execute(sql, tuple(params))
                while batch := named(cursor, size):
                    yield batch
            except UNAVAILABLE as exc:
                raise StoreUnavailable(f"SQLite file {self.path} is unavailable: {exc}") from exc

    def meta(self, key: str) -> str | None:
        value: str | None = self.scalar("SELECT value FROM meta WHERE key = ?", (key,))
        return value

    def problems(self) -> list[str]:
        """What is wrong with the file, for ``health``: empty when all is well.

        Damage is looked for with ``PRAGMA quick_check``, which reads the whole
        file, so at most once every CHECK_EVERY_S seconds (and at once after a
        write failed).
        """
        found = []
        if self.read_only:
            found.append(f"read-only: {self.read_only}; reads work, writes fail")
        if self.upgraded_in_memory:
            found.append(
                "written by an older memvault and read through an upgraded copy in memory: "
                "copy the file to writable storage and open it there once to upgrade it"
            )
        if self.last_write_error:
            found.append(f"writes fail: {self.last_write_error}")
        full = None if self.read_only else disk_full(self.path)
        if full:
            found.append(full)
        now = time.monotonic()
        if now - self._checked_at >= CHECK_EVERY_S or self.last_write_error:
            self._checked_at, self._damage = now, self._quick_check()
        if self._damage:
            found.append(f"the file is damaged: {self._damage}")
        return found

    def _quick_check(self) -> str:
        try:
            lines = [str(line) for line in self.column("PRAGMA quick_check(5)")]
        except StoreUnavailable as exc:
            return exc.message
        return "" if lines == ["ok"] else "; ".join(lines)

    def _outdated(self) -> bool:
        """Whether the file misses migrations this memvault applies."""
        return len(self._applied(self._conn.cursor())) < len(MIGRATIONS)

    def _applied(self, cur: apsw.Cursor) -> set[int]:
        """The schema versions the file has, refusing one newer than this memvault knows:
        it would misread what a later version changed (float16 vectors read as float32)."""
        done = set(column(cur.execute("SELECT version FROM schema_migrations")))
        if done and max(done) > len(MIGRATIONS):
            raise StoreUnavailable(
                f"SQLite file {self.path} has schema version {max(done)}, newer than this "
                f"memvault knows ({len(MIGRATIONS)}); upgrade memvault to open it"
            )
        return done

    def _upgrade_in_memory(self) -> None:
        """Serve a read-only file of an older schema from a copy in memory, migrated there.

        Nothing can migrate the file itself, and reading the old layouts (vec0,
        float32 vectors) would keep a second reader alive for each; the copy
        costs memory the size of the file, for as long as the store is open.
        """
        copy = apsw.Connection(":memory:")
        with copy.backup("main", self._conn, "main") as job:
            job.step(-1)
        self._conn.close()
        self._conn = copy
        _load_sqlite_vec(self._conn)
        self._migrate()
        self.upgraded_in_memory = True

    def _migrate(self) -> None:
        with self._transaction() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)"
            )
            done = self._applied(cur)
            fresh = not done
            for version, sql in enumerate(MIGRATIONS, start=1):
                if version in done:
                    continue
                if callable(sql):
                    sql(cur)
                else:
                    cur.execute(sql)
                cur.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?)", (version, to_micros(utcnow()))
                )
            cur.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('store_id', ?)", (new_id(),)
            )
            if fresh:
                cur.executemany(
                    "INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)",
                    list(self._created_with.items()),
                )

    def run_outside_transaction(self, statements: list[str]) -> None:
        """Statements that cannot run in a transaction (VACUUM, a WAL checkpoint)."""
        with self.lock:
            for statement in statements:
                self._conn.execute(statement)

    def backup_to(self, path: Path) -> None:
        """A consistent copy through SQLite's online backup API, renamed into place whole."""
        partial = path.with_name(path.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()  # left by a crash, perhaps with another mode
        create_private(partial)
        dest = apsw.Connection(str(partial))
        try:
            with self.lock, dest.backup("main", self._conn, "main") as job:
                job.step(-1)
        finally:
            dest.close()
        os.replace(partial, path)

    def close(self) -> None:
        with self.lock:
            self._conn.close()
