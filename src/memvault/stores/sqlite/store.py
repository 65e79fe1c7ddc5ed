"""SqliteStore: one SQLite file, vectors as BLOBs and FTS5 for words, both ranked in process.

The adapter itself holds the reads and the two searches; the rest is in
sibling modules: ``database`` (the connection, transactions,
migrations), ``rows`` (rows read by column name), ``schema`` (tables and
the SQL queries share), ``writes`` (add, update, delete), ``vectors`` and
``words`` (the in-process vector and BM25 rankings), ``allowed`` (the rows a
filter lets a ranking return), ``preceding`` (each memory's predecessor) and
``upkeep`` (journal, statistics, optimize).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import apsw
import numpy as np

from ...config import Settings
from ...errors import InvalidInput, StoreUnavailable
from ...model import (
    Candidate,
    EmbeddingSpec,
    Filter,
    Memory,
    MemoryChanges,
    as_vector,
    utcnow,
)
from ..base import (
    DetailedStats,
    Page,
    StoreStats,
    check_same_model,
    checked_vectors,
    parse_page_cursor,
)
from . import upkeep as sqlite_upkeep
from . import writes as sqlite_writes
from .allowed import TagRows, allowed_rowids
from .database import SqliteDatabase
from .location import sqlite_path
from .pragmas import parse_pragmas
from .preceding import preceding
from .precision import META_KEY as PRECISION_KEY
from .precision import Request, for_new_store, held, requested
from .schema import (
    ID_BATCH,
    MEMORY_COLUMNS,
    filter_sql,
    from_micros,
    lookup_sql,
    to_memory,
    to_micros,
)
from .vectors import VectorIndex
from .words import WordIndex

__all__ = ["SqliteStore", "parse_pragmas"]


class SqliteStore:
    """A Store over one SQLite file. Thread-safe: one connection behind a lock."""

    def __init__(
        self,
        path: str | Path,
        *,
        pragmas: dict[str, str] | None = None,
        create: bool = True,
        vectors: Request | None = None,
    ) -> None:
        """``vectors``: the precision asked for, which a new store records and an
        existing one must already hold (``precision``)."""
        self.path = Path(path)
        self.url = f"sqlite://{self.path}"
        self._db = SqliteDatabase(
            self.path,
            pragmas,
            create=create,
            created_with={PRECISION_KEY: for_new_store(vectors)},
        )
        try:
            self.precision = held(self._db.meta(PRECISION_KEY), vectors, self.path)
        except InvalidInput:
            self._db.close()
            raise
        self._spec = self._read_spec()
        self._index = self._new_index(self._spec)
        self._words = WordIndex()
        self._tag_rows = TagRows()

    @classmethod
    def from_url(cls, url: str, settings: Settings, *, create: bool = True) -> SqliteStore:
        return cls(
            sqlite_path(url),
            pragmas=parse_pragmas(settings.sqlite_pragmas),
            create=create,
            vectors=requested(url, settings),
        )

    def _new_index(self, spec: EmbeddingSpec | None) -> VectorIndex | None:
        return VectorIndex(spec.dimension, self.precision) if spec else None

    # -- identity and model -------------------------------------------------
    def _read_spec(self) -> EmbeddingSpec | None:
        model, dim = self._db.meta("embedding_model"), self._db.meta("embedding_dimension")
        return EmbeddingSpec(model, int(dim)) if model and dim else None

    def identity(self) -> str:
        return self._db.meta("store_id") or ""

    def embedding_spec(self) -> EmbeddingSpec | None:
        # Another process may have bound the model since this handle opened an empty store.
        if self._spec is None:
            self._spec = self._read_spec()
            self._index = self._new_index(self._spec)
        return self._spec

    def bind_embedding(self, spec: EmbeddingSpec) -> None:
        if self._spec is None:
            with self._db.write() as cur:
                # Another process may have bound it since we read the meta table.
                existing = cur.execute(
                    "SELECT value FROM meta WHERE key = 'embedding_model'"
                ).fetchall()
                if not existing:
                    cur.execute(
                        "INSERT INTO meta VALUES ('embedding_model', ?), "
                        "('embedding_dimension', ?)",
                        (spec.model, str(spec.dimension)),
                    )
            # Read back: the model recorded may be another process's, not ours.
            recorded = self._read_spec()
            assert recorded is not None, "the meta table holds a model by now"
            self._spec = recorded
            self._index = self._new_index(recorded)
        check_same_model(self.url, self._spec, spec)

    # -- writes -------------------------------------------------------------
    def add(self, memories: Sequence[Memory]) -> list[tuple[Memory, bool]]:
        if not memories:
            return []
        vectors = checked_vectors(memories, self._spec)
        results = sqlite_writes.add(self._db, memories, [self.precision.blob(v) for v in vectors])
        if self._index is not None:  # bound: checked_vectors refuses an unbound store
            self._index.stale = True
        self._words.stale = True
        return results

    def update(self, memory_id: str, changes: MemoryChanges) -> Memory:
        return sqlite_writes.update(self._db, memory_id, changes)

    def delete(self, memory_ids: Sequence[str]) -> int:
        if not memory_ids:
            return 0
        deleted = sqlite_writes.delete(self._db, memory_ids)
        if self._index is not None:
            self._index.stale = True
        self._words.stale = True
        return deleted

    # -- reads --------------------------------------------------------------
    def get(
        self, ref: str, namespace: str | None, *, with_embedding: bool = False
    ) -> Memory | None:
        rows = self._db.rows(*lookup_sql(ref, namespace, to_micros(utcnow())))
        if not rows:
            return None
        memory = to_memory(rows[0])
        return self._attach_vectors([memory])[0] if with_embedding else memory

    def get_many(self, memory_ids: Sequence[str], *, with_embedding: bool = False) -> list[Memory]:
        found: dict[str, Memory] = {}
        for start in range(0, len(memory_ids), ID_BATCH):
            ids = list(memory_ids[start : start + ID_BATCH])
            marks = ",".join("?" * len(ids))
            for row in self._db.rows(
                f"SELECT {MEMORY_COLUMNS} FROM memories m WHERE m.id IN ({marks})", ids
            ):
                found[row.id] = to_memory(row)
        out = [found[i] for i in memory_ids if i in found]
        return self._attach_vectors(out) if with_embedding else out

    def existing_hashes(self, namespace: str, hashes: Sequence[str]) -> set[str]:
        out: set[str] = set()
        for start in range(0, len(hashes), ID_BATCH):
            part = list(hashes[start : start + ID_BATCH])
            marks = ",".join("?" * len(part))
            out.update(
                self._db.column(
                    f"SELECT content_hash FROM memories WHERE namespace = ? AND parent_id IS NULL "
                    f"AND content_hash IN ({marks})",
                    (namespace, *part),
                )
            )
        return out

    def query(
        self, flt: Filter, *, limit: int, cursor: str | None = None, oldest_first: bool = False
    ) -> Page:
        where, params = filter_sql(flt, to_micros(utcnow()))
        op, order = (">", "ASC") if oldest_first else ("<", "DESC")
        if cursor:
            where += f" AND (m.created_at, m.id) {op} (?, ?)"
            params += list(parse_page_cursor(cursor))
        rows = self._db.rows(
            f"SELECT {MEMORY_COLUMNS} FROM memories m WHERE {where} "
            f"ORDER BY m.created_at {order}, m.id {order} LIMIT ?",
            (*params, limit + 1),
        )
        memories = [to_memory(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = f"{last.created_at}:{last.id}"
        return Page(memories, next_cursor)

    def count(self, flt: Filter) -> int:
        where, params = filter_sql(flt, to_micros(utcnow()))
        count: int = self._db.scalar(f"SELECT count(*) FROM memories m WHERE {where}", params)
        return count

    def vector_search(self, vector: np.ndarray, k: int, flt: Filter) -> list[Candidate]:
        spec = self.embedding_spec()
        if spec is None or self._index is None:
            return []
        vec = as_vector(vector, spec.dimension)
        allowed = allowed_rowids(self._db, flt.with_changes(include_chunks=True), self._tag_rows)
        with self._db.lock:
            self._index.refresh(self._db)
            hits = self._index.search(vec, k, flt.namespace, allowed)
        return self._candidates(hits)

    def text_search(self, terms: Sequence[str], k: int, flt: Filter) -> list[Candidate]:
        if not terms:
            return []
        allowed = allowed_rowids(self._db, flt.with_changes(include_chunks=False), self._tag_rows)
        with self._words.reading(self._db):
            hits = self._words.search(self._db, terms, k, flt.namespace, allowed)
        return self._candidates(hits)

    def preceding(
        self, memory_ids: Sequence[str], flt: Filter, within: timedelta
    ) -> dict[str, str]:
        return preceding(self._db, self._words, memory_ids, flt, within)

    def _candidates(self, hits: list[tuple[int, float]]) -> list[Candidate]:
        if not hits:
            return []
        marks = ",".join("?" * len(hits))
        rows = {
            r.rowid: r
            for r in self._db.rows(
                "SELECT rowid, id, created_at, importance, parent_id, chunk_index FROM memories "
                f"WHERE rowid IN ({marks})",
                [rowid for rowid, _ in hits],
            )
        }
        return [
            Candidate(
                row.id,
                score,
                from_micros(row.created_at),
                row.importance,
                row.parent_id,
                row.chunk_index,
            )
            for rowid, score in hits
            if (row := rows.get(rowid)) is not None
        ]

    def scan(
        self,
        flt: Filter,
        *,
        batch_size: int,
        cursor: str | None = None,
        with_embedding: bool = True,
    ) -> Iterator[tuple[list[Memory], str]]:
        last = int(cursor) if cursor else 0
        where, params = filter_sql(flt, to_micros(utcnow()))
        while True:
            rows = self._db.rows(
                f"SELECT {MEMORY_COLUMNS} FROM memories m WHERE {where} AND m.rowid > ? "
                "ORDER BY m.rowid LIMIT ?",
                (*params, last, batch_size),
            )
            if not rows:
                return
            last = rows[-1].rowid
            batch = [to_memory(r) for r in rows]
            yield (self._attach_vectors(batch) if with_embedding else batch), str(last)

    def _attach_vectors(self, memories: list[Memory]) -> list[Memory]:
        """The memories with their stored vectors, as float32 (int8 ones dequantized)."""
        spec = self.embedding_spec()
        if not memories or spec is None:
            return memories
        marks = ",".join("?" * len(memories))
        by_id = {
            r.id: r.embedding
            for r in self._db.rows(
                f"SELECT m.id, v.embedding FROM memories m JOIN memory_vectors v "
                f"ON v.rowid = m.rowid WHERE m.id IN ({marks})",
                [m.id for m in memories],
            )
        }
        return [
            m.with_changes(embedding=self.precision.values(by_id[m.id], spec.dimension)[0])
            if m.id in by_id
            else m
            for m in memories
        ]

    # -- upkeep -------------------------------------------------------------
    def stats(self, namespace: str | None) -> StoreStats:
        found = sqlite_upkeep.stats(self._db, namespace)
        return replace(found, extra={**found.extra, "vector_precision": self.precision.name})

    def detailed_stats(self, flt: Filter, *, top: int = 20) -> DetailedStats:
        return sqlite_upkeep.detailed_stats(self._db, flt, top)

    def optimize(self) -> list[str]:
        return sqlite_upkeep.optimize(self._db)

    def backup_to(self, path: str | Path) -> None:
        """A consistent copy of the database through SQLite's online backup API.

        Written beside ``path`` and renamed into place, so a copy is never half there.
        """
        self._db.backup_to(Path(path))

    def size_bytes(self) -> int | None:
        total = 0
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                total += os.path.getsize(f"{self.path}{suffix}")
        return total

    def health(self) -> dict[str, Any]:
        try:
            self._db.rows("SELECT 1")
        except apsw.Error as exc:
            raise StoreUnavailable(f"SQLite file {self.path} is not usable: {exc}") from exc
        report = {
            "backend": "sqlite",
            "path": str(self.path),
            "identity": self.identity(),
            "vector_precision": self.precision.name,
            "sqlite_version": apsw.sqlite_lib_version(),
            "vec_version": self._db.scalar("SELECT vec_version()"),
        }
        problems = self._db.problems()
        return {**report, "problems": problems} if problems else report

    # -- bookkeeping --------------------------------------------------------
    def journal_put(self, kind: str, key: str, value: dict[str, Any]) -> None:
        sqlite_upkeep.journal_put(self._db, kind, key, value)

    def journal_get(self, kind: str, key: str) -> dict[str, Any] | None:
        return sqlite_upkeep.journal_get(self._db, kind, key)

    def journal_list(self, kind: str, prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
        return sqlite_upkeep.journal_list(self._db, kind, prefix)

    def journal_delete(self, kind: str, keys: Sequence[str]) -> None:
        sqlite_upkeep.journal_delete(self._db, kind, keys)

    def close(self) -> None:
        self._db.close()
