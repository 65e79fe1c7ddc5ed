"""Questions that ask when: the memories that name a time are lifted (real model, SQLite)."""

from __future__ import annotations

import dataclasses

from memvault import Vault
from memvault.search.when import asks_when, tells_time

GROUP = [
    "Caroline: The support group was so welcoming, everyone shared their stories",
    "Caroline: I went to the support group yesterday and it changed how I see things",
    "Caroline: The support group meets in the community centre downtown",
]


def ranked(vault: Vault, query: str, **changes: float) -> list[str]:
    saved = vault.search_settings
    vault.search_settings = dataclasses.replace(saved, **changes)
    try:
        return [h.memory.content for h in vault.search(query, k=3)]
    finally:
        vault.search_settings = saved


def test_a_question_asks_when_by_its_first_words():
    assert asks_when("When did Caroline go to the support group?")
    assert asks_when("  what date was the concert?")
    assert asks_when("What year did Melanie start painting?")
    assert not asks_when("What did Caroline say about the group?")
    # A time named later in the question is the time boost's, not a question of when.
    assert not asks_when("Where did we go hiking last week?")
    assert not asks_when("Whenever I cook, what do I use?")


def test_a_memory_tells_a_time_by_a_day_weekday_month_year_or_relative_phrase():
    for text in (
        "I went yesterday",
        "We moved here two years ago",
        "It was on Saturday",
        "Back in June it rained",
        "She was born in 1990",
        "I started last week",
    ):
        assert tells_time(text), text
    for text in ("The group meets downtown", "Everyone shared their stories", "Room 12 on floor 3"):
        assert not tells_time(text), text


def test_a_when_question_puts_the_memory_that_says_when_first(vault):
    vault.store_many([{"content": c} for c in GROUP])
    query = "When did Caroline go to the support group?"
    without = ranked(vault, query, when_boost=0.0)
    assert without[0] != GROUP[1]
    hits = vault.search(query, k=3)
    assert hits[0].memory.content == GROUP[1]
    assert hits[0].parts["when"] == 1.0
    assert all("when" not in h.parts for h in hits[1:])
    # Another question over the same memories is ranked as without the lift.
    other = "Where does Caroline's support group meet?"
    assert ranked(vault, other) == ranked(vault, other, when_boost=0.0)
