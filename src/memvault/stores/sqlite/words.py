"""BM25 over the SQLite store's word index, ranked in process.

FTS5 holds the words (tokenized, stemmed, durable, transactional), but its
``bm25()`` scores every memory that holds any query word before it can sort:
about a microsecond per matching memory, so a question of common words costs
10-15 ms at 10k memories and over 100 ms at 100k. Here each query word's
postings are read once from FTS5's own index (through ``fts5vocab``) and kept;
a ranking is then a few numpy operations over them, with FTS5's ``bm25()``
formula and constants.

The copy follows the file as the vector copy does (``vectors``): rowids
only grow, so documents above the highest one held are new, and their words
are tokenized here to extend the postings held; if the row count then
disagrees, something was deleted and everything is reloaded.

The score is ``stores.bm25``'s, which every store shares.
"""

from __future__ import annotations

import contextlib
from collections import Counter, OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np

from ...errors import StoreUnavailable
from .. import bm25
from .. import tokens as tokenizer
from .allowed import positions_of
from .rows import Row

# Postings kept across searches (8 bytes each, and 8 more while their BM25
# weights are kept): at most 32 MB. The least recently used words are dropped
# beyond this. A word not held costs ~0.6 us per occurrence in the file to read.
POSTINGS_BUDGET = 2_000_000
VOCABULARY = "temp.memories_fts_words"

# (positions in the document arrays, term frequency or BM25 weight in each)
Postings = tuple[np.ndarray, np.ndarray]


class Database(Protocol):
    """What the index needs of ``SqliteDatabase``."""

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]: ...

    def column(self, sql: str, params: Sequence[object] = ()) -> list[Any]: ...

    def scalar(self, sql: str, params: Sequence[object] = ()) -> Any: ...

    def snapshot(self) -> contextlib.AbstractContextManager[None]: ...


