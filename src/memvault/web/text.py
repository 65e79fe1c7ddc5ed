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
EXACT_DIFF_PAIRS = 1_000_000  # about a thousand words against a thousand


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
        out += [
            escape(text[last : match.start()]),
            Markup("<mark>"),
            escape(match.group()),
            Markup("</mark>"),
        ]
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
    return Markup("").join(
        [
            Markup("… ") if start else Markup(""),
            shown,
            Markup(" …") if end < len(text) else Markup(""),
        ]
    )


def word_diff(base: str, other: str) -> Markup:
    """``other`` with its words that ``base`` lacks as ``<ins>`` and the words it lacks
    of ``base`` as ``<del>``, compared word by word (case counts, spacing does not).

    Words, not characters or whitespace runs, are matched. Matching is
    quadratic at worst (in long, repetitive text), so past ``EXACT_DIFF_PAIRS``
    word pairs difflib's heuristic (frequent words cannot anchor a match)
    keeps it to milliseconds, at the price of a coarser result.
    """
    a, b = re.findall(r"\S+\s*", base), re.findall(r"\S+\s*", other)
    matcher = difflib.SequenceMatcher(
        None,
        [t.rstrip() for t in a],
        [t.rstrip() for t in b],
        autojunk=len(a) * len(b) > EXACT_DIFF_PAIRS,
    )
    pieces: list[tuple[str, str]] = []  # (tag or "", text)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            pieces.append(("", "".join(b[j1:j2])))
            continue
        if i2 > i1:
            pieces.append(("del", "".join(a[i1:i2]).strip()))
        if j2 > j1:
            added = "".join(b[j1:j2])
            pieces += [("ins", added.rstrip()), ("", added[len(added.rstrip()) :])]
    out: list[Markup] = []
    for index, (tag, text) in enumerate(pieces):
        if tag and index and not pieces[index - 1][1][-1:].isspace():
            out.append(Markup(" "))  # a marked word never runs into the one before it
        out.append(Markup(f"<{tag}>{{}}</{tag}>").format(text) if tag else escape(text))
    return Markup("").join(out)
