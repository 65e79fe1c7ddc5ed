"""Rows stored before memvault made PostgreSQL's words itself get them made again.

Migration 7 marks every row then in the table ``words_stale``, and so does
a trigger for a row a memvault from before it writes during a rolling
upgrade (one without words). A thread started when the store opens
(``WordConverter``), and ``optimize``, rewrite their words and lengths from
every store's tokenizer (``lexemes``), ``BATCH`` rows per transaction in
rowid order, so the store opens at once and a conversion interrupted
anywhere resumes where it stopped at the next opening. Concurrent servers
share the work (``SKIP LOCKED``). The transaction that converts the last
stale rows counts the words again (``words.RECOUNT``): until then searches
read old words for the rows not yet converted, and counts of the old words
beside the new. A row's new words make it a new row version, with an entry
in every index (the HNSW graphs too), so the thread converts about as fast
as rows are added again (at 100,000 memories on two shared cores, 333 a
second at load 2, 60-80 at load 3 to 6).

``optimize`` converts a backlog of at least ``REBUILD_SHARE`` of the store
the way a bulk load writes: the HNSW graphs dropped, the rows rewritten in
batches of ``BULK_BATCH``, the graphs built once at the end
(``bulk_load.index_built_at_end``, which builds them even after a failure).
A process killed meanwhile leaves the graphs missing; the next ``optimize``
sees that and goes on the same way, so they come back (and a ``memvault
serve`` started since builds them in the background: ``graph_repair``). Until then searches
compare vectors exactly (slower, same results) and writes go on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ...errors import MemvaultError
from .database import Database
from .lexemes import document
from .rows import Cursor, one_row, one_value
from .schema import VECTOR_INDEX_VALID
from .words import RECOUNT

log = logging.getLogger(__name__)

BATCH = 2_000
BULK_BATCH = 20_000
# A backlog this share of the store or more is converted with the graphs dropped:
# building a graph costs about a tenth of inserting its rows one by one.
REBUILD_SHARE = 0.1
PENDING = "SELECT EXISTS (SELECT FROM memvault_memories WHERE words_stale)"
# Counted through the partial index on the stale rows.
STALE = "SELECT count(*) FROM memvault_memories WHERE words_stale"

# Runs a batch in a transaction of its own and returns what it returns.
Runner = Callable[[Callable[[Cursor], int]], int]


def retokenize(run: Runner, *, bulk: bool = False) -> int:
    """Make the words of every stale row, a batch per transaction (``BULK_BATCH``
    rows with ``bulk``, for the graphs dropped); how many rows were rewritten.
    Rows another process holds are left to it."""
    batch = BULK_BATCH if bulk else BATCH
    done = 0
    while converted := run(lambda cur: convert_batch(cur, batch)):
        done += converted
    if done:
        log.info("made the words of %d rows again", done)
    return done


def stale_rows(cur: Cursor) -> int:
    cur.execute(STALE)
    return int(one_value(cur))


def rebuild_worth_it(db: Database) -> bool:
    """Whether ``optimize`` should convert with the graphs dropped: the backlog is
    large, or the graph is missing (a fast conversion or bulk load was killed)."""
    with db.cursor() as cur:
        cur.execute(
            f"SELECT ({STALE}) AS stale, (SELECT count(*) FROM memvault_memories) AS total, "
            f"NOT {VECTOR_INDEX_VALID} AS missing"
        )
        found = one_row(cur)
    return bool(found.missing) or (found.stale > 0 and found.stale >= REBUILD_SHARE * found.total)


def convert_batch(cur: Cursor, batch: int | None = None) -> int:
    """Make the words of up to ``batch`` stale rows; after the last ones, count the
    words again. How many rows were rewritten."""
    # Asked first without a lock, so that a store with nothing to do opens on a
    # server that takes no writes (a standby).
    cur.execute(PENDING)
    if not one_value(cur):
        return 0
    cur.execute(
        "SELECT rowid, content, parent_id IS NULL FROM memvault_memories "
        "WHERE words_stale ORDER BY rowid LIMIT %s FOR UPDATE SKIP LOCKED",
        (batch or BATCH,),
    )
    rows = cur.fetchall()
    if not rows:
        return 0
    made = [document(content) if top else (None, None) for _, content, top in rows]
    cur.execute(
        "UPDATE memvault_memories m SET words = v.words::tsvector, "
        "word_count = v.word_count, words_stale = false "
        "FROM unnest(%s::bigint[], %s::text[], %s::int[]) AS v(rowid, words, word_count) "
        "WHERE m.rowid = v.rowid",
        (
            [rowid for rowid, _, _ in rows],
            [words for words, _ in made],
            [count for _, count in made],
        ),
    )
    cur.execute(PENDING)
    if not one_value(cur):
        for statement in RECOUNT:
            cur.execute(statement)
    return len(rows)


class WordConverter:
    """A background thread converting the stale rows, started if there are any."""

    def __init__(self, run: Runner) -> None:
        self._run = run
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._run(_pending):
            self._thread = threading.Thread(
                target=self._convert, name="memvault-words", daemon=True
            )
            self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait until the conversion has ended (done, failed or stopped)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        self._stopping = True
        self.join()

    def _convert(self) -> None:
        try:
            while not self._stopping and self._run(convert_batch):
                pass
        except MemvaultError as exc:  # the next opening or optimize goes on from here
            log.warning("making the words of rows stored with older words failed: %s", exc)


def _pending(cur: Cursor) -> int:
    cur.execute(PENDING)
    return int(bool(one_value(cur)))
