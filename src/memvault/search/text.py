"""Query text to full-text search terms, the same for every store.

User text is never passed to a store's query language: it is cut into plain
words here, so quotes, ``*``, ``NEAR(``, hyphens and parentheses are searched
literally (as the words around them) and can never be a syntax error. A store
ranks the memories that contain *any* of the terms by BM25 (or its nearest
equivalent), so a memory matching three of five words still ranks, just lower.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+", re.UNICODE)

# English function words: the widely used NLTK/Snowball list, written without
# apostrophes because the tokenizer splits "don't" into "don" and "t". BM25
# already gives such words almost no weight, so dropping them changes ranking
# little; it keeps a store from scanning the postings of nearly every memory
# and keeps a question made only of them ("what was it?") from matching
# everything. "own" is kept: in "what do I own" it is the content word.
STOP_WORDS = frozenset(
    """
a about above after again against ain all am an and any are aren as at be because been before
being below between both but by can could couldn d did didn do does doesn doing don down during each
few for from further had hadn has hasn have haven having he her here hers herself him himself
his how i if in into is isn it its itself just ll m ma me mightn more most mustn my myself
needn no nor not now o of off on once only or other our ours ourselves out over re s same
shan she should shouldn so some such t than that the their theirs them themselves then there
these they this those through to too under until up ve very was wasn we were weren what when
where which while who whom why will with won would wouldn y you your yours yourself yourselves
""".split()
)

MAX_TERMS = 64


def query_terms(text: str) -> list[str]:
    """Lower-cased words of ``text``, stop words dropped, deduplicated in first-seen order."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        word = word.strip("_")
        if word and word not in STOP_WORDS and word not in seen:
            seen[word] = None
    return list(seen)[:MAX_TERMS]
