"""The SQLite store's write path: a memory's row, tags and vector in one transaction.

The word index follows the row by trigger (``schema``), so each write
below changes everything a memory is made of, or nothing. Chunks are rows of
their own that repeat the parent's tags and fields; updates and deletes of a
memory reach its chunks in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import apsw

from ...errors import Conflict, NotFound
from ...model import Memory, MemoryChanges, to_micros, utcnow
from .database import SqliteDatabase
from .rows import named, scalar
from .schema import ID_BATCH, MEMORY_COLUMNS, lookup_sql, to_memory


def add(
    db: SqliteDatabase, memories: Sequence[Memory], vectors: Sequence[bytes]
) -> list[tuple[Memory, bool]]:
    """Insert memories with their vectors, checked and encoded as the store keeps them
    (``precision``); an existing (namespace, hash) is kept."""
    results: list[tuple[Memory, bool]] = []
    skipped_parents: set[str] = set()
    with db.write() as cur:
        for memory, vector in zip(memories, vectors, strict=True):
            if memory.parent_id in skipped_parents:
                results.append((memory, False))
                continue
            rowid = _insert_row(cur, memory)
            if rowid is None:
                sql, params = lookup_sql(memory.content_hash, memory.namespace, to_micros(utcnow()))
                existing = named(cur.execute(sql, params))
                skipped_parents.add(memory.id)
                results.append((to_memory(existing[0]) if existing else memory, False))
                continue
            cur.executemany(
                "INSERT INTO memory_tags(tag, namespace, memory_rowid) VALUES (?, ?, ?)",
                [(tag, memory.namespace, rowid) for tag in memory.tags],
            )
            cur.execute(
                "INSERT INTO memory_vectors(rowid, embedding) VALUES (?, ?)",
                (rowid, vector),
            )
            results.append((memory, True))
    return results


def _insert_row(cur: apsw.Cursor, m: Memory) -> int | None:
    """The new row's rowid, or None when the memory's (namespace, hash) is already stored."""
    try:
        inserted = cur.execute(
            "INSERT INTO memories(id, namespace, content, content_hash, tags, memory_type, "
            "metadata, importance, created_at, updated_at, last_accessed_at, expires_at, "
            "parent_id, chunk_index) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(namespace, content_hash) WHERE parent_id IS NULL DO NOTHING "
            "RETURNING rowid",
            (
                m.id,
                m.namespace,
                m.content,
                m.content_hash,
                json.dumps(list(m.tags)),
                m.memory_type,
                json.dumps(m.metadata, ensure_ascii=False),
                m.importance,
                to_micros(m.created_at),
                to_micros(m.updated_at),
                to_micros(m.last_accessed_at),
                to_micros(m.expires_at),
                m.parent_id,
                m.chunk_index,
            ),
        )
        rowid: int | None = scalar(inserted)
    except apsw.ConstraintError as exc:
        raise Conflict(f"memory id {m.id} already exists with other content", field="id") from exc
    return rowid


def update(db: SqliteDatabase, memory_id: str, changes: MemoryChanges) -> Memory:
    """Apply ``changes`` to a memory and its chunks; the memory as it is now."""
    sets: list[str] = []
    params: list[Any] = []
    if changes.tags is not None:
        sets.append("tags = ?")
        params.append(json.dumps(list(changes.tags)))
    if changes.metadata is not None:
        sets.append("metadata = ?")
        params.append(json.dumps(changes.metadata, ensure_ascii=False))
    for name in ("importance", "memory_type"):
        if getattr(changes, name) is not None:
            sets.append(f"{name} = ?")
            params.append(getattr(changes, name))
    if changes.expires_at is not None:
        sets.append("expires_at = ?")
        params.append(to_micros(changes.expires_at))
    sets.append("updated_at = ?")
    params.append(to_micros(utcnow()))
    with db.write() as cur:
        rows = named(
            cur.execute(
                "SELECT rowid, namespace FROM memories WHERE id = ? OR parent_id = ?",
                (memory_id, memory_id),
            )
        )
        if not rows:
            raise NotFound(f"no memory with id {memory_id}", field="id")
        rowids = [r.rowid for r in rows]
        marks = ",".join("?" * len(rowids))
        cur.execute(
            f"UPDATE memories SET {', '.join(sets)} WHERE rowid IN ({marks})", (*params, *rowids)
        )
        if changes.tags is not None:
            cur.execute(f"DELETE FROM memory_tags WHERE memory_rowid IN ({marks})", rowids)
            cur.executemany(
                "INSERT INTO memory_tags(tag, namespace, memory_rowid) VALUES (?, ?, ?)",
                [(t, r.namespace, r.rowid) for r in rows for t in changes.tags],
            )
        (row,) = named(
            cur.execute(f"SELECT {MEMORY_COLUMNS} FROM memories m WHERE m.id = ?", (memory_id,))
        )
    return to_memory(row)


def delete(db: SqliteDatabase, memory_ids: Sequence[str]) -> int:
    """Delete memories and their chunks (rows, tags, vectors); how many top-level went."""
    deleted = 0
    with db.write() as cur:
        for start in range(0, len(memory_ids), ID_BATCH):
            ids = list(memory_ids[start : start + ID_BATCH])
            marks = ",".join("?" * len(ids))
            rows = named(
                cur.execute(
                    f"SELECT rowid, parent_id FROM memories WHERE id IN ({marks}) "
                    f"OR parent_id IN ({marks})",
                    (*ids, *ids),
                )
            )
            deleted += sum(1 for r in rows if r.parent_id is None)
            rowids = [r.rowid for r in rows]
            cur.executemany("DELETE FROM memory_vectors WHERE rowid = ?", [(r,) for r in rowids])
            cur.executemany(
                "DELETE FROM memory_tags WHERE memory_rowid = ?", [(r,) for r in rowids]
            )
            cur.executemany("DELETE FROM memories WHERE rowid = ?", [(r,) for r in rowids])
    return deleted
