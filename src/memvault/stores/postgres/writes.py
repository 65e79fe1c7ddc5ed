"""The PostgreSQL store's write path: add, update and delete, each one transaction.

A write never fails on a duplicate: rows go in with ``INSERT ... ON CONFLICT
DO NOTHING`` and the stored winner is read back. Top-level rows are inserted
in (namespace, hash) order, so concurrent batches wait for each other's
duplicates instead of deadlocking on them. Large batches are loaded with
binary ``COPY`` into a session-local table first. A row's words are made
in Python (``lexemes``) and written with it; the word counts BM25 needs
(``words``) are added in the statement that inserts the rows, from the rows
it returns (one statement and no second read of the rows by id).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb

from ...errors import Conflict, NotFound
from ...model import Memory, MemoryChanges, utcnow
from .database import Database
from .lexemes import document
from .rows import Cursor, one_value
from .schema import MEMORY_COLUMNS, select_memories, to_memory
from .words import count_rows

# Batches at least this large are loaded with COPY instead of one multi-row INSERT.
COPY_MIN_ROWS = 100

# The columns a write supplies, in the order of ``memory_row``; the vector goes
# into ``embedding`` (indexed at once) or ``fresh_embedding`` (``indexing``).
# ``words`` goes on the wire as the text of a tsvector (``lexemes``).
WRITE_COLUMNS = (
    "id, namespace, content, content_hash, tags, memory_type, metadata, "
    "importance, created_at, updated_at, last_accessed_at, expires_at, "
    "parent_id, chunk_index, words, word_count, embedding"
)
DEFERRED_COLUMNS = WRITE_COLUMNS.replace("embedding", "fresh_embedding")
WRITE_TYPES = [
    "text",
    "text",
    "text",
    "text",
    "text[]",
    "text",
    "jsonb",
    "float8",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "text",
    "int4",
    "text",
    "int4",
]
# Where a COPY puts a large batch before one INSERT ... SELECT moves it; private
# to the session, emptied at every commit.
INCOMING_TABLE = (
    "CREATE TEMP TABLE IF NOT EXISTS memvault_incoming (ord integer, "
    + ", ".join(
        f"{name} {kind}"
        for name, kind in zip(WRITE_COLUMNS.split(", "), [*WRITE_TYPES, "vector"], strict=True)
    )
    + ") ON COMMIT DELETE ROWS"
)
# Where each of WRITE_COLUMNS' values goes in a VALUES list or SELECT.
VALUE_MARKS = ", ".join(
    "%s::tsvector" if name == "words" else "%s" for name in WRITE_COLUMNS.split(", ")
)
INCOMING_VALUES = WRITE_COLUMNS.replace("words,", "words::tsvector,")
INSERT_TAIL = (
    "ON CONFLICT (namespace, content_hash) WHERE parent_id IS NULL DO NOTHING RETURNING id"
)


def inserting(target: str, source: str, count_words: bool) -> str:
    """One statement inserting the rows of ``source`` (a VALUES list or a SELECT) into
    the ``target`` columns, adding their words to the counts if ``count_words``, and
    returning the ids inserted. The counts are added in lexeme order for the whole
    statement, so writers sharing a stripe wait for each other rather than deadlock."""
    counted = f", counted AS ({count_rows('added', 1)})" if count_words else ""
    return (
        f"WITH added AS (INSERT INTO memvault_memories ({target}) {source} "
        f"{INSERT_TAIL}, parent_id IS NULL AS top, words, word_count){counted} "
        "SELECT id FROM added"
    )


# The fields an update may change, each with how its value goes on the wire.
_UPDATABLE: dict[str, Callable[[Any], Any]] = {
    "tags": list,
    "metadata": Jsonb,
    "importance": float,
    "memory_type": str,
    "expires_at": lambda value: value,
}


def memory_row(m: Memory, vector: Any) -> tuple[Any, ...]:
    """The values of WRITE_COLUMNS for one memory (only top-level memories hold words:
    a parent holds all its chunks' text)."""
    words, word_count = document(m.content) if m.parent_id is None else (None, None)
    return (
        m.id,
        m.namespace,
        m.content,
        m.content_hash,
        list(m.tags),
        m.memory_type,
        Jsonb(m.metadata),
        m.importance,
        _aware(m.created_at),
        _aware(m.updated_at),
        _aware(m.last_accessed_at),
        _aware(m.expires_at),
        m.parent_id,
        m.chunk_index,
        words,
        word_count,
        vector,
    )


def add(
    db: Database,
    memories: Sequence[Memory],
    vectors: Sequence[np.ndarray],
    *,
    deferred: bool = False,
    count_words: bool = True,
) -> list[tuple[Memory, bool]]:
    """Insert memories with their checked vectors; an existing (namespace, hash) is kept.

    ``deferred`` leaves the vectors out of the HNSW index, for the indexer;
    without ``count_words`` the word counts are left for a ``RECOUNT``.
    """
    target = DEFERRED_COLUMNS if deferred else WRITE_COLUMNS
    if len(memories) == 1 and memories[0].parent_id is None:
        return [_add_one(db, memories[0], vectors[0], target, count_words)]
    top = [i for i, m in enumerate(memories) if m.parent_id is None]
    top.sort(key=lambda i: (memories[i].namespace, memories[i].content_hash, i))

    def write(cur: Cursor) -> list[tuple[Memory, bool]]:
        rows = [memory_row(memories[i], vectors[i]) for i in top]
        new = _claim(top, memories, _insert(db, cur, rows, target, count_words))
        skipped = {memories[i].id for i in top if i not in new}
        chunks = [
            i
            for i, m in enumerate(memories)
            if m.parent_id is not None and m.parent_id not in skipped
        ]
        rows = [memory_row(memories[i], vectors[i]) for i in chunks]
        new |= _claim(chunks, memories, _insert(db, cur, rows, target, False))  # no words
        winners = _winners(cur, [memories[i] for i in top if i not in new])
        return [
            (m, True)
            if i in new
            else (
                winners.get((m.namespace, m.content_hash), m) if m.parent_id is None else m,
                False,
            )
            for i, m in enumerate(memories)
        ]

    return db.write(write)


def _add_one(
    db: Database, memory: Memory, vector: np.ndarray, target: str, count_words: bool
) -> tuple[Memory, bool]:
    """One memory without chunks, the most common write: one statement, counting its
    words too, in autocommit (no BEGIN and COMMIT round trips)."""
    sql = inserting(target, f"VALUES ({VALUE_MARKS})", count_words)

    def write(cur: Cursor) -> tuple[Memory, bool]:
        with _id_conflicts():
            cur.execute(sql, memory_row(memory, vector))
        if cur.fetchone() is not None:
            return memory, True
        return _winners(cur, [memory]).get((memory.namespace, memory.content_hash), memory), False

    return db.write(write, transaction=False)


@contextlib.contextmanager
def _id_conflicts() -> Iterator[None]:
    """A memory id already taken by other content is a Conflict, not a driver error."""
    try:
        yield
    except pg_errors.UniqueViolation as exc:
        raise Conflict(
            f"a memory id in this batch already exists with other content: "
            f"{exc.diag.message_detail or exc}",
            field="id",
        ) from exc


def _insert(
    db: Database, cur: Cursor, rows: list[tuple[Any, ...]], target: str, count_words: bool
) -> set[str]:
    """Insert rows into the ``target`` columns (skipping duplicates of a top-level
    memory) in one statement; the ids inserted."""
    if not rows:
        return set()
    with _id_conflicts():
        if len(rows) >= COPY_MIN_ROWS:
            _copy_incoming(cur, rows, db.vector_oid)
            source = f"SELECT {INCOMING_VALUES} FROM memvault_incoming ORDER BY ord"
            cur.execute(inserting(target, source, count_words))
        else:  # in the given order, as the COPY's ord keeps it
            values = ", ".join([f"({VALUE_MARKS})"] * len(rows))
            cur.execute(
                inserting(target, f"VALUES {values}", count_words),
                [value for row in rows for value in row],
            )
        return {r.id for r in cur.fetchall()}


def _copy_incoming(cur: Cursor, rows: list[tuple[Any, ...]], vector_oid: int) -> None:
    """COPY (binary) the rows into a session-local table, numbered in order."""
    cur.execute(INCOMING_TABLE)
    cur.execute("TRUNCATE memvault_incoming")
    with cur.copy(
        f"COPY memvault_incoming (ord, {WRITE_COLUMNS}) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["int4", *WRITE_TYPES, vector_oid])
        for ord_, row in enumerate(rows):
            copy.write_row((ord_, *row))


def _winners(cur: Cursor, losers: list[Memory]) -> dict[tuple[str, str], Memory]:
    """The stored memories that the duplicates in ``losers`` lost to."""
    if not losers:
        return {}
    found = select_memories(
        cur,
        "JOIN unnest(%s::text[], %s::text[]) AS d(namespace, content_hash) "
        "ON m.namespace = d.namespace AND m.content_hash = d.content_hash "
        "WHERE m.parent_id IS NULL",
        ([m.namespace for m in losers], [m.content_hash for m in losers]),
    )
    return {(m.namespace, m.content_hash): m for m in found}


def _claim(order: list[int], memories: Sequence[Memory], inserted: set[str]) -> set[int]:
    """Positions whose row was inserted: the first of each inserted id, in insert order."""
    claimed: set[int] = set()
    seen: set[str] = set()
    for i in order:
        memory_id = memories[i].id
        if memory_id in inserted and memory_id not in seen:
            claimed.add(i)
        seen.add(memory_id)
    return claimed


def update(db: Database, memory_id: str, changes: MemoryChanges) -> Memory:
    """Apply ``changes`` to a memory and its chunks; the memory as it is now."""
    sets: list[str] = []
    params: list[Any] = []
    for name, wire in _UPDATABLE.items():
        value = getattr(changes, name)
        if value is not None:
            sets.append(f"{name} = %s")
            params.append(wire(value))
    sets.append("updated_at = %s")
    params.append(utcnow())

    def write(cur: Cursor) -> Memory:
        cur.execute(
            f"UPDATE memvault_memories m SET {', '.join(sets)} "
            f"WHERE m.id = %s OR m.parent_id = %s RETURNING {MEMORY_COLUMNS}",
            (*params, memory_id, memory_id),
        )
        for row in cur.fetchall():
            if row.id == memory_id:
                return to_memory(row)
        raise NotFound(f"no memory with id {memory_id}", field="id")

    return db.write(write)


def delete(db: Database, memory_ids: Sequence[str]) -> int:
    """Delete memories and their chunks; how many top-level memories went."""

    def write(cur: Cursor) -> int:
        cur.execute(
            f"""
            WITH deleted AS (DELETE FROM memvault_memories WHERE id = ANY(%s) OR parent_id = ANY(%s)
                             RETURNING parent_id IS NULL AS top, words, word_count),
            counted AS ({count_rows("deleted", -1)})
            SELECT count(*) FILTER (WHERE top) FROM deleted""",
            (list(memory_ids), list(memory_ids)),
        )
        deleted: int = one_value(cur)
        return deleted

    return db.write(write)


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
