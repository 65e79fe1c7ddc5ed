"""Time phrases to UTC ranges: every phrase kind, calendar edges, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from memvault.errors import InvalidInput
from memvault.search.timephrase import TimeRange, find_time_range, parse_time_phrase

# A Wednesday afternoon; every expectation below is computed by hand from it.
NOW = datetime(2025, 3, 12, 15, 30, tzinfo=UTC)


def d(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def span(text: str, now: datetime = NOW) -> tuple[datetime, datetime]:
    found = parse_time_phrase(text, now)
    return found.start, found.end


@pytest.mark.parametrize(
    ("phrase", "start", "end"),
    [
        ("today", d(2025, 3, 12), d(2025, 3, 13)),
        ("yesterday", d(2025, 3, 11), d(2025, 3, 12)),
        ("this week", d(2025, 3, 10), d(2025, 3, 17)),
        ("last week", d(2025, 3, 3), d(2025, 3, 10)),
        ("this month", d(2025, 3, 1), d(2025, 4, 1)),
        ("last month", d(2025, 2, 1), d(2025, 3, 1)),
        ("this year", d(2025, 1, 1), d(2026, 1, 1)),
        ("last year", d(2024, 1, 1), d(2025, 1, 1)),
        ("this weekend", d(2025, 3, 15), d(2025, 3, 17)),
        ("last weekend", d(2025, 3, 8), d(2025, 3, 10)),
    ],
)
def test_named_periods_are_whole_calendar_units(phrase, start, end):
    assert span(phrase) == (start, end)


@pytest.mark.parametrize(
    ("phrase", "start", "end"),
    [
        ("3 days ago", d(2025, 3, 9), d(2025, 3, 10)),
        ("a day ago", d(2025, 3, 11), d(2025, 3, 12)),
        ("a couple of days ago", d(2025, 3, 10), d(2025, 3, 11)),
        ("a week ago", d(2025, 3, 3), d(2025, 3, 10)),
        ("3 weeks ago", d(2025, 2, 17), d(2025, 2, 24)),
        ("two months ago", d(2025, 1, 1), d(2025, 2, 1)),
        ("one year ago", d(2024, 1, 1), d(2025, 1, 1)),
        ("1 hour ago", d(2025, 3, 12, 14, 30), d(2025, 3, 12, 15, 30)),
        ("10 minutes ago", d(2025, 3, 12, 15, 20), d(2025, 3, 12, 15, 21)),
        ("12 mins ago", d(2025, 3, 12, 15, 18), d(2025, 3, 12, 15, 19)),
    ],
)
def test_units_ago_cover_the_whole_unit(phrase, start, end):
    assert span(phrase) == (start, end)


@pytest.mark.parametrize(
    ("phrase", "start"),
    [
        ("last 24 hours", d(2025, 3, 11, 15, 30)),
        ("the past 2 weeks", d(2025, 2, 26, 15, 30)),
        ("past three days", d(2025, 3, 9, 15, 30)),
        ("in the last 3 days", d(2025, 3, 9, 15, 30)),
        ("within the past month", d(2025, 2, 12, 15, 30)),
        ("the last couple of days", d(2025, 3, 10, 15, 30)),
    ],
)
def test_rolling_windows_end_now(phrase, start):
    assert span(phrase) == (start, NOW)


@pytest.mark.parametrize(
    ("phrase", "start", "end"),
    [
        ("in March", d(2025, 3, 1), d(2025, 4, 1)),
        ("March 2024", d(2024, 3, 1), d(2024, 4, 1)),
        ("march, 2024", d(2024, 3, 1), d(2024, 4, 1)),
        ("sept 2024", d(2024, 9, 1), d(2024, 10, 1)),
        ("Dec", d(2024, 12, 1), d(2025, 1, 1)),  # not begun this year: the last one
        ("in May", d(2024, 5, 1), d(2024, 6, 1)),
        ("last march", d(2024, 3, 1), d(2024, 4, 1)),
        ("last february", d(2025, 2, 1), d(2025, 3, 1)),
        ("this march", d(2025, 3, 1), d(2025, 4, 1)),
        ("this december", d(2025, 12, 1), d(2026, 1, 1)),
        ("December 2024", d(2024, 12, 1), d(2025, 1, 1)),
    ],
)
def test_months(phrase, start, end):
    assert span(phrase) == (start, end)


@pytest.mark.parametrize(
    ("phrase", "start", "end"),
    [
        ("wednesday", d(2025, 3, 12), d(2025, 3, 13)),  # today is a Wednesday
        ("last wednesday", d(2025, 3, 5), d(2025, 3, 6)),
        ("friday", d(2025, 3, 7), d(2025, 3, 8)),
        ("last friday", d(2025, 3, 7), d(2025, 3, 8)),
        ("on monday", d(2025, 3, 10), d(2025, 3, 11)),
        ("this thursday", d(2025, 3, 6), d(2025, 3, 7)),
    ],
)
def test_weekdays_are_the_latest_such_day(phrase, start, end):
    assert span(phrase) == (start, end)


@pytest.mark.parametrize(
    ("phrase", "start", "end"),
    [
        ("2024", d(2024, 1, 1), d(2025, 1, 1)),
        ("in 2023", d(2023, 1, 1), d(2024, 1, 1)),
        ("2024-02", d(2024, 2, 1), d(2024, 3, 1)),
        ("2024-02-29", d(2024, 2, 29), d(2024, 3, 1)),
        ("2024-12-31", d(2024, 12, 31), d(2025, 1, 1)),
        ("2024-02-29T10:00:00Z", d(2024, 2, 29, 10), d(2024, 2, 29, 10, 0, 1)),
        ("2024-02-29T12:00:00+02:00", d(2024, 2, 29, 10), d(2024, 2, 29, 10, 0, 1)),
        ("16 November, 2023", d(2023, 11, 16), d(2023, 11, 17)),
        ("on 8th December 2023", d(2023, 12, 8), d(2023, 12, 9)),
        ("3rd of June, 2024", d(2024, 6, 3), d(2024, 6, 4)),
        ("November 6, 2023", d(2023, 11, 6), d(2023, 11, 7)),
        ("Feb 29th 2024", d(2024, 2, 29), d(2024, 3, 1)),
    ],
)
def test_absolute_dates(phrase, start, end):
    assert span(phrase) == (start, end)


@pytest.mark.parametrize(
    ("phrase", "start", "end"),
    [
        ("between 2025-01-01 and 2025-02-01", d(2025, 1, 1), d(2025, 2, 2)),
        ("between last month and yesterday", d(2025, 2, 1), d(2025, 3, 12)),
        ("since last week", d(2025, 3, 3), NOW),
        ("since 2025-03-01", d(2025, 3, 1), NOW),
        ("after 2025-03-01", d(2025, 3, 2), NOW),
        ("before 2024", d(1970, 1, 1), d(2024, 1, 1)),
        ("until yesterday", d(1970, 1, 1), d(2025, 3, 11)),
    ],
)
def test_open_and_bounded_ranges(phrase, start, end):
    assert span(phrase) == (start, end)


def test_case_whitespace_and_leading_prepositions_do_not_matter():
    assert span("  LAST\tWeek ") == span("last week")
    assert span("during last month") == span("last month")
    assert span("from yesterday") == span("yesterday")


def test_month_arithmetic_clamps_to_the_last_day():
    # One month back from March 31st is February's last day, not March 3rd.
    start, end = span("the past month", d(2025, 3, 31, 12))
    assert start == d(2025, 2, 28, 12) and end == d(2025, 3, 31, 12)
    start, _ = span("the past month", d(2024, 3, 31, 12))
    assert start == d(2024, 2, 29, 12)


def test_year_boundaries():
    new_year = d(2025, 1, 2, 9)
    assert span("last month", new_year) == (d(2024, 12, 1), d(2025, 1, 1))
    assert span("last week", new_year) == (d(2024, 12, 23), d(2024, 12, 30))
    assert span("yesterday", d(2025, 1, 1, 0, 5)) == (d(2024, 12, 31), d(2025, 1, 1))


def test_ranges_are_half_open_and_contiguous():
    # Consecutive days share a boundary and do not overlap.
    yesterday, today = parse_time_phrase("yesterday", NOW), parse_time_phrase("today", NOW)
    assert yesterday.end == today.start
    assert today.end - today.start == timedelta(days=1)


def test_now_in_another_timezone_or_naive_is_read_as_utc():
    tokyo = NOW.astimezone(timezone(timedelta(hours=9)))
    assert span("yesterday", tokyo) == span("yesterday")
    assert span("yesterday", NOW.replace(tzinfo=None)) == span("yesterday")


def test_default_now_is_the_current_time():
    found = parse_time_phrase("today")
    assert found.start <= datetime.now(UTC) < found.end


@pytest.mark.parametrize(
    "phrase",
    [
        "",
        "   ",
        "next week",
        "the day after tomorrow",
        "13 o'clock",
        "2024-13",
        "between friday",
        "soonish",
        "since whenever",
    ],
)
def test_unknown_phrases_name_the_field(phrase):
    with pytest.raises(InvalidInput) as info:
        parse_time_phrase(phrase, NOW)
    assert info.value.field == "time"


def test_a_range_that_would_be_empty_is_refused():
    with pytest.raises(InvalidInput) as info:
        parse_time_phrase("between 2025-02-01 and 2025-01-01", NOW)
    assert info.value.field == "time"
    with pytest.raises(InvalidInput):
        TimeRange(d(2025, 1, 1), d(2025, 1, 1))


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        (
            "I mentioned cooking something a couple of days ago. What was it?",
            "a couple of days ago",
        ),
        ("How many times did I bake in the past two weeks?", "the past two weeks"),
        ("How many weddings have I attended in this year?", "this year"),
        ("What did we decide in March 2024 about the roof?", "March 2024"),
        ("What did I do last weekend?", "last weekend"),
        ("What happened on Friday at work?", "friday"),
        ("notes from the 2024-02-29 meeting", "2024-02-29"),
        ("what have I read since 2023", "since 2023"),
        ("what did I say today", "today"),
        ("What did Tim say about his injury on 16 November, 2023?", "16 November 2023"),
        ("What was his issue, as mentioned on November 6, 2023?", "2023-11-06"),
    ],
)
def test_a_time_named_inside_a_question_is_found(text, phrase):
    assert find_time_range(text, NOW) == parse_time_phrase(phrase, NOW)


@pytest.mark.parametrize(
    "text",
    [
        "How many bikes do I own?",
        "I may go to the march",  # a verb and a noun, not months
        "I walked 2000 steps",  # a number, not a year
        "How many babies were born in the last few months?",  # too vague to bound
        "What is the status of order 2024-13?",
        "What happened on 31 February, 2023?",  # no such day, and no other time
    ],
)
def test_questions_without_a_readable_time_have_none(text):
    assert find_time_range(text, NOW) is None


def test_the_first_readable_time_in_a_question_wins():
    found = find_time_range("since yesterday or last week?", NOW)
    assert found == parse_time_phrase("yesterday", NOW)
