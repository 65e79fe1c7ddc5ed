"""ChromaStore: a Store over one Chroma collection, embedded or on a ``chroma run`` server.

Chroma never embeds anything here: every record is written with its vector
and every query passes one (``embedding_function=None``). Where Chroma lacks
what the Store protocol asks for, the store does the closest thing it allows
(docs/architecture.md lists the differences):

- No transactions. ``add`` checks everything first (vectors, ids, duplicates),
  writes, and on failure deletes what the call wrote. Uniqueness of
  ``(namespace, content_hash)`` is checked before writing and settled after
  it: of two records that raced in, the one written first stays.
- No BM25. ``text_search`` asks Chroma for the documents holding a word that
  starts like a query term (``$regex`` on the document) and ranks those
  candidates with BM25 in Python (``words``).
- No ORDER BY. ``query`` widens a time window, counting ids only, until it
  holds a page, then sorts that window; ``scan`` follows Chroma's insertion
  order with an offset cursor that re-finds its place if records moved.

Sibling modules hold the rest: ``client`` (URLs, clients, errors),
``collection`` (opening the collection, the model it records),
``records`` (a memory as a record, a filter as a ``where``),
``scan`` (ordered walks) and ``upkeep`` (journal, optimize).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ...config import Settings
from ...errors import Conflict, NotFound
from ...model import (
    Candidate,
    EmbeddingSpec,
    Filter,
    Memory,
    MemoryChanges,
    as_vector,
    utcnow,
)
from ..aggregate import detailed_stats_by_scan
from ..base import (
    DetailedStats,
    Page,
    StoreStats,
    check_same_model,
    checked_vectors,
    looks_like_hash,
)
from .client import ChromaTarget, chroma_errors, parse_chroma_url
from .collection import (
    FORMAT_KEY,
    STORE_ID_KEY,
    move_notes_to_journal,
    open_collection,
    read_spec,
    record_model,
)
from .records import (
    NO_PARENT,
    all_of,
    from_chroma,
    latest_before,
    removed_keys,
    time_marks,
    to_chroma_metadata,
    where,
    windows_before,
)
from .scan import page_after, scan_records, stats_of, window_ids
from .upkeep import ChromaJournal
from .upkeep import optimize as optimize_files
from .words import bm25_rank, prefix_pattern

__all__ = ["FORMAT_KEY", "ChromaStore"]

WRITTEN_KEY = "mv_written"  # nanoseconds when written: the earliest of two racing twins stays
TEXT_CANDIDATES = 2000
_ID_BATCH = 500
_FULL = ["documents", "metadatas"]


class ChromaStore:
    """A Store over one Chroma collection (PersistentClient or HttpClient)."""

    def __init__(self, target: ChromaTarget, *, create: bool = True) -> None:
        self.url = target.url
        self.path = target.path  # None for a server: nothing local to check or back up
        self._target = target
        self._client = target.connect(create=create)
        try:
            self._col = open_collection(self._client, target, create=create)
        except BaseException:
            self._client.close()
            raise
        with chroma_errors(self.url):
            self._max_batch = self._client.get_max_batch_size()
        self._spec = read_spec(self._col.metadata)
        self._journal = ChromaJournal(self._client, target.collection, self.url)
        move_notes_to_journal(self._client, target, self._col, self._journal)

    @classmethod
    def from_url(cls, url: str, settings: Settings, *, create: bool = True) -> ChromaStore:
        return cls(parse_chroma_url(url), create=create)

    # -- plumbing -----------------------------------------------------------
    def _get(self, **kw: Any) -> dict[str, Any]:
        with chroma_errors(self.url):
            return self._col.get(**kw)

    def _ids(self, clause: dict[str, Any] | None) -> list[str]:
        return self._get(where=clause, include=[])["ids"]

    def _memories(self, res: dict[str, Any]) -> list[Memory]:
        embeddings = res.get("embeddings")
        return [
            from_chroma(
                rid,
                res["documents"][i],
                res["metadatas"][i],
                None if embeddings is None else embeddings[i],
            )
            for i, rid in enumerate(res["ids"])
        ]

    def _by_ids(self, ids: Sequence[str], *, with_embedding: bool = False) -> dict[str, Memory]:
        found: dict[str, Memory] = {}
        include = [*_FULL, "embeddings"] if with_embedding else _FULL
        for start in range(0, len(ids), _ID_BATCH):
            part = list(dict.fromkeys(ids[start : start + _ID_BATCH]))
            found.update((m.id, m) for m in self._memories(self._get(ids=part, include=include)))
        return found

    def _top_level(self, hashes: Sequence[str]) -> dict[tuple[str, str], list[Memory]]:
        """Stored top-level memories with these hashes, by (namespace, hash), earliest first."""
        out: dict[tuple[str, str], list[tuple[int, Memory]]] = {}
        unique = sorted(set(hashes))
        for start in range(0, len(unique), _ID_BATCH):
            clause = all_of(
                [
                    {"mv_parent": NO_PARENT},
                    {"content_hash": {"$in": unique[start : start + _ID_BATCH]}},
                ]
            )
            res = self._get(where=clause, include=_FULL)
            for i, memory in enumerate(self._memories(res)):
                written = res["metadatas"][i].get(WRITTEN_KEY, 0)
                out.setdefault((memory.namespace, memory.content_hash), []).append(
                    (written, memory)
                )
        return {
            key: [m for _, m in sorted(v, key=lambda x: (x[0], x[1].id))] for key, v in out.items()
        }

    # -- identity and model -------------------------------------------------
    def identity(self) -> str:
        return str((self._col.metadata or {}).get(STORE_ID_KEY, ""))

    def embedding_spec(self) -> EmbeddingSpec | None:
        return self._spec

    def bind_embedding(self, spec: EmbeddingSpec) -> None:
        if self._spec is None:
            self._spec = record_model(self._client, self._target, self._col, spec)
        check_same_model(self.url, self._spec, spec)

    # -- writes -------------------------------------------------------------
    def add(self, memories: Sequence[Memory]) -> list[tuple[Memory, bool]]:
        if not memories:
            return []
        # Everything is checked before anything is written.
        vectors = checked_vectors(memories, self._spec)
        taken = self._by_ids([m.id for m in memories])
        stored = self._top_level([m.content_hash for m in memories if m.parent_id is None])
        results: list[tuple[Memory, bool]] = []
        rows: list[tuple[Memory, np.ndarray]] = []
        skipped_parents: set[str] = set()
        batch_ids: set[str] = set()
        for memory, vector in zip(memories, vectors, strict=True):
            if memory.parent_id in skipped_parents:
                results.append((memory, False))
                continue
            if memory.parent_id is None:
                key = (memory.namespace, memory.content_hash)
                twin = stored[key][0] if stored.get(key) else None
                if twin is not None:
                    skipped_parents.add(memory.id)
                    results.append((twin, False))
                    continue
                stored[key] = [memory]
            if memory.id in taken or memory.id in batch_ids:
                raise Conflict(
                    f"memory id {memory.id} already exists with other content", field="id"
                )
            batch_ids.add(memory.id)
            rows.append((memory, vector))
            results.append((memory, True))
        self._write(rows)
        return self._settle(results)

    def _write(self, rows: list[tuple[Memory, np.ndarray]]) -> None:
        """Add the records; if any part fails, delete every one this call meant to add."""
        if not rows:
            return
        written = time.time_ns()
        try:
            with chroma_errors(self.url):
                for start in range(0, len(rows), self._max_batch):
                    part = rows[start : start + self._max_batch]
                    self._col.add(
                        ids=[m.id for m, _ in part],
                        embeddings=np.stack([v for _, v in part]),
                        documents=[m.content for m, _ in part],
                        metadatas=[
                            {**to_chroma_metadata(m), WRITTEN_KEY: written} for m, _ in part
                        ],
                    )
        except BaseException:
            # The ids were checked to be new above, so deleting them removes only ours.
            with chroma_errors(self.url):
                for start in range(0, len(rows), self._max_batch):
                    self._col.delete(ids=[m.id for m, _ in rows[start : start + self._max_batch]])
            raise

    def _settle(self, results: list[tuple[Memory, bool]]) -> list[tuple[Memory, bool]]:
        """Resolve a twin another writer added at the same time: the first written stays."""
        ours = {m.id for m, new in results if new and m.parent_id is None}
        if not ours:
            return results
        stored = self._top_level([m.content_hash for m, new in results if m.id in ours])
        winners = {m.id: twins[0] for twins in stored.values() for m in twins[1:] if m.id in ours}
        if not winners:
            return results
        self.delete(list(winners))
        return [
            (winners[m.id], False)
            if m.id in winners
            else (m, False)
            if m.parent_id in winners
            else (m, new)
            for m, new in results
        ]

    def update(self, memory_id: str, changes: MemoryChanges) -> Memory:
        res = self._get(ids=[memory_id], include=_FULL)
        if not res["ids"]:
            raise NotFound(f"no memory with id {memory_id}", field="id")
        children = self._get(where={"mv_parent": memory_id}, include=_FULL)
        now = utcnow()
        ids, metadatas, updated = [], [], []
        for part in (res, children):
            for i, memory in enumerate(self._memories(part)):
                new = memory.with_changes(
                    **{
                        name: getattr(changes, name)
                        for name in ("tags", "metadata", "importance", "memory_type", "expires_at")
                        if getattr(changes, name) is not None
                    },
                    updated_at=now,
                )
                old_meta = part["metadatas"][i]
                new_meta = {**to_chroma_metadata(new), WRITTEN_KEY: old_meta.get(WRITTEN_KEY, 0)}
                ids.append(memory.id)
                metadatas.append({**removed_keys(old_meta, new_meta), **new_meta})
                updated.append(new)
        with chroma_errors(self.url):
            self._col.update(ids=ids, metadatas=metadatas)  # one call: parent and chunks
        return updated[0]

    def delete(self, memory_ids: Sequence[str]) -> int:
        deleted = 0
        for start in range(0, len(memory_ids), _ID_BATCH):
            ids = list(dict.fromkeys(memory_ids[start : start + _ID_BATCH]))
            found = self._get(ids=ids, include=["metadatas"])
            deleted += sum(1 for meta in found["metadatas"] if not meta.get("mv_parent"))
            doomed = found["ids"] + self._ids({"mv_parent": {"$in": ids}})
            if doomed:
                with chroma_errors(self.url):
                    self._col.delete(ids=doomed)
        return deleted

    # -- reads --------------------------------------------------------------
    def get(
        self, ref: str, namespace: str | None, *, with_embedding: bool = False
    ) -> Memory | None:
        include = [*_FULL, "embeddings"] if with_embedding else _FULL
        live = where(Filter(namespace=namespace, include_chunks=True), utcnow())
        if looks_like_hash(ref):
            clause = all_of([live, {"content_hash": ref}, {"mv_parent": NO_PARENT}])
            found = self._memories(self._get(where=clause, limit=1, include=include))
        else:
            found = self._memories(self._get(ids=[ref], where=live, include=include))
        return found[0] if found else None

    def get_many(self, memory_ids: Sequence[str], *, with_embedding: bool = False) -> list[Memory]:
        found = self._by_ids(memory_ids, with_embedding=with_embedding)
        return [found[i] for i in memory_ids if i in found]

    def existing_hashes(self, namespace: str, hashes: Sequence[str]) -> set[str]:
        return {h for ns, h in self._top_level(hashes) if ns == namespace}

    def query(
        self, flt: Filter, *, limit: int, cursor: str | None = None, oldest_first: bool = False
    ) -> Page:
        after = page_after(cursor)
        ids = window_ids(
            self._ids, where(flt, utcnow()), after, limit, oldest_first, self._first_created
        )
        keyed = []
        for start in range(0, len(ids), _ID_BATCH):
            res = self._get(ids=ids[start : start + _ID_BATCH], include=["metadatas"])
            keyed += [
                (meta["mv_created"], rid)
                for rid, meta in zip(res["ids"], res["metadatas"], strict=True)
            ]
        keyed.sort(reverse=not oldest_first)
        if after is not None:
            keyed = [k for k in keyed if (k > after if oldest_first else k < after)]
        page = keyed[:limit]
        found = self._by_ids([rid for _, rid in page])
        next_cursor = f"{page[-1][0]}:{page[-1][1]}" if len(keyed) > limit else None
        return Page([found[rid] for _, rid in page if rid in found], next_cursor)

    def _first_created(self, clause: dict[str, Any] | None) -> int | None:
        res = self._get(where=clause, limit=1, include=["metadatas"])
        return res["metadatas"][0]["mv_created"] if res["ids"] else None

    def count(self, flt: Filter) -> int:
        return len(self._ids(where(flt, utcnow())))

    def vector_search(self, vector: np.ndarray, k: int, flt: Filter) -> list[Candidate]:
        if self._spec is None:
            return []
        vec = as_vector(vector, self._spec.dimension)
        with chroma_errors(self.url):
            res = self._col.query(
                query_embeddings=vec.reshape(1, -1),
                n_results=k,
                where=where(flt.with_changes(include_chunks=True), utcnow()),
                include=[*_FULL, "distances"],
            )
        flat = {
            key: (res[key][0] if res.get(key) else None)
            for key in ("ids", "documents", "metadatas", "distances")
        }
        return [
            Candidate.of(m, 1.0 - d)
            for m, d in zip(self._memories(flat), flat["distances"] or [], strict=True)
        ]

    def text_search(self, terms: Sequence[str], k: int, flt: Filter) -> list[Candidate]:
        pattern = prefix_pattern(terms)
        if not pattern:
            return []
        res = self._get(
            where=where(flt.with_changes(include_chunks=False), utcnow()),
            where_document={"$regex": pattern},
            limit=TEXT_CANDIDATES,
            include=_FULL,
        )
        if not res["ids"]:
            return []
        with chroma_errors(self.url):
            corpus = self._col.count()
        memories = self._memories(res)
        ranked = bm25_rank(terms, [m.content for m in memories], corpus)
        return [Candidate.of(memories[i], score) for i, score in ranked[:k]]

    def preceding(
        self, memory_ids: Sequence[str], flt: Filter, within: timedelta
    ) -> dict[str, str]:
        if not memory_ids:  # an empty ``ids`` would read the whole collection
            return {}
        # Chroma cannot order by time, so read each memory's window and pick here.
        asked = time_marks(self._get(ids=list(dict.fromkeys(memory_ids)), include=["metadatas"]))
        if not asked:
            return {}
        span = within // timedelta(microseconds=1)
        clause = all_of([where(flt, utcnow()) or {}, windows_before(asked, span)])
        nearby = time_marks(self._get(where=clause, include=["metadatas"]))
        found = {mark[0]: latest_before(nearby, mark, span) for mark in asked}
        return {memory_id: earlier for memory_id, earlier in found.items() if earlier}

    def scan(
        self,
        flt: Filter,
        *,
        batch_size: int,
        cursor: str | None = None,
        with_embedding: bool = True,
    ) -> Iterator[tuple[list[Memory], str]]:
        include = [*_FULL, "embeddings"] if with_embedding else _FULL
        with chroma_errors(self.url):
            for res, next_cursor in scan_records(
                self._col, where(flt, utcnow()), batch_size, cursor, include
            ):
                yield self._memories(res), next_cursor

    # -- bookkeeping --------------------------------------------------------
    def journal_put(self, kind: str, key: str, value: dict[str, Any]) -> None:
        self._journal.put(kind, key, value)

    def journal_get(self, kind: str, key: str) -> dict[str, Any] | None:
        return self._journal.get(kind, key)

    def journal_list(self, kind: str, prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
        return self._journal.list(kind, prefix)

    def journal_delete(self, kind: str, keys: Sequence[str]) -> None:
        self._journal.delete(kind, keys)

    # -- upkeep -------------------------------------------------------------
    def detailed_stats(self, flt: Filter, *, top: int = 20) -> DetailedStats:
        return detailed_stats_by_scan(self, flt, top)

    def optimize(self) -> list[str]:
        return optimize_files(self._target.path)

    def stats(self, namespace: str | None) -> StoreStats:
        return stats_of(
            batch
            for batch, _ in self.scan(
                Filter(namespace=namespace), batch_size=1000, with_embedding=False
            )
        )

    def size_bytes(self) -> int | None:
        if self._target.path is None:
            return None
        return sum(p.stat().st_size for p in Path(self._target.path).rglob("*") if p.is_file())

    def health(self) -> dict[str, Any]:
        with chroma_errors(self.url):
            self._client.heartbeat()
            count = self._col.count()
            version = self._client.get_version()
        return {
            "backend": "chroma+http" if self._target.is_remote else "chroma",
            "url": self.url,
            "collection": self._target.collection,
            "identity": self.identity(),
            "records": count,
            "chroma_version": version,
        }

    def close(self) -> None:
        with chroma_errors(self.url):
            self._client.close()
