"""SqliteStore: one SQLite file, sqlite-vec for vectors, FTS5 for words.

apsw is the driver: it bundles a recent SQLite that can load extensions, which
the standard ``sqlite3`` module cannot do on many Pythons (pyenv, macOS).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import apsw
import numpy as np
import sqlite_vec

from ..config import Settings
from ..errors import Conflict, InvalidInput, NotFound, StoreUnavailable
from ..model import EmbeddingSpec, Filter, Memory, MemoryChanges, as_vector, new_id, utcnow
from . import sqlite_upkeep
from .base import (
    DetailedStats,
    Page,
    StoreStats,
    check_same_model,
    checked_vectors,
    looks_like_hash,
)
from .sqlite_schema import (
    DEFAULT_PRAGMAS,
    MEMORY_COLUMNS,
    MIGRATIONS,
    filter_sql,
    from_micros,
    to_micros,
    vector_table_sql,
)
from .sqlite_vectors import VectorIndex

BUSY_TIMEOUT_MS = 60_000
# The file or the disk failing underneath us, as opposed to a bug in a query.
UNAVAILABLE = (apsw.BusyError, apsw.LockedError, apsw.IOError, apsw.CorruptError,
               apsw.NotADBError, apsw.CantOpenError, apsw.ReadOnlyError, apsw.FullError,
               apsw.PermissionsError)


def parse_pragmas(text: str) -> dict[str, str]:
    """``"key=value,key=value"`` as given in MEMVAULT_SQLITE_PRAGMAS."""
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key.replace("_", "").isalnum() or not value or not all(
            c.isalnum() or c in "-_." for c in value
        ):
            raise InvalidInput(f"bad SQLite pragma {item!r}; expected name=value",
                               field="sqlite_pragmas")
        out[key.lower()] = value
    return out


class SqliteStore:
    """A Store over one SQLite file. Thread-safe: one connection behind a lock."""

    def __init__(self, path: str | Path, *, pragmas: dict[str, str] | None = None) -> None:
        self.path = Path(path)
        self.url = f"sqlite://{self.path}"
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = apsw.Connection(str(self.path))
        except (OSError, apsw.Error) as exc:
            raise StoreUnavailable(f"cannot open SQLite file {self.path}: {exc}") from exc
        self._conn.setbusytimeout(BUSY_TIMEOUT_MS)
        self._conn.enable_load_extension(True)
        self._conn.load_extension(sqlite_vec.loadable_path())
        self._conn.enable_load_extension(False)
        try:
            for key, value in {**DEFAULT_PRAGMAS, **(pragmas or {})}.items():
                self._conn.execute(f"PRAGMA {key}={value}")
            self._migrate()
            self._spec = self._read_spec()
        except UNAVAILABLE as exc:
            self._conn.close()
            raise StoreUnavailable(f"cannot use SQLite file {self.path}: {exc}") from exc
        self._index = VectorIndex(self._spec.dimension) if self._spec else None

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> SqliteStore:
        path = url.split("://", 1)[1].split("?", 1)[0]
        if not path or path == "/":
            raise InvalidInput(f"SQLite URL names no file: {url!r}", field="store_url")
        return cls(Path(path).expanduser(), pragmas=parse_pragmas(settings.sqlite_pragmas))

    # -- plumbing -----------------------------------------------------------
    @contextlib.contextmanager
    def _write(self) -> Iterator[apsw.Cursor]:
        """One IMMEDIATE transaction: the write lock is taken up front, so two
        processes never deadlock upgrading read locks, and busy_timeout waits."""
        with self._lock:
            cur = self._conn.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
            except UNAVAILABLE as exc:
                raise StoreUnavailable(f"SQLite file {self.path} is locked: {exc}") from exc
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException as exc:
                if not self._conn.getautocommit():
                    cur.execute("ROLLBACK")
                if isinstance(exc, UNAVAILABLE):
                    raise StoreUnavailable(
                        f"SQLite file {self.path} failed a write: {exc}") from exc
                raise

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, tuple(params)).fetchall()
            except UNAVAILABLE as exc:
                raise StoreUnavailable(f"SQLite file {self.path} is unavailable: {exc}") from exc

    def _migrate(self) -> None:
        with self._write() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                        "(version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
            done = {r[0] for r in cur.execute("SELECT version FROM schema_migrations")}
            for version, sql in enumerate(MIGRATIONS, start=1):
                if version in done:
                    continue
                cur.execute(sql)
                cur.execute("INSERT INTO schema_migrations VALUES (?, ?)",
                            (version, to_micros(utcnow())))
            cur.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('store_id', ?)",
                        (new_id(),))

    def _meta(self, key: str) -> str | None:
        rows = self._rows("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def _read_spec(self) -> EmbeddingSpec | None:
        model, dim = self._meta("embedding_model"), self._meta("embedding_dimension")
        return EmbeddingSpec(model, int(dim)) if model and dim else None

    # -- identity and model -------------------------------------------------
    def identity(self) -> str:
        return self._meta("store_id") or ""

    def embedding_spec(self) -> EmbeddingSpec | None:
        # Another process may have bound the model since this handle opened an empty store.
        if self._spec is None:
            self._spec = self._read_spec()
            if self._spec is not None:
                self._index = VectorIndex(self._spec.dimension)
        return self._spec

    def bind_embedding(self, spec: EmbeddingSpec) -> None:
        if self._spec is None:
            with self._write() as cur:
                # Another process may have bound it since we read the meta table.
                existing = cur.execute(
                    "SELECT value FROM meta WHERE key = 'embedding_model'").fetchall()
                if not existing:
                    cur.execute("INSERT INTO meta VALUES ('embedding_model', ?), "
                                "('embedding_dimension', ?)", (spec.model, str(spec.dimension)))
                    cur.execute(vector_table_sql(spec.dimension))
            self._spec = self._read_spec()
            self._index = VectorIndex(self._spec.dimension)
        check_same_model(self.url, self._spec, spec)

    # -- writes -------------------------------------------------------------
    def add(self, memories: Sequence[Memory]) -> list[tuple[Memory, bool]]:
        if not memories:
            return []
        vectors = checked_vectors(memories, self._spec)
        results: list[tuple[Memory, bool]] = []
        skipped_parents: set[str] = set()
        with self._write() as cur:
            for memory, vector in zip(memories, vectors, strict=True):
                if memory.parent_id in skipped_parents:
                    results.append((memory, False))
                    continue
                rowid = self._insert_row(cur, memory)
                if rowid is None:
                    existing = self._get_in(cur, memory.content_hash, memory.namespace)
                    skipped_parents.add(memory.id)
                    results.append((existing or memory, False))
                    continue
                cur.executemany("INSERT INTO memory_tags(tag, memory_rowid) VALUES (?, ?)",
                                [(tag, rowid) for tag in memory.tags])
                cur.execute("INSERT INTO memory_vectors(rowid, namespace, embedding) "
                            "VALUES (?, ?, ?)", (rowid, memory.namespace, vector.tobytes()))
                results.append((memory, True))
        self._index.stale = True
        return results

    def _insert_row(self, cur: apsw.Cursor, m: Memory) -> int | None:
        try:
            rows = cur.execute(
                "INSERT INTO memories(id, namespace, content, content_hash, tags, memory_type, "
                "metadata, importance, created_at, updated_at, last_accessed_at, expires_at, "
                "parent_id, chunk_index) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(namespace, content_hash) WHERE parent_id IS NULL DO NOTHING "
                "RETURNING rowid",
                (m.id, m.namespace, m.content, m.content_hash, json.dumps(list(m.tags)),
                 m.memory_type, json.dumps(m.metadata, ensure_ascii=False), m.importance,
                 to_micros(m.created_at), to_micros(m.updated_at),
                 to_micros(m.last_accessed_at), to_micros(m.expires_at),
                 m.parent_id, m.chunk_index),
            ).fetchall()
        except apsw.ConstraintError as exc:
            raise Conflict(f"memory id {m.id} already exists with other content",
                           field="id") from exc
        return rows[0][0] if rows else None

    def update(self, memory_id: str, changes: MemoryChanges) -> Memory:
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
        with self._write() as cur:
            rowids = [r[0] for r in cur.execute(
                "SELECT rowid FROM memories WHERE id = ? OR parent_id = ?",
                (memory_id, memory_id))]
            if not rowids:
                raise NotFound(f"no memory with id {memory_id}", field="id")
            marks = ",".join("?" * len(rowids))
            cur.execute(f"UPDATE memories SET {', '.join(sets)} WHERE rowid IN ({marks})",
                        (*params, *rowids))
            if changes.tags is not None:
                cur.execute(f"DELETE FROM memory_tags WHERE memory_rowid IN ({marks})", rowids)
                cur.executemany("INSERT INTO memory_tags(tag, memory_rowid) VALUES (?, ?)",
                                [(t, r) for r in rowids for t in changes.tags])
            row = cur.execute(f"SELECT {MEMORY_COLUMNS} FROM memories m WHERE m.id = ?",
                              (memory_id,)).fetchall()
        return _to_memory(row[0])

    def delete(self, memory_ids: Sequence[str]) -> int:
        if not memory_ids:
            return 0
        deleted = 0
        with self._write() as cur:
            for start in range(0, len(memory_ids), 500):
                ids = list(memory_ids[start:start + 500])
                marks = ",".join("?" * len(ids))
                rows = cur.execute(
                    f"SELECT rowid, parent_id FROM memories WHERE id IN ({marks}) "
                    f"OR parent_id IN ({marks})", (*ids, *ids)).fetchall()
                deleted += sum(1 for _, parent in rows if parent is None)
                rowids = [r[0] for r in rows]
                for rowid in rowids:
                    cur.execute("DELETE FROM memory_vectors WHERE rowid = ?", (rowid,))
                cur.executemany("DELETE FROM memory_tags WHERE memory_rowid = ?",
                                [(r,) for r in rowids])
                cur.executemany("DELETE FROM memories WHERE rowid = ?", [(r,) for r in rowids])
        if self._index is not None:
            self._index.stale = True
        return deleted

    # -- reads --------------------------------------------------------------
    def get(self, ref: str, namespace: str | None, *, with_embedding: bool = False
            ) -> Memory | None:
        with self._lock:
            memory = self._get_in(self._conn.cursor(), ref, namespace)
        if memory is not None and with_embedding:
            memory = self._attach_vectors([memory])[0]
        return memory

    def _get_in(self, cur: apsw.Cursor, ref: str, namespace: str | None) -> Memory | None:
        by = "content_hash" if looks_like_hash(ref) else "id"
        sql = f"SELECT {MEMORY_COLUMNS} FROM memories m WHERE m.{by} = ?"
        params: list[Any] = [ref]
        if by == "content_hash":
            sql += " AND m.parent_id IS NULL"
        if namespace is not None:
            sql += " AND m.namespace = ?"
            params.append(namespace)
        sql += " AND (m.expires_at IS NULL OR m.expires_at > ?) LIMIT 1"
        params.append(to_micros(utcnow()))
        rows = cur.execute(sql, params).fetchall()
        return _to_memory(rows[0]) if rows else None

    def get_many(self, memory_ids: Sequence[str], *, with_embedding: bool = False
                 ) -> list[Memory]:
        found: dict[str, Memory] = {}
        for start in range(0, len(memory_ids), 500):
            ids = list(memory_ids[start:start + 500])
            marks = ",".join("?" * len(ids))
            for row in self._rows(
                    f"SELECT {MEMORY_COLUMNS} FROM memories m WHERE m.id IN ({marks})", ids):
                found[row[1]] = _to_memory(row)
        out = [found[i] for i in memory_ids if i in found]
        return self._attach_vectors(out) if with_embedding else out

    def existing_hashes(self, namespace: str, hashes: Sequence[str]) -> set[str]:
        out: set[str] = set()
        for start in range(0, len(hashes), 500):
            part = list(hashes[start:start + 500])
            marks = ",".join("?" * len(part))
            out.update(r[0] for r in self._rows(
                f"SELECT content_hash FROM memories WHERE namespace = ? AND parent_id IS NULL "
                f"AND content_hash IN ({marks})", (namespace, *part)))
        return out

    def query(self, flt: Filter, *, limit: int, cursor: str | None = None,
              oldest_first: bool = False) -> Page:
        where, params = filter_sql(flt, to_micros(utcnow()))
        op, order = (">", "ASC") if oldest_first else ("<", "DESC")
        if cursor:
            created, _, last_id = cursor.partition(":")
            if not created.lstrip("-").isdigit() or not last_id:
                raise InvalidInput("cursor is malformed", field="cursor")
            where += f" AND (m.created_at, m.id) {op} (?, ?)"
            params += [int(created), last_id]
        rows = self._rows(
            f"SELECT {MEMORY_COLUMNS} FROM memories m WHERE {where} "
            f"ORDER BY m.created_at {order}, m.id {order} LIMIT ?", (*params, limit + 1))
        memories = [_to_memory(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = f"{last[9]}:{last[1]}"
        return Page(memories, next_cursor)

    def count(self, flt: Filter) -> int:
        where, params = filter_sql(flt, to_micros(utcnow()))
        return self._rows(f"SELECT count(*) FROM memories m WHERE {where}", params)[0][0]

    def vector_search(self, vector: np.ndarray, k: int, flt: Filter
                      ) -> list[tuple[Memory, float]]:
        spec = self.embedding_spec()
        if spec is None or self._index is None:
            return []
        vec = as_vector(vector, spec.dimension)
        now = to_micros(utcnow())
        allowed = None
        # The filter picks the candidate rows first, so the k nearest are
        # chosen among matching memories only (never filtered afterwards).
        if not flt.is_namespace_only or self._has_expired(now):
            where, params = filter_sql(flt.with_changes(include_chunks=True), now)
            allowed = np.array([r[0] for r in self._rows(
                f"SELECT m.rowid FROM memories m WHERE {where}", params)], dtype=np.int64)
        with self._lock:
            self._index.refresh(self._rows)
            hits = self._index.search(vec, k, flt.namespace, allowed)
        return self._with_memories(hits, float)

    def _has_expired(self, now: int) -> bool:
        return bool(self._rows("SELECT 1 FROM memories WHERE expires_at IS NOT NULL "
                               "AND expires_at <= ? LIMIT 1", (now,)))

    def text_search(self, terms: Sequence[str], k: int, flt: Filter
                    ) -> list[tuple[Memory, float]]:
        if not terms:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        where, params = filter_sql(flt.with_changes(include_chunks=False), to_micros(utcnow()))
        hits = self._rows(
            "SELECT f.rowid, bm25(memories_fts) AS rank FROM memories_fts f "
            f"JOIN memories m ON m.rowid = f.rowid WHERE memories_fts MATCH ? AND {where} "
            "ORDER BY rank LIMIT ?", (match, *params, k))
        return self._with_memories(hits, lambda rank: -rank)

    def _with_memories(self, hits: list[tuple[int, float]], score: Any
                       ) -> list[tuple[Memory, float]]:
        if not hits:
            return []
        marks = ",".join("?" * len(hits))
        rows = {r[0]: r for r in self._rows(
            f"SELECT {MEMORY_COLUMNS} FROM memories m WHERE m.rowid IN ({marks})",
            [h[0] for h in hits])}
        return [(_to_memory(rows[rowid]), float(score(value)))
                for rowid, value in hits if rowid in rows]

    def scan(self, flt: Filter, *, batch_size: int, cursor: str | None = None,
             with_embedding: bool = True) -> Iterator[tuple[list[Memory], str]]:
        last = int(cursor) if cursor else 0
        where, params = filter_sql(flt, to_micros(utcnow()))
        while True:
            rows = self._rows(
                f"SELECT {MEMORY_COLUMNS} FROM memories m WHERE {where} AND m.rowid > ? "
                "ORDER BY m.rowid LIMIT ?", (*params, last, batch_size))
            if not rows:
                return
            last = rows[-1][0]
            batch = [_to_memory(r) for r in rows]
            yield (self._attach_vectors(batch) if with_embedding else batch), str(last)

    def _attach_vectors(self, memories: list[Memory]) -> list[Memory]:
        if not memories or self.embedding_spec() is None:
            return memories
        marks = ",".join("?" * len(memories))
        by_id = {r[0]: r[1] for r in self._rows(
            f"SELECT m.id, v.embedding FROM memories m JOIN memory_vectors v "
            f"ON v.rowid = m.rowid WHERE m.id IN ({marks})", [m.id for m in memories])}
        return [m.with_changes(embedding=np.frombuffer(by_id[m.id], dtype=np.float32).copy())
                if m.id in by_id else m for m in memories]

    # -- notes ---------------------------------------------------------------
    def get_note(self, key: str) -> str | None:
        return self._meta(f"note:{key}")

    def set_note(self, key: str, value: str | None) -> None:
        with self._write() as cur:
            if value is None:
                cur.execute("DELETE FROM meta WHERE key = ?", (f"note:{key}",))
            else:
                cur.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                            (f"note:{key}", value))

    # -- upkeep -------------------------------------------------------------
    def stats(self, namespace: str | None) -> StoreStats:
        flt = Filter(namespace=namespace)
        where, params = filter_sql(flt, to_micros(utcnow()))

        def grouped(expr: str, limit: str = "") -> list[tuple[Any, int]]:
            return [(r[0], r[1]) for r in self._rows(
                f"SELECT {expr} AS g, count(*) AS n FROM memories m WHERE {where} "
                f"GROUP BY g ORDER BY n DESC, g {limit}", params)]

        span = self._rows(f"SELECT count(*), min(m.created_at), max(m.created_at) "
                          f"FROM memories m WHERE {where}", params)[0]
        top_tags = [(r[0], r[1]) for r in self._rows(
            f"SELECT t.tag, count(*) AS n FROM memory_tags t JOIN memories m "
            f"ON m.rowid = t.memory_rowid WHERE {where} GROUP BY t.tag "
            f"ORDER BY n DESC, t.tag LIMIT 20", params)]
        months = grouped("strftime('%Y-%m', m.created_at / 1000000, 'unixepoch')")
        return StoreStats(
            total=span[0],
            namespaces=dict(grouped("m.namespace")),
            by_type=dict(grouped("m.memory_type")),
            top_tags=top_tags,
            per_month=dict(sorted(months)),
            oldest=_iso(from_micros(span[1])),
            newest=_iso(from_micros(span[2])),
        )

    def detailed_stats(self, flt: Filter, *, top: int = 20) -> DetailedStats:
        return sqlite_upkeep.detailed_stats(self, flt, top)

    def optimize(self) -> list[str]:
        return sqlite_upkeep.optimize(self)

    def backup_to(self, path: str | Path) -> None:
        """A consistent copy of the database through SQLite's online backup API.

        Written beside ``path`` and renamed into place, so a copy is never half there.
        """
        path = Path(path)
        partial = path.with_name(path.name + ".tmp")
        dest = apsw.Connection(str(partial))
        try:
            with self._lock, dest.backup("main", self._conn, "main") as job:
                job.step(-1)
        finally:
            dest.close()
        os.replace(partial, path)

    def size_bytes(self) -> int | None:
        total = 0
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                total += os.path.getsize(f"{self.path}{suffix}")
        return total

    def health(self) -> dict[str, Any]:
        try:
            self._rows("SELECT 1")
        except apsw.Error as exc:
            raise StoreUnavailable(f"SQLite file {self.path} is not usable: {exc}") from exc
        return {"backend": "sqlite", "path": str(self.path), "identity": self.identity(),
                "sqlite_version": apsw.sqlite_lib_version(),
                "vec_version": self._rows("SELECT vec_version()")[0][0]}

    # -- bookkeeping --------------------------------------------------------
    def journal_put(self, kind: str, key: str, value: dict[str, Any]) -> None:
        with self._write() as cur:
            cur.execute("INSERT INTO journal(kind, key, value, updated_at) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT(kind, key) DO UPDATE SET value = excluded.value, "
                        "updated_at = excluded.updated_at",
                        (kind, key, json.dumps(value, ensure_ascii=False),
                         to_micros(utcnow())))

    def journal_get(self, kind: str, key: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT value FROM journal WHERE kind = ? AND key = ?", (kind, key))
        return json.loads(rows[0][0]) if rows else None

    def journal_list(self, kind: str, prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
        # Keyset pages, so a long log streams and the lock is not held between pages.
        last = ""
        while True:
            rows = self._rows(
                "SELECT key, value FROM journal WHERE kind = ? AND key > ? "
                "AND substr(key, 1, ?) = ? ORDER BY key LIMIT 200",
                (kind, last, len(prefix), prefix))
            for key, value in rows:
                yield key, json.loads(value)
            if len(rows) < 200:
                return
            last = rows[-1][0]

    def journal_delete(self, kind: str, keys: Sequence[str]) -> None:
        with self._write() as cur:
            cur.executemany("DELETE FROM journal WHERE kind = ? AND key = ?",
                            [(kind, key) for key in keys])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _to_memory(row: tuple[Any, ...]) -> Memory:
    return Memory(
        id=row[1], namespace=row[2], content=row[3], content_hash=row[4],
        tags=tuple(json.loads(row[5])), memory_type=row[6], metadata=json.loads(row[7]),
        importance=row[8], created_at=from_micros(row[9]), updated_at=from_micros(row[10]),
        last_accessed_at=from_micros(row[11]), expires_at=from_micros(row[12]),
        parent_id=row[13], chunk_index=row[14],
    )
