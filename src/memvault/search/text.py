"""Query text to full-text search terms, the same for every store.

User text is never passed to a store's query language: it is cut into plain
words here, so quotes, ``*``, ``NEAR(``, hyphens and parentheses are searched
literally (as the words around them) and can never be a syntax error.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+", re.UNICODE)

# Words so common that matching them says nothing about relevance. A short
# list: every word left out here is one a user can no longer find by.
STOP_WORDS = frozenset("""
a an and are as at be been but by can could did do does for from had has have how i if in
into is it its me my of on or our she he so than that the their them then there these they
this those to was we were what when where which who whom why will with would you your
""".split())

MAX_TERMS = 64


def query_terms(text: str) -> list[str]:
    """Lower-cased words of ``text``, stop words dropped, first occurrence order, deduped."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        word = word.strip("_")
        if word and word not in STOP_WORDS and word not in seen:
            seen[word] = None
    return list(seen)[:MAX_TERMS]
