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
``records`` (a memory as a record, a filter as a ``where``), ``reads``
(records read as memories), ``writes`` (add, update, delete),
``scan`` (ordered walks) and ``upkeep`` (journal, optimize).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ...config import Settings
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
    looks_like_hash,
)
from ..tokens import tokens
from ..write_failures import WriteFailures
from .client import ChromaTarget, chroma_errors, parse_chroma_url
from .collection import (
    FORMAT_KEY,
    STORE_ID_KEY,
    move_notes_to_journal,
    open_collection,
    read_spec,
    record_model,
)
from .reads import FULL, ID_BATCH, RecordReader
from .records import (
    NO_PARENT,
    all_of,
    latest_before,
    time_marks,
    where,
    windows_before,
)
from .scan import page_after, scan_records, stats_of, window_ids
from .upkeep import ChromaJournal
from .upkeep import optimize as optimize_files
from .word_counts import Totals, WordCounts
from .words import bm25_rank, occurrences, query_terms, spelling_pattern
from .writes import RecordWriter

__all__ = ["FORMAT_KEY", "ChromaStore"]

TEXT_CANDIDATES = 2000


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
            max_batch = self._client.get_max_batch_size()
        self._reader = RecordReader(self._col, self.url)
        self._words = WordCounts(self._client, target.collection, self.url)
        with chroma_errors(self.url):
            if self._words.totals() is None and self._col.count() == 0:
                self._words.start()
        self._writer = RecordWriter(self._col, self._reader, max_batch, self._words)
        self._spec = read_spec(self._col.metadata)
        self._journal = ChromaJournal(self._client, target.collection, self.url)
        move_notes_to_journal(self._client, target, self._col, self._journal)
        self._write_failures = WriteFailures()

    @classmethod
    def from_url(cls, url: str, settings: Settings, *, create: bool = True) -> ChromaStore:
        return cls(parse_chroma_url(url), create=create)

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
        with self._write_failures.watch():
            return self._writer.add(memories, self._spec)

    def update(self, memory_id: str, changes: MemoryChanges) -> Memory:
        with self._write_failures.watch():
            return self._writer.update(memory_id, changes)

    def delete(self, memory_ids: Sequence[str]) -> int:
        with self._write_failures.watch():
            return self._writer.delete(memory_ids)

    # -- reads --------------------------------------------------------------
    def get(
        self, ref: str, namespace: str | None, *, with_embedding: bool = False
    ) -> Memory | None:
        include = [*FULL, "embeddings"] if with_embedding else FULL
        live = where(Filter(namespace=namespace, include_chunks=True), utcnow())
        if looks_like_hash(ref):
            clause = all_of([live, {"content_hash": ref}, {"mv_parent": NO_PARENT}])
            found = self._reader.memories(self._reader.get(where=clause, limit=1, include=include))
        else:
            found = self._reader.memories(self._reader.get(ids=[ref], where=live, include=include))
        return found[0] if found else None

    def get_many(self, memory_ids: Sequence[str], *, with_embedding: bool = False) -> list[Memory]:
        found = self._reader.by_ids(memory_ids, with_embedding=with_embedding)
        return [found[i] for i in memory_ids if i in found]

    def existing_hashes(self, namespace: str, hashes: Sequence[str]) -> set[str]:
        return {h for ns, h in self._reader.top_level(hashes) if ns == namespace}

    def query(
        self, flt: Filter, *, limit: int, cursor: str | None = None, oldest_first: bool = False
    ) -> Page:
        after = page_after(cursor)
        ids = window_ids(
            self._reader.ids,
            where(flt, utcnow()),
            after,
            limit,
            oldest_first,
            self._reader.first_created,
        )
        keyed = []
        for start in range(0, len(ids), ID_BATCH):
            res = self._reader.get(ids=ids[start : start + ID_BATCH], include=["metadatas"])
            keyed += [
                (meta["mv_created"], rid)
                for rid, meta in zip(res["ids"], res["metadatas"], strict=True)
            ]
        keyed.sort(reverse=not oldest_first)
        if after is not None:
            keyed = [k for k in keyed if (k > after if oldest_first else k < after)]
        page = keyed[:limit]
        found = self._reader.by_ids([rid for _, rid in page])
        next_cursor = f"{page[-1][0]}:{page[-1][1]}" if len(keyed) > limit else None
        return Page([found[rid] for _, rid in page if rid in found], next_cursor)

    def count(self, flt: Filter) -> int:
        return len(self._reader.ids(where(flt, utcnow())))

    def vector_search(self, vector: np.ndarray, k: int, flt: Filter) -> list[Candidate]:
        if self._spec is None:
            return []
        vec = as_vector(vector, self._spec.dimension)
        with chroma_errors(self.url):
            res = self._col.query(
                query_embeddings=vec.reshape(1, -1),
                n_results=k,
                where=where(flt.with_changes(include_chunks=True), utcnow()),
                include=[*FULL, "distances"],
            )
        flat = {
            key: (res[key][0] if res.get(key) else None)
            for key in ("ids", "documents", "metadatas", "distances")
        }
        return [
            Candidate.of(m, 1.0 - d)
            for m, d in zip(self._reader.memories(flat), flat["distances"] or [], strict=True)
        ]

    def text_search(self, terms: Sequence[str], k: int, flt: Filter) -> list[Candidate]:
        wanted = query_terms(terms)
        totals = self._word_totals()
        known = self._words.lookup(word for term in wanted for word in term)
        # A phrase can only be in memories holding all its words; its own count is read below.
        wanted = [term for term in wanted if all(word in known for word in term)]
        pattern = spelling_pattern(s for term in wanted for s in known[term[0]][1])
        if not pattern:
            return []
        res = self._reader.get(
            where=where(flt.with_changes(include_chunks=False), utcnow()),
            where_document={"$regex": pattern},
            limit=TEXT_CANDIDATES,
            include=FULL,
        )
        if not res["ids"]:
            return []
        holding = {
            term: known[term[0]][0] if len(term) == 1 else self._phrase_count(term, known)
            for term in wanted
        }
        memories = self._reader.memories(res)
        ranked = bm25_rank(
            wanted,
            [m.content for m in memories],
            [m.created_at for m in memories],
            holding,
            totals,
        )
        return [Candidate.of(memories[i], score) for i, score in ranked[:k]]

    def _word_totals(self) -> Totals:
        """The store's word totals, counting a store written before they were kept."""
        totals = self._words.totals()
        if totals is None:
            self._recount_words()
            totals = self._words.totals() or Totals(0, 0)
        return totals

    def _recount_words(self) -> None:
        """Every word count again from the memories (writers racing may have lost some)."""
        # By id, a page at a time: Chroma reads pages by offset in time that grows with it.
        ids = self._reader.ids({"mv_parent": NO_PARENT})
        self._words.recount(
            text
            for start in range(0, len(ids), ID_BATCH)
            for text in self._reader.get(ids=ids[start : start + ID_BATCH], include=["documents"])[
                "documents"
            ]
        )

    def _phrase_count(self, term: tuple[str, ...], known: dict[str, tuple[int, list[str]]]) -> int:
        """How many memories of the store hold the phrase ``term``: read from those
        holding its rarest word, as Chroma cannot count phrases."""
        rarest = min(term, key=lambda word: known[word][0])
        res = self._reader.get(
            where={"mv_parent": NO_PARENT},
            where_document={"$regex": spelling_pattern(known[rarest][1])},
            include=["documents"],
        )
        return sum(1 for doc in res["documents"] if occurrences(tokens(doc), term))

    def preceding(
        self, memory_ids: Sequence[str], flt: Filter, within: timedelta
    ) -> dict[str, str]:
        if not memory_ids:  # an empty ``ids`` would read the whole collection
            return {}
        # Chroma cannot order by time, so read each memory's window and pick here.
        asked = time_marks(
            self._reader.get(ids=list(dict.fromkeys(memory_ids)), include=["metadatas"])
        )
        if not asked:
            return {}
        span = within // timedelta(microseconds=1)
        clause = all_of([where(flt, utcnow()) or {}, windows_before(asked, span)])
        nearby = time_marks(self._reader.get(where=clause, include=["metadatas"]))
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
        include = [*FULL, "embeddings"] if with_embedding else FULL
        with chroma_errors(self.url):
            for res, next_cursor in scan_records(
                self._col, where(flt, utcnow()), batch_size, cursor, include
            ):
                yield self._reader.memories(res), next_cursor

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
        self._recount_words()
        return [
            "words: counted again from the memories",
            *optimize_files(self._target.path),
        ]

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
        report = {
            "backend": "chroma+http" if self._target.is_remote else "chroma",
            "url": self.url,
            "collection": self._target.collection,
            "identity": self.identity(),
            "records": count,
            "chroma_version": version,
        }
        if self._write_failures.last:
            return {**report, "problems": [f"writes fail: {self._write_failures.last}"]}
        return report

    def close(self) -> None:
        with chroma_errors(self.url):
            self._client.close()
