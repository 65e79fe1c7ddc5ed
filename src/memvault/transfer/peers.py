"""Readers for memories other tools wrote, taken as they are and never modified.

- ``ChromaPeerSource``: a ChromaDB collection written by mcp-memory-service
  (default ``memory_collection``) or a hand-made assistant: the document is
  the content; metadata may hold ``content_hash``, ``tags`` (a comma-joined
  string, a JSON list in a string, or a list), ``memory_type`` or ``type``,
  ``timestamp`` / ``created_at`` (epoch seconds) or ``created_at_iso``, and
  any other keys, which become the memory's metadata.
- ``McpSqliteSource``: an mcp-memory-service SQLite-vec file: a ``memories``
  table (integer id, ``content_hash``, comma-joined ``tags``, JSON
  ``metadata``, epoch ``created_at``/``updated_at``, soft-deleted rows with
  ``deleted_at``) and a ``memory_embeddings`` vec0 table keyed by that id.

What they make of a record is in ``peer_records``; the namespace is
``default`` unless the URL says ``?namespace=``, the vectors' model is taken
from their dimension unless the URL says ``?model=``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw
import numpy as np
import sqlite_vec

from ..errors import InvalidInput, MemvaultError, NotFound, StoreUnavailable
from ..limits import check_namespace
from ..model import DEFAULT_NAMESPACE, EmbeddingSpec, Memory
from ..stores.chroma import FORMAT_KEY, ChromaTarget, chroma_errors, scan_records
from ..stores.sqlite import Row, named, open_read_only, scalar, sqlite_path
from .peer_records import PeerSource, build_peer_memory, parse_tags, parse_time, peer_spec
from .source import MCP_SQLITE_SCHEME

CHROMA_PEER_OPTIONS = frozenset({"namespace", "model"})
_CHROMA_KNOWN = frozenset(
    {
        "content_hash",
        "tags",
        "memory_type",
        "type",
        "timestamp",
        "timestamp_float",
        "timestamp_str",
        "created_at",
        "created_at_iso",
        "updated_at",
        "updated_at_iso",
        "namespace",
        "importance",
    }
)
_DIMENSION = re.compile(r"float\s*\[\s*(\d+)\s*\]", re.IGNORECASE)


class ChromaPeerSource(PeerSource):
    """A Chroma collection another tool wrote, read as memories."""

    def __init__(self, target: ChromaTarget) -> None:
        super().__init__()
        from chromadb.errors import NotFoundError

        self.url = target.url
        self._target = target
        self._namespace = check_namespace(
            target.options.get("namespace", DEFAULT_NAMESPACE), "store_url.namespace"
        )
        self._model = target.options.get("model")
        self._client = target.connect()
        with chroma_errors(self.url):
            try:
                self._col = self._client.get_collection(target.collection, embedding_function=None)
            except NotFoundError:
                raise NotFound(
                    f"no collection {target.collection!r} at {self.url}", field="source_url"
                ) from None

    def identity(self) -> str:
        return f"chroma-peer:{self._col.id}"

    def embedding_spec(self) -> EmbeddingSpec | None:
        with chroma_errors(self.url):
            res = self._col.get(limit=1, include=["embeddings"])
        embeddings = res.get("embeddings")
        return peer_spec(len(embeddings[0]) if res["ids"] else None, self._model)

    def _records(
        self, batch_size: int, cursor: str | None, with_embedding: bool
    ) -> Iterator[tuple[list[Memory], str]]:
        include = ["documents", "metadatas", *(["embeddings"] if with_embedding else [])]
        with chroma_errors(self.url):
            for res, next_cursor in scan_records(self._col, None, batch_size, cursor, include):
                batch = []
                for i, rid in enumerate(res["ids"]):
                    meta = res["metadatas"][i] or {}
                    try:
                        batch.append(
                            build_peer_memory(
                                raw_id=rid,
                                content=res["documents"][i],
                                peer_hash=meta.get("content_hash"),
                                tags=parse_tags(meta.get("tags")),
                                memory_type=meta.get("memory_type") or meta.get("type"),
                                metadata={k: v for k, v in meta.items() if k not in _CHROMA_KNOWN},
                                created=parse_time(
                                    meta.get("created_at"),
                                    meta.get("timestamp"),
                                    meta.get("timestamp_float"),
                                    meta.get("created_at_iso"),
                                    meta.get("timestamp_str"),
                                ),
                                updated=parse_time(
                                    meta.get("updated_at"), meta.get("updated_at_iso")
                                ),
                                namespace=self._namespace,
                                importance=meta.get("importance"),
                                embedding=res["embeddings"][i] if with_embedding else None,
                            )
                        )
                    except MemvaultError as exc:
                        self._reject(rid, exc)
                yield batch, next_cursor

    def health(self) -> dict[str, Any]:
        with chroma_errors(self.url):
            return {"backend": "chroma-peer", "url": self.url, "records": self._col.count()}

    def close(self) -> None:
        self._client.close()


def chroma_layout(target: ChromaTarget) -> str | None:
    """ "memvault" or "peer" for an existing collection, None when there is none."""
    from chromadb.errors import NotFoundError

    try:
        client = target.connect()
    except NotFound:
        return None
    try:
        with chroma_errors(target.url):
            try:
                col = client.get_collection(target.collection, embedding_function=None)
            except NotFoundError:
                return None
            return "memvault" if FORMAT_KEY in (col.metadata or {}) else "peer"
    finally:
        client.close()


class McpSqliteSource(PeerSource):
    """An mcp-memory-service SQLite-vec database, opened read-only."""

    def __init__(
        self, path: Path, *, namespace: str = DEFAULT_NAMESPACE, model: str | None = None
    ) -> None:
        super().__init__()
        self.path = path
        self.url = f"{MCP_SQLITE_SCHEME}://{path}"
        self._namespace = check_namespace(namespace, "source_url.namespace")
        self._model = model
        if not path.is_file():
            raise NotFound(f"no SQLite file at {path}", field="source_url")
        try:
            self._conn = open_read_only(path)
            self._conn.setbusytimeout(30_000)
            self._conn.enable_load_extension(True)
            self._conn.load_extension(sqlite_vec.loadable_path())
            self._conn.enable_load_extension(False)
            columns = {r.name for r in named(self._conn.execute("PRAGMA table_info(memories)"))}
            ddl = scalar(
                self._conn.execute("SELECT sql FROM sqlite_master WHERE name = 'memory_embeddings'")
            )
        except apsw.Error as exc:
            raise StoreUnavailable(f"cannot read {path}: {exc}") from exc
        if not {"id", "content", "content_hash"} <= columns:
            raise InvalidInput(f"{path} is not an mcp-memory-service database", field="source_url")
        self._live = "deleted_at IS NULL" if "deleted_at" in columns else "1"
        match = _DIMENSION.search(str(ddl)) if ddl is not None else None
        self._dimension = int(match.group(1)) if match else None
        wanted = (
            "tags",
            "memory_type",
            "metadata",
            "created_at",
            "updated_at",
            "created_at_iso",
            "updated_at_iso",
        )
        self._columns = ", ".join(c if c in columns else f"NULL AS {c}" for c in wanted)

    @classmethod
    def from_url(cls, url: str) -> McpSqliteSource:
        query = url.partition("?")[2]
        options = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        unknown = set(options) - CHROMA_PEER_OPTIONS
        if unknown:
            raise InvalidInput(
                f"bad mcp-memory-service URL {url!r}: use "
                f"{MCP_SQLITE_SCHEME}:///path/sqlite_vec.db[?namespace=&model=]",
                field="source_url",
            )
        return cls(
            sqlite_path(url, "source_url"),
            namespace=options.get("namespace", DEFAULT_NAMESPACE),
            model=options.get("model"),
        )

    def identity(self) -> str:
        return f"mcp-sqlite:{self.path.resolve()}"

    def embedding_spec(self) -> EmbeddingSpec | None:
        return peer_spec(self._dimension, self._model)

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        try:
            return named(self._conn.execute(sql, params))
        except apsw.Error as exc:
            raise StoreUnavailable(f"cannot read {self.path}: {exc}") from exc

    def _records(
        self, batch_size: int, cursor: str | None, with_embedding: bool
    ) -> Iterator[tuple[list[Memory], str]]:
        last = int(cursor) if cursor and cursor.isdigit() else 0
        while True:
            rows = self._rows(
                f"SELECT id, content, content_hash, {self._columns} FROM memories "
                f"WHERE id > ? AND {self._live} ORDER BY id LIMIT ?",
                (last, batch_size),
            )
            if not rows:
                return
            last = rows[-1].id
            vectors = self._vectors([r.id for r in rows]) if with_embedding else {}
            batch = []
            for row in rows:
                try:
                    batch.append(
                        build_peer_memory(
                            raw_id=row.content_hash or row.id,
                            content=row.content,
                            peer_hash=row.content_hash,
                            tags=parse_tags(row.tags),
                            memory_type=row.memory_type,
                            metadata=_json_object(row.metadata),
                            created=parse_time(row.created_at, row.created_at_iso),
                            updated=parse_time(row.updated_at, row.updated_at_iso),
                            namespace=self._namespace,
                            embedding=vectors.get(row.id),
                        )
                    )
                except MemvaultError as exc:
                    self._reject(row.id, exc)
            yield batch, str(last)

    def _vectors(self, ids: list[int]) -> dict[int, np.ndarray]:
        if self._dimension is None:
            return {}
        marks = ",".join("?" * len(ids))
        return {
            r.rowid: np.frombuffer(r.content_embedding, dtype=np.float32).copy()
            for r in self._rows(
                f"SELECT rowid, content_embedding FROM memory_embeddings WHERE rowid IN ({marks})",
                tuple(ids),
            )
        }

    def health(self) -> dict[str, Any]:
        return {
            "backend": "mcp-memory-service-sqlite",
            "path": str(self.path),
            "records": self._count(),
        }

    def _count(self) -> int:
        (live,) = self._rows(f"SELECT count(*) AS records FROM memories WHERE {self._live}")
        return int(live.records)

    def close(self) -> None:
        self._conn.close()


def _json_object(text: Any) -> dict[str, Any]:
    """The metadata column as a dict; unreadable JSON is kept whole, not dropped."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (TypeError, json.JSONDecodeError):
        return {"legacy_metadata": str(text)}
    return value if isinstance(value, dict) else {"legacy_metadata": value}
