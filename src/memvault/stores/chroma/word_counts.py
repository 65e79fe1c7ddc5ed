"""The counts BM25 needs over a whole Chroma store, kept by its writes.

BM25 weighs a word by how many memories of the whole store hold it, and a
memory's length against the store's average (``stores.bm25``), as the other
stores count them. Chroma cannot count, so the writes keep the counts in a
sidecar collection, ``<collection>__words``: one record per word (its id)
holding how many top-level memories hold it (``documents``) and, as its
document, the ways it has been written (lower-cased, space-separated: "days
day"), which is how a search finds the memories holding a word without
stemming anything in Chroma (``words.spelling_pattern``); one more record
holds the totals (memories, and their words). Like the journal, its records
carry a one-dimensional placeholder vector that nothing searches.

Chroma has no transactions: two processes writing at once can lose one's
update of a word they share (the count is read, then written), which skews
that word's weight a little until ``optimize`` counts again. A store
written before the counts existed has no totals record, and its writes
count nothing: the first search counts it then.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import tokens
from .client import PLACEHOLDER_VECTOR, chroma_errors, side_collection

WORDS_SUFFIX = "__words"
# A word never holds the separator, so this id is no word's.
TOTALS_ID = "\x1ftotals"
_PAGE = 1000


@dataclass(frozen=True)
class Totals:
    documents: int  # top-level memories
    words: int  # their words, all occurrences

    @property
    def average(self) -> float:
        return max(self.words, 1) / max(self.documents, 1)


@dataclass
class _Change:
    documents: int = 0
    words: int = 0  # kept on the totals record only
    spellings: set[str] = field(default_factory=set)


def _changes(texts: Iterable[str], sign: int) -> dict[str, _Change]:
    """What counting ``texts`` in (``sign`` 1) or out (-1) changes, by record id."""
    changes: dict[str, _Change] = {}
    totals = changes[TOTALS_ID] = _Change()
    for text in texts:
        spelled = tokens.spellings(text)
        totals.documents += sign
        totals.words += sign * len(spelled)
        for word, spelling in spelled:
            changes.setdefault(word, _Change()).spellings.add(spelling)
        for word in {word for word, _ in spelled}:
            changes[word].documents += sign
    return changes


class WordCounts:
    """Reads and changes the counts of one memories collection."""

    def __init__(self, client: Any, collection: str, url: str) -> None:
        self.url = url
        self._col = side_collection(client, collection, WORDS_SUFFIX, url)

    def totals(self) -> Totals | None:
        """The store's totals, or None if this store was never counted."""
        with chroma_errors(self.url):
            found = self._col.get(ids=[TOTALS_ID], include=["metadatas"])
        if not found["ids"]:
            return None
        meta = found["metadatas"][0]
        return Totals(int(meta["documents"]), int(meta["words"]))

    def lookup(self, words: Iterable[str]) -> dict[str, tuple[int, list[str]]]:
        """(memories holding it, its spellings) for each word of ``words`` ever stored."""
        found: dict[str, tuple[int, list[str]]] = {}
        wanted = list(dict.fromkeys(words))
        for start in range(0, len(wanted), _PAGE):
            with chroma_errors(self.url):
                res = self._col.get(
                    ids=wanted[start : start + _PAGE], include=["metadatas", "documents"]
                )
            for word, meta, spelled in zip(
                res["ids"], res["metadatas"], res["documents"], strict=True
            ):
                found[word] = (int(meta["documents"]), spelled.split())
        return found

    def start(self) -> None:
        """Begin counting an empty store (one with memories is counted by ``recount``)."""
        self._apply({TOTALS_ID: _Change()}, add_to_stored=False)

    def change(self, texts: Sequence[str], sign: int) -> None:
        """Count the top-level memories ``texts`` in (``sign`` 1) or out (-1), unless
        the store is yet to be counted as a whole."""
        if texts and self.totals() is not None:
            self._apply(_changes(texts, sign), add_to_stored=True)

    def recount(self, texts: Iterable[str]) -> None:
        """Every count again from ``texts``, all the store's top-level memories."""
        changes = _changes(texts, 1)
        with chroma_errors(self.url):
            stored = self._col.get(include=[])["ids"]
            gone = [word for word in stored if word not in changes]
            for start in range(0, len(gone), _PAGE):
                self._col.delete(ids=gone[start : start + _PAGE])
        self._apply(changes, add_to_stored=False)

    def _apply(self, changes: dict[str, _Change], *, add_to_stored: bool) -> None:
        ids = list(changes)
        for start in range(0, len(ids), _PAGE):
            page = ids[start : start + _PAGE]
            stored = self._stored(page) if add_to_stored else {}
            metadatas: list[dict[str, Any]] = []
            documents: list[str] = []
            for record_id in page:
                change, before = changes[record_id], stored.get(record_id, _Change())
                meta: dict[str, Any] = {"documents": max(before.documents + change.documents, 0)}
                if record_id == TOTALS_ID:
                    meta["words"] = max(before.words + change.words, 0)
                metadatas.append(meta)
                documents.append(" ".join(sorted(before.spellings | change.spellings)))
            with chroma_errors(self.url):
                self._col.upsert(
                    ids=page,
                    embeddings=[PLACEHOLDER_VECTOR] * len(page),
                    documents=documents,
                    metadatas=metadatas,
                )

    def _stored(self, ids: list[str]) -> dict[str, _Change]:
        with chroma_errors(self.url):
            res = self._col.get(ids=ids, include=["metadatas", "documents"])
        return {
            record_id: _Change(
                int(meta["documents"]), int(meta.get("words", 0)), set((spelled or "").split())
            )
            for record_id, meta, spelled in zip(
                res["ids"], res["metadatas"], res["documents"], strict=True
            )
        }
