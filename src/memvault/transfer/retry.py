"""Retrying a call to a store that is briefly unavailable (a restarting server, a lock)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from ..errors import StoreUnavailable

RETRY_ATTEMPTS = 5
RETRY_FIRST_DELAY = 0.5
T = TypeVar("T")


def retrying(call: Callable[[], T], what: str) -> T:
    """``call()``, retried with exponential backoff while the store is unavailable."""
    for attempt in range(1, RETRY_ATTEMPTS + 1):
        try:
            return call()
        except StoreUnavailable as exc:
            if attempt == RETRY_ATTEMPTS:
                raise gave_up(exc, what) from exc
            time.sleep(backoff(attempt))
    raise AssertionError("unreachable")


def backoff(attempt: int) -> float:
    """Seconds to wait after the ``attempt``-th failure in a row: doubling each time."""
    return RETRY_FIRST_DELAY * 2 ** (attempt - 1)


def gave_up(exc: StoreUnavailable, what: str) -> StoreUnavailable:
    return StoreUnavailable(
        f"{exc.message} (while {what}; gave up after {RETRY_ATTEMPTS} "
        f"attempts. Progress is saved: run the same command again to "
        f"resume)",
        field=exc.field,
    )
