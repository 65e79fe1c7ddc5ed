"""Loading a dump into a store: a migration whose source is the dump file.

The backup of a Chroma takeover, a verbatim copy of the collection, is put
back by ``collection_copy`` instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import Conflict, NotFound
from ..stores import Store, open_store
from .backup import DumpSource
from .collection_copy import is_collection_copy, restore_collection
from .dump import check_dump
from .migrate import MigrationReport, migrate
from .progress import NULL_PROGRESS, Progress
from .source import EVERYTHING


def restore(
    dump_path: str | Path,
    target: str | Store,
    *,
    replace: bool = False,
    settings: Settings | None = None,
    progress: Progress = NULL_PROGRESS,
    **options: Any,
) -> MigrationReport:
    """Load a dump into a store. A store holding memories is refused unless ``replace``.

    A copy of another tool's Chroma collection (the backup of a takeover) is put
    back as it was instead, into the collection ``target`` names.
    """
    settings = settings or Settings.from_env()
    if isinstance(target, str) and is_collection_copy(dump_path):
        return restore_collection(
            dump_path, target, replace=replace, settings=settings, progress=progress
        )
    check_dump(dump_path)  # the whole file is sound before the store is touched
    held = _held(target, settings)
    if held and not replace:
        url = target if isinstance(target, str) else target.url
        raise Conflict(
            f"{url} holds {held} memories; restore writes only into an "
            f"empty store. Pass --replace to replace them (a backup is taken "
            f"first)",
            field="target_url",
        )
    # A target named by URL is opened by the migration: one that does not exist
    # yet is created only once its checks pass (``transfer.targets``).
    return migrate(
        DumpSource(dump_path),
        target,
        replace=replace,
        settings=settings,
        progress=progress,
        **options,
    )


def _held(target: str | Store, settings: Settings) -> int:
    """How many memories the target holds: none if it does not exist yet."""
    if not isinstance(target, str):
        return target.count(EVERYTHING.with_changes(include_chunks=False))
    try:
        store = open_store(target, settings, create=False)
    except NotFound:
        return 0
    try:
        return store.count(EVERYTHING.with_changes(include_chunks=False))
    finally:
        store.close()
