"""The words every store indexes and searches: one tokenizer for all engines.

It is SQLite FTS5's ``porter unicode61 remove_diacritics 2``, the SQLite
store's word index from the start, run here through APSW on an in-memory
connection: text is cut at every character that is not a letter, digit or
private-use character (so ``O'Brien's`` is ``o``, ``brien``, ``s`` and
``snake_case`` is ``snake``, ``case``), folded to lower case without
diacritics (``Café`` is ``cafe``), and stemmed by Porter's original
algorithm (``days`` is ``dai``, ``running`` is ``run``). No word is dropped;
the Vault drops its own stop words from queries. Running FTS5's own code
rather than a Python stemmer that resembles it makes the PostgreSQL and
Chroma stores split and stem exactly as SQLite does, by construction.
"""

from __future__ import annotations

import threading
from typing import cast

import apsw

# The tokenizer and its arguments, as the SQLite word index names them.
TOKENIZER = ("porter", ["unicode61", "remove_diacritics", "2"])
TOKENIZE_CLAUSE = "tokenize='porter unicode61 remove_diacritics 2'"

_local = threading.local()


def _tokenizer() -> apsw.FTS5Tokenizer:
    """This thread's tokenizer (an APSW connection is used by one thread at a time)."""
    tokenizer = getattr(_local, "tokenizer", None)
    if tokenizer is None:
        _local.connection = apsw.Connection(":memory:")
        tokenizer = _local.tokenizer = _local.connection.fts5_tokenizer(*TOKENIZER)
    return cast(apsw.FTS5Tokenizer, tokenizer)


def tokens(text: str) -> list[str]:
    """The words of ``text`` in order, as the word indexes hold them."""
    found = _tokenizer()(text.encode("utf-8"), apsw.FTS5_TOKENIZE_DOCUMENT, None)
    # Each token is (start, end, text, *colocated): the text is the third.
    return [cast(str, token[2]) for token in found]  # type: ignore[misc]


def spellings(text: str) -> list[tuple[str, str]]:
    """(word, how it is written, lower-cased) for each word of ``text``, in order."""
    data = text.encode("utf-8")
    found = _tokenizer()(data, apsw.FTS5_TOKENIZE_DOCUMENT, None)
    # Each token is (start, end, text, *colocated), the offsets in bytes.
    spans = [cast(tuple[int, int, str], token[:3]) for token in found]  # type: ignore[misc]
    return [(word, data[start:end].decode("utf-8").lower()) for start, end, word in spans]
