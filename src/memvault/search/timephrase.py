"""Time phrases ("yesterday", "last week", "in March 2025", ...) to UTC ranges.

Every range is half-open, ``[start, end)``, computed against a given ``now``
so results are reproducible. Calendar units (day, week, month, year) are whole
units: "3 days ago" is all of that day, "last week" is Monday to Monday.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..errors import InvalidInput
from ..limits import EARLIEST, LATEST, clamp_time

MONTH_NAMES = (
    "january february march april may june july august september october november december"
)
MONTHS = {name: i for i, name in enumerate(MONTH_NAMES.split(), start=1)}
MONTHS.update({name[:3]: i for name, i in list(MONTHS.items())})
MONTHS["sept"] = 9
WEEKDAYS = {
    name: i
    for i, name in enumerate("monday tuesday wednesday thursday friday saturday sunday".split())
}
UNITS = {
    "minute": "minute",
    "min": "minute",
    "hour": "hour",
    "day": "day",
    "week": "week",
    "month": "month",
    "year": "year",
}
NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "a couple of": 2,
    "a couple": 2,
    "couple of": 2,
}
MONTH_RE = "|".join(sorted(MONTHS, key=len, reverse=True))
_NUM_RE = r"\d+|" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
_UNIT_RE = r"(minute|min|hour|day|week|month|year)s?"


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise InvalidInput("time range is empty: start must be before end", field="time")


def parse_time_phrase(text: str, now: datetime | None = None) -> TimeRange:
    """The range a phrase names; raises InvalidInput naming the phrase if unknown."""
    now = _utc(now or datetime.now(UTC))
    phrase = re.sub(r"\s+", " ", text.strip().lower())
    phrase = re.sub(r"^(in|on|during|from|within) ", "", phrase)
    if not phrase:
        raise InvalidInput("time phrase is empty", field="time")
    try:
        found = _parse(phrase, now)
    except (ValueError, OverflowError):  # a year or a step past what a datetime holds
        found = (LATEST, LATEST)
    if found is None:
        raise InvalidInput(
            f"cannot read time phrase {text[:100]!r}; try 'yesterday', 'last week', "
            "'3 days ago', 'in March 2025' or 'between 2025-01-01 and 2025-02-01'",
            field="time",
        )
    # Nothing is stored outside the times memvault keeps, so a range reaching past
    # them means the same held within them.
    start, end = clamp_time(found[0]), clamp_time(found[1])
    if (start >= end and found[0] < found[1]) or start == end == LATEST:
        raise InvalidInput(
            f"time phrase {text[:100]!r} names no time memvault keeps "
            f"({EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d})",
            field="time",
        )
    return TimeRange(start, end)


# Shapes of a time phrase inside free text. A month or a bare year needs a cue
# word before it, so the verb "may" or "march" and a number like 2000 in
# "2000 steps" are not read as times.
WEEKDAY_RE = "|".join(WEEKDAYS)
_DAY_RE = r"\d{1,2}(?:st|nd|rd|th)?"
_IN_TEXT = re.compile(
    rf"\b(?:(?:the )?(?:last|past) (?:(?:{_NUM_RE}) )?{_UNIT_RE}"
    rf"|(?:{_NUM_RE}) {_UNIT_RE} ago"
    r"|(?:this|last) (?:week|month|year|weekend)|yesterday|today"
    rf"|{_DAY_RE} (?:of )?(?:{MONTH_RE}),? \d{{4}}|(?:{MONTH_RE}) {_DAY_RE},? \d{{4}}"
    rf"|(?:in|during|since|last|this) (?:{MONTH_RE})(?:,? \d{{4}})?"
    rf"|(?:{MONTH_RE}),? \d{{4}}"
    rf"|(?:on|last|this) (?:{WEEKDAY_RE})"
    r"|(?:in|during|since) \d{4}"
    r"|\d{4}-\d{2}(?:-\d{2})?)\b"
)


def find_time_range(text: str, now: datetime | None = None) -> TimeRange | None:
    """The range of the first time phrase inside free text ("what did I cook
    a couple of days ago?"), or None when the text names no time."""
    lowered = re.sub(r"\s+", " ", text.lower())
    for match in _IN_TEXT.finditer(lowered):
        try:
            return parse_time_phrase(match.group(0), now)
        except InvalidInput:
            continue
    return None


def _parse(p: str, now: datetime) -> tuple[datetime, datetime] | None:
    today = _day(now)
    simple = {
        "today": (today, today + timedelta(days=1)),
        "yesterday": (today - timedelta(days=1), today),
        "this week": (_week(now), _week(now) + timedelta(weeks=1)),
        "last week": (_week(now) - timedelta(weeks=1), _week(now)),
        "this month": (_month(now), _add_months(_month(now), 1)),
        "last month": (_add_months(_month(now), -1), _month(now)),
        "this year": (_year(now), _year(now).replace(year=now.year + 1)),
        "last year": (_year(now).replace(year=now.year - 1), _year(now)),
        "this weekend": (_weekend(now, 0), _weekend(now, 0) + timedelta(days=2)),
        "last weekend": (_weekend(now, -1), _weekend(now, -1) + timedelta(days=2)),
    }
    if p in simple:
        return simple[p]
    if m := re.fullmatch(rf"({_NUM_RE}) {_UNIT_RE} ago", p):
        return _units_ago(_number(m[1]), UNITS[m[2]], now)
    if m := re.fullmatch(rf"(?:the )?(?:last|past) (?:({_NUM_RE}) )?{_UNIT_RE}", p):
        # "the past month" is a rolling window; "last month" (above) the calendar month.
        return _shift(now, UNITS[m[2]], -_number(m[1] or "1")), now
    if m := re.fullmatch(r"between (.+) and (.+)", p):
        first, second = _parse(m[1], now), _parse(m[2], now)
        if first and second:
            return first[0], second[1]
        return None
    if m := re.fullmatch(r"(since|after|before|until) (.+)", p):
        span = _parse(m[2], now)
        if span is None:
            return None
        if m[1] in {"since", "after"}:
            return (span[0] if m[1] == "since" else span[1]), max(now, span[1])
        return EARLIEST, span[0]
    if m := re.fullmatch(rf"(\d{{1,2}})(?:st|nd|rd|th)? (?:of )?({MONTH_RE}),? (\d{{4}})", p):
        return _whole_day(int(m[3]), MONTHS[m[2]], int(m[1]))
    if m := re.fullmatch(rf"({MONTH_RE}) (\d{{1,2}})(?:st|nd|rd|th)?,? (\d{{4}})", p):
        return _whole_day(int(m[3]), MONTHS[m[1]], int(m[2]))
    if m := re.fullmatch(rf"(last|this)? ?({MONTH_RE}),? ?(\d{{4}})?", p):
        month = MONTHS[m[2]]
        year = int(m[3]) if m[3] else now.year
        # A month named without a year is the latest one that has begun ("this"
        # keeps the current year): memories are about the past.
        if (
            not m[3]
            and m[1] != "this"
            and (month > now.month or (m[1] == "last" and month == now.month))
        ):
            year -= 1
        start = datetime(year, month, 1, tzinfo=UTC)
        return start, _add_months(start, 1)
    if m := re.fullmatch(r"(\d{4})", p):
        start = datetime(int(m[1]), 1, 1, tzinfo=UTC)
        return start, start.replace(year=start.year + 1)
    if m := re.fullmatch(
        r"(last|this)? ?(monday|tuesday|wednesday|thursday|friday|saturday|"
        r"sunday)",
        p,
    ):
        back = (today.weekday() - WEEKDAYS[m[2]]) % 7 or (7 if m[1] == "last" else 0)
        start = today - timedelta(days=back)
        return start, start + timedelta(days=1)
    return _absolute(p)


def _absolute(p: str) -> tuple[datetime, datetime] | None:
    """ISO dates and timestamps: a date is its whole day, a month its whole month."""
    if m := re.fullmatch(r"(\d{4})-(\d{2})", p):
        if not 1 <= int(m[2]) <= 12:
            return None
        start = datetime(int(m[1]), int(m[2]), 1, tzinfo=UTC)
        return start, _add_months(start, 1)
    try:
        value = datetime.fromisoformat(p.upper().replace("Z", "+00:00"))
    except ValueError:
        return None
    value = _utc(value)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", p):
        return value, value + timedelta(days=1)
    return value, value + timedelta(seconds=1)


def _whole_day(year: int, month: int, day: int) -> tuple[datetime, datetime] | None:
    """The day "16 November, 2023" names; None for a day its month does not have."""
    try:
        start = datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None
    return start, start + timedelta(days=1)


def _number(text: str) -> int:
    return int(text) if text.isdigit() else NUMBER_WORDS[text]


def _units_ago(n: int, unit: str, now: datetime) -> tuple[datetime, datetime]:
    if unit in {"minute", "hour"}:
        return _shift(now, unit, -n), _shift(now, unit, -n + 1)
    start = {"day": _day, "week": _week, "month": _month, "year": _year}[unit](
        _shift(now, unit, -n)
    )
    return start, _shift(start, unit, 1)


def _shift(value: datetime, unit: str, n: int) -> datetime:
    if unit == "month":
        return _add_months(value, n)
    if unit == "year":
        return _add_months(value, 12 * n)
    return value + timedelta(**{unit + "s": n})


def _add_months(value: datetime, n: int) -> datetime:
    index = value.year * 12 + value.month - 1 + n
    year, month = divmod(index, 12)
    day = min(value.day, _days_in_month(year, month + 1))
    return value.replace(year=year, month=month + 1, day=day)


def _days_in_month(year: int, month: int) -> int:
    nxt = datetime(year + month // 12, month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def _utc(value: datetime) -> datetime:
    """Aware UTC; a naive datetime is read as UTC, as everywhere in memvault."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _weekend(now: datetime, weeks: int) -> datetime:
    """Saturday 00:00 of this week's weekend, shifted by ``weeks``."""
    return _week(now) + timedelta(days=5, weeks=weeks)


def _day(value: datetime) -> datetime:
    return value.replace(hour=0, minute=0, second=0, microsecond=0)


def _week(value: datetime) -> datetime:
    return _day(value) - timedelta(days=value.weekday())


def _month(value: datetime) -> datetime:
    return _day(value).replace(day=1)


def _year(value: datetime) -> datetime:
    return _month(value).replace(month=1)
