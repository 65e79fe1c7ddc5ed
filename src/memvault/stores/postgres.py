"""PostgresStore: PostgreSQL with pgvector for vectors and a tsvector for words.

For teams and fleets: many processes and many ``memvault serve`` instances can
share one database. Writes are single transactions that never fail on a
duplicate (``INSERT ... ON CONFLICT DO NOTHING``, then the winner is read);
large batches are loaded with binary ``COPY``; the schema is migrated by
whichever process starts first, under an advisory lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import psycopg
from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb

from ..config import Settings
from ..errors import Conflict, IncompatibleEmbedding, InvalidInput, NotFound
from ..model import EmbeddingSpec, Filter, Memory, MemoryChanges, as_vector, utcnow
from . import postgres_upkeep
from .base import (
    DetailedStats,
    Page,
    StoreStats,
    check_same_model,
    checked_vectors,
    looks_like_hash,
)
from .postgres_database import Database
from .postgres_options import parse_postgres_url
from .postgres_schema import (
    GIN_INDEXES,
    HNSW_MAX_DIMENSIONS,
    INCOMING_TABLE,
    INSERT_TAIL,
    MEMORY_COLUMNS,
    SCHEMA_LOCK,
    VECTOR_INDEX,
    WRITE_COLUMNS,
    WRITE_TYPES,
    filter_sql,
    memory_row,
    page_cursor,
    parse_page_cursor,
    to_memory,
    vector_column_sql,
    vector_index_sql,
)
from .postgres_search import nearest_query, text_search_sql

# Batches at least this large are loaded with COPY instead of one INSERT per row.
COPY_MIN_ROWS = 100
# A filter matching fewer memories than this is searched exactly (every match
# compared); above it, the HNSW index is walked with pgvector's iterative scan.
EXACT_SEARCH_ROWS = 2000
HEALTH_WAIT_S = 5.0


class PostgresStore:
    """A Store over one PostgreSQL database with pgvector. Thread-safe: a connection pool."""

    def __init__(self, url: str, settings: Settings | None = None) -> None:
        """Open (creating or migrating the schema) the database a store URL names.

        Options in the URL, else MEMVAULT_PG_* settings: see ``postgres_options``.
        """
        from . import redact_url

        conninfo, self.options = parse_postgres_url(url, settings)
        self.url = redact_url(conninfo)
        self._db = Database(conninfo, self.options, self.url)
        with self._db.cursor() as cur:
            self._store_id = _meta(cur, "store_id") or ""
            self._spec = _read_spec(cur)

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> PostgresStore:
        return cls(url, settings)

    # -- plumbing -----------------------------------------------------------
    def _select_rows(self, cur: psycopg.Cursor, tail: str, params: Sequence[Any], *,
                     with_embedding: bool = False) -> list[tuple[int, Memory]]:
        """``(rowid, memory)`` for ``SELECT ... FROM memvault_memories m <tail>``."""
        extra = ", m.embedding" if with_embedding else ""
        cur.execute(f"SELECT {MEMORY_COLUMNS}{extra} FROM memvault_memories m {tail}", params)
        return [(r[0], to_memory(r, r[15] if with_embedding else None)) for r in cur.fetchall()]

    def _select(self, cur: psycopg.Cursor, tail: str, params: Sequence[Any], *,
                with_embedding: bool = False) -> list[Memory]:
        return [m for _, m in self._select_rows(cur, tail, params,
                                                with_embedding=with_embedding)]

    # -- identity and model -------------------------------------------------
    def identity(self) -> str:
        return self._store_id

    def embedding_spec(self) -> EmbeddingSpec | None:
        if self._spec is None:
            # Another server may have stored the first memory since we opened.
            with self._db.cursor() as cur:
                self._spec = _read_spec(cur)
        return self._spec

    def bind_embedding(self, spec: EmbeddingSpec) -> None:
        if self._spec is None:
            if spec.dimension > HNSW_MAX_DIMENSIONS:
                raise IncompatibleEmbedding(
                    f"pgvector's HNSW index takes at most {HNSW_MAX_DIMENSIONS} dimensions, "
                    f"{spec.model} has {spec.dimension}", field="embedding_model")

            def bind(cur: psycopg.Cursor) -> EmbeddingSpec | None:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                # Another process may have bound it since we looked.
                found = _read_spec(cur)
                if found is None:
                    cur.execute("INSERT INTO memvault_meta VALUES ('embedding_model', %s), "
                                "('embedding_dimension', %s)", (spec.model, str(spec.dimension)))
                    for sql in vector_column_sql(spec.dimension, self.options.hnsw_m,
                                                 self.options.hnsw_ef_construction):
                        cur.execute(sql)
                return found or spec

            self._spec = self._db.write(bind)
        check_same_model(self.url, self._spec, spec)

    # -- writes -------------------------------------------------------------
    def add(self, memories: Sequence[Memory]) -> list[tuple[Memory, bool]]:
        if not memories:
            return []
        vectors = checked_vectors(memories, self.embedding_spec())
        top = [i for i, m in enumerate(memories) if m.parent_id is None]
        # Top-level rows go in (namespace, hash) order, so concurrent batches wait
        # for each other's duplicates instead of deadlocking on them.
        top.sort(key=lambda i: (memories[i].namespace, memories[i].content_hash, i))

        def write(cur: psycopg.Cursor) -> list[tuple[Memory, bool]]:
            created = self._insert(cur, [memory_row(memories[i], vectors[i]) for i in top])
            new = _claim(top, memories, created)
            skipped = {memories[i].id for i in top if i not in new}
            chunks = [i for i, m in enumerate(memories)
                      if m.parent_id is not None and m.parent_id not in skipped]
            new |= _claim(chunks, memories, self._insert(
                cur, [memory_row(memories[i], vectors[i]) for i in chunks]))
            winners = self._winners(cur, [memories[i] for i in top if i not in new])
            return [(m, True) if i in new else
                    (winners.get((m.namespace, m.content_hash), m) if m.parent_id is None else m,
                     False)
                    for i, m in enumerate(memories)]

        return self._db.write(write)

    def _insert(self, cur: psycopg.Cursor, rows: list[tuple[Any, ...]]) -> set[str]:
        """Insert rows (skipping duplicates of a top-level memory); the ids inserted."""
        if not rows:
            return set()
        try:
            if len(rows) >= COPY_MIN_ROWS:
                return self._insert_by_copy(cur, rows)
            marks = ", ".join(["%s"] * len(rows[0]))
            cur.executemany(f"INSERT INTO memvault_memories ({WRITE_COLUMNS}) VALUES ({marks}) "
                            f"{INSERT_TAIL}", rows, returning=True)
            inserted: set[str] = set()
            while True:
                inserted.update(r[0] for r in cur.fetchall())
                if not cur.nextset():
                    return inserted
        except pg_errors.UniqueViolation as exc:
            raise Conflict(f"a memory id in this batch already exists with other content: "
                           f"{exc.diag.message_detail or exc}", field="id") from exc

    def _insert_by_copy(self, cur: psycopg.Cursor, rows: list[tuple[Any, ...]]) -> set[str]:
        """COPY (binary) into a session-local table, then one INSERT ... SELECT."""
        cur.execute(INCOMING_TABLE)
        cur.execute("TRUNCATE memvault_incoming")
        with cur.copy(f"COPY memvault_incoming (ord, {WRITE_COLUMNS}) FROM STDIN "
                      "(FORMAT BINARY)") as copy:
            copy.set_types(["int4", *WRITE_TYPES, self._db.vector_oid])
            for ord_, row in enumerate(rows):
                copy.write_row((ord_, *row))
        cur.execute(f"INSERT INTO memvault_memories ({WRITE_COLUMNS}) SELECT {WRITE_COLUMNS} "
                    f"FROM memvault_incoming ORDER BY ord {INSERT_TAIL}")
        return {r[0] for r in cur.fetchall()}

    def _winners(self, cur: psycopg.Cursor, losers: list[Memory]
                 ) -> dict[tuple[str, str], Memory]:
        """The stored memories that the duplicates in ``losers`` lost to."""
        if not losers:
            return {}
        found = self._select(
            cur, "JOIN unnest(%s::text[], %s::text[]) AS d(namespace, content_hash) "
            "ON m.namespace = d.namespace AND m.content_hash = d.content_hash "
            "WHERE m.parent_id IS NULL",
            ([m.namespace for m in losers], [m.content_hash for m in losers]))
        return {(m.namespace, m.content_hash): m for m in found}

    def update(self, memory_id: str, changes: MemoryChanges) -> Memory:
        sets: list[str] = []
        params: list[Any] = []
        for name, wire in _UPDATABLE.items():
            value = getattr(changes, name)
            if value is not None:
                sets.append(f"{name} = %s")
                params.append(wire(value))
        sets.append("updated_at = %s")
        params.append(utcnow())

        def write(cur: psycopg.Cursor) -> Memory:
            cur.execute(f"UPDATE memvault_memories m SET {', '.join(sets)} "
                        f"WHERE m.id = %s OR m.parent_id = %s RETURNING {MEMORY_COLUMNS}",
                        (*params, memory_id, memory_id))
            for row in cur.fetchall():
                if row[1] == memory_id:
                    return to_memory(row)
            raise NotFound(f"no memory with id {memory_id}", field="id")

        return self._db.write(write)

    def delete(self, memory_ids: Sequence[str]) -> int:
        if not memory_ids:
            return 0

        def write(cur: psycopg.Cursor) -> int:
            cur.execute("DELETE FROM memvault_memories WHERE id = ANY(%s) OR parent_id = ANY(%s) "
                        "RETURNING parent_id IS NULL", (list(memory_ids), list(memory_ids)))
            return sum(1 for (top,) in cur.fetchall() if top)

        return self._db.write(write)

    # -- reads --------------------------------------------------------------
    def get(self, ref: str, namespace: str | None, *, with_embedding: bool = False
            ) -> Memory | None:
        by = "content_hash" if looks_like_hash(ref) else "id"
        tail = f"WHERE m.{by} = %s AND (m.expires_at IS NULL OR m.expires_at > %s)"
        params: list[Any] = [ref, utcnow()]
        if by == "content_hash":
            tail += " AND m.parent_id IS NULL"
        if namespace is not None:
            tail += " AND m.namespace = %s"
            params.append(namespace)
        with self._db.cursor() as cur:
            found = self._select(cur, tail + " LIMIT 1", params, with_embedding=with_embedding)
        return found[0] if found else None

    def get_many(self, memory_ids: Sequence[str], *, with_embedding: bool = False
                 ) -> list[Memory]:
        if not memory_ids:
            return []
        with self._db.cursor() as cur:
            found = {m.id: m for m in self._select(cur, "WHERE m.id = ANY(%s)",
                                                   (list(memory_ids),),
                                                   with_embedding=with_embedding)}
        return [found[i] for i in memory_ids if i in found]

    def existing_hashes(self, namespace: str, hashes: Sequence[str]) -> set[str]:
        if not hashes:
            return set()
        with self._db.cursor() as cur:
            cur.execute("SELECT content_hash FROM memvault_memories WHERE namespace = %s "
                        "AND parent_id IS NULL AND content_hash = ANY(%s)",
                        (namespace, list(hashes)))
            return {r[0] for r in cur.fetchall()}

    def query(self, flt: Filter, *, limit: int, cursor: str | None = None,
              oldest_first: bool = False) -> Page:
        where, params = filter_sql(flt, utcnow())
        op, order = (">", "ASC") if oldest_first else ("<", "DESC")
        if cursor:
            where += f" AND (m.created_at, m.id) {op} (%s, %s)"
            params += list(parse_page_cursor(cursor))
        with self._db.cursor() as cur:
            found = self._select(cur, f"WHERE {where} ORDER BY m.created_at {order}, "
                                 f"m.id {order} LIMIT %s", (*params, limit + 1))
        memories = found[:limit]
        last = memories[-1] if len(found) > limit else None
        return Page(memories, page_cursor(last.created_at, last.id) if last else None)

    def count(self, flt: Filter) -> int:
        where, params = filter_sql(flt, utcnow())
        with self._db.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM memvault_memories m WHERE {where}", params)
            return cur.fetchone()[0]

    def vector_search(self, vector: np.ndarray, k: int, flt: Filter
                      ) -> list[tuple[Memory, float]]:
        spec = self.embedding_spec()
        if spec is None:
            return []
        vec = as_vector(vector, spec.dimension)
        where, params = filter_sql(flt.with_changes(include_chunks=True), utcnow())
        with self._db.cursor() as cur:
            cur.execute(*nearest_query(where, params, vec, k, max(EXACT_SEARCH_ROWS, 2 * k)))
            return [(to_memory(r), 1.0 - float(r[15])) for r in cur.fetchall()]

    def text_search(self, terms: Sequence[str], k: int, flt: Filter
                    ) -> list[tuple[Memory, float]]:
        if not terms:
            return []
        where, params = filter_sql(flt.with_changes(include_chunks=False), utcnow())
        with self._db.cursor() as cur:
            cur.execute(text_search_sql(where), (list(terms), *params, k))
            return [(to_memory(r), float(r[15])) for r in cur.fetchall()]

    def scan(self, flt: Filter, *, batch_size: int, cursor: str | None = None,
             with_embedding: bool = True) -> Iterator[tuple[list[Memory], str]]:
        if cursor is not None and not cursor.isdigit():
            raise InvalidInput("cursor is malformed", field="cursor")
        last = int(cursor) if cursor else 0
        where, params = filter_sql(flt, utcnow())
        while True:
            with self._db.cursor() as cur:
                rows = self._select_rows(cur, f"WHERE {where} AND m.rowid > %s ORDER BY m.rowid "
                                         "LIMIT %s", (*params, last, batch_size),
                                         with_embedding=with_embedding)
            if not rows:
                return
            last = rows[-1][0]
            yield [m for _, m in rows], str(last)

    # -- notes ---------------------------------------------------------------
    def get_note(self, key: str) -> str | None:
        with self._db.cursor() as cur:
            return _meta(cur, f"note:{key}")

    def set_note(self, key: str, value: str | None) -> None:
        def write(cur: psycopg.Cursor) -> None:
            if value is None:
                cur.execute("DELETE FROM memvault_meta WHERE key = %s", (f"note:{key}",))
            else:
                cur.execute("INSERT INTO memvault_meta VALUES (%s, %s) ON CONFLICT (key) "
                            "DO UPDATE SET value = excluded.value", (f"note:{key}", value))

        self._db.write(write)

    # -- bookkeeping --------------------------------------------------------
    def journal_put(self, kind: str, key: str, value: dict[str, Any]) -> None:
        postgres_upkeep.journal_put(self._db, kind, key, value)

    def journal_get(self, kind: str, key: str) -> dict[str, Any] | None:
        return postgres_upkeep.journal_get(self._db, kind, key)

    def journal_list(self, kind: str, prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
        return postgres_upkeep.journal_list(self._db, kind, prefix)

    def journal_delete(self, kind: str, keys: Sequence[str]) -> None:
        postgres_upkeep.journal_delete(self._db, kind, keys)

    # -- upkeep -------------------------------------------------------------
    def detailed_stats(self, flt: Filter, *, top: int = 20) -> DetailedStats:
        return postgres_upkeep.detailed_stats(self._db, flt, top)

    def optimize(self) -> list[str]:
        return postgres_upkeep.optimize(self._db)

    @contextlib.contextmanager
    def bulk_load(self, maintenance_work_mem: str = "1GB") -> Iterator[PostgresStore]:
        """Load many memories fast: the HNSW index is dropped now and built at the end.

        Building the graph once over all vectors is many times faster than
        updating it row by row. Meanwhile searches still work, comparing every
        vector. ``maintenance_work_mem`` should hold the graph (about 2 KB per
        384-dimension vector) or the build slows down sharply. The GIN pending
        lists are merged and statistics refreshed at the end too.
        """
        if self.embedding_spec() is None:
            raise IncompatibleEmbedding("bind an embedding model before a bulk load",
                                        field="embedding_model")
        with self._db.cursor() as cur:
            cur.execute(f"DROP INDEX IF EXISTS {VECTOR_INDEX}")
        try:
            yield self
        finally:  # a failed load must not leave the store without its index
            with self._db.cursor(transaction=True) as cur:
                cur.execute("SELECT set_config('maintenance_work_mem', %s, true)",
                            (maintenance_work_mem,))
                cur.execute(vector_index_sql(VECTOR_INDEX, self.options.hnsw_m,
                                             self.options.hnsw_ef_construction))
                for index in GIN_INDEXES:
                    cur.execute("SELECT gin_clean_pending_list(%s::regclass)", (index,))
                cur.execute("ANALYZE memvault_memories")

    def stats(self, namespace: str | None) -> StoreStats:
        where, params = filter_sql(Filter(namespace=namespace), utcnow())
        with self._db.cursor() as cur:

            def grouped(expr: str, source: str = "memvault_memories m", limit: str = ""
                        ) -> list[tuple[Any, int]]:
                cur.execute(f"SELECT {expr} AS g, count(*) AS n FROM {source} WHERE {where} "
                            f"GROUP BY g ORDER BY n DESC, g {limit}", params)
                return [(r[0], r[1]) for r in cur.fetchall()]

            cur.execute(f"SELECT count(*), min(m.created_at), max(m.created_at) "
                        f"FROM memvault_memories m WHERE {where}", params)
            total, oldest, newest = cur.fetchone()
            namespaces = dict(grouped("m.namespace"))
            by_type = dict(grouped("m.memory_type"))
            top_tags = grouped("t.tag", "memvault_memories m, unnest(m.tags) AS t(tag)",
                               "LIMIT 20")
            months = grouped("to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM')")
        return StoreStats(total=total, namespaces=namespaces, by_type=by_type,
                          top_tags=top_tags, per_month=dict(sorted(months)),
                          oldest=oldest.isoformat() if oldest else None,
                          newest=newest.isoformat() if newest else None)

    def size_bytes(self) -> int | None:
        with self._db.cursor() as cur:
            cur.execute("SELECT pg_total_relation_size('memvault_memories') "
                        "+ pg_total_relation_size('memvault_meta') "
                        "+ pg_total_relation_size('memvault_journal')")
            return int(cur.fetchone()[0])

    def health(self) -> dict[str, Any]:
        with self._db.cursor(timeout=HEALTH_WAIT_S) as cur:
            cur.execute("SELECT current_setting('server_version'), (SELECT extversion FROM "
                        "pg_extension WHERE extname = 'vector'), pg_is_in_recovery(), "
                        "to_regclass(%s) IS NOT NULL", (VECTOR_INDEX,))
            server, pgvector, replica, indexed = cur.fetchone()
        return {"backend": "postgres", "url": self.url, "identity": self._store_id,
                "server_version": server, "pgvector_version": pgvector,
                "read_only_replica": replica, "pool": self._db.pool_stats(),
                # Missing after a bulk load that was killed: searches are exact
                # (slow) until ``with store.bulk_load(): pass`` builds it again.
                "vector_index": ("hnsw" if indexed else "missing") if self.embedding_spec()
                else None}

    def close(self) -> None:
        self._db.close()


def _meta(cur: psycopg.Cursor, key: str) -> str | None:
    cur.execute("SELECT value FROM memvault_meta WHERE key = %s", (key,))
    row = cur.fetchone()
    return row[0] if row else None


def _read_spec(cur: psycopg.Cursor) -> EmbeddingSpec | None:
    model, dim = _meta(cur, "embedding_model"), _meta(cur, "embedding_dimension")
    return EmbeddingSpec(model, int(dim)) if model and dim else None


# The fields an update may change, each with how its value goes on the wire.
_UPDATABLE: dict[str, Callable[[Any], Any]] = {
    "tags": list, "metadata": Jsonb, "importance": float, "memory_type": str,
    "expires_at": lambda value: value,
}


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
