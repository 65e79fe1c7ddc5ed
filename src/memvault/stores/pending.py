"""A store that does not exist yet, stood in for so that nothing is created before a write.

Reading never creates a store, and a write refused for its input must not
leave an empty one behind either: its checks may read the store first (is
this content stored already? how many chunks would it take?). A
``PendingStore`` answers those reads from an empty scratch store, which is
what the new store would answer, and makes the real store only when the
first write is due: at ``create()`` (a migration, once its checks pass), or,
``on_write``, at the first call of a method in ``WRITES`` (a CLI command).

It is meant for one command or one migration: it does not notice another
process creating the real store meanwhile, so a long-lived server opens its
store as it is instead.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, cast

from ..config import Settings, sqlite_url
from ..errors import NotFound
from . import local_path, open_store
from .base import Store

# The Store methods that change a store: with ``on_write``, the first of them creates it.
WRITES = frozenset(
    {"add", "update", "delete", "bind_embedding", "journal_put", "journal_delete", "optimize"}
)


class PendingStore:
    """An empty scratch store standing in for ``url`` until the real one is created.

    Reads go to the scratch store (empty, so they find nothing); ``url`` and
    ``path`` are the real store's, so reports and disk checks name it. Once
    created, every call goes to the real store.
    """

    def __init__(self, url: str, settings: Settings, *, on_write: bool = False) -> None:
        self.url, self.path = url, local_path(url)
        self._settings = settings
        self._on_write = on_write
        self._created: Store | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="memvault-plan-")
        self._scratch = open_store(sqlite_url(Path(self._dir.name) / "plan.db"), settings)

    def __getattr__(self, name: str) -> Any:
        if self._created is None and self._on_write and name in WRITES:
            self.create()
        return getattr(self._created or self._scratch, name)

    def create(self) -> Store:
        """The real store, created now (and closed with this stand-in)."""
        if self._created is None:
            self._created = open_store(self.url, self._settings, create=True)
        return self._created

    def close(self) -> None:
        if self._created is not None:
            self._created.close()
        self._scratch.close()
        self._dir.cleanup()


def open_on_write(url: str, settings: Settings) -> Store:
    """The store at ``url``; when there is none yet, a stand-in that creates it at its
    first write, so a write refused for its input leaves nothing behind."""
    try:
        return open_store(url, settings, create=False)
    except NotFound:
        return cast(Store, PendingStore(url, settings, on_write=True))
