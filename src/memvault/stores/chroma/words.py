"""Chroma's word ranking: the stores' BM25, over the memories holding a query word.

ChromaDB can find documents that match a regular expression, but it cannot
rank them or stem. A search therefore asks Chroma for the memories holding
any way a query word has been written (``spelling_pattern``, from the
spellings ``word_counts`` keeps), cuts them into words with every store's
tokenizer (``stores.tokens``), and ranks them here by ``stores.bm25`` with
the whole store's counts: the same words, counts and score as the SQLite
store's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from .. import bm25, tokens
from .word_counts import Totals

# The characters the tokenizer keeps inside a word (unicode61: letters, digits,
# marks, private use); any other one ends a word. Rust's regex syntax.
_WORD_CHAR = r"\p{L}\p{N}\p{M}\p{Co}"

Term = tuple[str, ...]  # a query term's words: several make a phrase ("snake_case")


def query_terms(terms: Iterable[str]) -> list[Term]:
    """Each term's words, every distinct term once, in the query's order."""
    return [term for term in dict.fromkeys(tuple(tokens.tokens(t)) for t in terms) if term]


def spelling_pattern(spellings: Iterable[str]) -> str:
    """A case-insensitive regular expression matching a text that holds any of
    ``spellings`` as a whole word, as the tokenizer cuts words ("" for none).

    Valid for Rust's regex engine, which Chroma uses.
    """
    alternatives = "|".join(sorted({re.escape(s) for s in spellings}))
    if not alternatives:
        return ""
    return f"(?i)(?:^|[^{_WORD_CHAR}])(?:{alternatives})(?:[^{_WORD_CHAR}]|$)"


def occurrences(words: Sequence[str], term: Term) -> int:
    """How often ``term`` occurs in ``words``: a phrase where its words stand in order."""
    if len(term) == 1:
        return words.count(term[0])
    size = len(term)
    return sum(
        1
        for i in range(len(words) - size + 1)
        if words[i] == term[0] and tuple(words[i : i + size]) == term
    )


def bm25_rank(
    terms: Sequence[Term],
    docs: Sequence[str],
    created: Sequence[datetime],
    holding: Mapping[Term, int],
    totals: Totals,
) -> list[tuple[int, float]]:
    """(index into ``docs``, score) of the documents that hold a term, best first,
    equal scores the older first (``created``), then in the order given.

    ``holding`` is how many memories of the store hold each term, ``totals``
    the store's; a term no memory holds is skipped.
    """
    weighed = [
        (term, bm25.idf(totals.documents, holding[term])) for term in terms if holding.get(term)
    ]
    scored = []
    for i, doc in enumerate(docs):
        words = tokens.tokens(doc)
        score = 0.0
        for term, idf in weighed:
            tf = occurrences(words, term)
            if tf:
                score += bm25.weight(idf, float(tf), float(len(words)), totals.average)
        if score > 0:
            scored.append((i, score))
    scored.sort(key=lambda item: (-item[1], created[item[0]]))
    return scored
