"""How the dashboard marks text: the matching part of a memory, and differences."""

from __future__ import annotations

import re

from memvault.web.text import excerpt, highlight, word_diff

from .upkeep import LONG


def _words(markup: str, drop: str) -> list[str]:
    """The words shown, leaving out those inside ``<drop>`` and every tag."""
    kept = re.sub(rf"<{drop}>.*?</{drop}>", " ", markup)
    return re.sub(r"<[^>]+>", " ", kept).split()


def test_word_diff_marks_what_each_side_lacks_and_escapes_text():
    base, other = "Deploy <b>on</b> Fridays at 5pm", "Deploy <b>on</b> Mondays at 5pm sharp"
    marked = str(word_diff(base, other))
    assert "<del>Fridays</del>" in marked and "<ins>Mondays</ins>" in marked
    assert "<ins>sharp</ins>" in marked and "&lt;b&gt;on&lt;/b&gt;" in marked
    unescaped = marked.replace("&lt;", "‹").replace("&gt;", "›")
    assert _words(unescaped, "del") == other.replace("<", "‹").replace(">", "›").split()
    assert _words(unescaped, "ins") == base.replace("<", "‹").replace(">", "›").split()


def test_word_diff_of_long_repetitive_text_stays_word_exact():
    other = LONG.replace("cache", "CACHE", 1) + " Fixed by a bigger pool."
    marked = str(word_diff(LONG, other))
    assert marked.count("<del>") == 1 and "<del>cache</del>" in marked
    assert _words(marked, "del") == other.split()
    long_one = " ".join(["the cat sat on the mat"] * 2000)  # past the exact-matching bound
    assert (
        _words(str(word_diff(long_one, long_one + " again")), "del")
        == (long_one + " again").split()
    )


def test_excerpt_shows_the_part_around_the_first_query_word():
    text = "filler words here. " * 60 + "The spare key is under the blue flowerpot."
    shown = str(excerpt(text, "where is the spare key"))
    assert shown.startswith("… ") and "<mark>spare</mark> <mark>key</mark>" in shown
    assert str(excerpt("no match at all", "zebra")) == "no match at all"
    assert str(highlight("Tabs <or> spaces", "tabs")) == "<mark>Tabs</mark> &lt;or&gt; spaces"
