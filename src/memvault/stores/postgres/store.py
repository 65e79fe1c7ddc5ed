"""PostgresStore: PostgreSQL with pgvector for vectors and a tsvector for words.

For teams and fleets: many processes and many ``memvault serve`` instances can
share one database. The adapter holds the reads and searches; the rest is in
sibling modules: ``database`` (the pool, transactions, errors),
``rows`` (reading rows), ``migrations`` (the tables, made by whichever process
starts first under an advisory lock), ``schema`` (the SQL queries share),
``health`` (the report), ``writes`` (add, update, delete), ``search``,
``words`` and ``ranking`` (the search queries), ``bulk_load`` (the vector
index built once after a load) and ``upkeep`` (journal, statistics, optimize).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import numpy as np

from ...config import Settings
from ...errors import IncompatibleEmbedding, InvalidInput
from ...model import Candidate, EmbeddingSpec, Filter, Memory, MemoryChanges, as_vector, utcnow
from ..base import (
    DetailedStats,
    Page,
    Rankings,
    StoreStats,
    check_same_model,
    checked_vectors,
    looks_like_hash,
)
from . import upkeep as postgres_upkeep
from . import writes as postgres_writes
from .bulk_load import index_built_at_end
from .database import Database
from .graph_lock import rebuilding_graphs
from .graph_repair import GraphBuilder
from .health import store_health
from .indexing import VectorIndexer
from .migrations import SCHEMA_LOCK
from .options import parse_postgres_url
from .ranking import ranking_statements, read_rankings
from .retokenize import WordConverter
from .rows import Cursor, one_value
from .schema import (
    HNSW_MAX_DIMENSIONS,
    filter_sql,
    page_cursor,
    page_cursor_time,
    select_memories,
    select_rows,
    vector_column_sql,
)
from .search import preceding_sql
from .statistics import FilterStatistics
from .visibility import PostingsVacuum


class PostgresStore:
    """A Store over one PostgreSQL database with pgvector. Thread-safe: a connection pool."""

    def __init__(self, url: str, settings: Settings | None = None, *, create: bool = True) -> None:
        """Open (creating or migrating the schema) the database a store URL names.

        Options in the URL, else MEMVAULT_PG_* settings: see ``options``.
        """
        from .. import redact_url

        conninfo, self.options = parse_postgres_url(url, settings)
        self.url = redact_url(conninfo)
        self._db = Database(conninfo, self.options, self.url, create=create)
        with self._db.cursor() as cur:
            self._store_id = _meta(cur, "store_id") or ""
            self._spec = _read_spec(cur)
        self._indexer = VectorIndexer(self._db)
        # Rows whose words PostgreSQL made (before migration 7) get memvault's.
        self.word_converter = WordConverter(self._db.write)
        self.word_converter.start()
        self._statistics = FilterStatistics(self._db)
        self.graph_builder = GraphBuilder(self._db, self.options)
        self.postings_vacuum = PostingsVacuum(self._db)
        self._bulk_loading = False
        if self._indexer.waiting():  # left by a server that stopped before indexing them
            self._indexer.written(0)

    @classmethod
    def from_url(cls, url: str, settings: Settings, *, create: bool = True) -> PostgresStore:
        return cls(url, settings, create=create)

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
                    f"{spec.model} has {spec.dimension}",
                    field="embedding_model",
                )

            def bind(cur: Cursor) -> EmbeddingSpec | None:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                # Another process may have bound it since we looked.
                found = _read_spec(cur)
                if found is None:
                    cur.execute(
                        "INSERT INTO memvault_meta VALUES ('embedding_model', %s), "
                        "('embedding_dimension', %s)",
                        (spec.model, str(spec.dimension)),
                    )
                    for sql in vector_column_sql(
                        spec.dimension, self.options.hnsw_m, self.options.hnsw_ef_construction
                    ):
                        cur.execute(sql)
                return found or spec

            self._spec = self._db.write(bind)
        check_same_model(self.url, self._spec, spec)

    # -- writes -------------------------------------------------------------
    def add(self, memories: Sequence[Memory]) -> list[tuple[Memory, bool]]:
        if not memories:
            return []
        vectors = checked_vectors(memories, self.embedding_spec())
        # During a bulk load there is no index to wait for; with too many vectors
        # waiting already, this write pays for its own (``indexing``).
        deferred = not self._bulk_loading and self._indexer.has_room
        results = postgres_writes.add(
            self._db, memories, vectors, deferred=deferred, count_words=not self._bulk_loading
        )
        if deferred:
            self._indexer.written(sum(created for _, created in results))
        return results

    def update(self, memory_id: str, changes: MemoryChanges) -> Memory:
        return postgres_writes.update(self._db, memory_id, changes)

    def delete(self, memory_ids: Sequence[str]) -> int:
        if not memory_ids:
            return 0
        return postgres_writes.delete(self._db, memory_ids)

    # -- reads --------------------------------------------------------------
    def get(
        self, ref: str, namespace: str | None, *, with_embedding: bool = False
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
            found = select_memories(cur, tail + " LIMIT 1", params, with_embedding=with_embedding)
        return found[0] if found else None

    def get_many(self, memory_ids: Sequence[str], *, with_embedding: bool = False) -> list[Memory]:
        if not memory_ids:
            return []
        with self._db.cursor() as cur:
            found = {
                m.id: m
                for m in select_memories(
                    cur, "WHERE m.id = ANY(%s)", (list(memory_ids),), with_embedding=with_embedding
                )
            }
        return [found[i] for i in memory_ids if i in found]

    def existing_hashes(self, namespace: str, hashes: Sequence[str]) -> set[str]:
        if not hashes:
            return set()
        with self._db.cursor() as cur:
            cur.execute(
                "SELECT content_hash FROM memvault_memories WHERE namespace = %s "
                "AND parent_id IS NULL AND content_hash = ANY(%s)",
                (namespace, list(hashes)),
            )
            return {r.content_hash for r in cur.fetchall()}

    def query(
        self, flt: Filter, *, limit: int, cursor: str | None = None, oldest_first: bool = False
    ) -> Page:
        where, params = filter_sql(flt, utcnow())
        op, order = (">", "ASC") if oldest_first else ("<", "DESC")
        if cursor:
            where += f" AND (m.created_at, m.id) {op} (%s, %s)"
            params += list(page_cursor_time(cursor))
        with self._db.cursor() as cur:
            found = select_memories(
                cur,
                f"WHERE {where} ORDER BY m.created_at {order}, m.id {order} LIMIT %s",
                (*params, limit + 1),
            )
        memories = found[:limit]
        last = memories[-1] if len(found) > limit else None
        return Page(memories, page_cursor(last.created_at, last.id) if last else None)

    def count(self, flt: Filter) -> int:
        where, params = filter_sql(flt, utcnow())
        with self._db.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM memvault_memories m WHERE {where}", params)
            count: int = one_value(cur)
            return count

    def vector_search(self, vector: np.ndarray, k: int, flt: Filter) -> list[Candidate]:
        return self.rankings(vector, (), k, flt, None).by_vector

    def text_search(self, terms: Sequence[str], k: int, flt: Filter) -> list[Candidate]:
        return self.rankings(None, terms, k, flt, None).by_text

    def rankings(
        self,
        vector: np.ndarray | None,
        terms: Sequence[str],
        k: int,
        flt: Filter,
        within: timedelta | None,
    ) -> Rankings:
        """Both sides of a hybrid search (``ranking``) in one round trip: at once on two
        connections if a second is free right now, else on one (``Database.fetch_both``)."""
        spec = self.embedding_spec() if vector is not None else None
        vec = as_vector(vector, spec.dimension) if vector is not None and spec else None
        statements = ranking_statements(self._statistics, vec, terms, k, flt, within)
        if len(statements) == 2:
            words, vectors = self._db.fetch_both(*statements)
            return read_rankings(words + vectors)
        if not statements:
            return Rankings([], [], {})
        with self._db.cursor() as cur:
            cur.execute(*statements[0])
            return read_rankings(cur.fetchall())

    def preceding(
        self, memory_ids: Sequence[str], flt: Filter, within: timedelta
    ) -> dict[str, str]:
        if not memory_ids:
            return {}
        where, params = filter_sql(flt, utcnow())
        with self._db.cursor() as cur:
            cur.execute(preceding_sql(where), (*params, within, list(memory_ids)))
            return {r.later: r.earlier for r in cur.fetchall()}

    def scan(
        self,
        flt: Filter,
        *,
        batch_size: int,
        cursor: str | None = None,
        with_embedding: bool = True,
    ) -> Iterator[tuple[list[Memory], str]]:
        if cursor is not None and not cursor.isdigit():
            raise InvalidInput("cursor is malformed", field="cursor")
        last = int(cursor) if cursor else 0
        where, params = filter_sql(flt, utcnow())
        while True:
            with self._db.cursor() as cur:
                rows = select_rows(
                    cur,
                    f"WHERE {where} AND m.rowid > %s ORDER BY m.rowid LIMIT %s",
                    (*params, last, batch_size),
                    with_embedding=with_embedding,
                )
            if not rows:
                return
            last, _ = rows[-1]
            yield [m for _, m in rows], str(last)

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
    def stats(self, namespace: str | None) -> StoreStats:
        return postgres_upkeep.stats(self._db, namespace)

    def detailed_stats(self, flt: Filter, *, top: int = 20) -> DetailedStats:
        return postgres_upkeep.detailed_stats(self._db, flt, top)

    def optimize(self) -> list[str]:
        """Compact and re-index; ``Conflict`` if another optimize or a bulk load is
        rebuilding the graphs (``graph_lock``)."""
        with rebuilding_graphs(self._db, "optimize"):
            self.index_waiting_vectors()
            spec = self.embedding_spec()
            dimension = spec.dimension if spec is not None else None
            return postgres_upkeep.optimize(self._db, self.options, dimension)

    def repair_in_background(self) -> str | None:
        """Build the vector graphs in the background if an interrupted optimize or bulk
        load left them missing (``graph_repair``), and vacuum the word postings if
        their pages are mostly not marked all visible (``visibility``); what is
        happening, or None."""
        spec = self.embedding_spec()
        notes = [
            self.graph_builder.start(spec.dimension) if spec is not None else None,
            self.postings_vacuum.start(),
        ]
        return "\n".join(note for note in notes if note) or None

    def index_waiting_vectors(self) -> int:
        """Move every vector still waiting into the HNSW index now (``indexing``)."""
        return self._indexer.drain()

    @contextlib.contextmanager
    def bulk_load(self, maintenance_work_mem: str | None = None) -> Iterator[PostgresStore]:
        """Load many memories fast: the HNSW index is dropped now and built at the end
        (``bulk_load``), with ``maintenance_work_mem`` for the build (by default
        what the graph takes). ``Conflict`` if an optimize or another bulk load is
        rebuilding the graphs (``graph_lock``)."""
        spec = self.embedding_spec()
        if spec is None:
            raise IncompatibleEmbedding(
                "bind an embedding model before a bulk load", field="embedding_model"
            )
        with (
            rebuilding_graphs(self._db, "bulk load"),
            index_built_at_end(self._db, self.options, spec.dimension, maintenance_work_mem),
        ):
            self._bulk_loading = True
            try:
                yield self
            finally:
                self._bulk_loading = False

    def size_bytes(self) -> int | None:
        with self._db.cursor() as cur:
            cur.execute(
                "SELECT pg_total_relation_size('memvault_memories') "
                "+ pg_total_relation_size('memvault_meta') "
                "+ pg_total_relation_size('memvault_journal')"
            )
            return int(one_value(cur))

    def health(self) -> dict[str, Any]:
        return store_health(
            self._db,
            self._statistics,
            self.options,
            url=self.url,
            identity=self._store_id,
            waiting=self._indexer.waiting(),
            embedded=self.embedding_spec() is not None,
        )

    def close(self) -> None:
        self.graph_builder.close()
        self.postings_vacuum.close()
        self.word_converter.close()
        self._indexer.close()
        self._db.close()


def _meta(cur: Cursor, key: str) -> str | None:
    cur.execute("SELECT value FROM memvault_meta WHERE key = %s", (key,))
    row = cur.fetchone()
    return row.value if row else None


def _read_spec(cur: Cursor) -> EmbeddingSpec | None:
    model, dim = _meta(cur, "embedding_model"), _meta(cur, "embedding_dimension")
    return EmbeddingSpec(model, int(dim)) if model and dim else None
