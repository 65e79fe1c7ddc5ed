"""Vectors indexed after the write: a write does not wait for pgvector's HNSW insert.

Inserting one vector into the HNSW graph costs several milliseconds of CPU
(it searches the graph for the new node's neighbours); everything else a
write does costs well under one. So a write stores its vector in
``fresh_embedding``, outside the index, and commits; this indexer then moves
vectors into ``embedding`` (which the HNSW index covers) in small
transactions, in the background. Searches see a vector at once either way:
the nearest-neighbour query compares the waiting vectors exactly
(``search.nearest_parts``), and reads return whichever column holds it.

Every server runs an indexer; ``FOR UPDATE SKIP LOCKED`` lets them share the
waiting rows, and a server that dies leaves its rows to the others (they
look for work every ``IDLE_S``). Bursts are absorbed, not the sustained rate:
once ``WAITING_LIMIT`` vectors wait, writes index their own vectors again,
at the graph's speed, so the exact comparison of waiting vectors stays cheap.
"""

from __future__ import annotations

import logging
import threading

from ...errors import MemvaultError
from .database import Database
from .rows import Cursor, one_value

log = logging.getLogger(__name__)

BATCH = 200
WAITING_LIMIT = 5_000
IDLE_S = 5.0

MOVE = f"""
WITH batch AS (
    SELECT rowid FROM memvault_memories WHERE fresh_embedding IS NOT NULL
    ORDER BY rowid LIMIT {BATCH} FOR UPDATE {{skip}}
)
UPDATE memvault_memories m SET embedding = m.fresh_embedding, fresh_embedding = NULL
FROM batch WHERE m.rowid = batch.rowid
"""
# Rows waiting, counted through their partial index and only up to the limit.
WAITING = f"""
SELECT count(*) FROM (SELECT 1 FROM memvault_memories WHERE fresh_embedding IS NOT NULL
                      LIMIT {WAITING_LIMIT}) AS w
"""


class VectorIndexer:
    """A background thread moving waiting vectors into the HNSW index. Thread-safe."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._wake = threading.Event()
        self._stopping = False
        self._waiting = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def has_room(self) -> bool:
        """Whether a write may leave its vectors waiting (too many wait already if not)."""
        return self._waiting < WAITING_LIMIT

    def written(self, count: int) -> None:
        """A write left ``count`` vectors waiting: start or wake the thread."""
        self._waiting += count
        with self._lock:
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(
                    target=self._run, name="memvault-indexer", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def drain(self, *, share: bool = False) -> int:
        """Move waiting vectors into the index now; how many this call moved.

        With ``share``, rows another indexer is moving are left to it;
        without, they are waited for, so that none waits when this returns.
        """
        moved = 0
        statement = MOVE.format(skip="SKIP LOCKED" if share else "")

        def move(cur: Cursor) -> int:
            cur.execute(statement)
            return cur.rowcount

        while not self._stopping:
            count = self._db.write(move)  # again if chosen as a deadlock victim
            if count == 0:
                break
            moved += count
        if not share:
            self._waiting = 0
        return moved

    def waiting(self) -> int:
        """Vectors waiting for the index, in the whole store (counted up to WAITING_LIMIT)."""
        with self._db.cursor() as cur:
            cur.execute(WAITING)
            self._waiting = one_value(cur)
        return self._waiting

    def _run(self) -> None:
        while not self._stopping:
            try:
                self.drain(share=True)
                self.waiting()
            except MemvaultError as exc:  # the store is away: try again when woken or idle
                log.warning("moving vectors into the index failed: %s", exc)
            self._wake.wait(IDLE_S)
            self._wake.clear()

    def close(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
