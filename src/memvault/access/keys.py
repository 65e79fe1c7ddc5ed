"""API keys, kept hashed in the store's journal so every server of a fleet shares them.

A key is ``mvk_<id>_<secret>``: the id finds its record, the secret is 32
random bytes. Only the SHA-256 of the whole key is stored (a hash of a
high-entropy token needs no slow hashing), and it is compared in constant
time. Keys are records of the journal kind ``api-key`` (``Store.journal_*``),
so a key created or revoked by one process (the CLI, another server on the
same PostgreSQL) reaches the others: a ``KeyRing`` reads the whole set again
when its copy is over ``REFRESH_SECONDS`` old (a few small records).
Revoked keys stay listed, with the time they were revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import InvalidInput, NotFound, Unauthorized
from ..limits import check_namespace
from ..stores.base import Store
from .principal import Principal, Scope, check_scope

KIND = "api-key"
PREFIX = "mvk_"
REFRESH_SECONDS = 2.0
MAX_NAME = 100


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyRecord:
    """What the store keeps of a key: never the key itself."""

    id: str
    name: str
    scope: Scope
    namespaces: list[str] | None
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    sha256: str

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and datetime.fromisoformat(self.expires_at) <= now:
            return "expired"
        return "active"

    def public(self, now: datetime) -> dict[str, Any]:
        """The record as listed: without the hash, with its status."""
        out = asdict(self)
        del out["sha256"]
        return {**out, "status": self.status(now)}

    def principal(self) -> Principal:
        spaces = frozenset(self.namespaces) if self.namespaces is not None else None
        return Principal(self.scope, spaces, self.id)


class KeyRing:
    """The store's keys: create, list, revoke, and check a presented key against a fresh copy."""

    def __init__(self, store: Store, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.store = store
        self.refresh_seconds = refresh_seconds
        self._records: dict[str, KeyRecord] = {}
        self._read_at: float | None = None
        self._lock = threading.Lock()

    # -- managing ------------------------------------------------------------
    def create(
        self,
        name: str,
        scope: str,
        namespaces: Sequence[str] | None = None,
        expires_days: int | None = None,
    ) -> tuple[str, KeyRecord]:
        """A new key and its record; the key is returned here only, never again."""
        name = name.strip()
        if not name or len(name) > MAX_NAME or not name.isprintable():
            raise InvalidInput(f"name must be 1 to {MAX_NAME} printable characters", field="name")
        spaces = sorted({check_namespace(ns) for ns in namespaces}) if namespaces else None
        if expires_days is not None and not 1 <= expires_days <= 36500:
            raise InvalidInput("expires must be a number of days from 1 to 36500", field="expires")
        now = datetime.now(UTC).replace(microsecond=0)
        key_id = secrets.token_hex(6)
        key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        record = KeyRecord(
            id=key_id,
            name=name,
            scope=check_scope(scope),
            namespaces=spaces,
            created_at=now.isoformat(),
            revoked_at=None,
            sha256=_digest(key),
            expires_at=(now + timedelta(days=expires_days)).isoformat()
            if expires_days is not None
            else None,
        )
        self.store.journal_put(KIND, key_id, asdict(record))
        self._read_at = None  # this process sees its own change at once
        return key, record

    def records(self) -> list[KeyRecord]:
        return list(self._fresh(force=True).values())

    def revoke(self, key_id: str) -> KeyRecord:
        record = self._fresh(force=True).get(key_id)
        if record is None:
            raise NotFound(f"no API key {key_id!r}", field="id")
        if record.revoked_at is None:
            record = KeyRecord(
                **{**asdict(record), "revoked_at": datetime.now(UTC).isoformat(timespec="seconds")}
            )
            self.store.journal_put(KIND, key_id, asdict(record))
            self._read_at = None
        return record

    # -- checking ------------------------------------------------------------
    def any_keys(self) -> bool:
        """Whether any key was ever created (revoked ones count: the store stays locked)."""
        return bool(self._fresh())

    def usable(self) -> list[KeyRecord]:
        now = datetime.now(UTC)
        return [r for r in self._fresh().values() if r.status(now) == "active"]

    def verify(self, key: str) -> Principal:
        """The principal of an active key; Unauthorized for anything else, saying why."""
        key_id = key[len(PREFIX) :].split("_", 1)[0] if key.startswith(PREFIX) else ""
        record = self._fresh().get(key_id)
        # Compared even for an unknown id, so timing does not tell ids apart.
        expected = record.sha256 if record is not None else _digest("")
        if not hmac.compare_digest(_digest(key), expected) or record is None:
            raise Unauthorized("the API key is not valid", field="authorization")
        status = record.status(datetime.now(UTC))
        if status != "active":
            raise Unauthorized(f"the API key is {status}", field="authorization")
        return record.principal()

    def stale(self) -> bool:
        """Whether the next check will read the store (callers on an event loop hop to a
        thread first)."""
        return self._read_at is None or time.monotonic() - self._read_at > self.refresh_seconds

    def _fresh(self, force: bool = False) -> dict[str, KeyRecord]:
        with self._lock:
            if force or self.stale():
                self._records = _records(self.store.journal_list(KIND))
                self._read_at = time.monotonic()
            return self._records


def _records(rows: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, KeyRecord]:
    return {key: KeyRecord(**value) for key, value in rows}