class WordIndex:
    """Okapi BM25 over FTS5's postings, for the top k memories holding any of the terms."""

    def __init__(self) -> None:
        self.stale = True
        self._data_version: int | None = None
        self._vocabulary_ready = False
        self._clear()

    def _clear(self) -> None:
        self._ids = np.zeros(0, dtype=np.int64)  # document rowids, ascending
        self._lengths = np.zeros(0, dtype=np.float64)  # tokens in each document
        self._spaces = np.zeros(0, dtype=np.int32)  # namespace code of each document
        self._times = np.zeros(0, dtype=np.int64)  # created_at of each, in microseconds
        # Positions in the order of namespace, time and rowid, and where each
        # position stands in it; worked out when first asked after a change.
        self._sequence: tuple[np.ndarray, np.ndarray] | None = None
        self._codes: dict[str, int] = {}
        self._total_tokens = 0.0
        self._postings: OrderedDict[str, Postings] = OrderedDict()
        self._held = 0
        # Each term's BM25 weights, valid until the file changes.
        self._weights: dict[tuple[str, ...], Postings] = {}
        self._weighed = 0

    @contextlib.contextmanager
    def reading(self, db: Database) -> Iterator[None]:
        """One read transaction of ``db`` for this index. When a read fails (a
        damaged page), SQLite rolls the transaction back, with the vocabulary
        table made in it: the next read makes it again and reloads."""
        try:
            with db.snapshot():
                yield
        except StoreUnavailable:
            self._vocabulary_ready = False
            self.stale = True
            raise

    # -- following the file -------------------------------------------------
    def refresh(self, db: Database) -> None:
        """Bring the copy up to date with the file; one pragma when nothing changed."""
        if not self._vocabulary_ready:
            db.rows(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {VOCABULARY} "
                "USING fts5vocab(main, 'memories_fts', 'instance')"
            )
            self._vocabulary_ready = True
        version = db.scalar("PRAGMA data_version")
        if not self.stale and version == self._data_version:
            return
        self._data_version, self.stale = version, False
        self._sequence = None
        # Any new or deleted document changes N, df or the average length.
        self._weights.clear()
        self._weighed = 0
        self._load_new(db)
        if len(self._ids) != _row_count(db):
            self._clear()
            self._load_new(db)

    def _load_new(self, db: Database) -> None:
        after = int(self._ids[-1]) if len(self._ids) else 0
        with_content = bool(self._postings)
        rows = db.rows(
            "SELECT d.id, d.sz, m.namespace, m.created_at"
            + (", m.content" if with_content else "")
            + " FROM memories_fts_docsize d JOIN memories m ON m.rowid = d.id "
            "WHERE d.id > ? ORDER BY d.id",
            (after,),
        )
        if not rows:
            return
        start = len(self._ids)
        lengths = np.array([_varint(row.sz) for row in rows], dtype=np.float64)
        spaces = np.array(
            [self._codes.setdefault(row.namespace, len(self._codes)) for row in rows],
            dtype=np.int32,
        )
        ids = np.array([row.id for row in rows], dtype=np.int64)
        times = np.array([row.created_at for row in rows], dtype=np.int64)
        self._ids = np.concatenate([self._ids, ids])
        self._lengths = np.concatenate([self._lengths, lengths])
        self._spaces = np.concatenate([self._spaces, spaces])
        self._times = np.concatenate([self._times, times])
        self._total_tokens += float(lengths.sum())
        if with_content:
            self._extend_postings([row.content for row in rows], start)

    def _extend_postings(self, contents: list[str], start: int) -> None:
        """Add new documents' occurrences to the postings held (the rest are read when asked)."""
        extra: dict[str, tuple[list[int], list[int]]] = {}
        for offset, content in enumerate(contents):
            for token, count in Counter(tokenizer.tokens(content)).items():
                if token in self._postings:
                    positions, counts = extra.setdefault(token, ([], []))
                    positions.append(start + offset)
                    counts.append(count)
        for token, (positions, counts) in extra.items():
            old_positions, old_counts = self._postings[token]
            self._postings[token] = (
                np.concatenate([old_positions, np.array(positions, dtype=np.int32)]),
                np.concatenate([old_counts, np.array(counts, dtype=np.float32)]),
            )
            self._held += len(positions)

    # -- ranking ------------------------------------------------------------
    def search(
        self,
        db: Database,
        terms: Sequence[str],
        k: int,
        namespace: str | None,
        allowed: np.ndarray | None,
    ) -> list[tuple[int, float]]:
        """The k best (rowid, BM25 score) among documents holding any term.

        ``namespace`` and ``allowed`` (rowids) limit which documents may rank;
        the statistics stay those of the whole file.
        """
        self.refresh(db)
        count = len(self._ids)
        if count == 0 or (namespace is not None and namespace not in self._codes):
            return []
        scores = np.zeros(count, dtype=np.float64)
        # Each distinct term once, in the query's order (so sums are reproducible).
        for words in dict.fromkeys(tuple(tokenizer.tokens(term)) for term in terms):
            if words:
                positions, weights = self._term_weights(db, words)
                scores[positions] += weights
        # Every weight is positive (idf has a floor), so a score above 0 is a match.
        eligible = scores > 0
        if namespace is not None:
            eligible &= self._spaces == self._codes[namespace]
        if allowed is None:
            candidates = np.flatnonzero(eligible)
        else:
            # The allowed documents found by binary search (the ids ascend), not
            # every eligible one looked up among them: about 1 ms against 10
            # for 25,000 of 60,000.
            held = positions_of(self._ids, allowed)
            candidates = held[eligible[held]]
        best = self._best(candidates, scores, k)
        return [(int(self._ids[i]), float(scores[i])) for i in best]

    def _best(self, candidates: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
        """The k best of ``candidates`` (positions), equal scores the older first, as
        every store ranks them (``stores.bm25``); then in the order stored."""
        if len(candidates) > k:
            kth = np.partition(scores[candidates], len(candidates) - k)[len(candidates) - k]
            candidates = candidates[scores[candidates] >= kth]
        order = np.lexsort((self._ids[candidates], self._times[candidates], -scores[candidates]))
        return candidates[order[:k]]

    def preceding(self, db: Database, rowids: Sequence[int], within: int) -> dict[int, int] | None:
        """For each document of ``rowids``, the one stored just before it.

        That is the previous document of its namespace in the order of time,
        then rowid, if it is at most ``within`` microseconds older: the
        store's ``preceding`` when no filter narrows the namespace (every
        memory that is not a chunk is a document here). None if a rowid is
        not a document.
        """
        self.refresh(db)
        if self._sequence is None:
            order = np.lexsort((self._ids, self._times, self._spaces))
            place = np.empty_like(order)
            place[order] = np.arange(len(order))
            self._sequence = order, place
        order, place = self._sequence
        asked = np.asarray(rowids, dtype=np.int64)
        positions = np.searchsorted(self._ids, asked).clip(max=len(self._ids) - 1)
        if len(asked) and not (len(self._ids) and np.array_equal(self._ids[positions], asked)):
            return None
        earlier = order[np.maximum(place[positions] - 1, 0)]
        found = (
            (place[positions] > 0)
            & (self._spaces[earlier] == self._spaces[positions])
            & (self._times[earlier] >= self._times[positions] - within)
        )
        return dict(
            zip(
                self._ids[positions[found]].tolist(),
                self._ids[earlier[found]].tolist(),
                strict=True,
            )
        )

    def _term_weights(self, db: Database, tokens: tuple[str, ...]) -> Postings:
        """(positions, BM25 weight of the term in each), kept until the file changes."""
        if tokens in self._weights:
            return self._weights[tokens]
        positions, counts = (
            self._word(db, tokens[0]) if len(tokens) == 1 else self._phrase(db, tokens)
        )
        count, found = len(self._ids), len(positions)
        if found == 0:
            return positions, counts.astype(np.float64)
        weights = bm25.weight(
            bm25.idf(count, found),
            counts.astype(np.float64),
            self._lengths[positions],
            self._total_tokens / count,
        )
        if self._weighed + found > POSTINGS_BUDGET:
            self._weights.clear()
            self._weighed = 0
        self._weights[tokens] = (positions, weights)
        self._weighed += found
        return positions, weights

    def _word(self, db: Database, token: str) -> Postings:
        if token in self._postings:
            self._postings.move_to_end(token)
            return self._postings[token]
        docs = np.array(
            db.column(f"SELECT doc FROM {VOCABULARY} WHERE term = ? AND col = 'content'", (token,)),
            dtype=np.int64,
        )
        found = self._as_postings(docs)
        self._postings[token] = found
        self._held += len(found[0])
        while self._held > POSTINGS_BUDGET and len(self._postings) > 1:
            self._held -= len(self._postings.popitem(last=False)[1][0])
        return found

    def _phrase(self, db: Database, tokens: tuple[str, ...]) -> Postings:
        """Occurrences of the tokens side by side, in order (a term such as ``abc_123``)."""
        keys: np.ndarray | None = None
        for shift, token in enumerate(tokens):
            found = np.array(
                db.rows(
                    f"SELECT doc, offset FROM {VOCABULARY} WHERE term = ? AND col = 'content'",
                    (token,),
                ),
                dtype=np.int64,
            ).reshape(-1, 2)
            found = found[found[:, 1] >= shift]
            # (document, where the phrase would start) as one sortable key
            these = (found[:, 0] << 32) | (found[:, 1] - shift)
            keys = these if keys is None else np.intersect1d(keys, these)
        if keys is None:  # no tokens: a phrase of nothing occurs nowhere
            keys = np.empty(0, dtype=np.int64)
        return self._as_postings(keys >> 32)

    def _as_postings(self, docs: np.ndarray) -> Postings:
        """Occurrence rowids to (positions, counts), dropping documents not held yet."""
        unique, counts = np.unique(docs, return_counts=True)
        positions = np.searchsorted(self._ids, unique)
        inside = positions < len(self._ids)
        keep = inside.copy()
        keep[inside] = self._ids[positions[inside]] == unique[inside]
        return positions[keep].astype(np.int32), counts[keep].astype(np.float32)


def _row_count(db: Database) -> int:
    """Documents in the FTS5 table, from its averages record (rowid 1): no scan."""
    block = db.scalar("SELECT block FROM memories_fts_data WHERE id = 1")
    return _varint(block) if block is not None else 0


def _varint(blob: bytes) -> int:
    """The first SQLite varint in ``blob`` (FTS5's size records are written with them)."""
    value = 0
    for i, byte in enumerate(blob[:9]):
        if i == 8:
            return (value << 8) | byte
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value
    return value
