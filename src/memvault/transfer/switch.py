"""Switching from mcp-memory-service: its database, named as the store, is imported once.

Someone switching keeps ``MCP_MEMORY_SQLITE_PATH`` (or names the file in a
``sqlite://`` URL). memvault never writes into that file: the first time it
is named, its memories are imported into a memvault store beside it,
``<name>.memvault.db``, and that store is served from then on. The import is a
migration like any other, so it is verified, and a run interrupted halfway
continues after its checkpoint the next time. When it is done, a journal
record in the new store (kind ``switch``) says from where and how many;
``health`` shows it, and the import is announced once, on stderr.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..config import Settings, sqlite_url
from ..model import utcnow
from ..stores import Store, open_store
from ..stores.sqlite import sqlite_layout, sqlite_path
from .migrate import migrate
from .peers import McpSqliteSource

SWITCH_KIND, SWITCH_KEY = "switch", "mcp-memory-service"
log = logging.getLogger("memvault")


def imported_path(peer: Path) -> Path:
    """Where the memvault store imported from the mcp-memory-service file ``peer`` lives."""
    return peer.with_name(peer.stem + ".memvault.db")


def store_url_for(url: str, settings: Settings) -> str:
    """``url``, or, when it names an mcp-memory-service file, the URL of the memvault
    store imported from it (importing it now if that has not been done)."""
    if url.split("://", 1)[0].lower() != "sqlite":
        return url
    peer = sqlite_path(url)
    if sqlite_layout(peer).kind != "mcp":
        return url
    target = sqlite_url(imported_path(peer))
    if _switched(target, settings) is None:
        _import(peer, target, settings)
    return target


def switch_record(store: Store) -> dict[str, Any] | None:
    """What was imported into ``store`` from mcp-memory-service, if anything."""
    return store.journal_get(SWITCH_KIND, SWITCH_KEY)


def _switched(target: str, settings: Settings) -> dict[str, Any] | None:
    if sqlite_layout(sqlite_path(target)).kind != "memvault":
        return None
    store = open_store(target, settings, create=False)
    try:
        return switch_record(store)
    finally:
        store.close()


def _import(peer: Path, target: str, settings: Settings) -> None:
    source = McpSqliteSource(peer, model=settings.embedding_model)
    try:
        report = migrate(source, target, settings=settings)
    finally:
        source.close()
    record = {
        "from": str(peer),
        "at": utcnow().isoformat(),
        "memories": report.moved_earlier + report.moved + report.skipped,
        "failed": report.failed,
        "verified": bool(report.verification and report.verification.ok),
    }
    # Created here when the peer's file held nothing to import.
    store = open_store(target, settings, create=True)
    try:
        store.journal_put(SWITCH_KIND, SWITCH_KEY, record)
    finally:
        store.close()
    failed = f"; {report.failed} records could not be read" if report.failed else ""
    log.warning(
        "memvault: imported %d memories from the mcp-memory-service database %s "
        "into %s (the original is unchanged)%s; this store is used from now on",
        record["memories"],
        peer,
        imported_path(peer),
        failed,
    )
