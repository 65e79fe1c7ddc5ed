"""What one search call may change of how the Vault ranks: recency, checked against its bounds.

Every interface offers ``recency`` and ``half_life_days`` and states these
bounds in its own schema, so they are spelled once here.
"""

from __future__ import annotations

import dataclasses

from ..inputs import check_number
from .hybrid import SearchSettings

# The most a search may weigh recency: at 10 a memory made now scores 11 times
# one with the same relevance made long ago.
MAX_RECENCY = 10.0
MAX_HALF_LIFE_DAYS = 36_500.0


def with_recency(
    settings: SearchSettings, recency: float | None, half_life_days: float | None
) -> SearchSettings:
    """``settings`` with the recency weight and half-life a call asks for, each checked."""
    if recency is None and half_life_days is None:
        return settings
    return dataclasses.replace(
        settings,
        recency=settings.recency
        if recency is None
        else check_number(recency, "recency", 0, MAX_RECENCY),
        half_life_days=settings.half_life_days
        if half_life_days is None
        else check_number(half_life_days, "half_life_days", 0, MAX_HALF_LIFE_DAYS, low_open=True),
    )
