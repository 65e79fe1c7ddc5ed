"""The time window ``Vault.recall`` looks in, and what it returns.

A window is named by a phrase ("last week", "in March 2025", read by
``timephrase``) or given as a (start, end) pair; every interface reads it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import InvalidInput
from ..limits import check_time
from ..model import Hit
from .timephrase import TimeRange, parse_time_phrase

When = str | tuple[datetime | str, datetime | str]


@dataclass(frozen=True)
class Recall:
    """What ``Vault.recall`` found, and the time window it looked in."""

    span: TimeRange
    hits: list[Hit]

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.span.start.isoformat(),
            "end": self.span.end.isoformat(),
            "hits": [h.to_dict() for h in self.hits],
        }


def time_window(when: When, now: datetime | None = None) -> TimeRange:
    """The window a phrase or a (start, end) pair names; a phrase is read as of ``now``."""
    if isinstance(when, str):
        return parse_time_phrase(when, check_time(now, "now") if now is not None else None)
    if isinstance(when, tuple | list) and len(when) == 2:
        return TimeRange(check_time(when[0], "start"), check_time(when[1], "end"))
    raise InvalidInput("time must be a phrase or a (start, end) pair", field="time")
