"""Helpers for the access tests: keys of every kind a request may carry, made on a real store."""

from __future__ import annotations

from dataclasses import asdict, replace

from memvault.access.keys import KIND, KeyRing
from memvault.stores import Store


def expired_key(store: Store, scope: str = "admin") -> str:
    """A key whose time ran out yesterday (its record rewritten, as the clock would)."""
    key, record = KeyRing(store).create("expired", scope, expires_days=1)
    store.journal_put(
        KIND, record.id, asdict(replace(record, expires_at="2000-01-01T00:00:00+00:00"))
    )
    return key


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}
