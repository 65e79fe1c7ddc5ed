"""Query text to full-text terms: what is kept, what is dropped, and that syntax is inert."""

from __future__ import annotations

import pytest

from memvault.search.text import MAX_TERMS, STOP_WORDS, query_terms


def test_lower_cases_dedupes_and_keeps_first_seen_order():
    assert query_terms("Tabs, spaces, TABS and Spaces") == ["tabs", "spaces"]


def test_function_words_are_dropped_content_words_kept():
    assert query_terms("What is the name of my cat?") == ["name", "cat"]
    assert query_terms("How many bikes do I own?") == ["many", "bikes", "own"]


def test_contraction_fragments_are_dropped():
    # The tokenizer splits "don't", "I've", "it's": the fragments carry no meaning.
    assert query_terms("I don't think I've seen it's use") == ["think", "seen", "use"]


def test_a_question_of_only_function_words_has_no_terms():
    assert query_terms("what was it?") == []


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ('"exact phrase" please', ["exact", "phrase", "please"]),
        ("serial* NEAR(foo bar) -baz", ["serial", "near", "foo", "bar", "baz"]),
        ("XK-9042 (urgent", ["xk", "9042", "urgent"]),
        ("a AND b OR NOT c", ["b", "c"]),
        ("col:value ^start", ["col", "value", "start"]),
    ],
)
def test_query_syntax_characters_become_plain_words(text, terms):
    assert query_terms(text) == terms


def test_codes_keep_their_digits_and_underscores_inside_words():
    assert query_terms("test_upload_resume failed on C02XK1ZJH7") == [
        "test_upload_resume",
        "failed",
        "c02xk1zjh7",
    ]
    assert query_terms("__init__ and _private") == ["init", "private"]


def test_unicode_words_are_kept_whole():
    assert query_terms("Café in Zürich, 東京 trip") == ["café", "zürich", "東京", "trip"]


def test_punctuation_only_gives_nothing():
    assert query_terms("?!… -- ()") == []


def test_terms_are_capped():
    text = " ".join(f"word{i}" for i in range(MAX_TERMS + 10))
    terms = query_terms(text)
    assert len(terms) == MAX_TERMS and terms[0] == "word0"


def test_stop_words_are_plain_lower_case_words():
    assert all(w.isalpha() and w == w.lower() for w in STOP_WORDS)
    assert "own" not in STOP_WORDS
