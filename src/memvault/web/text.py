"""Text as the dashboard shows it: the part of a memory that matched, and differences.

Both return markup with the user's text escaped and only ``<mark>``,
``<ins>`` and ``<del>`` added.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from markupsafe import Markup, escape

from ..search.text import query_terms

EXCERPT_CHARS = 320


def _term_pattern(terms: Sequence[str]) -> re.Pattern[str] | None:
    if not terms:
        return None
    words = sorted({re.escape(t) for t in terms}, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(words) + r")\w*", re.IGNORECASE)


def highlight(text: str, query: str) -> Markup:
    """``text`` with the query's words marked."""
    pattern = _term_pattern(query_terms(query))
    if pattern is None:
        return escape(text)
    out, last = [], 0
    for match in pattern.finditer(text):
        out += [escape(text[last:match.start()]), Markup("<mark>"), escape(match.group()),
                Markup("</mark>")]
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def excerpt(text: str, query: str, chars: int = EXCERPT_CHARS) -> Markup:
    """About ``chars`` of ``text`` around its first query word, the words marked.

    Without a query word in it, the beginning: a memory that ranked on meaning alone.
    """
    pattern = _term_pattern(query_terms(query))
    found = pattern.search(text) if pattern is not None else None
    start = max(0, found.start() - chars // 3) if found else 0
    if start:  # begin on a word
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < start + 40 else start
    end = min(len(text), start + chars)
    shown = highlight(text[start:end], query)
    return Markup("").join([Markup("… ") if start else Markup(""), shown,
                            Markup(" …") if end < len(text) else Markup("")])


def word_diff(base: str, other: str) -> Markup:
    """``other`` with its words that ``base`` lacks as ``<ins>`` and the words it lacks
    of ``base`` as ``<del>``, compared word by word (case and spacing count)."""
    a, b = re.findall(r"\S+|\s+", base), re.findall(r"\S+|\s+", other)
    out: list[Markup] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(escape("".join(b[j1:j2])))
            continue
        removed, added = "".join(a[i1:i2]).strip(), "".join(b[j1:j2]).strip()
        if removed:
            out.append(Markup("<del>{}</del> ").format(removed))
        if added:
            out.append(Markup("<ins>{}</ins> ").format(added))
    return Markup("").join(out)
