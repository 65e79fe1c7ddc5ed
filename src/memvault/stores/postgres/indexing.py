"""Vectors indexed after the write: a write does not wait for pgvector's HNSW insert.

Inserting one vector into the HNSW graph costs several milliseconds of CPU
(it searches the graph for the new node's neighbours); everything else a
write does costs well under one. So a write stores its vector in
``fresh_embedding``, outside the index, and commits; this indexer then moves
vectors into ``embedding`` (which the HNSW index covers) in small
transactions, in the background. Searches see a vector at once either way:
the nearest-neighbour query compares the waiting vectors exactly
(``search.nearest_parts``), and reads return whichever column holds it.

Each vector moves in a transaction of its own, which locks only its row for
the time of one graph insert (several ms; tens at a million memories, with a
namespace's graph too): an update or delete of a memory just written waits
that long at most, where a batch of 200 held its rows for 2-5 s at a
million. The transactions are a procedure's (``memvault_move_waiting``,
made by migration 11), which commits after each row and moves up to
``PER_CALL`` rows a call, at the batches' CPU per vector moved; a statement
and a round trip per row instead cost a fifth more (``docs/benchmarks.md``,
"the indexer's locks"). The background indexer leaves a row a
writer holds (``FOR UPDATE SKIP LOCKED``) to a later pass, and so do the
indexers of other servers sharing the store, each moving other rows; a
server that dies leaves its rows to the others (they look for work every
``IDLE_S``). A move's commit does not wait for the disk
(``synchronous_commit = off``): lost in a crash, it leaves the vector
waiting, to be moved again. Bursts are absorbed, not the sustained rate:
once ``WAITING_LIMIT`` vectors wait, writes index their own vectors again,
at the graph's speed, so the exact comparison of waiting vectors stays cheap:
about 1 to 1.4 µs of CPU each a search, as they are kept in their rows
(migration 13; from the TOAST table, 3 to 4 µs). 3,000 waiting add 3 to 4 ms
to a search, which keeps a burst's searches within the goals
(``docs/benchmarks.md``, "waiting vectors kept in their rows").
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ...errors import MemvaultError
from .database import Database
from .rows import Cursor, one_row, one_value

log = logging.getLogger(__name__)

WAITING_LIMIT = 3_000
IDLE_S = 5.0
# Rows a call moves at most: the thread looks whether the store is closing between calls.
PER_CALL = 20

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
        """Move waiting vectors into the index now, one a transaction, in passes in
        rowid order until one from the start finds none; how many this call moved.

        With ``share``, rows another indexer is moving or a writer holds are left
        for a later pass; without, they are waited for, so that none waits when
        this returns. Rows committed behind a pass (a writer's rowid is taken
        before it commits) are found by the next.
        """
        moved = after = 0

        def move(cur: Cursor) -> Any:
            # Not in a transaction block: the procedure commits row by row.
            cur.execute("CALL memvault_move_waiting(%s, %s, %s)", (after, PER_CALL, share))
            return one_row(cur)

        while not self._stopping:
            done = self._db.write(move, transaction=False)
            if done.moved:
                moved += done.moved
                after = done.last
            elif after:
                after = 0  # a pass from the start, for rows committed behind this one
            else:
                break
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
