"""Export, import, backup and restore, all in terms of the dump format.

- ``export_dump`` writes any source (store, peer) to a dump file, filtered.
- ``DumpSource`` reads a dump as a migration source, so importing and
  restoring are migrations: batched, resumable, verified, re-embedding only
  what has no vector.
- ``backup`` writes a timestamped dump of a store into ``<data dir>/backups``
  (for a SQLite store also a copy of the file through SQLite's online backup
  API) and keeps the newest ``keep`` of each kind.
- ``restore`` refuses to write into a store that holds memories unless asked
  to replace them, and then takes a backup first.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import InvalidInput
from ..files import slug as safe_name
from ..model import EmbeddingSpec, Filter, Memory, utcnow
from ..stores import Store
from .dump import DumpHeader, read_dump, write_dump
from .progress import NULL_PROGRESS, Progress
from .source import EVERYTHING, Source

DEFAULT_KEEP = 10
_SCAN_BATCH = 1000


def filter_to_dict(flt: Filter) -> dict[str, Any]:
    """The parts of a filter that narrow anything, JSON-ready, for a dump's header."""
    out: dict[str, Any] = {}
    for name in (
        "namespace",
        "tags_any",
        "tags_all",
        "memory_type",
        "created_after",
        "created_before",
        "metadata",
    ):
        value = getattr(flt, name)
        if value:
            out[name] = (
                value.isoformat()
                if hasattr(value, "isoformat")
                else list(value)
                if isinstance(value, tuple)
                else value
            )
    return out


def export_dump(
    source: Source, path: str | Path, flt: Filter = EVERYTHING, progress: Progress = NULL_PROGRESS
) -> int:
    """Write every memory of ``source`` matching ``flt`` (with vectors) to a dump at ``path``."""
    spec = source.embedding_spec()
    header = DumpHeader(
        model=spec.model if spec else None,
        dimension=spec.dimension if spec else None,
        source=source.url,
        filter=filter_to_dict(flt),
    )
    progress.start(f"Exporting to {Path(path).name}", source.count(flt))

    def memories() -> Iterator[Memory]:
        for batch, _ in source.scan(flt, batch_size=_SCAN_BATCH, with_embedding=True):
            yield from batch
            progress.advance(len(batch))

    try:
        return write_dump(path, memories(), header)
    finally:
        progress.finish()


class DumpSource:
    """A dump file read as a migration source. The cursor is the number of lines read."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.header, memories = read_dump(self.path)
        memories.close()
        self.url = str(self.path)

    def identity(self) -> str:
        return f"dump:{self.path.resolve()}:{self.header.created}"

    def embedding_spec(self) -> EmbeddingSpec | None:
        if self.header.model is None or self.header.dimension is None:
            return None
        return EmbeddingSpec(self.header.model, self.header.dimension)

    def count(self, flt: Filter) -> int:
        return sum(len(b) for b, _ in self.scan(flt, batch_size=_SCAN_BATCH, with_embedding=False))

    def scan(
        self,
        flt: Filter,
        *,
        batch_size: int,
        cursor: str | None = None,
        with_embedding: bool = True,
    ) -> Iterator[tuple[list[Memory], str]]:
        skip = int(cursor) if cursor and cursor.isdigit() else 0
        _, memories = read_dump(self.path)
        read, batch = 0, []
        with contextlib.closing(memories):
            for memory in memories:
                read += 1
                if read <= skip:
                    continue
                if flt.matches(memory):
                    batch.append(memory if with_embedding else memory.with_changes(embedding=None))
                if read - skip >= batch_size:
                    yield batch, str(read)
                    batch, skip = [], read
        if batch or read > skip:
            yield batch, str(read)

    def health(self) -> dict[str, Any]:
        return {"backend": "dump", "path": str(self.path), **self.header.to_dict()}

    def close(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class BackupResult:
    dump: Path
    count: int
    sqlite_copy: Path | None
    removed: list[Path]


def backups_dir(settings: Settings) -> Path:
    return settings.data_dir / "backups"


def _slug(url: str) -> str:
    """A file-name-safe name for a store: its file name, or its collection."""
    base = url.split("://", 1)[-1].split("?", 1)
    name = Path(base[0]).stem or "store"
    if len(base) > 1 and "collection=" in base[1]:
        name = base[1].split("collection=", 1)[1].split("&", 1)[0]
    return safe_name(name)


def _stamp() -> str:
    return utcnow().strftime("%Y%m%dT%H%M%S.%fZ")


_STAMP = r"-\d{8}T\d{6}\.\d{6}Z"
_DUMP, _COPY = ".jsonl.gz", ".db"


def backup_path(url: str, settings: Settings, suffix: str = _DUMP) -> Path:
    """Where a new backup of the store at ``url`` goes: named after it, timestamped."""
    return backups_dir(settings) / f"{_slug(url)}-{_stamp()}{suffix}"


def backup_to_dump(store: Source, settings: Settings, progress: Progress = NULL_PROGRESS) -> Path:
    """A timestamped dump of the whole store (or source) in the backups directory; its path."""
    path = backup_path(store.url, settings)
    export_dump(store, path, EVERYTHING, progress)
    return path


def backup(
    store: Store,
    settings: Settings,
    *,
    keep: int = DEFAULT_KEEP,
    progress: Progress = NULL_PROGRESS,
) -> BackupResult:
    """Dump the store (and copy a SQLite file), then keep only the newest ``keep`` of each."""
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise InvalidInput("keep must be a positive integer", field="keep")
    slug, stamp = _slug(store.url), _stamp()
    dump = backups_dir(settings) / f"{slug}-{stamp}{_DUMP}"
    count = export_dump(store, dump, EVERYTHING, progress)
    copy = None
    online_backup = getattr(store, "backup_to", None)
    if online_backup is not None:
        copy = dump.with_name(f"{slug}-{stamp}{_COPY}")
        online_backup(copy)
    removed = [p for suffix in (_DUMP, _COPY) for p in _rotate(dump.parent, slug, suffix, keep)]
    return BackupResult(dump=dump, count=count, sqlite_copy=copy, removed=removed)


def _rotate(directory: Path, slug: str, suffix: str, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups of one store and kind (names sort by time)."""
    pattern = re.compile(re.escape(slug) + _STAMP + re.escape(suffix) + "$")
    doomed = sorted(p for p in directory.iterdir() if pattern.match(p.name))[:-keep]
    for path in doomed:
        path.unlink()
    return doomed
