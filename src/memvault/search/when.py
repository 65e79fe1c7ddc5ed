"""Questions that ask when, and the memories that say when.

"When did Caroline go to the support group?" is answered by the remark "I
went to a support group yesterday", not by the three others about the group:
among the memories about what is asked, the one that names a time ("last
week", "in May", "2022", "a few months ago") is likelier the answer. Read
against the memory's own date, such a phrase gives the date asked for; a
memory that names none rarely does. Measured on LoCoMo's temporal questions
(docs/retrieval.md).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Mapping

from ..model import Memory
from ..stores.base import Store
from .timephrase import MONTH_RE, WEEKDAY_RE

# The question's first words: "When did ...", "What date was ...". A question
# that names a time elsewhere ("What did I do last week?") asks what, not when.
_ASKS_WHEN = re.compile(r"\s*(?:when|what (?:date|day|month|year|time))\b")

# A time told in ordinary speech: relative to the day said ("yesterday",
# "last weekend", "two weeks ago"), a weekday, a month, a year.
_TELLS_TIME = re.compile(
    r"\b(?:yesterday|today|tonight|tomorrow|ago|recently"
    r"|last (?:week|weekend|month|year|night)"
    r"|this (?:week|weekend|month|year|morning)"
    r"|next (?:week|month|year)"
    rf"|{WEEKDAY_RE}|{MONTH_RE}|\d{{4}}|weeks?|months?|years?)\b"
)


def asks_when(query: str) -> bool:
    """Whether the question asks for a time (it begins "when" or "what date")."""
    return _ASKS_WHEN.match(query.lower()) is not None


def tells_time(text: str) -> bool:
    """Whether the text names a time (a day, weekday, month or year, or one relative to now)."""
    return _TELLS_TIME.search(text.lower()) is not None


def read_best(store: Store, scores: Mapping[str, float], depth: int) -> dict[str, Memory]:
    """The ``depth`` best of the scored memories (id to score), read whole.

    Only these are read for the times they name: the rest are too far down
    for a lift to bring them into the results. The search keeps its hits
    from among them without reading those again.
    """
    best = heapq.nlargest(depth, scores, key=scores.__getitem__)
    return {m.id: m for m in store.get_many(best)}
