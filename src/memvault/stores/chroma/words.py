"""Chroma's word ranking: BM25 over a handful of candidate texts, in Python.

ChromaDB can find documents that contain a string or match a regular
expression, but it cannot rank them. A store like that fetches the candidates
that contain any query term and ranks them here, with the same light stemming
used to find them, so "widgets" finds and scores "widget". The score is
``stores.bm25``'s, which every store shares.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from .. import bm25

_WORD = re.compile(r"\w+", re.UNICODE)

# Longest suffix first; each keeps a stem of at least three characters:
# "widgets" -> "widget", "stories" -> "story", "boxes" -> "box", "running" -> "run".
_SUFFIXES = ("ations", "ation", "ies", "ing", "ed", "es", "s")
_ES_AFTER = ("sh", "ch", "x", "z", "ss")
_KEEP_ENDINGS = ("ss", "us", "is")


def stem(word: str) -> str:
    """A light, English-leaning stem: plurals and -ing/-ed forms fold together."""
    word = word.lower()
    if word.endswith(_KEEP_ENDINGS) or len(word) <= 3:
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if suffix == "ies":
                return base + "y"
            if suffix == "es" and not base.endswith(_ES_AFTER):
                return word[:-1]  # notes -> note, but boxes -> box
            if (
                suffix in ("ing", "ed")
                and len(base) >= 4
                and base[-1] == base[-2]
                and base[-1] not in "lsz"
            ):
                return base[:-1]  # running -> run, but spelling, pressed stay whole
            return base
    return word


def tokens(text: str) -> list[str]:
    return [stem(w) for w in _WORD.findall(text)]


def prefix_pattern(terms: Sequence[str]) -> str:
    """A case-insensitive regular expression matching a word that starts with any term's stem.

    Terms are plain ``\\w+`` words (``search.text.query_terms``), so no escaping is needed;
    the pattern is also valid for Rust's regex engine, which Chroma uses.
    """
    stems = sorted({stem(t) for t in terms if _WORD.fullmatch(t)})
    return "(?i)\\b(?:" + "|".join(stems) + ")" if stems else ""


def bm25_rank(
    terms: Sequence[str], docs: Sequence[str], corpus_size: int
) -> list[tuple[int, float]]:
    """(index into ``docs``, score) of the documents that hold a term, best first.

    Document frequencies come from ``docs`` (the candidates), the corpus size
    from the caller: with candidates being every document that holds a term,
    this is the stores' BM25, with the average length taken over the candidates.
    """
    wanted = {stem(t) for t in terms}
    if not docs or not wanted:
        return []
    counts = [Counter(t for t in tokens(d)) for d in docs]
    lengths = [sum(c.values()) for c in counts]
    avg = (sum(lengths) / len(lengths)) or 1.0
    n = max(corpus_size, len(docs))
    idf = {term: bm25.idf(n, sum(1 for c in counts if term in c)) for term in wanted}
    scored = []
    for i, (c, length) in enumerate(zip(counts, lengths, strict=True)):
        score = 0.0
        for term in wanted:
            tf = c.get(term, 0)
            if tf:
                score += bm25.weight(idf[term], tf, length, avg)
        if score > 0:
            scored.append((i, score))
    scored.sort(key=lambda item: -item[1])
    return scored
