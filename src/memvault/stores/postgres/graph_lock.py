"""One rebuild of the vector graphs at a time, among every process sharing the store.

``optimize`` and a bulk load drop the HNSW graphs (the store's and the
namespaces'), rewrite rows and build the graphs at their end. Two at once
would drop each other's graphs, build the same graph twice (minutes of the
server's CPU per million memories) and fail on the second one's name. So
each holds a session advisory lock on a connection of its own for as long as
it runs; one that finds it held stops before changing anything with
``Conflict``, naming what holds it and since when. Not a wait: a second
``memvault optimize`` typed while one runs would sit silent for as long as
the first (17 minutes for a graph of a million memories), then find nothing
left to do. A process killed meanwhile loses its connection, and the lock
with it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import psycopg

from ...errors import Conflict
from .database import Database
from .rows import one_value

GRAPHS_LOCK = int.from_bytes(b"mv-graph", "big")
# pg_locks shows a bigint key as its high and low 32 bits.
HOLDER = """
SELECT a.application_name AS what, a.backend_start AS since, a.client_addr AS client
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.database = (
    SELECT oid FROM pg_database WHERE datname = current_database())
AND l.classid::bigint = %s AND l.objid::bigint = %s AND l.objsubid = 1
"""


@contextlib.contextmanager
def rebuilding_graphs(db: Database, what: str) -> Iterator[psycopg.Connection]:
    """Hold the lock while the body runs; ``Conflict`` at once if another holds it.
    ``what`` (``optimize``, ``bulk load``) names this one to whoever finds it held.
    Gives the lock's connection (autocommit), for work the lock should last as long as."""
    with db.connection_of_its_own(application_name=f"memvault {what}") as conn:
        if not one_value(conn.execute("SELECT pg_try_advisory_lock(%s)", (GRAPHS_LOCK,))):
            # None if it ended between the two statements.
            who = holder(conn) or "another memvault optimize or bulk load"
            raise Conflict(
                f"{who} is already rebuilding the vector graphs of the store "
                f"in {db.url}; this {what} stopped before changing them: run it again once "
                "that one has ended",
                field="store_url",
            )
        yield conn  # closing it releases the lock


def holder(conn: psycopg.Connection | psycopg.Cursor[Any]) -> str | None:
    """What holds the lock, in words (what, from where, since when), or None."""
    found = conn.execute(HOLDER, (GRAPHS_LOCK >> 32, GRAPHS_LOCK & 0xFFFFFFFF)).fetchone()
    if found is None:
        return None
    what, since, client = found
    where = f"from {client}" if client else "on the server's own machine"
    return f"a {what} ({where}, since {since.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC)"
