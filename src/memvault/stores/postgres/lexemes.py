"""memvault's words as PostgreSQL's text search values, so that PostgreSQL holds
and matches exactly the words the SQLite store's index holds.

PostgreSQL's own parser and stemmers split and stem otherwise than FTS5
(``days`` is ``day`` in Snowball English, ``dai`` in Porter's stemmer; ``3.14``
is one word to its parser, two to FTS5), which changed lengths, counts and
so BM25 scores. Instead every store's tokenizer (``stores.tokens``) cuts the
text in Python and the ``tsvector`` is written from its words, each at its
position, as a literal that PostgreSQL stores unchanged; a query's terms
become ``tsquery`` literals the same way. PostgreSQL's limits stay: positions
above 16,383 count as 16,383, a word holds at most 256 positions (so its
frequency in one memory counts up to 256), and a word longer than 2,046
bytes is left out of the index (it still counts towards the length).
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import tokens
from .schema import INDEXED_CHARS

MAX_POSITION = 16_383
MAX_WORD_BYTES = 2_046


def quoted(word: str) -> str:
    """A word as a quoted lexeme of a tsvector or tsquery literal."""
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def vector_literal(words: Sequence[str]) -> str:
    """The tsvector literal of ``words``, each at its position (from 1)."""
    positions: dict[str, list[int]] = {}
    for position, word in enumerate(words, start=1):
        if len(word.encode("utf-8")) <= MAX_WORD_BYTES:
            at = positions.setdefault(word, [])
            if not at or at[-1] < MAX_POSITION:
                at.append(min(position, MAX_POSITION))
    return " ".join(f"{quoted(word)}:{','.join(map(str, at))}" for word, at in positions.items())


def document(content: str) -> tuple[str, int]:
    """A top-level memory's ``words`` (a tsvector literal) and ``word_count``."""
    words = tokens.tokens(content[:INDEXED_CHARS])
    return vector_literal(words), len(words)


def query(terms: Sequence[str]) -> tuple[list[str], list[str]]:
    """Each distinct query term that has words, as (tsvector literals, tsquery
    literals): a term of several words (``snake_case``) is a phrase."""
    found = dict.fromkeys(
        tuple(w for w in tokens.tokens(term) if len(w.encode("utf-8")) <= MAX_WORD_BYTES)
        for term in terms
    )
    kept = [words for words in found if words]
    return [vector_literal(words) for words in kept], [
        " <-> ".join(quoted(word) for word in words) for words in kept
    ]
