"""``--older-than`` values: an age ("90d", "12w", "6mo", "1y", "36h") or a date."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from ..errors import InvalidInput
from ..limits import EARLIEST, check_time, clamp_time
from ..model import utcnow

_AGE = re.compile(r"^\s*(\d+)\s*(h|d|w|mo|y)\s*$", re.IGNORECASE)
_UNIT_DAYS = {"h": 1 / 24, "d": 1, "w": 7, "mo": 30, "y": 365}


def cutoff(
    value: str | timedelta | datetime, now: datetime | None = None, field: str = "older_than"
) -> datetime:
    """The moment before which a memory counts as older than ``value``.

    Months are 30 days and years 365: an age, not a calendar step.
    """
    now = now or utcnow()
    if isinstance(value, timedelta):
        return _before(now, value, field)
    if isinstance(value, datetime):
        return check_time(value, field)
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be an age like 90d or a date", field=field)
    match = _AGE.match(value)
    if match:
        try:
            age = timedelta(days=int(match.group(1)) * _UNIT_DAYS[match.group(2).lower()])
        except (ValueError, OverflowError):  # more than any time memvault keeps
            return EARLIEST
        return _before(now, age, field)
    try:
        return check_time(value, field)
    except InvalidInput:
        raise InvalidInput(
            f"{field} must be an age (90d, 12w, 6mo, 1y, 36h) or an ISO date "
            f"from {EARLIEST:%Y-%m-%d}, got {value[:64]!r}",
            field=field,
        ) from None


def _before(now: datetime, age: timedelta, field: str) -> datetime:
    """``now - age``; an age reaching before anything memvault keeps means all of it."""
    if age < timedelta(0):
        raise InvalidInput(f"{field} must not be negative", field=field)
    try:
        return clamp_time(now - age)
    except OverflowError:
        return EARLIEST
